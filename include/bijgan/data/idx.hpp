// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed: big-endian header
// (magic 0x0000 <type> <rank>, then rank 32-bit extents), then the raw unsigned bytes.
#pragma once

#include <zlib.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "bijgan/config/errors.hpp"
#include "bijgan/io/atomic_file.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::data {

/// The contents of one unsigned-byte IDX file.
struct idx_array {
  shape dims;
  std::vector<std::uint8_t> values;
};

namespace detail {
/// Bytes of a buffer, plain or gzip (one or more members, RFC 1952), read front to back.
/// Decompression is incremental, so a small file that claims a huge payload costs no more
/// memory than it really inflates to. Anything after the last gzip member is an error.
class idx_stream {
 public:
  idx_stream(std::span<const unsigned char> in, std::string source) : in_(in), source_(std::move(source)) {
    gz_ = in.size() >= 2 && in[0] == 0x1f && in[1] == 0x8b;
    if (gz_) {
      if (inflateInit2(&zs_, 15 + 16) != Z_OK) fail<io_error>("read_idx", source_, ": cannot start zlib");
      zs_.next_in = const_cast<unsigned char*>(in.data());
      zs_.avail_in = static_cast<uInt>(std::min<std::size_t>(in.size(), UINT32_MAX));
      fed_ = zs_.avail_in;
    }
  }
  ~idx_stream() {
    if (gz_) inflateEnd(&zs_);
  }
  idx_stream(const idx_stream&) = delete;
  idx_stream& operator=(const idx_stream&) = delete;

  /// For plain input, the bytes not yet read (exact); for gzip, nothing is known in advance.
  [[nodiscard]] bool compressed() const { return gz_; }
  [[nodiscard]] std::size_t plain_remaining() const { return in_.size() - pos_; }

  /// Up to n bytes into dst; fewer only at the end of the data.
  std::size_t read(unsigned char* dst, std::size_t n) {
    if (!gz_) {
      const std::size_t k = std::min(n, in_.size() - pos_);
      if (k) std::memcpy(dst, in_.data() + pos_, k);
      pos_ += k;
      return k;
    }
    std::size_t got = 0;
    while (got < n && !ended_) {
      const std::size_t ask = std::min<std::size_t>(n - got, 1u << 30);
      zs_.next_out = dst + got;
      zs_.avail_out = static_cast<uInt>(ask);
      const int r = inflate(&zs_, Z_NO_FLUSH);
      got += ask - zs_.avail_out;
      if (zs_.avail_in == 0 && fed_ < in_.size()) {  // inputs over 4 GiB arrive in pieces
        const std::size_t more = std::min<std::size_t>(in_.size() - fed_, UINT32_MAX);
        zs_.next_in = const_cast<unsigned char*>(in_.data() + fed_);
        zs_.avail_in = static_cast<uInt>(more);
        fed_ += more;
      }
      if (r == Z_STREAM_END) {
        const std::size_t left = zs_.avail_in + (in_.size() - fed_);
        if (left == 0) {
          ended_ = true;
        } else if (left >= 2 && zs_.next_in[0] == 0x1f && zs_.next_in[1] == 0x8b) {
          inflateReset(&zs_);  // a further gzip member
        } else {
          fail<io_error>("read_idx", source_, ": ", left, " bytes after the end of the gzip stream");
        }
      } else if (r == Z_BUF_ERROR && zs_.avail_in == 0) {
        fail<io_error>("read_idx", source_, ": the gzip stream is truncated");
      } else if (r != Z_OK && r != Z_BUF_ERROR) {
        fail<io_error>("read_idx", source_, ": corrupt gzip data (", zs_.msg ? zs_.msg : "zlib error ",
                       zs_.msg ? "" : std::to_string(r), ")");
      }
    }
    return got;
  }

 private:
  std::span<const unsigned char> in_;
  std::string source_;
  bool gz_ = false, ended_ = false;
  std::size_t pos_ = 0, fed_ = 0;
  z_stream zs_{};
};
}  // namespace detail

/// The most bytes an IDX payload may hold (4 GiB; the largest real IDX file, EMNIST's, is
/// under 1 GiB).
inline constexpr std::uint64_t max_idx_bytes = std::uint64_t{1} << 32;

