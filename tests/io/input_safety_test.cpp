// Hostile input: each loader refuses, with a bijgan::error naming the file/field and what was
// expected, the classes of input the fuzzers (tests/fuzz) look for — size arithmetic that
// overflows, headers that claim more than the file holds, paths that leave a folder, duplicate
// names, non-finite or out-of-range checkpoint values, images too large to decode, covariances
// outside W2's domain, NaN features. Also: atomic writes under concurrency and stale temps.
#include <boost/test/unit_test.hpp>

#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <bijgan/bijgan.hpp>
#include <bijgan/data/idx.hpp>
#include <bijgan/data/lfw.hpp>
#include <bijgan/data/standardize.hpp>
#include <bijgan/io/json.hpp>
#include <bijgan/io/npy.hpp>
#include <bijgan/io/safetensors.hpp>
#include <bijgan/io/tfjs.hpp>
#include <bijgan/nn/nn.hpp>
#include "../support/gzip.hpp"

#include <cstring>
#include <filesystem>
#include <thread>

using namespace bijgan;
namespace fs = std::filesystem;

namespace input_safety_test {

/// The exception's message holds every part.
template <class E>
auto says(std::initializer_list<const char*> parts) {
  return [parts](const E& e) {
    const std::string w = e.what();
    for (const char* p : parts)
      if (w.find(p) == std::string::npos) {
        BOOST_TEST_MESSAGE("message was: " << w);
        return false;
      }
    return true;
  };
}
std::vector<unsigned char> bytes_of(std::string_view s) { return {s.begin(), s.end()}; }
std::vector<unsigned char> safetensors_with_header(const std::string& header, std::size_t data = 0) {
  std::vector<unsigned char> out(8 + header.size() + data);
  const std::uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, header.data(), header.size());
  return out;
}
std::vector<unsigned char> npy_with_header(std::string dict, std::size_t data) {
  while ((10 + dict.size() + 1) % 64) dict.push_back(' ');
  dict.push_back('\n');
  std::vector<unsigned char> out(10 + dict.size() + data);
  const unsigned char magic[10] = {0x93,
                                   'N',
                                   'U',
                                   'M',
                                   'P',
                                   'Y',
                                   1,
                                   0,
                                   static_cast<unsigned char>(dict.size() & 0xFF),
                                   static_cast<unsigned char>(dict.size() >> 8)};
  std::memcpy(out.data(), magic, 10);
  std::memcpy(out.data() + 10, dict.data(), dict.size());
  return out;
}
auto small_net() {
  nn::manual_seed(3);
  return nn::linear({.in = 3, .out = 2});
}

}  // namespace input_safety_test

BOOST_AUTO_TEST_SUITE(input_safety_suite)
using namespace input_safety_test;

BOOST_AUTO_TEST_CASE(shapes_never_overflow) {
  const index_t big = index_t{1} << 40;
  BOOST_CHECK_EXCEPTION((shape{big, big}), shape_error, says<shape_error>({"multiply past"}));
  // Zero extents count as one: [0, 2^40, 2^40, 2^40] has no elements but its strides overflow.
  BOOST_CHECK_EXCEPTION((shape{0, big, big, big}), shape_error, says<shape_error>({"multiply past"}));
  BOOST_TEST((shape{0, big}).numel() == 0);
  BOOST_CHECK_THROW((shape{-1}), shape_error);
  BOOST_CHECK_THROW(checked_mul(big, big * 16, "t"), shape_error);
  BOOST_TEST(checked_mul(3, 4, "t") == 12);
}

BOOST_AUTO_TEST_CASE(read_file_refuses_directories_and_oversize) {
  BOOST_CHECK_EXCEPTION(io::read_file(fs::temp_directory_path()), io_error, says<io_error>({"is a directory"}));
  BOOST_CHECK_EXCEPTION(io::read_file("/nonexistent_bijgan/f"), io_error,
                        says<io_error>({"cannot open", "/nonexistent_bijgan/f"}));
  const auto p = fs::temp_directory_path() / "bijgan_read_limit.bin";
  io::write_file_atomic(p, std::vector<unsigned char>(100, 7));
  BOOST_TEST(io::read_file(p).size() == 100u);
  BOOST_CHECK_EXCEPTION(io::read_file(p, 99), io_error, says<io_error>({"100 bytes", "limit of 99"}));
  BOOST_CHECK_EXCEPTION(io::read_image(fs::temp_directory_path()), io_error, says<io_error>({"is a directory"}));
  fs::remove(p);
}

