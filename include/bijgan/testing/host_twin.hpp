// host_twin: a second backend TYPE with the host's kernels. Generic code instantiated with it
// takes every path a device backend takes (no host-only fast path such as oneDNN convolution;
// copies through to/from_host; modules rebound by nn::to), so the backend parity suite, nn::to
// of whole models, device checkpoints and training on a non-host backend are exercised in
// builds without a GPU. Results equal the host's up to the host-only fast paths.
#pragma once

#include "bijgan/backend/host/host.hpp"

namespace bijgan::testing {

/// The host's kernels under another backend type.
struct host_twin : host {
  static constexpr const char* name = "host_twin";
  /// No direct convolution, as on the CUDA backend: every pass takes im2col + GEMM.
  template <class T>
  static bool convolution(conv_pass, const conv_geometry&, index_t, index_t, const T*, const T*, T*) {
    return false;
  }
};
static_assert(backend<host_twin, float> && backend<host_twin, double>);

}  // namespace bijgan::testing
