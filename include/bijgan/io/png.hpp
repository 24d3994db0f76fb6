// Images in (PNG, JPEG) and out (PNG), and image grids for reports. Decoding goes through
// libpng and libjpeg-turbo (Debian's, kept fuzzed upstream by OSS-Fuzz); dimensions are
// checked against limits before any pixel buffer is allocated, and every failure is an
// io_error naming the file.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bijgan/io/atomic_file.hpp"
#include "bijgan/tensor/tensor.hpp"

#include <png.h>
#include <turbojpeg.h>

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
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  img.width = static_cast<png_uint_32>(w);
  img.height = static_cast<png_uint_32>(h);
  img.format = c == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  const auto stride = static_cast<png_int_32>(w * c);
  if (!png_image_write_to_memory(&img, nullptr, &size, 0, pixels.data(), stride, nullptr))
    fail<io_error>("write_png", "PNG encoding failed for ", path, ": ", img.message);
  std::vector<unsigned char> encoded(size);
  if (!png_image_write_to_memory(&img, encoded.data(), &size, 0, pixels.data(), stride, nullptr))
    fail<io_error>("write_png", "PNG encoding failed for ", path, ": ", img.message);
  encoded.resize(size);
  write_file_atomic(path, encoded);
}

/// Limits on decoded images, checked from the header before pixels are allocated (a small
/// compressed file can claim a huge image).
struct image_limits {
  index_t max_width = 1 << 15;
  index_t max_height = 1 << 15;
  index_t max_pixels = index_t{1} << 24;  ///< 16.7 M pixels: 4096 x 4096 (LFW's are 250 x 250)
  bool jpeg_warnings_are_errors = true;   ///< a corrupt JPEG libjpeg can only half-decode is refused
};

namespace detail {
inline void check_image_size(index_t w, index_t h, const image_limits& l, const std::string& source) {
  if (w < 1 || h < 1 || w > l.max_width || h > l.max_height || w * h > l.max_pixels)
    fail<io_error>("read_image", source, ": image of ", w, " x ", h, " pixels exceeds the limits (", l.max_width, " x ",
                   l.max_height, ", ", l.max_pixels, " pixels; raise image_limits to read it)");
}
/// Interleaved 8-bit pixels (H, W, C) as a [C, H, W] tensor in [0, 1].
inline tensor<float, host> planar(const unsigned char* data, index_t c, index_t h, index_t w) {
  tensor<float, host> t({c, h, w});
  float* dst = t.data();
  for (index_t y = 0; y < h; ++y)
    for (index_t x = 0; x < w; ++x)
      for (index_t k = 0; k < c; ++k) dst[(k * h + y) * w + x] = static_cast<float>(data[(y * w + x) * c + k]) / 255.0f;
  return t;
}
inline tensor<float, host> decode_png(std::span<const unsigned char> bytes, const std::string& source,
                                      const image_limits& l) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&img, bytes.data(), bytes.size()))
    fail<io_error>("read_image", source, ": malformed PNG (", img.message, ")");
  struct guard {
    png_image* p;
    ~guard() { png_image_free(p); }
  } g{&img};
  check_image_size(img.width, img.height, l, source);
  const bool color = (img.format & PNG_FORMAT_FLAG_COLOR) != 0, alpha = (img.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  img.format = color ? (alpha ? PNG_FORMAT_RGBA : PNG_FORMAT_RGB) : (alpha ? PNG_FORMAT_GA : PNG_FORMAT_GRAY);
  const index_t c = (color ? 3 : 1) + (alpha ? 1 : 0);
  std::vector<unsigned char> pixels(PNG_IMAGE_SIZE(img));
  if (!png_image_finish_read(&img, nullptr, pixels.data(), 0, nullptr))
    fail<io_error>("read_image", source, ": malformed PNG (", img.message, ")");
  return planar(pixels.data(), c, img.height, img.width);
}
inline tensor<float, host> decode_jpeg(std::span<const unsigned char> bytes, const std::string& source,
                                       const image_limits& l) {
  const std::unique_ptr<void, int (*)(tjhandle)> tj(tjInitDecompress(), &tjDestroy);
  if (!tj) fail<io_error>("read_image", source, ": cannot start libjpeg-turbo (", tjGetErrorStr2(nullptr), ")");
  int w = 0, h = 0, subsamp = 0, colorspace = 0;
  auto* data = const_cast<unsigned char*>(bytes.data());
  const auto size = static_cast<unsigned long>(bytes.size());
  if (tjDecompressHeader3(tj.get(), data, size, &w, &h, &subsamp, &colorspace) != 0)
    fail<io_error>("read_image", source, ": malformed JPEG (", tjGetErrorStr2(tj.get()), ")");
  check_image_size(w, h, l, source);
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    fail<io_error>("read_image", source, ": CMYK JPEGs are not supported (expected RGB/YCbCr or grayscale)");
  const bool gray = colorspace == TJCS_GRAY;
  const index_t c = gray ? 1 : 3;
  std::vector<unsigned char> pixels(static_cast<std::size_t>(index_t{w} * h * c));
  const int flags = TJFLAG_LIMITSCANS | (l.jpeg_warnings_are_errors ? TJFLAG_STOPONWARNING : 0);
  if (tjDecompress2(tj.get(), data, size, pixels.data(), w, 0, h, gray ? TJPF_GRAY : TJPF_RGB, flags) != 0 &&
      (l.jpeg_warnings_are_errors || tjGetErrorCode(tj.get()) != TJERR_WARNING))
    fail<io_error>("read_image", source, ": malformed JPEG (", tjGetErrorStr2(tj.get()), ")");
  return planar(pixels.data(), c, h, w);
}
}  // namespace detail

