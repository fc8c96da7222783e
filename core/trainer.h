#pragma once
/// The generic training loop: one network, one task, a loss of weighted terms (core/loss.h), Adam.
/// It writes the run directory's training files (core/run_dir.h): metrics.jsonl, the weight
/// and model snapshots of every epoch, status.json, and checkpoint.pt (model + optimiser +
/// position, written atomically at every epoch end, every `checkpoint_minutes`, and when
/// SIGINT/SIGTERM asks to stop).
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <functional>

#include <torch/torch.h>

#include "core/collective.h"
#include "core/interfaces.h"
#include "core/loss.h"
#include "core/progress.h"
#include "core/run_dir.h"

namespace sernn {

struct TrainerOptions {
  std::string out_dir;
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 1;
  /// The loss, term by term (core/loss.h); empty = the task's cross-entropy alone.
  std::vector<LossTerm> loss;
  double grad_clip = 0.0;      ///< max global gradient norm (0 = no clipping)
  /// Optional hooks (e.g. magnitude pruning): `after_step` runs after every optimiser step (and
  /// the network's own after_step); `epoch_end` after an epoch's last batch, before its
  /// evaluation, snapshot and checkpoint, and returns scalars added to that epoch's metrics.
  std::function<void()> after_step;
  std::function<std::map<std::string, double>(int64_t epoch)> epoch_end;
  int64_t log_every = 10;      ///< batches between log lines when stdout is not a terminal
  bool quiet = false;          ///< no progress output (tests)
  double checkpoint_minutes = 0;  ///< extra checkpoints inside an epoch (0 = epoch ends only)
  int64_t inject_nan_batch = 0;   ///< fault injection for tests: NaN loss at this global batch (1-based)
  int64_t stop_after_batch = 0;   ///< tests: a stop request (as SIGTERM) after this global batch (1-based)
  /// Data-parallel group (null = one process). Rank r trains on batches r, r + W, ... of every
  /// epoch; gradients and the epoch's sums are averaged/summed over ranks; only rank 0 writes.
  std::shared_ptr<Collective> collective;
  torch::Device device = torch::kCPU;
};

/// Thrown when the loss, a gradient or a weight stops being finite. The run's status.json says
/// "diverged" (with the same message) and the last good checkpoint is kept.
class Diverged : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Where a run stands: completed epochs, batches done in the next one, and that epoch's running
/// sums (so a resumed epoch reports the same metrics as an uninterrupted one).
struct TrainPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
  double seconds = 0;  ///< training time already spent in the current epoch
  torch::Tensor correct;
  int64_t samples = 0;
  /// Per-sample-weighted sums of each loss term and each NetworkOutput stat, by metric name.
  std::map<std::string, torch::Tensor> sums;
};

/// Loss and accuracy of one pass over a split.
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t samples = 0;
};

class Trainer {
 public:
  Trainer(std::shared_ptr<Network> network, std::shared_ptr<const Task> task, TrainerOptions options);

  /// Trains from the start, or — with `resume` — from the last checkpoint in out_dir
  /// (metrics lines past the checkpoint are dropped). Returns the last epoch's metrics.
  nlohmann::json fit(bool resume = false);

  /// Mean cross-entropy and accuracy on `split` (no noise, no gradients).
  Evaluation evaluate(Split split, int64_t epoch) const;

  /// Saves/loads model + optimiser + position (atomic write). A file from another model, an
  /// older format or a damaged file is an InputError naming the file.
  void save_checkpoint(const std::string& path, const TrainPosition& position);
  TrainPosition load_checkpoint(const std::string& path);

 private:
  // The steps of fit(), in order.
  /// The position to start from: a fresh run (epoch 0 snapshot and checkpoint) or the last
  /// checkpoint (metrics lines past it dropped); `last` gets the last kept metrics.
  TrainPosition start(bool resume, nlohmann::json& last);
  /// The epoch's batches from pos.batch on; throws Interrupted (after a checkpoint) on a stop.
  void train_epoch(int64_t epoch, TrainPosition& pos, Progress& progress);
  /// One optimiser step on `batch` (the b-th of the epoch), its sums added to `pos`.
  void train_step(const Batch& batch, int64_t epoch, int64_t b, TrainPosition& pos);
  /// Data-parallel runs: the epoch's sums over all ranks.
  void reduce(TrainPosition& pos);
  /// The epoch's metrics: finite check, hooks, evaluation, snapshot, metrics line, checkpoint.
  nlohmann::json finish_epoch(int64_t epoch, TrainPosition& pos, double train_seconds, Progress& progress);

  void write_snapshot(int64_t epoch) const;
  void write_status(RunStatus status, int64_t epoch, const std::string& message = "") const;
  /// Throws Diverged (after writing the status) if the loss, a gradient or a parameter is not
  /// finite; `after_step` selects the parameter check.
  void check_finite(const torch::Tensor& loss, int64_t epoch, int64_t batch, bool after_step) const;
  TrainPosition fresh_position() const;
  /// Whether this process writes the run directory (rank 0, or the only process).
  bool writer() const { return !opt_.collective || opt_.collective->rank() == 0; }
  int64_t world() const { return opt_.collective ? opt_.collective->size() : 1; }

  std::shared_ptr<Network> net_;
  std::shared_ptr<const Task> task_;
  TrainerOptions opt_;
  RunDir dir_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int64_t batches_ = 0;  ///< training batches per epoch
  std::chrono::steady_clock::time_point last_checkpoint_;
};

/// Loads `module`'s parameters and buffers from `archive`, requiring every tensor to exist with
/// the module's own shape and dtype (LibTorch's load alone would silently take any shape).
/// InputError naming `path` and the tensor otherwise.
void load_module_strict(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& path);

/// Mean cross-entropy of logits [B, C] against labels [B] and the number of correct argmaxes,
/// both as tensors on the logits' device (no host sync).
std::pair<torch::Tensor, torch::Tensor> classification_loss(const torch::Tensor& logits,
                                                            const torch::Tensor& labels);

}  // namespace sernn
