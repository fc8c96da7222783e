// Issue 38: the synthetic SHD task whose classes need memory (tasks/shd_memory.h): deterministic
// per seed, written in the real layout (read_shd's checks pass), and its labels recoverable from
// the events by an independent count (the cue's and the probe's bands in their windows).
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <set>

#include "core/errors.h"
#include "core/io.h"
#include "tasks/shd.h"
#include "tasks/shd_memory.h"
#include "test_helpers.h"

using namespace sernn;

namespace {
MemoryShdOptions small(int64_t samples, uint64_t seed) {
  MemoryShdOptions o;
  o.samples = samples, o.seed = seed;
  return o;
}

/// The band (0..4) holding most of sample i's events with onset-window times in [from, to + burst
/// length] of its duration, counted over units in the bands' central 60 units (noise is uniform:
/// ~5% of events per band per window; a burst puts hundreds there).
int64_t dominant_band(const ShdData& d, int64_t i, double from, double to) {
  const int64_t a = d.offsets[i], b = d.offsets[i + 1];
  const double duration = d.times[b - 1];
  std::array<int64_t, 5> count{};
  for (int64_t e = a; e < b; ++e) {
    const double t = d.times[e] / duration;
    if (t < from || t > to + 0.08) continue;
    const int64_t k = d.units[e] / 140, off = d.units[e] % 140;
    if (off >= 40 && off < 100) ++count[k];
  }
  return std::max_element(count.begin(), count.end()) - count.begin();
}
}  // namespace

TEST(MemoryShd, DeterministicPerSeedAndDifferentAcrossSeeds) {
  const auto a = synth_shd_memory(small(50, 3)), b = synth_shd_memory(small(50, 3)), c = synth_shd_memory(small(50, 4));
  EXPECT_EQ(a.times, b.times);
  EXPECT_EQ(a.units, b.units);
  EXPECT_EQ(a.labels, b.labels);
  EXPECT_EQ(a.speakers, b.speakers);
  EXPECT_NE(a.units, c.units);
}

TEST(MemoryShd, WritesTheRealLayoutWithBalancedClassesAndThousandsOfEvents) {
  const auto dir = sernn::testing::temp_dir("memory_shd");
  write_synth_shd_memory(dir, 400, 100, 7, MemoryShdOptions{});
  const auto train = read_shd(dir + "/shd_train.h5"), test = read_shd(dir + "/shd_test.h5");
  ASSERT_EQ(train.size(), 400);
  ASSERT_EQ(test.size(), 100);
  EXPECT_NE(train.units, test.units);
  std::array<int64_t, 20> per_class{};
  for (auto l : train.labels) ++per_class.at(static_cast<size_t>(l));
  for (int c = 0; c < 5; ++c) EXPECT_GT(per_class[c], 55) << "sum: 5 classes of ~80 samples each";
  for (int c = 5; c < 20; ++c) EXPECT_EQ(per_class[c], 0);
  const double mean_events = static_cast<double>(train.times.size()) / 400.0;
  EXPECT_GT(mean_events, 1500.0);
  EXPECT_LT(mean_events, 4000.0);
  for (int64_t i = 0; i < train.size(); ++i) {
    EXPECT_EQ(train.times[train.offsets[i]], 0.0f) << "the per-sample binning spans the whole sample";
    EXPECT_TRUE(std::is_sorted(train.times.begin() + train.offsets[i], train.times.begin() + train.offsets[i + 1]));
  }
  // pairs: the 20 ordered pairs, each about equally often.
  MemoryShdOptions o = small(400, 5);
  o.rule = MemoryRule::Pairs;
  per_class = {};
  for (auto l : synth_shd_memory(o).labels) ++per_class.at(static_cast<size_t>(l));
  for (auto n : per_class) EXPECT_GT(n, 8);
}

TEST(MemoryShd, TheLabelIsTheRuleOfTheCuesAndTheProbesBands) {
  // Counted independently from the events: the cue's band in the cue window, the probe's in the
  // probe window; the rule of the two is the label.
  for (auto rule : {MemoryRule::Sum, MemoryRule::Pairs}) {
    MemoryShdOptions o = small(300, 11);
    o.rule = rule;
    o.speaker_shift = 0;
    o.distractors = 1;
    const auto d = synth_shd_memory(o);
    int64_t agree = 0;
    for (int64_t i = 0; i < d.size(); ++i) {
      const int64_t a = dominant_band(d, i, o.cue_from, o.cue_to), b = dominant_band(d, i, o.probe_from, o.probe_to);
      const int64_t expected = rule == MemoryRule::Sum ? (a + b) % 5 : memory_class(rule, a, b, 5);
      agree += (rule == MemoryRule::Sum || a != b) && expected == d.labels[i];
    }
    EXPECT_GE(agree, 290) << "of 300";
  }
  // pairs: the 20 ordered pairs, each once; sum: (a + b) mod 5.
  std::set<int64_t> seen;
  for (int64_t a = 0; a < 5; ++a)
    for (int64_t b = 0; b < 5; ++b)
      if (a != b) seen.insert(memory_class(MemoryRule::Pairs, a, b, 5));
  EXPECT_EQ(seen.size(), 20u);
  EXPECT_EQ(*seen.rbegin(), 19);
  EXPECT_EQ(memory_class(MemoryRule::Sum, 3, 4, 5), 2);
  EXPECT_THROW(parse_memory_rule("xor"), InputError);
}

TEST(MemoryShd, OptionsOutsideTheirRangesAreNamed) {
  auto bad = [](auto edit) {
    MemoryShdOptions o = small(4, 1);
    edit(o);
    try {
      synth_shd_memory(o);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(bad([](auto& o) { o.bands = 6; }).find("6 bands"), std::string::npos);
  EXPECT_NE(bad([](auto& o) { o.cue_to = 1.5; }).find("cue window"), std::string::npos);
  EXPECT_NE(bad([](auto& o) { o.probe_from = 0.9, o.probe_to = 0.8; }).find("probe window"), std::string::npos);
  EXPECT_NE(bad([](auto& o) { o.rate_min = 0; }).find("rate_min"), std::string::npos);
}
