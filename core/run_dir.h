#pragma once
/// A run directory: the files one training run writes, their names, and their readers and
/// writers. The one place that spells a run's file names (README "Run directory"):
///   config.json            the resolved config (plus "runtime" when sernn chose the threads)
///   coords.csv             neuron coordinates [N, 3]
///   metrics.jsonl          one JSON object per epoch (appended and fsynced)
///   weights/epoch_EEE.csv  the recurrent matrix before training (000) and after every epoch
///   models/epoch_EEE.pt    the whole model (parameters and buffers) at the same points
///   checkpoint.pt          model + optimiser + position (core/trainer.h)
///   status.json            {"status": running|finished|interrupted|diverged, "epoch": E, ...}
///   analysis.json, report.html, final_analysis.json: results derived from the snapshots
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

namespace sernn {

/// Where a run stands. `Pending`: no status.json yet (or one that does not parse).
enum class RunStatus { Pending, Running, Finished, Interrupted, Diverged };
const char* status_name(RunStatus status);

/// status.json: the status, the epochs completed, the epochs planned, and why it stopped.
struct RunState {
  RunStatus status = RunStatus::Pending;
  int64_t epoch = 0;
  int64_t epochs = 0;
  std::string message;
  /// Finished or diverged: a sweep does not train it again.
  bool done() const { return status == RunStatus::Finished || status == RunStatus::Diverged; }
};

class RunDir {
 public:
  explicit RunDir(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  /// path/name, for the files above and derived results.
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string weights_path(int64_t epoch) const;  ///< weights/epoch_EEE.csv
  std::string model_path(int64_t epoch) const;    ///< models/epoch_EEE.pt
  /// Whether a run lives here (config.json exists).
  bool exists() const;

  /// status.json; Pending when it is missing or does not parse.
  RunState state() const;
  void write_state(const RunState& state) const;

  /// metrics.jsonl up to the first line that does not parse (a killed writer's torn line).
  nlohmann::json metrics() const;
  /// The last epoch's metrics (null when there are none).
  nlohmann::json last_metrics() const;
  void append_metrics(const nlohmann::json& epoch_metrics) const;
  /// Keeps the lines with epoch <= `epoch` (a resume drops what came after its checkpoint) and
  /// returns the last one kept (null when none).
  nlohmann::json keep_metrics_through(int64_t epoch) const;

  /// Epoch E's snapshot: the recurrent matrix (CSV) and the whole module (LibTorch archive).
  void write_snapshot(int64_t epoch, const torch::Tensor& recurrent, const torch::nn::Module& model) const;
  /// Removes metrics.jsonl and every snapshot: a fresh run replacing an old one (`--force`)
  /// must not leave a longer earlier run's epochs behind.
  void clear_training_files() const;
  /// Removes the results derived from the snapshots (analysis.json, report.html, final_analysis.json).
  void clear_derived() const;
  /// The last epoch with a saved model, or -1.
  int64_t last_model_epoch() const;
  /// weights/epoch_EEE.csv as [N, N] float64 (InputError naming the file when unreadable).
  torch::Tensor read_weights(int64_t epoch) const;

  /// config.json as JSON (InputError "not a run directory" when it is missing).
  nlohmann::json read_config_json() const;
  void write_config_json(const nlohmann::json& config) const;
  torch::Tensor read_coords() const;
  void write_coords(const torch::Tensor& coords) const;

 private:
  std::string path_;
};

}  // namespace sernn
