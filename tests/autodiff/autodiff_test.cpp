// Tests of the autodiff engine: accumulation, no_grad, grad() with create_graph (gradients of
// gradients), a WGAN-GP-shaped penalty checked by finite differences, anomaly mode, to_dot,
// and checkpoint (recomputation) against the plain graph, first and second order.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/testing/backend_parity.hpp>
#include <bijgan/testing/gradcheck.hpp>

#include <sstream>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;

BOOST_AUTO_TEST_SUITE(autodiff_suite)

BOOST_AUTO_TEST_CASE(backward_accumulates_on_leaves) {
  auto x = parameter(td::from(std::vector<double>{1, 2, 3}, {3}));
  auto y = sum(x * x);
  backward(y);
  BOOST_TEST(x.grad().to_vector() == (std::vector<double>{2, 4, 6}));
  backward(y);  // the graph is kept: a second pass adds
  BOOST_TEST(x.grad().to_vector() == (std::vector<double>{4, 8, 12}));
  x.zero_grad();
  BOOST_TEST(!x.grad().defined());
  // Diamond: x feeds two paths; both contributions add.
  auto z = sum(exp(x) + x * 3.0);
  backward(z);
  BOOST_TEST(std::abs(x.grad().to_vector()[0] - (std::exp(1.0) + 3.0)) < 1e-12);
}

