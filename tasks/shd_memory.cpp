#include "tasks/shd_memory.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>
#include <random>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {

namespace {

void check_window(const char* name, double from, double to) {
  if (!(from >= 0 && from <= to && to <= 1))
    throw InputError(fmt::format("synth-shd memory: the {} window [{}, {}] is not inside [0, 1]", name, from, to));
}

void check_options(const MemoryShdOptions& o) {
  if (o.bands < 2 || o.bands > 5)
    throw InputError(fmt::format("synth-shd memory: {} bands (2 to 5: bands (bands - 1) classes <= 20)", o.bands));
  if (o.band_width < 1 || o.band_width > kShdUnits / o.bands)
    throw InputError(fmt::format("synth-shd memory: band width {} (1 to {})", o.band_width, kShdUnits / o.bands));
  check_window("cue", o.cue_from, o.cue_to);
  check_window("distractor", o.distractor_from, o.distractor_to);
  check_window("probe", o.probe_from, o.probe_to);
  if (!(o.burst_length > 0 && o.burst_length <= 1) || o.distractors < 0 || !(o.burst_events >= 0) ||
      !(o.noise_events >= 0) || !(o.rate_min > 0 && o.rate_min <= o.rate_max) || !(o.speaker_shift >= 0))
    throw InputError("synth-shd memory: burst length in (0, 1], counts >= 0, 0 < rate_min <= rate_max, shift >= 0");
}

struct Speaker {
  double rate, shift;
};

}  // namespace

int64_t memory_class(MemoryRule rule, int64_t a, int64_t b, int64_t bands) {
  if (rule == MemoryRule::Sum) return (a + b) % bands;
  return a * (bands - 1) + (b < a ? b : b - 1);
}

MemoryRule parse_memory_rule(const std::string& name) {
  if (name == "sum") return MemoryRule::Sum;
  if (name == "pairs") return MemoryRule::Pairs;
  throw InputError(fmt::format("--rule {}: sum or pairs", name));
}

ShdData synth_shd_memory(const MemoryShdOptions& o) {
  check_options(o);
  std::mt19937_64 rng(o.seed);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  const auto log_uniform = [&](double lo, double hi) {
    return std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * unif(rng));
  };
  std::vector<Speaker> speakers(12);
  for (auto& s : speakers) s = {log_uniform(o.rate_min, o.rate_max), (2 * unif(rng) - 1) * o.speaker_shift};
  const int64_t slice = kShdUnits / o.bands;
  std::uniform_int_distribution<int64_t> band(0, o.bands - 1), other(0, o.bands - 2), who(0, 11);
  ShdData data;
  std::vector<std::pair<float, int32_t>> ev;
  for (int64_t s = 0; s < o.samples; ++s) {
    // sum: a and b independent; pairs: b uniform over the other bands.
    const int64_t a = band(rng), r = o.rule == MemoryRule::Sum ? band(rng) : other(rng);
    const int64_t b = o.rule == MemoryRule::Sum || r < a ? r : r + 1, c = memory_class(o.rule, a, b, o.bands);
    const int64_t id = who(rng);
    const Speaker& sp = speakers[static_cast<size_t>(id)];
    const double duration = 0.6 + 0.4 * unif(rng);
    ev.clear();
    const auto burst = [&](int64_t k, double from, double to) {
      const double onset = from + (to - from) * unif(rng);
      // Per-burst jitter of the count: x [0.7, 1.4] log-uniform, on top of the speaker's rate.
      std::poisson_distribution<int64_t> count(o.burst_events * sp.rate * log_uniform(0.7, 1.4));
      const double lo = static_cast<double>(slice * k + (slice - o.band_width) / 2) + sp.shift;
      for (int64_t e = count(rng); e > 0; --e) {
        const double t = (onset + o.burst_length * unif(rng)) * duration;
        const double u = std::clamp(std::floor(lo + static_cast<double>(o.band_width) * unif(rng)), 0.0,
                                    static_cast<double>(kShdUnits - 1));
        ev.emplace_back(static_cast<float>(std::min(t, duration)), static_cast<int32_t>(u));
      }
    };
    burst(a, o.cue_from, o.cue_to);
    for (int64_t d = 0; d < o.distractors; ++d) burst(band(rng), o.distractor_from, o.distractor_to);
    burst(b, o.probe_from, o.probe_to);
    std::poisson_distribution<int64_t> noise(o.noise_events);
    for (int64_t e = noise(rng); e > 0; --e)
      ev.emplace_back(static_cast<float>(duration * unif(rng)), static_cast<int32_t>(unif(rng) * kShdUnits));
    ev.emplace_back(0.0f, static_cast<int32_t>(unif(rng) * kShdUnits));
    ev.emplace_back(static_cast<float>(duration), static_cast<int32_t>(unif(rng) * kShdUnits));
    data.add_events(ev, c, id);
  }
  return data;
}

void write_synth_shd_memory(const std::string& dir, int64_t train, int64_t test, uint64_t seed,
                            MemoryShdOptions options) {
  check_synth_sizes(train, test);
  check_options(options);
  write_synth_files(dir, train, test, seed, [&](int64_t samples, uint64_t s) {
    options.samples = samples, options.seed = s;
    return synth_shd_memory(options);
  });
}

namespace {

/// "FROM,TO" as a window (FROM, TO), or `fallback` for "".
std::pair<double, double> window_of(const std::string& text, const char* option, std::pair<double, double> fallback) {
  if (text.empty()) return fallback;
  double a = 0, b = 0;
  char tail = 0;
  if (std::sscanf(text.c_str(), "%lf,%lf%c", &a, &b, &tail) != 2)
    throw InputError(fmt::format("--{} {}: expected FROM,TO (fractions of the sample)", option, text));
  return {a, b};
}

}  // namespace

void write_synth(const SynthShdRequest& q) {
  const bool memory = q.task == "memory";
  if (!memory && q.task != "bands") throw InputError(fmt::format("--task {}: bands or memory", q.task));
  const double noise = q.noise.value_or(memory ? 0.625 : 0.2);
  const int64_t events = q.events.value_or(memory ? 2400 : 300);
  if (!memory) return write_synth_shd(q.dir, q.train, q.test, q.seed, noise, events);
  check_synth_events(noise, events);
  if (q.distractors < 0 || q.distractors > 100)
    throw InputError(fmt::format("--distractors {} outside [0, 100]", q.distractors));
  MemoryShdOptions o;
  o.rule = parse_memory_rule(q.rule);
  o.distractors = q.distractors;
  std::tie(o.cue_from, o.cue_to) = window_of(q.cue, "cue", {o.cue_from, o.cue_to});
  std::tie(o.distractor_from, o.distractor_to) =
      window_of(q.distractor, "distractor", {o.distractor_from, o.distractor_to});
  std::tie(o.probe_from, o.probe_to) = window_of(q.probe, "probe", {o.probe_from, o.probe_to});
  o.noise_events = static_cast<double>(events) * noise;
  o.burst_events = static_cast<double>(events) * (1 - noise) / static_cast<double>(2 + o.distractors);
  write_synth_shd_memory(q.dir, q.train, q.test, q.seed, o);
}

}  // namespace sernn
