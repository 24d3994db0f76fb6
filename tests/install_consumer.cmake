# Script run by the install_consumer test (cmake -P): installs bijgan from BUILD_DIR into a
# scratch prefix and builds and runs examples/consumer against the installed package (both its
# programs where bijgan::precompiled was built: EXPECT_PRECOMPILED).
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${out}")
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
# Without CUDA in reach: a consumer that does not ask for the cuda component must not need it.
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/consumer -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DCMAKE_DISABLE_FIND_PACKAGE_CUDAToolkit=TRUE
    -DCMAKE_DISABLE_FIND_PACKAGE_CCCL=TRUE)
# COMPONENTS cuda: found where bijgan was installed with the CUDA backend, a clear failure otherwise.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/examples/consumer -B ${WORK_DIR}/build-cuda -G ${GENERATOR}
                -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DBIJGAN_CONSUMER_CUDA=ON
                RESULT_VARIABLE cuda_rc OUTPUT_VARIABLE cuda_out ERROR_VARIABLE cuda_err)
if(EXPECT_CUDA AND NOT cuda_rc EQUAL 0)
  message(FATAL_ERROR "find_package(bijgan COMPONENTS cuda) failed on a CUDA install:\n${cuda_out}\n${cuda_err}")
elseif(NOT EXPECT_CUDA AND (cuda_rc EQUAL 0 OR NOT cuda_err MATCHES "without the CUDA backend"))
  message(FATAL_ERROR "find_package(bijgan COMPONENTS cuda) on an install without CUDA must fail and say why:\n${cuda_err}")
endif()
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
if(EXPECT_PRECOMPILED)
  run(${WORK_DIR}/build/consumer_precompiled)
endif()
