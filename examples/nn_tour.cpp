// A tour of the nn, optim and io areas (the code shown in docs/nn.md): a module of your own
// with visit(), composition, training with Adam and a schedule, a checkpoint that round-trips,
// and a blackbox engine. Runs in well under a second; registered as a test.
#include <bijgan/bijgan.hpp>

#include <filesystem>
#include <iostream>

using namespace bijgan;

// [docs:module]
// A module is a struct: its parameters and sub-modules, an options aggregate, a forward, and
// visit() naming each member. Everything else (parameters(), named paths, train()/eval(),
// checkpoints) is derived from visit().
struct residual_mlp_options {
  index_t dim = 64;
  index_t hidden = 256;
};

template <class T = float, class B = host>
struct residual_mlp {
  using value_type = T;
  using backend_type = B;
  residual_mlp_options options;
  nn::layer_norm<T, B> norm;
  nn::linear<T, B> up, down;

  explicit residual_mlp(const residual_mlp_options& o, rng& g = nn::default_rng())
      : options(o),
        norm({.features = o.dim}, g),
        up({.in = o.dim, .out = o.hidden}, g),
        down({.in = o.hidden, .out = o.dim}, g) {}

  var<T, B> operator()(const var<T, B>& x) const { return x + down(gelu(up(norm(x)))); }

  template <class F>
  void visit(F&& f) {
    f("norm", norm);
    f("up", up);
    f("down", down);
  }
};
// [docs:module]

int main() {
  try {
    // [docs:compose]
    nn::manual_seed(7);
    auto net = nn::linear({.in = 16, .out = 64}) | nn::act::gelu{} | residual_mlp<>({.dim = 64}) |
               nn::linear({.in = 64, .out = 1});
    for (const auto& [path, p] : nn::named_parameters(net)) std::cout << path << " " << p.shape() << "\n";
    std::cout << nn::parameter_count(net) << " parameters\n";  // 0.weight [64, 16] ... 3.bias [1]
    // [docs:compose]

    // [docs:train]
    rng gen(1);
    const auto x = constant(tensor<float>::random({256, 16}, gen, {distribution::normal, 0, 1}));
    const auto y = constant(tensor<float>::random({256, 1}, gen, {distribution::normal, 0, 1}));
    optim::adamw opt(nn::parameters(net), {.lr = 3e-3, .weight_decay = 1e-4});
    const optim::linear_schedule schedule{.warmup_steps = 10, .total_steps = 200, .final_factor = 0.1};
    optim::ema average(net, 0.99);
    double first = 0, last = 0;
    for (long step = 0; step < 200; ++step) {
      opt.set_lr_factor(schedule(step));
      opt.zero_grad();
      const auto loss = mean(square(net(x) - y));
      backward(loss);
      optim::clip_grad_norm(nn::parameters(net), 1.0);
      opt.step();
      average.update(net);
      (step == 0 ? first : last) = loss.item();
    }
    std::cout << "loss " << first << " -> " << last << "\n";
    // [docs:train]

    // [docs:checkpoint]
    const auto path = std::filesystem::temp_directory_path() / "nn_tour.safetensors";
    io::state_dict ckpt;
    ckpt.put_module("model", net);
    ckpt.put_module("optimizer", opt);
    ckpt.put_module("ema", average);
    ckpt.metadata["step"] = "200";
    io::save_safetensors(path, ckpt);  // temp file + fsync + rename

    nn::manual_seed(99);  // a differently initialised copy...
    auto restored = nn::linear({.in = 16, .out = 64}) | nn::act::gelu{} | residual_mlp<>({.dim = 64}) |
                    nn::linear({.in = 64, .out = 1});
    io::load_safetensors(path).load_module("model", restored);  // ...now equal to net
    // [docs:checkpoint]
    const double diff = max(abs(restored(x) - net(x))).item();
    std::cout << "restored model differs by " << diff << "\n";
    std::filesystem::remove(path);
    return last < first && diff == 0 ? 0 : 1;
  } catch (const bijgan::error& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}
