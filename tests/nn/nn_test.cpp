// nn modules: forward values against hand computations or direct definitions, module-level
// finite-difference gradient checks (second order for what critics use inside the gradient
// penalty), and the module machinery (paths, counts, modes, composition).
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/nn/nn.hpp>
#include <bijgan/testing/module_check.hpp>

#include <cmath>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;
using vs = std::vector<vd>;

namespace nn_test {

td randn(const shape& s, std::uint64_t seed, double scale = 1) {
  rng g(seed);
  return td::random(s, g, {distribution::normal, 0, scale});
}
bool near(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-10) {
  if (got.size() != want.size()) return false;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::abs(got[i] - want[i]) > tol * (1 + std::abs(want[i]))) return false;
  return true;
}
void set(const vd& v, std::vector<double> values) { v.set_value(td::from(values, v.shape())); }

// A user-written module holding a vector of sub-modules.
struct stage {
  using value_type = double;
  using backend_type = host;
  std::vector<nn::conditioned_block<double>> block;
  template <class F>
  void visit(F&& f) {
    f("block", block);
  }
};

BOOST_AUTO_TEST_SUITE(nn_suite)

BOOST_AUTO_TEST_CASE(linear_forward_and_init) {
  nn::linear<double> l({.in = 3, .out = 2});
  set(l.weight, {1, 2, 3, 4, 5, 6});
  set(l.bias, {0.5, -1});
  const auto y = l(constant(td::from(std::vector<double>{1, 0, -1, 2, 1, 0}, {2, 3})));
  BOOST_TEST(near(y.value().to_vector(), {-1.5, -3, 4.5, 12}));
  // Leading axes are folded: (2, 1, 3) gives (2, 1, 2) with the same values.
  const auto y3 = l(constant(td::from(std::vector<double>{1, 0, -1, 2, 1, 0}, {2, 1, 3})));
  BOOST_TEST(y3.shape() == (shape{2, 1, 2}));
  // PyTorch's default: |w| <= 1/sqrt(fan_in); equalised lr: N(0, 1) stored, scaled by gain/sqrt(fan_in).
  nn::manual_seed(1);
  nn::linear big({.in = 400, .out = 300});
  const auto w = big.weight.value().to_vector();
  BOOST_TEST(*std::max_element(w.begin(), w.end()) <= 1 / std::sqrt(400.0) + 1e-6);
  nn::linear<double> eq({.in = 400, .out = 300, .bias = true, .equalized = {.on = true}});
  const auto ev = eq.weight.value().to_vector();
  double ss = 0;
  for (double v : ev) ss += v * v;
  BOOST_TEST(std::abs(std::sqrt(ss / static_cast<double>(ev.size())) - 1) < 0.02);
  const auto x = constant(randn({4, 400}, 3));
  const auto want = matmul(x, eq.weight * (std::sqrt(2.0) / 20.0), false, true).value().to_vector();
  BOOST_TEST(near(eq(x).value().to_vector(), want, 1e-12));
  BOOST_CHECK_THROW(l(constant(td::zeros({2, 4}))), shape_error);
}

BOOST_AUTO_TEST_CASE(conv_modules) {
  nn::conv2d<double> c({.in = 2, .out = 3, .kernel = 3, .padding = 1});
  const auto x = constant(randn({2, 2, 5, 5}, 4));
  BOOST_TEST(c(x).shape() == (shape{2, 3, 5, 5}));
  BOOST_TEST(near(c(x).value().to_vector(), conv2d(x, c.weight, c.bias, {.padding = 1}).value().to_vector(), 0));
  nn::conv_transpose2d<double> t({.in = 3, .out = 2, .kernel = 4, .stride = 2, .padding = 1});
  BOOST_TEST(t(c(x)).shape() == (shape{2, 2, 10, 10}));
  BOOST_TEST(nn::parameter_count(c) == 3 * 2 * 9 + 3);
  BOOST_CHECK_THROW(nn::conv2d<double>({.in = 3, .out = 4, .kernel = 3, .groups = 2}), value_error);
}

