// The smallest program against an installed bijgan: one layer, one backward pass, checked.
#include <bijgan/bijgan.hpp>

#include <cmath>
#include <iostream>
#include <string_view>

int main() {
  using namespace bijgan;
  rng gen(42);
  auto x = parameter(tensor<float>::random({8, 4}, gen, {distribution::normal, 0, 1}));
  auto w = parameter(tensor<float>::random({4, 3}, gen, {distribution::normal, 0, 1}));
  auto b = parameter(tensor<float>::zeros({3}));
  auto y = gelu(matmul(x, w) + b);
  backward(sum(y));
  // d sum(y) / d b = sum over rows of gelu'(xw + b): positive and finite.
  const auto gb = b.grad().to_vector();
  bool ok = gb.size() == 3 && std::isfinite(gb[0]) && w.grad().shape() == shape{4, 3};
#ifdef BIJGAN_PACKAGE_VERSION
  // The headers and the package config must carry the same version (config/version.hpp is read
  // by CMake for both).
  if (std::string_view(version_string) != BIJGAN_PACKAGE_VERSION) {
    std::cout << "headers say " << version_string << ", the package config " << BIJGAN_PACKAGE_VERSION << "\n";
    ok = false;
  }
#endif
  std::cout << "bijgan " << version_string << " consumer: " << (ok ? "ok" : "FAILED") << "\n";
  return ok ? 0 : 1;
}
