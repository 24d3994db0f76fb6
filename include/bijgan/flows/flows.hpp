// The flows area: the bijection concept, composition, squeeze, couplings (affine, additive),
// ActNorm, invertible 1x1 convolution, logit pre-processing, factor-out, the multi-scale
// RealNVP H of the paper, and priors.
#pragma once

#include "bijgan/flows/actnorm.hpp"
#include "bijgan/flows/bijection.hpp"
#include "bijgan/flows/compose.hpp"
#include "bijgan/flows/coupling.hpp"
#include "bijgan/flows/factor_out.hpp"
#include "bijgan/flows/invconv.hpp"
#include "bijgan/flows/logit.hpp"
#include "bijgan/flows/multiscale.hpp"
#include "bijgan/flows/prior.hpp"
#include "bijgan/flows/squeeze.hpp"
