#include "tasks/in_memory.h"

#include "tasks/batching.h"

namespace sernn {

int64_t InMemoryTask::train_batches(int64_t batch_size) const {
  return (num_samples(Split::Train) + batch_size - 1) / batch_size;
}

void InMemoryTask::set_split(Split s, torch::Tensor inputs, torch::Tensor labels) {
  TORCH_CHECK(inputs.dim() == 3 && labels.dim() == 1 && inputs.size(1) == labels.size(0),
              "InMemoryTask: inputs [T, n, C] and labels [n] expected, got ", inputs.sizes(), " and ", labels.sizes());
  data_[static_cast<int>(s)] = {std::move(inputs), std::move(labels)};
}

std::unique_ptr<BatchStream> InMemoryTask::stream(Split split, int64_t epoch, int64_t batch_size, uint64_t seed,
                                                  torch::Device device) const {
  const bool train = split == Split::Train;
  const auto& d = data_[static_cast<int>(split)];
  TensorBatchOptions o;
  o.batch_size = batch_size;
  o.shuffle = train;
  o.drop_last = false;
  o.noise = train ? noise_ : 0.0;
  o.seed = epoch_seed(seed, epoch);
  o.device = device;
  return std::make_unique<TensorBatchStream>(d.inputs, d.labels, o);
}

}  // namespace sernn