BOOST_AUTO_TEST_CASE(atomic_writes_under_concurrency_and_stale_temps) {
  const auto dir = fs::temp_directory_path() / "bijgan_atomic_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto target = dir / "ckpt.safetensors";
  // 4 threads x 25 writes of 256 KiB, each file a constant byte: a torn file would mix bytes.
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int k = 0; k < 25; ++k)
        io::write_file_atomic(target, std::vector<unsigned char>(256 << 10, static_cast<unsigned char>(t * 25 + k)));
    });
  for (auto& w : writers) w.join();
  const auto got = io::read_file(target);
  BOOST_TEST(got.size() == std::size_t{256 << 10});
  BOOST_TEST(std::all_of(got.begin(), got.end(), [&](unsigned char b) { return b == got[0]; }));
  // A dead process's temporary files (old and new naming) are removed by the next write; a
  // live process's are left alone.
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  const auto dead1 = dir / ("ckpt.safetensors.tmp." + std::to_string(child));
  const auto dead2 = dir / ("ckpt.safetensors.tmp." + std::to_string(child) + ".3");
  const auto live = dir / ("ckpt.safetensors.tmp." + std::to_string(getppid()) + ".0");
  const auto other = dir / ("other.tmp." + std::to_string(child));
  for (const auto& p : {dead1, dead2, live, other}) io::write_file_atomic(p, std::vector<unsigned char>{1});
  io::write_file_atomic(target, std::vector<unsigned char>{42});
  BOOST_TEST(!fs::exists(dead1));
  BOOST_TEST(!fs::exists(dead2));
  BOOST_TEST(fs::exists(live));
  BOOST_TEST(fs::exists(other));  // another target's temps are not ours to clean
  BOOST_TEST(io::read_file(target) == std::vector<unsigned char>{42});
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(json_is_strict) {
  for (const char* bad :
       {"+1", "01", "[1,]", "{\"a\":1,}", "\"\\ud800\"", "[1] 2", "\"\\q\"", "NaN", "1e999", "\"a\x01\"", "\"\xff\""})
    BOOST_CHECK_THROW(io::json::parse(bad), io_error);
  // Surrogate pairs become one 4-byte UTF-8 character; integers stay exact past 2^53.
  BOOST_TEST(io::json::parse(R"("\ud83d\ude00")").string() == "\xF0\x9F\x98\x80");
  BOOST_TEST(io::json::parse("9007199254740993").integer() == 9007199254740993LL);
  BOOST_CHECK_EXCEPTION((void)io::json::parse("2.5").integer("offset"), io_error,
                        says<io_error>({"offset", "non-negative integer"}));
  BOOST_CHECK_THROW((void)io::json::parse("-3").integer(), io_error);
  BOOST_TEST(io::json::parse("-3").number() == -3);
  BOOST_CHECK_EXCEPTION(io::json::parse(R"({"a": 1, "a": 2})"), io_error, says<io_error>({"duplicate key \"a\""}));
  BOOST_CHECK_THROW(io::json::parse(std::string(300, '[') + std::string(300, ']')), io_error);
  BOOST_CHECK_THROW(io::json_quote("\xff"), value_error);
  BOOST_TEST(io::json::parse(io::json_quote("tab\t\"q\" \xc3\xa9")).string() == "tab\t\"q\" \xc3\xa9");
}

BOOST_AUTO_TEST_CASE(npy_checks_sizes_before_allocating) {
  // 2^40 floats claimed by a 128-byte file: refused from the header, nothing allocated.
  BOOST_CHECK_EXCEPTION(
      io::decode_npy(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776,), }", 4),
                     "big.npy"),
      io_error, says<io_error>({"big.npy", "data holds 4 bytes", "[1099511627776]"}));
  BOOST_CHECK_EXCEPTION(
      io::decode_npy(
          npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }", 0),
          "wrap.npy"),
      io_error, says<io_error>({"wrap.npy", "more elements than fit"}));
  BOOST_CHECK_EXCEPTION(
      io::decode_npy(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, x), }", 12), "x.npy"),
      io_error, says<io_error>({"x.npy", "malformed shape entry"}));
  BOOST_CHECK_EXCEPTION(
      io::decode_npy(npy_with_header("{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }", 12), "i.npy"),
      io_error, says<io_error>({"i.npy", "'<i4'", "need '<f4' or '<f8'"}));
  BOOST_TEST(io::decode_npy(npy_with_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", 12), "ok.npy")
                 .numel() == 3);
}

