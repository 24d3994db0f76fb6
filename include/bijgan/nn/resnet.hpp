// A convolutional residual network for dense prediction, the conditioner of coupling layers
// (method.md §3: "two residual blocks of 32 feature maps"): conv3x3 in→width, `blocks` residual
// blocks x + conv3x3(relu(conv3x3(relu(x)))), relu, conv3x3 width→out. Keeps H and W.
#pragma once

#include <utility>
#include <vector>

#include "bijgan/nn/conv.hpp"
#include "bijgan/nn/module_scope.hpp"

namespace bijgan::nn {

struct conv_resnet_options {
  index_t in = 0;
  index_t out = 0;
  index_t width = 32;
  index_t blocks = 2;
};

template <class T = float, class B = host>
struct conv_resnet {
  using value_type = T;
  using backend_type = B;

  /// One residual block: x + conv(relu(conv(relu(x)))).
  struct block {
    using value_type = T;
    using backend_type = B;
    conv2d<T, B> first, second;
    block(index_t w, rng& g)
        : first({.in = w, .out = w, .kernel = 3, .padding = 1}, g),
          second({.in = w, .out = w, .kernel = 3, .padding = 1}, g) {}
    var<T, B> operator()(const var<T, B>& x) const {
      const nn::module_scope scope_(this);
      return x + second(bijgan::relu(first(bijgan::relu(x))));
    }
    template <class F>
    void visit(F&& f) {
      f("first", first);
      f("second", second);
    }
  };

  conv_resnet_options options;
  conv2d<T, B> head;
  std::vector<block> blocks;
  conv2d<T, B> tail;

  explicit conv_resnet(const conv_resnet_options& o, rng& g = default_rng())
      : options(o), head(checked(o, g)), tail({.in = o.width, .out = o.out, .kernel = 3, .padding = 1}, g) {
    blocks.reserve(static_cast<std::size_t>(o.blocks));
    for (index_t i = 0; i < o.blocks; ++i) blocks.emplace_back(o.width, g);
  }

  var<T, B> operator()(const var<T, B>& x) const {
    const nn::module_scope scope_(this);
    auto h = head(x);
    for (const auto& b : blocks) h = b(h);
    return tail(bijgan::relu(h));
  }

  template <class F>
  void visit(F&& f) {
    f("head", head);
    f("blocks", blocks);
    f("tail", tail);
  }

 private:
  static conv2d<T, B> checked(const conv_resnet_options& o, rng& g) {
    if (o.in < 1 || o.out < 1 || o.width < 1 || o.blocks < 0)
      fail<value_error>("nn::conv_resnet", "needs in, out, width >= 1 and blocks >= 0; got in ", o.in, ", out ", o.out,
                        ", width ", o.width, ", blocks ", o.blocks);
    return conv2d<T, B>({.in = o.in, .out = o.width, .kernel = 3, .padding = 1}, g);
  }
};

}  // namespace bijgan::nn
