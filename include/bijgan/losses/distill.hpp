// Distillation losses (Eq. 14, 15): the student's cosine loss against blackbox features, and
// the generator's feature distillation over the student's stages.
#pragma once

#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/ops/linalg.hpp"

namespace bijgan::losses {

/// Eq. 14: mean over the batch of (1 − cos(teacher, student))², rows of (N, D). The teacher's
/// features are constants (blackbox queries).
template <class T, class B>
var<T, B> cosine_distill(const tensor<T, B>& teacher, const var<T, B>& student) {
  if (teacher.shape() != student.shape() || teacher.rank() != 2)
    fail<shape_error>("cosine_distill", "teacher ", teacher.shape(), " and student ", student.shape(),
                      " must be one (N, D)");
  return mean(square(T(1) - cosine_similarity(constant(teacher), student, 1)));
}

struct feature_distill_options {
  std::vector<double> stage_weights;  ///< λ_j per intermediate stage (method.md: 1)
  double final_weight = 10;           ///< λ_a
};

/// Eq. 15: Σ_j λ_j ‖F_j(fake) − F_j(real)‖ / (C_j·H_j·W_j) + λ_a (1 − cos(F(fake), F(real)))²,
/// norms per sample, averaged over the batch. Stages are (N, C, H, W) (or (N, D)); the final
/// features (N, D).
template <class T, class B>
var<T, B> feature_distill(const std::vector<var<T, B>>& fake_stages, const std::vector<var<T, B>>& real_stages,
                          const var<T, B>& fake_final, const var<T, B>& real_final,
                          const feature_distill_options& o = {}) {
  if (fake_stages.size() != real_stages.size() ||
      (!o.stage_weights.empty() && o.stage_weights.size() != fake_stages.size()))
    fail<shape_error>("feature_distill", fake_stages.size(), " fake stages, ", real_stages.size(), " real stages and ",
                      o.stage_weights.size(), " weights");
  var<T, B> total = T(o.final_weight) * mean(square(T(1) - cosine_similarity(fake_final, real_final, 1)));
  for (std::size_t j = 0; j < fake_stages.size(); ++j) {
    const auto& f = fake_stages[j];
    const auto& r = real_stages[j];
    if (f.shape() != r.shape()) fail<shape_error>("feature_distill", "stage ", j, ": ", f.shape(), " vs ", r.shape());
    const auto per_sample = flatten(f - r, 1, -1);
    const T size = static_cast<T>(per_sample.size(1));
    const T w = o.stage_weights.empty() ? T(1) : static_cast<T>(o.stage_weights[j]);
    total = total + (w / size) * mean(sqrt(sum(square(per_sample), {1}) + T(1e-12)));
  }
  return total;
}

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_DISTILL_INSTANCES(X, T, B)                                                                     \
  X var<T, B> cosine_distill(const tensor<T, B>&, const var<T, B>&);                                          \
  X var<T, B> feature_distill(const std::vector<var<T, B>>&, const std::vector<var<T, B>>&, const var<T, B>&, \
                              const var<T, B>&, const feature_distill_options&);
BIJGAN_EXTERN_INSTANCES(BIJGAN_DISTILL_INSTANCES)

}  // namespace bijgan::losses
