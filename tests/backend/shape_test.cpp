// Tests of bijgan::shape: extents, strides, broadcasting and their errors.
#include <boost/test/unit_test.hpp>

#include <bijgan/backend/shape.hpp>

using bijgan::index_t;
using bijgan::shape;

BOOST_AUTO_TEST_SUITE(shape_suite)

BOOST_AUTO_TEST_CASE(extents_and_strides) {
  const shape s{2, 3, 4};
  BOOST_TEST(s.rank() == 3u);
  BOOST_TEST(s.numel() == 24);
  BOOST_TEST(s.at(-1) == 4);
  const auto st = s.strides();
  BOOST_TEST(st[0] == 12);
  BOOST_TEST(st[1] == 4);
  BOOST_TEST(st[2] == 1);
  BOOST_TEST(shape{}.numel() == 1);
  BOOST_TEST(s.str() == "[2, 3, 4]");
}

BOOST_AUTO_TEST_CASE(broadcasting) {
  BOOST_TEST(bijgan::broadcast_shapes({4, 1, 3}, {5, 1}, "t") == (shape{4, 5, 3}));
  BOOST_TEST(bijgan::broadcast_shapes({}, {2, 2}, "t") == (shape{2, 2}));
  BOOST_CHECK_EXCEPTION(bijgan::broadcast_shapes({2, 3}, {4, 3}, "add"), bijgan::shape_error, [](const auto& e) {
    const std::string m = e.what();
    return m.find("add") != std::string::npos && m.find("[2, 3]") != std::string::npos &&
           m.find("[4, 3]") != std::string::npos;
  });
  const auto bs = bijgan::broadcast_strides({3, 1}, {2, 3, 4});
  BOOST_TEST(bs[0] == 0);
  BOOST_TEST(bs[1] == 1);
  BOOST_TEST(bs[2] == 0);
}

BOOST_AUTO_TEST_CASE(infer_and_errors) {
  const std::vector<index_t> d{-1, 4};
  BOOST_TEST(bijgan::infer_shape(d, 12, "reshape") == (shape{3, 4}));
  const std::vector<index_t> bad{-1, 5};
  BOOST_CHECK_THROW(bijgan::infer_shape(bad, 12, "reshape"), bijgan::shape_error);
  const std::vector<index_t> two{-1, -1};
  BOOST_CHECK_THROW(bijgan::infer_shape(two, 12, "reshape"), bijgan::shape_error);
  BOOST_CHECK_THROW((shape{2, -3}), bijgan::shape_error);
  BOOST_CHECK_THROW((void)shape({2, 3}).normalize_axis(2, "sum"), bijgan::shape_error);
  BOOST_CHECK_THROW((shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), bijgan::shape_error);
}

BOOST_AUTO_TEST_SUITE_END()
