#pragma once
/// The generic training loop: one network, one task, one (optional) penalty, Adam.
/// It owns the run directory files that are about training:
///   metrics.jsonl        one JSON object per epoch (appended and fsynced)
///   weights/epoch_EEE.csv  the recurrent matrix before training (000) and after every epoch
///   models/epoch_EEE.pt    the whole model (parameters and buffers) at the same points
///   checkpoint.pt        model + optimiser + position, written atomically at every epoch end,
///                        every `checkpoint_minutes`, and when SIGINT/SIGTERM asks to stop
///   status.json          {"status": running|finished|interrupted|diverged, "epoch": E, ...}
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <functional>

#include <torch/torch.h>

#include "core/collective.h"
#include "core/interfaces.h"

namespace sernn {

struct TrainerOptions {
  std::string out_dir;
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 1;
  double gamma = 0.0;          ///< strength of the penalty
  double grad_clip = 0.0;      ///< max global gradient norm (0 = no clipping)
  /// Optional activity (metabolic) cost: NetworkOutput::activity [B, N] -> scalar added to the
  /// loss (strength included); reported per epoch as the stat "activity_cost".
  std::function<torch::Tensor(const torch::Tensor&)> activity_cost;
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
  torch::Tensor task_sum, reg_sum, correct;
  int64_t samples = 0;
  std::map<std::string, torch::Tensor> stat_sums;
};

/// Loss and accuracy of one pass over a split.
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t samples = 0;
};

class Trainer {
 public:
  Trainer(std::shared_ptr<Network> network, std::shared_ptr<const Task> task,
          std::shared_ptr<const Penalty> penalty, TrainerOptions options);

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
  void write_snapshot(int64_t epoch) const;
  void write_status(const std::string& status, int64_t epoch, const std::string& message = "") const;
  /// Throws Diverged (after writing the status) if the loss, a gradient or a parameter is not
  /// finite; `after_step` selects the parameter check.
  void check_finite(const torch::Tensor& loss, int64_t epoch, int64_t batch, bool after_step) const;
  TrainPosition fresh_position() const;
  /// Whether this process writes the run directory (rank 0, or the only process).
  bool writer() const { return !opt_.collective || opt_.collective->rank() == 0; }

  std::shared_ptr<Network> net_;
  std::shared_ptr<const Task> task_;
  std::shared_ptr<const Penalty> penalty_;
  TrainerOptions opt_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
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
