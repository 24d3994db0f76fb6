// JSON values for the file formats we read and write (safetensors headers, TF.js manifests,
// reference values): parsed by nlohmann-json (strict RFC 8259, UTF-8 checked, locale-independent)
// into a small immutable tree with typed accessors. Malformed input throws io_error naming the
// byte offset and what was expected; duplicate keys are an error; depth is bounded so hostile
// input cannot overflow the stack.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "bijgan/config/errors.hpp"
#include "bijgan/io/atomic_file.hpp"

#include <nlohmann/json.hpp>

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
  [[nodiscard]] bool is_number() const { return is_integer() || std::holds_alternative<double>(v_); }
  /// Whether the value was written as an integer (no fraction or exponent).
  [[nodiscard]] bool is_integer() const {
    return std::holds_alternative<std::int64_t>(v_) || std::holds_alternative<std::uint64_t>(v_);
  }
  [[nodiscard]] bool is_string() const { return std::holds_alternative<std::string>(v_); }
  [[nodiscard]] bool is_array() const { return std::holds_alternative<std::shared_ptr<array>>(v_); }
  [[nodiscard]] bool is_object() const { return std::holds_alternative<std::shared_ptr<object>>(v_); }

  /// Typed access; each throws io_error naming `what` when the value has another type.
  [[nodiscard]] double number(std::string_view what = "value") const {
    if (const auto* i = std::get_if<std::int64_t>(&v_)) return static_cast<double>(*i);
    if (const auto* u = std::get_if<std::uint64_t>(&v_)) return static_cast<double>(*u);
    return get<double>(what, "a number");
  }
  [[nodiscard]] bool boolean(std::string_view what = "value") const { return get<bool>(what, "a boolean"); }
  [[nodiscard]] const std::string& string(std::string_view what = "value") const {
    return get<std::string>(what, "a string");
  }
  [[nodiscard]] const array& items(std::string_view what = "value") const {
    return *get<std::shared_ptr<array>>(what, "an array");
  }
  [[nodiscard]] const object& members(std::string_view what = "value") const {
    return *get<std::shared_ptr<object>>(what, "an object");
  }
  /// A non-negative integer written as one (sizes, offsets: "3", not "3.0") that fits in
  /// int64, exact; io_error naming `what` otherwise.
  [[nodiscard]] std::int64_t integer(std::string_view what = "value") const {
    if (const auto* u = std::get_if<std::uint64_t>(&v_); u && *u <= static_cast<std::uint64_t>(INT64_MAX))
      return static_cast<std::int64_t>(*u);
    if (const auto* i = std::get_if<std::int64_t>(&v_); i && *i >= 0) return *i;
    if (is_number())
      fail<io_error>("json", std::string(what), " must be a non-negative integer below 2^63, got ", number(what));
    return get<std::int64_t>(what, "a non-negative integer");
  }
  /// Integer values as parsed (exact).
  static json from_integer(std::int64_t v) {
    json j;
    j.v_ = v;
    return j;
  }
  static json from_unsigned(std::uint64_t v) {
    json j;
    j.v_ = v;
    return j;
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
  std::variant<std::monostate, bool, double, std::int64_t, std::uint64_t, std::string, std::shared_ptr<array>,
               std::shared_ptr<object>>
      v_;
};

namespace detail {
/// Builds a bijgan::io::json tree from nlohmann-json's SAX events. nlohmann does the lexing and
/// the grammar (strict RFC 8259: no "+1", no "01", no trailing commas, surrogate pairs, UTF-8
/// validated, locale-independent numbers); this handler adds what our formats need: duplicate
/// keys are an error, nesting is bounded, integers stay exact.
class json_builder {
 public:
  using nj = nlohmann::json;
  static constexpr std::size_t max_depth = 256;

  bool null() { return put(json()); }
  bool boolean(bool b) { return put(json(b)); }
  bool number_integer(nj::number_integer_t v) { return put(json::from_integer(v)); }
  bool number_unsigned(nj::number_unsigned_t v) { return put(json::from_unsigned(v)); }
  bool number_float(nj::number_float_t v, const nj::string_t&) {
    if (!std::isfinite(v)) return refuse("a finite number");
    return put(json(static_cast<double>(v)));
  }
  bool string(nj::string_t& v) { return put(json(std::move(v))); }
  bool binary(nj::binary_t&) { return refuse("no binary values"); }
  bool start_object(std::size_t) { return open(frame{json::object{}, {}, true}); }
  bool key(nj::string_t& k) {
    stack_.back().key = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(frame{json::array{}, {}, false}); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) {
    // nlohmann's message names the line/column and what it expected; strip its prefix.
    std::string what = e.what();
    if (const auto k = what.find("parse error"); k != std::string::npos) what = what.substr(k);
    error_ = bijgan::detail::cat("malformed JSON at byte ", position > 0 ? position - 1 : 0, ": ", what);
    return false;
  }

  json result() && { return std::move(root_); }
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  struct frame {
    std::variant<json::object, json::array> value;
    std::string key;
    bool is_object;
  };
  bool refuse(const char* expected) {
    error_ = bijgan::detail::cat("malformed JSON: expected ", expected);
    return false;
  }
  bool open(frame f) {
    if (stack_.size() >= max_depth) return refuse("less nesting (depth limit 256)");
    stack_.push_back(std::move(f));
    return true;
  }
  bool close() {
    frame f = std::move(stack_.back());
    stack_.pop_back();
    if (f.is_object) return put(json(std::move(std::get<json::object>(f.value))));
    return put(json(std::move(std::get<json::array>(f.value))));
  }
  bool put(json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
      return true;
    }
    frame& top = stack_.back();
    if (top.is_object) {
      auto& o = std::get<json::object>(top.value);
      if (!o.emplace(top.key, std::move(v)).second) {
        error_ = bijgan::detail::cat("malformed JSON: duplicate key \"", top.key, "\"");
        return false;
      }
    } else {
      std::get<json::array>(top.value).push_back(std::move(v));
    }
    return true;
  }
  std::vector<frame> stack_;
  json root_;
  std::string error_;
};
}  // namespace detail

inline json json::parse(std::string_view text) {
  detail::json_builder b;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(text.begin(), text.end(), &b, nlohmann::json::input_format_t::json, true);
  } catch (const std::exception& e) {  // nlohmann reports through parse_error; this is a backstop
    fail<io_error>("json", "malformed JSON: ", e.what());
  }
  if (!ok) fail<io_error>("json", b.error().empty() ? std::string("malformed JSON") : b.error());
  return std::move(b).result();
}

/// Parses a file's bytes already read; io_error naming `source` when they are malformed.
inline json parse_json_bytes(std::span<const unsigned char> bytes, const std::filesystem::path& source) {
  try {
    return json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
  } catch (const io_error& e) {
    fail<io_error>("read_json", source, ": ", e.what());
  }
}

/// Reads and parses a JSON file; io_error naming the file when it is missing or malformed.
inline json read_json(const std::filesystem::path& path) { return parse_json_bytes(read_file(path), path); }

/// s as a JSON string literal (quotes and escapes added). value_error when s is not valid
/// UTF-8 (no JSON reader would accept the result).
inline std::string json_quote(std::string_view s) {
  try {
    return nlohmann::json(std::string(s)).dump();
  } catch (const nlohmann::json::exception& e) {
    fail<value_error>("json_quote", "string is not valid UTF-8 (", e.what(), ")");
  }
}

}  // namespace bijgan::io
