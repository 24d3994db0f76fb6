// bijgan::precompiled: the elementwise and layout ops on var, float and double on the host, compiled once
// (config/instances.hpp; each list is at the end of its header).
#include "bijgan/ops/elementwise.hpp"
#include "bijgan/ops/shape.hpp"

namespace bijgan {
BIJGAN_DEFINE_INSTANCES(BIJGAN_ELEMENTWISE_INSTANCES)
BIJGAN_DEFINE_INSTANCES(BIJGAN_SHAPE_INSTANCES)
}  // namespace bijgan
