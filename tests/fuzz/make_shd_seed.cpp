// Writes a small valid SHD file as the seed corpus of fuzz_shd.
#include "tasks/shd.h"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  sernn::write_shd(argv[1], sernn::synth_shd({4, 1, 0.2}));
  return 0;
}
