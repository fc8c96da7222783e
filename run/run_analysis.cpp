#include "run/run_analysis.h"

#include "analysis/seed000_report.h"

#include <map>

#include <fmt/format.h>

#include "analysis/analyze.h"
#include "analysis/measures.h"
#include "analysis/pathways.h"
#include "analysis/report.h"
#include "analysis/svg.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "models/rate_rnn.h"
#include "run/sweep.h"
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

namespace {

/// Test accuracy of `net` on `task` (the test split, in file order, batches of 256).
double test_accuracy(Network& net, const Task& task) {
  torch::NoGradGuard no_grad;
  net.train(false);
  auto stream = task.stream(Split::Test, 0, 256, 0, torch::kCPU);
  Batch b;
  int64_t right = 0, n = 0;
  while (stream->next(b)) {
    const auto x = b.inputs.is_sparse() && !net.takes_sparse_inputs() ? b.inputs.to_dense() : b.inputs;
    right += net.run(x, false).logits.argmax(-1).eq(b.labels).sum().item<int64_t>();
    n += b.labels.size(0);
  }
  return n ? static_cast<double>(right) / static_cast<double>(n) : 0.0;
}

}  // namespace

void zero_recurrence(Network& net) {
  torch::NoGradGuard no_grad;
  // Low rank: W = L R^T, its factors the parameters (it has no per-synapse one); else the
  // parameter behind W (W_raw under Dale's law: a zero entry gives a zero synapse).
  bool low_rank = false;
  for (auto& p : net.named_parameters())
    if (p.key().rfind("rank_left", 0) == 0) p.value().zero_(), low_rank = true;
  if (!low_rank) net.recurrent_parameter().zero_();
  TORCH_CHECK(net.recurrent_weight().count_nonzero().item<int64_t>() == 0,
              "zero_recurrence: the recurrent weight of this model is not zeroed by its parameters");
}

std::string add_recurrence_ablation(const std::string& run_dir, nlohmann::json& snapshots,
                                    std::shared_ptr<const Task> task) {
  const RunDir dir(run_dir);
  for (auto& snap : snapshots) {
    const int64_t epoch = snap.value("epoch", int64_t{-1});
    if (epoch < 0 || !file_exists(dir.model_path(epoch))) continue;
    auto run = load_run(run_dir, epoch);
    if (!task) {
      try {
        task = make_task(run.config);  // the run's data
      } catch (const InputError& e) {
        return fmt::format("no recurrence ablation: the run's task cannot be built ({})", e.what());
      }
    }
    snap["test_acc"] = test_accuracy(*run.network, *task);
    zero_recurrence(*run.network);
    snap["ablation_test_acc"] = test_accuracy(*run.network, *task);
  }
  return "";
}

