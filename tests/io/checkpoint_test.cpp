// Checkpoints and arrays: safetensors round trips of modules (parameters and buffers), files
// written by an independent writer (tools/reference/io_reference.py), strict loading errors
// that name the path and both shapes, truncated and corrupted files (io_error, never a crash),
// NPY both ways, and the JSON reader's limits.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/io/json.hpp>
#include <bijgan/io/npy.hpp>
#include <bijgan/io/safetensors.hpp>
#include <bijgan/nn/nn.hpp>

#include <cstring>
#include <filesystem>

using namespace bijgan;
namespace fs = std::filesystem;

namespace checkpoint_test {

auto small_net(std::uint64_t seed) {
  nn::manual_seed(seed);
  return nn::conv2d({.in = 1, .out = 2, .kernel = 3, .padding = 1}) | nn::batch_norm({.channels = 2}) |
         nn::act::flatten{} | nn::linear({.in = 8, .out = 3});
}
fs::path test_file(const char* name) { return fs::path(BIJGAN_TEST_DATA_DIR) / name; }
bool says(const std::exception& e, std::initializer_list<const char*> parts) {
  const std::string w = e.what();
  for (const char* p : parts)
    if (w.find(p) == std::string::npos) return false;
  return true;
}

}  // namespace checkpoint_test

BOOST_AUTO_TEST_SUITE(checkpoint_suite)
using namespace checkpoint_test;

BOOST_AUTO_TEST_CASE(module_round_trip) {
  auto a = small_net(1);
  rng g(2);
  (void)a(constant(tensor<float>::random({4, 1, 2, 2}, g, {distribution::normal, 0, 1})));  // moves the running stats
  const auto path = fs::temp_directory_path() / "bijgan_ckpt.safetensors";
  io::save(path, a);
  auto b = small_net(99);
  io::load(path, b);
  const auto pa = nn::named_parameters(a), pb = nn::named_parameters(b);
  for (std::size_t i = 0; i < pa.size(); ++i)
    BOOST_TEST(pa[i].second.value().to_vector() == pb[i].second.value().to_vector());
  BOOST_TEST(b.get<1>().running_mean.to_vector() == a.get<1>().running_mean.to_vector());
  // The layout other readers expect: u64 header length, a JSON object, data 8-byte aligned.
  const auto bytes = io::read_file(path);
  std::uint64_t n;
  std::memcpy(&n, bytes.data(), 8);
  BOOST_TEST((8 + n) % 8 == 0);
  const auto header = io::json::parse(std::string_view(reinterpret_cast<const char*>(bytes.data() + 8), n));
  const auto& w = header.at("0.weight");
  BOOST_TEST(w.at("dtype").string() == "F32");
  BOOST_TEST(w.at("shape").items().size() == 4u);
  std::size_t total = 0;
  for (const auto& [k, v] : header.members())
    total +=
        static_cast<std::size_t>(v.at("data_offsets").items()[1].integer() - v.at("data_offsets").items()[0].integer());
  BOOST_TEST(total == bytes.size() - 8 - n);
  fs::remove(path);
}

