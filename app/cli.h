#pragma once
// cxxopts for every `sernn` command. Repeated options keep their commas (`--set
// model.grid=10,10,1` is one value): sernn splits lists itself, so cxxopts' vector delimiter is
// set to a character no argument contains. Include this instead of <cxxopts.hpp> everywhere,
// so every translation unit sees the same definition.
#define CXXOPTS_VECTOR_DELIMITER '\x1f'
#include <cxxopts.hpp>

#include <iostream>

namespace sernn {
/// Prints the command's help and `epilog` when --help was given (the command then returns 0).
inline bool printed_help(cxxopts::Options& opts, const cxxopts::ParseResult& args, const char* epilog = "") {
  if (!args.count("help")) return false;
  std::cout << opts.help() << epilog;
  return true;
}
}  // namespace sernn
