// Forward declarations of the core types, for headers that only name them.
#pragma once

namespace bijgan {
struct host;
struct cuda_device;
class shape;
class rng;
}  // namespace bijgan