BOOST_AUTO_TEST_CASE(reads_files_written_by_an_independent_writer) {
  const auto d = io::load_safetensors(test_file("reference.safetensors"));
  BOOST_TEST(d.metadata.at("format") == "pt");
  BOOST_TEST(d.get("block.weight").to_vector() == (std::vector<float>{-1, -0.5, 0, 0.5, 1, 1.5}),
             boost::test_tools::per_element());
  BOOST_TEST(d.get("block.weight").shape() == (shape{2, 3}));
  const auto b = d.get<double>("block.bias").to_vector();
  BOOST_TEST(b[0] == 1.0 / 3);
  BOOST_TEST(b[2] == 1e-300);
  BOOST_TEST(d.get("half").to_vector() == (std::vector<float>{1, -2, 0.099975586f, 65504}),
             boost::test_tools::per_element());
  BOOST_TEST(d.get("brain").to_vector() == (std::vector<float>{1, -3.140625f, 0.5f}), boost::test_tools::per_element());

  const auto f4 = io::read_npy(test_file("reference_f4.npy"));
  BOOST_TEST(f4.shape() == (shape{2, 3, 4}));
  BOOST_TEST(f4.to_vector()[23] == 23.0f / 7);
  const auto f8 = io::read_npy<double>(test_file("reference_f8.npy"));
  BOOST_TEST(f8.to_vector() == (std::vector<double>{1.5, -2.25, 1e-10, 3e10}), boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(strict_loading_names_the_path_and_both_shapes) {
  auto a = small_net(1);
  io::state_dict d;
  d.put_module("", a);
  auto b = small_net(2);
  {
    auto bad = d;
    bad.entries().erase("3.bias");
    BOOST_CHECK_EXCEPTION(bad.load_module("", b), value_error, [](const auto& e) {
      return says(e, {"\"3.bias\"", "missing"});
    });
  }
  {
    auto bad = d;
    bad.put("3.extra", tensor<float>::zeros({2}));
    BOOST_CHECK_EXCEPTION(bad.load_module("", b), value_error, [](const auto& e) {
      return says(e, {"\"3.extra\"", "no counterpart"});
    });
  }
  {
    auto bad = d;
    bad.put("3.weight", tensor<float>::zeros({3, 7}));
    BOOST_CHECK_EXCEPTION(bad.load_module("", b), shape_error, [](const auto& e) {
      return says(e, {"\"3.weight\"", "[3, 7]", "[3, 8]"});
    });
    // Nothing was assigned: b keeps its own weights.
    BOOST_TEST(b.get<3>().weight.value().to_vector() != a.get<3>().weight.value().to_vector());
  }
}

BOOST_AUTO_TEST_CASE(truncated_and_corrupted_files_give_io_errors) {
  const auto good = io::read_file(test_file("reference.safetensors"));
  // Every proper prefix is rejected with io_error.
  for (std::size_t len = 0; len < good.size(); ++len) {
    const std::vector<unsigned char> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(len));
    BOOST_CHECK_THROW(io::decode_safetensors(cut, "cut"), io_error);
  }
  // Flipping any header byte either still parses to a valid file or throws io_error.
  std::uint64_t n;
  std::memcpy(&n, good.data(), 8);
  int rejected = 0;
  for (std::size_t i = 0; i < 8 + n; ++i)
    for (unsigned char flip : {0x01, 0x20, 0x80}) {
      auto bad = good;
      bad[i] ^= flip;
      try {
        (void)io::decode_safetensors(bad, "flipped");
      } catch (const io_error&) {
        ++rejected;
      }
    }
  BOOST_TEST(rejected > static_cast<int>(n));
  BOOST_CHECK_EXCEPTION(io::load_safetensors("/nonexistent/x.safetensors"), io_error,
                        [](const auto& e) { return says(e, {"/nonexistent/x.safetensors"}); });

  const auto npy = io::read_file(test_file("reference_f4.npy"));
  for (std::size_t len = 0; len < npy.size(); len += 7) {
    const std::vector<unsigned char> cut(npy.begin(), npy.begin() + static_cast<std::ptrdiff_t>(len));
    BOOST_CHECK_THROW(io::decode_npy(cut, "cut.npy"), io_error);
  }
}

BOOST_AUTO_TEST_CASE(npy_round_trip_and_json_limits) {
  const auto path = fs::temp_directory_path() / "bijgan_arr.npy";
  rng g(5);
  const auto t = tensor<double>::random({3, 1, 4}, g, {distribution::normal, 0, 1});
  io::write_npy(path, t);
  const auto back = io::read_npy<double>(path);
  BOOST_TEST(back.shape() == t.shape());
  BOOST_TEST(back.to_vector() == t.to_vector());
  io::write_npy(path, tensor<float>::from(std::vector<float>{1, 2, 3}, {3}));
  BOOST_TEST(io::read_npy(path).shape() == (shape{3}));
  fs::remove(path);

  BOOST_TEST(io::json::parse(R"({"a": [1, 2.5e3, true, null, "x\u00e9\n"]})").at("a").items()[1].number() == 2500);
  BOOST_CHECK_THROW(io::json::parse(std::string(100000, '[')), io_error);
  BOOST_CHECK_THROW(io::json::parse(R"({"a": 1,})"), io_error);
  BOOST_CHECK_THROW(io::json::parse(R"({"a": 1, "a": 2})"), io_error);
  BOOST_CHECK_THROW(io::json::parse("[1] x"), io_error);
  BOOST_CHECK_THROW(io::json::parse(R"("\q")"), io_error);
}

BOOST_AUTO_TEST_SUITE_END()
