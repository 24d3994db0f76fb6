// The exception hierarchy: every error the library throws derives from bijgan::error and says
// which op, which shapes or values, and which file or parameter path were involved.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace bijgan {

/// Base of all bijgan exceptions.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};
/// Operand shapes do not fit an op (message names the op and the shapes).
struct shape_error : error {
  using error::error;
};
/// An argument has a value the op cannot take (negative size, NaN in anomaly mode, ...).
struct value_error : error {
  using error::error;
};
/// A file could not be read or written, or its contents are malformed.
struct io_error : error {
  using error::error;
};
/// A backend (CUDA runtime, cuBLAS) reported a failure, or a device is missing.
struct backend_error : error {
  using error::error;
};
/// A collective between processes failed: a rank did not arrive in time, ranks disagree on
/// their configuration or on which collective comes next, or the transport (MPI, NCCL) failed.
/// The message names the ranks involved.
struct dist_error : error {
  using error::error;
};

namespace detail {
template <class... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream os;
  (os << ... << std::forward<Parts>(parts));
  return os.str();
}
}  // namespace detail

/// Throws E with the streamed concatenation of parts, prefixed by "bijgan::<op>: ".
template <class E, class... Parts>
[[noreturn]] void fail(const char* op, Parts&&... parts) {
  throw E(detail::cat("bijgan::", op, ": ", std::forward<Parts>(parts)...));
}

}  // namespace bijgan
