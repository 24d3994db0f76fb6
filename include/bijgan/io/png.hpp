// Images in (PNG, JPEG) and out (PNG) with stb (stb_image / stb_image_write, compiled static
// into each translation unit so the header-only library needs no separate object) and image
// grids for reports.
#pragma once

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <vector>

#include "bijgan/io/atomic_file.hpp"
#include "bijgan/tensor/tensor.hpp"

#ifndef BIJGAN_STB_DEFINED
#define BIJGAN_STB_DEFINED
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#include <stb_image.h>
#include <stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
#endif

namespace bijgan::io {

/// Writes image [C, H, W] (C = 1 or 3; values in [0, 1], clamped) as an 8-bit PNG, atomically.
/// Throws shape_error for other shapes and io_error naming the file when it cannot be written.
inline void write_png(const std::filesystem::path& path, const tensor<float, host>& image) {
  if (image.rank() != 3 || (image.size(0) != 1 && image.size(0) != 3))
    fail<shape_error>("write_png", "expects [C, H, W] with C = 1 or 3, got ", image.shape(), " for ", path);
  const index_t c = image.size(0), h = image.size(1), w = image.size(2);
  std::vector<unsigned char> pixels(static_cast<std::size_t>(c * h * w));
  const float* src = image.data();
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      for (index_t k = 0; k < c; ++k) {
        const float v = std::clamp(src[(k * h + y) * w + x], 0.0f, 1.0f);
        pixels[static_cast<std::size_t>((y * w + x) * c + k)] = static_cast<unsigned char>(std::lround(v * 255.0f));
      }
  std::vector<unsigned char> encoded;
  const auto sink = [](void* ctx, void* data, int size) {
    auto* out = static_cast<std::vector<unsigned char>*>(ctx);
    out->insert(out->end(), static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + size);
  };
  if (!stbi_write_png_to_func(sink, &encoded, static_cast<int>(w), static_cast<int>(h), static_cast<int>(c), pixels.data(),
                              static_cast<int>(w * c)))
    fail<io_error>("write_png", "PNG encoding failed for ", path);
  write_file_atomic(path, encoded);
}

/// Reads a PNG or JPEG (any format stb decodes) as [C, H, W] floats in [0, 1] (C = channels
/// in the file: 1, 2, 3 or 4). Throws io_error naming the file and stb's reason for a missing
/// or malformed file.
inline tensor<float, host> read_image(const std::filesystem::path& path) {
  int w = 0, h = 0, c = 0;
  unsigned char* data = stbi_load(path.c_str(), &w, &h, &c, 0);
  if (!data) fail<io_error>("read_image", "cannot read ", path, ": ", stbi_failure_reason());
  tensor<float, host> t({c, h, w});
  float* dst = t.data();
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) dst[(k * h + y) * w + x] = static_cast<float>(data[(y * w + x) * c + k]) / 255.0f;
  stbi_image_free(data);
  return t;
}
/// read_image for PNG files (kept for symmetry with write_png).
inline tensor<float, host> read_png(const std::filesystem::path& path) { return read_image(path); }

/// Tiles images [N, C, H, W] into one [C, H', W'] image, `columns` per row, separated by
/// `padding` pixels of `pad_value`.
inline tensor<float, host> make_grid(const tensor<float, host>& images, index_t columns, index_t padding = 2,
                                     float pad_value = 1.0f) {
  if (images.rank() != 4 || images.size(0) == 0)
    fail<shape_error>("make_grid", "expects [N, C, H, W] with N > 0, got ", images.shape());
  if (columns < 1 || padding < 0) fail<value_error>("make_grid", "columns ", columns, ", padding ", padding);
  const index_t n = images.size(0), c = images.size(1), h = images.size(2), w = images.size(3);
  const index_t cols = std::min(columns, n), rows = (n + cols - 1) / cols;
  const index_t gh = rows * h + (rows + 1) * padding, gw = cols * w + (cols + 1) * padding;
  auto grid = tensor<float, host>::full({c, gh, gw}, pad_value);
  const float* src = images.data();
  float* dst = grid.data();
  for (index_t i = 0; i < n; ++i) {
    const index_t oy = padding + (i / cols) * (h + padding), ox = padding + (i % cols) * (w + padding);
    for (index_t k = 0; k < c; ++k)
      for (index_t y = 0; y < h; ++y)
        std::copy_n(src + ((i * c + k) * h + y) * w, w, dst + (k * gh + oy + y) * gw + ox);
  }
  return grid;
}

}  // namespace bijgan::io
