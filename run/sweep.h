#pragma once
/// `sernn sweep`: every (regulariser group, value, seed) of a plan is one `sernn train` run
/// directory under SWEEP_DIR/runs/, run as child processes (`--jobs` at a time). The sweep is
/// resumable: finished (and diverged) runs are skipped, interrupted ones continue from their
/// checkpoint, and SWEEP_DIR/results.csv is always rebuilt from the run directories.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "run/config.h"

namespace sernn {

/// The swept key is regularizer.gamma by default; any numeric config key can take its place
/// (`--param activity.gamma --values ...`), the other keys keep the base config's values.
struct SweepPlan {
  std::vector<std::string> groups{"l1", "space", "comm", "sernn"};
  std::string param = "regularizer.gamma";
  std::vector<double> values;  ///< the values of `param` (γs by default)
  /// Per-group γs (`--gammas l1=0:1:1001,sernn=0:1:1001,space=0:1:101`); a group absent here
  /// uses `values`.
  std::map<std::string, std::vector<double>> group_values;
  double base_gamma = 0.0;  ///< regularizer.gamma of every run when param is another key
  int64_t seeds = 1;
  int64_t first_seed = 1;
};

/// What `sernn sweep` was asked for (flags as given), before it is checked.
struct SweepRequest {
  std::string groups = "l1,space,comm,sernn";
  bool groups_given = false;  ///< without --groups, a --param sweep uses the config's regularizer.kind
  std::string param = "regularizer.gamma";
  std::string gammas = "0.001:0.3:11";
  bool gammas_given = false;
  std::string values;  ///< --values (empty: not given)
  int64_t seeds = 1;
};
/// The plan of `request` over `base`: groups known to the registry, values in the swept key's
/// range, seeds from train.seed on. InputError naming the flag otherwise.
SweepPlan make_plan(const Config& base, const SweepRequest& request);

struct SweepRun {
  std::string group;
  double gamma;  ///< regularizer.gamma of the run
  int64_t seed;
  std::string dir;  ///< relative to SWEEP_DIR
  std::string param = "regularizer.gamma";
  double value = 0.0;  ///< the swept key's value (== gamma when param is regularizer.gamma)
};

/// "a:b:n" (n values from a to b inclusive, like numpy.linspace) or "a,b,c"; non-negative.
std::vector<double> parse_gammas(const std::string& text);
/// "GROUP=VALUES,GROUP=VALUES,..." (each VALUES as parse_gammas: an item without '=' continues the
/// list of the group before it) -> the groups in order with their γs; InputError naming `option`.
std::vector<std::pair<std::string, std::vector<double>>> parse_group_gammas(const std::string& text,
                                                                            const std::string& option);

/// A sweep group: a regulariser family, or a control of seed 000 that is one with other keys
/// set (`random`: seRNN trained on shuffled labels, task.shuffle_labels = true).
struct SweepGroup {
  std::string name, kind;                                 ///< group name, its regularizer.kind
  std::vector<std::pair<std::string, std::string>> sets;  ///< further keys of its runs
};
/// The group named `name` (a penalty family or a control); InputError naming `option` otherwise.
SweepGroup find_sweep_group(const std::string& name, const std::string& option);
/// The same syntax for any numeric key; `option` names the flag in errors. Negative values are
/// allowed here (the config schema checks each key's range).
std::vector<double> parse_values(const std::string& text, const std::string& option, bool allow_negative);
/// The run's config: `base` with regularizer.kind = group, the swept key, train.seed.
Config run_config(const Config& base, const SweepRun& run, int64_t threads);
/// SWEEP_DIR/sweep.json: the plan and its runs, for people and tools.
nlohmann::json sweep_plan_json(const SweepPlan& plan, const std::vector<SweepRun>& all, const std::string& config_path,
                               const std::vector<std::string>& sets);
/// SWEEP_DIR/results_epochs.csv: one row per (finished run, weight snapshot) with that epoch's
/// accuracies and the seed-000 measures (analysis/analyze.h reference_measures; cached per run
/// in epoch_measures.json). Epoch 0 is before training (no accuracies). Called by every results
/// rebuild.
void write_epoch_results(const std::string& out_dir, const std::vector<SweepRun>& runs);
/// "I/M" (0 <= I < M) as {I, M}; InputError naming --shard otherwise.
std::pair<int64_t, int64_t> parse_shard(const std::string& text);
/// All runs of the plan in a fixed order (group, then γ, then seed).
std::vector<SweepRun> expand(const SweepPlan& plan);
/// Shard `index` of `count`: runs i with i mod count == index.
std::vector<SweepRun> shard(const std::vector<SweepRun>& runs, int64_t index, int64_t count);

struct SweepOptions {
  std::string out_dir;
  std::string self;  ///< path of the sernn executable to run children with
  int64_t jobs = 1;
  int64_t threads_per_job = 1;
  bool quiet = false;
};

/// Runs (or resumes) `runs`; returns the number that are finished or diverged. Writes
/// SWEEP_DIR/base_config.json and rebuilds results.csv after every run. Stops on SIGINT/SIGTERM
/// after passing the signal on to the running children (which checkpoint) and throws Interrupted.
/// `all` is the whole plan (results.csv lists every run), `runs` the part to run here.
int64_t run_sweep(const Config& base, const std::vector<SweepRun>& runs, const std::vector<SweepRun>& all,
                  const SweepOptions& options);

/// Like run_sweep, but trains the runs `ensemble` at a time in this process as one batched model
/// (run/ensemble.h): groups of consecutive runs, each with its checkpoint in
/// SWEEP_DIR/ensembles/, so an interrupted (or killed) sweep resumes every group exactly.
int64_t run_sweep_ensembles(const Config& base, const std::vector<SweepRun>& runs, const std::vector<SweepRun>& all,
                            const SweepOptions& options, int64_t ensemble);

/// Rebuilds SWEEP_DIR/results.csv (one row per run of `runs`) from the run directories. When
/// the plan sweeps another key than γ, the columns `param,value` follow `run_dir`.
void write_results(const std::string& out_dir, const std::vector<SweepRun>& runs);

/// SWEEP_DIR/results.csv as rows of column -> cell; InputError naming the file when it is
/// missing or is not a sweep's results (no gamma column).
std::vector<std::map<std::string, std::string>> read_results(const std::string& sweep_dir);
/// The rows of a sweep CSV (results.csv, results_epochs.csv) as header -> value maps;
/// InputError naming the file when it has no gamma column.
std::vector<std::map<std::string, std::string>> read_csv_rows(const std::string& path);

/// Path of the running program (/proc/self/exe): sweep children and Slurm tasks run the same binary.
std::string self_executable();
/// The command line that runs `plan` again (one job, quiet): what each Slurm array task runs
/// with its --shard.
std::vector<std::string> sweep_command(const std::string& self, const SweepPlan& plan, const std::string& config_path,
                                       const std::string& out_dir, const std::vector<std::string>& sets);

/// Text of a Slurm job array whose task i runs shard i/M of the same sweep.
std::string slurm_script(const std::vector<std::string>& sweep_args, int64_t shards, const std::string& out_dir,
                         const std::string& partition, const std::string& time, int64_t gpus_per_task);

/// Quotes a word for a POSIX shell.
std::string shell_quote(const std::string& word);

}  // namespace sernn
