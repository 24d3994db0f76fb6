// test_dist: the data-parallel tests, run by CTest under mpirun (2 ranks; tests/CMakeLists.txt).
// This file defines the Boost.Test module and the MPI session every case shares.
#define BOOST_TEST_MODULE bijgan_dist
#include <boost/test/unit_test.hpp>
