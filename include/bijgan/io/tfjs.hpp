// TensorFlow.js weight files: a JSON manifest (groups of {paths, weights: [{name, shape, dtype,
// quantization?}]}) and binary shards holding the tensors back to back. uint8-quantised
// tensors decode as q * scale + min; float32 tensors are raw little-endian.
#pragma once

#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/json.hpp"
#include "bijgan/tensor/tensor.hpp"

namespace bijgan::io {

/// Every tensor of a TF.js model, by name, in its stored shape. Throws io_error naming the
/// file when the manifest or a shard is missing, malformed or too short.
inline std::map<std::string, tensor<float, host>> load_tfjs_weights(const std::filesystem::path& manifest) {
  const auto doc = read_json(manifest);
  std::map<std::string, tensor<float, host>> out;
  for (const auto& group : doc.items("manifest")) {
    std::vector<unsigned char> bytes;
    for (const auto& p : group.at("paths").items("paths")) {
      const auto shard = read_file(manifest.parent_path() / p.string("path"));
      bytes.insert(bytes.end(), shard.begin(), shard.end());
    }
    std::size_t at = 0;
    for (const auto& w : group.at("weights").items("weights")) {
      const std::string& name = w.at("name").string("name");
      shape s;
      for (const auto& d : w.at("shape").items("shape")) s.push_back(d.integer("shape entry"));
      const auto n = static_cast<std::size_t>(s.numel());
      std::vector<float> v(n);
      if (const auto* q = w.find("quantization")) {
        if (q->at("dtype").string() != "uint8") fail<io_error>("load_tfjs_weights", manifest, ": ", name, " quantised as ", q->at("dtype").string(), " (only uint8 is supported)");
        if (at + n > bytes.size()) fail<io_error>("load_tfjs_weights", manifest, ": weights end before ", name);
        const double scale = q->at("scale").number(), min = q->at("min").number();
        for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<float>(bytes[at + i] * scale + min);
        at += n;
      } else {
        if (w.at("dtype").string() != "float32") fail<io_error>("load_tfjs_weights", manifest, ": ", name, " has dtype ", w.at("dtype").string());
        if (at + 4 * n > bytes.size()) fail<io_error>("load_tfjs_weights", manifest, ": weights end before ", name);
        if (n) std::memcpy(v.data(), bytes.data() + at, 4 * n);
        at += 4 * n;
      }
      out.emplace(name, tensor<float, host>::from(v, s));
    }
    if (at != bytes.size()) fail<io_error>("load_tfjs_weights", manifest, ": ", bytes.size() - at, " bytes left over after the last tensor");
  }
  return out;
}

}  // namespace bijgan::io