BOOST_AUTO_TEST_CASE(idx_checks_sizes_and_gzip_framing) {
  // Four extents of 2^16 (product 2^64, which wraps to 0 in 64 bits) in a 24-byte file.
  std::vector<unsigned char> wrap{0, 0, 8, 4};
  for (int i = 0; i < 4; ++i) wrap.insert(wrap.end(), {0, 1, 0, 0});
  BOOST_CHECK_EXCEPTION(data::decode_idx(wrap, "wrap.idx"), io_error, says<io_error>({"wrap.idx", "hold more than"}));
  // A plain file whose header claims 2^30 bytes.
  const std::vector<unsigned char> claim{0, 0, 8, 1, 0x40, 0, 0, 0, 1, 2, 3};
  BOOST_CHECK_EXCEPTION(data::decode_idx(claim, "claim.idx"), io_error,
                        says<io_error>({"claim.idx", "needs 1073741824 bytes", "holds 3"}));
  std::vector<unsigned char> ok{0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9};
  BOOST_TEST(data::decode_idx(ok, "ok.idx").values == (std::vector<std::uint8_t>{7, 8, 9}));
  auto gz = bijgan_test::gzip(ok);
  BOOST_TEST(data::decode_idx(gz, "ok.idx.gz").values == (std::vector<std::uint8_t>{7, 8, 9}));
  auto two = gz;  // two gzip members are one valid stream
  const auto tail = bijgan_test::gzip(std::vector<unsigned char>{});
  two.insert(two.end(), tail.begin(), tail.end());
  BOOST_TEST(data::decode_idx(two, "two.idx.gz").values.size() == 3u);
  auto junk = gz;
  junk.insert(junk.end(), {'j', 'u', 'n', 'k'});
  BOOST_CHECK_EXCEPTION(data::decode_idx(junk, "junk.idx.gz"), io_error,
                        says<io_error>({"junk.idx.gz", "4 bytes after the end of the gzip stream"}));
  const std::vector<unsigned char> cut(gz.begin(), gz.end() - 6);
  BOOST_CHECK_EXCEPTION(data::decode_idx(cut, "cut.idx.gz"), io_error, says<io_error>({"cut.idx.gz"}));
  // A compressed header claiming 2^32 bytes with 3 present: fails at truncation.
  const std::vector<unsigned char> lie{0, 0, 8, 2, 0, 1, 0, 0, 0, 1, 0, 0, 1, 2, 3};
  BOOST_CHECK_EXCEPTION(data::decode_idx(bijgan_test::gzip(lie), "lie.idx.gz"), io_error,
                        says<io_error>({"lie.idx.gz", "truncated"}));
}

BOOST_AUTO_TEST_CASE(safetensors_refuses_absurd_shapes_and_duplicates) {
  BOOST_CHECK_EXCEPTION(
      io::decode_safetensors(
          safetensors_with_header(
              R"({"t":{"dtype":"F32","shape":[0,1099511627776,1099511627776,1099511627776],"data_offsets":[0,0]}})"),
          "z.safetensors"),
      io_error, says<io_error>({"z.safetensors", "tensor \"t\""}));
  BOOST_CHECK_EXCEPTION(
      io::decode_safetensors(
          safetensors_with_header(
              R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
              8),
          "d.safetensors"),
      io_error, says<io_error>({"d.safetensors", "duplicate key \"t\""}));
  BOOST_CHECK_EXCEPTION(
      io::decode_safetensors(safetensors_with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),
                             "s.safetensors"),
      io_error, says<io_error>({"s.safetensors", "holds 4 bytes", "needs 8"}));
  BOOST_CHECK_EXCEPTION(
      io::decode_safetensors(safetensors_with_header(R"({"t":{"dtype":"F32","shape":"x","data_offsets":[0,4]}})", 4),
                             "k.safetensors"),
      io_error, says<io_error>({"k.safetensors", "tensor \"t\"", "must be an array"}));
}

