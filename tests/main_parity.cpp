// test_parity: the typed backend parity suite (tests/backend/parity_suite.hpp) on
// testing::host_twin, so every non-host code path runs in CI without a GPU. This file only
// defines the Boost.Test module.
#define BOOST_TEST_MODULE bijgan_parity
#include <boost/test/unit_test.hpp>
