// Transformer blocks (method.md §6): the pre-norm block x += Attn(LN(x)); x += MLP(LN(x)) with
// an MLP of ratio 4 and exact GELU, optionally with grid (windowed) self-attention; the
// condition tokenizer that expands a feature vector into N >= 16 tokens; and the conditioned
// block that adds cross-attention to those tokens between the two.
#pragma once

#include "bijgan/nn/attention.hpp"
#include "bijgan/nn/layers.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/nn/norm.hpp"

namespace bijgan::nn {

struct mlp_options {
  index_t dim = 0;
  index_t ratio = 4;
};

/// dim -> ratio*dim -> GELU (exact) -> dim.
template <class T = float, class B = host>
struct mlp {
  using value_type = T;
  using backend_type = B;
  mlp_options options;
  linear<T, B> fc1, fc2;
  explicit mlp(const mlp_options& o, rng& g = default_rng())
      : options(o), fc1({.in = o.dim, .out = o.ratio * o.dim}, g), fc2({.in = o.ratio * o.dim, .out = o.dim}, g) {}
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    return fc2(gelu(fc1(x)));
  }
  template <class F>
  void visit(F&& f) {
    f("fc1", fc1);
    f("fc2", fc2);
  }
};

struct transformer_block_options {
  index_t dim = 0;
  index_t heads = 4;
  index_t mlp_ratio = 4;
  /// 0: global self-attention; g > 0: grid self-attention in g x g windows (the forward then
  /// needs the token map's height and width).
  index_t window = 0;
};

/// Pre-norm transformer block over tokens (N, L, dim).
template <class T = float, class B = host>
struct transformer_block {
  using value_type = T;
  using backend_type = B;
  transformer_block_options options;
  layer_norm<T, B> norm1, norm2;
  grid_attention<T, B> attn;  ///< with window 0 it attends globally (one window = the whole map)
  mlp<T, B> ffn;

  explicit transformer_block(const transformer_block_options& o, rng& g = default_rng())
      : options(o),
        norm1({.features = o.dim}, g),
        norm2({.features = o.dim}, g),
        attn({.dim = o.dim, .heads = o.heads, .window = o.window > 0 ? o.window : 1, .relative_bias = o.window > 0}, g),
        ffn({.dim = o.dim, .ratio = o.mlp_ratio}, g) {}

  /// x (N, L, dim) with L = height * width (global attention accepts any L with height = L, width = 1).
  var<T, B> operator()(const var<T, B>& x, index_t height, index_t width) const {
    const nn::module_scope scope_(this);
    auto y = x + self_attention_of(norm1(x), height, width);
    return y + ffn(norm2(y));
  }
  /// Global attention over any token sequence.
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    return (*this)(x, x.size(1), 1);
  }

  template <class F>
  void visit(F&& f) {
    f("norm1", norm1);
    f("attn", attn);
    f("norm2", norm2);
    f("ffn", ffn);
  }

  /// The attention sub-layer alone (used by blocks that interleave more sub-layers).
  var<T, B> self_attention_of(const var<T, B>& x, index_t height, index_t width) const {
    if (options.window == 0) return attn.attn(x);
    return attn(x, height, width);
  }
};
transformer_block(const transformer_block_options&)->transformer_block<float, host>;

struct condition_tokens_options {
  index_t in = 0;       ///< condition width ([F(x); v])
  index_t tokens = 16;  ///< >= 16 (method.md §6: one key would make softmax identically 1)
  index_t dim = 0;      ///< token width
};

/// Expands a condition vector (N, in) into tokens (N, tokens, dim): a linear map to
/// tokens*dim, reshaped, plus a learned positional embedding.
template <class T = float, class B = host>
struct condition_tokens {
  using value_type = T;
  using backend_type = B;
  condition_tokens_options options;
  linear<T, B> expand;
  positional_embedding<T, B> position;

  explicit condition_tokens(const condition_tokens_options& o, rng& g = default_rng())
      : options(checked(o)),
        expand({.in = o.in, .out = o.tokens * o.dim}, g),
        position({.tokens = o.tokens, .dim = o.dim}, g) {}
  var<T, B> operator()(const var<T, B>& c) const {
    const nn::module_scope scope_(this);
    if (c.rank() != 2 || c.size(1) != options.in)
      fail<shape_error>("nn::condition_tokens", "condition ", c.shape(), " must be (N, ", options.in, ")");
    return position(reshape(expand(c), shape{c.size(0), options.tokens, options.dim}));
  }
  template <class F>
  void visit(F&& f) {
    f("expand", expand);
    f("position", position);
  }

 private:
  static condition_tokens_options checked(const condition_tokens_options& o) {
    if (o.tokens < 16)
      fail<value_error>("nn::condition_tokens", "tokens = ", o.tokens,
                        " must be >= 16: with few keys cross-attention degenerates into a bias (method.md §6)");
    return o;
  }
};
condition_tokens(const condition_tokens_options&)->condition_tokens<float, host>;

struct conditioned_block_options {
  index_t dim = 0;
  index_t heads = 4;
  index_t mlp_ratio = 4;
  index_t window = 0;       ///< as in transformer_block
  index_t context_dim = 0;  ///< width of the condition tokens; 0 means dim
};

/// The feature-injection block of DAB-GAN (method.md §6):
///   x += SelfAttn(LN(x)); x += Proj(Attn(Q = LN(x), K, V = condition tokens)); x += MLP(LN(x)).
template <class T = float, class B = host>
struct conditioned_block {
  using value_type = T;
  using backend_type = B;
  conditioned_block_options options;
  transformer_block<T, B> block;
  layer_norm<T, B> norm_cross;
  multi_head_attention<T, B> cross;

  explicit conditioned_block(const conditioned_block_options& o, rng& g = default_rng())
      : options(o),
        block({.dim = o.dim, .heads = o.heads, .mlp_ratio = o.mlp_ratio, .window = o.window}, g),
        norm_cross({.features = o.dim}, g),
        cross({.dim = o.dim, .heads = o.heads, .context_dim = o.context_dim}, g) {}

  /// x (N, height*width, dim), context (N, tokens, context_dim).
  var<T, B> operator()(const var<T, B>& x, const var<T, B>& context, index_t height, index_t width) const {
    const nn::module_scope scope_(this);
    auto y = x + block.self_attention_of(block.norm1(x), height, width);
    y = y + cross.attend(norm_cross(y), context);
    return y + block.ffn(block.norm2(y));
  }
  template <class F>
  void visit(F&& f) {
    f("block", block);
    f("norm_cross", norm_cross);
    f("cross", cross);
  }
};
conditioned_block(const conditioned_block_options&)->conditioned_block<float, host>;

}  // namespace bijgan::nn
