// Smaller layers: dropout, a learned positional embedding for token sequences, and the
// minibatch standard deviation layer of ProGAN/StyleGAN critics.
#pragma once

#include <memory>

#include "bijgan/config/instances.hpp"
#include "bijgan/nn/init.hpp"
#include "bijgan/nn/module.hpp"
#include "bijgan/nn/module_scope.hpp"
#include "bijgan/ops/reduce.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan::nn {

struct dropout_options {
  double p = 0.5;  ///< probability of zeroing an element while training
  std::uint64_t seed = 0x0D0;
};

/// Zeroes each element with probability p while training and scales the rest by 1/(1-p);
/// the identity in eval mode. Draws from its own seeded stream.
template <class T = float, class B = host>
struct dropout {
  using value_type = T;
  using backend_type = B;
  dropout_options options;
  train_flag training;
  std::shared_ptr<rng> gen;

  explicit dropout(const dropout_options& o = {}, rng& = default_rng())
      : options(o), gen(std::make_shared<rng>(o.seed)) {
    if (!(o.p >= 0 && o.p < 1)) fail<value_error>("nn::dropout", "p = ", o.p, " must be in [0, 1)");
  }
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (!training.on || options.p == 0) return x;
    const auto u = tensor<T, B>::random(x.shape(), *gen, {distribution::uniform, 0, 1});
    const T keep = static_cast<T>(1 - options.p);
    const auto mask = apply(fn::mul_scalar<T>{T(1) / keep},
                            apply(fn::step{}, apply(fn::add_scalar<T>{-static_cast<T>(options.p)}, u)));
    return x * constant(mask);
  }
  template <class F>
  void visit(F&& f) {
    f("training", training);
  }
};
dropout(const dropout_options&)->dropout<float, host>;

struct positional_embedding_options {
  index_t tokens = 0;
  index_t dim = 0;
  double std = 0.02;  ///< truncated normal initialisation (ViT)
};

/// x (N, tokens, dim) + a learned (tokens, dim) table.
template <class T = float, class B = host>
struct positional_embedding {
  using value_type = T;
  using backend_type = B;
  positional_embedding_options options;
  var<T, B> table;

  explicit positional_embedding(const positional_embedding_options& o, rng& g = default_rng())
      : options(o), table(parameter(init::truncated_normal<T, B>(shape{o.tokens, o.dim}, 0, o.std, g))) {}
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() != 3 || x.size(1) != options.tokens || x.size(2) != options.dim)
      fail<shape_error>("nn::positional_embedding", "input ", x.shape(), " must be (N, ", options.tokens, ", ",
                        options.dim, ")");
    return x + table;
  }
  template <class F>
  void visit(F&& f) {
    f("table", table);
  }
};
positional_embedding(const positional_embedding_options&)->positional_embedding<float, host>;

struct minibatch_stddev_options {
  index_t group_size = 4;  ///< samples per group (the batch size must be divisible by min(group, N))
  index_t features = 1;    ///< channel groups, each giving one extra feature map
  double eps = 1e-8;
};

/// Appends, per sample, `features` constant maps holding the standard deviation of the
/// features across its group of samples (averaged over channels and pixels): lets a critic
/// see the diversity of a batch. (N, C, H, W) -> (N, C + features, H, W).
template <class T = float, class B = host>
struct minibatch_stddev {
  using value_type = T;
  using backend_type = B;
  minibatch_stddev_options options;

  explicit minibatch_stddev(const minibatch_stddev_options& o = {}, rng& = default_rng()) : options(o) {}
  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    if (x.rank() != 4) fail<shape_error>("nn::minibatch_stddev", "input ", x.shape(), " must be (N, C, H, W)");
    const index_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3), f = options.features;
    const index_t g = std::min(options.group_size, n);
    if (n % g != 0 || c % f != 0)
      fail<shape_error>("nn::minibatch_stddev", "batch ", n, " must be divisible by the group size ", g,
                        " and channels ", c, " by features ", f);
    const index_t m = n / g;
    // Sample i belongs to group i % m (StyleGAN's layout): (G, M, F, C/F, H, W).
    const auto y = reshape(x, shape{g, m, f, c / f, h, w});
    const auto centred = y - mean(y, {0}, true);
    const auto sd = sqrt(mean(square(centred), {0}) + static_cast<T>(options.eps));  // (M, F, C/F, H, W)
    const auto per_group = mean(sd, {2, 3, 4});                                      // (M, F)
    const auto maps = broadcast_to(reshape(per_group, shape{1, m, f, 1, 1}), shape{g, m, f, h, w});
    return concat(std::vector<var<T, B>>{x, reshape(maps, shape{n, f, h, w})}, 1);
  }
  template <class F>
  void visit(F&&) {}
};
minibatch_stddev(const minibatch_stddev_options&)->minibatch_stddev<float, host>;

/// The host instantiations bijgan::precompiled compiles once (config/instances.hpp).
#define BIJGAN_LAYERS_INSTANCES(X, T, B) \
  X struct dropout<T, B>;                \
  X struct positional_embedding<T, B>;   \
  X struct minibatch_stddev<T, B>;
BIJGAN_EXTERN_INSTANCES(BIJGAN_LAYERS_INSTANCES)

}  // namespace bijgan::nn
