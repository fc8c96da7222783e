#include "tasks/batching.h"

namespace sernn {

uint64_t epoch_seed(uint64_t seed, int64_t epoch) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch) + 0x632BE59BD9B4E019ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

TensorBatchStream::TensorBatchStream(torch::Tensor inputs, torch::Tensor labels, TensorBatchOptions options)
    : inputs_(std::move(inputs)),
      labels_(std::move(labels)),
      opt_(options),
      gen_(at::make_generator<at::CPUGeneratorImpl>(options.seed)) {
  const int64_t n = labels_.size(0);
  order_ = opt_.shuffle ? torch::randperm(n, gen_, torch::kInt64) : torch::arange(n, torch::kInt64);
}

bool TensorBatchStream::next(Batch& out) {
  const int64_t n = labels_.size(0);
  if (pos_ >= n) return false;
  const int64_t end = std::min(n, pos_ + opt_.batch_size);
  if (opt_.drop_last && end - pos_ < opt_.batch_size) return false;
  auto idx = order_.slice(0, pos_, end);
  pos_ = end;
  auto x = inputs_.index_select(1, idx);
  if (opt_.noise > 0.0) x = x + opt_.noise * at::normal(0.0, 1.0, x.sizes(), gen_);
  out.inputs = x.to(opt_.device, /*non_blocking=*/true);
  out.labels = labels_.index_select(0, idx).to(opt_.device, /*non_blocking=*/true);
  return true;
}

}  // namespace sernn
