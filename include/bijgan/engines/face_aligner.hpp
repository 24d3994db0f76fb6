// Per-image 5-point face alignment with a detector and a 68-point landmark model from ONNX
// files (the faceplugin pair beside arcface512 in ../shared/data/face-engines): the detector
// finds the face, its box becomes the square crop the landmark model reads, the 68 points give
// eyes, nose and mouth corners, and a similarity warp puts those on the ArcFace template.
// The steps follow the package's own JavaScript (lib/fr_detect.js, lib/fr_landmark.js), whose
// outputs are the references the tests compare with. Link bijgan::onnx.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <utility>
#include <vector>

#include "bijgan/data/align.hpp"
#include "bijgan/engines/onnx/graph.hpp"
#include "bijgan/ops/resample.hpp"

namespace bijgan::engines {

/// The face the detector found in one image.
struct face_box {
  index_t anchor = 0;              ///< the detector's anchor with the highest face score
  double score = 0;                ///< its face probability
  std::array<double, 4> square{};  ///< (x1, y1, x2, y2): side = box height around its centre, clamped
  std::array<index_t, 4> rect{};   ///< the integer crop (x, y, w, h) the landmark model reads
};

struct face_aligner_options {
  /// Below this face score (or with a crop under 8 pixels) an image is not aligned but cut
  /// with `fallback_box` (left, top, right, bottom), scaled to the image's size from 250 x 250.
  double min_score = 0.5;
  std::array<index_t, 4> fallback_box{63, 54, 188, 179};
};

/// Detector + landmarks + similarity warp: images (N, 3, H, W) in [0, 1] to aligned faces.
class face_aligner {
 public:
  static constexpr index_t frame_h = 240, frame_w = 320, crop_side = 64, points = 68;

  /// Loads dir/fr_detect.onnx and dir/fr_landmark.onnx (io_error naming the file otherwise).
  static face_aligner load(const std::filesystem::path& dir, const face_aligner_options& o = {}) {
    return face_aligner(onnx::graph<float>::load(dir / "fr_detect.onnx"),
                        onnx::graph<float>::load(dir / "fr_landmark.onnx"), o);
  }

  /// The best face in a detector frame (1, 3, 240, 320), RGB in [0, 1], of an image h x w:
  /// the highest-scoring anchor (no threshold, no NMS: one face per image), its box in the
  /// image's pixels made square with side = its height around its centre, clamped to
  /// [0, w - 1] x [0, h - 1], and the integer crop from the truncated corners.
  [[nodiscard]] face_box detect_frame(const tensor<float, host>& frame, index_t h, index_t w) const {
    if (frame.shape() != shape{1, 3, frame_h, frame_w})
      fail<shape_error>("face_aligner::detect_frame", "frame ", frame.shape(), " must be (1, 3, 240, 320)");
    no_grad ng;
    const auto f = constant(frame);
    // The package feeds B, G, R with value (255 p - 127) / 128.
    const auto bgr = concat(std::vector{slice(f, 1, 2, 3), slice(f, 1, 1, 2), slice(f, 1, 0, 1)}, 1);
    const auto out = detect_({(bgr * 255.0f - 127.0f) * (1.0f / 128)});
    if (out.size() != 2 || out[0].rank() != 3 || out[0].size(2) != 2 || out[1].rank() != 3 || out[1].size(2) != 4 ||
        out[0].size(1) != out[1].size(1))
      fail<io_error>("face_aligner", detect_.source(), ": expected outputs scores (1, A, 2) and boxes (1, A, 4)");
    const auto sc = out[0].value().to_vector(), bx = out[1].value().to_vector();
    face_box r;
    for (index_t a = 1; a < out[0].size(1); ++a)
      if (sc[static_cast<std::size_t>(2 * a + 1)] > sc[static_cast<std::size_t>(2 * r.anchor + 1)]) r.anchor = a;
    const auto k = static_cast<std::size_t>(4 * r.anchor);
    r.score = sc[static_cast<std::size_t>(2 * r.anchor + 1)];
    const double sx = static_cast<double>(w), sy = static_cast<double>(h);
    const double x1 = bx[k] * sx, y1 = bx[k + 1] * sy, x2 = bx[k + 2] * sx, y2 = bx[k + 3] * sy;
    const double side = y2 - y1, cx = (x1 + x2) / 2, cy = (y1 + y2) / 2;
    r.square = {std::max(cx - side / 2, 0.0), std::max(cy - side / 2, 0.0), std::min(cx + side / 2, sx - 1),
                std::min(cy + side / 2, sy - 1)};
    std::array<index_t, 4> t{};
    for (std::size_t j = 0; j < 4; ++j) t[j] = static_cast<index_t>(std::trunc(r.square[j]));
    r.rect = {t[0], t[1], std::abs(t[2] - t[0]), std::abs(t[3] - t[1])};
    return r;
  }

