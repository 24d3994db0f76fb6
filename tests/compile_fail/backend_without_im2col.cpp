// Must NOT compile: a backend that lacks a kernel (here im2col, which convolution needs) is
// rejected where a tensor on it is formed, and the compiler's message names the missing kernel
// (tests/CMakeLists.txt checks it). No op ever falls back to the host silently.
#include <bijgan/bijgan.hpp>

struct my_backend : bijgan::archetype_backend {
  static constexpr const char* name = "mine";
  template <class T>
  static void im2col(const bijgan::conv_geometry&, const T*, T*) = delete;
};

int main() {
  bijgan::tensor<float, my_backend> t(bijgan::shape{2, 3});
  (void)t;
}