/// Parses an IDX file of unsigned bytes (type 0x08) from its bytes, gzip-compressed or not;
/// `source` names the file in errors. Throws io_error for a wrong magic number, a type other
/// than ubyte, a rank outside 1..8, extents whose product exceeds max_idx_bytes, corrupt or
/// truncated gzip data, bytes after the gzip stream, or a payload shorter or longer than the
/// header says. Memory grows with the data actually present, never with the header's claim.
inline idx_array decode_idx(std::span<const unsigned char> bytes, const std::string& source) {
  detail::idx_stream in(bytes, source);
  auto read_exact = [&](unsigned char* dst, std::size_t n, const char* what) {
    if (in.read(dst, n) != n) fail<io_error>("read_idx", source, ": truncated while reading ", what);
  };
  std::array<unsigned char, 4> magic{};
  read_exact(magic.data(), 4, "the magic number");
  if (magic[0] != 0 || magic[1] != 0)
    fail<io_error>("read_idx", source, ": not an IDX file (magic bytes ", int(magic[0]), ", ", int(magic[1]),
                   ", expected 0, 0)");
  if (magic[2] != 0x08)
    fail<io_error>("read_idx", source, ": element type 0x", std::hex, int(magic[2]), " is not ubyte (0x08)");
  const int rank = magic[3];
  if (rank < 1 || rank > static_cast<int>(shape::max_rank))
    fail<io_error>("read_idx", source, ": rank ", rank, " unsupported (expected 1 to ", shape::max_rank, ")");
  idx_array out;
  std::uint64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    std::array<unsigned char, 4> b{};
    read_exact(b.data(), 4, "the extents");
    const std::uint32_t d =
        (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
    out.dims.push_back(static_cast<index_t>(d));
    total = d == 0 ? 0 : (total > max_idx_bytes / d ? max_idx_bytes + 1 : total * d);
    if (total > max_idx_bytes)
      fail<io_error>("read_idx", source, ": extents ", out.dims, "... hold more than ", max_idx_bytes, " bytes");
  }
  if (!in.compressed() && total != in.plain_remaining())
    fail<io_error>("read_idx", source, ": the header's ", out.dims, " needs ", total, " bytes of data, the file holds ",
                   in.plain_remaining());
  // Compressed data: grow geometrically (64 KiB, doubling, at most 64 MiB a step) as data
  // arrives, so a lying header fails at truncation having allocated about what was inflated.
  std::size_t chunk = std::size_t{64} << 10;
  for (std::size_t have = 0; have < total; chunk = std::min(chunk * 2, std::size_t{64} << 20)) {
    const std::size_t k =
        static_cast<std::size_t>(std::min<std::uint64_t>(in.compressed() ? chunk : total, total - have));
    out.values.resize(have + k);
    if (in.read(out.values.data() + have, k) != k)
      fail<io_error>("read_idx", source, ": truncated: the header's ", out.dims, " needs ", total, " bytes of data");
    have += k;
  }
  unsigned char extra;
  if (in.read(&extra, 1) > 0)
    fail<io_error>("read_idx", source, ": more data than the header's ", out.dims, " promises");
  return out;
}

/// Reads an IDX file of unsigned bytes, gzip-compressed or not (see decode_idx); io_error
/// naming the file when it is missing or malformed.
inline idx_array read_idx(const std::filesystem::path& path) { return decode_idx(io::read_file(path), path.string()); }

/// Images of an IDX file as floats in [0, 1], shape [N, 1, H, W].
template <class T = float>
tensor<T, host> load_idx_images(const std::filesystem::path& path) {
  const auto a = read_idx(path);
  if (a.dims.rank() != 3) fail<io_error>("load_idx_images", path, ": expected [N, H, W], header says ", a.dims);
  tensor<T, host> t({a.dims[0], 1, a.dims[1], a.dims[2]});
  T* p = t.data();
  for (std::size_t i = 0; i < a.values.size(); ++i) p[i] = static_cast<T>(a.values[i]) / T(255);
  return t;
}

/// Labels of an IDX file (rank 1).
inline std::vector<int> load_idx_labels(const std::filesystem::path& path) {
  const auto a = read_idx(path);
  if (a.dims.rank() != 1) fail<io_error>("load_idx_labels", path, ": expected [N], header says ", a.dims);
  return {a.values.begin(), a.values.end()};
}

}  // namespace bijgan::data