/// Decodes PNG or JPEG bytes (told apart by their signature) as [C, H, W] floats in [0, 1]; C is
/// the file's channel count (PNG: 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA; JPEG: 1 or 3), 16-bit
/// PNGs are reduced to 8 bits. `source` names the file in errors. Throws io_error for anything
/// that is not a well-formed PNG or JPEG, and for images beyond `limits` (before decoding).
inline tensor<float, host> decode_image(std::span<const unsigned char> bytes, const std::string& source,
                                        const image_limits& limits = {}) {
  static constexpr unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (bytes.size() >= 8 && std::memcmp(bytes.data(), png_sig, 8) == 0) return detail::decode_png(bytes, source, limits);
  if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
    return detail::decode_jpeg(bytes, source, limits);
  fail<io_error>("read_image", source, ": not a PNG or JPEG file (", bytes.size(), " bytes, no PNG or JPEG signature)");
}

/// Reads a PNG or JPEG file (see decode_image). Throws io_error naming the file for a missing,
/// malformed or oversized image.
inline tensor<float, host> read_image(const std::filesystem::path& path, const image_limits& limits = {}) {
  return decode_image(read_file(path, std::uint64_t{1} << 30), path.string(), limits);
}
/// read_image for PNG files (kept for symmetry with write_png).
inline tensor<float, host> read_png(const std::filesystem::path& path, const image_limits& limits = {}) {
  return read_image(path, limits);
}

/// Raw interleaved 8-bit images stored back to back ((N, H, W, C) bytes, as the engines'
/// reference inputs are) as [N, C, H, W] floats, value = byte / divisor. Throws io_error naming
/// `source` when the byte count is not a positive multiple of C * H * W.
inline tensor<float, host> decode_raw_images(std::span<const unsigned char> bytes, index_t c, index_t h, index_t w,
                                             const std::string& source, float divisor = 255.0f) {
  if (c < 1 || h < 1 || w < 1) fail<shape_error>("decode_raw_images", source, ": image shape ", c, "x", h, "x", w);
  const auto per = static_cast<std::size_t>(c * h * w);
  if (bytes.empty() || bytes.size() % per != 0)
    fail<io_error>("decode_raw_images", source, ": ", bytes.size(), " bytes is not a whole number of ", h, "x", w, "x",
                   c, " images (", per, " bytes each)");
  const auto n = static_cast<index_t>(bytes.size() / per);
  tensor<float, host> t({n, c, h, w});
  float* dst = t.data();
  const index_t hw = h * w;
  for (index_t i = 0; i < n; ++i)
    for (index_t p = 0; p < hw; ++p)
      for (index_t k = 0; k < c; ++k)
        dst[(i * c + k) * hw + p] = static_cast<float>(bytes[static_cast<std::size_t>((i * hw + p) * c + k)]) / divisor;
  return t;
}

/// decode_raw_images of a file; io_error naming it when it is missing or of the wrong size.
inline tensor<float, host> read_raw_images(const std::filesystem::path& path, index_t c, index_t h, index_t w,
                                           float divisor = 255.0f) {
  return decode_raw_images(read_file(path), c, h, w, path.string(), divisor);
}

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
