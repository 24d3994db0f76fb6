// Module paths in errors: the library's modules mark themselves active while they run
// (module_scope), an error made inside records them (bijgan::error::modules), and nn::within,
// wrapped around a call into a model, turns the innermost one it finds inside the model into a
// dotted path through the model's visit() names: "generator.stages.2.blocks.0.block.attn:
// bijgan::matmul: ...". User modules get their names the same way, through their own visit().
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "bijgan/config/errors.hpp"
#include "bijgan/nn/module.hpp"

namespace bijgan::nn {

namespace detail {
/// One address per type: the tag module_scope records beside a module's address.
template <class M>
const void* type_tag() noexcept {
  static constexpr char tag = 0;
  return &tag;
}
}  // namespace detail

/// Marks the module at `self` as executing on this thread for the scope's lifetime (the first
/// statement of a library module's operator(), forward, inverse or stages).
class module_scope {
 public:
  template <class M>
  explicit module_scope(const M* self) {
    bijgan::detail::active_modules().push_back({self, detail::type_tag<std::remove_cv_t<M>>()});
  }
  ~module_scope() { bijgan::detail::active_modules().pop_back(); }
  module_scope(const module_scope&) = delete;
  module_scope& operator=(const module_scope&) = delete;
};

namespace detail {
/// Whether the module recorded as `target` lies in m (m itself: path ""); its dotted path in out.
template <class M>
bool find_module(M& m, const bijgan::detail::active_module& target, const std::string& prefix, std::string& out) {
  if (static_cast<const void*>(std::addressof(m)) == target.address && type_tag<M>() == target.type) {
    out = prefix;
    return true;
  }
  if constexpr (!module<M>) {
    return false;
  } else {
    bool found = false;
    m.visit([&](const char* name, auto& member) {
      using X = std::remove_cvref_t<decltype(member)>;
      if (found) return;
      const std::string path = prefix.empty() ? std::string(name) : prefix + "." + name;
      if constexpr (is_vector<X>::value) {
        for (std::size_t i = 0; i < member.size() && !found; ++i)
          found = find_module(member[i], target, path + "." + std::to_string(i), out);
      } else if constexpr (module<X>) {
        found = find_module(member, target, path, out);
      }
    });
    return found;
  }
}
}  // namespace detail

/// The dotted path, inside m, of the innermost module that error e recorded and that lies in m
/// ("" when that is m itself); nullopt when none does.
template <class M>
std::optional<std::string> module_path_in(const M& m, const error& e) {
  const auto& recorded = e.modules();
  for (auto it = recorded.rbegin(); it != recorded.rend(); ++it) {
    std::string path;
    if (detail::find_module(const_cast<M&>(m), *it, std::string(), path)) return path;
  }
  return std::nullopt;
}

/// Runs f(). A bijgan::error that leaves it without a module path gets "name.<its path inside
/// m>" ("name" alone when it came from m's own code): its what() then begins with that path.
template <class M, class F>
decltype(auto) within(const M& m, std::string_view name, F&& f) {
  try {
    return std::forward<F>(f)();
  } catch (error& e) {
    if (e.module_path().empty()) {
      std::string path(name);
      if (const auto inner = module_path_in(m, e); inner && !inner->empty()) path += "." + *inner;
      e.set_module_path(std::move(path));
    }
    throw;
  }
}

}  // namespace bijgan::nn
