# Finds bijgan's dependencies (Debian packages; CUDA from /usr/local/cuda) and decides whether
# the CUDA backend is built. Sets BIJGAN_WITH_CUDA, BIJGAN_OPENBLAS_LIBRARY, BIJGAN_DNNL_LIBRARY,
# BIJGAN_TURBOJPEG_LIBRARY, BIJGAN_TURBOJPEG_INCLUDE_DIR and BIJGAN_WITH_ONNX.

find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(xtensor REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(ZLIB REQUIRED)
# range-v3's version file wants an exact match (toolchain.md): find it without one, check here.
find_package(range-v3 REQUIRED)
if(range-v3_VERSION VERSION_LESS 0.11)
  message(FATAL_ERROR "bijgan needs range-v3 >= 0.11, found ${range-v3_VERSION}")
endif()
find_package(nlohmann_json 3.10 REQUIRED)  # JSON (nlohmann-json3-dev)
find_package(PNG REQUIRED)                 # PNG in and out (libpng-dev)
# libjpeg-turbo's TurboJPEG API (libturbojpeg0-dev) has no CMake package in Debian 12.
find_path(BIJGAN_TURBOJPEG_INCLUDE_DIR turbojpeg.h REQUIRED)
find_library(BIJGAN_TURBOJPEG_LIBRARY NAMES turbojpeg REQUIRED)

set(BIJGAN_OPENBLAS_LIBRARY "")
if(BIJGAN_USE_OPENBLAS)
  # Prefer the OpenMP build of OpenBLAS (libopenblas0-openmp): it shares bijgan's OpenMP thread
  # pool and reaches libtorch's 2-thread GEMM rate; the pthread build is 10-25% slower there.
  find_library(BIJGAN_OPENBLAS_PATH NAMES libopenblas.so.0 openblas
    PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
  find_library(BIJGAN_OPENBLAS_PATH NAMES openblas)
  if(BIJGAN_OPENBLAS_PATH)
    set(BIJGAN_OPENBLAS_LIBRARY ${BIJGAN_OPENBLAS_PATH})
    message(STATUS "bijgan: host GEMM through OpenBLAS (${BIJGAN_OPENBLAS_PATH})")
  else()
    message(STATUS "bijgan: OpenBLAS not found (apt-get install libopenblas-dev); host GEMM through Eigen")
  endif()
endif()

set(BIJGAN_DNNL_LIBRARY "")
if(BIJGAN_USE_DNNL)
  # oneDNN (libdnnl-dev): host float convolutions as JIT kernels, the ones libtorch uses. Found
  # by hand: Debian's dnnl-config.cmake also demands OpenCL, which a CPU build never needs.
  find_path(BIJGAN_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.hpp)
  find_library(BIJGAN_DNNL_PATH NAMES dnnl)
  if(BIJGAN_DNNL_INCLUDE_DIR AND BIJGAN_DNNL_PATH)
    set(BIJGAN_DNNL_LIBRARY ${BIJGAN_DNNL_PATH})
    message(STATUS "bijgan: host convolutions through oneDNN (${BIJGAN_DNNL_PATH})")
  else()
    message(STATUS "bijgan: oneDNN not found (apt-get install libdnnl-dev); host convolutions by im2col + GEMM")
  endif()
endif()

set(BIJGAN_WITH_ONNX OFF)
if(BIJGAN_USE_ONNX)
  # The ONNX project's protobuf schema (libonnx-dev, libprotobuf-dev) for engines from .onnx
  # files. ONNX's CMake targets name protobuf::libprotobuf, so Protobuf is found first.
  find_package(Protobuf QUIET)
  if(Protobuf_FOUND)
    find_package(ONNX CONFIG QUIET)
  endif()
  if(TARGET onnx_proto)
    set(BIJGAN_WITH_ONNX ON)
    message(STATUS "bijgan: ONNX engines ON (onnx ${ONNX_VERSION}, protobuf ${Protobuf_VERSION})")
  else()
    message(STATUS "bijgan: ONNX schema not found (apt-get install libonnx-dev libprotobuf-dev); ONNX engines OFF")
  endif()
endif()

set(BIJGAN_WITH_CUDA OFF)
if(NOT BIJGAN_CUDA STREQUAL "OFF")
  # nvcc is looked for explicitly (CMAKE_CUDA_COMPILER, $CUDACXX, PATH, BIJGAN_CUDA_ROOT/bin)
  # rather than through check_language, which also probes fixed paths and clobbers a preset
  # CUDA host compiler (toolchain.md): what is found here is what gets used.
  set(BIJGAN_CUDA_ROOT /usr/local/cuda CACHE PATH "Where to look for nvcc besides PATH")
  set(_bijgan_nvcc "")
  if(CMAKE_CUDA_COMPILER)
    set(_bijgan_nvcc ${CMAKE_CUDA_COMPILER})
  elseif(DEFINED ENV{CUDACXX})
    set(_bijgan_nvcc $ENV{CUDACXX})
  else()
    find_program(_bijgan_found_nvcc nvcc PATHS ENV PATH ${BIJGAN_CUDA_ROOT}/bin NO_DEFAULT_PATH NO_CACHE)
    if(_bijgan_found_nvcc)
      set(_bijgan_nvcc ${_bijgan_found_nvcc})
    endif()
  endif()
  if(_bijgan_nvcc AND EXISTS ${_bijgan_nvcc})
    set(CMAKE_CUDA_COMPILER ${_bijgan_nvcc})
    if(NOT CMAKE_CUDA_HOST_COMPILER)
      set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER})
    endif()
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES 75 90)  # "native" fails without a GPU (toolchain.md)
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_package(CCCL CONFIG REQUIRED HINTS ${CUDAToolkit_LIBRARY_DIR}/cmake)
    set(BIJGAN_WITH_CUDA ON)
    message(STATUS "bijgan: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION})")
  elseif(BIJGAN_CUDA STREQUAL "ON")
    message(FATAL_ERROR "bijgan: BIJGAN_CUDA=ON but no CUDA compiler was found "
                        "(looked for nvcc on PATH and in ${BIJGAN_CUDA_ROOT}/bin; set BIJGAN_CUDA_ROOT or CMAKE_CUDA_COMPILER)")
  else()
    message(STATUS "bijgan: no CUDA compiler found; CUDA backend OFF")
  endif()
endif()
