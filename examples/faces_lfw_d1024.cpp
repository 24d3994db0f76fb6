// faces_lfw's training and evaluation for 1024-dimensional descriptors (faces_lfw.hpp).
#include "faces_lfw_run.hpp"

int faces_lfw::run_1024(const inputs& in) { return run_for<1024>(in); }
