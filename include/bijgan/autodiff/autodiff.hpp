// The autodiff area: var, the differentiable ops, backward/grad, no_grad, anomaly mode, to_dot.
#pragma once

#include "bijgan/autodiff/backward.hpp"
#include "bijgan/autodiff/checkpoint.hpp"
#include "bijgan/autodiff/grad_mode.hpp"
#include "bijgan/autodiff/to_dot.hpp"
#include "bijgan/autodiff/var.hpp"
#include "bijgan/ops/attention.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/elementwise.hpp"
#include "bijgan/ops/index.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/reduce.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/ops/shape.hpp"
