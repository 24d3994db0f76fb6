// Library version, kept in step with project(VERSION) in the top-level CMakeLists.txt.
#pragma once

#define BIJGAN_VERSION_MAJOR 0
#define BIJGAN_VERSION_MINOR 1
#define BIJGAN_VERSION_PATCH 0

namespace bijgan {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string = "0.1.0";
}  // namespace bijgan
