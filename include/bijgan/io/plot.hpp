// Scatter plots as PNG images: points of several series, coloured by a class index from a
// fixed ten-colour palette and drawn with one marker shape per series (the latent-distribution
// plots of the reports). No text is drawn: the legend belongs in the report that embeds it.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <vector>

#include "bijgan/backend/shape.hpp"
#include "bijgan/config/errors.hpp"
#include "bijgan/io/png.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::io {

/// How a series' points are drawn.
enum class marker { dot, cross, ring };

/// One series: points (x, y), the palette index of each point's colour, a marker shape.
struct scatter_series {
  std::vector<std::array<double, 2>> points;
  std::vector<int> colours;  ///< one per point, ≥ 0; index k takes palette colour k mod 10
  marker shape = marker::dot;
};

struct scatter_options {
  index_t width = 640, height = 640;
  index_t margin = 12;  ///< pixels between the outermost points and the border
  int radius = 3;       ///< marker half-size in pixels
};

/// The palette (Tableau's ten categorical colours), RGB in [0, 1].
inline std::array<float, 3> palette_colour(int k) {
  static constexpr std::array<std::array<float, 3>, 10> table{{{0.122f, 0.467f, 0.706f},
                                                               {1.000f, 0.498f, 0.055f},
                                                               {0.173f, 0.627f, 0.173f},
                                                               {0.839f, 0.153f, 0.157f},
                                                               {0.580f, 0.404f, 0.741f},
                                                               {0.549f, 0.337f, 0.294f},
                                                               {0.890f, 0.467f, 0.761f},
                                                               {0.498f, 0.498f, 0.498f},
                                                               {0.737f, 0.741f, 0.133f},
                                                               {0.090f, 0.745f, 0.812f}}};
  return table[static_cast<std::size_t>(k % 10)];
}

/// The plot as an RGB image (3, height, width) on white; both axes span the points' bounding box
/// (equal scale on x and y, so distances read true), later series drawn over earlier ones.
/// value_error for no points, a non-finite coordinate, a negative colour or a bad size;
/// shape_error when a series has a different number of colours than points.
inline tensor<float, host> scatter_image(const std::vector<scatter_series>& series, const scatter_options& o = {}) {
  const char* op = "io::scatter_image";
  if (o.width < 2 * o.margin + 2 || o.height < 2 * o.margin + 2 || o.margin < 0 || o.radius < 0)
    fail<value_error>(op, "size ", o.width, "x", o.height, " with margin ", o.margin, " and radius ", o.radius,
                      " leaves no room");
  double lo[2] = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()};
  double hi[2] = {-lo[0], -lo[1]};
  std::size_t count = 0;
  for (std::size_t s = 0; s < series.size(); ++s) {
    const auto& se = series[s];
    if (se.colours.size() != se.points.size())
      fail<shape_error>(op, "series ", s, " has ", se.points.size(), " points but ", se.colours.size(), " colours");
    for (std::size_t i = 0; i < se.points.size(); ++i) {
      if (se.colours[i] < 0)
        fail<value_error>(op, "series ", s, " point ", i, " has colour ", se.colours[i], " (must be >= 0)");
      for (int a = 0; a < 2; ++a) {
        const double v = se.points[i][static_cast<std::size_t>(a)];
        if (!std::isfinite(v)) fail<value_error>(op, "series ", s, " point ", i, " has a non-finite coordinate");
        lo[a] = std::min(lo[a], v), hi[a] = std::max(hi[a], v);
      }
    }
    count += se.points.size();
  }
  if (count == 0) fail<value_error>(op, "nothing to plot: every series is empty");
  const double w = static_cast<double>(o.width - 2 * o.margin - 1),
               h = static_cast<double>(o.height - 2 * o.margin - 1);
  const double span = std::max({(hi[0] - lo[0]) / w, (hi[1] - lo[1]) / h, 1e-300});  // data units per pixel
  const double cx = 0.5 * (lo[0] + hi[0]), cy = 0.5 * (lo[1] + hi[1]);
  std::vector<float> img(static_cast<std::size_t>(3 * o.width * o.height), 1.0f);
  const auto put = [&](index_t px, index_t py, const std::array<float, 3>& c) {
    if (px < 0 || py < 0 || px >= o.width || py >= o.height) return;
    for (index_t ch = 0; ch < 3; ++ch)
      img[static_cast<std::size_t>((ch * o.height + py) * o.width + px)] = c[static_cast<std::size_t>(ch)];
  };
  const int r = o.radius;
  for (const auto& se : series) {
    for (std::size_t i = 0; i < se.points.size(); ++i) {
      // y grows upwards in the plot, downwards in the image.
      const auto px =
          static_cast<index_t>(std::lround(static_cast<double>(o.width - 1) / 2 + (se.points[i][0] - cx) / span));
      const auto py =
          static_cast<index_t>(std::lround(static_cast<double>(o.height - 1) / 2 - (se.points[i][1] - cy) / span));
      const auto c = palette_colour(se.colours[i]);
      for (int dy = -r; dy <= r; ++dy)
        for (int dx = -r; dx <= r; ++dx) {
          const int d2 = dx * dx + dy * dy;
          const bool on = se.shape == marker::dot     ? d2 <= r * r
                          : se.shape == marker::cross ? (dx == dy || dx == -dy)
                                                      : (d2 <= r * r && d2 >= (r - 1) * (r - 1));
          if (on) put(px + dx, py + dy, c);
        }
    }
  }
  return tensor<float, host>::from(img, shape{3, o.height, o.width});
}

/// Writes scatter_image(series, o) as a PNG (atomically, as write_png).
inline void write_scatter_png(const std::filesystem::path& path, const std::vector<scatter_series>& series,
                              const scatter_options& o = {}) {
  write_png(path, scatter_image(series, o));
}

}  // namespace bijgan::io
