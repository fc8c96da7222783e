# Third-party libraries, all from Debian packages (scripts/install-deps.sh installs them).
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(Threads REQUIRED)
if(SERNN_PYTHON_ONLY)
  # The operators need torch and the two header-only libraries above, nothing else.
  set(SERNN_HAS_C10D_VALUE 0)
  configure_file(${CMAKE_CURRENT_LIST_DIR}/sernn_build_config.h.in ${PROJECT_BINARY_DIR}/generated/sernn_build_config.h)
  return()
endif()
find_package(cxxopts REQUIRED)
find_path(TOMLPP_INCLUDE toml++/toml.h REQUIRED)  # header-only use
find_package(Boost 1.74 REQUIRED)              # Boost.Graph is header-only
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
# c10d with Gloo (data-parallel training): the headers come with LibTorch, Gloo's with libgloo-dev.
find_path(SERNN_GLOO_INCLUDE gloo/config.h)
find_path(SERNN_C10D_INCLUDE torch/csrc/distributed/c10d/ProcessGroupGloo.hpp PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
if(NOT SERNN_C10D_INCLUDE)
  find_path(SERNN_C10D_INCLUDE torch/csrc/distributed/c10d/ProcessGroupGloo.hpp)
endif()
if(SERNN_GLOO_INCLUDE AND SERNN_C10D_INCLUDE)
  set(SERNN_HAS_C10D_VALUE 1)
else()
  set(SERNN_HAS_C10D_VALUE 0)
endif()
message(STATUS "sernn: c10d/Gloo data-parallel training: ${SERNN_HAS_C10D_VALUE}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/sernn_build_config.h.in ${PROJECT_BINARY_DIR}/generated/sernn_build_config.h)

if(SERNN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
