// The bijective metric loss (Eq. 16's L_biject, method.md §4): real and reconstructed images
// are mapped to latents by the bijection H; per identity of the batch, the Gaussian W2
// distance between the real latents and the reconstructions' latents is pulled down, and the
// distance between one identity's real latents and another's reconstructions is pushed above
// a margin (the large-margin contrastive loss of Eq. 11).
#pragma once

#include <map>
#include <vector>

#include "bijgan/distances/gaussian_w2.hpp"
#include "bijgan/losses/contrastive.hpp"
#include "bijgan/ops/index.hpp"

namespace bijgan::losses {

struct bijective_metric_options {
  double margin = 1;                                                             ///< m of Eq. 11
  distances::covariance_form covariance = distances::covariance_form::diagonal;  ///< full: cross-Gram form
  int max_negatives = 64;  ///< identity pairs (a != b) used per batch, at most
};

/// H maps images (N, ...) to latents (N, ...) (a bijection's forward, or any differentiable
/// map; under data parallelism H gathers every rank's latents, dist::all_gather, so there are
/// more latents than images); labels name each latent's identity. Identities with fewer than 2 images in the batch
/// are skipped; at least one must remain. Returns the mean of the positive and negative terms.
template <class T, class B, class H>
var<T, B> bijective_metric(const H& h, const var<T, B>& real, const var<T, B>& fake, const std::vector<int>& labels,
                           const bijective_metric_options& o = {}) {
  if (real.shape() != fake.shape() || real.rank() < 1)
    fail<shape_error>("bijective_metric", "real ", real.shape(), " and fake ", fake.shape(), " must be one (N, ...)");
  const auto zr = flatten(h(real), 1, -1), zf = flatten(h(fake), 1, -1);
  if (zr.size(0) != static_cast<index_t>(labels.size()) || zf.size(0) != zr.size(0))
    fail<shape_error>("bijective_metric", "H gave ", zr.size(0), " and ", zf.size(0), " latents for real ",
                      real.shape(), " and fake ", fake.shape(), ", with ", labels.size(), " labels (one per latent)");
  std::map<int, std::vector<index_t>> groups;
  for (std::size_t i = 0; i < labels.size(); ++i) groups[labels[i]].push_back(static_cast<index_t>(i));
  std::vector<std::vector<index_t>> kept;
  for (auto& [id, rows] : groups)
    if (rows.size() >= 2) kept.push_back(rows);
  if (kept.empty())
    fail<value_error>("bijective_metric", "no identity has 2 or more images in the batch of ", labels.size());
  const auto pick = [](const var<T, B>& z, const std::vector<index_t>& rows) {
    return index_select(z, index_list<B>(rows));
  };
  std::vector<var<T, B>> terms;
  std::vector<T> same;
  for (const auto& rows : kept) {
    terms.push_back(reshape(distances::gaussian_w2_samples(pick(zr, rows), pick(zf, rows), o.covariance), shape{1}));
    same.push_back(T(1));
  }
  int negatives = 0;
  for (std::size_t a = 0; a < kept.size() && negatives < o.max_negatives; ++a)
    for (std::size_t b = 0; b < kept.size() && negatives < o.max_negatives; ++b) {
      if (a == b) continue;
      terms.push_back(
          reshape(distances::gaussian_w2_samples(pick(zr, kept[a]), pick(zf, kept[b]), o.covariance), shape{1}));
      same.push_back(T(0));
      ++negatives;
    }
  const auto d = concat(terms, 0);
  return large_margin_contrastive(d, tensor<T, B>::from(same, shape{static_cast<index_t>(same.size())}),
                                  static_cast<T>(o.margin));
}

}  // namespace bijgan::losses
