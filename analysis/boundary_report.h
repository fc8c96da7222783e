#pragma once
/// The files of `sernn boundary` (seed 002's latent-boundary pictures): a CSV of the simulation
/// (input, filtered input, latents, boundary or targets, spikes per step) and a self-contained
/// HTML page with the charts.
#include <string>

#include "models/low_rank.h"

namespace sernn {

struct BoundaryFiles {
  std::string csv;
  std::string html;
  int64_t spikes = 0;  ///< all spikes of the simulation
};

/// The CSV and HTML of a demo run with `options`.
BoundaryFiles boundary_report(const BoundaryDemoOptions& options, const BoundaryDemo& demo);

}  // namespace sernn
