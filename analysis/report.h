#pragma once
/// `sernn report`: one self-contained HTML page (inline SVG, no scripts from the network) for
/// a run directory: metrics over epochs, the analysis over epochs, the final weight matrix as a
/// heatmap ordered by community, the eigenspectrum in the complex plane, and p_ij against
/// distance.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sernn {

/// Builds the HTML for a run. `metrics`: the lines of metrics.jsonl; `analysis`: the list
/// written by `sernn analyze` (one object per epoch); `config`: config.json.
std::string run_report_html(const std::string& title, const nlohmann::json& config, const nlohmann::json& metrics,
                            const nlohmann::json& analysis, const std::string& run_dir);

/// Builds the HTML for a sweep from the rows of its results.csv (header -> value maps): final
/// Q, weight entropy, λ_max, spectral entropy and test accuracy against γ, one colour per
/// regulariser group. Rows whose test accuracy is below `min_accuracy` are left out (the
/// reference's filter: 0.9 for rate, 0.45 for spiking networks); a negative value keeps all.
std::string sweep_report_html(const std::string& title, const std::vector<std::map<std::string, std::string>>& rows,
                              double min_accuracy);

}  // namespace sernn
