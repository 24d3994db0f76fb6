// A small JSON reader and writer: what the file formats we read and write need (safetensors
// headers, TF.js weight manifests, reference values). Malformed input throws io_error naming
// the byte offset and what was expected; depth is bounded so hostile input cannot overflow the
// stack.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "bijgan/config/errors.hpp"
#include "bijgan/io/atomic_file.hpp"

namespace bijgan::io {

/// A parsed JSON value. Objects keep their keys sorted (std::map); duplicates are an error.
class json {
 public:
  using array = std::vector<json>;
  using object = std::map<std::string, json, std::less<>>;

  json() = default;  // null
  json(std::nullptr_t) {}
  json(bool b) : v_(b) {}
  json(double d) : v_(d) {}
  json(std::string s) : v_(std::move(s)) {}
  json(array a) : v_(std::make_shared<array>(std::move(a))) {}
  json(object o) : v_(std::make_shared<object>(std::move(o))) {}

  [[nodiscard]] bool is_null() const { return std::holds_alternative<std::monostate>(v_); }
  [[nodiscard]] bool is_bool() const { return std::holds_alternative<bool>(v_); }
  [[nodiscard]] bool is_number() const { return std::holds_alternative<double>(v_); }
  [[nodiscard]] bool is_string() const { return std::holds_alternative<std::string>(v_); }
  [[nodiscard]] bool is_array() const { return std::holds_alternative<std::shared_ptr<array>>(v_); }
  [[nodiscard]] bool is_object() const { return std::holds_alternative<std::shared_ptr<object>>(v_); }

  /// Typed access; each throws io_error naming `what` when the value has another type.
  [[nodiscard]] double number(std::string_view what = "value") const { return get<double>(what, "a number"); }
  [[nodiscard]] bool boolean(std::string_view what = "value") const { return get<bool>(what, "a boolean"); }
  [[nodiscard]] const std::string& string(std::string_view what = "value") const { return get<std::string>(what, "a string"); }
  [[nodiscard]] const array& items(std::string_view what = "value") const { return *get<std::shared_ptr<array>>(what, "an array"); }
  [[nodiscard]] const object& members(std::string_view what = "value") const {
    return *get<std::shared_ptr<object>>(what, "an object");
  }
  /// A non-negative integer that fits in int64 (sizes, offsets); io_error otherwise.
  [[nodiscard]] std::int64_t integer(std::string_view what = "value") const {
    const double d = number(what);
    if (!(d >= 0 && d <= 9007199254740992.0) || d != static_cast<double>(static_cast<std::int64_t>(d)))
      fail<io_error>("json", std::string(what), " must be a non-negative integer, got ", d);
    return static_cast<std::int64_t>(d);
  }
  /// Member `key` of an object; io_error when missing.
  [[nodiscard]] const json& at(std::string_view key) const {
    const auto& m = members(key);
    const auto it = m.find(key);
    if (it == m.end()) fail<io_error>("json", "missing member \"", std::string(key), "\"");
    return it->second;
  }
  [[nodiscard]] const json* find(std::string_view key) const {
    if (!is_object()) return nullptr;
    const auto& m = members();
    const auto it = m.find(key);
    return it == m.end() ? nullptr : &it->second;
  }

  /// Parses text; io_error with the byte offset on malformed input or trailing garbage.
  static json parse(std::string_view text);

 private:
  template <class X>
  const X& get(std::string_view what, const char* kind) const {
    if (const auto* p = std::get_if<X>(&v_)) return *p;
    fail<io_error>("json", std::string(what), " must be ", kind);
  }
  std::variant<std::monostate, bool, double, std::string, std::shared_ptr<array>, std::shared_ptr<object>> v_;
};

namespace detail {
class json_parser {
 public:
  explicit json_parser(std::string_view s) : s_(s) {}
  json document() {
    json v = value(0);
    skip_ws();
    if (i_ != s_.size()) error("end of input");
    return v;
  }

