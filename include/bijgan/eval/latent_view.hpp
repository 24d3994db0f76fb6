// A two-dimensional view of latent codes (method.md §7's latent-distribution figure): the plane
// spanned by the two leading principal directions of the class centroids of reference codes,
// so that classes spread out and one can see whether reconstructions land in their class's
// region of H's latent space.
#pragma once

#include <array>
#include <cmath>
#include <map>
#include <vector>

#include "bijgan/backend/shape.hpp"
#include "bijgan/config/config.hpp"
#include "bijgan/config/errors.hpp"
#include "bijgan/tensor/tensor.hpp"

BIJGAN_THIRD_PARTY_BEGIN
#include <Eigen/Eigenvalues>
BIJGAN_THIRD_PARTY_END

namespace bijgan::eval {

/// An affine map from D dimensions to a plane: p = (axes[0]·(x − origin), axes[1]·(x − origin)).
struct plane_projection {
  std::vector<double> origin;               ///< D
  std::array<std::vector<double>, 2> axes;  ///< unit, orthogonal, D each

  /// The plane coordinates of each row of x (N, D). shape_error when D differs.
  [[nodiscard]] std::vector<std::array<double, 2>> operator()(const tensor<float, host>& x) const {
    const auto d = static_cast<index_t>(origin.size());
    if (x.rank() != 2 || x.size(1) != d)
      fail<shape_error>("eval::plane_projection", "rows ", x.shape(), " must be (N, ", d, ")");
    const auto v = x.to_vector();
    std::vector<std::array<double, 2>> out(static_cast<std::size_t>(x.size(0)));
    for (index_t n = 0; n < x.size(0); ++n)
      for (std::size_t a = 0; a < 2; ++a) {
        double s = 0;
        for (index_t j = 0; j < d; ++j) {
          const auto u = static_cast<std::size_t>(j);
          s += axes[a][u] * (static_cast<double>(v[static_cast<std::size_t>(n * d + j)]) - origin[u]);
        }
        out[static_cast<std::size_t>(n)][a] = s;
      }
    return out;
  }
};

/// The plane of the two leading principal directions of the per-class means of x (N, D)
/// (labels: one class per row), centred on the mean of those class means. value_error when
/// fewer than 3 classes are present or the class means are collinear (no plane to show);
/// shape_error when the labels do not match the rows.
inline plane_projection centroid_plane(const tensor<float, host>& x, const std::vector<int>& labels) {
  const char* op = "eval::centroid_plane";
  if (x.rank() != 2 || static_cast<index_t>(labels.size()) != x.size(0))
    fail<shape_error>(op, "rows ", x.shape(), " with ", labels.size(), " labels: need (N, D) and N labels");
  const index_t d = x.size(1);
  std::map<int, std::pair<std::vector<double>, index_t>> sums;
  const auto v = x.to_vector();
  for (std::size_t n = 0; n < labels.size(); ++n) {
    auto& [sum, count] = sums[labels[n]];
    sum.resize(static_cast<std::size_t>(d), 0.0);
    for (index_t j = 0; j < d; ++j)
      sum[static_cast<std::size_t>(j)] += v[n * static_cast<std::size_t>(d) + static_cast<std::size_t>(j)];
    ++count;
  }
  const auto c = static_cast<Eigen::Index>(sums.size());
  if (c < 3) fail<value_error>(op, "needs at least 3 classes to span a plane, got ", c);
  Eigen::MatrixXd m(c, d);
  Eigen::Index row = 0;
  for (const auto& [label, sc] : sums) {
    for (index_t j = 0; j < d; ++j) m(row, j) = sc.first[static_cast<std::size_t>(j)] / static_cast<double>(sc.second);
    ++row;
  }
  const Eigen::RowVectorXd centre = m.colwise().mean();
  m.rowwise() -= centre;
  // The leading eigenvectors of the small Gram matrix M Mᵀ (C x C) give the principal
  // directions Mᵀu / ‖Mᵀu‖ without forming the D x D covariance.
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(m * m.transpose());
  const auto& values = eig.eigenvalues();  // ascending
  if (!(values(c - 2) > 1e-12 * std::max(1.0, values(c - 1))))
    fail<value_error>(op, "the ", c, " class means are collinear: no plane to project onto");
  plane_projection p;
  p.origin.assign(centre.data(), centre.data() + d);
  for (std::size_t a = 0; a < 2; ++a) {
    Eigen::VectorXd axis = m.transpose() * eig.eigenvectors().col(c - 1 - static_cast<Eigen::Index>(a));
    axis.normalize();
    p.axes[a].assign(axis.data(), axis.data() + d);
  }
  return p;
}

}  // namespace bijgan::eval