BOOST_AUTO_TEST_CASE(batch_norm_train_and_eval) {
  nn::batch_norm<double> bn({.channels = 2});
  // Channel 0 holds 1, 2, 3, 4; channel 1 holds 0, 0, 2, 2 over (N = 2, H = 1, W = 2).
  const auto x = constant(td::from(std::vector<double>{1, 2, 0, 0, 3, 4, 2, 2}, {2, 2, 1, 2}));
  const auto y = bn(x).value().to_vector();
  const double s0 = 1 / std::sqrt(1.25 + 1e-5), s1 = 1 / std::sqrt(1.0 + 1e-5);
  BOOST_TEST(near(y, {-1.5 * s0, -0.5 * s0, -s1, -s1, 0.5 * s0, 1.5 * s0, s1, s1}, 1e-9));
  // Running statistics: 0.9 * initial + 0.1 * batch (unbiased variance).
  BOOST_TEST(near(bn.running_mean.to_vector(), {0.25, 0.1}));
  BOOST_TEST(near(bn.running_var.to_vector(), {0.9 + 0.1 * 5.0 / 3.0, 0.9 + 0.1 * 4.0 / 3.0}));
  nn::eval(bn);
  BOOST_TEST(!bn.training.on);
  const auto e = bn(x).value().to_vector();
  BOOST_TEST(std::abs(e[0] - (1 - 0.25) / std::sqrt(0.9 + 0.5 / 3 + 1e-5)) < 1e-12);
  BOOST_CHECK_THROW(bn(constant(td::zeros({2, 3, 1, 1}))), shape_error);
}

BOOST_AUTO_TEST_CASE(other_norms) {
  const auto x = constant(td::from(std::vector<double>{1, 2, 3, 4, -1, 1, 0, 0}, {2, 4}));
  nn::layer_norm<double> ln({.features = 4});
  const double s = 1 / std::sqrt(1.25 + 1e-5), t = 1 / std::sqrt(0.5 + 1e-5);
  BOOST_TEST(near(ln(x).value().to_vector(), {-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, -t, t, 0, 0}, 1e-9));
  const auto img = constant(td::from(std::vector<double>{1, 2, 3, 4, 2, 2, 2, 6}, {1, 2, 2, 2}));
  nn::instance_norm<double> in({.channels = 2});
  const double u = 1 / std::sqrt(3.0 + 1e-5);
  BOOST_TEST(near(in(img).value().to_vector(), {-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, -u, -u, -u, 3 * u}, 1e-9));
  // pixel_norm: x / sqrt(mean over channels of x^2).
  const auto pn = nn::pixel_norm(constant(td::from(std::vector<double>{3, 4}, {1, 2})), 0.0);
  BOOST_TEST(near(pn.value().to_vector(), {3 / std::sqrt(12.5), 4 / std::sqrt(12.5)}));
  // AdaIN: (1 + s) * instance_norm(x) + b with [s; b] = A(w).
  nn::adain<double> ada({.channels = 2, .style_dim = 3});
  const auto w = constant(randn({1, 3}, 5));
  const auto sb = ada.style(w).value().to_vector();
  const auto got = ada(img, w).value().to_vector();
  const auto norm = in(img).value().to_vector();
  for (std::size_t i = 0; i < 8; ++i)
    BOOST_TEST(std::abs(got[i] - ((1 + sb[i / 4]) * norm[i] + sb[2 + i / 4])) < 1e-12);
}

