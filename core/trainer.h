#pragma once
/// The generic training loop: a network, its task, a loss of weighted terms (core/loss.h), Adam.
/// It writes the run directory's training files (core/run_dir.h): metrics.jsonl, the weight
/// and model snapshots of every epoch, status.json, and checkpoint.pt (model + optimiser +
/// position, written atomically at every epoch end, every `checkpoint_minutes`, and when
/// SIGINT/SIGTERM asks to stop).
///
/// Ensembles (issue 16): a network with K = members() > 1 holds K independent networks. The
/// Trainer then trains K runs at once, each with its own task stream (seed), loss terms
/// (penalty, γ), run directory (metrics, snapshots, status), gradient clipping and divergence:
/// a member whose loss, gradient or weights stop being finite is frozen at its last good
/// weights and marked `diverged`, and the others go on. The ensemble's checkpoint (all members,
/// Adam, position, which members are frozen) lives in out_dir, so a resumed ensemble continues
/// exactly. Since Adam is elementwise and the members share no parameter, each member follows
/// what its own run would (to float rounding).
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>
#include <functional>

#include <torch/torch.h>

#include "core/checkpoint.h"
#include "core/collective.h"
#include "core/divergence_guard.h"
#include "core/interfaces.h"
#include "core/loss.h"
#include "core/progress.h"
#include "core/run_dir.h"

namespace sernn {

struct TrainerOptions {
  std::string out_dir;
  int64_t epochs = 10;
  int64_t batch_size = 128;
  double lr = 1e-3;
  uint64_t seed = 1;
  /// The loss, term by term (core/loss.h); empty = the task's cross-entropy alone.
  std::vector<LossTerm> loss;
  double grad_clip = 0.0;  ///< max global gradient norm (0 = no clipping)
  /// Optional hooks (e.g. magnitude pruning): `after_step` runs after every optimiser step (and
  /// the network's own after_step); `epoch_end` after an epoch's last batch, before its
  /// evaluation, snapshot and checkpoint, and returns scalars added to that epoch's metrics.
  std::function<void()> after_step;
  std::function<std::map<std::string, double>(int64_t epoch)> epoch_end;
  /// Called with true before a training step fetches its batch and with false after its
  /// optimiser step: a profiler's range, or the gpu test that makes any host wait inside a step
  /// an error (CUDA's sync debug mode).
  std::function<void(bool)> in_step;
  int64_t log_every = 10;         ///< batches between log lines when stdout is not a terminal
  bool quiet = false;             ///< no progress output (tests)
  double checkpoint_minutes = 0;  ///< extra checkpoints inside an epoch (0 = epoch ends only)
  int64_t inject_nan_batch = 0;   ///< fault injection for tests: NaN loss at this global batch (1-based)
  int64_t stop_after_batch = 0;   ///< tests: a stop request (as SIGTERM) after this global batch (1-based)
  /// Ensembles (network->members() = K > 1): per member its run directory, data seed, loss
  /// terms and NaN batch (0 = none); out_dir then holds the ensemble's checkpoint.
  std::vector<std::string> member_dirs;
  std::vector<uint64_t> member_seeds;
  std::vector<std::vector<LossTerm>> member_loss;
  std::vector<int64_t> member_inject_nan_batch;
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

/// Loss and accuracy of one pass over a split.
struct Evaluation {
  double loss = 0.0;
  double accuracy = 0.0;
  int64_t samples = 0;
};

class Trainer {
 public:
  Trainer(std::shared_ptr<Network> network, std::shared_ptr<const Task> task, TrainerOptions options);
  /// An ensemble: one task per member (or one for all).
  Trainer(std::shared_ptr<Network> network, std::vector<std::shared_ptr<const Task>> tasks, TrainerOptions options);

  /// Trains from the start, or — with `resume` — from the last checkpoint in out_dir
  /// (metrics lines past the checkpoint are dropped). Returns the last epoch's metrics (an
  /// ensemble: an array, one object per member).
  nlohmann::json fit(bool resume = false);

  /// Mean cross-entropy and accuracy on `split` (no noise, no gradients), one per member.
  std::vector<Evaluation> evaluate_members(Split split, int64_t epoch) const;
  /// The same for a single network.
  Evaluation evaluate(Split split, int64_t epoch) const { return evaluate_members(split, epoch).at(0); }

  /// Saves/loads model + optimiser + position (core/checkpoint.h; atomic write). A file from
  /// another model, an older format or a damaged file is an InputError naming the file.
  void save_checkpoint(const std::string& path, const TrainPosition& position);
  TrainPosition load_checkpoint(const std::string& path);

