#pragma once
/// Errors that cross the program boundary. The `sernn` program maps them to exit codes
/// (DESIGN §7): InputError -> 2 (bad config, CLI or data file), anything else -> 1.
#include <stdexcept>
#include <string>

namespace sernn {

/// Bad user input: a config key, a CLI flag, a data or weight file. The message names the
/// file/key and the value at fault, on one line.
class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace sernn
