// A tour of flows/ (docs/flows.md shows its marked regions): write a bijection of your own,
// check it with the flow-invariant fixture, drop it into a composition with the library's
// steps, train the composition by class-conditional NLL for a few steps and sample from it.
// Runs in a second; CTest runs it (exit 1 when a check fails).
#include <bijgan/bijgan.hpp>
#include <bijgan/flows/flows.hpp>
#include <bijgan/optim/optim.hpp>
#include <bijgan/testing/flow_check.hpp>

#include <cmath>
#include <iostream>

using namespace bijgan;

// [docs:custom]
/// A user's bijection: y = x + a·tanh(x) elementwise with a learned a ∈ (−1, 1) (kept there by
/// a = tanh(raw)), so dy/dx = 1 + a·(1 − tanh²x) > 0. The inverse has no closed form: Newton's
/// method, 30 steps, which converges to round-off on this monotone map.
template <class T = double, class B = host>
struct tanh_shear {
  using value_type = T;
  using backend_type = B;
  var<T, B> raw = parameter(tensor<T, B>::full(shape{1}, T(0.3)));

  flows::flow_result<T, B> forward(const var<T, B>& x) const {
    const auto a = tanh(raw), th = tanh(x);
    axes_t rest;
    for (std::size_t i = 1; i < x.rank(); ++i) rest.push_back(static_cast<index_t>(i));
    const auto slope = T(1) + a * (T(1) - square(th));
    return {x + a * th, sum(log(slope), rest)};
  }
  var<T, B> inverse(const var<T, B>& y) const {
    const auto a = tanh(raw);
    var<T, B> x = y;
    for (int i = 0; i < 30; ++i) {  // Newton: x -= (x + a·tanh x − y) / (1 + a·(1 − tanh² x))
      const auto th = tanh(x);
      x = x - (x + a * th - y) / (T(1) + a * (T(1) - square(th)));
    }
    return x;
  }
  template <class F>
  void visit(F&& f) {
    f("raw", raw);
  }
};
static_assert(flows::check_bijection<tanh_shear<>>());  // names any missing piece
// [docs:custom]

int main() {
  bool ok = true;
  rng g(1);
  nn::manual_seed(1);
  // [docs:check]
  // The fixture: inverse(forward(x)) == x and the log-det equals log|det J| of the full
  // Jacobian, computed by brute force (double, small input).
  const auto x = tensor<double>::random({2, 2, 4, 4}, g, {distribution::normal, 0, 1});
  const auto check = testing::check_flow(tanh_shear<>{}, x);
  std::cout << "tanh_shear: " << (check.passed ? "passes" : check.message) << " (round trip " << check.inverse_error
            << ", log-det " << check.logdet_error << ")\n";
  // [docs:check]
  ok = ok && check.passed;

  // [docs:compose]
  // Library steps and the user's step compose with `|`; log-dets add and parameters get
  // dotted names ("2.net.head.weight", "4.raw").
  auto conditioner = [](index_t c) {
    return nn::conv_resnet<double>({.in = c, .out = 2 * c, .width = 8, .blocks = 1});
  };
  using coupling = flows::affine_coupling<decltype(conditioner(2))>;
  auto flow = flows::actnorm<double>(2) | flows::invertible_conv1x1<double>(2) |
              coupling(2, conditioner(2), {.mask = flows::mask_kind::checkerboard, .parity = 0}) |
              flows::squeeze<double>{} | tanh_shear<>{};
  static_assert(flows::check_bijection<decltype(flow)>());
  // [docs:compose]

  // [docs:train]
  // Class-conditional maximum likelihood: −log N(z; μ_c, I) − log-det, μ_c = δ(c − C/2)·1.
  const flows::class_gaussian<double> prior{.classes = 2, .dim = 32, .delta = 0.5};
  const std::vector<index_t> labels{0, 1, 0, 1, 0, 1, 0, 1};
  auto data = tensor<double>::random({8, 2, 4, 4}, g, {distribution::normal, 0, 1});
  flow.forward(constant(data));  // the first batch initialises ActNorm from the data
  optim::adam<double> opt(nn::parameters(flow), {.lr = 1e-2});
  double first = 0, last = 0;
  for (int step = 0; step < 40; ++step) {
    opt.zero_grad();
    const auto r = flow.forward(constant(data));
    const auto nll = mean(-(prior.log_prob(flatten(r.z), labels) + r.logdet));
    backward(nll);
    opt.step();
    (step == 0 ? first : last) = nll.item();
  }
  // Sampling: draw from each class prior and invert the flow.
  const auto z = prior.sample({0, 1}, g).reshape(shape{2, 8, 2, 2});
  const auto images = flows::sample(flow, z);  // (2, 2, 4, 4)
  // [docs:train]
  std::cout << "NLL " << first << " -> " << last << " over 40 Adam steps; sampled " << images.shape() << "\n";
  ok = ok && last < first && images.shape() == shape{2, 2, 4, 4};
  const auto whole = testing::check_flow(flow, x);
  std::cout << "the trained composition " << (whole.passed ? "passes" : whole.message) << " the fixture\n";
  ok = ok && whole.passed;
  return ok ? 0 : 1;
}
