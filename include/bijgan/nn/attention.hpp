// Attention: multi-head scaled dot-product attention usable as self-attention (mha(x)) and
// cross-attention (mha(x, context)), a learned relative position bias for g x g windows
// (Swin/TransGAN), and grid self-attention over non-overlapping g x g windows of a token map.
#pragma once

#include <cmath>
#include <vector>

#include "bijgan/config/instances.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/attention.hpp"
#include "bijgan/ops/index.hpp"

namespace bijgan::nn {

struct multi_head_attention_options {
  index_t dim = 0;          ///< query (and output) width
  index_t heads = 4;        ///< dim must be divisible by heads
  index_t context_dim = 0;  ///< key/value input width; 0 means dim
  bool qkv_bias = false;
  bool proj_bias = true;
};

/// softmax(Q K^T / sqrt(head_dim) + bias) V per head (scaled_dot_product_attention), then an
/// output projection.
/// Q from x (N, Lq, dim); K, V from context (N, Lk, context_dim); bias (heads, Lq, Lk), optional.
template <class T = float, class B = host>
struct multi_head_attention {
  using value_type = T;
  using backend_type = B;
  multi_head_attention_options options;
  linear<T, B> q, kv, proj;

  explicit multi_head_attention(const multi_head_attention_options& o, rng& g = default_rng())
      : options(checked(o)),
        q({.in = o.dim, .out = o.dim, .bias = o.qkv_bias}, g),
        kv({.in = o.context_dim ? o.context_dim : o.dim, .out = 2 * o.dim, .bias = o.qkv_bias}, g),
        proj({.in = o.dim, .out = o.dim, .bias = o.proj_bias}, g) {}

  /// Self-attention.
  var<T, B> operator()(const var<T, B>& x, const var<T, B>& bias = {}) const {
    const nn::module_scope scope_(this);
    return attend(x, x, bias);
  }
  /// Cross-attention: queries from x, keys and values from context.
  var<T, B> attend(const var<T, B>& x, const var<T, B>& context, const var<T, B>& bias = {}) const {
    const index_t h = options.heads, d = options.dim, dh = d / h;
    if (x.rank() != 3 || context.rank() != 3 || x.size(0) != context.size(0))
      fail<shape_error>("nn::multi_head_attention", "queries ", x.shape(), " and context ", context.shape(),
                        " must be (N, L, D) with the same N");
    const index_t n = x.size(0), lq = x.size(1), lk = context.size(1);
    const auto qh = permute(reshape(q(x), shape{n, lq, h, dh}), {0, 2, 1, 3});                // (N, H, Lq, dh)
    const auto kvh = permute(reshape(kv(context), shape{n, lk, 2, h, dh}), {2, 0, 3, 1, 4});  // (2, N, H, Lk, dh)
    const auto k = reshape(slice(kvh, 0, 0, 1), shape{n, h, lk, dh});
    const auto v = reshape(slice(kvh, 0, 1, 2), shape{n, h, lk, dh});
    if (bias.defined() && !(bias.shape() == shape{h, lq, lk}))
      fail<shape_error>("nn::multi_head_attention", "bias ", bias.shape(), " must be (", h, ", ", lq, ", ", lk, ")");
    // Tiled: the graph keeps no (Lq x Lk) scores (ops/attention.hpp).
    const auto out = scaled_dot_product_attention(qh, k, v, bias, {.scale = 1 / std::sqrt(static_cast<double>(dh))});
    return proj(reshape(permute(out, {0, 2, 1, 3}), shape{n, lq, d}));
  }

  template <class F>
  void visit(F&& f) {
    f("q", q);
    f("kv", kv);
    f("proj", proj);
  }

 private:
  static multi_head_attention_options checked(const multi_head_attention_options& o) {
    if (o.dim < 1 || o.heads < 1 || o.dim % o.heads != 0)
      fail<value_error>("nn::multi_head_attention", "dim ", o.dim, " must be a positive multiple of heads ", o.heads);
    return o;
  }
};
multi_head_attention(const multi_head_attention_options&)->multi_head_attention<float, host>;

struct relative_position_bias_options {
  index_t window = 0;  ///< g: the bias covers g x g token windows
  index_t heads = 4;
  double std = 0.02;
};

/// A learned bias per head for every relative offset (dy, dx) in (-g, g)^2 between two tokens
/// of a g x g window: a (2g-1)^2 x heads table gathered to (heads, g^2, g^2).
template <class T = float, class B = host>
struct relative_position_bias {
  using value_type = T;
  using backend_type = B;
  relative_position_bias_options options;
  var<T, B> table;
  index_list<B> index;

