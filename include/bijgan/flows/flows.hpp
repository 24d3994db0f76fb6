// The flows area: the bijection concept, composition, squeeze, affine coupling.
#pragma once

#include "bijgan/flows/bijection.hpp"
#include "bijgan/flows/compose.hpp"
#include "bijgan/flows/coupling.hpp"
#include "bijgan/flows/squeeze.hpp"
