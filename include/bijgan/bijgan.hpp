// The umbrella header: everything a user needs with one include. Under nvcc it also brings the
// CUDA backend; headers that nvcc cannot compile (range-v3 data pipelines) are skipped there.
#pragma once

#include "bijgan/config/config.hpp"
#include "bijgan/config/errors.hpp"
#include "bijgan/fwd.hpp"

#include "bijgan/backend/concept.hpp"
#include "bijgan/backend/host/host.hpp"
#include "bijgan/tensor/ops.hpp"
#include "bijgan/tensor/tensor.hpp"

#include "bijgan/concepts/engine.hpp"
#include "bijgan/distances/gaussian_w2.hpp"
#include "bijgan/flows/flows.hpp"
#include "bijgan/linalg/inverse.hpp"
#include "bijgan/linalg/sqrtm.hpp"
#include "bijgan/losses/adversarial.hpp"
#include "bijgan/losses/bijective.hpp"
#include "bijgan/losses/classification.hpp"
#include "bijgan/losses/contrastive.hpp"
#include "bijgan/losses/distill.hpp"
#include "bijgan/nn/nn.hpp"
#include "bijgan/ops/ops.hpp"
#include "bijgan/optim/optim.hpp"
#include "bijgan/train/weighting.hpp"

#include "bijgan/data/fashion_mnist.hpp"
#include "bijgan/data/idx.hpp"
#include "bijgan/engines/lenet.hpp"
#include "bijgan/eval/verification.hpp"
#include "bijgan/io/atomic_file.hpp"
#include "bijgan/io/checksum.hpp"
#include "bijgan/io/json.hpp"
#include "bijgan/io/npy.hpp"
#include "bijgan/io/png.hpp"
#include "bijgan/io/progress.hpp"
#include "bijgan/io/safetensors.hpp"
#include "bijgan/io/tfjs.hpp"
#include "bijgan/tensor/xtensor_view.hpp"

#if !defined(__CUDACC__)
#include "bijgan/data/batches.hpp"  // range-v3: host compilers only (toolchain.md)
#include "bijgan/data/lfw.hpp"
#include "bijgan/data/standardize.hpp"
#include "bijgan/engines/dlib_resnet.hpp"
#endif

#if defined(__CUDACC__)
#include "bijgan/backend/cuda/cuda.hpp"
#endif
