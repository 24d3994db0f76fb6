// bijgan::precompiled: the tiled attention kernels and the attention op, float and double on the host, compiled once
// (config/instances.hpp; each list is at the end of its header).
#include "bijgan/tensor/attention.hpp"
#include "bijgan/ops/attention.hpp"

namespace bijgan {
BIJGAN_DEFINE_INSTANCES(BIJGAN_TENSOR_ATTENTION_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_ATTENTION_INSTANCES)
}  // namespace bijgan
