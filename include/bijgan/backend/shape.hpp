// shape: the extents of a tensor, a small fixed-capacity array (rank <= 8), plus the
// broadcasting and stride arithmetic every op shares.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "bijgan/config/errors.hpp"

namespace bijgan {

using index_t = std::int64_t;

/// Extents of a row-major tensor. Rank 0 is a scalar (one element).
class shape {
 public:
  static constexpr std::size_t max_rank = 8;

  shape() = default;
  shape(std::initializer_list<index_t> dims) { assign(dims.begin(), dims.end()); }
  explicit shape(std::span<const index_t> dims) { assign(dims.begin(), dims.end()); }
  template <class It>
  shape(It first, It last) {
    assign(first, last);
  }

  [[nodiscard]] std::size_t rank() const noexcept { return rank_; }
  [[nodiscard]] index_t operator[](std::size_t i) const noexcept { return dims_[i]; }
  index_t& operator[](std::size_t i) noexcept { return dims_[i]; }
  /// Extent of axis i, negative i counting from the back (-1 is the last axis).
  [[nodiscard]] index_t at(index_t axis) const { return dims_[normalize_axis(axis, "shape::at")]; }

  /// Number of elements (1 for rank 0).
  [[nodiscard]] index_t numel() const noexcept {
    index_t n = 1;
    for (std::size_t i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  [[nodiscard]] const index_t* begin() const noexcept { return dims_.data(); }
  [[nodiscard]] const index_t* end() const noexcept { return dims_.data() + rank_; }

  /// Row-major strides in elements.
  [[nodiscard]] std::array<index_t, max_rank> strides() const noexcept {
    std::array<index_t, max_rank> s{};
    index_t acc = 1;
    for (std::size_t i = rank_; i-- > 0;) {
      s[i] = acc;
      acc *= dims_[i];
    }
    return s;
  }

  /// Maps a possibly negative axis to [0, rank); throws shape_error naming op otherwise.
  [[nodiscard]] std::size_t normalize_axis(index_t axis, const char* op) const {
    const auto r = static_cast<index_t>(rank_);
    const index_t a = axis < 0 ? axis + r : axis;
    if (a < 0 || a >= r) fail<shape_error>(op, "axis ", axis, " is out of range for shape ", str());
    return static_cast<std::size_t>(a);
  }

  /// Appends an extent. Throws shape_error for a rank above max_rank, a negative extent, or
  /// extents whose product (zeros counted as ones, so that strides stay representable) would
  /// overflow index_t: a shape always has a numel() that fits.
  void push_back(index_t d) {
    if (rank_ == max_rank) fail<shape_error>("shape", "rank exceeds ", max_rank);
    if (d < 0) fail<shape_error>("shape", "negative extent ", d);
    index_t span = d == 0 ? 1 : d;
    for (std::size_t i = 0; i < rank_; ++i)
      if (__builtin_mul_overflow(span, dims_[i] == 0 ? index_t{1} : dims_[i], &span))
        fail<shape_error>("shape", "extents ", str(), " and ", d, " multiply past 2^63 - 1 elements");
    dims_[rank_++] = d;
  }

  [[nodiscard]] std::string str() const {
    std::ostringstream os;
    os << *this;
    return os.str();
  }

  friend bool operator==(const shape& a, const shape& b) noexcept {
    return a.rank_ == b.rank_ && std::equal(a.begin(), a.end(), b.begin());
  }
  friend std::ostream& operator<<(std::ostream& os, const shape& s) {
    os << '[';
    for (std::size_t i = 0; i < s.rank_; ++i) os << (i ? ", " : "") << s.dims_[i];
    return os << ']';
  }

 private:
  template <class It>
  void assign(It first, It last) {
    rank_ = 0;
    for (; first != last; ++first) push_back(static_cast<index_t>(*first));
  }
  std::array<index_t, max_rank> dims_{};
  std::size_t rank_ = 0;
};

/// a * b, or shape_error naming op when the product overflows index_t (sizes computed from file
/// headers go through this before anything is allocated).
inline index_t checked_mul(index_t a, index_t b, const char* op) {
  index_t r = 0;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) fail<shape_error>(op, "size ", a, " x ", b, " overflows");
  return r;
}

/// The NumPy broadcast of a and b; throws shape_error naming op when they do not broadcast.
inline shape broadcast_shapes(const shape& a, const shape& b, const char* op) {
  const std::size_t r = std::max(a.rank(), b.rank());
  std::array<index_t, shape::max_rank> out{};
  for (std::size_t i = 0; i < r; ++i) {
    const index_t da = i < r - a.rank() ? 1 : a[i - (r - a.rank())];
    const index_t db = i < r - b.rank() ? 1 : b[i - (r - b.rank())];
    if (da != db && da != 1 && db != 1)
      fail<shape_error>(op, "shapes ", a, " and ", b, " do not broadcast (axis ", i, ")");
    out[i] = da == 1 ? db : da;
  }
  return shape(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(r));
}

/// Strides with which a tensor of shape `from` is read as if it had shape `to` (0 on broadcast
/// axes). `to` must be a broadcast of `from`.
inline std::array<index_t, shape::max_rank> broadcast_strides(const shape& from, const shape& to) {
  std::array<index_t, shape::max_rank> s{};
  const auto fs = from.strides();
  const std::size_t off = to.rank() - from.rank();
  for (std::size_t i = 0; i < to.rank(); ++i) {
    if (i < off) continue;
    const std::size_t j = i - off;
    s[i] = from[j] == 1 && to[i] != 1 ? 0 : fs[j];
  }
  return s;
}

/// Resolves one -1 extent in `dims` so the product equals numel; validates the rest.
inline shape infer_shape(std::span<const index_t> dims, index_t numel, const char* op) {
  index_t known = 1;
  int unknown = -1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == -1) {
      if (unknown >= 0) fail<shape_error>(op, "more than one -1 extent");
      unknown = static_cast<int>(i);
    } else if (dims[i] < 0) {
      fail<shape_error>(op, "negative extent ", dims[i]);
    } else {
      known *= dims[i];
    }
  }
  std::vector<index_t> out(dims.begin(), dims.end());
  if (unknown >= 0) {
    if (known == 0 || numel % known != 0)
      fail<shape_error>(op, "cannot infer -1: ", numel, " elements do not divide by ", known);
    out[static_cast<std::size_t>(unknown)] = numel / known;
  }
  shape s(out.begin(), out.end());
  if (s.numel() != numel) fail<shape_error>(op, "cannot view ", numel, " elements as ", s, " (", s.numel(), ")");
  return s;
}

}  // namespace bijgan
