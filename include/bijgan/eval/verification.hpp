// Face verification metrics (method.md §7): distances between L2-normalised features, the
// 10-fold protocol of LFW (per fold, the threshold that maximises accuracy on the other nine
// folds, applied to the held-out fold; mean and standard deviation over folds), and the true
// accept rate at a fixed false accept rate.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "bijgan/tensor/tensor.hpp"

namespace bijgan::eval {

namespace detail {
/// Features must be finite: a NaN row would make every comparison false and the protocol
/// report chance accuracy as if it were a result.
inline void require_finite_features(const std::vector<float>& v, index_t d, const char* op, const char* which) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i]))
      fail<value_error>(op, which, " features hold ", v[i], " in row ",
                        static_cast<index_t>(i) / std::max<index_t>(d, 1),
                        " (a corrupt feature cache or a diverged model?)");
}
/// Distances must be finite and >= 0.
inline void require_distances(const std::vector<double>& d, const char* op) {
  for (std::size_t i = 0; i < d.size(); ++i)
    if (!(std::isfinite(d[i]) && d[i] >= 0))
      fail<value_error>(op, "distance ", i, " is ", d[i], ", expected a finite value >= 0");
}
inline double accuracy_at(const std::vector<double>& d, const std::vector<bool>& same, const std::vector<int>& fold,
                          int f, bool held_out, double thr) {
  long right = 0, total = 0;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if ((fold[i] == f) != held_out) continue;
    ++total;
    right += (d[i] < thr) == same[i];
  }
  return total ? static_cast<double>(right) / static_cast<double>(total) : 0;
}
}  // namespace detail

/// Euclidean distance between the L2-normalised rows a[i] and b[i] (N, D) -> N values.
/// value_error when a feature is NaN or infinite.
inline std::vector<double> normalized_distances(const tensor<float, host>& a, const tensor<float, host>& b) {
  if (a.shape() != b.shape() || a.rank() != 2)
    fail<shape_error>("normalized_distances", "features ", a.shape(), " and ", b.shape(), " must be equal (N, D)");
  const auto av = a.to_vector(), bv = b.to_vector();
  const index_t n = a.size(0), d = a.size(1);
  detail::require_finite_features(av, d, "normalized_distances", "first");
  detail::require_finite_features(bv, d, "normalized_distances", "second");
  std::vector<double> out(static_cast<std::size_t>(n));
  for (index_t i = 0; i < n; ++i) {
    double aa = 0, bb = 0, ab = 0;
    for (index_t k = 0; k < d; ++k) {
      const double x = av[static_cast<std::size_t>(i * d + k)], y = bv[static_cast<std::size_t>(i * d + k)];
      aa += x * x;
      bb += y * y;
      ab += x * y;
    }
    const double na = std::max(std::sqrt(aa), 1e-12), nb = std::max(std::sqrt(bb), 1e-12);
    out[static_cast<std::size_t>(i)] = std::sqrt(std::max(0.0, 2 - 2 * ab / (na * nb)));
  }
  return out;
}

/// The mean cosine of pairs of unit vectors from their distances (normalized_distances' output):
/// |a − b|² = 2 − 2 cos.
inline double mean_cosine(const std::vector<double>& distances) {
  double sum = 0;
  for (double x : distances) sum += 1 - x * x / 2;
  return distances.empty() ? 0.0 : sum / double(distances.size());
}
/// The mean cosine of matching rows of a and b (N, D).
inline double mean_cosine(const tensor<float, host>& a, const tensor<float, host>& b) {
  return mean_cosine(normalized_distances(a, b));
}

struct verification_result {
  double mean_accuracy = 0;
  double std_accuracy = 0;  ///< population standard deviation over the folds
  std::vector<double> fold_accuracy;
  std::vector<double> thresholds;  ///< the threshold chosen for each held-out fold
};

/// The k-fold protocol: for each fold, the threshold in {0, step, ..., max} with the best
/// accuracy on the other folds (the smallest among ties) is applied to the fold. A pair is
/// "same" when its distance is below the threshold.
inline verification_result k_fold_accuracy(const std::vector<double>& distances, const std::vector<bool>& same,
                                           const std::vector<int>& folds, double max_threshold = 4,
                                           double step = 0.01) {
  if (distances.size() != same.size() || distances.size() != folds.size() || distances.empty())
    fail<shape_error>("k_fold_accuracy", distances.size(), " distances, ", same.size(), " labels and ", folds.size(),
                      " folds");
  detail::require_distances(distances, "k_fold_accuracy");
  for (const int f : folds)
    if (f < 0 || f > 1000) fail<value_error>("k_fold_accuracy", "fold index ", f, " outside [0, 1000]");
  const int k = *std::max_element(folds.begin(), folds.end()) + 1;
  verification_result r;
  for (int f = 0; f < k; ++f) {
    double best = -1, best_thr = 0;
    for (int s = 0; s * step <= max_threshold + 1e-12; ++s) {
      const double thr = s * step, acc = detail::accuracy_at(distances, same, folds, f, false, thr);
      if (acc > best) {
        best = acc;
        best_thr = thr;
      }
    }
    r.thresholds.push_back(best_thr);
    r.fold_accuracy.push_back(detail::accuracy_at(distances, same, folds, f, true, best_thr));
  }
  for (double a : r.fold_accuracy) r.mean_accuracy += a / k;
  for (double a : r.fold_accuracy) r.std_accuracy += (a - r.mean_accuracy) * (a - r.mean_accuracy) / k;
  r.std_accuracy = std::sqrt(r.std_accuracy);
  return r;
}