 private:
  static constexpr int max_depth = 256;
  [[noreturn]] void error(const char* expected) const {
    fail<io_error>("json", "malformed JSON at byte ", i_, ": expected ", expected);
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\r' || s_[i_] == '\t')) ++i_;
  }
  bool eat(char c) {
    skip_ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  void expect(char c, const char* what) {
    if (!eat(c)) error(what);
  }
  bool literal(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  json value(int depth) {
    if (depth > max_depth) error("less nesting (depth limit 256)");
    skip_ws();
    if (i_ >= s_.size()) error("a value");
    const char c = s_[i_];
    if (c == '{') return object_value(depth);
    if (c == '[') return array_value(depth);
    if (c == '"') return json(string_value());
    if (literal("true")) return json(true);
    if (literal("false")) return json(false);
    if (literal("null")) return json();
    return json(number_value());
  }
  json object_value(int depth) {
    ++i_;
    json::object o;
    if (eat('}')) return json(std::move(o));
    do {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') error("a string key");
      std::string k = string_value();
      expect(':', "':'");
      json v = value(depth + 1);
      if (!o.emplace(std::move(k), std::move(v)).second) error("unique keys (duplicate key)");
    } while (eat(','));
    expect('}', "',' or '}'");
    return json(std::move(o));
  }
  json array_value(int depth) {
    ++i_;
    json::array a;
    if (eat(']')) return json(std::move(a));
    do a.push_back(value(depth + 1));
    while (eat(','));
    expect(']', "',' or ']'");
    return json(std::move(a));
  }
  std::string string_value() {
    ++i_;  // opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) error("closing '\"'");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("no control characters in strings");
      if (c != '\\') {
        out.push_back(c);
        continue;
      }
      if (i_ >= s_.size()) error("an escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out.push_back('"'); break;
        case '\\': out.push_back('\\'); break;
        case '/': out.push_back('/'); break;
        case 'b': out.push_back('\b'); break;
        case 'f': out.push_back('\f'); break;
        case 'n': out.push_back('\n'); break;
        case 'r': out.push_back('\r'); break;
        case 't': out.push_back('\t'); break;
        case 'u': append_utf8(out, hex4()); break;
        default: error("a valid escape");
      }
    }
  }
  unsigned hex4() {
    if (i_ + 4 > s_.size()) error("4 hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<unsigned>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<unsigned>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<unsigned>(h - 'A' + 10);
      else error("a hex digit");
    }
    return v;
  }
  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) out.push_back(static_cast<char>(cp));
    else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  double number_value() {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    while (i_ < s_.size() && ((s_[i_] >= '0' && s_[i_] <= '9') || s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E' ||
                              s_[i_] == '+' || s_[i_] == '-'))
      ++i_;
    if (i_ == start) error("a value");
    const std::string tok(s_.substr(start, i_ - start));
    char* end = nullptr;
    const double d = std::strtod(tok.c_str(), &end);
    if (end != tok.c_str() + tok.size()) {
      i_ = start;
      error("a number");
    }
    return d;
  }
  std::string_view s_;
  std::size_t i_ = 0;
};
}  // namespace detail

inline json json::parse(std::string_view text) { return detail::json_parser(text).document(); }

/// Reads and parses a JSON file; io_error naming the file when it is missing or malformed.
inline json read_json(const std::filesystem::path& path) {
  const auto bytes = read_file(path);
  try {
    return json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  } catch (const io_error& e) {
    fail<io_error>("read_json", path, ": ", e.what());
  }
}

/// s as a JSON string literal (quotes and escapes added).
inline std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static const char* hex = "0123456789abcdef";
          out += "\\u00";
          out.push_back(hex[(c >> 4) & 0xF]);
          out.push_back(hex[c & 0xF]);
        } else {
          out.push_back(c);
        }
    }
  }
  return out + "\"";
}

}  // namespace bijgan::io
