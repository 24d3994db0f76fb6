// The typed backend parity suite: every op, module, bijection, prior, loss, model, optimizer,
// checkpoint and a few fit_gan steps run on the host and on `parity_device` with the same inputs;
// values and gradients are compared with per-type tolerance (testing::default_tolerance). The
// includer defines `parity_device` before including this file: test_core instantiates it with
// testing::host_twin (a second backend type with the host's kernels, so CI exercises every
// non-host path without a GPU), test_cuda with bijgan::cuda_device (run where a device exists).
#pragma once

#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/flows/flows.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/testing/backend_parity.hpp>
#include <bijgan/train/adversarial.hpp>
#include <bijgan/train/classifier.hpp>
#include <bijgan/train/flow_training.hpp>
#include <bijgan/train/student.hpp>
#include <bijgan/train/student_refresh.hpp>

#include <cmath>
#include <filesystem>
#include <sstream>
#include <tuple>
#include <vector>

#include "../support/tiny_gan.hpp"

namespace parity {

using namespace bijgan;
using device = parity_device;
using element_types = std::tuple<float, double>;

template <class T>
tensor<T, host> randn(const shape& s, std::uint64_t seed, double scale = 1) {
  rng g(seed);
  return tensor<T, host>::random(s, g, {distribution::normal, T(0), static_cast<T>(scale)});
}
template <class T>
tensor<T, host> uniform(const shape& s, std::uint64_t seed, double lo, double hi) {
  rng g(seed);
  return tensor<T, host>::random(s, g, {distribution::uniform, static_cast<T>(lo), static_cast<T>(hi)});
}

/// Runs compare_backends on every op of a tuple, naming the failing one.
template <class T, class Ops>
void every_op(const char* what, const Ops& ops, const std::vector<tensor<T, host>>& inputs,
              testing::parity_options o = testing::default_tolerance<T>()) {
  std::size_t index = 0;
  std::apply(
      [&](const auto&... op) {
        (
            [&] {
              const auto r = testing::compare_backends<device>(op, inputs, o);
              BOOST_TEST(r.passed, what << " " << index << " (" << device::name << "): " << r.message);
              ++index;
            }(),
            ...);
      },
      ops);
}

/// compare_module_backends with the module's name in the message.
template <class M, class F>
void module_matches(const char* name, M m, F call, const std::vector<tensor<typename M::value_type, host>>& inputs,
                    testing::parity_options o = testing::default_tolerance<typename M::value_type>()) {
  const auto r = testing::compare_module_backends<device>(m, call, inputs, o);
  BOOST_TEST(r.passed, name << " (" << device::name << "): " << r.message);
}

/// Calls a module on its first input.
struct call1 {
  template <class M, class V>
  auto operator()(const M& m, const std::vector<V>& x) const {
    return m(x[0]);
  }
};

template <class T>
testing::parity_options looser(double factor) {
  auto o = testing::default_tolerance<T>();
  o.value_tol *= factor;
  o.grad_tol *= factor;
  return o;
}

// The trainer tests' tiny model, with a window smaller than its 8x8 maps, so the grid attention
// partitions them on both backends.
constexpr models::gan_config tiny = [] {
  auto c = test_support::tiny_gan;
  c.window = 4;
  return c;
}();
constexpr models::student_config tiny_student{
    .channels = 1, .resolution = 8, .feature_dim = 6, .width = 4, .stages = 2};

/// The largest difference between the parameters of a host module and its moved copy.
template <class H, class D>
double parameter_gap(const H& h, const D& d) {
  const auto hp = nn::parameters(h);
  const auto dp = nn::parameters(d);
  BOOST_TEST_REQUIRE(hp.size() == dp.size());
  double worst = 0;
  for (std::size_t i = 0; i < hp.size(); ++i) {
    const auto a = hp[i].value().to_vector(), b = dp[i].value().to_vector();
    for (std::size_t k = 0; k < a.size(); ++k) worst = std::max(worst, std::abs(double(a[k]) - double(b[k])));
  }
  return worst;
}

}  // namespace parity

BOOST_AUTO_TEST_SUITE(backend_parity)

