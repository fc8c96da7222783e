// Issue 38: the recurrence ablation of `sernn analyze` (run/run_analysis.h): every snapshot's test
// accuracy with its recurrent weight zeroed, against a forward with W = 0 computed here from the
// test file binned independently (bin_per_sample) and the model's own simulate().
#include <gtest/gtest.h>

#include <filesystem>

#include "core/errors.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "models/spiking_rnn.h"
#include "run/run_analysis.h"
#include "run/setup.h"
#include "tasks/shd.h"
#include "test_helpers.h"

using namespace sernn;

namespace {
/// A spiking run on synthetic SHD (train / test samples, 20 bins, 27 neurons) with `settings`
/// added to the config; returns the config it trained.
Config spiking_run(const std::string& dir, int64_t train, int64_t test, const std::vector<std::string>& settings) {
  make_dirs(dir + "/data");
  write_shd(dir + "/data/shd_train.h5", synth_shd({train, 1, 0.2}));
  write_shd(dir + "/data/shd_test.h5", synth_shd({test, 2, 0.2}));
  Config c;
  for (const auto& s : {"model.kind=spiking", "task.kind=shd", "task.bins=20", "model.hidden=27", "model.grid=3,3,3",
                        "train.batch_size=32", "train.threads=1"})
    c.set(s);
  for (const auto& s : settings) c.set(s);
  c.set("task.data_dir=" + dir + "/data");
  train_run(c, dir + "/run", false, true);
  return c;
}
}  // namespace

TEST(RecurrenceAblation, EqualsAForwardWithoutTheRecurrentWeightAtEverySnapshot) {
  const auto dir = sernn::testing::temp_dir("ablation");
  spiking_run(dir, 96, 40, {"train.epochs=2", "train.lr=0.01"});
  const auto run = dir + "/run";
  AnalysisOptions o;
  const auto result = analyze_run_with_dynamics(run, o, 0, -1, /*ablation=*/true);
  ASSERT_EQ(result.size(), 3u);

  const auto test = read_shd(dir + "/data/shd_test.h5");
  std::vector<int64_t> all(test.size());
  for (int64_t i = 0; i < test.size(); ++i) all[i] = i;
  const auto x = bin_per_sample(test, all, 20);
  const auto labels = torch::tensor(test.labels, torch::kInt64);
  const auto metrics = read_jsonl(run + "/metrics.jsonl");
  bool recurrence_matters = false;
  for (const auto& snap : result) {
    const int64_t epoch = snap.at("epoch").get<int64_t>();
    auto loaded = load_run(run, epoch);
    auto& net = dynamic_cast<SpikingRNNImpl&>(*loaded.network);
    torch::NoGradGuard no_grad;
    const auto accuracy = [&] {
      return net.simulate(x).readout_mem.amax(0).argmax(-1).eq(labels).to(torch::kFloat64).mean().item<double>();
    };
    const double with_w = accuracy();
    net.recurrent->weight.zero_();
    const double without_w = accuracy();
    EXPECT_DOUBLE_EQ(snap.at("test_acc").get<double>(), with_w) << "epoch " << epoch;
    EXPECT_DOUBLE_EQ(snap.at("ablation_test_acc").get<double>(), without_w) << "epoch " << epoch;
    if (epoch > 0)
      EXPECT_DOUBLE_EQ(snap.at("test_acc").get<double>(), metrics[epoch - 1].at("test_acc").get<double>())
          << "the trainer's evaluation of epoch " << epoch;
    recurrence_matters |= with_w != without_w;
  }
  EXPECT_TRUE(recurrence_matters) << "zeroing W changed no snapshot's accuracy: the comparison shows nothing";
}

TEST(RecurrenceAblation, ZeroesLowRankAndRateNetworksAndSkipsWithoutData) {
  auto low_rank = SpikingRNN(SpikingRNNOptions(10, 8, 3).rank(2));
  ASSERT_GT(low_rank->recurrent_weight().count_nonzero().item<int64_t>(), 0);
  zero_recurrence(*low_rank);
  EXPECT_EQ(low_rank->recurrent_weight().count_nonzero().item<int64_t>(), 0);

  const auto dir = sernn::testing::temp_dir("ablation_rate");
  Config c;
  for (const auto& s : {"task.train_size=64", "task.val_size=16", "task.test_size=32", "model.hidden=27",
                        "model.grid=3,3,3", "train.epochs=1", "train.batch_size=32", "train.threads=1"})
    c.set(s);
  train_run(c, dir + "/run", false, true);
  auto snapshots = analyze_run(dir + "/run", AnalysisOptions());
  EXPECT_EQ(add_recurrence_ablation(dir + "/run", snapshots), "");
  EXPECT_TRUE(snapshots.back().contains("ablation_test_acc")) << snapshots.back().dump();

  // A spiking run whose data were moved: the ablation says why it is missing, the rest stands.
  const auto spiking = sernn::testing::temp_dir("ablation_moved");
  spiking_run(spiking, 32, 8, {"train.epochs=1", "train.batch_size=16"});
  std::filesystem::remove_all(spiking + "/data");
  auto moved = analyze_run(spiking + "/run", AnalysisOptions());
  const auto why = add_recurrence_ablation(spiking + "/run", moved);
  EXPECT_NE(why.find("shd_train.h5"), std::string::npos) << why;
  EXPECT_FALSE(moved.back().contains("ablation_test_acc"));
}

TEST(RecurrenceAblation, ANetworkTrainedWithoutRecurrenceKeepsWAtZero) {
  // model.recurrent = false: W held at zero through training (the control of issue 38's
  // calibration), everything else trained; its ablation then changes nothing.
  const auto dir = sernn::testing::temp_dir("no_recurrence");
  const auto c = spiking_run(
      dir, 64, 16, {"regularizer.kind=sernn", "regularizer.gamma=0.05", "model.recurrent=false", "train.epochs=1"});
  const auto before = load_run(dir + "/run", 0), after = load_run(dir + "/run", 1);
  EXPECT_EQ(after.network->recurrent_weight().count_nonzero().item<int64_t>(), 0);
  const auto& a = dynamic_cast<SpikingRNNImpl&>(*before.network);
  const auto& b = dynamic_cast<SpikingRNNImpl&>(*after.network);
  EXPECT_FALSE(torch::equal(a.input->weight, b.input->weight)) << "the rest trained";
  auto snapshots = analyze_run(dir + "/run", AnalysisOptions());
  EXPECT_EQ(add_recurrence_ablation(dir + "/run", snapshots), "");
  for (const auto& snap : snapshots)
    EXPECT_EQ(snap.at("ablation_test_acc").get<double>(), snap.at("test_acc").get<double>());
  Config low_rank = c;
  low_rank.set("model.rank=2");
  EXPECT_THROW(train_run(low_rank, dir + "/low_rank", false, true), InputError);
}
