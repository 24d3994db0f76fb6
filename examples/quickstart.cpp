// The README's first program: a dense layer with GELU, its gradients, a second-order gradient
// (what the WGAN-GP penalty needs) and the graph in Graphviz form. Run by CTest (quickstart).
#include <bijgan/bijgan.hpp>

#include <fstream>
#include <iostream>

int main() {
  // [docs:quickstart]
  using namespace bijgan;
  rng gen(42);  // counter-based Philox: the same stream on host and CUDA
  auto x = constant(tensor<float>::random({8, 4}, gen, {distribution::normal, 0, 1}));
  auto w = parameter(tensor<float>::random({4, 3}, gen, {distribution::truncated_normal, 0, 0.5f}));
  auto b = parameter(tensor<float>::zeros({3}));

  auto y = gelu(matmul(x, w) + b);  // records the graph
  backward(sum(y));                 // fills w.grad() and b.grad()
  std::cout << "dL/db = " << b.grad().to_vector()[0] << " ...\n";

  // Gradients of gradients: d/dw of ||d sum(y) / dx||^2, as in a gradient penalty.
  auto xi = parameter(x.value());
  auto gx = grad(sum(gelu(matmul(xi, w) + b)), xi, {.create_graph = true});
  auto penalty = sum(square(gx));
  auto dw = grad(penalty, w);
  std::cout << "d penalty / dw has shape " << dw.shape() << "\n";

  std::ofstream dot("quickstart_graph.dot");
  to_dot(penalty, dot);  // render with: dot -Tpng quickstart_graph.dot -o graph.png
  // [docs:quickstart]
  return dw.shape() == shape{4, 3} ? 0 : 1;
}
