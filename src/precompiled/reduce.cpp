// bijgan::precompiled: reductions, matmul, indexing, the tensor-level ops, the backward sweep and gradient clipping,
// float and double on the host, compiled once (config/instances.hpp; each list is at the end of its header).
#include "bijgan/ops/reduce.hpp"
#include "bijgan/autodiff/backward.hpp"
#include "bijgan/ops/index.hpp"
#include "bijgan/ops/linalg.hpp"
#include "bijgan/optim/clip.hpp"
#include "bijgan/tensor/ops.hpp"

namespace bijgan {
BIJGAN_DEFINE_INSTANCES(BIJGAN_TENSOR_OPS_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_REDUCE_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_LINALG_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_INDEX_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_BACKWARD_INSTANCES)
}  // namespace bijgan

namespace bijgan::optim {
BIJGAN_DEFINE_INSTANCES(BIJGAN_CLIP_INSTANCES)
}  // namespace bijgan::optim
