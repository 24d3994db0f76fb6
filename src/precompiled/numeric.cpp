// bijgan::precompiled: matrix functions, the Gaussian W2 distance and the losses, float and double on the host,
// compiled once (config/instances.hpp; each list is at the end of its header).
#include "bijgan/distances/gaussian_w2.hpp"
#include "bijgan/linalg/inverse.hpp"
#include "bijgan/linalg/sqrtm.hpp"
#include "bijgan/losses/adversarial.hpp"
#include "bijgan/losses/classification.hpp"
#include "bijgan/losses/contrastive.hpp"
#include "bijgan/losses/distill.hpp"

namespace bijgan::linalg {
BIJGAN_DEFINE_INSTANCES(BIJGAN_INVERSE_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_SQRTM_INSTANCES)
}  // namespace bijgan::linalg

namespace bijgan::distances {
BIJGAN_DEFINE_INSTANCES(BIJGAN_GAUSSIAN_W2_INSTANCES)
}  // namespace bijgan::distances

namespace bijgan::losses {
BIJGAN_DEFINE_INSTANCES(BIJGAN_ADVERSARIAL_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_CLASSIFICATION_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_CONTRASTIVE_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_DISTILL_INSTANCES)
}  // namespace bijgan::losses