BOOST_AUTO_TEST_CASE(dropout_embedding_and_minibatch_stddev) {
  nn::dropout<double> d({.p = 0.25});
  const auto ones = constant(td::ones({100, 100}));
  const auto y = d(ones).value().to_vector();
  const auto zeros = std::count(y.begin(), y.end(), 0.0);
  BOOST_TEST(std::abs(static_cast<double>(zeros) / 1e4 - 0.25) < 0.02);
  BOOST_TEST(*std::max_element(y.begin(), y.end()) == 1 / 0.75);
  nn::eval(d);
  BOOST_TEST(d(ones).value().to_vector() == ones.value().to_vector());
  BOOST_CHECK_THROW(nn::dropout<double>({.p = 1.0}), value_error);

  nn::positional_embedding<double> pe({.tokens = 3, .dim = 2});
  BOOST_TEST(std::abs(pe(constant(td::zeros({2, 3, 2}))).value().to_vector()[5] - pe.table.value().to_vector()[5]) <
             1e-15);

  // Two samples, one channel of one pixel each: values 1 and 3 -> std over the group is 1.
  nn::minibatch_stddev<double> mb({.group_size = 4, .features = 1, .eps = 0});
  const auto m = mb(constant(td::from(std::vector<double>{1, 3}, {2, 1, 1, 1})));
  BOOST_TEST(m.shape() == (shape{2, 2, 1, 1}));
  BOOST_TEST(near(m.value().to_vector(), {1, 1, 3, 1}));
  BOOST_CHECK_THROW(nn::minibatch_stddev<double>({.group_size = 2})(constant(td::zeros({3, 1, 1, 1}))), shape_error);
}

BOOST_AUTO_TEST_CASE(attention_matches_its_definition) {
  nn::manual_seed(6);
  nn::multi_head_attention<double> mha({.dim = 4, .heads = 2, .context_dim = 3});
  const auto x = constant(randn({1, 2, 4}, 7)), c = constant(randn({1, 3, 3}, 8));
  const auto got = mha.attend(x, c).value().to_vector();
  // By hand: per head h, softmax(q_h k_h^T / sqrt 2) v_h, heads concatenated, projected.
  const auto q = mha.q(x).value().to_vector(), kv = mha.kv(c).value().to_vector();
  std::vector<double> heads(8);
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 2; ++i) {
      double w[3], z = 0;
      for (int j = 0; j < 3; ++j) {
        double s = 0;
        for (int e = 0; e < 2; ++e)
          s += q[static_cast<std::size_t>(i * 4 + h * 2 + e)] * kv[static_cast<std::size_t>(j * 8 + h * 2 + e)];
        w[j] = std::exp(s / std::sqrt(2.0));
        z += w[j];
      }
      for (int e = 0; e < 2; ++e) {
        double acc = 0;
        for (int j = 0; j < 3; ++j) acc += w[j] / z * kv[static_cast<std::size_t>(j * 8 + 4 + h * 2 + e)];
        heads[static_cast<std::size_t>(i * 4 + h * 2 + e)] = acc;
      }
    }
  const auto want = mha.proj(constant(td::from(heads, {1, 2, 4}))).value().to_vector();
  BOOST_TEST(near(got, want, 1e-12));

  // Grid attention on a 4x4 map with 2x2 windows equals attention run on each window alone.
  nn::grid_attention<double> ga({.dim = 4, .heads = 2, .window = 2});
  const auto map = constant(randn({1, 16, 4}, 9));
  const auto out = ga(map, 4, 4).value().to_vector();
  const auto bias = ga.bias();
  BOOST_TEST(bias.shape() == (shape{2, 4, 4}));
  // window (1, 0) holds map rows 2..3, columns 0..1: tokens 8, 9, 12, 13.
  std::vector<double> win;
  const auto mv = map.value().to_vector();
  for (int t : {8, 9, 12, 13}) win.insert(win.end(), mv.begin() + t * 4, mv.begin() + t * 4 + 4);
  const auto alone = ga.attn(constant(td::from(win, {1, 4, 4})), bias).value().to_vector();
  const int tokens[] = {8, 9, 12, 13};
  for (int k = 0; k < 4; ++k)
    for (int e = 0; e < 4; ++e)
      BOOST_TEST(std::abs(out[static_cast<std::size_t>(tokens[k] * 4 + e)] -
                          alone[static_cast<std::size_t>(k * 4 + e)]) < 1e-12);
  // The relative bias depends only on the offset: tokens (0,0)->(1,1) and (0,1)->(1,2)... same entry.
  const auto bv = bias.value().to_vector();
  BOOST_TEST(bv[0 * 4 + 0] == bv[3 * 4 + 3]);  // offset (0, 0), head 0
  BOOST_TEST(bv[0 * 4 + 1] == bv[2 * 4 + 3]);  // offset (0, -1)
  BOOST_CHECK_THROW(ga(map, 3, 5), shape_error);
  BOOST_CHECK_THROW(nn::condition_tokens<double>({.in = 4, .tokens = 8, .dim = 4}), value_error);
}

