# Build options and the per-target defaults every sernn target shares.
option(SERNN_BUILD_TESTS "Build the GoogleTest suite" ON)
option(SERNN_USE_PCH "Precompile torch headers (much faster builds)" ON)
option(SERNN_BUILD_FUZZERS "Build the libFuzzer targets (clang; see scripts/fuzz.sh)" OFF)
# `pip install .` (pyproject.toml) sets this: only what libsernn_ops.so needs (core, models,
# regularizers, ops) and only their dependencies (torch; the header-only fmt and nlohmann-json).
option(SERNN_PYTHON_ONLY "Build only the operators library and the Python package sernn" OFF)
if(SERNN_PYTHON_ONLY)
  set(SERNN_BUILD_TESTS OFF CACHE BOOL "Build the GoogleTest suite" FORCE)
endif()

# Position-independent code everywhere: libsernn_ops.so (ops/, the operators for Python) links the
# static libraries, and the shared PCH must see the same flags as every target that reuses it.
set(CMAKE_POSITION_INDEPENDENT_CODE ON)

if(NOT CMAKE_BUILD_TYPE AND NOT CMAKE_CONFIGURATION_TYPES)
  set(CMAKE_BUILD_TYPE Release CACHE STRING "Build type" FORCE)
endif()

find_program(SERNN_CCACHE ccache)
if(SERNN_CCACHE)
  # ccache only caches PCH users with these sloppiness settings. CCACHE_BASEDIR: paths inside the
  # checkout count relative, so that another clone (CI clones afresh every run) hits the cache.
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} ${SERNN_CCACHE})
  if(NOT CMAKE_CUDA_COMPILER_LAUNCHER)
    set(CMAKE_CUDA_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env CCACHE_BASEDIR=${PROJECT_SOURCE_DIR} ${SERNN_CCACHE})
  endif()
endif()

# sernn_target_defaults(<target>): C++20, warnings, and the shared torch PCH.
# The PCH is built once by sernn_pch (cmake/pch.cpp) and reused by every target, so
# torch/torch.h is parsed once per build instead of once per target. Targets must therefore not
# add compile definitions of their own.
#
# C++20 throughout: torch >= 2.14 refuses anything older, and Debian's 1.13 builds as C++20 with
# g++ 12. The one exception is clang with a torch older than 2.14 (the libFuzzer build on Debian's
# 1.13): clang 14 rejects 1.13's headers in C++20 (std::vector<IValue> of an incomplete IValue in
# a constexpr context), so that build stays C++17, which such a torch still accepts.
function(sernn_target_defaults target)
  set(_std 20)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "Clang" AND Torch_VERSION VERSION_LESS 2.14)
    set(_std 17)
  endif()
  target_compile_features(${target} PUBLIC cxx_std_${_std})
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  get_target_property(_type ${target} TYPE)
  if(_type STREQUAL "EXECUTABLE")
    # Executables compile as PIC too (PIE is CMake's choice for them): a PCH built with other
    # -fpic/-fpie settings is ignored, and each executable would parse torch again.
    set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE OFF)
    target_compile_options(${target} PRIVATE -fPIC)
  endif()
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(SERNN_BUILD_FUZZERS)
    # Coverage for libFuzzer plus AddressSanitizer/UBSan on every sernn target of the fuzz build.
    target_compile_options(${target} PRIVATE -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
    target_link_options(${target} PUBLIC -fsanitize=address,undefined)
  endif()
  if(SERNN_USE_PCH)
    if(target STREQUAL "sernn_pch")
      target_precompile_headers(${target} PRIVATE <torch/torch.h> <nlohmann/json.hpp> <fmt/format.h>)
    else()
      target_precompile_headers(${target} REUSE_FROM sernn_pch)
    endif()
  endif()
endfunction()
