#pragma once
// A Config from KEY=VALUE settings, for the tests of runs and ensembles.
#include <string>
#include <vector>

#include "run/config.h"

namespace sernn::testing {

/// A config with each KEY=VALUE of `sets` applied in order.
inline Config config_of(const std::vector<std::string>& sets) {
  Config c;
  for (const auto& s : sets) c.set(s);
  return c;
}

}  // namespace sernn::testing
