#include "run/run_analysis.h"

#include "analysis/analyze.h"
#include "analysis/pathways.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "models/rate_rnn.h"
#include "tasks/hierarchical.h"

namespace sernn {

nlohmann::json run_pathways(const LoadedRun& run, int64_t max_hops) {
  torch::NoGradGuard no_grad;
  auto params = run.network->named_parameters();
  if (!params.contains("input.weight") || !params.contains("readout.weight")) return nullptr;
  torch::Tensor groups;
  if (run.config.get_string("task.kind") == "hierarchical")
    groups = hierarchical_channel_modules(run.config.get_int("task.modules"), run.config.get_int("task.submodules"));
  const auto w = run.network->recurrent_weight();
  // A model with non-finite weights (a diverged run's last snapshot) has no pathways to decompose.
  if (!torch::isfinite(w).all().item<bool>() || !torch::isfinite(params["input.weight"]).all().item<bool>() ||
      !torch::isfinite(params["readout.weight"]).all().item<bool>())
    return nullptr;
  return pathway_hops(params["input.weight"], w, params["readout.weight"], max_hops, groups);
}

nlohmann::json run_pathways(const std::string& run_dir, int64_t epoch, int64_t max_hops) {
  if (!file_exists(RunDir(run_dir).model_path(epoch))) return nullptr;
  return run_pathways(load_run(run_dir, epoch), max_hops);
}

nlohmann::json run_dynamics(const LoadedRun& run, const FixedPointOptions& fo) {
  auto* net = dynamic_cast<RateRNNImpl*>(run.network.get());
  if (!net) return nullptr;
  torch::NoGradGuard no_grad;
  const int64_t n = net->options.hidden();
  RateDynamics d{net->recurrent_weight(), net->recurrent->bias, 1.0 / net->alpha().expand({n}),
                 net->options.tanh() ? "tanh" : "relu", net->neuron_sign()};
  return dynamics_report(d, fo);
}

nlohmann::json analyze_run_with_dynamics(const std::string& run_dir, const AnalysisOptions& o, int64_t starts,
                                         int64_t max_hops) {
  auto result = analyze_run(run_dir, o);
  if (result.empty() || (max_hops < 0 && starts <= 0)) return result;
  auto& last = result.back();
  const int64_t epoch = last["epoch"].get<int64_t>();
  if (!file_exists(RunDir(run_dir).model_path(epoch))) return result;
  const auto run = load_run(run_dir, epoch);
  if (max_hops >= 0) {
    auto hops = run_pathways(run, max_hops);
    if (!hops.is_null()) last["pathways"] = std::move(hops);
  }
  if (starts > 0) {
    FixedPointOptions fo;
    fo.initial_states = starts;
    auto dyn = run_dynamics(run, fo);
    if (!dyn.is_null()) last["dynamics"] = std::move(dyn);
  }
  return result;
}

}  // namespace sernn
