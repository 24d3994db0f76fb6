// Checkpoints in the safetensors format (8-byte little-endian header length, a JSON header
// mapping names to {dtype, shape, data_offsets}, then raw little-endian data), readable by any
// safetensors reader. A state_dict collects named tensors (module parameters and buffers under
// their dotted paths, optimizer state) and metadata; files are written atomically. Loading
// into a module is strict: a missing, extra or mis-shaped tensor throws, naming the path and
// both shapes. Truncated or corrupted files throw io_error, never crash.
#pragma once

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/half.hpp"
#include "bijgan/io/json.hpp"
#include "bijgan/nn/module.hpp"

namespace bijgan::io {

static_assert(std::endian::native == std::endian::little, "bijgan's file formats assume a little-endian host");

/// One stored tensor: dtype name as in safetensors ("F32", "F64", "F16", "BF16"), shape, raw
/// little-endian bytes.
struct stored_tensor {
  std::string dtype;
  bijgan::shape shape;
  std::vector<unsigned char> bytes;
};

namespace detail {
inline std::size_t dtype_size(const std::string& d) {
  if (d == "F64") return 8;
  if (d == "F32") return 4;
  if (d == "F16" || d == "BF16") return 2;
  return 0;
}
/// Element i of a stored tensor as T.
template <class T>
T element(const stored_tensor& s, std::size_t i) {
  const unsigned char* p = s.bytes.data() + i * dtype_size(s.dtype);
  if (s.dtype == "F32") {
    float f;
    std::memcpy(&f, p, 4);
    return static_cast<T>(f);
  }
  if (s.dtype == "F64") {
    double d;
    std::memcpy(&d, p, 8);
    return static_cast<T>(d);
  }
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  if (s.dtype == "F16") return static_cast<T>(half_to_float(h));
  return static_cast<T>(std::bit_cast<float>(static_cast<std::uint32_t>(h) << 16));  // BF16
}
inline std::string shape_json(const shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.rank(); ++i) {
    if (i) out += ',';
    out += std::to_string(s[i]);
  }
  return out + "]";
}
}  // namespace detail

