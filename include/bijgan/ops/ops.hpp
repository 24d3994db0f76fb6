// The differentiable ops on var with the autodiff engine beneath them: one include for code
// that builds graphs (elementwise, shape, reduce, linalg, index, resample, conv, attention,
// gradient checkpointing).
#pragma once

#include "bijgan/autodiff/autodiff.hpp"
#include "bijgan/ops/attention.hpp"
#include "bijgan/ops/checkpoint.hpp"
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/elementwise.hpp"
#include "bijgan/ops/index.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/ops/reduce.hpp"
#include "bijgan/ops/resample.hpp"
#include "bijgan/ops/shape.hpp"
