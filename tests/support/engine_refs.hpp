// Reading the reference outputs that ../shared/data/face-engines holds for each engine (computed
// by the engine's own runtime) and comparing ours with them; shared by the ONNX and TF.js tests.
#pragma once

#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bijgan_test {

inline nlohmann::json load_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  BOOST_REQUIRE_MESSAGE(in.good(), "cannot open " << p);
  return nlohmann::json::parse(in);
}

/// Compares a tensor with a reference summary {sum, first8, sample8_at, sample8}.
inline void check_summary(const bijgan::tensor<float>& t, const nlohmann::json& ref, double tol) {
  const auto v = t.to_vector();
  double sum = 0;
  for (float x : v) sum += x;
  const double want = ref.at("sum").get<double>();
  BOOST_TEST(std::abs(sum - want) <= 1e-5 * std::abs(want) + 1e-2, "sum " << sum << " vs " << want);
  for (std::size_t k = 0; k < 8; ++k) BOOST_TEST(std::abs(v.at(k) - ref.at("first8")[k].get<double>()) <= tol);
  for (std::size_t k = 0; k < 8; ++k) {
    const auto at = ref.at("sample8_at")[k].get<std::size_t>();
    BOOST_TEST(std::abs(v.at(at) - ref.at("sample8")[k].get<double>()) <= tol);
  }
}

/// Largest |ours - reference| over rows of `features` (n, dim), row n being image names[n] of
/// the reference file {name: [dim values]}.
inline double max_error(const bijgan::tensor<float>& features, const nlohmann::json& ref, const nlohmann::json& names,
                        std::size_t dim) {
  const auto v = features.to_vector();
  BOOST_REQUIRE(v.size() == names.size() * dim);
  double err = 0;
  for (std::size_t n = 0; n < names.size(); ++n) {
    const auto& r = ref.at(names.at(n).get<std::string>());
    for (std::size_t j = 0; j < dim; ++j) err = std::max(err, std::abs(v[n * dim + j] - r.at(j).get<double>()));
  }
  return err;
}

/// Runs `graph` on x fetching every value the reference intermediates name ("name (shape)",
/// entries 1..; entry 0 summarises the input) and checks each against its summary. Returns the
/// values fetched, by name.
template <class Graph>
auto check_intermediates(const Graph& graph, const bijgan::var<float>& x, const nlohmann::json& tensors, double tol) {
  std::vector<std::string> fetch;
  for (std::size_t k = 1; k < tensors.size(); ++k) {
    const auto name = tensors.at(k).at("name").get<std::string>();
    fetch.push_back(name.substr(0, name.find(' ')));
  }
  const auto got = graph.outputs_and({x}, fetch);
  for (std::size_t k = 1; k < tensors.size(); ++k) BOOST_TEST_CONTEXT("value " << fetch[k - 1]) {
      BOOST_REQUIRE(got.count(fetch[k - 1]));
      check_summary(got.at(fetch[k - 1]).value(), tensors.at(k), tol);
    }
  return got;
}

inline double max_abs_diff(const bijgan::tensor<float>& a, const bijgan::tensor<float>& b) {
  BOOST_REQUIRE(a.shape() == b.shape());
  const auto x = a.to_vector(), y = b.to_vector();
  double d = 0;
  for (std::size_t k = 0; k < x.size(); ++k) d = std::max(d, std::abs(double(x[k]) - y[k]));
  return d;
}

/// f must throw E whose message contains every one of `parts`.
template <class E>
void require_message(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    BOOST_FAIL("no exception");
  } catch (const E& e) {
    const std::string what = e.what();
    for (const auto& p : parts)
      BOOST_TEST(what.find(p) != std::string::npos, "\"" << what << "\" lacks \"" << p << "\"");
  }
}

}  // namespace bijgan_test