struct tar_result {
  double tar = 0;        ///< fraction of same pairs accepted
  double far = 0;        ///< achieved false accept rate (<= the target)
  double threshold = 0;  ///< accept when distance < threshold
  long false_accepts = 0;
};

/// The largest threshold (accept when distance < threshold) that accepts at most
/// floor(target_far · n) of the n impostor distances; +inf when that allows all of them.
/// value_error when there are none.
inline double threshold_at_far(std::vector<double> impostors, double target_far) {
  if (impostors.empty()) fail<value_error>("threshold_at_far", "needs at least one impostor distance");
  if (!(target_far >= 0 && target_far <= 1))
    fail<value_error>("threshold_at_far", "target FAR ", target_far, " must lie in [0, 1]");
  detail::require_distances(impostors, "threshold_at_far");
  std::sort(impostors.begin(), impostors.end());
  const auto allowed = static_cast<std::size_t>(std::floor(target_far * static_cast<double>(impostors.size())));
  return allowed < impostors.size() ? impostors[allowed] : std::numeric_limits<double>::infinity();
}

/// Distances (as normalized_distances) of every pair i < j of rows of features (N, D) whose
/// labels differ: the impostor pairs among a set of images, N(N−1)/2 at most.
inline std::vector<double> impostor_distances(const tensor<float, host>& features, const std::vector<int>& labels) {
  if (features.rank() != 2 || static_cast<index_t>(labels.size()) != features.size(0))
    fail<shape_error>("impostor_distances", "features ", features.shape(), " with ", labels.size(),
                      " labels: need (N, D) and N labels");
  const index_t n = features.size(0), d = features.size(1);
  std::vector<double> unit(static_cast<std::size_t>(n * d));
  const auto v = features.to_vector();
  detail::require_finite_features(v, d, "impostor_distances", "the");
  for (index_t i = 0; i < n; ++i) {
    double norm = 0;
    for (index_t k = 0; k < d; ++k)
      norm += double(v[static_cast<std::size_t>(i * d + k)]) * v[static_cast<std::size_t>(i * d + k)];
    norm = std::max(std::sqrt(norm), 1e-12);
    for (index_t k = 0; k < d; ++k)
      unit[static_cast<std::size_t>(i * d + k)] = v[static_cast<std::size_t>(i * d + k)] / norm;
  }
  std::vector<double> out;
  for (index_t i = 0; i < n; ++i)
    for (index_t j = i + 1; j < n; ++j) {
      if (labels[static_cast<std::size_t>(i)] == labels[static_cast<std::size_t>(j)]) continue;
      double ab = 0;
      for (index_t k = 0; k < d; ++k)
        ab += unit[static_cast<std::size_t>(i * d + k)] * unit[static_cast<std::size_t>(j * d + k)];
      out.push_back(std::sqrt(std::max(0.0, 2 - 2 * ab)));
    }
  return out;
}

/// True accept rate at false accept rate <= target_far: the largest threshold that accepts at
/// most floor(target_far * negatives) different pairs.
inline tar_result tar_at_far(const std::vector<double>& distances, const std::vector<bool>& same, double target_far) {
  if (distances.size() != same.size())
    fail<shape_error>("tar_at_far", distances.size(), " distances but ", same.size(), " labels");
  detail::require_distances(distances, "tar_at_far");
  std::vector<double> neg, pos;
  for (std::size_t i = 0; i < distances.size(); ++i) (same[i] ? pos : neg).push_back(distances[i]);
  if (neg.empty() || pos.empty()) fail<value_error>("tar_at_far", "needs both same and different pairs");
  std::sort(neg.begin(), neg.end());
  tar_result r;
  r.threshold = threshold_at_far(neg, target_far);
  r.false_accepts = static_cast<long>(std::lower_bound(neg.begin(), neg.end(), r.threshold) - neg.begin());
  r.far = static_cast<double>(r.false_accepts) / static_cast<double>(neg.size());
  r.tar = static_cast<double>(std::count_if(pos.begin(), pos.end(), [&](double d) { return d < r.threshold; })) /
          static_cast<double>(pos.size());
  return r;
}

}  // namespace bijgan::eval