BOOST_AUTO_TEST_CASE(machinery_paths_modes_and_composition) {
  nn::manual_seed(10);
  auto net = nn::conv2d<double>({.in = 1, .out = 2, .kernel = 3, .padding = 1}) | nn::act::relu{} |
             nn::batch_norm<double>({.channels = 2}) | nn::act::flatten{} | nn::linear<double>({.in = 8, .out = 3});
  const auto named = nn::named_parameters(net);
  std::vector<std::string> paths;
  for (const auto& [p, v] : named) paths.push_back(p);
  BOOST_TEST(paths == (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"}),
             boost::test_tools::per_element());
  BOOST_TEST(nn::parameter_count(net) == 18 + 2 + 2 + 2 + 24 + 3);
  std::vector<std::string> buffers;
  for (const auto& [p, t] : nn::named_buffers(net)) buffers.push_back(p);
  BOOST_TEST(buffers == (std::vector<std::string>{"2.running_mean", "2.running_var"}),
             boost::test_tools::per_element());
  BOOST_TEST(net(constant(randn({2, 1, 2, 2}, 11))).shape() == (shape{2, 3}));
  nn::eval(net);
  BOOST_TEST(!net.get<2>().training.on);
  nn::train(net);
  BOOST_TEST(net.get<2>().training.on);

  // Nested paths through vectors and sub-modules.
  stage s{{nn::conditioned_block<double>({.dim = 4, .heads = 2, .window = 2})}};
  const auto sp = nn::named_parameters(s);
  BOOST_TEST(sp.front().first == "block.0.block.norm1.weight");
  bool found = false;
  for (const auto& [p, v] : sp) found = found || p == "block.0.block.attn.attn.q.weight";
  BOOST_TEST(found);

  auto res = nn::residual(nn::linear<double>({.in = 3, .out = 3}));
  const auto rx = constant(randn({2, 3}, 12));
  BOOST_TEST(near(res(rx).value().to_vector(), (rx + res.body(rx)).value().to_vector(), 0));
  BOOST_TEST(nn::named_parameters(res).front().first == "body.weight");
}

BOOST_AUTO_TEST_CASE(module_gradients_match_finite_differences) {
  using testing::module_gradcheck;
  nn::manual_seed(20);
  auto one = [](auto& m) {
    return [&m](const auto& mm, const vs& v) {
      (void)m;
      return mm(v[0]);
    };
  };
  {
    nn::linear<double> m({.in = 3, .out = 2, .bias = true, .equalized = {.on = true}});
    const auto r = module_gradcheck(m, {randn({2, 3}, 21)}, one(m), {.second_order = true});
    BOOST_TEST(r.passed, "linear: " << r.message);
  }
  {
    nn::conv2d<double> m({.in = 2, .out = 2, .kernel = 3, .stride = 2, .padding = 1});
    const auto r = module_gradcheck(m, {randn({2, 2, 4, 4}, 22)}, one(m), {.second_order = true});
    BOOST_TEST(r.passed, "conv2d: " << r.message);
  }
  {
    nn::conv_transpose2d<double> m({.in = 2, .out = 1, .kernel = 3, .stride = 2, .padding = 1, .output_padding = 1});
    const auto r = module_gradcheck(m, {randn({1, 2, 3, 3}, 23)}, one(m));
    BOOST_TEST(r.passed, "conv_transpose2d: " << r.message);
  }
  {
    nn::batch_norm<double> m({.channels = 2});
    const auto r = module_gradcheck(m, {randn({3, 2, 2, 2}, 24)}, one(m), {.second_order = true});
    BOOST_TEST(r.passed, "batch_norm: " << r.message);
  }
  {
    nn::layer_norm<double> m({.features = 4});
    const auto r = module_gradcheck(m, {randn({3, 4}, 25)}, one(m), {.second_order = true});
    BOOST_TEST(r.passed, "layer_norm: " << r.message);
  }
  {
    nn::instance_norm<double> m({.channels = 2, .eps = 1e-5, .affine = true});
    const auto r = module_gradcheck(m, {randn({2, 2, 2, 3}, 26)}, one(m));
    BOOST_TEST(r.passed, "instance_norm: " << r.message);
  }
  {
    nn::adain<double> m({.channels = 2, .style_dim = 3});
    const auto r = module_gradcheck(m, {randn({2, 2, 2, 2}, 27), randn({2, 3}, 28)},
                                    [](const auto& mm, const vs& v) { return mm(v[0], v[1]); });
    BOOST_TEST(r.passed, "adain: " << r.message);
  }
  {
    nn::minibatch_stddev<double> m({.group_size = 2});
    const auto r = module_gradcheck(m, {randn({4, 2, 2, 2}, 29)}, one(m), {.second_order = true});
    BOOST_TEST(r.passed, "minibatch_stddev: " << r.message);
  }
  {
    nn::multi_head_attention<double> m({.dim = 4, .heads = 2, .context_dim = 3, .qkv_bias = true});
    const auto r =
        module_gradcheck(m, {randn({2, 3, 4}, 30), randn({2, 2, 3}, 31)},
                         [](const auto& mm, const vs& v) { return mm.attend(v[0], v[1]); }, {.second_order = true});
    BOOST_TEST(r.passed, "cross attention: " << r.message);
  }
  {
    nn::transformer_block<double> m({.dim = 4, .heads = 2, .mlp_ratio = 2, .window = 2});
    const auto r =
        module_gradcheck(m, {randn({1, 16, 4}, 32)}, [](const auto& mm, const vs& v) { return mm(v[0], 4, 4); });
    BOOST_TEST(r.passed, "grid transformer block: " << r.message);
  }
  {
    nn::transformer_block<double> m({.dim = 4, .heads = 2, .mlp_ratio = 1});
    const auto r = module_gradcheck(m, {randn({2, 3, 4}, 33)}, one(m), {.second_order = true});
    BOOST_TEST(r.passed, "transformer block (second order): " << r.message);
  }
  {
    nn::condition_tokens<double> tok({.in = 3, .tokens = 16, .dim = 4});
    nn::conditioned_block<double> m({.dim = 4, .heads = 2, .mlp_ratio = 1});
    const auto ctx = tok(constant(randn({2, 3}, 34))).value();
    const auto r = module_gradcheck(m, {randn({2, 4, 4}, 35), ctx},
                                    [](const auto& mm, const vs& v) { return mm(v[0], v[1], 2, 2); });
    BOOST_TEST(r.passed, "conditioned block: " << r.message);
  }
}

namespace {
/// A user's module holding library modules: a chain of two linears (the second mis-sized on
/// purpose) inside a vector of blocks, and a head.
struct user_block {
  using value_type = double;
  using backend_type = host;
  nn::chain<nn::linear<double>, nn::linear<double>> body;
  explicit user_block(index_t wrong)
      : body(nn::linear<double>({.in = 4, .out = 8}), nn::linear<double>({.in = wrong, .out = 4})) {}
  var<double> operator()(const var<double>& x) const { return body(x); }
  template <class F>
  void visit(F&& f) {
    f("body", body);
  }
};
struct user_net {
  using value_type = double;
  using backend_type = host;
  std::vector<user_block> blocks;
  nn::linear<double> head{{.in = 4, .out = 2}};
  var<double> operator()(const var<double>& x) const {
    auto h = x;
    for (const auto& b : blocks) h = b(h);
    return head(h);
  }
  template <class F>
  void visit(F&& f) {
    f("blocks", blocks);
    f("head", head);
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(errors_name_the_module_they_came_from) {
  // An error thrown inside a library module carries that module's path through the visit()
  // names of the user's modules around it, once nn::within names the root.
  user_net net;
  net.blocks.emplace_back(8);  // right
  net.blocks.emplace_back(5);  // blocks.1.body.1 expects 5 features but gets 8
  const auto x = constant(randn({3, 4}, 51));
  std::string what, path;
  try {
    nn::within(net, "generator", [&] { return net(x); });
  } catch (const shape_error& e) {  // the type is kept
    what = e.what();
    path = e.module_path();
  }
  BOOST_TEST(path == "generator.blocks.1.body.1");
  BOOST_TEST(what.rfind("generator.blocks.1.body.1: bijgan::nn::linear: input [3, 8] must end in 5", 0) == 0u, what);
  // The head is found too; an error from the root's own code gets the root's name only.
  net.blocks.pop_back();
  net.head = nn::linear<double>({.in = 7, .out = 2});
  try {
    nn::within(net, "net", [&] { return net(x); });
  } catch (const error& e) {
    path = e.module_path();
  }
  BOOST_TEST(path == "net.head");
  try {
    nn::within(net, "net", [&]() -> var<double> { fail<value_error>("user", "own code"); });
  } catch (const error& e) {
    BOOST_TEST(std::string(e.what()) == "net: bijgan::user: own code");
    BOOST_TEST(std::string(e.message()) == "bijgan::user: own code");
  }
  // Outside within: the message alone; the stack of active modules is empty again.
  try {
    (void)net(x);
  } catch (const error& e) {
    BOOST_TEST(e.module_path().empty());
    BOOST_TEST(std::string(e.what()).rfind("bijgan::nn::linear:", 0) == 0u, e.what());
    BOOST_TEST(e.modules().size() == 1u);  // the head, the one library module running
  }
  BOOST_TEST(bijgan::detail::active_modules().empty());
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace nn_test

namespace nn_test {
BOOST_AUTO_TEST_SUITE(nn_to_suite)

BOOST_AUTO_TEST_CASE(to_backend_copies_every_parameter_buffer_and_flag) {
  nn::manual_seed(40);
  auto net = nn::conv2d<double>({.in = 1, .out = 2, .kernel = 3, .padding = 1}) | nn::act::relu{} |
             nn::batch_norm<double>({.channels = 2}) | nn::act::flatten{} |
             nn::residual(nn::linear<double>({.in = 8, .out = 8}));
  nn::eval(net);
  net.get<2>().running_mean = td::from(std::vector<double>{0.5, -0.5}, {2});
  auto copy = nn::to<host>(net);
  static_assert(std::is_same_v<decltype(copy), decltype(net)>);
  const auto a = nn::named_parameters(net), b = nn::named_parameters(copy);
  BOOST_REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_TEST(a[i].first == b[i].first);
    BOOST_TEST(a[i].second.value().to_vector() == b[i].second.value().to_vector());
    BOOST_TEST(!a[i].second.value().shares_storage_with(b[i].second.value()));
    BOOST_TEST(b[i].second.requires_grad());
  }
  BOOST_TEST(copy.get<2>().running_mean.to_vector() == (std::vector<double>{0.5, -0.5}),
             boost::test_tools::per_element());
  BOOST_TEST(!copy.get<2>().training.on);
  const auto x = constant(randn({2, 1, 2, 2}, 41));
  BOOST_TEST(near(copy(x).value().to_vector(), net(x).value().to_vector(), 0));
  // Engines convert too (LeNet is built from an rng alone).
  engines::lenet<double> le;
  const auto le2 = nn::to<host>(le);
  BOOST_TEST(le2.fc2.bias.value().to_vector() == le.fc2.bias.value().to_vector());
}

BOOST_AUTO_TEST_SUITE_END()
}  // namespace nn_test
