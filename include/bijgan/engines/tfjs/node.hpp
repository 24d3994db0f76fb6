// What a TF.js graph-model op implementation sees of its node while the graph is compiled: the
// node's TensorFlow attributes as the converter writes them in model.json (AttrValue as JSON:
// ints as decimal strings, strings base64-encoded), read with checks that name the file, the
// node and the attribute.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bijgan/engines/graph/value.hpp"
#include "bijgan/io/json.hpp"

namespace bijgan::engines::tfjs {

namespace detail {
/// Decodes standard base64 (with or without padding); io_error naming `where` on a bad digit.
inline std::string base64_decode(const std::string& s, const std::string& where) {
  auto digit = [&](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    fail<io_error>("tfjs", where, ": attribute string is not base64");
  };
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=') break;
    acc = (acc << 6) | static_cast<unsigned>(digit(c));
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xffu));
    }
  }
  return out;
}
/// A TF int64 attribute: the converter writes it as a decimal string (sometimes a number).
inline std::int64_t tf_int(const io::json& v, const std::string& where) {
  if (v.is_integer()) return v.integer();
  const auto& s = v.string("int attribute");
  std::size_t used = 0;
  long long r = 0;
  try {
    r = std::stoll(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size()) fail<io_error>("tfjs", where, ": \"", s, "\" is not an integer");
  return r;
}
}  // namespace detail

/// A node being compiled: its op, inputs and attributes, and the text errors cite.
class node_view {
 public:
  node_view(std::string op, const io::json* attrs, std::size_t inputs, std::string where)
      : op_(std::move(op)), attrs_(attrs), inputs_(inputs), where_(std::move(where)) {}

  [[nodiscard]] const std::string& op() const noexcept { return op_; }
  [[nodiscard]] const std::string& where() const noexcept { return where_; }
  [[nodiscard]] std::size_t inputs() const noexcept { return inputs_; }
  [[nodiscard]] bool has(const std::string& name) const { return attrs_ && attrs_->find(name); }

  [[nodiscard]] std::int64_t i(const std::string& name, std::int64_t fallback) const {
    const auto* v = field(name, "i", "an int");
    return v ? detail::tf_int(*v, where_) : fallback;
  }
  [[nodiscard]] float f(const std::string& name, float fallback) const {
    const auto* v = field(name, "f", "a float");
    return v ? static_cast<float>(v->number("float attribute")) : fallback;
  }
  [[nodiscard]] bool b(const std::string& name, bool fallback) const {
    const auto* v = field(name, "b", "a bool");
    return v ? v->boolean("bool attribute") : fallback;
  }
  [[nodiscard]] std::string s(const std::string& name, const std::string& fallback) const {
    const auto* v = field(name, "s", "a string");
    return v ? detail::base64_decode(v->string("string attribute"), where_) : fallback;
  }
  /// A list attribute's ints (empty when the attribute or its "i" entry is absent).
  [[nodiscard]] std::vector<std::int64_t> ints(const std::string& name) const {
    return list_of(name, "i", [&](const io::json& x) { return detail::tf_int(x, where_); });
  }
  /// A list attribute's strings, decoded (empty when the attribute or its "s" entry is absent).
  [[nodiscard]] std::vector<std::string> strings(const std::string& name) const {
    return list_of(name, "s", [&](const io::json& x) { return detail::base64_decode(x.string("list entry"), where_); });
  }
  /// Refuses the node at load with a reason.
  template <class... Parts>
  [[noreturn]] void refuse(const Parts&... why) const {
    fail<io_error>("tfjs", where_, ": ", why...);
  }

 private:
  const io::json* find(const std::string& name) const {
    if (!attrs_) return nullptr;
    const auto* a = attrs_->find(name);
    if (a && !a->is_object()) refuse("attribute \"", name, "\" is not an AttrValue object");
    return a;
  }
  /// The attribute's `key` entry, nullptr when the attribute is absent; refuses an attribute
  /// of another kind.
  const io::json* field(const std::string& name, const char* key, const char* kind) const {
    const auto* a = find(name);
    if (!a) return nullptr;
    const auto* v = a->find(key);
    if (!v) refuse("attribute \"", name, "\" must be ", kind);
    return v;
  }
  template <class Decode>
  std::vector<std::invoke_result_t<Decode&, const io::json&>> list_of(const std::string& name, const char* key,
                                                                      Decode decode) const {
    std::vector<std::invoke_result_t<Decode&, const io::json&>> out;
    if (const auto* l = field(name, "list", "a list"))
      if (const auto* v = l->find(key))
        for (const auto& x : v->items("list")) out.push_back(decode(x));
    return out;
  }

  std::string op_;
  const io::json* attrs_;
  std::size_t inputs_;
  std::string where_;
};

}  // namespace bijgan::engines::tfjs