  /// The best face in an image (3, H, W) in [0, 1]: resized to the detector's 320 x 240 frame
  /// (bilinear, rounded to 8 bits as the package's canvas holds it), then detect_frame.
  [[nodiscard]] face_box detect(const tensor<float, host>& image) const {
    check_image("face_aligner::detect", image);
    no_grad ng;
    const auto x = constant(image.reshape(shape{1, 3, image.size(1), image.size(2)}));
    return detect_frame(quantized(resize(x, frame_h, frame_w, interpolation::bilinear).value()), image.size(1),
                        image.size(2));
  }

  /// The 68 landmarks, in image pixels, from the landmark model's input (1, 1, 64, 64) (value
  /// g / 256 of the 8-bit gray crop) and the crop it was cut from: trunc(u w + x), trunc(v h + y).
  [[nodiscard]] std::array<data::point2, points> landmarks_of_crop(const tensor<float, host>& input,
                                                                   const std::array<index_t, 4>& rect) const {
    if (input.shape() != shape{1, 1, crop_side, crop_side})
      fail<shape_error>("face_aligner::landmarks_of_crop", "input ", input.shape(), " must be (1, 1, 64, 64)");
    no_grad ng;
    const auto out = landmark_({constant(input)});
    if (out.empty() || out[0].numel() != 2 * points)
      fail<io_error>("face_aligner", landmark_.source(), ": expected an output of 136 values");
    const auto v = out[0].value().to_vector();
    std::array<data::point2, points> p{};
    for (std::size_t j = 0; j < static_cast<std::size_t>(points); ++j)
      p[j] = {std::trunc(v[2 * j] * static_cast<double>(rect[2]) + static_cast<double>(rect[0])),
              std::trunc(v[2 * j + 1] * static_cast<double>(rect[3]) + static_cast<double>(rect[1]))};
    return p;
  }

  /// The landmark model's input for an image (3, H, W) in [0, 1] and a crop (x, y, w, h): the
  /// crop resized to 64 x 64 (bilinear, 8 bits), gray as OpenCV's BGR2GRAY applied to RGB data
  /// ((1868 R + 9617 G + 4899 B + 8192) >> 14), over 256.
  [[nodiscard]] static tensor<float, host> landmark_input(const tensor<float, host>& image,
                                                          const std::array<index_t, 4>& rect) {
    check_image("face_aligner::landmark_input", image);
    const auto [x, y, w, h] = rect;
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || x + w > image.size(2) || y + h > image.size(1))
      fail<shape_error>("face_aligner::landmark_input", "crop (", x, ", ", y, ", ", w, ", ", h, ") does not fit image ",
                        image.shape());
    no_grad ng;
    const auto img = constant(image.reshape(shape{1, 3, image.size(1), image.size(2)}));
    const auto crop =
        resize(slice(slice(img, 2, y, y + h), 3, x, x + w), crop_side, crop_side, interpolation::bilinear).value();
    auto out = tensor<float, host>::zeros(shape{1, 1, crop_side, crop_side});
    const float* c = crop.data();
    const auto plane = crop_side * crop_side;
    for (index_t i = 0; i < plane; ++i) {
      const auto r = to_byte(c[i]), g = to_byte(c[plane + i]), b = to_byte(c[2 * plane + i]);
      out.data()[i] = static_cast<float>((1868 * r + 9617 * g + 4899 * b + 8192) >> 14) / 256.0f;
    }
    return out;
  }

  /// Eyes (means of points 37, 38, 40, 41 and 43, 44, 46, 47), nose tip (30), mouth corners
  /// (means of 48 and 60, 54 and 64), counting from 0: the package's convert68pts5pts.
  [[nodiscard]] static std::array<data::point2, 5> five_points(const std::array<data::point2, points>& p) {
    const auto mean = [&](std::initializer_list<std::size_t> ix) {
      data::point2 m;
      for (auto i : ix) m.x += p[i].x / static_cast<double>(ix.size()), m.y += p[i].y / static_cast<double>(ix.size());
      return m;
    };
    return {mean({37, 38, 40, 41}), mean({43, 44, 46, 47}), p[30], mean({48, 60}), mean({54, 64})};
  }

