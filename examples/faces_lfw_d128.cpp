// faces_lfw's training and evaluation for 128-dimensional descriptors (faces_lfw.hpp).
#include "faces_lfw_run.hpp"

int faces_lfw::run_128(const inputs& in) { return run_for<128>(in); }
