// Labeled Faces in the Wild (deep-funneled): the official View-2 pairs (10 identity-disjoint
// folds of 300 same + 300 different pairs), image paths, and the crop the face engine expects
// (box (65, 75, 185, 195) of the 250x250 image, resized bilinearly to 150x150).
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "bijgan/io/checksum.hpp"
#include "bijgan/io/png.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/ops/ops.hpp"

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

/// Limits on a pairs list (LFW's own: 10 folds of 300 + 300, image numbers up to 530).
struct lfw_pairs_limits {
  int max_folds = 100;
  int max_pairs_per_fold = 1'000'000;
  int max_image = 9999;  ///< file names have four digits
};

namespace detail {
/// A name that can become one path component: not empty, ".", "..", and without '/', '\\', NUL.
inline bool plain_lfw_name(const std::string& n) {
  return !n.empty() && n != "." && n != ".." && n.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}
}  // namespace detail

/// Parses a pairs list: a "folds per_fold" header, then per fold per_fold same-person lines
/// "name i j" and per_fold different-person lines "name1 i name2 j". Names must be plain folder
/// names (no '/', '\\', NUL, "." or ".."): they become paths. `source` names the file. Throws
/// io_error naming it and the line on any deviation, on counts beyond `limits`, and on lines
/// after the last pair.
inline std::vector<lfw_pair> parse_lfw_pairs(std::string_view text, const std::string& source,
                                             const lfw_pairs_limits& limits = {}) {
  std::istringstream in{std::string(text)};
  long long folds = 0, per = 0;
  std::string line, extra;
  if (!std::getline(in, line))
    fail<io_error>("read_lfw_pairs", source, ": empty file (line 1 must be \"<folds> <pairs per fold>\")");
  {
    std::istringstream hs(line);
    if (!(hs >> folds >> per) || (hs >> extra) || folds < 1 || per < 1 || folds > limits.max_folds ||
        per > limits.max_pairs_per_fold)
      fail<io_error>("read_lfw_pairs", source, ": line 1 \"", line.substr(0, 80),
                     "\" must be \"<folds> <pairs per fold>\" with 1..", limits.max_folds, " folds and 1..",
                     limits.max_pairs_per_fold, " pairs per fold");
  }
  const long long expected_lines = 1 + 2 * folds * per;  // at most 1 + 2e8: no overflow
  // Every pair line holds at least 5 bytes ("a 1 2"): refuse a header the text cannot meet
  // before reserving anything.
  if (static_cast<long long>(text.size()) < 5 * (expected_lines - 1))
    fail<io_error>("read_lfw_pairs", source, ": the header promises ", expected_lines, " lines but the file holds ",
                   text.size(), " bytes");
  std::vector<lfw_pair> out;
  out.reserve(static_cast<std::size_t>(2 * folds * per));
  long long lineno = 1;
  for (int f = 0; f < folds; ++f)
    for (long long k = 0; k < 2 * per; ++k) {
      ++lineno;
      if (!std::getline(in, line))
        fail<io_error>("read_lfw_pairs", source, ": ends at line ", lineno, ", expected ", expected_lines, " lines");
      std::istringstream ls(line);
      lfw_pair p;
      p.fold = f;
      p.same = k < per;
      bool ok = p.same ? static_cast<bool>(ls >> p.name1 >> p.image1 >> p.image2)
                       : static_cast<bool>(ls >> p.name1 >> p.image1 >> p.name2 >> p.image2);
      if (p.same) p.name2 = p.name1;
      std::string rest;
      if (!ok || (ls >> rest) || p.image1 < 1 || p.image2 < 1 || p.image1 > limits.max_image ||
          p.image2 > limits.max_image || !detail::plain_lfw_name(p.name1) || !detail::plain_lfw_name(p.name2))
        fail<io_error>("read_lfw_pairs", source, ": line ", lineno, " \"", line.substr(0, 120), "\" is not a ",
                       p.same ? "\"name i j\"" : "\"name1 i name2 j\"", " pair (plain names, images 1..",
                       limits.max_image, ")");
      out.push_back(std::move(p));
    }
  while (std::getline(in, line))
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      fail<io_error>("read_lfw_pairs", source, ": text after the ", expected_lines, " lines the header promises");
  return out;
}

/// Reads pairs.txt (see parse_lfw_pairs); io_error naming the file when it is missing or malformed.
inline std::vector<lfw_pair> read_lfw_pairs(const std::filesystem::path& path, const lfw_pairs_limits& limits = {}) {
  const auto bytes = io::read_file(path, std::uint64_t{1} << 30);
  return parse_lfw_pairs(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path.string(),
                         limits);
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
    fail<shape_error>("crop_and_resize", "box (", l, ", ", t, ", ", r, ", ", b, ") does not fit images ",
                      images.shape());
  no_grad ng;
  const auto cropped = slice(slice(images, 2, t, b), 3, l, r);
  return resize(constant(cropped), c.size, c.size, interpolation::bilinear).value();
}

