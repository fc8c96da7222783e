#!/usr/bin/env bash
# Packs what a bare GPU machine lacks to build sernn, from this Debian machine: the headers, CMake
# packages and libraries of sernn's dependencies (scripts/install-deps.sh: fmt, cxxopts,
# nlohmann-json, toml++, GoogleTest, HDF5, curl, OpenSSL, zlib, Boost's header-only graph).
# The lent GPU machines have CUDA 13 with nvcc, CMake, ninja, g++ and pip's torch with CUDA, but no
# -dev packages and no network; only the checkout and the paths named in `carry` travel.
#
# usage: scripts/gpu-kit.sh            writes .gpu-kit/ (ignored by git): kit.tar.xz and env.sh
# Carry ".gpu-kit" to the GPU machine; scripts/build-cuda.sh (and so scripts/gpu-check.sh) sources
# .gpu-kit/env.sh when it is there, which unpacks the kit once into /tmp/sernn-gpu-kit and exports
# SERNN_KIT_PREFIX and SERNN_KIT_CMAKE_ARGS (what points CMake at it), CXXFLAGS and LD_LIBRARY_PATH (the
# kit's libraries that the machine lacks).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
kit="$root/.gpu-kit"
arch=x86_64-linux-gnu
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
u="$work/usr"
mkdir -p "$u/include/$arch" "$u/include/hdf5" "$u/lib/$arch/cmake" "$u/lib/$arch/hdf5/serial" "$u/lib/cmake" \
  "$u/share/cmake"

# Headers (Boost: only what Boost.Graph includes is needed, but its header web is wide: all of it).
for h in fmt cxxopts.hpp nlohmann toml++ gtest gmock openssl zlib.h zconf.h boost; do cp -a "/usr/include/$h" "$u/include/"; done
cp -a /usr/include/hdf5/serial "$u/include/hdf5/"
cp -a "/usr/include/$arch/openssl" "/usr/include/$arch/curl" "$u/include/$arch/"
# CMake packages.
for p in fmt GTest tomlplusplus Boost-1.74.0 boost_headers-1.74.0 BoostDetectToolset-1.74.0.cmake; do
  cp -a "/usr/lib/$arch/cmake/$p" "$u/lib/$arch/cmake/"
done
cp -a /usr/lib/cmake/cxxopts "$u/lib/cmake/"
cp -a /usr/share/cmake/nlohmann_json "$u/share/cmake/"
# Libraries, and what libhdf5 needs at run time beyond glibc.
(cd "/usr/lib/$arch" && cp -a libfmt.so* libgtest*.a libgmock*.a libhdf5_serial.so* libcrypto.so* libcurl.so* libz.so* \
  libssl.so* "$u/lib/$arch/" && cp -a hdf5/serial/libhdf5.so "$u/lib/$arch/hdf5/serial/")
for l in $(ldd "$(readlink -f "/usr/lib/$arch/hdf5/serial/libhdf5.so")" | awk '/=>/ {print $3}'); do
  case "$(basename "$l")" in libc.so* | libm.so* | libresolv.so* | ld-linux*) ;; *) cp -nL "$l" "$u/lib/$arch/" ;; esac
done
# Links to absolute paths would dangle there: replace them by their targets.
find "$u" -type l -lname '/*' | while read -r l; do cp --remove-destination -L "$l" "$l.tmp" && mv "$l.tmp" "$l"; done

mkdir -p "$kit"
tar -C "$work" -cJf "$kit/kit.tar.xz" usr
cat > "$kit/env.sh" <<'EOF'
# Sourced by scripts/build-cuda.sh on a machine without sernn's -dev packages (scripts/gpu-kit.sh).
_sk_src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_sk=/tmp/sernn-gpu-kit
_sk_u=$_sk/usr
_sk_l=$_sk_u/lib/x86_64-linux-gnu
if [ ! -f "$_sk/.ok" ]; then
  mkdir -p "$_sk/rt" && tar -xJf "$_sk_src/kit.tar.xz" -C "$_sk" || return 1
  # At run time only the kit's libraries that this system lacks.
  for _sk_f in "$_sk_l"/*.so.[0-9]*; do
    _sk_n="$(basename "$_sk_f")"
    case "$_sk_n" in *.so.*.*) continue ;; esac
    ldconfig -p | grep -q "^[[:space:]]*$_sk_n " || ln -sf "$_sk_f" "$_sk/rt/$_sk_n"
  done
  touch "$_sk/.ok"
fi
export CXXFLAGS="-isystem $_sk_u/include/x86_64-linux-gnu${CXXFLAGS:+ $CXXFLAGS}"
export LD_LIBRARY_PATH="$_sk/rt${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export SERNN_KIT_PREFIX="$_sk_u;$_sk_l/cmake;$_sk_u/lib/cmake;$_sk_u/share/cmake"
export SERNN_KIT_CMAKE_ARGS="-DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
-DHDF5_C_INCLUDE_DIR=$_sk_u/include/hdf5/serial -DHDF5_C_LIBRARY_hdf5=$_sk_l/hdf5/serial/libhdf5.so \
-DCURL_INCLUDE_DIR=$_sk_u/include/x86_64-linux-gnu -DCURL_LIBRARY=$_sk_l/libcurl.so \
-DOPENSSL_ROOT_DIR=$_sk_u -DOPENSSL_INCLUDE_DIR=$_sk_u/include -DOPENSSL_CRYPTO_LIBRARY=$_sk_l/libcrypto.so \
-DZLIB_INCLUDE_DIR=$_sk_u/include -DZLIB_LIBRARY=$_sk_l/libz.so -DTOMLPP_INCLUDE=$_sk_u/include \
-DBoost_DIR=$_sk_l/cmake/Boost-1.74.0"
unset _sk_src _sk _sk_u _sk_l _sk_f _sk_n
EOF
du -sh "$kit"/*
