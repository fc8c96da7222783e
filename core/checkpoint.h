#pragma once
/// checkpoint.pt: where a run stands, its model and its optimiser, in one LibTorch archive, so
/// that a stopped run resumes exactly (the Trainer's checkpoint I/O, core/trainer.h).
///
/// Format 3 holds: format, epoch, batch, samples, seconds (the position), correct [K] and sums
/// (the epoch's running sums [K] by metric name), frozen [K] (the ensemble's diverged members),
/// model and optimizer (sub-archives). Format 2 (one network: task_sum, reg_sum, stat_sums) is
/// still read. Reading is strict: a tensor of another shape, dtype or device, a negative count,
/// an Adam moment that does not fit its parameter or a tensor outside its storage is an
/// InputError naming the file and the tensor.
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// Where a run stands: completed epochs, batches done in the next one, and that epoch's running
/// sums (so a resumed epoch reports the same metrics as an uninterrupted one).
struct TrainPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
  double seconds = 0;     ///< training time already spent in the current epoch
  torch::Tensor correct;  ///< [K] int64
  int64_t samples = 0;    ///< per member
  /// Per-sample-weighted sums [K] of each loss term and each NetworkOutput stat, by metric name.
  std::map<std::string, torch::Tensor> sums;
};

/// Writes `path` atomically: `pos`, the frozen members, `model` and `optimizer`.
void write_checkpoint(const std::string& path, const TrainPosition& pos, const std::vector<bool>& frozen,
                      torch::nn::Module& model, torch::optim::Optimizer& optimizer);

/// Reads `path` into `model`, `adam`, `pos` (which arrives fresh: its sums name the metrics) and
/// `frozen` (one flag per member: its size is K), with the position's tensors on `device`.
void read_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& adam, TrainPosition& pos,
                     std::vector<bool>& frozen, torch::Device device);

/// Loads `module`'s parameters and buffers from `archive`, requiring every tensor to exist with
/// the module's own shape and dtype (LibTorch's load alone would silently take any shape).
/// InputError naming `path` and the tensor otherwise.
void load_module_strict(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& path);

}  // namespace sernn
