// Whether SHD inputs on which the HDF5 library crashed are contained as sernn contains them
// (scripts/fuzz.sh): read_shd reads in a child process, and a crash there is an input error
// naming the file ("the HDF5 library crashed reading it"). HDF5 1.10 dereferences null buffers in
// its link lookup on some corrupt files (tests/tasks/data/hdf5_segfault.h5) before any check of
// ours can run, so the in-process fuzz target (fuzz_shd) crashes on them where `sernn` does not.
// Usage: shd_contained FILE...; prints one line per file; exit 0 when every file is contained.
// Run it with ASAN_OPTIONS=handle_segv=0 (as fuzz.sh does) so the child dies of the signal, as in
// a build without sanitizers.
#include <cstdio>
#include <string>

#include "core/errors.h"
#include "tasks/shd.h"

int main(int argc, char** argv) {
  int uncontained = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string path = argv[i];
    try {
      sernn::read_shd(path);
      std::printf("not contained (read without error): %s\n", path.c_str());
      ++uncontained;
    } catch (const sernn::InputError& e) {
      const std::string msg = e.what();
      const bool crashed = msg.find("the HDF5 library crashed") != std::string::npos;
      std::printf("%s: %s\n", crashed ? "contained" : "not contained (another input error)", msg.c_str());
      uncontained += !crashed;
    } catch (const std::exception& e) {
      std::printf("not contained: %s: %s\n", path.c_str(), e.what());
      ++uncontained;
    }
  }
  return uncontained == 0 ? 0 : 1;
}