  explicit relative_position_bias(const relative_position_bias_options& o, rng& g = default_rng())
      : options(o),
        table(parameter(
            init::truncated_normal<T, B>(shape{(2 * o.window - 1) * (2 * o.window - 1), o.heads}, 0, o.std, g))) {
    if (o.window < 1 || o.heads < 1)
      fail<value_error>("nn::relative_position_bias", "window ", o.window, " and heads ", o.heads);
    const index_t w = o.window, span = 2 * w - 1;
    std::vector<index_t> idx;
    idx.reserve(static_cast<std::size_t>(w * w * w * w));
    for (index_t a = 0; a < w * w; ++a)
      for (index_t b = 0; b < w * w; ++b) idx.push_back((a / w - b / w + w - 1) * span + (a % w - b % w + w - 1));
    index = index_list<B>(std::move(idx));
  }
  /// The (heads, g^2, g^2) bias.
  var<T, B> operator()() const {
    const nn::module_scope scope_(this);
    const index_t t = options.window * options.window;
    return permute(reshape(index_select(table, index), shape{t, t, options.heads}), {2, 0, 1});
  }
  template <class F>
  void visit(F&& f) {
    f("table", table);
  }
};
relative_position_bias(const relative_position_bias_options&)->relative_position_bias<float, host>;

/// A token map (N, H*W, D) seen as (N, H, W, D) cut into non-overlapping g x g windows:
/// (N * H/g * W/g, g*g, D). Throws shape_error unless g divides H and W.
template <class T, class B>
var<T, B> to_windows(const var<T, B>& x, index_t height, index_t width, index_t g) {
  if (x.rank() != 3 || x.size(1) != height * width || g < 1 || height % g || width % g)
    fail<shape_error>("to_windows", "tokens ", x.shape(), " as a ", height, "x", width, " map in ", g, "x", g,
                      " windows: need (N, H*W, D) with g dividing H and W");
  const index_t n = x.size(0), d = x.size(2);
  const auto t = permute(reshape(x, shape{n, height / g, g, width / g, g, d}), {0, 1, 3, 2, 4, 5});
  return reshape(t, shape{n * (height / g) * (width / g), g * g, d});
}
/// The inverse of to_windows.
template <class T, class B>
var<T, B> from_windows(const var<T, B>& w, index_t height, index_t width, index_t g) {
  const index_t d = w.size(2), n = w.size(0) / ((height / g) * (width / g));
  const auto t = permute(reshape(w, shape{n, height / g, width / g, g, g, d}), {0, 1, 3, 2, 4, 5});
  return reshape(t, shape{n, height * width, d});
}

struct grid_attention_options {
  index_t dim = 0;
  index_t heads = 4;
  index_t window = 16;  ///< g; the map's height and width must be multiples of it
  bool relative_bias = true;
};

/// Self-attention restricted to non-overlapping g x g windows of an H x W token map (TransGAN's
/// grid self-attention): cost linear in the number of tokens.
template <class T = float, class B = host>
struct grid_attention {
  using value_type = T;
  using backend_type = B;
  grid_attention_options options;
  multi_head_attention<T, B> attn;
  relative_position_bias<T, B> bias;

  explicit grid_attention(const grid_attention_options& o, rng& g = default_rng())
      : options(o), attn({.dim = o.dim, .heads = o.heads}, g), bias({.window = o.window, .heads = o.heads}, g) {}

  /// x (N, H*W, D) -> (N, H*W, D).
  var<T, B> operator()(const var<T, B>& x, index_t height, index_t width) const {
    const nn::module_scope scope_(this);
    const index_t g = std::min({options.window, height, width});
    const auto windows = to_windows(x, height, width, g);
    const bool use_bias = options.relative_bias && g == options.window;
    return from_windows(attn(windows, use_bias ? bias() : var<T, B>()), height, width, g);
  }
  template <class F>
  void visit(F&& f) {
    f("attn", attn);
    if (options.relative_bias) f("bias", bias);
  }
};
grid_attention(const grid_attention_options&)->grid_attention<float, host>;

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_ATTENTION_MODULES_INSTANCES(X, T, B) \
  X struct multi_head_attention<T, B>;              \
  X struct relative_position_bias<T, B>;            \
  X struct grid_attention<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_ATTENTION_MODULES_INSTANCES)

}  // namespace bijgan::nn
