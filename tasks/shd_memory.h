#pragma once
/// A synthetic SHD-format task whose classes need memory across time (issue 38): `sernn data
/// synth-shd --task memory`. Two bursts, a cue and a probe, in bands a and b of `bands` bands,
/// optionally with distractor bursts between them; the class is a function of (a, b):
///
///     rule sum (default)  class = (a + b) mod bands, a and b independent: 5 bands, 5 classes
///     rule pairs          class = the ordered pair (a, b), a != b: 5 bands, 20 classes
///     t/D:  0 ...... cue a ...... [distractors] ...... probe b ...... 1
///
/// Under `sum` neither burst says anything about the class alone, and no sum of a function of
/// the cue window and one of the probe window separates the classes (it is XOR-like): a linear
/// readout of the time-resolved counts is at chance (scripts/counts_readout.py), and a network
/// must hold the cue until the probe and combine the two. `pairs` is linearly separable (the
/// readout adds the cue window's evidence to the probe window's) and kept as the contrast.
///
/// Band k occupies `band_width` units centred in the k-th of `bands` equal slices of the 700
/// channels (shifted by the speaker's offset); a burst puts Poisson(`burst_events` x the speaker's
/// rate x a per-burst jitter) events uniformly over its band and over `burst_length` of the
/// sample. Its onset is uniform in its window (fractions of the sample's duration D, itself
/// uniform in [0.6, 1.0] s). Distractor bands are uniform over all bands. Uniform noise events
/// over all 700 channels and the whole sample, plus one event at t = 0 and one at t = D (so the
/// per-sample binning spans the whole sample whatever the bursts' onsets).
///
/// Speakers (12, as SHD's): each has a rate factor (log-uniform in [rate_min, rate_max]) and a
/// channel offset (uniform in ±speaker_shift units), drawn once per data set from the seed.
/// Calibration (docs/tasks.md): the shipped spiking network, the same network with W held at
/// zero, and the linear readout of the counts.
#include <cstdint>
#include <optional>
#include <string>

#include "tasks/shd.h"

namespace sernn {

enum class MemoryRule { Sum, Pairs };

struct MemoryShdOptions {
  int64_t samples = 2048;
  uint64_t seed = 1;
  MemoryRule rule = MemoryRule::Sum;
  int64_t bands = 5;                                    ///< 2..5 (pairs: bands (bands - 1) <= 20 classes)
  int64_t band_width = 100;                             ///< units per band
  double cue_from = 0.20, cue_to = 0.28;                ///< cue onset window (fraction of D)
  double distractor_from = 0.38, distractor_to = 0.46;  ///< distractor onset window
  double probe_from = 0.60, probe_to = 0.68;            ///< probe onset window
  int64_t distractors = 0;                              ///< distractor bursts between cue and probe
  double burst_length = 0.08;                           ///< each burst's duration (fraction of D)
  double burst_events = 450;                            ///< mean events of a burst (before the speaker's rate)
  double noise_events = 1500;                           ///< mean uniform noise events per sample
  double rate_min = 0.5, rate_max = 2.0;                ///< speakers' rate factors (log-uniform)
  double speaker_shift = 10;                            ///< speakers' channel offsets (uniform in ±shift)
};

/// The class of cue band a and probe band b: (a + b) mod bands (sum), or the index of (a, b),
/// a != b, among the ordered pairs in lexicographic order (pairs).
int64_t memory_class(MemoryRule rule, int64_t a, int64_t b, int64_t bands);

/// "sum" or "pairs"; InputError naming --rule otherwise.
MemoryRule parse_memory_rule(const std::string& name);

/// `options.samples` samples of the task above, deterministic in `options.seed`. InputError for
/// options outside their ranges (bands 2..5, windows inside [0, 1], counts >= 0).
ShdData synth_shd_memory(const MemoryShdOptions& options);

/// `sernn data synth-shd --task memory`: DIR/shd_train.h5 and DIR/shd_test.h5 with `train` and
/// `test` samples of the task (seeds 2 seed + 1 and 2 seed + 2, as the bands task).
void write_synth_shd_memory(const std::string& dir, int64_t train, int64_t test, uint64_t seed,
                            MemoryShdOptions options);

/// What `sernn data synth-shd` asks for: the task ("bands": synth_shd, "memory": the task above),
/// sizes and seed; `noise` (fraction of noise events) and `events` (mean per sample) default per
/// task (bands 0.2 and 300, memory 0.625 and 2400: 1500 noise events and two bursts of 450);
/// windows as "FROM,TO". InputError naming the option for a value outside its range.
struct SynthShdRequest {
  std::string dir, task = "bands";
  int64_t train = 2048, test = 512;
  uint64_t seed = 1;
  std::optional<double> noise;
  std::optional<int64_t> events;
  int64_t distractors = 0;
  std::string rule = "sum";
  std::string cue, distractor, probe;  ///< "" : MemoryShdOptions' defaults
};
void write_synth(const SynthShdRequest& request);

}  // namespace sernn
