// Must NOT compile: the method's objective (with the bijective term) handed to fit_gan without
// a bijection H. CTest checks that the compiler's message says which slot to fill
// (tests/CMakeLists.txt).
#include <bijgan/bijgan.hpp>
#include <bijgan/models/models.hpp>
#include <bijgan/train/adversarial.hpp>

using namespace bijgan;

int main() {
  constexpr models::gan_config cfg{.resolution = 8, .feature_dim = 8, .width = 4};
  models::dibigan<cfg>::generator<> g;
  models::dibigan<cfg>::critic<> d;
  train::gan_data data;
  const train::objective terms(train::reconstruction_term{}, train::bijective_term{});
  train::fit_gan(train::gan(g, d), data, {}, terms);
}
