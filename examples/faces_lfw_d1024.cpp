// faces_lfw's training and evaluation for 1024-dimensional descriptors (faces_lfw.hpp).
#include "faces_lfw_run.hpp"

template int faces_lfw::run_for<1024>(const inputs&);