 private:
  // The steps of fit(), in order.
  /// The position to start from: a fresh run (epoch 0 snapshot and checkpoint) or the last
  /// checkpoint (metrics lines past it dropped); `last` gets the last kept metrics.
  TrainPosition start(bool resume, std::vector<nlohmann::json>& last);
  /// The epoch's batches from pos.batch on; throws Interrupted (after a checkpoint) on a stop.
  void train_epoch(int64_t epoch, TrainPosition& pos, Progress& progress);
  /// One optimiser step on `batch` (the b-th of the epoch), its sums added to `pos`.
  void train_step(const Batch& batch, int64_t epoch, int64_t b, TrainPosition& pos);
  /// The loss of one step's output: each member's total [K] and weighted terms [K] by name,
  /// with the test's NaN injected at global batch `global` (1-based).
  MembersLossValue step_loss(const NetworkOutput& out, const Batch& batch, int64_t global) const;
  /// Adds one step's accuracy, loss terms [K] and stats to the epoch's sums.
  void add_sums(const NetworkOutput& out, const Batch& batch, const std::map<std::string, torch::Tensor>& terms,
                TrainPosition& pos) const;
  /// The line printed at an epoch's end.
  std::string epoch_line(int64_t epoch, const std::vector<nlohmann::json>& metrics, double seconds) const;
  /// Data-parallel runs: the epoch's sums over all ranks.
  void reduce(TrainPosition& pos);
  /// The epoch's metrics: finite check, hooks, evaluation, snapshot, metrics line, checkpoint.
  std::vector<nlohmann::json> finish_epoch(int64_t epoch, TrainPosition& pos, double train_seconds, Progress& progress);

  /// The networks whose snapshots and parameter stats an epoch boundary writes: the network, or
  /// each member still training as a network of its own (nullptr for a frozen one), built once.
  std::vector<std::shared_ptr<Network>> member_networks() const;
  void write_snapshot(int64_t epoch, const std::vector<std::shared_ptr<Network>>& nets) const;
  /// status.json of every member still training.
  void write_status(RunStatus status, int64_t epoch, const std::string& message = "") const;
  /// The streams of `split`, one per member, except that a member with the same task and seed as
  /// an earlier one (same data, same order) gets none and shares that member's batches.
  std::vector<std::unique_ptr<BatchStream>> streams(Split split, int64_t epoch) const;
  /// The next batch of every member (Batch::member_inputs for an ensemble).
  bool next_batch(std::vector<std::unique_ptr<BatchStream>>& streams, Batch& out) const;
  /// The network's output for `batch` (run, or run_members for an ensemble).
  NetworkOutput run_batch(const Batch& batch, bool training) const;
  /// Acts on the guard's marks as read on the host: a single network's run ends with Diverged
  /// (status written), an ensemble's member is frozen for good (status and a line), and an
  /// ensemble whose members all diverged ends with Diverged.
  void sync_faults(const std::vector<int64_t>& marks);
  /// The guard's marks alone, in one read.
  std::vector<int64_t> read_marks() const;
  /// Per-member global-norm clipping (torch::nn::utils::clip_grad_norm_ on each member alone).
  void clip_gradients();
  TrainPosition fresh_position() const;
  /// Whether this process writes the run directory (rank 0, or the only process).
  bool writer() const { return !opt_.collective || opt_.collective->rank() == 0; }
  int64_t world() const { return opt_.collective ? opt_.collective->size() : 1; }

  std::shared_ptr<Network> net_;
  int64_t members_ = 1;
  /// Member k reads the batches of member data_of_[k] (itself, or an earlier member with the same
  /// task and seed).
  std::vector<int64_t> data_of_;
  std::vector<std::shared_ptr<const Task>> tasks_;  ///< one per member
  TrainerOptions opt_;
  RunDir dir_;                                 ///< out_dir: the checkpoint (and one network's run)
  std::vector<RunDir> member_dirs_;            ///< one per member (one network: dir_)
  std::vector<uint64_t> seeds_;                ///< data seed per member
  std::vector<std::vector<LossTerm>> loss_;    ///< loss terms per member
  std::unique_ptr<MembersLoss> members_loss_;  ///< an ensemble's loss_, batched
  std::vector<int64_t> owners_;                ///< Network::parameter_owners()
  std::unique_ptr<DivergenceGuard> guard_;     ///< the NaN guard (core/divergence_guard.h)
  std::unique_ptr<torch::optim::Adam> optimizer_;
  int64_t batches_ = 0;  ///< training batches per epoch
  std::chrono::steady_clock::time_point last_checkpoint_;
};

/// Mean cross-entropy of logits [B, C] against labels [B] and the number of correct argmaxes,
/// both as tensors on the logits' device (no host sync).
std::pair<torch::Tensor, torch::Tensor> classification_loss(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace sernn
