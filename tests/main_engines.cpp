// test_engines: engines from files (ONNX and TF.js graphs executed by our ops) against the outputs of
// their own runtimes. This file only defines the Boost.Test module.
#define BOOST_TEST_MODULE bijgan_engines
#include <boost/test/unit_test.hpp>
