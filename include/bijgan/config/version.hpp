// The library version: the one place it is written. CMakeLists.txt reads these three macros for
// project(VERSION), so the installed package (find_package(bijgan 0.2)) and the headers agree.
#pragma once

#define BIJGAN_VERSION_MAJOR 0
#define BIJGAN_VERSION_MINOR 2
#define BIJGAN_VERSION_PATCH 0

#define BIJGAN_VERSION_STRINGIFY_(x) #x
#define BIJGAN_VERSION_STRINGIFY(x) BIJGAN_VERSION_STRINGIFY_(x)

namespace bijgan {
/// The library version as "major.minor.patch".
inline constexpr const char* version_string =
    BIJGAN_VERSION_STRINGIFY(BIJGAN_VERSION_MAJOR) "." BIJGAN_VERSION_STRINGIFY(
        BIJGAN_VERSION_MINOR) "." BIJGAN_VERSION_STRINGIFY(BIJGAN_VERSION_PATCH);
}  // namespace bijgan
