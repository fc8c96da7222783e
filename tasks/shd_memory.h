#pragma once
/// A synthetic SHD-format task whose classes need memory across time (issue 38): `sernn data
/// synth-shd --task memory`. The classes share their channel bands and differ only by the order
/// of two bursts, a cue and a probe, with a distractor burst between them:
///
///     class (a, b), a != b of `bands` bands: 5 bands give the 20 ordered pairs = SHD's 20 labels
///     t/D:  0 ....... cue a ........ distractor d ........ probe b ........ 1
///
/// Band k occupies `band_width` units centred in the k-th of `bands` equal slices of the 700
/// channels (shifted by the speaker's offset); a burst puts Poisson(`burst_events` x the speaker's
/// rate x a per-burst jitter) events uniformly over its band and over `burst_length` of the
/// sample. Its onset is uniform in its window (fractions of the sample's duration D, itself
/// uniform in [0.6, 1.0] s). The distractor's band is uniform over all bands (a's and b's
/// included), so which bands a sample holds says little about its class. Uniform noise events
/// over all 700 channels and the whole sample, plus one event at t = 0 and one at t = D (so the
/// per-sample binning spans the whole sample whatever the bursts' onsets).
///
/// Speakers (12, as SHD's): each has a rate factor (log-uniform in [rate_min, rate_max]) and a
/// channel offset (uniform in ±speaker_shift units), drawn once per data set from the seed.
///
/// Why memory: at the probe, the class needs which band the cue was, held across the distractor,
/// and the probe's band alone is shared by four classes. A network without recurrence holds the
/// cue only in slow membranes, which the distractor (any band) and the rate variations confound.
/// The calibration (docs/tasks.md): the shipped spiking network against the same network with W
/// held at zero, and a feed-forward readout of the binned counts.
#include <cstdint>
#include <optional>
#include <string>

#include "tasks/shd.h"

namespace sernn {

struct MemoryShdOptions {
  int64_t samples = 2048;
  uint64_t seed = 1;
  int64_t bands = 5;                                    ///< classes: bands (bands - 1) ordered pairs (<= 20)
  int64_t band_width = 100;                             ///< units per band
  double cue_from = 0.20, cue_to = 0.28;                ///< cue onset window (fraction of D)
  double distractor_from = 0.38, distractor_to = 0.46;  ///< distractor onset window
  double probe_from = 0.60, probe_to = 0.68;            ///< probe onset window
  int64_t distractors = 1;                              ///< distractor bursts (0: the plain ordered pair)
  double burst_length = 0.08;                           ///< each burst's duration (fraction of D)
  double burst_events = 300;                            ///< mean events of a burst (before the speaker's rate)
  double noise_events = 1500;                           ///< mean uniform noise events per sample
  double rate_min = 0.5, rate_max = 2.0;                ///< speakers' rate factors (log-uniform)
  double speaker_shift = 10;                            ///< speakers' channel offsets (uniform in ±shift)
};

/// The class of cue band a and probe band b (a != b): the index of (a, b) among the ordered pairs
/// in lexicographic order.
int64_t memory_class(int64_t a, int64_t b, int64_t bands);

/// `options.samples` samples of the task above, deterministic in `options.seed`. InputError for
/// options outside their ranges (bands 2..5, windows inside [0, 1], counts >= 0).
ShdData synth_shd_memory(const MemoryShdOptions& options);

/// `sernn data synth-shd --task memory`: DIR/shd_train.h5 and DIR/shd_test.h5 with `train` and
/// `test` samples of the task (seeds 2 seed + 1 and 2 seed + 2, as the bands task).
void write_synth_shd_memory(const std::string& dir, int64_t train, int64_t test, uint64_t seed,
                            MemoryShdOptions options);

/// What `sernn data synth-shd` asks for: the task ("bands": synth_shd, "memory": the task above),
/// sizes and seed; `noise` (fraction of noise events) and `events` (mean per sample) default per
/// task (bands 0.2 and 300, memory 0.625 and 2400: 1500 noise events and three bursts of 300);
/// windows as "FROM,TO". InputError naming the option for a value outside its range.
struct SynthShdRequest {
  std::string dir, task = "bands";
  int64_t train = 2048, test = 512;
  uint64_t seed = 1;
  std::optional<double> noise;
  std::optional<int64_t> events;
  int64_t distractors = 1;
  std::string cue, distractor, probe;  ///< "" : MemoryShdOptions' defaults
};
void write_synth(const SynthShdRequest& request);

}  // namespace sernn
