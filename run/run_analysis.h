#pragma once
/// Analyses that need a run's saved model, not only its weight snapshots: pathway hops through
/// input, recurrent and readout weights, and the fixed points of rate networks.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/analyze.h"
#include "analysis/dynamics.h"
#include "run/setup.h"

namespace sernn {

/// Hop-length decomposition (analysis/pathways.h) of a loaded run's model, with the input
/// channels of the hierarchical task grouped by module; null when its weights are not finite.
nlohmann::json run_pathways(const LoadedRun& run, int64_t max_hops = 8);
/// The same for the model a run saved at `epoch`; null without that model file.
nlohmann::json run_pathways(const std::string& run_dir, int64_t epoch, int64_t max_hops = 8);

/// Fixed points and Jacobian spectra of a loaded rate run's model (zero input); null for other
/// model families.
nlohmann::json run_dynamics(const LoadedRun& run, const FixedPointOptions& options);

/// `net` with its recurrent weight zeroed (recurrent_parameter(), or the low-rank factor L).
void zero_recurrence(Network& net);

/// The recurrence ablation (issue 38; docs/analysis.md): for every snapshot with a saved model,
/// "test_acc" (the model on the run's test split) and "ablation_test_acc" (the same model with
/// its recurrent weight zeroed: how much of the accuracy the recurrent layer carries). Returns ""
/// or, when the run's task cannot be built (its data moved), why nothing was added. `task`: the
/// run's task when the caller has built it (a sweep builds one per data set), else built here.
std::string add_recurrence_ablation(const std::string& run_dir, nlohmann::json& snapshots,
                                    std::shared_ptr<const Task> task = nullptr);

/// analyze_run (every weight snapshot) plus, for the last epoch's saved model (loaded once),
/// the pathway hops (key "pathways", unless max_hops < 0) and, for rate runs, the dynamics (key
/// "dynamics", unless starts <= 0); with `ablation`, add_recurrence_ablation (its warning, if
/// any, into `warning`).
nlohmann::json analyze_run_with_dynamics(const std::string& run_dir, const AnalysisOptions& options, int64_t starts,
                                         int64_t max_hops, bool ablation = false, std::string* warning = nullptr);

/// analyze_matrix of the CSV at `weights_path` (N rows of N values, row = postsynaptic) with the
/// coordinates at `coords_path` (default: the 5x5x4 grid when N = 100, none otherwise).
/// InputError naming the file for a matrix that is not square or coordinates of another N.
nlohmann::json analyze_matrix_file(const std::string& weights_path, const std::string& coords_path,
                                   const AnalysisOptions& options);

/// The HTML report of a run directory (analysis.json, computed and cached when missing).
std::string run_report(const std::string& run_dir);
/// The HTML report of a sweep directory (results.csv), leaving out runs below `min_accuracy`.
std::string sweep_report(const std::string& sweep_dir, double min_accuracy);
/// One page holding the reports of several sweeps in order (seed 000's rate and spiking halves),
/// each filtered at `min_accuracy`, or with `reference_filter` at its own reference threshold.
std::string sweeps_report(const std::vector<std::string>& sweep_dirs, double min_accuracy, bool reference_filter);
/// `sernn report DIR...`: a run's report, or one page for the sweeps given (InputError naming a
/// directory that is neither, or a run directory among several).
std::string report(const std::vector<std::string>& dirs, double min_accuracy, bool reference_filter);
/// The reference's accuracy filter for a sweep's runs: 0.45 for spiking, 0.9 for rate models.
double reference_accuracy_filter(const std::string& sweep_dir);

}  // namespace sernn