nlohmann::json analyze_run_with_dynamics(const std::string& run_dir, const AnalysisOptions& o, int64_t starts,
                                         int64_t max_hops, bool ablation, std::string* warning) {
  auto result = analyze_run(run_dir, o);
  if (ablation) {
    const auto w = add_recurrence_ablation(run_dir, result);
    if (warning) *warning = w;
  }
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

nlohmann::json analyze_matrix_file(const std::string& path, const std::string& coords_path, const AnalysisOptions& o) {
  const auto w = read_matrix_csv(path);
  if (w.size(0) != w.size(1))
    throw InputError(
        fmt::format("{}: weights must be square (N rows of N values), got {} x {}", path, w.size(0), w.size(1)));
  torch::Tensor coords;
  if (!coords_path.empty()) {
    coords = read_coords_csv(coords_path);
    if (coords.size(0) != w.size(0))
      throw InputError(fmt::format("{}: {} rows but the weights have N = {}", coords_path, coords.size(0), w.size(0)));
  } else if (w.size(0) == 100) {
    coords = grid_coordinates({5, 5, 4});
  }
  return analyze_matrix(w, coords, o);
}

namespace {
std::string run_report_unchecked(const std::string& dir) {
  const RunDir run(dir);
  const auto config = run.read_config_json();
  nlohmann::json analysis;
  if (file_exists(run.file("analysis.json"))) {
    analysis = read_json(run.file("analysis.json"));
  } else {
    AnalysisOptions o;
    o.strength = config_strength(read_run_config(dir));
    analysis = analyze_run_with_dynamics(dir, o, FixedPointOptions().initial_states, 8, /*ablation=*/false);
    atomic_write_text(run.file("analysis.json"), analysis.dump() + "\n");
  }
  if (!analysis.is_array() || analysis.empty())
    throw InputError(fmt::format("{}: expected a non-empty list", run.file("analysis.json")));
  return run_report_html("sernn run " + dir, config, run.metrics(), analysis, dir);
}

constexpr int64_t kSpikingCloudEpoch = 30;

/// The model kind of a sweep ("rate", "spiking"; empty when base_config.json does not say).
std::string sweep_model_kind(const std::string& dir) {
  const auto path = dir + "/base_config.json";
  if (!file_exists(path)) return "";
  const auto base = read_json(path);
  return reading(path, [&] { return base.at("model").at("kind").get<std::string>(); });
}

/// Fig 5c's networks: accurate L1 and seRNN runs at 10-50 % of their group's largest γ (at most
/// 20 per group), with the eigenvalues of their snapshot at `epoch` when they have one (the
/// spiking figure draws epoch 30), else of their final analysis.
std::vector<EigenCloud> eigen_clouds(const std::string& dir, const std::vector<CsvRow>& runs, double min_accuracy,
                                     int64_t epoch) {
  std::vector<EigenCloud> out;
  for (const char* group : {"l1", "sernn"}) {
    double top = 0;
    for (const auto& r : runs)
      if (r.at("group") == group && !r.at("gamma").empty()) top = std::max(top, std::stod(r.at("gamma")));
    int64_t taken = 0;
    for (const auto& r : runs) {
      if (r.at("group") != group || r.at("gamma").empty() || r.at("test_acc").empty() || taken >= 20) continue;
      const double g = std::stod(r.at("gamma"));
      if (g < 0.1 * top || g > 0.5 * top || (min_accuracy >= 0 && std::stod(r.at("test_acc")) < min_accuracy)) continue;
      const RunDir run(dir + "/" + r.at("run_dir"));
      if (epoch >= 0 && file_exists(run.weights_path(epoch))) {
        out.push_back({group, g, eigenvalue_pairs(eigenvalues(run.read_weights(epoch))), epoch});
        ++taken;
        continue;
      }
      const auto path = run.file("final_analysis.json");
      if (!file_exists(path)) continue;
      const auto a = read_json(path);
      if (!a.contains("spectrum")) continue;
      out.push_back({group, g, a["spectrum"]["eigenvalues"].get<std::vector<std::array<double, 2>>>()});
      ++taken;
    }
  }
  return out;
}

/// Fig 5c's shape of the spectrum per (run, epoch), which results_epochs.csv does not carry (its
/// columns are fixed): `symmetry` and `real_eigenvalues` (spectrum.real_share) from each run's
/// epoch_measures.json, added to the rows; left out where a cache predates them.
void add_spectrum_shape(const std::string& dir, std::vector<CsvRow>& epochs) {
  std::map<std::string, nlohmann::json> measures;  // by run_dir
  for (auto& row : epochs) {
    const auto run = row.find("run_dir"), epoch = row.find("epoch");
    if (run == row.end() || epoch == row.end()) continue;
    auto it = measures.find(run->second);
    if (it == measures.end()) {
      const auto path = dir + "/" + run->second + "/epoch_measures.json";
      it = measures.emplace(run->second, file_exists(path) ? read_json(path) : nlohmann::json()).first;
    }
    const auto& m = it->second;
    if (!m.is_object() || !m.contains(epoch->second)) continue;
    const auto& e = m[epoch->second];
    if (e.contains("symmetry")) row["symmetry"] = fmt::format("{:.10g}", e["symmetry"].get<double>());
    if (e.contains("spectrum") && e["spectrum"].contains("real_share"))
      row["real_eigenvalues"] = fmt::format("{:.10g}", e["spectrum"]["real_share"].get<double>());
  }
}

std::string sweep_report_unchecked(const std::string& dir, double min_accuracy) {
  const auto runs = read_results(dir);
  auto html = sweep_report_html("sernn sweep " + dir, runs, min_accuracy);
  const auto epochs_path = dir + "/results_epochs.csv";
  if (file_exists(epochs_path)) {
    // The seed-000 figures go before the end of the page.
    auto epochs = read_csv_rows(epochs_path);
    add_spectrum_shape(dir, epochs);
    // spiking_figures.m draws Fig 5c at epoch 30 (of 50); rate_figures.m at the last epoch.
    const int64_t cloud_epoch = sweep_model_kind(dir) == "spiking" ? kSpikingCloudEpoch : -1;
    const auto section =
        seed000_figures_html(runs, epochs, eigen_clouds(dir, runs, min_accuracy, cloud_epoch), min_accuracy);
    html.insert(html.rfind("<script>"), section);
  }
  return html;
}
}  // namespace

std::string run_report(const std::string& dir) {
  return reading(dir + " (config.json, metrics.jsonl, analysis.json)", [&] { return run_report_unchecked(dir); });
}

std::string sweep_report(const std::string& dir, double min_accuracy) {
  return reading(dir + " (results.csv, results_epochs.csv, the runs' JSON)",
                 [&] { return sweep_report_unchecked(dir, min_accuracy); });
}

std::string sweeps_report(const std::vector<std::string>& dirs, double min_accuracy, bool reference_filter) {
  const auto page_of = [&](const std::string& dir) {
    return sweep_report(dir, reference_filter ? reference_accuracy_filter(dir) : min_accuracy);
  };
  if (dirs.size() == 1) return page_of(dirs.front());
  std::string head, body, title = "sernn sweeps";
  for (const auto& dir : dirs) {
    const auto page = page_of(dir);
    // Each page is <head>...<body>SECTION<script>...</script></body>: keep the first head and
    // every section.
    const size_t open = page.find("<body>") + 6, close = page.rfind("<script>");
    if (head.empty()) head = page.substr(0, open);
    body += "<section>" + page.substr(open, close - open) + "</section>";
    title += " " + dir;
  }
  const size_t t0 = head.find("<title>") + 7, t1 = head.find("</title>");
  head.replace(t0, t1 - t0, svg::escape(title));
  return head + body +
         "<script>document.body.dataset.plots = String(document.querySelectorAll('svg.plot').length);</script>"
         "</body></html>\n";
}

std::string report(const std::vector<std::string>& dirs, double min_accuracy, bool reference_filter) {
  const auto is_sweep = [](const std::string& d) {
    return file_exists(d + "/results.csv") && !file_exists(d + "/config.json");
  };
  for (const auto& d : dirs)
    if (dirs.size() > 1 && !is_sweep(d))
      throw InputError(fmt::format("{}: not a sweep directory (results.csv missing): several DIRs must be sweeps", d));
  const auto& dir = dirs.front();
  if (is_sweep(dir)) return sweeps_report(dirs, min_accuracy, reference_filter);
  if (!file_exists(dir + "/config.json"))
    throw InputError(
        fmt::format("{}: not a run directory (config.json missing) or sweep directory (results.csv missing)", dir));
  return run_report(dir);
}

double reference_accuracy_filter(const std::string& dir) { return sweep_model_kind(dir) == "spiking" ? 0.45 : 0.9; }

}  // namespace sernn