  /// The face in one image and its five points; `found` is false (and the points unset) when
  /// the best score is under min_score or the crop is under 8 pixels.
  struct located {
    face_box box;
    std::array<data::point2, 5> points{};
    bool found = false;
  };
  /// Detects the face in image (3, H, W) in [0, 1] and finds its five points.
  [[nodiscard]] located locate(const tensor<float, host>& image) const {
    located l;
    l.box = detect(image);
    if (l.box.score < options_.min_score || l.box.rect[2] < 8 || l.box.rect[3] < 8) return l;
    l.points = five_points(landmarks_of_crop(landmark_input(image, l.box.rect), l.box.rect));
    l.found = true;
    return l;
  }

  /// Aligned faces (N, 3, side, side) from images (N, 3, H, W) in [0, 1]: the similarity that
  /// best maps each face's five points onto arcface_template(side), warped bilinearly with a
  /// zero border. Images where no face is found are cut with fallback_box instead and counted
  /// in *fallbacks when given.
  [[nodiscard]] tensor<float, host> align(const tensor<float, host>& images, index_t side,
                                          index_t* fallbacks = nullptr) const {
    return std::move(align(images, std::vector<index_t>{side}, fallbacks)[0]);
  }

  /// align at several sides from one detection per image: one (N, 3, s, s) tensor per side.
  [[nodiscard]] std::vector<tensor<float, host>> align(const tensor<float, host>& images,
                                                       const std::vector<index_t>& sides,
                                                       index_t* fallbacks = nullptr) const {
    const bool sides_ok = !sides.empty() && std::ranges::all_of(sides, [](index_t s) { return s > 0; });
    if (images.rank() != 4 || images.size(1) != 3 || !sides_ok)
      fail<shape_error>("face_aligner::align", "images ", images.shape(), " must be (N, 3, H, W) and the ",
                        sides.size(), " side(s) positive");
    std::vector<tensor<float, host>> out;
    for (const auto side : sides) out.push_back(tensor<float, host>::zeros(shape{images.size(0), 3, side, side}));
    for (index_t n = 0; n < images.size(0); ++n) {
      const auto image = images.slice_rows(n, n + 1).reshape(shape{3, images.size(2), images.size(3)});
      const auto face = locate(image);
      if (!face.found && fallbacks) ++*fallbacks;
      for (std::size_t k = 0; k < sides.size(); ++k) {
        const index_t side = sides[k];
        data::affine2 map;
        if (face.found) {
          map = data::fit_similarity(face.points, data::arcface_template(static_cast<double>(side)));
        } else {
          // Scale and shift taking the fallback box (given for 250 x 250) onto the output square.
          const auto [l, t, r, b] = options_.fallback_box;
          const double kx = static_cast<double>(images.size(3)) / 250, ky = static_cast<double>(images.size(2)) / 250;
          const double sx = static_cast<double>(side) / (kx * static_cast<double>(r - l));
          const double sy = static_cast<double>(side) / (ky * static_cast<double>(b - t));
          map = {{sx, 0, -sx * kx * static_cast<double>(l), 0, sy, -sy * ky * static_cast<double>(t)}};
        }
        const auto warped = data::warp_affine(image, map, side, side);
        const auto plane = 3 * side * side;
        std::copy(warped.data(), warped.data() + plane, out[k].data() + n * plane);
      }
    }
    return out;
  }

  [[nodiscard]] const face_aligner_options& options() const noexcept { return options_; }
  /// FNV-1a of both model files (keys caches of aligned features).
  [[nodiscard]] std::uint64_t checksum() const noexcept { return detect_.checksum() ^ (landmark_.checksum() << 1); }

 private:
  face_aligner(onnx::graph<float> d, onnx::graph<float> l, const face_aligner_options& o)
      : detect_(std::move(d)), landmark_(std::move(l)), options_(o) {}
  static void check_image(const char* op, const tensor<float, host>& image) {
    if (image.rank() != 3 || image.size(0) != 3 || image.size(1) < 2 || image.size(2) < 2)
      fail<shape_error>(op, "image ", image.shape(), " must be (3, H, W) RGB in [0, 1]");
  }
  /// The 8-bit value of v in [0, 1]: rounded, clamped to 0..255.
  static long to_byte(float v) { return std::clamp(std::lround(255 * v), 0L, 255L); }
  /// Values rounded to multiples of 1/255 and clamped to [0, 1]: an 8-bit image.
  static tensor<float, host> quantized(const tensor<float, host>& t) {
    auto q = tensor<float, host>::zeros(t.shape());
    const float* p = t.data();
    for (index_t i = 0; i < t.numel(); ++i) q.data()[i] = static_cast<float>(to_byte(p[i])) / 255.0f;
    return q;
  }

  onnx::graph<float> detect_, landmark_;
  face_aligner_options options_;
};

}  // namespace bijgan::engines
