// bijgan::precompiled: the tensor and var classes, the nn modules, three flow layers and the
// optimizers, float and double on the host, compiled once (config/instances.hpp; each list is at
// the end of its header).
#include "bijgan/flows/actnorm.hpp"
#include "bijgan/flows/invconv.hpp"
#include "bijgan/flows/logit.hpp"
#include "bijgan/nn/attention.hpp"
#include "bijgan/nn/conv.hpp"
#include "bijgan/nn/layers.hpp"
#include "bijgan/nn/linear.hpp"
#include "bijgan/nn/norm.hpp"
#include "bijgan/optim/adam.hpp"
#include "bijgan/optim/sgd.hpp"

namespace bijgan {
BIJGAN_DEFINE_INSTANCES(BIJGAN_TENSOR_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_VAR_INSTANCES)
}  // namespace bijgan

namespace bijgan::nn {
BIJGAN_DEFINE_INSTANCES(BIJGAN_LINEAR_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_CONV_MODULES_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_NORM_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_ATTENTION_MODULES_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_LAYERS_INSTANCES)
}  // namespace bijgan::nn

namespace bijgan::optim {
BIJGAN_DEFINE_INSTANCES(BIJGAN_ADAM_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_SGD_INSTANCES)
}  // namespace bijgan::optim

namespace bijgan::flows {
BIJGAN_DEFINE_INSTANCES(BIJGAN_ACTNORM_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_INVCONV_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_LOGIT_INSTANCES)
}  // namespace bijgan::flows