BOOST_AUTO_TEST_CASE_TEMPLATE(elementwise_reduction_shape_and_linalg_ops_match_host, T, parity::element_types) {
  using namespace bijgan;
  const auto mask = [](const auto& like) {
    using B = typename std::decay_t<decltype(like)>::backend_type;
    return to<B>(tensor<T, host>::from(std::vector<T>{1, 0, 1, 0}, {4}));
  };
  const auto ops = std::make_tuple(
      [](const auto& v) { return v[0] + v[1] * T(2) - v[0] / v[1] + (T(3) - v[1]) + T(2) / v[0]; },
      [](const auto& v) { return exp(v[0]) + log(v[0]) + log1p(v[0]) + sqrt(v[0]) + rsqrt(v[0]); },
      [](const auto& v) { return pow(v[0], T(1.5)) + pow(v[0], v[1]) + abs(-v[0]) + square(v[0]); },
      [](const auto& v) { return erf(v[0]) + tanh(v[0]) + sigmoid(v[0]) + relu(v[0] - T(1)); },
      [](const auto& v) {
        return leaky_relu(v[0] - T(1), T(0.2)) + gelu(v[0]) + softplus(v[0]) + clamp(v[0], T(0.7), T(1.5));
      },
      [](const auto& v) {
        return sum(v[0], {0}, true) + mean(v[0], {1}, true) + max(v[0], {1}, true) + min(v[0], {0}, true);
      },
      [](const auto& v) {
        return min(v[0]) + variance(v[0]) + logsumexp(v[0]) + sum(softmax(v[0], 0) * log_softmax(v[0], 1));
      },
      [](const auto& v) { return variance(v[0], {1}, true, 0) + logsumexp(v[1], {0}, true); },
      [](const auto& v) { return matmul(v[0], v[1], false, true) + sum(matmul(v[0], v[1], true, false)); },
      [](const auto& v) {
        return sum(matmul(reshape(v[0], {2, 2, 3}), transpose(reshape(v[1], {4, 3}))), {0});
      },
      [](const auto& v) {
        return concat(std::vector{slice(v[0], 1, 1, 3), permute(v[1], {0, 1})}, 1);
      },
      [](const auto& v) {
        return sum(stack(std::vector{v[0], v[1]}, 1), {1}) + sum(pad(v[0], {1, 0, 0, 2}, T(0.5)));
      },
      [](const auto& v) {
        return flatten(unsqueeze(v[0], 0)) * T(2) + sum(broadcast_to(reshape(v[1], {1, 3, 4}), {2, 3, 4}));
      },
      [&](const auto& v) {
        return where(mask(v[0].value()), v[0], v[1]) + broadcast_to(sum_to(v[0], {1, 4}), {3, 4});
      },
      [](const auto& v) { return l2_norm(v[0], {1}) + cosine_similarity(v[0], v[1]); });
  parity::every_op<T>("op", ops, {parity::uniform<T>({3, 4}, 31, 0.5, 2.0), parity::uniform<T>({3, 4}, 32, 0.5, 2.0)});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(window_resampling_and_index_ops_match_host, T, parity::element_types) {
  using namespace bijgan;
  const auto ops = std::make_tuple(
      [](const auto& v) { return conv2d(v[0], v[1], {}, {.stride = 2, .padding = 1}); },
      [](const auto& v) { return conv2d(v[0], v[1], {}, {.padding = 1}); },
      [](const auto& v) { return conv2d(v[0], v[1], {}, {.padding = 2, .dilation = 2}); },
      [](const auto& v) {
        return conv_transpose2d(v[0], permute(v[1], {1, 0, 2, 3}), {},
                                {.stride = 2, .padding = 1, .output_padding = 1});
      },
      [](const auto& v) {
        return max_pool2d(v[0], {.kernel = 3, .stride = 2, .padding = 1}) +
               avg_pool2d(v[0], {.kernel = 3, .stride = 2, .padding = 1});
      },
      [](const auto& v) {
        return resize(v[0], 9, 5, interpolation::bicubic) + resize(v[0], 9, 5, interpolation::bilinear);
      },
      [](const auto& v) {
        return upsample(slice(v[0], 2, 0, 3), 3) + upsample(slice(v[0], 2, 0, 3), 3, interpolation::bicubic);
      },
      [](const auto& v) {
        return pixel_unshuffle(pixel_shuffle(v[0], 1), 2) + T(0) * sum(pixel_shuffle(reshape(v[1], {1, 36, 1, 3}), 2));
      },
      [](const auto& v) {
        using B = typename std::decay_t<decltype(v[0])>::backend_type;
        return index_select(reshape(v[1], {4, 27}), index_list<B>({3, 0, 0, 2})) +
               T(0.5) * slice(index_add(reshape(v[1], {4, 27}), index_list<B>({1, 1, 0, 4}), 5), 0, 0, 4);
      });
  parity::every_op<T>("window op", ops, {parity::randn<T>({2, 3, 6, 6}, 41), parity::randn<T>({4, 3, 3, 3}, 42)});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(higher_order_gradients_match_host, T, parity::element_types) {
  using namespace bijgan;
  // The input gradient of a conv critic, differentiated again (the gradient penalty's path).
  const auto ops = std::make_tuple(
      [](const auto& v) {
        auto x = v[0] * T(1);
        const auto y = sum(tanh(conv2d(x, v[1], {}, {.padding = 1})));
        const auto g = grad(std::vector{y}, std::vector{x}, {.create_graph = true})[0];
        return sum(g * g, {1, 2, 3});
      },
      [](const auto& v) {
        auto x = v[0] * T(1);
        const auto g1 = grad(std::vector{sum(x * x * x)}, std::vector{x}, {.create_graph = true})[0];
        return grad(std::vector{sum(g1 * softplus(x))}, std::vector{x}, {.create_graph = true})[0];
      });
  parity::every_op<T>("second order", ops,
                      {parity::randn<T>({2, 3, 5, 5}, 43), parity::randn<T>({4, 3, 3, 3}, 44, 0.3)});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(tiled_attention_matches_host, T, parity::element_types) {
  using namespace bijgan;
  // One tile, tiles that split batch, queries and keys (online softmax), and the gradient
  // penalty's second-order path through attention.
  const attention_options split{.tiling = {.max_tile_elements = 6, .max_key_block = 3}};
  const auto ops =
      std::make_tuple([](const auto& v) { return scaled_dot_product_attention(v[0], v[1], v[2], v[3]); },
                      [split](const auto& v) { return scaled_dot_product_attention(v[0], v[1], v[2], v[3], split); },
                      [split](const auto& v) {
                        auto q = v[0] * T(1);
                        const auto y = sum(tanh(scaled_dot_product_attention(q, v[1], v[2], v[3], split)));
                        const auto g = grad(std::vector{y}, std::vector{q}, {.create_graph = true})[0];
                        return sum(g * g, {1, 2, 3});
                      });
  parity::every_op<T>("attention", ops,
                      {parity::randn<T>({2, 2, 5, 4}, 45), parity::randn<T>({2, 2, 7, 4}, 46),
                       parity::randn<T>({2, 2, 7, 3}, 47), parity::randn<T>({2, 5, 7}, 48)});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(every_module_matches_host, T, parity::element_types) {
  using namespace bijgan;
  using parity::call1;
  using parity::randn;
  nn::manual_seed(61);
  parity::module_matches("linear", nn::linear<T>({.in = 5, .out = 3}), call1{}, {randn<T>({4, 5}, 1)});
  parity::module_matches("linear (equalized)", nn::linear<T>({.in = 5, .out = 3, .equalized = {.on = true}}), call1{},
                         {randn<T>({2, 4, 5}, 2)});
  parity::module_matches("conv2d", nn::conv2d<T>({.in = 3, .out = 4, .kernel = 3, .stride = 2, .padding = 1}), call1{},
                         {randn<T>({2, 3, 7, 7}, 3)});
  parity::module_matches("conv2d (groups)", nn::conv2d<T>({.in = 4, .out = 4, .kernel = 3, .padding = 1, .groups = 2}),
                         call1{}, {randn<T>({2, 4, 5, 5}, 4)});
  parity::module_matches("conv_transpose2d",
                         nn::conv_transpose2d<T>({.in = 3, .out = 2, .kernel = 4, .stride = 2, .padding = 1}), call1{},
                         {randn<T>({2, 3, 4, 4}, 5)});
  parity::module_matches("batch_norm (train: running statistics)", nn::batch_norm<T>({.channels = 3}), call1{},
                         {randn<T>({4, 3, 3, 3}, 6)});
  {
    nn::batch_norm<T> bn({.channels = 3});
    bn(constant(randn<T>({4, 3, 3, 3}, 7)));
    nn::eval(bn);
    parity::module_matches("batch_norm (eval)", bn, call1{}, {randn<T>({4, 3, 3, 3}, 8)});
  }
  parity::module_matches("layer_norm", nn::layer_norm<T>({.features = 6}), call1{}, {randn<T>({2, 3, 6}, 9)});
  parity::module_matches("instance_norm", nn::instance_norm<T>({.channels = 3, .affine = true}), call1{},
                         {randn<T>({2, 3, 4, 4}, 10)});
  parity::module_matches("adain", nn::adain<T>({.channels = 3, .style_dim = 5}),
                         [](const auto& m, const auto& x) { return m(x[0], x[1]); },
                         {randn<T>({2, 3, 4, 4}, 11), randn<T>({2, 5}, 12)});
  parity::module_matches("dropout (same Philox stream)", nn::dropout<T>({.p = 0.3}), call1{}, {randn<T>({4, 50}, 13)});
  parity::module_matches("positional_embedding", nn::positional_embedding<T>({.tokens = 6, .dim = 4}), call1{},
                         {randn<T>({2, 6, 4}, 14)});
  parity::module_matches("minibatch_stddev", nn::minibatch_stddev<T>({.group_size = 2}), call1{},
                         {randn<T>({4, 2, 3, 3}, 15)});
  parity::module_matches("multi_head_attention", nn::multi_head_attention<T>({.dim = 8, .heads = 2, .qkv_bias = true}),
                         call1{}, {randn<T>({2, 5, 8}, 16)});
  parity::module_matches("cross attention", nn::multi_head_attention<T>({.dim = 8, .heads = 2, .context_dim = 6}),
                         [](const auto& m, const auto& x) { return m.attend(x[0], x[1]); },
                         {randn<T>({2, 5, 8}, 17), randn<T>({2, 7, 6}, 18)});
  parity::module_matches("relative_position_bias", nn::relative_position_bias<T>({.window = 3, .heads = 2, .std = 0.5}),
                         [](const auto& m, const auto& x) { return m() * x[0]; }, {randn<T>({1}, 19)});
  parity::module_matches("grid_attention", nn::grid_attention<T>({.dim = 8, .heads = 2, .window = 2}),
                         [](const auto& m, const auto& x) { return m(x[0], 4, 4); }, {randn<T>({2, 16, 8}, 20)});
  parity::module_matches("transformer_block (windowed)",
                         nn::transformer_block<T>({.dim = 8, .heads = 2, .mlp_ratio = 2, .window = 2}),
                         [](const auto& m, const auto& x) { return m(x[0], 4, 4); }, {randn<T>({2, 16, 8}, 21)});
  parity::module_matches("condition_tokens", nn::condition_tokens<T>({.in = 5, .tokens = 16, .dim = 4}), call1{},
                         {randn<T>({2, 5}, 22)});
  parity::module_matches(
      "conditioned_block",
      nn::conditioned_block<T>({.dim = 8, .heads = 2, .mlp_ratio = 2, .window = 2, .context_dim = 4}),
      [](const auto& m, const auto& x) { return m(x[0], x[1], 4, 4); },
      {randn<T>({2, 16, 8}, 23), randn<T>({2, 16, 4}, 24)});
  parity::module_matches("conv_resnet", nn::conv_resnet<T>({.in = 2, .out = 4, .width = 4, .blocks = 2}), call1{},
                         {randn<T>({2, 2, 4, 4}, 25)});
  parity::module_matches("chain with residual",
                         nn::conv2d<T>({.in = 2, .out = 3, .kernel = 3, .padding = 1}) | nn::act::leaky_relu{0.2} |
                             nn::residual(nn::conv2d<T>({.in = 3, .out = 3, .kernel = 1})) | nn::act::flatten{} |
                             nn::linear<T>({.in = 48, .out = 2}),
                         call1{}, {randn<T>({2, 2, 4, 4}, 26)});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(every_bijection_and_prior_matches_host, T, parity::element_types) {
  using namespace bijgan;
  using parity::randn;
  nn::manual_seed(71);
  const auto z_of = [](const auto& f, const auto& x) { return f.forward(x[0]).z; };
  const auto logdet_of = [](const auto& f, const auto& x) { return f.forward(x[0]).logdet; };
  const auto inverse_of = [](const auto& f, const auto& x) { return f.inverse(f.forward(x[0]).z * T(1.1)); };
  const auto all_three = [&](const char* name, const auto& f, const tensor<T, host>& x) {
    const std::string n(name);
    parity::module_matches((n + ": z").c_str(), f, z_of, {x});
    parity::module_matches((n + ": log|det J|").c_str(), f, logdet_of, {x});
    parity::module_matches((n + ": inverse").c_str(), f, inverse_of, {x});
  };
  const auto net = [](index_t c) {
    return nn::conv2d<T>({.in = c, .out = 4, .kernel = 3, .padding = 1}) | nn::act::tanh{} |
           nn::conv2d<T>({.in = 4, .out = 2 * c, .kernel = 3, .padding = 1});
  };
  const auto x = randn<T>({2, 2, 4, 4}, 1);
  for (auto mask : {flows::mask_kind::checkerboard, flows::mask_kind::channel}) {
    flows::affine_coupling<decltype(net(2))> k(2, net(2), {.mask = mask, .parity = 1});
    k.scale.set_value(randn<T>({2, 1, 1}, 2, 0.8));
    k.shift.set_value(randn<T>({2, 1, 1}, 3));
    all_three("affine_coupling", k, x);
    flows::additive_coupling<decltype(net(2))> a(2,
                                                 nn::conv2d<T>({.in = 2, .out = 4, .kernel = 3, .padding = 1}) |
                                                     nn::act::tanh{} |
                                                     nn::conv2d<T>({.in = 4, .out = 2, .kernel = 3, .padding = 1}),
                                                 {.mask = mask});
    a.shift.set_value(randn<T>({2, 1, 1}, 4));
    all_three("additive_coupling", a, x);
  }
  flows::actnorm<T> an(2);
  an.forward(constant(randn<T>({4, 2, 4, 4}, 5, 2.0)));
  all_three("actnorm", an, x);
  flows::invertible_conv1x1<T> ic(2);
  ic.log_s.set_value(randn<T>({2}, 6, 0.5));
  all_three("invertible_conv1x1", ic, x);
  all_three(
      "sequence (squeeze | actnorm | inverse_of(coupling))",
      flows::squeeze<T>{} | flows::actnorm<T>(8) |
          flows::inverse_of(flows::affine_coupling<decltype(net(8))>(8, net(8), {.mask = flows::mask_kind::channel})),
      x);
  all_three("factor_out", flows::factor_out(shape{2, 4, 4}, flows::squeeze<T>{} | flows::actnorm<T>(4)), x);
  const auto u = parity::uniform<T>({2, 1, 8, 8}, 7, 0.05, 0.95);
  flows::realnvp_multiscale<T> h({.channels = 1, .height = 8, .width = 8, .scales = 2, .blocks = 1, .features = 4});
  rng g(8);
  for (auto& [name, p] : nn::named_parameters(h))
    if (name.ends_with("scale") || name.ends_with("shift"))
      p.set_value(tensor<T, host>::random(p.shape(), g, {distribution::normal, 0, 0.5}));
  all_three("realnvp_multiscale", h, u);
  all_three("logit | realnvp_multiscale", flows::logit_transform<T>{} | h, u);

  // Priors: standard normal and the class-conditional Gaussian (both layouts), and the NLL.
  const auto ops = std::make_tuple(
      [](const auto& v) {
        using B = typename std::decay_t<decltype(v[0])>::backend_type;
        return flows::standard_normal<T, B>{.dim = 6}.log_prob(v[0]);
      },
      [](const auto& v) {
        using B = typename std::decay_t<decltype(v[0])>::backend_type;
        flows::class_gaussian<T, B> p{.classes = 5, .dim = 6, .delta = 0.3};
        return p.log_prob(v[0], {0, 4, 2}) + sum(p.class_logits(v[0]));
      },
      [](const auto& v) {
        using B = typename std::decay_t<decltype(v[0])>::backend_type;
        flows::class_gaussian<T, B> p{
            .classes = 5, .dim = 6, .delta = 0.3, .layout = flows::mean_layout::random, .seed = 9};
        return p.log_prob(v[0], {1, 1, 3}) + sum(p.class_logits(v[0]));
      });
  parity::every_op<T>("prior", ops, {randn<T>({3, 6}, 10)});
}

BOOST_AUTO_TEST_CASE_TEMPLATE(every_loss_and_distance_matches_host, T, parity::element_types) {
  using namespace bijgan;
  using parity::randn;
  const auto ops = std::make_tuple(
      [](const auto& v) { return losses::l1(v[0], v[1]) + losses::cosine_distill(v[0].value(), v[1]); },
      [](const auto& v) {
        return losses::cross_entropy(v[0], {2, 0, 1, 1, 0, 2});
      },
      [](const auto& v) {
        using B = typename std::decay_t<decltype(v[0])>::backend_type;
        const auto same = to<B>(tensor<T, host>::from(std::vector<T>{1, 0, 0, 1, 1, 0}, {6}));
        return losses::large_margin_contrastive(l2_norm(v[0] - v[1], {1}), same, T(2)) +
               losses::pairwise_contrastive(matmul(v[0], v[1], false, true), {0, 0, 1, 1, 2, 2}, T(1));
      },
      [](const auto& v) {
        return losses::feature_distill(std::vector{v[0]}, std::vector{constant(v[1].value())}, v[1] * T(2),
                                       constant(v[0].value()));
      },
      [](const auto& v) { return distances::gaussian_w2_samples(v[0], v[1]); },
      [](const auto& v) { return distances::gaussian_w2_samples(v[0], v[1], distances::covariance_form::diagonal); },
      [](const auto& v) {
        const auto a = distances::fit_gaussian(v[0]), b = distances::fit_gaussian(v[1]);
        return distances::gaussian_w2(
            a.mean, a.covariance, b.mean, b.covariance,
            {.method = distances::sqrtm_method::newton_schulz, .newton_schulz_iterations = 20});
      },
      [](const auto& v) {
        const auto a = distances::fit_gaussian(v[0]), b = distances::fit_gaussian(v[1]);
        return distances::gaussian_w2(a.mean, a.covariance, b.mean, b.covariance);
      },
      [](const auto& v) {
        const auto h = [](const auto& x) { return tanh(x) * T(2); };
        return losses::bijective_metric(h, v[0], v[1], {0, 0, 1, 1, 2, 2}, {.margin = 3});
      });
  parity::every_op<T>("loss", ops, {randn<T>({6, 3}, 51), randn<T>({6, 3}, 52)}, parity::looser<T>(10));

  // The WGAN-GP critic loss (same Philox draws for the interpolation points) and the generator's.
  const auto critic_ops = std::make_tuple([](const auto& v) {
    const auto critic = [&](const auto& x) { return matmul(tanh(matmul(flatten(x), v[2])), v[3]); };
    rng g(53);
    const auto r = losses::wgan_critic(critic, v[0], v[1], g, {.lambda = 10, .drift = 0.001});
    return r.loss + r.gradient_penalty + losses::wgan_generator(critic, v[1]);
  });
  parity::every_op<T>(
      "wgan", critic_ops,
      {randn<T>({4, 1, 2, 3}, 54), randn<T>({4, 1, 2, 3}, 55), randn<T>({6, 5}, 56), randn<T>({5, 1}, 57)},
      parity::looser<T>(10));
}

BOOST_AUTO_TEST_CASE_TEMPLATE(whole_models_moved_with_nn_to_match_host, T, parity::element_types) {
  using namespace bijgan;
  using parity::randn;
  using parity::tiny;
  const auto gen = [](const auto& m, const auto& x) { return m(x[0], x[1]); };
  const auto looser = parity::looser<T>(10);
  nn::manual_seed(81);
  {
    models::dabgan<tiny>::generator<T> g;
    g.set_stage(2, 0.5);
    parity::module_matches("DAB-GAN generator (fade-in)", g, gen, {randn<T>({2, 6}, 1), randn<T>({2, 3}, 2)}, looser);
    static_assert(
        std::is_same_v<decltype(nn::to<parity::device>(g)), models::dabgan<tiny>::generator<T, parity::device>>);
  }
  parity::module_matches("DAB-GAN critic", models::dabgan<tiny>::critic<T>{}, parity::call1{},
                         {randn<T>({2, 1, 8, 8}, 3)}, looser);
  {
    models::dibigan<tiny>::generator<T> g;
    g.set_stage(2, 1);
    parity::module_matches("DiBiGAN generator", g, gen, {randn<T>({2, 6}, 4), randn<T>({2, 3}, 5)}, looser);
    models::dibigan<tiny>::critic<T> d;
    d.set_stage(2, 0.5);
    parity::module_matches("DiBiGAN critic", d, parity::call1{}, {randn<T>({4, 1, 8, 8}, 6)}, looser);
  }
  parity::module_matches("PO-GAN generator", models::po_gan<tiny>::generator<T>{}, gen,
                         {randn<T>({2, 6}, 7), randn<T>({2, 1}, 8)}, looser);
  parity::module_matches("student", models::student<parity::tiny_student, T>{}, parity::call1{},
                         {randn<T>({4, 1, 8, 8}, 9)}, looser);
  parity::module_matches("lenet", engines::lenet<T>{}, parity::call1{}, {randn<T>({2, 1, 32, 32}, 10)}, looser);
}

BOOST_AUTO_TEST_CASE_TEMPLATE(optimizers_take_the_same_steps, T, parity::element_types) {
  using namespace bijgan;
  nn::manual_seed(91);
  auto hm = nn::linear<T>({.in = 6, .out = 4}) | nn::act::gelu{} | nn::linear<T>({.in = 4, .out = 2});
  auto dm = nn::to<parity::device>(hm);
  optim::amsgrad<T, host> ha(nn::parameters(hm), {.lr = 0.01, .weight_decay = 0.1});
  optim::amsgrad<T, parity::device> da(nn::parameters(dm), {.lr = 0.01, .weight_decay = 0.1});
  optim::sgd<T, host> hs(nn::parameters(hm), {.lr = 0.01, .momentum = 0.9, .nesterov = true});
  optim::sgd<T, parity::device> ds(nn::parameters(dm), {.lr = 0.01, .momentum = 0.9, .nesterov = true});
  optim::ema<decltype(hm)> he(hm, 0.9);
  optim::ema<decltype(dm)> de(dm, 0.9);
  const auto x = parity::randn<T>({8, 6}, 92);
  for (int step = 0; step < 4; ++step) {
    nn::zero_grad(hm);
    nn::zero_grad(dm);
    backward(sum(square(hm(constant(x)))));
    backward(sum(square(dm(constant(to<parity::device>(x))))));
    const double nh = optim::clip_grad_norm(nn::parameters(hm), 0.5);
    const double nd = optim::clip_grad_norm(nn::parameters(dm), 0.5);
    BOOST_TEST(std::abs(nh - nd) <= 1e-4 * (1 + nh), "gradient norm at step " << step);
    if (step % 2 == 0)
      ha.step(), da.step();
    else
      hs.step(), ds.step();
    he.update(hm);
    de.update(dm);
  }
  const auto tol = testing::default_tolerance<T>().grad_tol;
  const auto hp = nn::parameters(hm), hs_ = nn::parameters(he.module());
  const auto dp = nn::parameters(dm), ds_ = nn::parameters(de.module());
  for (std::size_t i = 0; i < hp.size(); ++i) {
    testing::parity_result r;
    double worst = 0;
    testing::detail::compare_into(r, dp[i].value(), hp[i].value(), tol, worst, "parameter");
    testing::detail::compare_into(r, ds_[i].value(), hs_[i].value(), tol, worst, "EMA");
    BOOST_TEST(r.passed, "parameter " << i << " (" << parity::device::name << "): " << r.message);
  }
}

BOOST_AUTO_TEST_CASE(checkpoints_cross_backends) {
  using namespace bijgan;
  namespace fs = std::filesystem;
  nn::manual_seed(101);
  models::dabgan<parity::tiny>::generator<float> host_model;
  auto on_device = nn::to<parity::device>(host_model);
  // Train the device copy a little so its weights differ from the host model's.
  optim::adam<float, parity::device> opt(nn::parameters(on_device), {.lr = 0.05});
  backward(sum(square(on_device(constant(to<parity::device>(parity::randn<float>({2, 6}, 102))),
                                constant(to<parity::device>(parity::randn<float>({2, 3}, 103)))))));
  opt.step();
  const auto path = fs::temp_directory_path() / ("bijgan_parity_" + std::string(parity::device::name) + ".safetensors");
  io::save(path, on_device);
  io::load(path, host_model);  // saved on the device, loaded on the host
  const auto dp = nn::named_parameters(on_device);
  const auto hp = nn::named_parameters(host_model);
  BOOST_TEST_REQUIRE(dp.size() == hp.size());
  for (std::size_t i = 0; i < dp.size(); ++i)
    BOOST_TEST(dp[i].second.value().to_vector() == hp[i].second.value().to_vector(), dp[i].first);
  // And back: a fresh device model loads the host's file.
  io::save(path, host_model);
  models::dabgan<parity::tiny>::generator<float, parity::device> again;
  io::load(path, again);
  const auto ap = nn::named_parameters(again);
  for (std::size_t i = 0; i < ap.size(); ++i)
    BOOST_TEST(ap[i].second.value().to_vector() == hp[i].second.value().to_vector(), ap[i].first);
  fs::remove(path);
}

BOOST_AUTO_TEST_CASE(fit_gan_on_the_device_follows_the_host) {
  using namespace bijgan;
  // The whole objective (adversarial + GP, reconstruction, distillation, bijective) for 4 steps
  // on both backends from the same weights and data: the logged losses must agree.
  auto imgs = parity::randn<float>({24, 1, 8, 8}, 111).to_vector();
  for (auto& v : imgs) v = 1 / (1 + std::exp(-v));
  const auto images = tensor<float>::from(imgs, {24, 1, 8, 8});
  const auto features =
      matmul(constant(images.reshape({24, 64})), constant(parity::randn<float>({64, 6}, 112))).value();
  std::vector<int> labels;
  for (int i = 0; i < 24; ++i) labels.push_back(i % 3);
  const train::gan_data data{images, features, labels};
  nn::manual_seed(113);
  const auto hflow = flows::logit_transform<float>{} |
                     flows::realnvp_multiscale<float>(
                         {.channels = 1, .height = 8, .width = 8, .scales = 2, .blocks = 1, .features = 4});
  models::student<parity::tiny_student> hstudent;
  nn::eval(hstudent);
  models::dabgan<parity::tiny>::generator<> hg;
  models::dabgan<parity::tiny>::critic<> hd;
  auto dflow = nn::to<parity::device>(hflow);
  auto dstudent = nn::to<parity::device>(hstudent);
  auto dg = nn::to<parity::device>(hg);
  auto dd = nn::to<parity::device>(hd);
  train::gan_options o;
  o.steps = 4, o.batch = 12, o.n_critic = 1, o.steps_per_stage = 2, o.fade_steps = 1, o.per_identity = 4;
  std::ostringstream quiet;
  o.log = &quiet;
  o.checkpoint_every = 0;
  const auto h = train::fit_gan(train::gan(hg, hd).with_bijection(hflow).with_distiller(hstudent), data, o);
  const auto d = train::fit_gan(train::gan(dg, dd).with_bijection(dflow).with_distiller(dstudent), data, o);
  BOOST_TEST(d.steps == h.steps);
  for (const char* k : {"critic", "gp", "adv", "recon", "distill", "biject"}) {
    const double a = h.last.values.at(k), b = d.last.values.at(k);
    BOOST_TEST(std::abs(a - b) <= 2e-3 * (1 + std::abs(a)),
               k << ": host " << a << ", " << parity::device::name << " " << b);
  }
}

BOOST_AUTO_TEST_CASE(classifier_student_refresh_and_flow_trainers_follow_the_host) {
  using namespace bijgan;
  using parity::device;
  std::ostringstream quiet;
  // 32 images of 8x8 in [0, 1] (k/255), two classes, 6-D "engine" features.
  rng g(121);
  auto pix = tensor<float>::random({32, 1, 8, 8}, g, {distribution::uniform, 0, 1}).to_vector();
  for (auto& v : pix) v = std::floor(v * 255.0f) / 255.0f;
  const auto images = tensor<float>::from(pix, {32, 1, 8, 8});
  std::vector<int> labels;
  for (int i = 0; i < 32; ++i) labels.push_back(i % 2);
  const auto proj = parity::randn<float>({64, 6}, 122);
  const auto engine = [&](const tensor<float>& x) {
    return matmul(constant(x.reshape({x.size(0), 64})), constant(proj)).value();
  };
  const auto features = engine(images);

  // fit_classifier: a small CNN classifier, one epoch.
  nn::manual_seed(123);
  auto net = nn::conv2d<float>({.in = 1, .out = 4, .kernel = 3, .padding = 1}) | nn::act::relu{} | nn::act::flatten{} |
             nn::linear<float>({.in = 256, .out = 2});
  auto dnet = nn::to<device>(net);
  const auto net0 = nn::clone(net);
  const train::classifier_options co{.epochs = 1, .batch = 8, .warmup_steps = 2, .log = &quiet};
  train::fit_classifier(net, images, labels, co);
  train::fit_classifier(dnet, images, labels, co);
  BOOST_TEST(parity::parameter_gap(net0, net) > 1e-3, "fit_classifier trained nothing");
  BOOST_TEST(parity::parameter_gap(net, dnet) < 1e-4, "fit_classifier");

  // fit_student, then one student_refresh on generated images.
  nn::manual_seed(124);
  models::student<parity::tiny_student> student;
  auto dstudent = nn::to<device>(student);
  const auto student0 = nn::clone(student);
  const train::student_options so{.epochs = 1, .batch = 8, .warmup_steps = 2, .log = &quiet};
  const double lh = train::fit_student(student, images, features, so);
  const double ld = train::fit_student(dstudent, images, features, so);
  BOOST_TEST(std::abs(lh - ld) < 1e-4 * (1 + std::abs(lh)), "fit_student loss: host " << lh << ", device " << ld);
  BOOST_TEST(parity::parameter_gap(student0, student) > 1e-3, "fit_student trained nothing");
  BOOST_TEST(parity::parameter_gap(student, dstudent) < 1e-4, "fit_student");
  const auto student1 = nn::clone(student);
  train::gan_report report;
  report.step = 5;
  report.generate = [&](const tensor<float>& f, std::uint64_t) {  // "images" from features
    return apply(fn::sigmoid{}, matmul(constant(f), constant(parity::randn<float>({6, 64}, 125))).value())
        .reshape({f.size(0), 1, 8, 8});
  };
  const train::student_refresh_options ro{.every = 5, .batch = 8, .steps = 2};
  train::student_refresh(student, engine, images, features, ro)(report);
  train::student_refresh(dstudent, engine, images, features, ro)(report);
  BOOST_TEST(parity::parameter_gap(student1, student) > 1e-5, "student_refresh trained nothing");
  BOOST_TEST(parity::parameter_gap(student, dstudent) < 1e-4, "student_refresh");

  // fit_flow: H with the class-conditional prior, one epoch.
  nn::manual_seed(126);
  flows::realnvp_multiscale<float> h({.channels = 1, .height = 8, .width = 8, .scales = 2, .blocks = 1, .features = 4});
  auto dh = nn::to<device>(h);
  const auto h0 = nn::clone(h);
  train::flow_fit_options fo;
  fo.epochs = 1, fo.batch = 8, fo.warmup_steps = 2, fo.checkpoint_every = 0, fo.class_weight = 0.5, fo.log = &quiet;
  const auto a =
      train::fit_flow(h, flows::class_gaussian<float>{.classes = 2, .dim = 64, .delta = 0.2}, images, labels, fo);
  const auto b = train::fit_flow(dh, flows::class_gaussian<float, device>{.classes = 2, .dim = 64, .delta = 0.2},
                                 images, labels, fo);
  BOOST_TEST(a.steps == b.steps);
  BOOST_TEST(std::abs(a.last_loss - b.last_loss) < 1e-4 * (1 + std::abs(a.last_loss)),
             "fit_flow: host " << a.last_loss << ", device " << b.last_loss);
  BOOST_TEST(parity::parameter_gap(h0, h) > 1e-3, "fit_flow trained nothing");
  BOOST_TEST(parity::parameter_gap(h, dh) < 1e-3, "fit_flow");
}

BOOST_AUTO_TEST_SUITE_END()