BOOST_AUTO_TEST_CASE(checkpoint_values_are_checked_and_loading_is_transactional) {
  auto net = small_net();
  optim::adam<> opt(nn::parameters(net));
  io::state_dict good;
  good.put_module("model", net);
  good.put_module("optimizer", opt);
  good.metadata["step"] = "12abc";
  const auto before = nn::parameters(net)[0].value().to_vector();

  // NaN weights: refused, naming the tensor; the module keeps its weights.
  auto nan = good;
  auto& w = nan.entries()["model.weight"];
  const float q = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(w.bytes.data() + 4, &q, 4);
  auto target = small_net();
  BOOST_CHECK_EXCEPTION(nan.load_module("model", target), value_error,
                        says<value_error>({"model.weight", "nan", "element 1"}));

  // Step counters: negative, fractional, NaN or beyond what float counts exactly.
  for (const float bad : {-1.0f, 2.5f, 1e30f}) {
    auto sd = good;
    std::memcpy(sd.entries()["optimizer.step"].bytes.data(), &bad, 4);
    optim::adam<> o(nn::parameters(target));
    BOOST_CHECK_EXCEPTION(sd.load_module("optimizer", o), value_error,
                          says<value_error>({"optimizer", "step counter"}));
    BOOST_TEST(o.steps() == 0);  // put back
  }
  // A negative second moment would make the next step NaN.
  auto neg = good;
  const float m = -1;
  std::memcpy(neg.entries()["optimizer.state.0.exp_avg_sq"].bytes.data(), &m, 4);
  optim::adam<> o2(nn::parameters(target));
  BOOST_CHECK_EXCEPTION(neg.load_module("optimizer", o2), value_error,
                        says<value_error>({"exp_avg_sq", "expected >= 0"}));
  // The EMA's update count likewise.
  optim::ema<std::remove_cvref_t<decltype(net)>> avg(net, 0.99);
  io::state_dict e;
  e.put_module("ema", avg);
  const float huge = 3e9f;
  std::memcpy(e.entries()["ema.updates"].bytes.data(), &huge, 4);
  BOOST_CHECK_EXCEPTION(e.load_module("ema", avg), value_error, says<value_error>({"ema updates counter"}));
  BOOST_TEST(avg.updates() == 0);
  // Metadata integers are whole decimal strings in range.
  BOOST_CHECK_EXCEPTION(io::metadata_integer(good, "step", 0, 100, "c.safetensors"), io_error,
                        says<io_error>({"c.safetensors", "\"12abc\"", "not an integer"}));
  good.metadata["step"] = "-5";
  BOOST_CHECK_EXCEPTION(io::metadata_integer(good, "step", 0, 100, "c.safetensors"), io_error,
                        says<io_error>({"-5", "outside [0, 100]"}));
  good.metadata["step"] = "7";
  BOOST_TEST(io::metadata_integer(good, "step", 0, 100, "c.safetensors") == 7);
  good.load_module("model", target);
  BOOST_TEST(nn::parameters(target)[0].value().to_vector() == before);
}

