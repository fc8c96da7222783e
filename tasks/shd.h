#pragma once
/// Spiking Heidelberg Digits (SHD): the real HDF5 files, a synthetic generator writing the same
/// layout, binning into [T, B, 700] event counts, and the SHD task with background prefetch.
///
/// File layout (shd_train.h5 / shd_test.h5):
///   spikes/times   ragged float seconds, one variable-length array per sample (float16 on disk)
///   spikes/units   ragged unit ids 0..699, one variable-length array per sample (uint16)
///   labels         class 0..19 per sample (uint16)
///   extra/speaker  speaker id per sample; extra/keys: the 20 class names
#include <array>
#include <map>
#include <memory>
#include <functional>
#include <mutex>
#include <utility>
#include <string>
#include <vector>

#include "core/interfaces.h"

namespace sernn {

constexpr int64_t kShdUnits = 700;
constexpr int64_t kShdClasses = 20;

/// All samples of one file, flattened: events of sample i are [offsets[i], offsets[i+1]).
struct ShdData {
  std::vector<float> times;
  std::vector<int32_t> units;
  std::vector<int64_t> offsets{0};
  std::vector<int64_t> labels;
  std::vector<int64_t> speakers;
  int64_t size() const { return static_cast<int64_t>(labels.size()); }
  /// Appends one sample (times in seconds, unit ids).
  void add(const std::vector<float>& t, const std::vector<int32_t>& u, int64_t label, int64_t speaker = 0);
  /// Appends one sample of (time, unit) events, sorted here by time (then unit).
  void add_events(std::vector<std::pair<float, int32_t>>& events, int64_t label, int64_t speaker = 0);
};

/// Reads an SHD file. Missing datasets, mismatched lengths, unit ids outside 0..699, labels
/// outside 0..19, negative/non-finite times and non-HDF5 files are InputErrors naming the file
/// and the dataset. Sizes the file declares are checked before anything is allocated for them:
/// a dataset's n elements must be stored in the file (n x element size <= its storage, x 1100
/// when compressed), and the ragged rows come from a budget of 4 x the file size + 64 MB, so a
/// corrupt file fails with the dataset and the declared size named, in bounded memory (about
/// 1100 x its size at most for the per-sample index, plus that budget).
///
/// The file is read in a child process (HDF5 1.10 crashes or loops on some corrupt files before
/// any check can run): a crash, or a read over kShdReadSeconds, is an InputError naming the file.
ShdData read_shd(const std::string& path);
/// read_shd in this process (the fuzz target's entry: coverage is counted here).
ShdData read_shd_in_process(const std::string& path);
/// The longest a read of one SHD file may take.
constexpr unsigned kShdReadSeconds = 600;
/// Writes `data` in the real layout (atomically).
void write_shd(const std::string& path, const ShdData& data);

struct SynthShdOptions {
  int64_t samples = 2048;
  uint64_t seed = 1;
  double noise_fraction = 0.2;  ///< share of events that are uniform noise
  int64_t events = 300;         ///< mean events per sample (uniform in [2/3, 4/3] of it; real SHD: thousands)
};
/// Class-dependent spike patterns: class c drives a band of units that sweeps over time with a
/// class-specific start and slope, with jitter, random durations (0.3-1.0 s) and noise events.
ShdData synth_shd(const SynthShdOptions& options);

/// How events become time steps: per sample (`bins` equal bins from the first to the last event)
/// or fixed (bin k holds k*dt <= t < (k+1)*dt, k < max_steps).
struct ShdBinning {
  bool per_sample = true;
  int64_t bins = 200;
  double dt = 0.005;
  int64_t max_steps = 250;
  int64_t steps() const;  ///< T: bins or max_steps
};

/// The event counts [T, B, 700] of the samples `indices` as a coalesced sparse COO tensor (float32
/// counts; entries ordered by time, sample, unit), built from the events without a dense tensor:
/// a few MB per batch where the dense counts are 72 MB (T = 200, B = 128), and what the spiking
/// network's sparse input projection reads (models/lif_sequence.h: sparse_input). to_dense()
/// equals bin_per_sample / bin_fixed exactly.
torch::Tensor bin_sparse(const ShdData& data, const std::vector<int64_t>& indices, const ShdBinning& binning);

/// The options every synthetic data set shares, checked: InputError naming --train/--test for
/// sizes below 1, --noise outside [0, 1], --events outside [1, 10^6].
void check_synth_sizes(int64_t train, int64_t test);
void check_synth_events(double noise, int64_t events);

/// DIR/shd_train.h5 and DIR/shd_test.h5 of `make(samples, seed)` with `train` and `test` samples and
/// seeds 2 seed + 1 and 2 seed + 2 (two streams of one family), DIR created if missing.
void write_synth_files(const std::string& dir, int64_t train, int64_t test, uint64_t seed,
                       const std::function<ShdData(int64_t samples, uint64_t seed)>& make);

/// `sernn data synth-shd`: DIR/shd_train.h5 and DIR/shd_test.h5 with `train` and `test` samples
/// (seeds 2 seed + 1 and 2 seed + 2: two streams of one family). InputError naming the option
/// for sizes below 1, noise outside [0, 1] or events outside [1, 10^6].
void write_synth_shd(const std::string& dir, int64_t train, int64_t test, uint64_t seed, double noise, int64_t events);

/// Per-sample binning: `bins` equal bins spanning each sample's first to last event.
/// Returns event counts [bins, B, 700] for the samples `indices`.
torch::Tensor bin_per_sample(const ShdData& data, const std::vector<int64_t>& indices, int64_t bins);
/// Fixed binning: bin k holds events with k*dt <= t < (k+1)*dt, k < max_steps (later events are
/// dropped). Every sample is padded to max_steps. Returns [max_steps, B, 700].
torch::Tensor bin_fixed(const ShdData& data, const std::vector<int64_t>& indices, double dt, int64_t max_steps);

struct ShdTaskOptions {
  std::string data_dir;
  bool per_sample = true;
  int64_t bins = 200;
  double dt = 0.005;
  int64_t max_steps = 250;
  double val_fraction = 0.0;  ///< held out of the training file (0: no validation split)
  int64_t max_train = 0, max_test = 0;
  int64_t prefetch = 4;  ///< CPU batches gathered ahead on a background thread
  /// CPU batches as sparse COO tensors (bin_sparse's) instead of dense counts. A network that
  /// cannot read them gets them made dense by the Trainer (Network::takes_sparse_inputs). A CUDA
  /// device's batches are dense: its input projection is one GEMM on them.
  bool sparse = true;
};

class ShdEvents;

/// The task. Each split is binned once at construction (tasks/shd_events.h) and copied to a
/// device on its first stream there; every batch is then gathered where it is used.
class ShdTask : public Task {
 public:
  explicit ShdTask(ShdTaskOptions options);
  std::string name() const override { return "shd"; }
  int64_t input_size() const override { return kShdUnits; }
  int64_t num_classes() const override { return kShdClasses; }
  int64_t num_samples(Split split) const override;
  /// Training drops the last incomplete batch (as the reference); evaluation keeps it.
  int64_t train_batches(int64_t batch_size) const override;
  std::unique_ptr<BatchStream> stream(Split split, int64_t epoch, int64_t batch_size, uint64_t seed,
                                      torch::Device device) const override;

 private:
  /// The split's binned samples on `device` (copied there on first use).
  std::shared_ptr<const ShdEvents> events(Split split, torch::Device device) const;

  ShdTaskOptions opt_;
  /// Per device (its string), the train, validation and test splits' events.
  mutable std::map<std::string, std::array<std::shared_ptr<const ShdEvents>, 3>> events_;
  mutable std::mutex events_mutex_;
};

}  // namespace sernn
