#pragma once
/// The generic training loop: one network, one task, one (optional) penalty, Adam.
/// It owns the run directory files that are about training:
///   metrics.jsonl        one JSON object per epoch (appended and fsynced)
///   weights/epoch_EEE.csv  the recurrent matrix before training (000) and after every epoch
///   models/epoch_EEE.pt    the whole model (parameters and buffers) at the same points
///   checkpoint.pt        model + optimiser + epoch, written atomically at every epoch end
///   status.json          {"status": running|finished|diverged, "epoch": E, ...}
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

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
  int64_t log_every = 10;      ///< batches between log lines when stdout is not a terminal
  bool quiet = false;          ///< no progress output (tests)
  torch::Device device = torch::kCPU;
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

  /// Saves/loads model + optimiser + epoch (atomic write).
  void save_checkpoint(const std::string& path, int64_t epoch);
  int64_t load_checkpoint(const std::string& path);

 private:
  void write_snapshot(int64_t epoch) const;
  void write_status(const std::string& status, int64_t epoch, const std::string& message = "") const;

  std::shared_ptr<Network> net_;
  std::shared_ptr<const Task> task_;
  std::shared_ptr<const Penalty> penalty_;
  TrainerOptions opt_;
  std::unique_ptr<torch::optim::Adam> optimizer_;
};

/// Mean cross-entropy of logits [B, C] against labels [B] and the number of correct argmaxes,
/// both as tensors on the logits' device (no host sync).
std::pair<torch::Tensor, torch::Tensor> classification_loss(const torch::Tensor& logits,
                                                            const torch::Tensor& labels);

}  // namespace sernn
