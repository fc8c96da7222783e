# Third-party libraries, all from Debian packages (scripts/install-deps.sh installs them).
find_package(fmt REQUIRED)
find_package(cxxopts REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_path(TOMLPP_INCLUDE toml++/toml.h REQUIRED)  # header-only use
find_package(Boost 1.74 REQUIRED)              # Boost.Graph is header-only
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(ZLIB REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)
find_package(Threads REQUIRED)
if(SERNN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
