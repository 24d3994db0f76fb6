// NumPy .npy arrays (format versions 1.0 to 3.0, little-endian float32/float64, C order): write
// tensors for analysis in Python, read arrays produced there (feature caches, references).
// Files are written atomically; malformed files throw io_error naming the file.
#pragma once

#include <charconv>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "bijgan/io/atomic_file.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::io {

/// The bytes of an .npy file (version 1.0) holding t.
template <class T, class B>
std::vector<unsigned char> encode_npy(const tensor<T, B>& t) {
  std::string dims = "(";
  for (std::size_t i = 0; i < t.rank(); ++i) {
    dims += std::to_string(t.shape()[i]);
    if (t.rank() == 1 || i + 1 < t.rank()) dims += ',';
  }
  dims += ")";
  std::string header = "{'descr': '";
  header += sizeof(T) == 4 ? "<f4" : "<f8";
  header += "', 'fortran_order': False, 'shape': ";
  header += dims;
  header += ", }";
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  const auto v = t.to_vector();
  std::vector<unsigned char> out(10 + header.size() + v.size() * sizeof(T));
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  std::memcpy(out.data(), magic, 8);
  out[8] = static_cast<unsigned char>(header.size() & 0xFF);
  out[9] = static_cast<unsigned char>(header.size() >> 8);
  std::memcpy(out.data() + 10, header.data(), header.size());
  if (!v.empty()) std::memcpy(out.data() + 10 + header.size(), v.data(), v.size() * sizeof(T));
  return out;
}

/// Writes t to path as .npy, atomically.
template <class T, class B>
void write_npy(const std::filesystem::path& path, const tensor<T, B>& t) {
  write_file_atomic(path, encode_npy(t));
}

/// Parses .npy bytes holding float32 or float64 (converted to T); `source` names the file.
template <class T = float, class B = host>
tensor<T, B> decode_npy(const std::vector<unsigned char>& bytes, const std::string& source) {
  auto bad = [&](const auto&... what) { fail<io_error>("read_npy", source, ": ", what...); };
  if (bytes.size() < 10 || std::memcmp(bytes.data(), "\x93NUMPY", 6) != 0) bad("not an .npy file (bad magic)");
  const int major = bytes[6];
  std::size_t hlen = 0, start = 0;
  if (major == 1) {
    hlen = bytes[8] | (static_cast<std::size_t>(bytes[9]) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) bad("truncated header");
    hlen = bytes[8] | (static_cast<std::size_t>(bytes[9]) << 8) | (static_cast<std::size_t>(bytes[10]) << 16) |
           (static_cast<std::size_t>(bytes[11]) << 24);
    start = 12;
  } else {
    bad("unsupported format version ", major);
  }
  if (hlen > bytes.size() - start) bad("header of ", hlen, " bytes exceeds the file");
  if (major == 1 || major == 2) {  // latin-1 headers; 3.0 allows UTF-8. Either way: printable, no NUL
    for (std::size_t i = 0; i < hlen; ++i)
      if (bytes[start + i] == 0) bad("header holds a NUL byte at ", i);
  }
  const std::string h(reinterpret_cast<const char*>(bytes.data() + start), hlen);
  auto field = [&](const std::string& key) {
    const auto k = h.find("'" + key + "'");
    if (k == std::string::npos) bad("header lacks '", key, "'");
    auto p = h.find(':', k);
    if (p == std::string::npos) bad("header field '", key, "' has no value");
    ++p;
    while (p < h.size() && h[p] == ' ') ++p;
    return p;
  };
  const auto d = field("descr");
  const std::string descr = h.substr(d, std::min<std::size_t>(5, h.size() - d));
  std::size_t elem = 0;
  if (descr == "'<f4'")
    elem = 4;
  else if (descr == "'<f8'")
    elem = 8;
  else
    bad("dtype ", descr, " is not supported (need '<f4' or '<f8')");
  if (h.compare(field("fortran_order"), 5, "False") != 0)
    bad("Fortran-order arrays are not supported (need 'fortran_order': False)");
  auto p = field("shape");
  if (p >= h.size() || h[p] != '(') bad("malformed shape (expected a tuple)");
  const auto close = h.find(')', p);
  if (close == std::string::npos) bad("malformed shape (no closing parenthesis)");
  shape s;
  index_t numel = 1;
  for (std::size_t i = p + 1; i < close;) {
    while (i < close && (h[i] == ' ' || h[i] == ',')) ++i;
    if (i >= close) break;
    long long v = 0;
    const auto [end, ec] = std::from_chars(h.data() + i, h.data() + close, v);
    if (ec != std::errc() || end == h.data() + i)
      bad("malformed shape entry at header byte ", i, " (expected a non-negative integer)");
    if (v < 0) bad("negative extent ", v, " in the shape");
    if (s.rank() == shape::max_rank) bad("rank above ", shape::max_rank, " is not supported");
    try {
      s.push_back(v);
      numel = checked_mul(numel, v, "read_npy");
    } catch (const shape_error&) {
      bad("shape ", s, " x ", v, " has more elements than fit in memory");
    }
    i = static_cast<std::size_t>(end - h.data());
    if (i < close && h[i] != ',' && h[i] != ' ') bad("malformed shape entry at header byte ", i);
  }
  const std::size_t data = start + hlen;
  const std::size_t have = bytes.size() - data;
  if (have % elem != 0 || static_cast<std::uint64_t>(numel) != have / elem)
    bad("data holds ", have, " bytes but shape ", s, " needs ", numel, " values of ", elem, " bytes (truncated?)");
  std::vector<T> v(static_cast<std::size_t>(numel));
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (elem == 4) {
      float f;
      std::memcpy(&f, bytes.data() + data + 4 * i, 4);
      v[i] = static_cast<T>(f);
    } else {
      double g;
      std::memcpy(&g, bytes.data() + data + 8 * i, 8);
      v[i] = static_cast<T>(g);
    }
  }
  return tensor<T, B>::from(v, s);
}

/// Reads an .npy file holding float32 or float64 values.
template <class T = float, class B = host>
tensor<T, B> read_npy(const std::filesystem::path& path) {
  return decode_npy<T, B>(read_file(path), path.string());
}

}  // namespace bijgan::io
