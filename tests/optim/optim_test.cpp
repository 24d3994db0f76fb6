// Optimizers against PyTorch's trajectories (tests/data/optim_reference.json, produced by
// tools/reference/optim_reference.py), schedules, clipping, EMA, parameter groups, and state
// that survives a checkpoint round trip.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/io/json.hpp>
#include <bijgan/io/safetensors.hpp>
#include <bijgan/nn/nn.hpp>
#include <bijgan/optim/optim.hpp>

#include <cmath>
#include <filesystem>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;

namespace optim_test {

const io::json& reference() {
  static const io::json j = io::read_json(std::filesystem::path(BIJGAN_TEST_DATA_DIR) / "optim_reference.json");
  return j;
}
std::vector<double> numbers(const io::json& a) {
  std::vector<double> v;
  for (const auto& x : a.items()) v.push_back(x.number());
  return v;
}

/// The reference loss: 0.5 * sum(c p^2) + sum(d p) + 0.1 * sum(p^4).
vd loss(const vd& p) {
  const auto& m = reference().at("meta");
  const auto c = constant(td::from(numbers(m.at("c")), {6})), d = constant(td::from(numbers(m.at("d")), {6}));
  return 0.5 * sum(c * square(p)) + sum(d * p) + 0.1 * sum(pow(p, 4.0));
}

/// Runs `steps` steps with opt on p, comparing with the named trajectory after each.
template <class Opt, class Before>
void replay(const char* name, Opt& opt, const vd& p, Before before) {
  const auto& traj = reference().at("trajectories").at(name).items();
  for (std::size_t k = 0; k < traj.size(); ++k) {
    opt.zero_grad();
    backward(loss(p));
    before(static_cast<long>(k));
    opt.step();
    const auto got = p.value().to_vector(), want = numbers(traj[k]);
    double err = 0;
    for (std::size_t i = 0; i < want.size(); ++i) err = std::max(err, std::abs(got[i] - want[i]));
    BOOST_TEST(err < 1e-12, name << " step " << k + 1 << ": max error " << err);
  }
}

vd start() { return parameter(td::from(numbers(reference().at("meta").at("p0")), {6})); }

}  // namespace optim_test

BOOST_AUTO_TEST_SUITE(optim_suite)
using namespace optim_test;

BOOST_AUTO_TEST_CASE(trajectories_match_pytorch) {
  const auto none = [](long) {};
  {
    auto p = start();
    optim::adam<double> o({p}, {.lr = 0.1});
    replay("adam", o, p, none);
  }
  {
    auto p = start();
    optim::adam<double> o({p}, {.lr = 0.05, .weight_decay = 0.1});
    replay("adam_l2", o, p, none);
  }
  {
    auto p = start();
    optim::adamw<double> o({p}, {.lr = 0.05, .weight_decay = 0.1});
    replay("adamw", o, p, none);
  }
  {
    auto p = start();
    optim::amsgrad<double> o({p}, {.lr = 0.1});
    replay("amsgrad", o, p, none);
  }
  {
    auto p = start();
    optim::sgd<double> o({p}, {.lr = 0.05, .momentum = 0.9, .dampening = 0.1});
    replay("sgd_momentum", o, p, none);
  }
  {
    auto p = start();
    optim::sgd<double> o({p}, {.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01, .nesterov = true});
    replay("sgd_nesterov", o, p, none);
  }
  {
    auto p = start();
    optim::adam<double> o({p}, {.lr = 0.1, .beta1 = 0.0, .beta2 = 0.99});
    const optim::linear_schedule sched{.warmup_steps = 3, .decay_start = 3, .total_steps = 10, .final_factor = 0.1};
    replay("adam_gan_clip_schedule", o, p, [&](long k) {
      o.set_lr_factor(sched(k));
      optim::clip_grad_norm(std::vector{p}, 1.0);
    });
  }
}

