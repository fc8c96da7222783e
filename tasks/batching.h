#pragma once
/// Minibatches over in-memory tensors: shuffling and input noise from one seeded generator,
/// so the batches of an epoch are a pure function of (seed, epoch).
#include "core/interfaces.h"

namespace sernn {

/// A seed for epoch `epoch` of a run seeded `seed` (splitmix64 of both).
uint64_t epoch_seed(uint64_t seed, int64_t epoch);

struct TensorBatchOptions {
  int64_t batch_size = 128;
  bool shuffle = false;
  bool drop_last = false;
  double noise = 0.0;  ///< sigma of Gaussian noise added to inputs
  uint64_t seed = 0;
  torch::Device device = torch::kCPU;
};

/// Batches of inputs [T, S, C] and labels [S] along the sample dimension.
class TensorBatchStream : public BatchStream {
 public:
  TensorBatchStream(torch::Tensor inputs, torch::Tensor labels, TensorBatchOptions options);
  bool next(Batch& out) override;

 private:
  torch::Tensor inputs_, labels_, order_;
  TensorBatchOptions opt_;
  at::Generator gen_;
  int64_t pos_ = 0;
};

}  // namespace sernn
