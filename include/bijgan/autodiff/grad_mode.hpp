// Thread-local switches of the autodiff: recording on/off (no_grad, enable_grad) and anomaly
// mode (the first op that produces NaN/Inf throws, naming itself).
#pragma once

namespace bijgan {

namespace detail {
inline bool& grad_enabled_flag() {
  thread_local bool enabled = true;
  return enabled;
}
inline bool& anomaly_flag() {
  thread_local bool on = false;
  return on;
}
}  // namespace detail

/// Whether ops on vars record the graph on this thread.
inline bool grad_enabled() { return detail::grad_enabled_flag(); }
/// Whether anomaly detection is on for this thread.
inline bool anomaly_enabled() { return detail::anomaly_flag(); }

namespace detail {
/// Sets a thread-local flag for the lifetime of the scope and restores it afterwards.
class scoped_flag {
 public:
  scoped_flag(bool& flag, bool value) : flag_(flag), prev_(flag) { flag_ = value; }
  ~scoped_flag() { flag_ = prev_; }
  scoped_flag(const scoped_flag&) = delete;
  scoped_flag& operator=(const scoped_flag&) = delete;

 private:
  bool& flag_;
  bool prev_;
};
}  // namespace detail

/// Scope in which ops do not record (inference, optimizer steps, the fast backward path).
class no_grad : detail::scoped_flag {
 public:
  no_grad() : scoped_flag(detail::grad_enabled_flag(), false) {}
};

/// Scope in which recording is on (and, with the argument, set explicitly).
class enable_grad : detail::scoped_flag {
 public:
  explicit enable_grad(bool on = true) : scoped_flag(detail::grad_enabled_flag(), on) {}
};

/// Scope with anomaly detection: every op checks its result (and backward its gradients) for
/// NaN/Inf and throws value_error naming the op. Costs a reduction per op: for debugging only.
class detect_anomaly : detail::scoped_flag {
 public:
  detect_anomaly() : scoped_flag(detail::anomaly_flag(), true) {}
};

}  // namespace bijgan
