// The exception hierarchy: every error the library throws derives from bijgan::error and says
// which op, which shapes or values, and which file or parameter path were involved.
#pragma once

#include <initializer_list>
#include <memory>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace bijgan {

namespace detail {
/// A library module executing on this thread: its address and a tag of its type (a struct's
/// first member shares its address; the type tells them apart).
struct active_module {
  const void* address;
  const void* type;
};
/// The library modules executing on this thread, outermost first: nn::module_scope pushes and
/// pops them, and an error records them when it is made, so that a trainer that catches it can
/// name the module it came from (nn::within).
inline std::vector<active_module>& active_modules() {
  thread_local std::vector<active_module> stack;
  return stack;
}
}  // namespace detail

/// Base of all bijgan exceptions. Besides its message it records the library modules that were
/// executing when it was made; nn::within turns them into a module path ("generator.stages.2.
/// blocks.0.block.attn") that what() then begins with.
struct error : std::runtime_error {
  explicit error(const std::string& message) : error(message.c_str()) {}
  explicit error(const char* message)
      : std::runtime_error(message),
        state_(std::make_shared<state>(state{detail::active_modules(), std::string(), std::string()})) {}

  /// "<module path>: <message>" once a path is known, the message otherwise.
  [[nodiscard]] const char* what() const noexcept override {
    return state_->full.empty() ? std::runtime_error::what() : state_->full.c_str();
  }
  /// The dotted path of the module the error came from ("" when not known).
  [[nodiscard]] const std::string& module_path() const noexcept { return state_->path; }
  /// The message without the module path.
  [[nodiscard]] const char* message() const noexcept { return std::runtime_error::what(); }
  /// The modules that were executing when the error was made, outermost first.
  [[nodiscard]] const std::vector<detail::active_module>& modules() const noexcept { return state_->modules; }
  /// Sets the module path (what nn::within does as the error leaves a named module).
  void set_module_path(std::string path) {
    state_->path = std::move(path);
    state_->full = state_->path.empty() ? std::string() : state_->path + ": " + std::runtime_error::what();
  }

 private:
  struct state {
    std::vector<detail::active_module> modules;
    std::string path, full;
  };
  std::shared_ptr<state> state_;  // shared: copying an exception must not throw
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
/// One piece of an error message, type-erased: messages are built out of line by join_parts, so
/// each of the library's ~500 fail<> sites costs a few calls instead of its own ostringstream.
struct message_part {
  void (*write)(std::ostream&, const void*) = nullptr;
  const void* value = nullptr;
  std::ios_base& (*manipulator)(std::ios_base&) = nullptr;  // std::hex and the like
};
template <class P>
void write_part(std::ostream& os, const void* p) {
  os << *static_cast<const P*>(p);
}
inline void write_chars(std::ostream& os, const void* p) { os << static_cast<const char*>(p); }
template <class P>
message_part part(const P& p) {
  if constexpr (std::is_array_v<P>)
    return {&write_chars, &p[0]};  // string literals: one writer for every length
  else if constexpr (std::is_function_v<P>)
    return {nullptr, nullptr, p};
  else
    return {&write_part<P>, std::addressof(p)};
}
[[gnu::noinline]] inline std::string join_parts(std::initializer_list<message_part> parts) {
  std::ostringstream os;
  for (const auto& p : parts) p.write ? p.write(os, p.value) : void(os << p.manipulator);
  return os.str();
}
/// The streamed concatenation of parts.
template <class... Parts>
std::string cat(const Parts&... parts) {
  return join_parts({part(parts)...});
}
template <class E>
[[noreturn, gnu::noinline, gnu::cold]] void raise(std::string message) {
  throw E(std::move(message));
}
}  // namespace detail

/// Throws E with the streamed concatenation of parts, prefixed by "bijgan::<op>: ".
template <class E, class... Parts>
[[noreturn]] void fail(const char* op, const Parts&... parts) {
  detail::raise<E>(detail::cat("bijgan::", op, ": ", parts...));
}

}  // namespace bijgan
