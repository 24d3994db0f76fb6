// The units clang-tidy reads (CTest test `tidy`, .clang-tidy): the README's first program and the
// custom GAN example, which between them instantiate the tensor kernels, the ops with their
// backward rules, modules, flows, optimizers, losses, checkpoints and train::fit_gan. Compiled
// only by clang-tidy (the target tidy_units is not built by default).
#include "../../examples/custom_gan.cpp"  // NOLINT(bugprone-suspicious-include)
