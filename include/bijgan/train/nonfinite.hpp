// What every trainer does with a non-finite loss or gradient (train::nonfinite: stop with an
// error naming it and the step, or skip the step's update), and the device-side pieces it
// needs: a probe that is NaN when any gradient is, scalars brought back in one transfer, and
// the path of the first parameter whose gradient is not finite (only on the failure path).
#pragma once

#include <cmath>
#include <span>
#include <string>
#include <vector>

#include "bijgan/autodiff/var.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/tensor/ops.hpp"
#include "bijgan/train/report.hpp"

namespace bijgan::train::detail {

/// Scalars computed on the device, brought to the host in one transfer.
template <class T, class B>
std::vector<double> fetch_scalars(const std::vector<tensor<T, B>>& scalars) {
  std::vector<tensor<T, B>> parts;
  parts.reserve(scalars.size());
  for (const auto& s : scalars) parts.push_back(s.reshape(shape{1}));
  std::vector<double> out;
  for (const T v : concat(std::span<const tensor<T, B>>(parts), 0).to_vector()) out.push_back(static_cast<double>(v));
  return out;
}

/// The number of parameters whose gradient holds an inf or NaN (0: all finite), computed on
/// the device with the elementwise test anomaly mode uses (fn::nonfinite, as all_finite).
template <class T, class B>
tensor<T, B> nonfinite_probe(const std::vector<var<T, B>>& params) {
  tensor<T, B> acc = tensor<T, B>::zeros(shape{});
  for (const auto& p : params)
    if (p.grad().defined())
      acc = apply(fn::add{}, acc, reduce(reduce_kind::max, apply(fn::nonfinite{}, p.grad()), {}, false));
  return acc;
}

/// The path of the first parameter of m whose gradient holds a non-finite value ("" if none).
template <class M>
std::string first_nonfinite_gradient(M& m) {
  for (const auto& [path, p] : nn::named_parameters(m))
    if (p.grad().defined() && !all_finite(p.grad())) return path.empty() ? std::string("(root)") : path;
  return {};
}

/// The error of nonfinite::stop: names the trainer, the step and what was not finite.
[[noreturn]] inline void nonfinite_error(const char* trainer, long step, const std::string& what, const char* option) {
  fail<value_error>(trainer, "step ", step, ": ", what,
                    " is not finite; nothing of this step was applied or checkpointed (", option,
                    " = nonfinite::skip skips such steps)");
}

}  // namespace bijgan::train::detail
