// The optim area: Adam/AdamW/AMSGrad, SGD with momentum, schedules, clipping, weight EMA.
#pragma once

#include "bijgan/optim/adam.hpp"
#include "bijgan/optim/clip.hpp"
#include "bijgan/optim/ema.hpp"
#include "bijgan/optim/optimizer.hpp"
#include "bijgan/optim/schedule.hpp"
#include "bijgan/optim/sgd.hpp"
