// faces_lfw's training and evaluation for 128-dimensional descriptors (faces_lfw.hpp).
#include "faces_lfw_run.hpp"

template int faces_lfw::run_for<128>(const inputs&);
