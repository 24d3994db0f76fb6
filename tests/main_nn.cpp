// test_nn: the host tests of the nn, optim and engines areas (modules, attention, optimizers
// against PyTorch, the face engine against its references, verification metrics). This file
// only defines the Boost.Test module.
#define BOOST_TEST_MODULE bijgan_nn
#include <boost/test/unit_test.hpp>
