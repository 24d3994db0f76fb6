// Tests of io/: atomic writes, PNG round trips (exact for 8-bit values), grids, and errors that
// name the file.
#include <boost/test/unit_test.hpp>

#include <bijgan/bijgan.hpp>
#include <bijgan/io/plot.hpp>

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
  BOOST_CHECK_EXCEPTION(io::write_png(nowhere, tensor<float>::zeros({1, 2, 2})), io_error, [&](const io_error& e) {
    return std::string(e.what()).find(nowhere.string()) != std::string::npos;
  });
  BOOST_CHECK_THROW(io::write_png("x.png", tensor<float>::zeros({2, 2, 2})), shape_error);
  BOOST_CHECK_EXCEPTION(io::read_png(nowhere), io_error, [&](const io_error& e) {
    return std::string(e.what()).find(nowhere.string()) != std::string::npos;
  });
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
  BOOST_TEST(v[0] == 0.0f);          // border
  BOOST_TEST(v[1 * 7 + 1] == 1.0f);  // first image
  BOOST_TEST(v[4 * 7 + 4] == 0.0f);  // empty fourth cell keeps the pad value
  BOOST_CHECK_THROW(io::make_grid(tensor<float>::ones({2, 2}), 2), shape_error);
}

BOOST_AUTO_TEST_CASE(scatter_plot_places_and_colours_points) {
  // Two points span the box; with equal scales the x span (10 units over 20 - 2*2 - 1 = 15
  // pixels) sets the scale: the points land at columns 2 and 17 (the margins), row 9.5 → 10.
  io::scatter_options o{.width = 20, .height = 20, .margin = 2, .radius = 0};
  const auto img = io::scatter_image({{.points = {{0.0, 5.0}, {10.0, 5.0}}, .colours = {0, 3}}}, o);
  BOOST_TEST(img.shape() == (shape{3, 20, 20}));
  const auto v = img.to_vector();
  const auto at = [&](index_t c, index_t y, index_t x) { return v[static_cast<std::size_t>((c * 20 + y) * 20 + x)]; };
  const auto blue = io::palette_colour(0), red = io::palette_colour(3);
  for (index_t c = 0; c < 3; ++c) {
    BOOST_TEST(at(c, 10, 2) == blue[static_cast<std::size_t>(c)]);
    BOOST_TEST(at(c, 10, 17) == red[static_cast<std::size_t>(c)]);
    BOOST_TEST(at(c, 0, 0) == 1.0f);  // background
  }
  int coloured = 0;
  for (index_t y = 0; y < 20; ++y)
    for (index_t x = 0; x < 20; ++x) coloured += at(0, y, x) != 1.0f;
  BOOST_TEST(coloured == 2);
  BOOST_TEST(io::palette_colour(13) == io::palette_colour(3));
  // A cross of radius 2 has 9 pixels, a ring of radius 2 has 12 (d² ∈ [1, 4]), a dot 13.
  for (auto [m, want] :
       {std::pair{io::marker::cross, 9}, std::pair{io::marker::ring, 12}, std::pair{io::marker::dot, 13}}) {
    const auto one = io::scatter_image({{.points = {{1.0, 1.0}}, .colours = {0}, .shape = m}},
                                       {.width = 21, .height = 21, .margin = 3, .radius = 2});
    const auto w = one.to_vector();
    int n = 0;
    for (std::size_t i = 0; i < 21 * 21; ++i) n += w[i] != 1.0f;
    BOOST_TEST(n == want);
  }
  const auto file = std::filesystem::temp_directory_path() / "bijgan_scatter.png";
  io::write_scatter_png(file, {{.points = {{0.0, 0.0}, {1.0, 2.0}}, .colours = {0, 1}, .shape = io::marker::ring}});
  BOOST_TEST(io::read_png(file).shape() == (shape{3, 640, 640}));
  std::filesystem::remove(file);
}

BOOST_AUTO_TEST_CASE(scatter_plot_errors) {
  BOOST_CHECK_THROW(io::scatter_image({}), value_error);
  BOOST_CHECK_THROW(io::scatter_image({{.points = {{0.0, 1.0}}, .colours = {}}}), shape_error);
  BOOST_CHECK_THROW(io::scatter_image({{.points = {{0.0, std::nan("")}}, .colours = {0}}}), value_error);
  BOOST_CHECK_THROW(io::scatter_image({{.points = {{0.0, 1.0}}, .colours = {-1}}}), value_error);
  BOOST_CHECK_THROW(
      io::scatter_image({{.points = {{0.0, 1.0}}, .colours = {0}}}, {.width = 10, .height = 10, .margin = 5}),
      value_error);
}

BOOST_AUTO_TEST_CASE(fnv1a_matches_the_published_vectors) {
  // FNV-1a 64 test vectors (Fowler, Noll, Vo): "", "a", "foobar".
  BOOST_TEST(io::fnv1a{}.value() == 0xcbf29ce484222325ULL);
  BOOST_TEST(io::fnv1a{}.update("a", 1).value() == 0xaf63dc4c8601ec8cULL);
  BOOST_TEST(io::fnv1a{}.update("foo", 3).update("bar", 3).value() == 0x85944171f73967e8ULL);
  const std::vector<unsigned char> foobar{'f', 'o', 'o', 'b', 'a', 'r'};
  BOOST_TEST(io::fnv1a_of(foobar) == 0x85944171f73967e8ULL);
}

BOOST_AUTO_TEST_CASE(raw_images_are_planar_and_checked) {
  // Two 1x2 RGB images, interleaved: image 0 = (1,2,3) (4,5,6), image 1 = (7,8,9) (10,11,12).
  std::vector<unsigned char> b(12);
  for (std::size_t k = 0; k < b.size(); ++k) b[k] = static_cast<unsigned char>(k + 1);
  const auto t = io::decode_raw_images(b, 3, 1, 2, "two.bin", 1.0f);
  BOOST_TEST(t.shape() == (shape{2, 3, 1, 2}));
  BOOST_TEST(t.to_vector() == (std::vector<float>{1, 4, 2, 5, 3, 6, 7, 10, 8, 11, 9, 12}));
  b.pop_back();
  BOOST_CHECK_EXCEPTION(io::decode_raw_images(b, 3, 1, 2, "two.bin"), io_error, [](const io_error& e) {
    const std::string w = e.what();
    return w.find("two.bin") != std::string::npos && w.find("11 bytes") != std::string::npos;
  });
}

BOOST_AUTO_TEST_SUITE_END()
