#pragma once
/// Collective operations across the processes of a data-parallel run. The training loop only
/// sees this interface; core/distributed.h provides the c10d (Gloo) implementation.
#include <vector>

#include <torch/torch.h>

namespace sernn {

class Collective {
 public:
  virtual ~Collective() = default;
  virtual int64_t rank() const = 0;
  virtual int64_t size() const = 0;
  /// In-place elementwise sum over all processes.
  virtual void allreduce_sum(std::vector<torch::Tensor>& tensors) = 0;
};

}  // namespace sernn
