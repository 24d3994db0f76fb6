// --align DIR for the examples: LFW faces for an engine either as the engine's fixed crop of the
// deep-funneled 250 x 250 image, or aligned on five landmarks found by DIR's detector and
// landmark models (fr_detect.onnx, fr_landmark.onnx of the arcface512 package) and warped onto
// the ArcFace template at the engine's input size (engines/face_aligner.hpp).
#pragma once

#include <algorithm>
#include <filesystem>
#include <memory>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <bijgan/data/lfw.hpp>
#include <bijgan/io/progress.hpp>
#include <bijgan/ops/shape.hpp>
#ifdef BIJGAN_HAVE_ONNX
#include <bijgan/engines/face_aligner.hpp>
#endif

namespace examples {

/// Where an engine's faces come from; see the file comment.
class face_source {
 public:
  /// The engine's crop; with a non-empty align_dir the aligner there instead (io_error naming
  /// the missing file; value_error when this build has no ONNX support).
  face_source(const bijgan::data::face_crop& crop, const std::filesystem::path& align_dir) : crop_(crop) {
    if (align_dir.empty()) return;
#ifdef BIJGAN_HAVE_ONNX
    aligner_ = std::make_shared<const bijgan::engines::face_aligner>(bijgan::engines::face_aligner::load(align_dir));
#else
    bijgan::fail<bijgan::value_error>("--align", align_dir,
                                      ": alignment runs ONNX models, but this build has no ONNX support "
                                      "(apt-get install libonnx-dev libprotobuf-dev, then reconfigure)");
#endif
  }

  /// Faces (N, 3, size, size) in [0, 1] of `images` under root (LFW's lfw/ folder).
  [[nodiscard]] bijgan::tensor<float> operator()(const std::filesystem::path& root,
                                                 const std::vector<bijgan::data::lfw_image>& images) const {
#ifdef BIJGAN_HAVE_ONNX
    if (aligner_) {
      const auto full = bijgan::data::load_lfw_faces(root, images, {bijgan::data::face_crop{{0, 0, 250, 250}, 250}})[0];
      return aligner_->align(full, crop_.size, &fallbacks_);
    }
#endif
    return bijgan::data::load_lfw_faces(root, images, {crop_})[0];
  }

  /// The same faces at several sizes (one tensor (N, 3, s, s) per size), from one JPEG decode
  /// and, when aligning, one detection per image (256 full images held at a time), with a
  /// progress bar on log when given.
  [[nodiscard]] std::vector<bijgan::tensor<float>> operator()(const std::filesystem::path& root,
                                                              const std::vector<bijgan::data::lfw_image>& images,
                                                              const std::vector<bijgan::index_t>& sizes,
                                                              std::ostream* log = nullptr,
                                                              const std::string& label = "loading faces") const {
#ifdef BIJGAN_HAVE_ONNX
    if (aligner_) {
      const auto n = static_cast<bijgan::index_t>(images.size());
      const bijgan::index_t chunk = 256;
      std::ostringstream quiet;
      bijgan::io::progress_bar bar((n + chunk - 1) / chunk, label, chunk, log ? *log : quiet);
      std::vector<std::vector<bijgan::tensor<float>>> parts(sizes.size());
      for (bijgan::index_t s = 0; s < n; s += chunk) {
        const std::vector<bijgan::data::lfw_image> part(images.begin() + s, images.begin() + std::min(n, s + chunk));
        const auto full = bijgan::data::load_lfw_faces(root, part, {bijgan::data::face_crop{{0, 0, 250, 250}, 250}})[0];
        auto aligned = aligner_->align(full, sizes, &fallbacks_);
        for (std::size_t k = 0; k < sizes.size(); ++k) parts[k].push_back(std::move(aligned[k]));
        bar.update(s / chunk + 1, {});
      }
      if (log) *log << "\n";
      std::vector<bijgan::tensor<float>> out;
      for (const auto& p : parts) out.push_back(bijgan::concat(std::span<const bijgan::tensor<float>>(p), 0));
      return out;
    }
#endif
    std::vector<bijgan::data::face_crop> crops;
    for (const auto s : sizes) crops.push_back({crop_.box, s});
    return bijgan::data::load_lfw_faces(root, images, crops, log, label);
  }

  /// Names the faces for cache files: the crop box and size, or the aligner's checksum and size.
  [[nodiscard]] std::string key() const { return key(crop_.size); }
  /// The same faces' name at another size.
  [[nodiscard]] std::string key(bijgan::index_t size) const {
    const auto [l, t, r, b] = crop_.box;
#ifdef BIJGAN_HAVE_ONNX
    if (aligner_) return "align5-" + std::to_string(aligner_->checksum()) + "_s" + std::to_string(size);
#endif
    return "crop" + std::to_string(l) + "-" + std::to_string(t) + "-" + std::to_string(r) + "-" + std::to_string(b) +
           "_s" + std::to_string(size);
  }

  /// For the log: "crop (l, t, r, b) -> S x S" or "five-point alignment -> S x S".
  [[nodiscard]] std::string describe() const {
    const auto [l, t, r, b] = crop_.box;
    const auto side = std::to_string(crop_.size) + "x" + std::to_string(crop_.size);
    if (aligned()) return "five-point alignment (fr_detect + fr_landmark) -> " + side;
    return "crop (" + std::to_string(l) + ", " + std::to_string(t) + ", " + std::to_string(r) + ", " +
           std::to_string(b) + ") -> " + side;
  }

  [[nodiscard]] bool aligned() const noexcept {
#ifdef BIJGAN_HAVE_ONNX
    return aligner_ != nullptr;
#else
    return false;
#endif
  }
  /// Images aligned so far where no face was found (cut with the aligner's fallback box).
  [[nodiscard]] bijgan::index_t fallbacks() const noexcept { return fallbacks_; }
  [[nodiscard]] const bijgan::data::face_crop& crop() const noexcept { return crop_; }

 private:
  bijgan::data::face_crop crop_;
#ifdef BIJGAN_HAVE_ONNX
  std::shared_ptr<const bijgan::engines::face_aligner> aligner_;
#endif
  mutable bijgan::index_t fallbacks_ = 0;
};

}  // namespace examples