/// Loads one LFW image as (3, size, size) in [0, 1] with the engine's crop.
inline tensor<float, host> load_lfw_face(const std::filesystem::path& root, const std::string& name, int index,
                                         const face_crop& c = {}) {
  const auto img = io::read_image(lfw_image_path(root, name, index));
  if (img.size(0) != 3) fail<io_error>("load_lfw_face", lfw_image_path(root, name, index), " is not RGB");
  return crop_and_resize(img.reshape(shape{1, 3, img.size(1), img.size(2)}), c).reshape(shape{3, c.size, c.size});
}

/// One image of the data set: the identity's folder name and the 1-based image number.
struct lfw_image {
  std::string name;
  int index = 0;
  auto operator<=>(const lfw_image&) const = default;
};

/// Every image under root/lfw-deepfunneled, identities in name order, images by number
/// (13,233 for LFW). io_error when the folder is missing or empty.
inline std::vector<lfw_image> list_lfw_images(const std::filesystem::path& root) {
  const auto dir = root / "lfw-deepfunneled";
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) fail<io_error>("list_lfw_images", dir, " is not a directory");
  std::map<std::string, int> counts;
  const auto list_error = [&](const std::filesystem::path& p) {
    fail<io_error>("list_lfw_images", "cannot list ", p, ": ", ec.message());
  };
  for (std::filesystem::directory_iterator person(dir, ec), end; person != end; person.increment(ec)) {
    if (ec) list_error(dir);
    if (!person->is_directory(ec)) continue;
    int n = 0;
    for (std::filesystem::directory_iterator f(person->path(), ec); f != end; f.increment(ec)) {
      if (ec) list_error(person->path());
      n += f->path().extension() == ".jpg";
    }
    if (ec) list_error(person->path());
    if (n > 0) counts[person->path().filename().string()] = n;
  }
  if (ec) list_error(dir);
  if (counts.empty()) fail<io_error>("list_lfw_images", dir, " holds no <name>/<name>_NNNN.jpg images");
  std::vector<lfw_image> out;
  for (const auto& [name, n] : counts)
    for (int i = 1; i <= n; ++i) out.push_back({name, i});
  return out;
}

/// Where an image lies under lfw-deepfunneled: "Name/Name_0001.jpg".
inline std::string lfw_relative_path(const lfw_image& im) {
  return lfw_image_path("", im.name, im.index).lexically_relative("lfw-deepfunneled").generic_string();
}

/// Parses a list of LFW images, one per line as a path under lfw-deepfunneled
/// ("Aaron_Eckhart/Aaron_Eckhart_0001.jpg"; a leading "lfw-deepfunneled/" is allowed), in the
/// order given; blank lines and lines starting with '#' are skipped. Throws io_error naming
/// `source` and the line for anything else: another layout, a file name that does not repeat
/// its folder's name, an image number outside 1..9999, a name that is not one plain path
/// component; and for a list with no image.
inline std::vector<lfw_image> parse_lfw_image_list(std::string_view text, const std::string& source) {
  std::vector<lfw_image> out;
  std::size_t lineno = 0, at = 0;
  while (at <= text.size()) {
    const auto nl = text.find('\n', at);
    std::string line(text.substr(at, nl == std::string_view::npos ? std::string_view::npos : nl - at));
    at = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
    ++lineno;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    line.erase(0, first);
    const auto bad = [&](const char* why) {
      fail<io_error>("read_lfw_image_list", source, ": line ", lineno, " \"", line.substr(0, 120), "\" ", why,
                     " (expected Name/Name_NNNN.jpg, as under lfw-deepfunneled)");
    };
    std::string_view rest(line);
    if (rest.starts_with("lfw-deepfunneled/")) rest.remove_prefix(std::string_view("lfw-deepfunneled/").size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos) bad("has no folder");
    const std::string name(rest.substr(0, slash));
    const std::string_view file = rest.substr(slash + 1);
    if (!detail::plain_lfw_name(name)) bad("has a folder that is not a plain name");
    const std::string_view suffix = ".jpg";
    if (file.size() != name.size() + 5 + suffix.size() || !file.starts_with(name) || file[name.size()] != '_' ||
        !file.ends_with(suffix))
      bad("does not name a file Name_NNNN.jpg in folder Name");
    int index = 0;
    for (char c : file.substr(name.size() + 1, 4)) {
      if (c < '0' || c > '9') bad("has an image number that is not four digits");
      index = index * 10 + (c - '0');
    }
    if (index < 1) bad("has image number 0 (LFW numbers images from 1)");
    out.push_back({name, index});
  }
  if (out.empty()) fail<io_error>("read_lfw_image_list", source, ": lists no image");
  return out;
}