BOOST_AUTO_TEST_CASE(groups_schedules_clipping) {
  // Two groups: the second with its own learning rate; plain SGD makes the effect exact.
  auto a = parameter(td::ones({2})), b = parameter(td::ones({2}));
  optim::sgd<double> o(std::vector<optim::param_group<double>>{{{a}, {}, {}}, {{b}, 0.5, {}}}, {.lr = 0.1});
  backward(sum(a) + sum(b));
  o.step();
  BOOST_TEST(a.value().to_vector() == (std::vector<double>{0.9, 0.9}), boost::test_tools::per_element());
  BOOST_TEST(b.value().to_vector() == (std::vector<double>{0.5, 0.5}), boost::test_tools::per_element());
  o.set_lr_factor(0.5);
  BOOST_TEST(o.lr(0) == 0.05);
  BOOST_TEST(o.lr(1) == 0.25);
  BOOST_TEST(o.steps() == 1);

  const optim::linear_schedule s{.warmup_steps = 4, .decay_start = 0, .total_steps = 14, .final_factor = 0};
  BOOST_TEST(s(0) == 0.25);
  BOOST_TEST(s(3) == 1.0);
  BOOST_TEST(std::abs(s(9) - 0.5) < 1e-15);
  BOOST_TEST(s(20) == 0.0);

  // Clipping: gradients (3, 4) have norm 5; clipped to 1 they become (0.6, 0.8).
  auto c = parameter(td::zeros({2}));
  c.set_grad(td::from(std::vector<double>{3, 4}, {2}));
  BOOST_TEST(optim::clip_grad_norm(std::vector{c}, 1.0) == 5.0);
  const auto g = c.grad().to_vector();
  BOOST_TEST(std::abs(g[0] - 0.6) < 1e-6);
  BOOST_TEST(std::abs(g[1] - 0.8) < 1e-6);
  BOOST_CHECK_THROW(optim::adam<double>({constant(td::ones({1}))}), value_error);
  BOOST_CHECK_THROW(optim::adam<double>({a}, {.beta1 = 1.0}), value_error);
}

BOOST_AUTO_TEST_CASE(ema_of_weights) {
  nn::linear<double> net({.in = 2, .out = 1});
  optim::ema avg(net, 0.9, optim::ema_warmup::off);
  const auto w0 = net.weight.value().to_vector();
  // Modules are handles: the average holds its own copy.
  BOOST_TEST(!avg.module().weight.value().shares_storage_with(net.weight.value()));
  net.weight.set_value(td::from(std::vector<double>{w0[0] + 1, w0[1] + 2}, {1, 2}));
  avg.update(net);
  const auto w = avg.module().weight.value().to_vector();
  BOOST_TEST(std::abs(w[0] - (w0[0] + 0.1)) < 1e-12);
  BOOST_TEST(std::abs(w[1] - (w0[1] + 0.2)) < 1e-12);
  BOOST_TEST(avg.updates() == 1);
}

BOOST_AUTO_TEST_CASE(ema_warmup_ramps_the_decay) {
  // d_t = min(decay, (1 + t) / (10 + t)): 2/11 at the first update, the ceiling from t = 8990 on
  // for 0.999; the count survives a checkpoint.
  nn::linear<double> net({.in = 1, .out = 1});
  optim::ema avg(net, 0.999);
  BOOST_TEST(std::abs(avg.next_decay() - 2.0 / 11) < 1e-15);
  const double w0 = net.weight.value().item();
  net.weight.set_value(td::from(std::vector<double>{w0 + 11}, {1, 1}));
  avg.update(net);
  BOOST_TEST(std::abs(avg.module().weight.value().item() - (w0 + 9)) < 1e-12);  // moves 9/11 of the way
  BOOST_TEST(std::abs(avg.next_decay() - 3.0 / 12) < 1e-15);
  io::state_dict sd;
  sd.put_module("ema", avg);
  optim::ema restored(net, 0.999);
  sd.load_module("ema", restored);
  BOOST_TEST(restored.updates() == 1);
  BOOST_TEST(restored.module().weight.value().item() == avg.module().weight.value().item());
  for (int i = 1; i < 9000; ++i) avg.update(net);
  BOOST_TEST(avg.next_decay() == 0.999);
}

BOOST_AUTO_TEST_CASE(optimizer_state_round_trips_through_a_checkpoint) {
  // Train 3 steps, save model + optimizer, continue 2 steps; restore into fresh objects and
  // continue 2 steps: the parameters agree exactly.
  auto fresh = [] {
    nn::manual_seed(3);
    return nn::linear<double>({.in = 3, .out = 2});
  };
  const auto x = constant(td::from(std::vector<double>{1, 2, 3, -1, 0, 1}, {2, 3}));
  auto train = [&](auto& net, auto& opt, int n) {
    for (int i = 0; i < n; ++i) {
      opt.zero_grad();
      backward(sum(square(net(x))));
      opt.step();
    }
  };
  auto net = fresh();
  optim::amsgrad<double> opt(nn::parameters(net), {.lr = 0.01});
  train(net, opt, 3);
  io::state_dict d;
  d.put_module("model", net);
  d.put_module("optimizer", opt);
  const auto path = std::filesystem::temp_directory_path() / "bijgan_optim_state.safetensors";
  io::save_safetensors(path, d);
  train(net, opt, 2);

  auto net2 = fresh();
  optim::amsgrad<double> opt2(nn::parameters(net2), {.lr = 0.01});
  const auto loaded = io::load_safetensors(path);
  loaded.load_module("model", net2);
  loaded.load_module("optimizer", opt2);
  BOOST_TEST(opt2.steps() == 3);
  train(net2, opt2, 2);
  BOOST_TEST(net2.weight.value().to_vector() == net.weight.value().to_vector(), boost::test_tools::per_element());
  std::filesystem::remove(path);
}

BOOST_AUTO_TEST_SUITE_END()
