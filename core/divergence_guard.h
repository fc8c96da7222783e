#pragma once
/// The NaN guard (issue 25): members whose loss, gradients or weights stop being finite are
/// found and held at their last good weights on the device, with no host read inside a step.
///
/// Every step, before and after the optimiser step, the members whose loss, gradients or
/// parameters are not finite are marked on the device (with the first cause and the global
/// batch); a marked member's gradients are zeroed, and its weights from before the step are put
/// back after it, so it stays at its last good weights while the others train on. The Trainer
/// reads the marks at its boundaries (log lines, checkpoints, epoch ends: one host read with
/// whatever else it reports there) and decides: a marked member of an ensemble is frozen for
/// good (status `diverged`), a single network's run ends with Diverged.
///
/// Fault codes, the first cause per member: 0 none; 1, 2, 3 the loss is nan, inf, -inf; 4 + i the
/// gradient of parameter i; 4 + P + i parameter i after the optimiser step (P parameters).
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/interfaces.h"

namespace sernn {

class DivergenceGuard {
 public:
  /// Guards `net`'s K = members() networks (parameters owned as Network::parameter_owners says),
  /// its marks on `device`.
  DivergenceGuard(std::shared_ptr<Network> net, torch::Device device);

  /// Members frozen for good (construction: none; a checkpoint's list); the marks restart.
  void reset(const std::vector<bool>& frozen);
  const std::vector<bool>& frozen() const { return frozen_; }
  /// Member k frozen for good (after the Trainer read its fault).
  void freeze(int64_t k) { frozen_.at(k) = true; }

  /// Before the optimiser step: marks the members whose loss [K] or gradients are not finite at
  /// global batch `global` and zeroes the marked members' gradients.
  void before_step(const torch::Tensor& losses, int64_t global);
  /// Keeps every parameter as it is just before the optimiser step.
  void keep_weights();
  /// After it: marks the members whose parameters are not finite, and puts the marked members'
  /// weights from before the step back.
  void after_step(const torch::Tensor& losses, int64_t global);

  /// The marks to read: [2K] int64 on the device, each member's first fault code, then the global
  /// batch of it.
  torch::Tensor marks() const { return torch::cat({fault_code_, fault_batch_}); }
  /// A fault found in the marks (read on the host) of a member not frozen yet.
  struct Fault {
    int64_t member, global;
    std::string cause;  ///< "loss is nan", "gradient of 'recurrent.weight' is not finite", ...
  };
  std::vector<Fault> faults(const std::vector<int64_t>& marks) const;

 private:
  torch::Tensor fault_codes(const torch::Tensor& losses, bool after_step) const;
  std::string fault_text(int64_t code) const;
  void mark(const torch::Tensor& losses, int64_t global, bool after_step);
  /// The marks shaped to broadcast over parameter i (a member's flag for a parameter it owns).
  torch::Tensor frozen_mask(size_t i, int64_t dim) const;

  std::shared_ptr<Network> net_;
  int64_t members_;
  torch::Device device_;
  std::vector<int64_t> owners_;             ///< Network::parameter_owners()
  std::vector<bool> frozen_;                ///< frozen for good (as last read)
  torch::Tensor frozen_dev_;                ///< [K] bool: marked
  torch::Tensor fault_code_, fault_batch_;  ///< [K] int64: first cause and global batch
  torch::Tensor no_fault_, member_mask_;    ///< [K] false; [K, K] identity (owned parameters)
  std::vector<torch::Tensor> before_step_;  ///< the parameters before the step
};

}  // namespace sernn
