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

/// Scope in which ops do not record (inference, optimizer steps, the fast backward path).
class no_grad {
 public:
  no_grad() : prev_(detail::grad_enabled_flag()) { detail::grad_enabled_flag() = false; }
  ~no_grad() { detail::grad_enabled_flag() = prev_; }
  no_grad(const no_grad&) = delete;
  no_grad& operator=(const no_grad&) = delete;

 private:
  bool prev_;
};

/// Scope in which recording is on (and, with the argument, set explicitly).
class enable_grad {
 public:
  explicit enable_grad(bool on = true) : prev_(detail::grad_enabled_flag()) { detail::grad_enabled_flag() = on; }
  ~enable_grad() { detail::grad_enabled_flag() = prev_; }
  enable_grad(const enable_grad&) = delete;
  enable_grad& operator=(const enable_grad&) = delete;

 private:
  bool prev_;
};

/// Scope with anomaly detection: every op checks its result (and backward its gradients) for
/// NaN/Inf and throws value_error naming the op. Costs a reduction per op: for debugging only.
class detect_anomaly {
 public:
  detect_anomaly() : prev_(detail::anomaly_flag()) { detail::anomaly_flag() = true; }
  ~detect_anomaly() { detail::anomaly_flag() = prev_; }
  detect_anomaly(const detect_anomaly&) = delete;
  detect_anomaly& operator=(const detect_anomaly&) = delete;

 private:
  bool prev_;
};

}  // namespace bijgan
