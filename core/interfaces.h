#pragma once
/// The three small interfaces the training loop is written against. Models, tasks and
/// regularisers live in their own folders and are only known to core through these.
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// One minibatch. inputs: [T, B, C] float (time-major, like snnTorch); labels: [B] int64.
/// An ensemble's batch (issue 16) holds member k's inputs in member_inputs[k] (members that read
/// the same data share one tensor), leaves `inputs` undefined, and stacks the labels [K, B].
struct Batch {
  torch::Tensor inputs;
  torch::Tensor labels;
  std::vector<torch::Tensor> member_inputs;
};

enum class Split { Train, Validation, Test };
const char* split_name(Split s);

/// A one-pass stream of batches over one split.
class BatchStream {
 public:
  virtual ~BatchStream() = default;
  /// Fills `out` with the next batch; false at the end of the epoch.
  virtual bool next(Batch& out) = 0;
};

/// A supervised classification task.
class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;
  virtual int64_t input_size() const = 0;
  virtual int64_t num_classes() const = 0;
  virtual int64_t num_samples(Split split) const = 0;
  /// Number of training batches per epoch (after drop_last, if the task drops).
  virtual int64_t train_batches(int64_t batch_size) const = 0;
  /// Batches of `split` for `epoch`, on `device`. The order (and, for training, any input
  /// noise) is a pure function of (seed, epoch), so runs and resumes are reproducible.
  virtual std::unique_ptr<BatchStream> stream(Split split, int64_t epoch, int64_t batch_size, uint64_t seed,
                                              torch::Device device) const = 0;
};

/// What a network returns for a batch.
struct NetworkOutput {
  torch::Tensor logits;                        ///< [B, classes]: the statistic for loss and argmax
  std::map<std::string, torch::Tensor> stats;  ///< scalar tensors averaged per epoch (e.g. rate_hidden)
  /// [B, N] mean activity of each hidden neuron over the sequence (spikes per step for spiking
  /// networks, mean firing rate r for rate networks); differentiable, for activity costs.
  torch::Tensor activity;
};

/// A recurrent network whose hidden->hidden matrix is what the regularisers and analyses see.
class Network : public torch::nn::Module {
 public:
  /// inputs: [T, B, C]. `training` enables training-only behaviour.
  virtual NetworkOutput run(const torch::Tensor& inputs, bool training) = 0;
  /// Whether run() reads inputs given as a sparse COO tensor [T, B, C] (event counts: SHD's
  /// batches, tasks/shd.h); the Trainer makes them dense for networks that do not.
  virtual bool takes_sparse_inputs() const { return false; }
  /// The recurrent weight [N, N], row = postsynaptic, column = presynaptic (the parameter
  /// itself, so penalties on it get gradients).
  virtual torch::Tensor recurrent_weight() = 0;
  /// The trained parameter behind recurrent_weight() (W_raw under Dale's law); a zero entry of
  /// it must give a zero entry of the effective weight (pruning relies on this).
  virtual torch::Tensor recurrent_parameter() { return recurrent_weight(); }
  /// Called after every optimiser step (e.g. clipping beta).
  virtual void after_step() {}
  /// Per-epoch scalars of the parameters (e.g. beta_mean); empty by default.
  virtual std::map<std::string, double> parameter_stats() { return {}; }

  // Ensembles (issue 16): K independent networks in one model, trained as K runs at once.
  /// The number of networks this model holds; 1 for a plain network. With K > 1, run() takes
  /// inputs [K, T, B, C] (each member its own batch) and returns logits [K, B, classes] (stats
  /// [K], activity [K, B, N] when defined), and recurrent_weight() is [K, N, N].
  virtual int64_t members() const { return 1; }
  /// run() for K > 1 with member k's inputs [T, B, C] in inputs[k] (the same tensor for members
  /// that share a batch). Default: run() on the stacked [K, T, B, C].
  virtual NetworkOutput run_members(const std::vector<torch::Tensor>& inputs, bool training) {
    return run(torch::stack(inputs), training);
  }
  /// Member k as a network of its own, for its snapshots and parameter_stats (K > 1 only).
  virtual std::shared_ptr<Network> member(int64_t /*k*/) { return nullptr; }
  /// For each tensor of parameters(), in order: the member that owns all of it, or -1 when it
  /// stacks every member along its first dimension. Default: member 0 owns everything.
  virtual std::vector<int64_t> parameter_owners() { return std::vector<int64_t>(parameters().size(), 0); }
};

/// A cost on the recurrent weights, L_constraint of DESIGN §2 (gamma applied by the caller).
class Penalty {
 public:
  virtual ~Penalty() = default;
  virtual std::string name() const = 0;
  /// weight: [N, N] (or [K, N, N] for ensembles, summed per network -> [K]). Returns the plain
  /// sum (a scalar for [N, N]).
  virtual torch::Tensor operator()(const torch::Tensor& weight) const = 0;
};

}  // namespace sernn
