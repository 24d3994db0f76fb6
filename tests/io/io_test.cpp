// Tests of io/: atomic writes, PNG round trips (exact for 8-bit values), grids, and errors that
// name the file.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>

#include <filesystem>

using namespace bijgan;
namespace fs = std::filesystem;

BOOST_AUTO_TEST_SUITE(io_suite)

BOOST_AUTO_TEST_CASE(png_round_trip_is_exact) {
  const auto dir = fs::temp_directory_path() / "bijgan_io_test";
  fs::create_directories(dir);
  for (index_t c : {1, 3}) {
    std::vector<float> v(static_cast<std::size_t>(c * 5 * 7));
    for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37) % 256) / 255.0f;
    const auto img = tensor<float>::from(v, {c, 5, 7});
    const auto path = dir / ("img" + std::to_string(c) + ".png");
    io::write_png(path, img);
    const auto back = io::read_png(path);
    BOOST_TEST(back.shape() == img.shape());
    BOOST_TEST(back.to_vector() == v);
  }
  // Nothing but the two images is left behind (no temporary files).
  BOOST_TEST(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 2);
  fs::remove_all(dir);
}

BOOST_AUTO_TEST_CASE(png_errors) {
  const fs::path nowhere = "/nonexistent_dir_bijgan/x.png";
  BOOST_CHECK_EXCEPTION(io::write_png(nowhere, tensor<float>::zeros({1, 2, 2})), io_error,
                        [&](const io_error& e) { return std::string(e.what()).find(nowhere.string()) != std::string::npos; });
  BOOST_CHECK_THROW(io::write_png("x.png", tensor<float>::zeros({2, 2, 2})), shape_error);
  BOOST_CHECK_EXCEPTION(io::read_png(nowhere), io_error,
                        [&](const io_error& e) { return std::string(e.what()).find(nowhere.string()) != std::string::npos; });
  const auto junk = fs::temp_directory_path() / "bijgan_junk.png";
  io::write_file_atomic(junk, std::vector<unsigned char>{1, 2, 3, 4, 5});
  BOOST_CHECK_THROW(io::read_png(junk), io_error);
  fs::remove(junk);
}

BOOST_AUTO_TEST_CASE(grid_layout) {
  const auto imgs = tensor<float>::ones({3, 1, 2, 2});
  const auto g = io::make_grid(imgs, 2, 1, 0.0f);
  BOOST_TEST(g.shape() == (shape{1, 7, 7}));  // 2 rows x 2 cols of 2x2 with 1-pixel borders
  const auto v = g.to_vector();
  BOOST_TEST(v[0] == 0.0f);               // border
  BOOST_TEST(v[1 * 7 + 1] == 1.0f);       // first image
  BOOST_TEST(v[4 * 7 + 4] == 0.0f);       // empty fourth cell keeps the pad value
  BOOST_CHECK_THROW(io::make_grid(tensor<float>::ones({2, 2}), 2), shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
