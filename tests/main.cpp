// test_core: the host tests of the foundation (shape, tensor, RNG, ops and their gradients,
// the autodiff engine, data loading, file formats). This file only defines the Boost.Test
// module.
#define BOOST_TEST_MODULE bijgan_core
#include <boost/test/unit_test.hpp>
