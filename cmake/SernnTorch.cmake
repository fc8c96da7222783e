# Torch discovery. Two supported installs:
#   * Debian's libtorch-dev (1.13, CPU): found by plain find_package(Torch).
#   * a Python torch 2.x wheel (pip's torch is the CUDA build): its CMake package lives under
#     torch.utils.cmake_prefix_path, which we ask the interpreter for. A Python build (`pip
#     install`, SERNN_PYTHON_ONLY) asks its interpreter first: the package must load into that torch.
# Set Torch_DIR or CMAKE_PREFIX_PATH to force one.
function(sernn_python_torch_prefix out)
  foreach(py ${Python_EXECUTABLE} ${Python3_EXECUTABLE} ${SERNN_PYTHON} python3 /usr/bin/python3)
    execute_process(
      COMMAND ${py} -c "import torch; print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE _prefix OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE _rc ERROR_QUIET)
    if(_rc EQUAL 0 AND _prefix)
      set(${out} "${_prefix}" PARENT_SCOPE)
      return()
    endif()
  endforeach()
  set(${out} "" PARENT_SCOPE)
endfunction()

# Torch's CMake reads the CUDA architectures from the environment's TORCH_CUDA_ARCH_LIST (and
# detects the GPU, or picks a list of its own, without it). The first configure's value is kept
# in the cache, so that a later re-configure (a build that re-runs CMake) builds for the same.
# Without it, the GPUs this machine has (nvidia-smi), else A100, H100/H200 and B200: torch's own
# fallback list includes architectures that nvcc 13 no longer compiles for (sm_50).
if(DEFINED ENV{TORCH_CUDA_ARCH_LIST})
  set(SERNN_TORCH_CUDA_ARCH_LIST "$ENV{TORCH_CUDA_ARCH_LIST}" CACHE STRING "CUDA architectures (TORCH_CUDA_ARCH_LIST)")
elseif(NOT SERNN_TORCH_CUDA_ARCH_LIST)
  set(_sernn_archs "8.0;9.0;10.0")
  set(_sernn_archs_from "A100, H100/H200, B200")
  find_program(SERNN_NVIDIA_SMI nvidia-smi)
  if(SERNN_NVIDIA_SMI)
    execute_process(COMMAND ${SERNN_NVIDIA_SMI} --query-gpu=compute_cap --format=csv,noheader
      OUTPUT_VARIABLE _caps RESULT_VARIABLE _rc ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(_rc EQUAL 0 AND _caps MATCHES "^[0-9]")
      string(REGEX REPLACE "[ \t\r\n]+" ";" _caps "${_caps}")
      list(REMOVE_DUPLICATES _caps)
      set(_sernn_archs "${_caps}")
      set(_sernn_archs_from "the GPUs of this machine")
    endif()
  endif()
  set(SERNN_TORCH_CUDA_ARCH_LIST "${_sernn_archs}" CACHE STRING "CUDA architectures (TORCH_CUDA_ARCH_LIST)")
  message(STATUS "sernn: TORCH_CUDA_ARCH_LIST not set: ${_sernn_archs} (${_sernn_archs_from}), for a CUDA torch")
endif()
set(ENV{TORCH_CUDA_ARCH_LIST} "${SERNN_TORCH_CUDA_ARCH_LIST}")

if(SERNN_PYTHON_ONLY AND NOT Torch_DIR)
  sernn_python_torch_prefix(_sernn_torch_prefix)
  if(_sernn_torch_prefix)
    list(PREPEND CMAKE_PREFIX_PATH "${_sernn_torch_prefix}")
  endif()
endif()
find_package(Torch QUIET)
if(NOT Torch_FOUND)
  sernn_python_torch_prefix(_sernn_torch_prefix)
  if(_sernn_torch_prefix)
    list(APPEND CMAKE_PREFIX_PATH "${_sernn_torch_prefix}")
  endif()
  find_package(Torch REQUIRED)
endif()
message(STATUS "sernn: Torch ${Torch_VERSION} from ${Torch_DIR}")

# TORCH_CXX_FLAGS carries the ABI define of the install (e.g. -D_GLIBCXX_USE_CXX11_ABI=0 for
# pip wheels); it must reach every translation unit, so wrap torch in an interface target.
add_library(sernn_torch INTERFACE)
target_link_libraries(sernn_torch INTERFACE ${TORCH_LIBRARIES})
# pip's libtorch.so (2.x, built against a newer libstdc++ than the system's) exports copies of
# libstdc++ symbols, some broken: std::filesystem::remove_all there jumps to address 0. A binary
# whose first needed library is libtorch.so binds such calls to those copies; naming the system's
# libstdc++ first makes the dynamic linker find the real ones first.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_link_options(sernn_torch INTERFACE "SHELL:-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
endif()
if(TORCH_CXX_FLAGS)
  separate_arguments(_sernn_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  target_compile_options(sernn_torch INTERFACE ${_sernn_torch_flags})
endif()
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  set(SERNN_HAS_CUDA ON)
  target_compile_definitions(sernn_torch INTERFACE SERNN_HAS_CUDA=1)
  # sernn's own kernels (models/cuda) are built for the architectures torch was asked for
  # (TORCH_CUDA_ARCH_LIST, e.g. "9.0" -> 90), else for the GPU of this machine.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    set(_sernn_arch_list "${TORCH_CUDA_ARCH_LIST}")
    if(NOT _sernn_arch_list AND DEFINED ENV{TORCH_CUDA_ARCH_LIST})
      set(_sernn_arch_list "$ENV{TORCH_CUDA_ARCH_LIST}")
    endif()
    if(_sernn_arch_list)
      string(REPLACE " " ";" _sernn_arch_list "${_sernn_arch_list}")
      set(_sernn_archs "")
      foreach(_a IN LISTS _sernn_arch_list)
        string(REPLACE "+PTX" "" _a "${_a}")
        string(REPLACE "." "" _a "${_a}")
        if(_a)
          list(APPEND _sernn_archs "${_a}")
        endif()
      endforeach()
      set(CMAKE_CUDA_ARCHITECTURES "${_sernn_archs}")
    else()
      set(CMAKE_CUDA_ARCHITECTURES native)
    endif()
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # CMake before 3.26 knows no C++20 flag for nvcc (12 and later take -std=c++20): without this,
  # CUDA_STANDARD 20 is an error, and torch's CMake would impose its CMAKE_CUDA_STANDARD (17).
  if(CMAKE_CUDA_COMPILER_ID STREQUAL "NVIDIA" AND CMAKE_CUDA_COMPILER_VERSION VERSION_GREATER_EQUAL 12.0
     AND NOT CMAKE_CUDA20_STANDARD_COMPILE_OPTION)
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  endif()
  if(CMAKE_CUDA_ARCHITECTURES)
    message(STATUS "sernn: CUDA kernels for architectures ${CMAKE_CUDA_ARCHITECTURES}")
  else()
    # Torch 2.x's CMake package sets CMAKE_CUDA_ARCHITECTURES to OFF and puts -gencode options for
    # its TORCH_CUDA_ARCH_LIST into CMAKE_CUDA_FLAGS instead: our kernels get those.
    string(REGEX MATCHALL "arch=compute_[0-9a-z]+,code=[a-z_0-9]+" _sernn_gencode "${CMAKE_CUDA_FLAGS}")
    message(STATUS "sernn: CUDA kernels for Torch's TORCH_CUDA_ARCH_LIST '${TORCH_CUDA_ARCH_LIST}': ${_sernn_gencode}")
  endif()
else()
  set(SERNN_HAS_CUDA OFF)
endif()

# ATen's at::parallel_for is header code built on `#pragma omp parallel`: without OpenMP our own
# kernels (the fast LIF loop, the sparse input projection) would silently run on one thread.
# GCC only, so that we share libtorch's libgomp rather than load a second OpenMP runtime.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  find_package(OpenMP)
  if(OpenMP_CXX_FOUND)
    target_link_libraries(sernn_torch INTERFACE OpenMP::OpenMP_CXX)
  endif()
endif()
if(NOT OpenMP_CXX_FOUND)
  message(STATUS "sernn: no OpenMP for ${CMAKE_CXX_COMPILER_ID}: sernn's own CPU kernels run single-threaded")
endif()
