// Compiled only to build the examples' precompiled header (see CMakeLists.txt).
