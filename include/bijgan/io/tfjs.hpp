// TensorFlow.js weight files: a JSON manifest (groups of {paths, weights: [{name, shape, dtype,
// quantization?}]}) and binary shards holding the tensors back to back. float32 tensors are raw
// little-endian, int32 ones (graph models' axes and shapes) become exact floats; quantised ones decode as q * scale +
// min (uint8, uint16) or from binary16 (float16). Every size is checked against the shards before a tensor is
// allocated; shard paths must stay inside the manifest's folder.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/checksum.hpp"
#include "bijgan/io/half.hpp"
#include "bijgan/io/json.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::io {

/// Reads one shard by its manifest-relative path (already checked to be a plain relative path).
using tfjs_shard_reader = std::function<std::vector<unsigned char>(const std::string&)>;

namespace detail {
/// A shard path must be relative and stay below the manifest's folder: no root, no "..", no
/// empty or "." components, no NUL.
inline void require_shard_path(const std::string& p, const std::string& source) {
  const auto bad = [&](const char* why) {
    fail<located_io_error>("load_tfjs_weights", source, ": shard path \"", p, "\" ", why);
  };
  if (p.empty()) bad("is empty");
  if (p.find('\0') != std::string::npos) bad("holds a NUL byte");
  if (p.front() == '/' || p.front() == '\\') bad("is absolute (shards must lie beside the manifest)");
  std::size_t start = 0;
  while (start <= p.size()) {
    const auto end = std::min(p.find_first_of("/\\", start), p.size());
    const std::string part = p.substr(start, end - start);
    if (part == "..") bad("leaves the manifest's folder (\"..\")");
    if (part.empty() || part == ".") bad("has an empty or \".\" component");
    start = end + 1;
  }
}
}  // namespace detail

/// Decodes every tensor a TF.js manifest lists, by name, in its stored shape, reading shards
/// through `read_shard`; `source` names the manifest in errors. Throws io_error naming the
/// source, the tensor and what was expected when the manifest is malformed, a shard path is
/// absolute or leaves the folder, a shard is listed twice, a name repeats, a dtype or
/// quantisation is unsupported, a value is NaN or infinite, or the shards are too short or too
/// long for the tensors.
inline std::map<std::string, tensor<float, host>> decode_tfjs_weights(const json& doc,
                                                                      const tfjs_shard_reader& read_shard,
                                                                      const std::string& source) {
  const auto bad = [&](const auto&... what) {
    fail<detail::located_io_error>("load_tfjs_weights", source, ": ", what...);
  };
  std::map<std::string, tensor<float, host>> out;
  std::set<std::string> shards_seen;
  try {
    for (const auto& group : doc.items("manifest")) {
      std::vector<unsigned char> bytes;
      for (const auto& p : group.at("paths").items("paths")) {
        const std::string& path = p.string("path");
        detail::require_shard_path(path, source);
        if (!shards_seen.insert(path).second) bad("shard \"", path, "\" is listed twice");
        const auto shard = read_shard(path);
        bytes.insert(bytes.end(), shard.begin(), shard.end());
      }
      std::size_t at = 0;
      for (const auto& w : group.at("weights").items("weights")) {
        const std::string& name = w.at("name").string("name");
        if (out.contains(name)) bad("tensor \"", name, "\" is listed twice");
        shape s;
        index_t n = 1;
        for (const auto& d : w.at("shape").items("shape")) {
          const auto extent = d.integer("shape entry");
          try {
            s.push_back(extent);
            n = checked_mul(n, extent, "load_tfjs_weights");
          } catch (const shape_error&) {
            bad("tensor \"", name, "\" has shape ", s, " x ", extent, ": too many elements");
          }
        }
        const std::string& dtype = w.at("dtype").string("dtype");
        std::string stored = dtype;  // how the bytes are laid out
        double scale = 1, min = 0;
        if (const auto* q = w.find("quantization")) {
          stored = q->at("dtype").string("quantization dtype");
          if (stored == "uint8" || stored == "uint16") {
            scale = q->at("scale").number("quantization scale");
            min = q->at("min").number("quantization min");
          } else if (stored != "float16") {
            bad("tensor \"", name, "\" is quantised as ", stored, " (supported: uint8, uint16, float16)");
          }
          if (dtype != "float32")
            bad("tensor \"", name, "\" is quantised but has dtype ", dtype, " (expected float32)");
        } else if (dtype == "int32") {
          stored = "int32";  // axes and shapes of graph models: kept as exact floats
        } else if (dtype != "float32") {
          bad("tensor \"", name, "\" has dtype ", dtype, " (supported: float32, int32, or quantised float32)");
        }
        const std::size_t elem = stored == "float32" || stored == "int32" ? 4 : stored == "uint8" ? 1 : 2;
        const auto count = static_cast<std::size_t>(n);
        if (count > (bytes.size() - at) / elem)
          bad("the shards end before tensor \"", name, "\" (", s, " of ", stored, " needs more than the ",
              bytes.size() - at, " bytes left)");
        std::vector<float> v(count);
        const unsigned char* src = bytes.data() + at;
        if (stored == "float32") {
          if (count) std::memcpy(v.data(), src, 4 * count);
        } else if (stored == "int32") {
          for (std::size_t i = 0; i < count; ++i) {
            std::int32_t q;
            std::memcpy(&q, src + 4 * i, 4);
            if (q > (1 << 24) || q < -(1 << 24))
              bad("tensor \"", name, "\" holds the int32 ", q, " at element ", i,
                  ", beyond the exact float range 2^24");
            v[i] = static_cast<float>(q);
          }
        } else if (stored == "uint8") {
          for (std::size_t i = 0; i < count; ++i) v[i] = static_cast<float>(src[i] * scale + min);
        } else {
          for (std::size_t i = 0; i < count; ++i) {
            std::uint16_t h;
            std::memcpy(&h, src + 2 * i, 2);
            v[i] = stored == "uint16" ? static_cast<float>(h * scale + min) : detail::half_to_float(h);
          }
        }
        for (std::size_t i = 0; i < count; ++i)
          if (!std::isfinite(v[i]))
            bad("tensor \"", name, "\" holds ", v[i], " at element ", i, " (weights must be finite)");
        at += elem * count;
        out.emplace(name, tensor<float, host>::from(v, s));
      }
      if (at != bytes.size()) bad(bytes.size() - at, " bytes left over after the last tensor of a group");
    }
  } catch (const detail::located_io_error&) {
    throw;
  } catch (const error& e) {
    bad(e.what());
  }
  return out;
}

/// Reads shard files under dir for decode_tfjs_weights, feeding each one's bytes to `checksum`
/// (when given) as it is read.
inline tfjs_shard_reader read_shards_in(std::filesystem::path dir, fnv1a* checksum = nullptr) {
  return [dir = std::move(dir), checksum](const std::string& p) {
    auto bytes = read_file(dir / p);
    if (checksum) checksum->update(bytes);
    return bytes;
  };
}

/// Every tensor of a TF.js model, by name, in its stored shape, reading the shards beside the
/// manifest. Throws io_error naming the file when the manifest or a shard is missing,
/// malformed or of the wrong size (see decode_tfjs_weights). With `shards_checksum`, each shard's
/// bytes are fed to it as they are read, in manifest order (the files are read once).
inline std::map<std::string, tensor<float, host>> load_tfjs_weights(const std::filesystem::path& manifest,
                                                                    fnv1a* shards_checksum = nullptr) {
  return decode_tfjs_weights(read_json(manifest), read_shards_in(manifest.parent_path(), shards_checksum),
                             manifest.string());
}

}  // namespace bijgan::io
