// bijgan::precompiled: convolution, pooling and resampling, float and double on the host, compiled once
// (config/instances.hpp; each list is at the end of its header).
#include "bijgan/ops/conv.hpp"
#include "bijgan/ops/resample.hpp"

namespace bijgan {
BIJGAN_DEFINE_INSTANCES(BIJGAN_CONV_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_RESAMPLE_INSTANCES)
}  // namespace bijgan