BOOST_AUTO_TEST_CASE(tfjs_paths_names_and_dtypes) {
  const auto dir = fs::temp_directory_path() / "bijgan_tfjs_test";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const auto read = [&](const std::string& p) { return io::read_file(dir / p); };
  // float32 [2], uint8 [2] (q * 0.5 - 1), uint16 [1] (q * 0.25), float16 [2] (1, -2).
  std::vector<unsigned char> shard(8);
  const float f[2] = {1.5f, -3};
  std::memcpy(shard.data(), f, 8);
  shard.insert(shard.end(), {0, 4, 0x08, 0x00, 0x00, 0x3c, 0x00, 0xc0});
  io::write_file_atomic(dir / "s1.bin", shard);
  const auto manifest = [](const std::string& paths, const std::string& extra = "") {
    return io::json::parse(
        R"([{"paths": )" + paths +
        R"(, "weights": [)"
        R"({"name": "a", "shape": [2], "dtype": "float32"},)"
        R"({"name": "b", "shape": [2], "dtype": "float32", "quantization": {"dtype": "uint8", "scale": 0.5, "min": -1}},)"
        R"({"name": "c", "shape": [1], "dtype": "float32", "quantization": {"dtype": "uint16", "scale": 0.25, "min": 0}},)"
        R"({"name": "d", "shape": [2], "dtype": "float32", "quantization": {"dtype": "float16"}})" +
        extra + "]}]");
  };
  const auto w = io::decode_tfjs_weights(manifest(R"(["s1.bin"])"), read, "m.json");
  BOOST_TEST(w.at("a").to_vector() == (std::vector<float>{1.5f, -3}));
  BOOST_TEST(w.at("b").to_vector() == (std::vector<float>{-1, 1}));
  BOOST_TEST(w.at("c").to_vector() == (std::vector<float>{2}));
  BOOST_TEST(w.at("d").to_vector() == (std::vector<float>{1, -2}));
  BOOST_CHECK_EXCEPTION(io::decode_tfjs_weights(manifest(R"(["/etc/passwd"])"), read, "m.json"), io_error,
                        says<io_error>({"m.json", "is absolute"}));
  BOOST_CHECK_EXCEPTION(io::decode_tfjs_weights(manifest(R"(["sub/../../s1.bin"])"), read, "m.json"), io_error,
                        says<io_error>({"m.json", "leaves the manifest's folder"}));
  BOOST_CHECK_EXCEPTION(io::decode_tfjs_weights(manifest(R"(["s1.bin", "s1.bin"])"), read, "m.json"), io_error,
                        says<io_error>({"listed twice"}));
  BOOST_CHECK_EXCEPTION(
      io::decode_tfjs_weights(manifest(R"(["s1.bin"])", R"(, {"name": "a", "shape": [0], "dtype": "float32"})"), read,
                              "m.json"),
      io_error, says<io_error>({"tensor \"a\" is listed twice"}));
  BOOST_CHECK_EXCEPTION(
      io::decode_tfjs_weights(
          manifest(R"(["s1.bin"])", R"(, {"name": "e", "shape": [4294967296, 4294967296], "dtype": "float32"})"), read,
          "m.json"),
      io_error, says<io_error>({"tensor \"e\"", "too many elements"}));
  BOOST_CHECK_EXCEPTION(
      io::decode_tfjs_weights(manifest(R"(["s1.bin"])", R"(, {"name": "e", "shape": [1000], "dtype": "float32"})"),
                              read, "m.json"),
      io_error, says<io_error>({"the shards end before tensor \"e\""}));
  // A NaN in the raw float32 data.
  auto nan_shard = shard;
  const float q = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan_shard.data() + 4, &q, 4);
  io::write_file_atomic(dir / "s1.bin", nan_shard);
  BOOST_CHECK_EXCEPTION(io::decode_tfjs_weights(manifest(R"(["s1.bin"])"), read, "m.json"), io_error,
                        says<io_error>({"tensor \"a\" holds nan at element 1"}));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(standardizer_file_values_are_checked) {
  const auto p = fs::temp_directory_path() / "bijgan_std_test.safetensors";
  data::feature_standardizer s{tensor<float>::zeros({2}), tensor<float>::from(std::vector<float>{1, 0}, {2})};
  s.save(p);
  BOOST_CHECK_EXCEPTION(data::feature_standardizer::load(p), io_error, says<io_error>({"dimension 1", "scale > 0"}));
  fs::remove(p);
}

