#pragma once
/// Base of the synthetic tasks whose three splits are generated up front and held in memory as
/// inputs [T, n, C] and labels [n]. Training batches are shuffled and get fresh Gaussian input
/// noise (sigma = `noise`) every epoch, as a pure function of (seed, epoch); validation and test
/// batches are noise-free and in order.
#include <array>

#include "core/interfaces.h"

namespace sernn {

/// What every synthetic task's options have: split sizes, training input noise, data seed.
struct SyntheticTaskOptions {
  int64_t train_size = 5120, val_size = 2560, test_size = 2560;
  double noise = 0.05;  ///< sigma of the training input noise
  uint64_t seed = 1;    ///< seed of the generated trials
  /// Sizes of the train, validation and test splits, in Split order.
  std::array<int64_t, 3> split_sizes() const { return {train_size, val_size, test_size}; }
};

class InMemoryTask : public Task {
 public:
  int64_t num_samples(Split split) const override { return data_[static_cast<int>(split)].labels.size(0); }
  int64_t train_batches(int64_t batch_size) const override;
  std::unique_ptr<BatchStream> stream(Split split, int64_t epoch, int64_t batch_size, uint64_t seed,
                                      torch::Device device) const override;

  /// Noise-free inputs [T, n, C] and labels [n] of a split.
  const torch::Tensor& inputs(Split s) const { return data_[static_cast<int>(s)].inputs; }
  const torch::Tensor& labels(Split s) const { return data_[static_cast<int>(s)].labels; }

 protected:
  explicit InMemoryTask(double noise) : noise_(noise) {}
  void set_split(Split s, torch::Tensor inputs, torch::Tensor labels);

 private:
  double noise_;
  std::array<Batch, 3> data_;
};

}  // namespace sernn
