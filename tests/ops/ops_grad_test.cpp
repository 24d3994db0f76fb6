// Every differentiable op: forward values against hand-computed ones, and finite-difference
// gradient checks in double (first order for all, second order for those that appear inside
// gradient penalties or other double-backprop computations).
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/testing/gradcheck.hpp>

#include <cmath>

using namespace bijgan;
using vd = var<double>;
using td = tensor<double>;
using args = std::vector<vd>;

namespace {

td normal(const shape& s, std::uint64_t seed) {
  rng g(seed);
  return td::random(s, g, {distribution::normal, 0, 1});
}
td positive(const shape& s, std::uint64_t seed) {
  rng g(seed);
  return td::random(s, g, {distribution::uniform, 0.5, 2.0});
}

struct op_case {
  const char* name;
  testing::checked_fn f;
  std::vector<td> inputs;
  bool second_order;
};

std::vector<op_case> cases() {
  const shape s{3, 4};
  // One case per line, as a table.
  // clang-format off
  return {
      {"add (broadcast)", [](const args& v) { return v[0] + v[1]; }, {normal(s, 1), normal({4}, 2)}, true},
      {"sub (broadcast)", [](const args& v) { return v[0] - v[1]; }, {normal(s, 3), normal({3, 1}, 4)}, true},
      {"mul (broadcast)", [](const args& v) { return v[0] * v[1]; }, {normal(s, 5), normal({1, 4}, 6)}, true},
      {"div (broadcast)", [](const args& v) { return v[0] / v[1]; }, {normal(s, 7), positive({4}, 8)}, true},
      {"neg", [](const args& v) { return -v[0]; }, {normal(s, 9)}, true},
      {"scalar arithmetic", [](const args& v) { return (2.0 - v[0]) * 3.0 + 1.0 / (v[0] + 4.0) - v[0] / 2.0; },
       {positive(s, 10)}, true},
      {"exp", [](const args& v) { return exp(v[0]); }, {normal(s, 11)}, true},
      {"log", [](const args& v) { return log(v[0]); }, {positive(s, 12)}, true},
      {"log1p", [](const args& v) { return log1p(v[0]); }, {positive(s, 13)}, true},
      {"sqrt", [](const args& v) { return sqrt(v[0]); }, {positive(s, 14)}, true},
      {"rsqrt", [](const args& v) { return rsqrt(v[0]); }, {positive(s, 15)}, true},
      {"pow scalar", [](const args& v) { return pow(v[0], 2.5); }, {positive(s, 16)}, true},
      {"pow var", [](const args& v) { return pow(v[0], v[1]); }, {positive(s, 17), normal({4}, 18)}, true},
      {"abs", [](const args& v) { return abs(v[0]); }, {normal(s, 19)}, true},
      {"square", [](const args& v) { return square(v[0]); }, {normal(s, 20)}, true},
      {"erf", [](const args& v) { return erf(v[0]); }, {normal(s, 21)}, true},
      {"tanh", [](const args& v) { return tanh(v[0]); }, {normal(s, 22)}, true},
      {"sigmoid", [](const args& v) { return sigmoid(v[0]); }, {normal(s, 23)}, true},
      {"relu", [](const args& v) { return relu(v[0]); }, {normal(s, 24)}, true},
      {"leaky_relu", [](const args& v) { return leaky_relu(v[0], 0.2); }, {normal(s, 25)}, true},
      {"prelu (per-channel slope)", [](const args& v) { return prelu(v[0], v[1]); },
       {normal({2, 3, 2, 2}, 40), normal({3, 1, 1}, 41)}, true},
      {"gelu", [](const args& v) { return gelu(v[0]); }, {normal(s, 26)}, true},
      {"softplus", [](const args& v) { return softplus(v[0]); }, {normal(s, 27)}, true},
      {"clamp", [](const args& v) { return clamp(v[0], -0.5, 0.7); }, {normal(s, 28)}, true},
      {"sum axes", [](const args& v) { return sum(v[0], {0}); }, {normal({3, 4, 2}, 29)}, true},
      {"sum keepdim", [](const args& v) { return sum(v[0], {0, 2}, true); }, {normal({3, 4, 2}, 30)}, true},
      {"mean", [](const args& v) { return mean(v[0], {1}); }, {normal(s, 31)}, true},
      {"max", [](const args& v) { return max(v[0], {1}); }, {normal(s, 32)}, false},
      {"min all", [](const args& v) { return min(v[0]); }, {normal(s, 33)}, false},
      {"variance", [](const args& v) { return variance(v[0], {0}); }, {normal(s, 34)}, true},
      {"logsumexp", [](const args& v) { return logsumexp(v[0], {1}); }, {normal(s, 35)}, true},
      {"softmax", [](const args& v) { return softmax(v[0], 1); }, {normal(s, 36)}, true},
      {"log_softmax", [](const args& v) { return log_softmax(v[0], 0); }, {normal(s, 37)}, true},
      {"matmul", [](const args& v) { return matmul(v[0], v[1]); }, {normal({3, 5}, 38), normal({5, 2}, 39)}, true},
      {"matmul ta", [](const args& v) { return matmul(v[0], v[1], true, false); }, {normal({5, 3}, 40), normal({5, 2}, 41)}, true},
      {"matmul tb", [](const args& v) { return matmul(v[0], v[1], false, true); }, {normal({3, 5}, 42), normal({2, 5}, 43)}, true},
      {"matmul ta tb", [](const args& v) { return matmul(v[0], v[1], true, true); }, {normal({5, 3}, 44), normal({2, 5}, 45)}, true},
      {"batched matmul (broadcast)", [](const args& v) { return matmul(v[0], v[1]); }, {normal({2, 3, 4}, 46), normal({4, 2}, 47)}, true},
      {"reshape", [](const args& v) { return reshape(v[0], {4, 3}) * v[1]; }, {normal(s, 48), normal({4, 3}, 49)}, true},
      {"permute", [](const args& v) { return permute(v[0], {2, 0, 1}); }, {normal({2, 3, 4}, 50)}, true},
      {"transpose", [](const args& v) { return transpose(v[0]); }, {normal(s, 51)}, true},
      {"slice", [](const args& v) { return slice(v[0], 1, 1, 3); }, {normal(s, 52)}, true},
      {"concat", [](const args& v) { return concat(std::vector{v[0], v[1]}, 1); }, {normal({3, 2}, 53), normal({3, 1}, 54)}, true},
      {"stack", [](const args& v) { return stack(std::vector{v[0], v[1]}, 1); }, {normal(s, 55), normal(s, 56)}, true},
      {"pad", [](const args& v) { return pad(v[0], {1, 0, 2, 1}, 0.5); }, {normal(s, 57)}, true},
      {"broadcast_to", [](const args& v) { return broadcast_to(v[0], {2, 3, 4}); }, {normal({3, 1}, 58)}, true},
      {"sum_to", [](const args& v) { return sum_to(v[0], {3, 1}); }, {normal(s, 59)}, true},
      {"where", [](const args& v) {
         const auto mask = td::from(std::vector<double>{1, 0, 0, 1}, {4});
         return where(mask, v[0], v[1]);
       }, {normal(s, 60), normal({3, 1}, 61)}, true},
      {"l2_norm", [](const args& v) { return l2_norm(v[0], {1}); }, {normal(s, 62)}, true},
      {"cosine_similarity", [](const args& v) { return cosine_similarity(v[0], v[1]); }, {normal(s, 63), normal(s, 64)}, true},
  };
  // clang-format on
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ops_suite)

BOOST_AUTO_TEST_CASE(gradients_match_finite_differences) {
  for (const auto& c : cases()) {
    BOOST_TEST_CONTEXT("op " << c.name) {
      const auto r = testing::gradcheck(c.f, c.inputs, {.second_order = c.second_order});
      BOOST_TEST(r.passed, r.message);
      BOOST_TEST(r.checked > 0);
    }
  }
}

BOOST_AUTO_TEST_CASE(forward_values) {
  const auto x = constant(td::from(std::vector<double>{-1.0, 0.0, 1.0, 2.0}, {4}));
  auto near = [](const vd& v, std::vector<double> want) {
    const auto got = v.value().to_vector();
    for (std::size_t i = 0; i < want.size(); ++i)
      if (std::abs(got[i] - want[i]) > 1e-12 * (1 + std::abs(want[i]))) return false;
    return true;
  };
  BOOST_TEST(near(gelu(x), {-0.15865525393145707, 0.0, 0.8413447460685429, 1.9544997361036416}));
  BOOST_TEST(near(softplus(x), {0.31326168751822286, 0.6931471805599453, 1.3132616875182228, 2.1269280110429727}));
  BOOST_TEST(near(sigmoid(x), {0.2689414213699951, 0.5, 0.7310585786300049, 0.8807970779778823}));
  BOOST_TEST(near(leaky_relu(x, 0.2), {-0.2, 0.0, 1.0, 2.0}));
  BOOST_TEST(near(prelu(x, constant(td::from(std::vector<double>{0.5, 0.1, 0.2, 0.3}, {4}))), {-0.5, 0.0, 1.0, 2.0}));
  BOOST_TEST(near(clamp(x, -0.5, 1.5), {-0.5, 0.0, 1.0, 1.5}));
  BOOST_TEST(near(logsumexp(x), {2.4401896985611957}));
  BOOST_TEST(near(softmax(x), {0.03205860328008499, 0.08714431874203257, 0.23688281808991013, 0.6439142598879722}));
  BOOST_TEST(near(variance(x), {5.0 / 3.0}));
  BOOST_TEST(near(l2_norm(x), {std::sqrt(6.0)}));
  // Extremes stay finite: softplus and sigmoid at +-800, logsumexp of large values.
  const auto big = constant(td::from(std::vector<double>{-800, 800}, {2}));
  BOOST_TEST(near(softplus(big), {0.0, 800.0}));
  BOOST_TEST(near(sigmoid(big), {0.0, 1.0}));
  BOOST_TEST(near(logsumexp(big), {800.0}));
}

BOOST_AUTO_TEST_CASE(shape_errors_name_the_op) {
  const auto a = constant(td::zeros({2, 3})), b = constant(td::zeros({4, 3}));
  BOOST_CHECK_EXCEPTION(a + b, shape_error, [](const shape_error& e) {
    return std::string(e.what()).find("bijgan::add") != std::string::npos;
  });
  BOOST_CHECK_THROW(matmul(a, b), shape_error);
  BOOST_CHECK_THROW(slice(a, 1, 2, 5), shape_error);
  BOOST_CHECK_THROW(concat(std::vector{a, constant(td::zeros({3, 3}))}, 1), shape_error);
  BOOST_CHECK_THROW(reshape(a, {5, -1}), shape_error);
  BOOST_CHECK_THROW(sum(a, {2}), shape_error);
  BOOST_CHECK_THROW(clamp(a, 1.0, 0.0), value_error);
  BOOST_CHECK_THROW(variance(constant(td::zeros({1})), {}), shape_error);
  BOOST_CHECK_THROW(vd{td{}}, value_error);
}

BOOST_AUTO_TEST_SUITE_END()