BOOST_AUTO_TEST_CASE(images_beyond_limits_are_refused_before_decoding) {
  const auto dir = fs::temp_directory_path() / "bijgan_image_limits";
  fs::create_directories(dir);
  io::write_png(dir / "wide.png", tensor<float>::zeros({1, 2, 300}));
  BOOST_TEST(io::read_image(dir / "wide.png").shape() == (shape{1, 2, 300}));
  BOOST_CHECK_EXCEPTION(io::read_image(dir / "wide.png", {.max_width = 256}), io_error,
                        says<io_error>({"wide.png", "300 x 2 pixels exceeds the limits"}));
  // A header claiming 8000 x 8000 (what a 186 KB PNG can decode to): refused by default.
  auto png = io::read_file(dir / "wide.png");
  const unsigned char dims[8] = {0, 0, 0x1f, 0x40, 0, 0, 0x1f, 0x40};
  std::memcpy(png.data() + 16, dims, 8);
  const auto crc = crc32(crc32(0, nullptr, 0), png.data() + 12, 17);
  const unsigned char c[4] = {static_cast<unsigned char>(crc >> 24), static_cast<unsigned char>(crc >> 16),
                              static_cast<unsigned char>(crc >> 8), static_cast<unsigned char>(crc)};
  std::memcpy(png.data() + 29, c, 4);
  BOOST_CHECK_EXCEPTION(io::decode_image(png, "huge.png"), io_error,
                        says<io_error>({"huge.png", "8000 x 8000 pixels exceeds the limits"}));
  // A progressive JPEG made here by libjpeg-turbo, whole and truncated.
  std::vector<unsigned char> px(16 * 12 * 3);
  for (std::size_t y = 0; y < 12; ++y)  // a smooth gradient: what JPEG keeps closely
    for (std::size_t x = 0; x < 16; ++x)
      for (std::size_t c = 0; c < 3; ++c)
        px[(y * 16 + x) * 3 + c] = static_cast<unsigned char>(20 + 6 * x + 5 * y + 40 * c);
  tjhandle tj = tjInitCompress();
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  BOOST_REQUIRE(tjCompress2(tj, px.data(), 16, 0, 12, TJPF_RGB, &buf, &size, TJSAMP_444, 95, TJFLAG_PROGRESSIVE) == 0);
  const std::vector<unsigned char> jpg(buf, buf + size);
  tjFree(buf);
  tjDestroy(tj);
  const auto t = io::decode_image(jpg, "ok.jpg");
  BOOST_TEST(t.shape() == (shape{3, 12, 16}));
  float worst = 0;  // quality 95, no chroma subsampling: within a few levels of the source
  for (index_t y = 0; y < 12; ++y)
    for (index_t x = 0; x < 16; ++x)
      for (index_t c = 0; c < 3; ++c)
        worst = std::max(worst, std::abs(t.data()[(c * 12 + y) * 16 + x] * 255 -
                                         px[static_cast<std::size_t>((y * 16 + x) * 3 + c)]));
  BOOST_TEST_MESSAGE("JPEG round trip: worst difference " << worst << " levels");
  BOOST_TEST(worst <= 4);
  BOOST_CHECK_EXCEPTION(io::decode_image(std::span(jpg).first(jpg.size() / 2), "cut.jpg"), io_error,
                        says<io_error>({"cut.jpg", "malformed JPEG"}));
  BOOST_CHECK_EXCEPTION(io::decode_image(bytes_of("GIF89a......"), "x.gif"), io_error,
                        says<io_error>({"x.gif", "not a PNG or JPEG"}));
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(lfw_pairs_limits) {
  const auto ok = "1 1\nA_B 1 2\nA_B 1 C_D 3\n";
  BOOST_TEST(data::parse_lfw_pairs(ok, "p.txt").size() == 2u);
  BOOST_CHECK_EXCEPTION(data::parse_lfw_pairs("2000000000 2000000000\n", "p.txt"), io_error,
                        says<io_error>({"p.txt", "line 1"}));
  BOOST_CHECK_EXCEPTION(data::parse_lfw_pairs("10 300\nA 1 2\n", "p.txt"), io_error,
                        says<io_error>({"p.txt", "promises 6001 lines"}));
  BOOST_CHECK_EXCEPTION(data::parse_lfw_pairs("1 1\n.. 1 2\nA 1 B 2\n", "p.txt"), io_error, says<io_error>({"line 2"}));
  BOOST_CHECK_EXCEPTION(data::parse_lfw_pairs("1 1\nA/x 1 2\nA 1 B 2\n", "p.txt"), io_error,
                        says<io_error>({"line 2"}));
  BOOST_CHECK_EXCEPTION(data::parse_lfw_pairs("1 1\nA 1 99999999999\nA 1 B 2\n", "p.txt"), io_error,
                        says<io_error>({"line 2"}));
  BOOST_CHECK_EXCEPTION(data::parse_lfw_pairs(std::string(ok) + "extra 1 2\n", "p.txt"), io_error,
                        says<io_error>({"text after the 3 lines"}));
}

BOOST_AUTO_TEST_CASE(lfw_image_lists) {
  const auto list =
      data::parse_lfw_image_list("# two\nB_C/B_C_0012.jpg\r\n\n  lfw-deepfunneled/A/A_0001.jpg  \n", "l.txt");
  BOOST_TEST(list.size() == 2u);
  BOOST_TEST(list[0].name == "B_C");
  BOOST_TEST(list[0].index == 12);
  BOOST_TEST(list[1].name == "A");
  BOOST_TEST(list[1].index == 1);
  BOOST_TEST(data::lfw_relative_path(list[0]) == "B_C/B_C_0012.jpg");
  const auto bad = [](const char* text, std::initializer_list<const char*> parts) {
    BOOST_CHECK_EXCEPTION(data::parse_lfw_image_list(text, "l.txt"), io_error, says<io_error>(parts));
  };
  bad("A/A_0001.jpg\nA_0002.jpg\n", {"l.txt", "line 2", "has no folder"});
  bad("A/B_0001.jpg\n", {"line 1", "does not name a file"});
  bad("../A/A_0001.jpg\n", {"line 1"});
  bad("A/A_00x1.jpg\n", {"four digits"});
  bad("A/A_0000.jpg\n", {"image number 0"});
  bad("A/A_0001.png\n", {"does not name a file"});
  bad("A/A_0001.jpg/x\n", {"does not name a file"});
  bad("# nothing\n\n", {"l.txt", "lists no image"});
}

BOOST_AUTO_TEST_CASE(w2_rejects_covariances_outside_its_domain) {
  using td = tensor<double>;
  const auto mu = constant(td::zeros({2}));
  const auto psd = constant(td::from(std::vector<double>{2, 1, 1, 1}, {2, 2}));
  const auto indefinite = constant(td::from(std::vector<double>{1, 2, 2, 1}, {2, 2}));  // eigenvalues 3, -1
  const auto asym = constant(td::from(std::vector<double>{1, 0.5, 0, 1}, {2, 2}));
  BOOST_TEST(distances::gaussian_w2(mu, psd, mu, psd).value().item() == 0, boost::test_tools::tolerance(1e-9));
  BOOST_CHECK_EXCEPTION(distances::gaussian_w2(mu, psd, mu, indefinite), value_error,
                        says<value_error>({"gaussian_w2", "second", "not positive semi-definite"}));
  BOOST_CHECK_EXCEPTION(distances::gaussian_w2(mu, asym, mu, psd), value_error,
                        says<value_error>({"first", "not symmetric"}));
  // A rank-deficient sample covariance (PSD, eigenvalues at round-off) is accepted.
  rng g(4);
  const auto x = td::random({3, 6}, g, {distribution::normal, 0, 1});
  const auto fit = distances::fit_gaussian(constant(x));
  BOOST_TEST(distances::gaussian_w2(fit.mean, fit.covariance, fit.mean, fit.covariance).value().item() >= -1e-9);
  Eigen::Matrix2d e;
  e << 1, 2, 2, 1;
  BOOST_CHECK_THROW(distances::gaussian_w2(Eigen::Vector2d::Zero().eval(), e, Eigen::Vector2d::Zero().eval(), e),
                    value_error);
  BOOST_CHECK_THROW(distances::gaussian_w2(0.0, -1.0, 0.0, 1.0), value_error);
  BOOST_CHECK_THROW(
      distances::gaussian_w2_diagonal(constant(td::zeros({2})), constant(td::from(std::vector<double>{1, -1}, {2})),
                                      constant(td::zeros({2})), constant(td::ones({2}))),
      value_error);
}

BOOST_AUTO_TEST_CASE(verification_refuses_nan_features) {
  auto a = tensor<float>::ones({3, 4});
  const auto b = tensor<float>::ones({3, 4});
  a.data()[5] = std::numeric_limits<float>::quiet_NaN();
  BOOST_CHECK_EXCEPTION(eval::normalized_distances(a, b), value_error,
                        says<value_error>({"normalized_distances", "row 1"}));
  BOOST_CHECK_THROW(eval::impostor_distances(a, {0, 1, 2}), value_error);
  BOOST_CHECK_THROW(eval::k_fold_accuracy({0.1, std::nan("")}, {true, false}, {0, 1}), value_error);
}

BOOST_AUTO_TEST_SUITE_END()
