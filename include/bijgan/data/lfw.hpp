// Labeled Faces in the Wild (deep-funneled): the official View-2 pairs (10 identity-disjoint
// folds of 300 same + 300 different pairs), image paths, and the crop the face engine expects
// (box (65, 75, 185, 195) of the 250x250 image, resized bilinearly to 150x150).
#pragma once

#include <array>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/autodiff/autodiff.hpp"
#include "bijgan/io/png.hpp"

namespace bijgan::data {

/// One verification pair of pairs.txt; fold is 0..9.
struct lfw_pair {
  std::string name1;
  int image1 = 0;
  std::string name2;
  int image2 = 0;
  bool same = false;
  int fold = 0;
};

/// Reads pairs.txt: a "folds per_fold" header, then per fold per_fold same-person lines
/// "name i j" and per_fold different-person lines "name1 i name2 j". Throws io_error naming the
/// file and line on any deviation.
inline std::vector<lfw_pair> read_lfw_pairs(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) fail<io_error>("read_lfw_pairs", "cannot open ", path);
  int folds = 0, per = 0;
  std::string line;
  if (!std::getline(in, line) || !(std::istringstream(line) >> folds >> per) || folds < 1 || per < 1)
    fail<io_error>("read_lfw_pairs", path, ": line 1 must be \"<folds> <pairs per fold>\"");
  std::vector<lfw_pair> out;
  int lineno = 1;
  for (int f = 0; f < folds; ++f)
    for (int k = 0; k < 2 * per; ++k) {
      ++lineno;
      if (!std::getline(in, line)) fail<io_error>("read_lfw_pairs", path, ": ends at line ", lineno, ", expected ", 1 + 2 * folds * per, " lines");
      std::istringstream ls(line);
      lfw_pair p;
      p.fold = f;
      p.same = k < per;
      bool ok = p.same ? static_cast<bool>(ls >> p.name1 >> p.image1 >> p.image2) : static_cast<bool>(ls >> p.name1 >> p.image1 >> p.name2 >> p.image2);
      if (p.same) p.name2 = p.name1;
      std::string rest;
      if (!ok || (ls >> rest) || p.image1 < 1 || p.image2 < 1)
        fail<io_error>("read_lfw_pairs", path, ": line ", lineno, " \"", line, "\" is not a ", p.same ? "\"name i j\"" : "\"name1 i name2 j\"", " pair");
      out.push_back(std::move(p));
    }
  return out;
}

/// root/lfw-deepfunneled/<name>/<name>_NNNN.jpg
inline std::filesystem::path lfw_image_path(const std::filesystem::path& root, const std::string& name, int index) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "_%04d.jpg", index);
  return root / "lfw-deepfunneled" / name / (name + buf);
}

/// A crop box (left, top, right, bottom) in pixels and the square size it is resized to.
struct face_crop {
  std::array<index_t, 4> box{65, 75, 185, 195};
  index_t size = 150;
};

/// Crops images (N, C, H, W) to the box and resizes bilinearly (align_corners = false) to
/// size x size. Throws shape_error when the box does not lie inside the image.
inline tensor<float, host> crop_and_resize(const tensor<float, host>& images, const face_crop& c = {}) {
  const auto [l, t, r, b] = c.box;
  if (images.rank() != 4 || l < 0 || t < 0 || r <= l || b <= t || r > images.size(3) || b > images.size(2))
    fail<shape_error>("crop_and_resize", "box (", l, ", ", t, ", ", r, ", ", b, ") does not fit images ", images.shape());
  no_grad ng;
  const auto cropped = slice(slice(images, 2, t, b), 3, l, r);
  return resize(constant(cropped), c.size, c.size, interpolation::bilinear).value();
}

/// Loads one LFW image as (3, size, size) in [0, 1] with the engine's crop.
inline tensor<float, host> load_lfw_face(const std::filesystem::path& root, const std::string& name, int index, const face_crop& c = {}) {
  const auto img = io::read_image(lfw_image_path(root, name, index));
  if (img.size(0) != 3) fail<io_error>("load_lfw_face", lfw_image_path(root, name, index), " is not RGB");
  return crop_and_resize(img.reshape(shape{1, 3, img.size(1), img.size(2)}), c).reshape(shape{3, c.size, c.size});
}

}  // namespace bijgan::data
