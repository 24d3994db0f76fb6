// Must NOT compile: a user generator without noise_dim handed to the trainer. CTest checks that
// the compiler's message names the missing member (tests/CMakeLists.txt).
#include <bijgan/bijgan.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>

using namespace bijgan;

struct my_generator {
  using value_type = float;
  using backend_type = host;
  static constexpr index_t feature_dim = 8;
  static constexpr std::array<index_t, 3> image_shape{1, 8, 8};
  nn::linear<float> layer{{.in = 8, .out = 64}};
  var<float> operator()(const var<float>& f, const var<float>&) const {
    return reshape(layer(f), shape{f.size(0), 1, 8, 8});
  }
  template <class F>
  void visit(F&& f) {
    f("layer", layer);
  }
};

int main() {
  constexpr models::gan_config cfg{.resolution = 8, .feature_dim = 8, .width = 4};
  my_generator g;
  models::dibigan<cfg>::critic<> d;
  train::gan_data data;
  train::fit_gan(train::gan(g, d), data, {}, train::objective(train::reconstruction_term{}));
}
