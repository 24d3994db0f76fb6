// faces_lfw's training and evaluation for 512-dimensional descriptors (faces_lfw.hpp).
#include "faces_lfw_run.hpp"

int faces_lfw::run_512(const inputs& in) { return run_for<512>(in); }