/// Named tensors and string metadata, in name order (the order safetensors headers use).
class state_dict {
 public:
  /// Stores a copy of t (any backend; copied to host) under name, as F32 or F64.
  template <class T, class B>
  void put(const std::string& name, const tensor<T, B>& t) {
    const auto v = t.to_vector();
    stored_tensor s{std::is_same_v<T, float> ? "F32" : "F64", t.shape(), {}};
    s.bytes.resize(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(s.bytes.data(), v.data(), s.bytes.size());
    entries_[name] = std::move(s);
  }
  /// Stores every parameter and buffer of m under prefix + "." + its path.
  template <nn::module M>
  void put_module(const std::string& prefix, const M& m) {
    nn::walk_const(m, [&](const std::string& path, auto& x) {
      using X = std::remove_cvref_t<decltype(x)>;
      if constexpr (nn::detail::is_var<X>::value)
        put(join(prefix, path), x.value());
      else if constexpr (nn::detail::is_tensor<X>::value)
        put(join(prefix, path), x);
    });
  }
  /// The tensor stored under name, converted to T on backend B. io_error when absent.
  template <class T = float, class B = host>
  tensor<T, B> get(const std::string& name) const {
    const auto& s = entry(name);
    std::vector<T> v(static_cast<std::size_t>(s.shape.numel()));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = detail::element<T>(s, i);
    return tensor<T, B>::from(v, s.shape);
  }
  /// Loads every parameter and buffer of m from prefix + "." + path. Strict: throws
  /// value_error naming the path when one is missing or when the file holds tensors under
  /// prefix that m does not have, shape_error naming the path and both shapes when shapes
  /// differ, and value_error naming the tensor and the element when a value is NaN or infinite.
  /// A module with a `check_state()` member (optimizers, averages: step counters, second
  /// moments) has it called after loading; when it throws, the module's previous values are put
  /// back. m is unchanged on every error.
  template <nn::module M>
  void load_module(const std::string& prefix, M& m) const {
    using T = typename M::value_type;
    using B = typename M::backend_type;
    std::vector<std::string> wanted;
    nn::walk(m, std::string(), [&](const std::string& path, auto& x) {
      using X = std::remove_cvref_t<decltype(x)>;
      if constexpr (nn::detail::is_var<X>::value || nn::detail::is_tensor<X>::value) {
        const std::string key = join(prefix, path);
        const auto it = entries_.find(key);
        if (it == entries_.end()) fail<value_error>("load", "tensor \"", key, "\" is missing from the checkpoint");
        const shape& want = shape_of(x);
        if (it->second.shape != want)
          fail<shape_error>("load", "tensor \"", key, "\" has shape ", it->second.shape, " in the checkpoint but ",
                            want, " in the module");
        require_finite(key, it->second);
        wanted.push_back(key);
      }
    });
    const std::string pre = prefix.empty() ? "" : prefix + ".";
    std::sort(wanted.begin(), wanted.end());
    for (const auto& [name, s] : entries_)
      if (name.compare(0, pre.size(), pre) == 0 && !std::binary_search(wanted.begin(), wanted.end(), name))
        fail<value_error>("load", "checkpoint tensor \"", name, "\" (shape ", s.shape,
                          ") has no counterpart in the module");
    // All checked: now assign (var values are replaced; buffers are overwritten in place), keeping
    // the previous values for the module's own check.
    const auto assign = [](auto& x, const tensor<T, B>& t) {
      if constexpr (nn::detail::is_var<std::remove_cvref_t<decltype(x)>>::value)
        x.set_value(t);
      else
        B::copy_strided(shape{t.numel()}, strided_in<T>{t.data(), {1}}, x.data(), {1});
    };
    const auto each_state = [&](auto&& f) {
      nn::walk(m, std::string(), [&](const std::string& path, auto& x) {
        using X = std::remove_cvref_t<decltype(x)>;
        if constexpr (nn::detail::is_var<X>::value || nn::detail::is_tensor<X>::value) f(path, x);
      });
    };
    std::vector<tensor<T, B>> previous;
    each_state([&](const std::string& path, auto& x) {
      if constexpr (nn::detail::is_var<std::remove_cvref_t<decltype(x)>>::value)
        previous.push_back(x.value());
      else
        previous.push_back(x.clone());
      assign(x, get<T, B>(join(prefix, path)));
    });
    if constexpr (requires { m.check_state(); }) {
      try {
        m.check_state();
      } catch (const error& e) {
        std::size_t k = 0;
        each_state([&](const std::string&, auto& x) { assign(x, previous[k++]); });
        fail<value_error>("load", "checkpoint state under \"", prefix, "\" is out of range: ", e.what());
      }
    }
  }

  [[nodiscard]] bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  [[nodiscard]] const stored_tensor& entry(const std::string& name) const {
    const auto it = entries_.find(name);
    if (it == entries_.end()) fail<io_error>("state_dict", "no tensor named \"", name, "\"");
    return it->second;
  }
  [[nodiscard]] const std::map<std::string, stored_tensor>& entries() const { return entries_; }
  std::map<std::string, stored_tensor>& entries() { return entries_; }
  std::map<std::string, std::string> metadata;

 private:
  static void require_finite(const std::string& key, const stored_tensor& s) {
    const std::size_t n = static_cast<std::size_t>(s.shape.numel());
    const auto check = [&](double v, std::size_t i) {
      if (!std::isfinite(v))
        fail<value_error>("load", "tensor \"", key, "\" holds ", v, " at element ", i,
                          " (checkpoint values must be finite)");
    };
    const auto scan = [&]<class X>(X) {  // memcpy per element: the bytes need not be aligned
      for (std::size_t i = 0; i < n; ++i) {
        X v;
        std::memcpy(&v, s.bytes.data() + i * sizeof(X), sizeof(X));
        check(static_cast<double>(v), i);
      }
    };
    if (s.dtype == "F32")
      scan(float{});
    else if (s.dtype == "F64")
      scan(double{});
    else
      for (std::size_t i = 0; i < n; ++i) check(detail::element<double>(s, i), i);  // F16, BF16
  }
  static std::string join(const std::string& prefix, const std::string& path) {
    return prefix.empty() ? path : prefix + "." + path;
  }
  template <class X>
  static const shape& shape_of(const X& x) {
    return x.shape();  // var and tensor alike
  }
  std::map<std::string, stored_tensor> entries_;
};

/// The bytes of a safetensors file holding d.
inline std::vector<unsigned char> encode_safetensors(const state_dict& d) {
  std::string header = "{";
  bool first = true;
  if (!d.metadata.empty()) {
    header += "\"__metadata__\":{";
    bool f2 = true;
    for (const auto& [k, v] : d.metadata) {
      if (!f2) header += ',';
      header += json_quote(k);
      header += ':';
      header += json_quote(v);
      f2 = false;
    }
    header += "}";
    first = false;
  }
  std::size_t offset = 0;
  for (const auto& [name, s] : d.entries()) {
    if (!first) header += ',';
    header += json_quote(name);
    header += ":{\"dtype\":\"";
    header += s.dtype;
    header += "\",\"shape\":";
    header += detail::shape_json(s.shape);
    header += ",\"data_offsets\":[";
    header += std::to_string(offset);
    header += ',';
    header += std::to_string(offset + s.bytes.size());
    header += "]}";
    offset += s.bytes.size();
    first = false;
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header.push_back(' ');  // data starts 8-byte aligned
  std::vector<unsigned char> out(8 + header.size() + offset);
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  std::size_t at = 8 + header.size();
  for (const auto& [name, s] : d.entries()) {
    if (!s.bytes.empty()) std::memcpy(out.data() + at, s.bytes.data(), s.bytes.size());
    at += s.bytes.size();
  }
  return out;
}

/// The most tensors a safetensors header may list (the format sets no limit; ours keeps a
/// hostile header from costing more than its own size in bookkeeping).
inline constexpr std::size_t max_safetensors_entries = 1'000'000;

/// Parses safetensors bytes; `source` names the file in errors. Every offset and size is
/// checked against the buffer before use.
inline state_dict decode_safetensors(const std::vector<unsigned char>& bytes, const std::string& source) {
  auto bad = [&](const auto&... what) -> void {
    fail<detail::located_io_error>("load_safetensors", source, ": ", what...);
  };
  if (bytes.size() < 8) bad("file of ", bytes.size(), " bytes is too short for the 8-byte header length");
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > bytes.size() - 8 || n > (std::uint64_t{100} << 20))
    bad("header length ", n, " exceeds the file (", bytes.size(), " bytes): truncated or not a safetensors file");
  const std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), static_cast<std::size_t>(n));
  json header;
  try {
    header = json::parse(text);
  } catch (const io_error& e) {
    bad("corrupt header: ", e.what());
  }
  if (!header.is_object()) bad("header is not a JSON object");
  const std::size_t data_begin = 8 + static_cast<std::size_t>(n), data_size = bytes.size() - data_begin;
  if (header.members().size() > max_safetensors_entries)
    bad("header lists ", header.members().size(), " entries, more than the limit of ", max_safetensors_entries);
  state_dict d;
  std::vector<std::pair<std::size_t, std::size_t>> spans;
  for (const auto& [name, e] : header.members()) {
    try {
      if (name == "__metadata__") {
        for (const auto& [k, v] : e.members("__metadata__")) d.metadata[k] = v.string("metadata value");
        continue;
      }
      stored_tensor s;
      s.dtype = e.at("dtype").string("dtype");
      if (detail::dtype_size(s.dtype) == 0)
        bad("tensor \"", name, "\" has dtype ", s.dtype, " (supported: F64, F32, F16, BF16)");
      const auto& dims = e.at("shape").items("shape");
      if (dims.size() > shape::max_rank) bad("tensor \"", name, "\" has rank ", dims.size(), " > ", shape::max_rank);
      std::size_t numel = 1;
      for (const auto& dim : dims) {
        const auto v = dim.integer("shape entry");
        if (v > (std::int64_t{1} << 40)) bad("tensor \"", name, "\" has an implausible extent ", v);
        s.shape.push_back(v);
        numel *= static_cast<std::size_t>(v);
        if (numel > data_size) bad("tensor \"", name, "\" shape ", s.shape, " exceeds the data section");
      }
      const auto& off = e.at("data_offsets").items("data_offsets");
      if (off.size() != 2) bad("tensor \"", name, "\" data_offsets must have 2 entries");
      const auto b = static_cast<std::size_t>(off[0].integer("offset")),
                 en = static_cast<std::size_t>(off[1].integer("offset"));
      if (b > en || en > data_size)
        bad("tensor \"", name, "\" data [", b, ", ", en, ") lies outside the ", data_size,
            "-byte data section (truncated file?)");
      if (en - b != numel * detail::dtype_size(s.dtype))
        bad("tensor \"", name, "\" holds ", en - b, " bytes but shape ", s.shape, " of ", s.dtype, " needs ",
            numel * detail::dtype_size(s.dtype));
      s.bytes.assign(bytes.begin() + static_cast<std::ptrdiff_t>(data_begin + b),
                     bytes.begin() + static_cast<std::ptrdiff_t>(data_begin + en));
      spans.emplace_back(b, en);
      d.entries()[name] = std::move(s);
    } catch (const detail::located_io_error&) {
      throw;
    } catch (const error& e) {
      bad(name == "__metadata__" ? std::string("__metadata__") : "tensor \"" + name + "\"", ": ", e.what());
    }
  }
  std::sort(spans.begin(), spans.end());
  for (std::size_t i = 1; i < spans.size(); ++i)
    if (spans[i].first < spans[i - 1].second) bad("tensors overlap in the data section");
  return d;
}

