// Sliding-window and resampling ops: conv2d against a direct loop over every combination of
// stride, padding, dilation and groups; conv_transpose2d as conv2d's adjoint; pooling and
// resampling against hand-computed values; finite-difference gradients (second order for the
// linear ops used inside gradient penalties).
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/testing/gradcheck.hpp>

#include <cmath>
#include <vector>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;
using args = std::vector<vd>;

namespace conv_test {

td randn(const shape& s, std::uint64_t seed) {
  rng g(seed);
  return td::random(s, g, {distribution::normal, 0, 1});
}

/// conv2d by its definition, one output element at a time.
std::vector<double> direct_conv(const td& x, const td& w, const conv2d_options& o) {
  const index_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const index_t F = w.size(0), cg = w.size(1), kh = w.size(2), kw = w.size(3), G = o.groups;
  const index_t oh = (H + 2 * o.padding - o.dilation * (kh - 1) - 1) / o.stride + 1;
  const index_t ow = (W + 2 * o.padding - o.dilation * (kw - 1) - 1) / o.stride + 1;
  const auto xv = x.to_vector(), wv = w.to_vector();
  std::vector<double> out;
  for (index_t n = 0; n < N; ++n)
    for (index_t f = 0; f < F; ++f)
      for (index_t y = 0; y < oh; ++y)
        for (index_t z = 0; z < ow; ++z) {
          double acc = 0;
          const index_t group = f / (F / G);
          for (index_t c = 0; c < cg; ++c)
            for (index_t i = 0; i < kh; ++i)
              for (index_t j = 0; j < kw; ++j) {
                const index_t iy = y * o.stride - o.padding + i * o.dilation,
                              ix = z * o.stride - o.padding + j * o.dilation;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += xv[static_cast<std::size_t>(((n * C + group * cg + c) * H + iy) * W + ix)] *
                       wv[static_cast<std::size_t>(((f * cg + c) * kh + i) * kw + j)];
              }
          out.push_back(acc);
        }
  (void)C;
  return out;
}

bool near(const std::vector<double>& got, const std::vector<double>& want, double tol = 1e-10) {
  if (got.size() != want.size()) return false;
  for (std::size_t i = 0; i < got.size(); ++i)
    if (std::abs(got[i] - want[i]) > tol * (1 + std::abs(want[i]))) return false;
  return true;
}

double dot(const td& a, const td& b) {
  const auto av = a.to_vector(), bv = b.to_vector();
  double s = 0;
  for (std::size_t i = 0; i < av.size(); ++i) s += av[i] * bv[i];
  return s;
}

BOOST_AUTO_TEST_SUITE(conv_suite)

BOOST_AUTO_TEST_CASE(conv2d_matches_the_direct_definition) {
  struct c {
    index_t cin, cout, k, h, w;
    conv2d_options o;
  };
  for (const c& t :
       {c{3, 4, 3, 7, 6, {}}, c{3, 4, 3, 7, 6, {.stride = 2, .padding = 1}},
        c{2, 3, 2, 8, 8, {.stride = 3, .padding = 2, .dilation = 2}}, c{4, 6, 3, 6, 5, {.padding = 1, .groups = 2}},
        c{4, 4, 1, 5, 5, {.groups = 4}}, c{3, 5, 1, 4, 4, {}}, c{2, 2, 5, 5, 5, {.padding = 2}}}) {
    BOOST_TEST_CONTEXT("cin " << t.cin << " cout " << t.cout << " k " << t.k << " stride " << t.o.stride << " pad "
                              << t.o.padding << " dil " << t.o.dilation << " groups " << t.o.groups) {
      const auto x = randn({2, t.cin, t.h, t.w}, 1), w = randn({t.cout, t.cin / t.o.groups, t.k, t.k}, 2);
      const auto b = randn({t.cout}, 3);
      const auto y = conv2d(constant(x), constant(w), constant(b), t.o);
      auto want = direct_conv(x, w, t.o);
      const index_t plane = static_cast<index_t>(want.size()) / (2 * t.cout);
      const auto bv = b.to_vector();
      for (std::size_t i = 0; i < want.size(); ++i) want[i] += bv[(static_cast<index_t>(i) / plane) % t.cout];
      BOOST_TEST(near(y.value().to_vector(), want));
    }
  }
}

BOOST_AUTO_TEST_CASE(many_channels_and_small_maps_match_the_direct_definition) {
  // 16 channels, maps from 2x3 to 7x5, padding 0..2: the wide (one GEMM per chunk) layout.
  for (index_t pad : {0, 1, 2})
    for (auto [h, w] : {std::pair<index_t, index_t>{7, 5}, {4, 4}, {2, 3}}) {
      if (h + 2 * pad < 3 || w + 2 * pad < 3) continue;
      BOOST_TEST_CONTEXT("pad " << pad << " size " << h << "x" << w) {
        const auto x = randn({3, 16, h, w}, 70), k = randn({17, 16, 3, 3}, 71);
        const auto y = conv2d(constant(x), constant(k), vd{}, {.padding = pad});
        BOOST_TEST(near(y.value().to_vector(), direct_conv(x, k, {.padding = pad}), 1e-12));
        // The input gradient (the transposed convolution) through the adjoint identity.
        const auto gy = randn(y.shape(), 72);
        const auto dx = conv_transpose2d(constant(gy), constant(k), vd{}, {.padding = pad});
        BOOST_TEST(std::abs(dot(y.value(), gy) - dot(x, dx.value())) < 1e-9 * (1 + std::abs(dot(y.value(), gy))));
      }
    }
  const auto r = testing::gradcheck([](const args& v) { return conv2d(v[0], v[1], {}, {.padding = 1}); },
                                    {randn({2, 16, 3, 3}, 73), randn({16, 16, 3, 3}, 74)}, {.second_order = true});
  BOOST_TEST(r.passed, r.message);
}

BOOST_AUTO_TEST_CASE(float_convolutions_match_double_in_every_pass) {
  // Host floats run on oneDNN's kernels when it is built in (BIJGAN_HAVE_DNNL), doubles always
  // on im2col + GEMM: output, input gradient and weight gradient must agree, and a second
  // backward (gradient of an input-gradient norm, as in a gradient penalty) too.
  BOOST_TEST_MESSAGE("host float convolutions: " << host_conv_provider());
  struct c {
    index_t n, cin, cout, k, h, w;
    conv2d_options o;
  };
  const std::vector<c> cases{c{4, 16, 32, 3, 12, 12, {.padding = 1}},
                             c{3, 32, 16, 4, 16, 16, {.stride = 2, .padding = 1}},
                             c{2, 32, 32, 3, 9, 7, {.padding = 2, .dilation = 2, .groups = 2}},
                             c{2, 16, 24, 1, 6, 6, {}},
                             c{2, 16, 16, 5, 11, 10, {.stride = 3, .padding = 2}},
                             c{5, 16, 16, 3, 4, 4, {.padding = 1}},
                             c{3, 3, 8, 4, 16, 16, {.stride = 2, .padding = 1}},
                             c{2, 6, 4, 3, 9, 7, {.padding = 2, .groups = 2}}};
  std::vector<index_t> thresholds{0};  // 0: the default
#if defined(BIJGAN_HAVE_DNNL)
  thresholds.push_back(16);  // the few-channel geometries back on im2col + GEMM
  const index_t default_min = host_dnnl::min_channels();
#endif
  for (index_t threshold : thresholds)
    for (const c& t : cases) {
#if defined(BIJGAN_HAVE_DNNL)
      host_dnnl::min_channels() = threshold == 0 ? default_min : threshold;
#endif
      BOOST_TEST_CONTEXT("n " << t.n << " cin " << t.cin << " cout " << t.cout << " k " << t.k << " stride "
                              << t.o.stride << " pad " << t.o.padding << " dil " << t.o.dilation << " groups "
                              << t.o.groups << " oneDNN channel threshold " << threshold) {
        const auto xd = randn({t.n, t.cin, t.h, t.w}, 80), wd = randn({t.cout, t.cin / t.o.groups, t.k, t.k}, 81);
        const auto run = [&]<class T>(const tensor<T>& xt, const tensor<T>& wt, const tensor<T>& gyt) {
          const var<T> x(xt, true), w(wt, true);
          const auto y = conv2d(x, w, var<T>{}, t.o);
          const auto gy = constant(gyt);
          const auto dx = grad(sum(y * gy), x, {.create_graph = true});
          backward(sum(y * gy) + sum(square(dx)));  // second order through the input gradient
          std::vector<std::vector<double>> out;
          for (const auto& v : {y.value(), dx.value(), x.grad(), w.grad()}) {
            const auto u = v.to_vector();
            out.emplace_back(u.begin(), u.end());
          }
          return out;
        };
        const auto to_float = [](const td& a) {
          const auto v = a.to_vector();
          return tensor<float>::from(std::vector<float>(v.begin(), v.end()), a.shape());
        };
        const auto gyd = randn(conv2d(constant(xd), constant(wd), vd{}, t.o).shape(), 82);
        // Inputs drawn once in double: a float draw of the same seed differs in its tails.
        const auto want = run(xd, wd, gyd), got = run(to_float(xd), to_float(wd), to_float(gyd));
        const char* names[] = {"output", "input gradient", "second-order input gradient", "weight gradient"};
        for (std::size_t i = 0; i < want.size(); ++i) {
          double scale = 0, err = 0;
          for (std::size_t j = 0; j < want[i].size(); ++j) {
            scale = std::max(scale, std::abs(want[i][j]));
            err = std::max(err, std::abs(got[i][j] - want[i][j]));
          }
          BOOST_TEST(err <= 1e-5 * scale, names[i] << ": max error " << err << " against a scale of " << scale);
        }
      }
    }
#if defined(BIJGAN_HAVE_DNNL)
  host_dnnl::min_channels() = default_min;
#endif
}

BOOST_AUTO_TEST_CASE(conv_transpose2d_is_the_adjoint_of_conv2d) {
  // <conv2d(x, w), y> = <x, conv_transpose2d(y, w)> for every geometry.
  for (const conv2d_options o : {conv2d_options{}, conv2d_options{.stride = 2, .padding = 1},
                                 conv2d_options{.stride = 2, .padding = 0, .dilation = 2, .groups = 2}}) {
    const auto x = randn({2, 4, 9, 9}, 4), w = randn({6, 4 / o.groups, 3, 3}, 5);
    const auto cx = conv2d(constant(x), constant(w), vd{}, o);
    const auto y = randn(cx.shape(), 6);
    const auto ty = conv_transpose2d(
        constant(y), constant(w), vd{},
        {.stride = o.stride, .padding = o.padding, .output_padding = 0, .dilation = o.dilation, .groups = o.groups});
    BOOST_TEST(ty.shape() == x.shape());
    BOOST_TEST(std::abs(dot(cx.value(), y) - dot(x, ty.value())) < 1e-9);
  }
  // output_padding picks the larger of the sizes a strided conv maps to the same input.
  const auto y = conv_transpose2d(constant(randn({1, 2, 4, 4}, 7)), constant(randn({2, 3, 3, 3}, 8)), vd{},
                                  {.stride = 2, .padding = 1, .output_padding = 1});
  BOOST_TEST(y.shape() == (shape{1, 3, 8, 8}));
}

BOOST_AUTO_TEST_CASE(pooling_values) {
  const auto x =
      constant(td::from(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, {1, 1, 4, 4}));
  BOOST_TEST(near(max_pool2d(x, {.kernel = 2}).value().to_vector(), {6, 8, 14, 16}));
  BOOST_TEST(near(avg_pool2d(x, {.kernel = 2}).value().to_vector(), {3.5, 5.5, 11.5, 13.5}));
  BOOST_TEST(near(max_pool2d(x, {.kernel = 3, .stride = 2}).value().to_vector(), {11}));
  // Padding: -inf for max, zeros counted in the mean.
  BOOST_TEST(near(max_pool2d(-x, {.kernel = 2, .stride = 2, .padding = 1}).value().to_vector(),
                  {-1, -2, -4, -5, -6, -8, -13, -14, -16}));
  BOOST_TEST(near(avg_pool2d(x, {.kernel = 2, .stride = 2, .padding = 1}).value().to_vector(),
                  {0.25, 1.25, 1, 3.5, 8.5, 5, 3.25, 7.25, 4}));
}

BOOST_AUTO_TEST_CASE(resampling_values) {
  const auto x = constant(td::from(std::vector<double>{1, 2, 3, 4}, {1, 1, 2, 2}));
  BOOST_TEST(near(upsample(x, 2).value().to_vector(), {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  // Bilinear, align_corners = false: 1-D [1, 2] -> [1, 1.25, 1.75, 2].
  const auto line = constant(td::from(std::vector<double>{1, 2}, {1, 1, 1, 2}));
  BOOST_TEST(near(resize(line, 1, 4, interpolation::bilinear).value().to_vector(), {1, 1.25, 1.75, 2}));
  // Bicubic (a = -0.75, borders clamped; values from PyTorch 1.13).
  BOOST_TEST(near(resize(line, 1, 4, interpolation::bicubic).value().to_vector(),
                  {0.89453125, 1.2265625, 1.7734375, 2.10546875}));
  // Every interpolation matrix reproduces constants (rows sum to 1).
  for (auto mode : {interpolation::nearest, interpolation::bilinear, interpolation::bicubic})
    for (auto [o, i] : {std::pair<index_t, index_t>{7, 3}, {3, 7}, {150, 120}}) {
      const auto m = interpolation_matrix<double>(o, i, mode);
      for (index_t r = 0; r < o; ++r) {
        double s = 0;
        for (index_t c = 0; c < i; ++c) s += m[static_cast<std::size_t>(r * i + c)];
        BOOST_TEST(std::abs(s - 1) < 1e-12);
      }
    }
  // At the input's own size every interpolation matrix is the identity: resize returns x itself.
  for (auto mode : {interpolation::nearest, interpolation::bilinear, interpolation::bicubic})
    for (index_t n : {1, 4, 32}) {
      const auto m = interpolation_matrix<double>(n, n, mode);
      for (index_t r = 0; r < n; ++r)
        for (index_t c = 0; c < n; ++c) BOOST_TEST(m[static_cast<std::size_t>(r * n + c)] == (r == c ? 1.0 : 0.0));
    }
  const auto same = constant(randn({2, 3, 4, 5}, 10));
  BOOST_TEST(near(resize(same, 4, 5, interpolation::bicubic).value().to_vector(), same.value().to_vector(), 0));
  // pixel_unshuffle inverts pixel_shuffle; a 2x2 block comes from 4 channels.
  const auto p = randn({2, 8, 3, 3}, 9);
  BOOST_TEST(near(pixel_unshuffle(pixel_shuffle(constant(p), 2), 2).value().to_vector(), p.to_vector(), 0));
  const auto q = constant(td::from(std::vector<double>{1, 2, 3, 4}, {1, 4, 1, 1}));
  BOOST_TEST(near(pixel_shuffle(q, 2).value().to_vector(), {1, 2, 3, 4}));
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  struct c {
    const char* name;
    testing::checked_fn f;
    std::vector<td> in;
    bool second;
  };
  const std::vector<c> cases = {
      {"conv2d stride 2 pad 1",
       [](const args& v) { return conv2d(v[0], v[1], v[2], {.stride = 2, .padding = 1}); },
       {randn({2, 3, 5, 5}, 10), randn({4, 3, 3, 3}, 11), randn({4}, 12)},
       true},
      {"conv2d groups dilation",
       [](const args& v) { return conv2d(v[0], v[1], vd{}, {.padding = 2, .dilation = 2, .groups = 2}); },
       {randn({1, 4, 5, 5}, 13), randn({2, 2, 3, 3}, 14)},
       true},
      {"conv2d 1x1",
       [](const args& v) { return conv2d(v[0], v[1]); },
       {randn({2, 3, 3, 3}, 15), randn({2, 3, 1, 1}, 16)},
       true},
      {"conv_transpose2d",
       [](const args& v) {
         return conv_transpose2d(v[0], v[1], v[2], {.stride = 2, .padding = 1, .output_padding = 1});
       },
       {randn({2, 2, 3, 3}, 17), randn({2, 3, 3, 3}, 18), randn({3}, 19)},
       true},
      {"unfold",
       [](const args& v) { return unfold(v[0], 2, 3, {.stride = 1, .padding = 1}); },
       {randn({1, 2, 3, 4}, 20)},
       true},
      {"max_pool2d",
       [](const args& v) { return max_pool2d(v[0], {.kernel = 3, .stride = 2, .padding = 1}); },
       {randn({2, 2, 5, 5}, 21)},
       false},
      {"avg_pool2d", [](const args& v) { return avg_pool2d(v[0], {.kernel = 2}); }, {randn({2, 2, 4, 6}, 22)}, true},
      {"resize bilinear",
       [](const args& v) { return resize(v[0], 5, 7, interpolation::bilinear); },
       {randn({1, 2, 3, 4}, 23)},
       true},
      {"resize bicubic down",
       [](const args& v) { return resize(v[0], 3, 2, interpolation::bicubic); },
       {randn({1, 1, 6, 5}, 24)},
       true},
      {"upsample nearest", [](const args& v) { return upsample(v[0], 2); }, {randn({1, 2, 2, 3}, 25)}, true},
      {"pixel_shuffle", [](const args& v) { return pixel_shuffle(v[0], 2); }, {randn({1, 8, 2, 3}, 26)}, true},
      {"pixel_unshuffle", [](const args& v) { return pixel_unshuffle(v[0], 2); }, {randn({1, 2, 4, 6}, 27)}, true},
      {"index_select (repeats)",
       [](const args& v) {
         return index_select(v[0], index_list<host>({2, 0, 2, 1}));
       },
       {randn({3, 2}, 28)},
       true},
      {"index_add",
       [](const args& v) {
         return index_add(v[0], index_list<host>({1, 1, 3}), 4);
       },
       {randn({3, 2}, 29)},
       true},
  };
  for (const auto& t : cases) {
    BOOST_TEST_CONTEXT("op " << t.name) {
      const auto r = testing::gradcheck(t.f, t.in, {.second_order = t.second});
      BOOST_TEST(r.passed, r.message);
    }
  }
}

BOOST_AUTO_TEST_CASE(shape_errors_say_what_is_required) {
  const auto x = constant(td::zeros({1, 3, 5, 5}));
  auto says = [](const char* what) {
    return [what](const shape_error& e) { return std::string(e.what()).find(what) != std::string::npos; };
  };
  BOOST_CHECK_EXCEPTION(conv2d(x, constant(td::zeros({4, 2, 3, 3}))), shape_error, says("bijgan::conv2d"));
  BOOST_CHECK_EXCEPTION(conv2d(x, constant(td::zeros({4, 3, 7, 7}))), shape_error, says("does not fit"));
  BOOST_CHECK_EXCEPTION(conv2d(constant(td::zeros({3, 5, 5})), constant(td::zeros({4, 3, 3, 3}))), shape_error,
                        says("rank 4"));
  BOOST_CHECK_EXCEPTION(conv2d(x, constant(td::zeros({4, 3, 3, 3})), constant(td::zeros({3}))), shape_error,
                        says("bias"));
  BOOST_CHECK_EXCEPTION(pixel_shuffle(x, 2), shape_error, says("divisible by 4"));
  BOOST_CHECK_EXCEPTION(max_pool2d(x, {.kernel = 7}), shape_error, says("max_pool2d"));
  BOOST_CHECK_EXCEPTION(index_select(constant(td::zeros({4, 2})), index_list<host>({0, 4})), shape_error,
                        says("outside [0, 4)"));
  BOOST_CHECK_EXCEPTION(index_add(constant(td::zeros({2, 2})), index_list<host>({-1, 0}), 3), shape_error,
                        says("index_add"));
}

BOOST_AUTO_TEST_SUITE_END()

}  // namespace conv_test