BOOST_AUTO_TEST_CASE(accumulated_gradients_differentiate_again) {
  // x reaches f by three paths (x * x uses it twice, exp(x) once), so its first-order gradient is
  // a sum that the engine accumulates; with create_graph that sum is a node of the graph, and the
  // second order through it must match the closed form: g = 2x + e^x, d sum(g^2)/dx = 2g(2 + e^x).
  const std::vector<double> xs{-0.5, 0.25, 1.5};
  auto x = parameter(td::from(xs, {3}));
  auto g = grad(sum(x * x + exp(x)), x, {.create_graph = true});
  BOOST_TEST(g.requires_grad());
  auto h = grad(sum(g * g), x).value().to_vector();
  const auto gv = g.value().to_vector();
  for (std::size_t i = 0; i < xs.size(); ++i) {
    BOOST_TEST(std::abs(gv[i] - (2 * xs[i] + std::exp(xs[i]))) < 1e-12);
    BOOST_TEST(std::abs(h[i] - 2 * gv[i] * (2 + std::exp(xs[i]))) < 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(accessors_of_an_undefined_var_throw) {
  const vd v;
  BOOST_TEST(!v.defined());
  BOOST_TEST(!v.requires_grad());
  BOOST_TEST(v.id() == nullptr);
  const auto names = [](const char* accessor) {
    return [accessor](const value_error& e) {
      const std::string what = e.what();
      return what.find(std::string("var::") + accessor) != std::string::npos &&
             what.find("undefined var") != std::string::npos;
    };
  };
  BOOST_CHECK_EXCEPTION((void)v.value(), value_error, names("value"));
  BOOST_CHECK_EXCEPTION((void)v.shape(), value_error, names("shape"));
  BOOST_CHECK_EXCEPTION((void)v.numel(), value_error, names("numel"));
  BOOST_CHECK_EXCEPTION((void)v.rank(), value_error, names("rank"));
  BOOST_CHECK_EXCEPTION((void)v.size(0), value_error, names("size"));
  BOOST_CHECK_EXCEPTION((void)v.item(), value_error, names("item"));
  BOOST_CHECK_EXCEPTION((void)v.grad(), value_error, names("grad"));
  BOOST_CHECK_EXCEPTION(v.zero_grad(), value_error, names("zero_grad"));
  BOOST_CHECK_EXCEPTION(v.set_grad(td::ones({1})), value_error, names("set_grad"));
  BOOST_CHECK_EXCEPTION(v.set_value(td::ones({1})), value_error, names("set_value"));
  BOOST_CHECK_EXCEPTION((void)v.op(), value_error, names("op"));
  BOOST_CHECK_EXCEPTION((void)v.inputs(), value_error, names("inputs"));
  BOOST_CHECK_EXCEPTION((void)v.is_leaf(), value_error, names("is_leaf"));
  BOOST_CHECK_EXCEPTION((void)v.detach(), value_error, names("detach"));
  // An op given one throws as well (never a null dereference).
  BOOST_CHECK_THROW((void)(v + v), error);
}

BOOST_AUTO_TEST_CASE(no_grad_and_constants_do_not_record) {
  auto x = parameter(td::ones({2}));
  {
    no_grad ng;
    auto y = x * 2.0;
    BOOST_TEST(!y.requires_grad());
    BOOST_TEST(y.is_leaf());
  }
  auto c = constant(td::ones({2}));
  BOOST_TEST(!(c * 2.0).requires_grad());
  BOOST_CHECK_THROW(backward(sum(c)), value_error);
  BOOST_TEST((x * 2.0).requires_grad());
  BOOST_TEST(!(x * 2.0).detach().requires_grad());
}

BOOST_AUTO_TEST_CASE(gradients_of_gradients) {
  // f = x^3: f' = 3x^2, f'' = 6x, f''' = 6.
  auto x = parameter(td::from(std::vector<double>{0.5, -2.0}, {2}));
  auto f = sum(x * x * x);
  auto g1 = grad(f, x, {.create_graph = true});
  BOOST_TEST(g1.requires_grad());
  BOOST_TEST(g1.value().to_vector() == (std::vector<double>{0.75, 12.0}));
  auto g2 = grad(sum(g1), x, {.create_graph = true});
  BOOST_TEST(g2.value().to_vector() == (std::vector<double>{3.0, -12.0}));
  auto g3 = grad(sum(g2), x);
  BOOST_TEST(g3.value().to_vector() == (std::vector<double>{6.0, 6.0}));
  BOOST_TEST(!x.grad().defined());  // grad() leaves .grad() alone
  // An input the output does not depend on gets zeros.
  auto unused = parameter(td::ones({3}));
  BOOST_TEST(grad(std::vector{f}, std::vector{x, unused})[1].value().to_vector() == (std::vector<double>{0, 0, 0}));
}

// A WGAN-GP penalty on a small MLP critic D(x) = act(x W1 + b1) W2 + b2:
// GP = mean_i (||d D(x_i) / d x_i|| - 1)^2. Its gradient with respect to the critic's
// parameters needs double backprop; finite differences on the parameters must agree. With
// leaky_relu (the method's critic) the penalty does not depend on b1 (act'' = 0) nor on b2;
// with tanh it depends on b1 too.
BOOST_AUTO_TEST_CASE(wgan_gp_penalty_parameter_gradient) {
  for (const bool smooth : {false, true}) {
    BOOST_TEST_CONTEXT("activation " << (smooth ? "tanh" : "leaky_relu")) {
      rng gen(11);
      const auto xs = td::random({5, 3}, gen, {distribution::normal, 0, 1});
      const std::vector<td> params{td::random({3, 8}, gen, {distribution::normal, 0, 0.7}),
                                   td::random({8}, gen, {distribution::normal, 0, 0.3}),
                                   td::random({8, 1}, gen, {distribution::normal, 0, 0.7}),
                                   td::random({1}, gen, {distribution::normal, 0, 0.1})};
      const auto penalty = [xs, smooth](const std::vector<vd>& p) {
        auto x = parameter(xs);
        auto h = matmul(x, p[0]) + p[1];
        auto d = matmul(smooth ? tanh(h) : leaky_relu(h, 0.2), p[2]) + p[3];
        auto gx = grad(sum(d), x, {.create_graph = true});
        return mean(square(l2_norm(gx, {1}) - 1.0));
      };
      const auto r = testing::gradcheck(penalty, params);
      BOOST_TEST(r.passed, r.message);
      BOOST_TEST(r.checked > 40);
      // The same through backward(): parameters' .grad() match grad().
      std::vector<vd> p;
      for (const auto& t : params) p.push_back(parameter(t));
      backward(penalty(p));
      const auto via_grad = grad(std::vector{penalty(p)}, p);
      BOOST_TEST(p[1].grad().defined() == smooth);
      BOOST_TEST(!p[3].grad().defined());
      BOOST_CHECK_THROW((void)p[3].grad().to_vector(), value_error);
      BOOST_TEST(via_grad[3].value().to_vector() == (std::vector<double>{0.0}));
      for (std::size_t i : {std::size_t{0}, std::size_t{2}}) {
        const auto a = p[i].grad().to_vector(), b = via_grad[i].value().to_vector();
        for (std::size_t j = 0; j < a.size(); ++j) BOOST_TEST(std::abs(a[j] - b[j]) < 1e-12);
      }
    }
  }
}

// [docs:custom-op]
// A user-defined op: softsign(x) = x / (1 + |x|), with its derivative 1 / (1 + |x|)^2 written
// with differentiable ops, so it also has a second derivative.
template <class T, class B>
var<T, B> softsign(const var<T, B>& x) {
  auto value = apply(fn::div{}, x.value(), apply(fn::add_scalar<T>{1}, apply(fn::abs{}, x.value())));
  return var<T, B>::make(std::move(value), "softsign", {x}, [](const auto& out, const auto& g, auto gr) {
    const auto& in = out.inputs()[0];
    gr[0] = g / square(abs(in) + T(1));
  });
}
// [docs:custom-op]

BOOST_AUTO_TEST_CASE(user_defined_op_passes_gradcheck) {
  rng gen(4);
  const auto r = testing::gradcheck([](const auto& v) { return softsign(v[0]); },
                                    {td::random({3, 4}, gen, {distribution::normal, 0, 1})}, {.second_order = true});
  BOOST_TEST(r.passed, r.message);
}

BOOST_AUTO_TEST_CASE(grad_visits_only_what_leads_to_its_inputs) {
  int calls = 0;
  auto x = parameter(td::ones({3}));
  auto w = parameter(td::ones({3}));
  auto probe = var<double>::make(w.value().clone(), "probe", {w}, [&calls](const auto&, const auto& g, auto gr) {
    ++calls;
    gr[0] = g;
  });
  auto loss = sum(x * x) + sum(probe);
  BOOST_TEST(grad(loss, x).value().to_vector() == (std::vector<double>{2, 2, 2}));
  BOOST_TEST(calls == 0);  // w's branch does not lead to x: its rule never runs
  backward(loss);
  BOOST_TEST(calls == 1);
  BOOST_TEST(w.grad().to_vector() == (std::vector<double>{1, 1, 1}));
}

// The parity helper itself, with the host as the "other" backend: it must pass on identical
// computations and report a difference when the two sides compute different things.
BOOST_AUTO_TEST_CASE(backend_parity_helper) {
  rng gen(8);
  const std::vector<tensor<float>> in{tensor<float>::random({4, 3}, gen, {distribution::normal, 0, 1})};
  const auto same = testing::compare_backends<host>([](const auto& v) { return gelu(v[0]); }, in);
  BOOST_TEST(same.passed, same.message);
  BOOST_TEST(same.max_grad_error == 0.0);
  int call = 0;
  const auto differ =
      testing::compare_backends<host>([&](const auto& v) { return ++call == 1 ? gelu(v[0]) : tanh(v[0]); }, in);
  BOOST_TEST(!differ.passed);
  BOOST_TEST(differ.message.find("value") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(anomaly_mode_names_the_op) {
  auto x = parameter(td::from(std::vector<double>{1.0, -1.0}, {2}));
  BOOST_CHECK_NO_THROW(log(x));  // off by default: NaN passes silently
  detect_anomaly on;
  BOOST_CHECK_EXCEPTION(log(x), value_error, [](const value_error& e) {
    return std::string(e.what()).find("bijgan::log") != std::string::npos;
  });
  // Backward check: sqrt at 0 is finite forward, infinite gradient backward.
  auto z = parameter(td::zeros({1}));
  auto y = sum(sqrt(z));
  BOOST_CHECK_EXCEPTION(backward(y), value_error, [](const value_error& e) {
    // Either the backward rule's own op (div) or the sweep's check names the failure.
    return std::string(e.what()).find("NaN or Inf") != std::string::npos;
  });
  // A failed sweep leaves no stale state: a later clean backward is exact.
  auto w = parameter(td::ones({1}));
  backward(sum(w * 3.0));
  BOOST_TEST(w.grad().item() == 3.0);
}

BOOST_AUTO_TEST_CASE(to_dot_writes_the_graph) {
  auto x = parameter(td::ones({2, 3}));
  auto w = parameter(td::ones({3, 4}));
  auto y = gelu(matmul(x, w));
  std::ostringstream os;
  to_dot(y, os);
  const auto s = os.str();
  BOOST_TEST(s.find("digraph bijgan") != std::string::npos);
  BOOST_TEST(s.find("gelu\\n[2, 4]") != std::string::npos);
  BOOST_TEST(s.find("matmul") != std::string::npos);
  BOOST_TEST(s.find("fillcolor=lightblue") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(float_readme_example) {
  rng gen(5);
  auto x = constant(tensor<float>::random({16, 8}, gen, {distribution::normal, 0, 1}));
  auto w = parameter(tensor<float>::random({8, 4}, gen, {distribution::normal, 0, 0.3f}));
  auto b = parameter(tensor<float>::zeros({4}));
  auto y = gelu(matmul(x, w) + b);
  backward(sum(y));
  BOOST_TEST(w.grad().shape() == (shape{8, 4}));
  BOOST_TEST(b.grad().shape() == (shape{4}));
  BOOST_TEST(!x.grad().defined());
  // Gradient of sum(gelu(xw + b)) w.r.t. b equals the column sums of gelu'(xw + b).
  const auto pre = matmul(x, w) + b;
  const auto d = grad(sum(gelu(pre)), pre);
  const auto colsum = reduce(reduce_kind::sum, d.value(), std::vector<index_t>{0}, false).to_vector();
  const auto gb = b.grad().to_vector();
  for (std::size_t i = 0; i < 4; ++i) BOOST_TEST(std::abs(colsum[i] - gb[i]) < 1e-5f);
}

// checkpoint: a two-output segment y = tanh(x W + b), l = sum(y^2) per row, on a non-leaf input.
namespace {
struct segment {
  vd w, b;
  std::vector<vd> operator()(const std::vector<vd>& in) const {
    const auto y = tanh(matmul(in[0], w) + b);
    return {y, sum(square(y), {1})};
  }
};
}  // namespace

BOOST_AUTO_TEST_CASE(checkpoint_equals_the_plain_graph) {
  rng gen(21);
  const auto x0 = td::random({4, 3}, gen, {distribution::normal, 0, 1});
  const auto w0 = td::random({3, 5}, gen, {distribution::normal, 0, 0.8});
  const auto b0 = td::random({5}, gen, {distribution::normal, 0, 0.3});
  // loss(x, w, b) through the segment (plain or checkpointed) with a use of each output.
  const auto loss = [](const std::vector<vd>& p, bool recompute) {
    const segment f{p[1], p[2]};
    const auto h = exp(p[0] * 0.5);  // the segment's input is an interior node
    const auto outs = recompute ? checkpoint(f, {h}, {f.w, f.b}) : f({h});
    return sum(outs[0] * outs[0] * 3.0) + sum(outs[1]);
  };
  std::vector<vd> a, b;
  for (const auto& t : {x0, w0, b0}) a.push_back(parameter(t)), b.push_back(parameter(t));
  backward(loss(a, false));
  backward(loss(b, true));
  for (std::size_t i = 0; i < 3; ++i) {
    const auto u = a[i].grad().to_vector(), v = b[i].grad().to_vector();
    BOOST_REQUIRE(u.size() == v.size());
    for (std::size_t j = 0; j < u.size(); ++j) BOOST_TEST(std::abs(u[j] - v[j]) < 1e-12);
  }
  // Second order: the gradient-penalty shape (‖∂loss/∂x‖ − 1)² differentiated in w and b.
  const auto penalty = [&](const std::vector<vd>& p, bool recompute) {
    const auto x = parameter(x0);
    const auto gx = grad(loss({x, p[0], p[1]}, recompute), x, {.create_graph = true});
    return square(l2_norm(flatten(gx), {0}) - 1.0);
  };
  const std::vector<vd> pw{a[1], a[2]};
  const auto plain = grad(std::vector{penalty(pw, false)}, pw), rec = grad(std::vector{penalty(pw, true)}, pw);
  for (std::size_t i = 0; i < 2; ++i) {
    const auto u = plain[i].value().to_vector(), v = rec[i].value().to_vector();
    for (std::size_t j = 0; j < u.size(); ++j) BOOST_TEST(std::abs(u[j] - v[j]) < 1e-12);
  }
  // Finite differences, first and second order, on the checkpointed function.
  const auto r =
      testing::gradcheck([&](const std::vector<vd>& p) { return loss(p, true); }, {x0, w0, b0}, {.second_order = true});
  BOOST_TEST(r.passed, r.message);
}

BOOST_AUTO_TEST_CASE(checkpoint_keeps_no_intermediate_nodes) {
  rng gen(22);
  auto x = parameter(td::random({2, 3}, gen, {distribution::normal, 0, 1}));
  const segment f{parameter(td::random({3, 3}, gen, {distribution::normal, 0, 1})), parameter(td::zeros({3}))};
  const auto deep = [&f](const std::vector<vd>& in) {
    auto v = in[0];
    for (int i = 0; i < 10; ++i) v = f({v})[0];
    return std::vector<vd>{v};
  };
  const auto plain = detail::reverse_topological(std::vector{sum(deep({x})[0])}).size();
  const auto kept = detail::reverse_topological(std::vector{sum(checkpoint(deep, {x}, {f.w, f.b})[0])}).size();
  BOOST_TEST(plain == 34u);  // 10 x (matmul, add, tanh), x, w, b, sum
  BOOST_TEST(kept <= 7u);    // sum, reshape, slice, the checkpoint node, x, w, b
  // Nested: a checkpoint inside a checkpointed function; duplicate inputs count once.
  const auto nested = [&](const std::vector<vd>& in) {
    return std::vector<vd>{checkpoint(f, {in[0]}, {f.w, f.b})[1] + sum(in[1], {1})};
  };
  const auto via = checkpoint(nested, {x, x}, {f.w, f.b})[0];
  const auto direct = f({x})[1] + sum(x, {1});
  const auto g1 = grad(std::vector{sum(via)}, std::vector{x, f.w}),
             g2 = grad(std::vector{sum(direct)}, std::vector{x, f.w});
  for (std::size_t i = 0; i < 2; ++i) {
    const auto u = g1[i].value().to_vector(), v = g2[i].value().to_vector();
    for (std::size_t j = 0; j < u.size(); ++j) BOOST_TEST(std::abs(u[j] - v[j]) < 1e-12);
  }
}

BOOST_AUTO_TEST_CASE(checkpoint_refuses_a_var_it_was_not_given) {
  auto x = parameter(td::ones({2, 3}));
  const segment f{parameter(td::ones({3, 3})), parameter(td::zeros({3}))};
  BOOST_CHECK_EXCEPTION(checkpoint(f, {x}, {f.w}), value_error, [](const value_error& e) {
    const std::string m = e.what();
    return m.find("checkpoint") != std::string::npos && m.find("[3]") != std::string::npos &&
           m.find("params") != std::string::npos;
  });
  // Under no_grad, or with nothing to differentiate, it is f itself: no node.
  {
    const no_grad off;
    BOOST_TEST(checkpoint(f, {x}, {f.w, f.b})[0].is_leaf());
  }
  const segment fixed{constant(td::ones({3, 3})), constant(td::zeros({3}))};
  BOOST_TEST(!checkpoint(fixed, {constant(td::ones({2, 3}))})[0].requires_grad());
  // An unused output gets no gradient and costs nothing; a non-deterministic f is caught.
  BOOST_TEST(grad(sum(checkpoint(f, {x}, {f.w, f.b})[1]), x).value().numel() == 6);
  int calls = 0;
  const auto flaky = [&](const std::vector<vd>& in) {
    return ++calls == 1 ? std::vector<vd>{in[0] * 2.0} : std::vector<vd>{in[0] * 2.0, in[0]};
  };
  BOOST_CHECK_THROW(backward(sum(checkpoint(flaky, {x})[0])), value_error);
  BOOST_TEST(x.grad().defined() == false);
}

BOOST_AUTO_TEST_SUITE_END()