/// Writes d to path atomically (temp file + fsync + rename).
inline void save_safetensors(const std::filesystem::path& path, const state_dict& d) {
  write_file_atomic(path, encode_safetensors(d));
}
/// Reads a safetensors file; io_error naming the file when it is missing, truncated or corrupt.
inline state_dict load_safetensors(const std::filesystem::path& path) {
  return decode_safetensors(read_file(path), path.string());
}

/// Saves a module's parameters and buffers under their dotted paths.
template <nn::module M>
void save(const std::filesystem::path& path, const M& m) {
  state_dict d;
  d.put_module("", m);
  save_safetensors(path, d);
}
/// Metadata `key` of d as an integer in [lo, hi]: the whole value must be a decimal integer
/// ("12abc", "", "1e3" are refused). io_error naming `source`, the key and the value otherwise.
inline long long metadata_integer(const state_dict& d, const std::string& key, long long lo, long long hi,
                                  const std::string& source) {
  const auto it = d.metadata.find(key);
  if (it == d.metadata.end()) fail<io_error>("metadata_integer", source, " has no \"", key, "\" in its metadata");
  const std::string& v = it->second;
  long long x = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty())
    fail<io_error>("metadata_integer", source, ": metadata \"", key, "\" is \"", v, "\", not an integer");
  if (x < lo || x > hi)
    fail<io_error>("metadata_integer", source, ": metadata \"", key, "\" is ", x, ", outside [", lo, ", ", hi, "]");
  return x;
}

/// Loads a module saved by save() (strict: see state_dict::load_module).
template <nn::module M>
void load(const std::filesystem::path& path, M& m) {
  load_safetensors(path).load_module("", m);
}

}  // namespace bijgan::io