/// Reads an image list file (see parse_lfw_image_list); io_error naming it when missing or malformed.
inline std::vector<lfw_image> read_lfw_image_list(const std::filesystem::path& path) {
  const auto bytes = io::read_file(path, std::uint64_t{1} << 30);
  return parse_lfw_image_list(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                              path.string());
}

/// The open-set split: the identities of the test folds (pairs.txt's folds are identity-
/// disjoint) against every other identity — those of the other folds and those in no fold.
/// Labels number the identities of each side from 0 in name order.
struct lfw_split {
  std::vector<lfw_image> train, test;
  std::vector<int> train_labels, test_labels;
  int train_identities = 0, test_identities = 0;
};

/// Splits `images` (list_lfw_images) by the identities of pairs in test_folds (0-based).
/// value_error when a test fold is out of range or no image falls on one side.
inline lfw_split split_lfw(const std::vector<lfw_image>& images, const std::vector<lfw_pair>& pairs,
                           const std::set<int>& test_folds) {
  int folds = 0;
  for (const auto& p : pairs) folds = std::max(folds, p.fold + 1);
  for (int f : test_folds)
    if (f < 0 || f >= folds)
      fail<value_error>("split_lfw", "test fold ", f, " is not among the ", folds, " folds (0-based)");
  std::set<std::string> test_names;
  for (const auto& p : pairs)
    if (test_folds.contains(p.fold)) test_names.insert(p.name1), test_names.insert(p.name2);
  lfw_split s;
  std::map<std::string, int> train_id, test_id;
  for (const auto& im : images) {
    const bool is_test = test_names.contains(im.name);
    auto& ids = is_test ? test_id : train_id;
    const int label = ids.emplace(im.name, static_cast<int>(ids.size())).first->second;
    (is_test ? s.test : s.train).push_back(im);
    (is_test ? s.test_labels : s.train_labels).push_back(label);
  }
  s.train_identities = static_cast<int>(train_id.size()), s.test_identities = static_cast<int>(test_id.size());
  if (s.train.empty() || s.test.empty())
    fail<value_error>("split_lfw", "the split leaves ", s.train.size(), " training and ", s.test.size(),
                      " test images");
  return s;
}

/// Loads images as (N, 3, size, size) tensors in [0, 1], one per crop in `crops` (each JPEG is
/// decoded once), with a progress bar on `log` when given.
inline std::vector<tensor<float, host>> load_lfw_faces(const std::filesystem::path& root,
                                                       const std::vector<lfw_image>& images,
                                                       const std::vector<face_crop>& crops, std::ostream* log = nullptr,
                                                       const std::string& label = "loading faces") {
  if (crops.empty()) fail<value_error>("load_lfw_faces", "no crop given");
  const auto n = static_cast<index_t>(images.size());
  std::vector<std::vector<float>> data(crops.size());
  for (std::size_t c = 0; c < crops.size(); ++c)
    data[c].resize(static_cast<std::size_t>(n * 3 * crops[c].size * crops[c].size));
  std::ostringstream quiet;
  io::progress_bar bar(n, label, 1, log ? *log : quiet);
  for (index_t i = 0; i < n; ++i) {
    const auto& im = images[static_cast<std::size_t>(i)];
    const auto path = lfw_image_path(root, im.name, im.index);
    auto img = io::read_image(path);
    if (img.size(0) != 3) fail<io_error>("load_lfw_faces", path, " is not RGB");
    img = img.reshape(shape{1, 3, img.size(1), img.size(2)});
    for (std::size_t c = 0; c < crops.size(); ++c) {
      const auto face = crop_and_resize(img, crops[c]);
      std::memcpy(data[c].data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(face.numel()), face.data(),
                  sizeof(float) * static_cast<std::size_t>(face.numel()));
    }
    if ((i + 1) % 100 == 0 || i + 1 == n) bar.update(i + 1, {});
  }
  if (log) *log << "\n";
  std::vector<tensor<float, host>> out;
  for (std::size_t c = 0; c < crops.size(); ++c)
    out.push_back(tensor<float, host>::from(data[c], shape{n, 3, crops[c].size, crops[c].size}));
  return out;
}

/// FNV-1a of the image list (names and numbers): part of a feature cache's key.
inline std::uint64_t lfw_list_hash(const std::vector<lfw_image>& images) {
  io::fnv1a h;
  for (const auto& im : images) h.update(im.name.data(), im.name.size()).update(&im.index, sizeof im.index);
  return h.value();
}

}  // namespace bijgan::data
