#pragma once
/// `sernn report`: one self-contained HTML page (inline SVG, no scripts from the network) for
/// a run directory: metrics over epochs, the analysis over epochs, the final weight matrix as a
/// heatmap ordered by community, the eigenspectrum in the complex plane, and p_ij against
/// distance.
#include <string>

#include <nlohmann/json.hpp>

namespace sernn {

/// Builds the HTML for a run. `metrics`: the lines of metrics.jsonl; `analysis`: the list
/// written by `sernn analyze` (one object per epoch); `config`: config.json.
std::string run_report_html(const std::string& title, const nlohmann::json& config, const nlohmann::json& metrics,
                            const nlohmann::json& analysis, const std::string& run_dir);

}  // namespace sernn
