// The backend parity suite on testing::host_twin: every op, module, bijection, loss, model,
// optimizer, checkpoint and fit_gan through the non-host code paths, without a GPU.
#include <bijgan/testing/host_twin.hpp>
using parity_device = bijgan::testing::host_twin;
#include "parity_suite.hpp"
