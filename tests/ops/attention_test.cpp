// scaled_dot_product_attention: the tiled kernel against the composed ops (forward and
// gradients, for tilings that split the batch, the queries and the keys — the online softmax),
// finite-difference gradients of first and second order, masks, and its shape errors.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/testing/gradcheck.hpp>

#include <cmath>
#include <limits>

using namespace bijgan;

namespace {

template <class T>
tensor<T> normal(const shape& s, std::uint64_t seed, double sd = 1) {
  rng g(seed);
  return tensor<T>::random(s, g, {distribution::normal, T(0), static_cast<T>(sd)});
}

template <class T>
double max_abs_diff(const tensor<T>& a, const tensor<T>& b) {
  BOOST_REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector(), y = b.to_vector();
  double m = 0;
  for (std::size_t i = 0; i < x.size(); ++i) m = std::max(m, std::abs(double(x[i]) - double(y[i])));
  return m;
}

/// Tilings from "everything in one tile" to one score per tile with keys in blocks of 2.
const attention_tiling tilings[] = {
    {}, {.max_tile_elements = 64, .max_key_block = 4}, {.max_tile_elements = 1, .max_key_block = 2}};

/// Output and input gradients of sum(attention * w) for q, k, v, bias.
template <class T>
std::vector<tensor<T>> run(const std::vector<tensor<T>>& in, const tensor<T>& w, const attention_options& o,
                           bool reference) {
  std::vector<var<T>> vs;
  for (const auto& t : in) vs.emplace_back(t, true);
  const var<T> b = vs.size() > 3 ? vs[3] : var<T>();
  var<T> out;
  if (reference) {
    reference_attention scope;
    out = scaled_dot_product_attention(vs[0], vs[1], vs[2], b, o);
  } else {
    out = scaled_dot_product_attention(vs[0], vs[1], vs[2], b, o);
  }
  std::vector<tensor<T>> r{out.value()};
  for (const auto& g : grad(std::vector{sum(out * constant(w))}, vs)) r.push_back(g.value());
  return r;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(attention_suite)

BOOST_AUTO_TEST_CASE(tiled_equals_composed_for_every_tiling) {
  // q (N=3, H=2, Lq=7, d=4), k/v with Lk=9 keys, dv=5; bias per head, per batch entry, or none.
  const shape qs{3, 2, 7, 4}, ks{3, 2, 9, 4}, vs{3, 2, 9, 5};
  const std::vector<shape> biases{{}, {2, 7, 9}, {3, 1, 7, 9}, {7, 9}};
  for (const auto& bs : biases) {
    std::vector<tensor<float>> in{normal<float>(qs, 1), normal<float>(ks, 2), normal<float>(vs, 3)};
    if (bs.rank() > 0) in.push_back(normal<float>(bs, 4));
    const auto w = normal<float>({3, 2, 7, 5}, 5);
    const auto ref = run(in, w, {}, true);
    for (const auto& t : tilings) {
      BOOST_TEST_CONTEXT("bias " << bs << ", tile " << t.max_tile_elements << ", key block " << t.max_key_block) {
        const auto got = run(in, w, {.tiling = t}, false);
        BOOST_REQUIRE_EQUAL(got.size(), ref.size());
        for (std::size_t i = 0; i < got.size(); ++i) BOOST_TEST(max_abs_diff(got[i], ref[i]) < 2e-5, "tensor " << i);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(large_scores_stay_finite) {
  // Scores of +-200 overflow exp in float; the row maximum (and its online update) keeps them.
  const auto q = constant(normal<float>({1, 1, 4, 2}, 6, 10)), k = constant(normal<float>({1, 1, 6, 2}, 7, 10));
  const auto v = constant(normal<float>({1, 1, 6, 3}, 8));
  const auto fast =
      scaled_dot_product_attention(q, k, v, {}, {.scale = 1, .tiling = {.max_tile_elements = 1, .max_key_block = 2}});
  reference_attention scope;
  const auto ref = scaled_dot_product_attention(q, k, v, {}, {.scale = 1});
  BOOST_TEST(all_finite(fast.value()));
  BOOST_TEST(max_abs_diff(fast.value(), ref.value()) < 1e-5);
}

BOOST_AUTO_TEST_CASE(masked_keys_and_fully_masked_rows) {
  // A mask bias hides keys 0..3 from every query and all keys from query 2: the visible keys
  // get all the weight, and the fully masked row gives 0 (not NaN), in every tiling.
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<float> mask(4 * 6, 0.0f);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j)
      if (j < 4 || i == 2) mask[static_cast<std::size_t>(i * 6 + j)] = -inf;
  const auto bias = constant(tensor<float>::from(mask, {1, 1, 4, 6}));
  const auto q = var<float>(normal<float>({2, 1, 4, 3}, 9), true),
             k = var<float>(normal<float>({2, 1, 6, 3}, 10), true);
  const auto v = var<float>(normal<float>({2, 1, 6, 2}, 11), true);
  const auto k_visible = slice(k, 2, 4, 6), v_visible = slice(v, 2, 4, 6);
  var<float> expected;
  {
    reference_attention scope;
    expected = scaled_dot_product_attention(q, k_visible, v_visible);
  }
  for (const auto& t : tilings) {
    BOOST_TEST_CONTEXT("tile " << t.max_tile_elements << ", key block " << t.max_key_block) {
      const auto out = scaled_dot_product_attention(q, k, v, bias, {.tiling = t});
      const auto got = out.value().to_vector(), want = expected.value().to_vector();
      for (std::size_t i = 0; i < got.size(); ++i) {
        const bool masked_row = (i / 2) % 4 == 2;  // (N, H, Lq, dv) = (2, 1, 4, 2)
        if (masked_row)
          BOOST_TEST(got[i] == 0.0f, "element " << i);
        else
          BOOST_TEST(std::abs(got[i] - want[i]) < 1e-5f, "element " << i);
      }
      const auto g = grad(std::vector{sum(out * out)}, std::vector{q, k, v});
      for (const auto& gi : g) BOOST_TEST(all_finite(gi.value()));
      // No gradient reaches the hidden keys.
      const auto gk = g[1].value().to_vector();
      for (std::size_t i = 0; i < gk.size(); ++i)
        if ((i / 3) % 6 < 4) BOOST_TEST(gk[i] == 0.0f, "key gradient " << i);
    }
  }
}

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences_first_and_second_order) {
  using vd = var<double>;
  using args = std::vector<vd>;
  const attention_options split{.tiling = {.max_tile_elements = 3, .max_key_block = 2}};
  struct c {
    const char* name;
    testing::checked_fn f;
    std::vector<tensor<double>> inputs;
  };
  const std::vector<c> cases{
      {"no bias",
       [](const args& v) { return scaled_dot_product_attention(v[0], v[1], v[2]); },
       {normal<double>({2, 2, 3, 2}, 12), normal<double>({2, 2, 5, 2}, 13), normal<double>({2, 2, 5, 3}, 14)}},
      {"head bias, split tiles",
       [split](const args& v) { return scaled_dot_product_attention(v[0], v[1], v[2], v[3], split); },
       {normal<double>({2, 2, 3, 2}, 15), normal<double>({2, 2, 5, 2}, 16), normal<double>({2, 2, 5, 3}, 17),
        normal<double>({2, 3, 5}, 18)}},
      {"batch bias, split tiles, scale 0.7",
       [split](const args& v) {
         auto o = split;
         o.scale = 0.7;
         return scaled_dot_product_attention(v[0], v[1], v[2], v[3], o);
       },
       {normal<double>({2, 1, 3, 2}, 19), normal<double>({2, 1, 4, 2}, 20), normal<double>({2, 1, 4, 2}, 21),
        normal<double>({2, 1, 3, 4}, 22)}},
  };
  for (const auto& cs : cases) {
    BOOST_TEST_CONTEXT("attention " << cs.name) {
      const auto r = testing::gradcheck(cs.f, cs.inputs, {.second_order = true});
      BOOST_TEST(r.passed, r.message);
      BOOST_TEST(r.checked > 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(only_wanted_gradients_are_computed) {
  // Gradients toward q alone (k, v constants) equal the q part of the full gradient.
  const auto q = var<float>(normal<float>({1, 2, 5, 4}, 23), true);
  const auto k = constant(normal<float>({1, 2, 6, 4}, 24)), v = constant(normal<float>({1, 2, 6, 4}, 25));
  const auto kv = var<float>(k.value(), true);
  const auto gq = grad(std::vector{sum(square(scaled_dot_product_attention(q, k, v)))}, std::vector{q});
  const auto both = grad(std::vector{sum(square(scaled_dot_product_attention(q, kv, v)))}, std::vector{q, kv});
  BOOST_TEST(max_abs_diff(gq[0].value(), both[0].value()) == 0.0);
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_op) {
  const auto q = constant(tensor<float>::zeros({2, 2, 3, 4})), k = constant(tensor<float>::zeros({2, 2, 5, 4}));
  const auto v = constant(tensor<float>::zeros({2, 2, 5, 6}));
  const auto names_op = [](const std::exception& e) {
    return std::string(e.what()).find("scaled_dot_product_attention") != std::string::npos;
  };
  BOOST_CHECK_EXCEPTION(scaled_dot_product_attention(q, constant(tensor<float>::zeros({2, 2, 5, 3})), v), shape_error,
                        names_op);
  BOOST_CHECK_EXCEPTION(scaled_dot_product_attention(q, k, constant(tensor<float>::zeros({2, 2, 4, 6}))), shape_error,
                        names_op);
  BOOST_CHECK_EXCEPTION(scaled_dot_product_attention(reshape(q, {4, 3, 4}), k, v), shape_error, names_op);
  BOOST_CHECK_EXCEPTION(scaled_dot_product_attention(q, k, v, constant(tensor<float>::zeros({3, 3, 5}))), shape_error,
                        names_op);
  BOOST_CHECK_EXCEPTION(scaled_dot_product_attention(q, k, v, constant(tensor<float>::zeros({2, 3, 4}))), shape_error,
                        names_op);
  BOOST_CHECK_EXCEPTION(scaled_dot_product_attention(q, k, v, {}, {.scale = -1}), value_error, names_op);
  BOOST_CHECK_EXCEPTION(scaled_dot_product_attention(q, k, v, {}, {.tiling = {.max_tile_elements = 0}}), value_error,
                        names_op);
}

BOOST_AUTO_TEST_SUITE_END()
