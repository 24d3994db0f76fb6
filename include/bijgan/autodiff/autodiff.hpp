// The autodiff area: var, backward/grad, no_grad, anomaly mode, to_dot. The differentiable ops
// sit one layer above (bijgan/ops/ops.hpp includes this header and all of them).
#pragma once

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/autodiff/grad_mode.hpp"
#include "bijgan/autodiff/to_dot.hpp"
#include "bijgan/autodiff/var.hpp"
