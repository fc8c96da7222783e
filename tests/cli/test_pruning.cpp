// Magnitude pruning: the schedule's closed form, the keep mask against a naive selection, and
// training runs that reach the target sparsity, keep pruned synapses at zero, keep Dale's
// signs, resume exactly and sweep the sparsity with `sernn sweep --param`.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "run/setup.h"
#include "run/sweep.h"
#include "run/config.h"
#include "core/errors.h"
#include "core/io.h"
#include "regularizers/pruning.h"
#include "test_helpers.h"

using namespace sernn;

namespace {
Config small_config() {
  Config c;
  c.set("task.train_size=512");
  c.set("task.val_size=64");
  c.set("task.test_size=256");
  c.set("train.epochs=4");
  c.set("train.batch_size=32");
  c.set("train.threads=2");
  c.set("train.seed=3");
  c.set("prune.final_sparsity=0.6");
  return c;
}

std::vector<nlohmann::json> metrics(const std::string& dir) {
  std::vector<nlohmann::json> out;
  std::ifstream in(dir + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
  return out;
}
}  // namespace

TEST(Pruning, ScheduleClosedForms) {
  PruningOptions o;
  o.final_sparsity = 0.8;
  o.start_epoch = 2;
  o.end_epoch = 5;
  EXPECT_EQ(scheduled_sparsity(o, 1, 10), 0.0);
  // cubic: p = (e - 1) / 4 for e = 2..5
  for (int e = 2; e <= 5; ++e)
    EXPECT_NEAR(scheduled_sparsity(o, e, 10), 0.8 * (1 - std::pow(1 - (e - 1) / 4.0, 3)), 1e-12);
  EXPECT_DOUBLE_EQ(scheduled_sparsity(o, 9, 10), 0.8);
  o.schedule = "linear";
  EXPECT_DOUBLE_EQ(scheduled_sparsity(o, 3, 10), 0.4);
  o.schedule = "once";
  EXPECT_DOUBLE_EQ(scheduled_sparsity(o, 2, 10), 0.8);
  o.schedule = "cubic";
  o.end_epoch = 0;  // the last epoch
  EXPECT_DOUBLE_EQ(scheduled_sparsity(o, 10, 10), 0.8);
  EXPECT_LT(scheduled_sparsity(o, 9, 10), 0.8);
  o.schedule = "exponential";
  EXPECT_THROW(scheduled_sparsity(o, 3, 10), InputError);
  o.final_sparsity = 0;
  EXPECT_EQ(scheduled_sparsity(o, 3, 10), 0.0);
}

TEST(Pruning, KeepMaskMatchesNaiveSelectionAndNeverRevives) {
  torch::manual_seed(5);
  const auto w = torch::randn({7, 9});
  const auto keep = magnitude_keep_mask(w, 0.3, {});
  const int64_t k = std::llround(0.3 * 63);
  EXPECT_EQ(keep.eq(0).sum().item<int64_t>(), k);
  // Naive: every pruned magnitude is at most every kept one.
  const auto a = w.abs();
  EXPECT_LE(a.masked_select(keep.eq(0)).max().item<float>(), a.masked_select(keep.eq(1)).min().item<float>());
  // A previous mask's removals stay removed even where |w| is now large.
  auto previous = torch::ones({7, 9});
  const auto big = a.argmax();
  previous.view(-1)[big] = 0;
  const auto next = magnitude_keep_mask(w, 0.3, previous);
  EXPECT_EQ(next.view(-1)[big].item<float>(), 0.0f);
  EXPECT_EQ(next.eq(0).sum().item<int64_t>(), k);
  EXPECT_EQ((next * (1 - previous)).sum().item<float>(), 0.0f);
  // Ties (all equal) are pruned in index order.
  const auto tie = magnitude_keep_mask(torch::ones({2, 5}), 0.4, {});
  EXPECT_TRUE(torch::equal(tie.view(-1), torch::tensor({0.f, 0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 1.f, 1.f, 1.f})));
}

TEST(Pruning, TrainingFollowsTheScheduleAndKeepsPrunedSynapsesAtZero) {
  const auto dir = sernn::testing::temp_dir("rate");
  auto c = small_config();
  train_run(c, dir, false, true);
  const auto lines = metrics(dir);
  ASSERT_EQ(lines.size(), 4u);
  PruningOptions o;
  o.final_sparsity = 0.6;
  for (int e = 1; e <= 4; ++e) {
    const double target = scheduled_sparsity(o, e, 4);
    EXPECT_NEAR(lines[e - 1]["prune_target"].get<double>(), target, 1e-12);
    EXPECT_NEAR(lines[e - 1]["sparsity"].get<double>(), target, 1.5e-4) << "epoch " << e;
  }
  EXPECT_GE(lines.back()["test_acc"].get<double>(), 0.5);
  // Zeros of epoch e are zeros of epoch e + 1 (training never revives a pruned synapse).
  torch::Tensor prev;
  for (int e = 1; e <= 4; ++e) {
    const auto w = read_matrix_csv(dir + "/weights/epoch_00" + std::to_string(e) + ".csv");
    if (prev.defined()) {
      EXPECT_EQ(w.masked_select(prev.eq(0)).abs().sum().item<double>(), 0.0) << "epoch " << e;
    }
    prev = w;
  }
  EXPECT_NEAR(zero_fraction(prev), 0.6, 1e-4);
  // The saved model carries the mask; loading it back gives the same effective weight.
  auto run = load_run(dir);
  EXPECT_TRUE(torch::allclose(run.network->recurrent_weight().to(torch::kFloat64), prev, 1e-6, 1e-7));
}

TEST(Pruning, KeepsDaleSignsAndResumesExactly) {
  const auto dir = sernn::testing::temp_dir("dale");
  auto c = small_config();
  c.set("model.dale=true");
  c.set("prune.schedule=linear");
  c.set("prune.end_epoch=4");  // the schedule must not depend on train.epochs, which the resume extends
  train_run(c, dir + "/full", false, true);
  // Two epochs, then resume to four: bit-identical weights and metrics.
  auto c2 = c;
  c2.set("train.epochs=2");
  train_run(c2, dir + "/cut", false, true);
  train_run(c, dir + "/cut", true, true);
  EXPECT_EQ(read_file(dir + "/cut/weights/epoch_004.csv"), read_file(dir + "/full/weights/epoch_004.csv"));
  const auto w = read_matrix_csv(dir + "/full/weights/epoch_004.csv");
  EXPECT_NEAR(zero_fraction(w), 0.6, 1e-4);
  auto run = load_run(dir + "/full");
  const auto sign = run.network->named_buffers()["neuron_sign"].to(torch::kFloat64);
  // Column j carries the sign of presynaptic neuron j (or is zero).
  EXPECT_EQ((w * sign.unsqueeze(0)).lt(0).sum().item<int64_t>(), 0);
}

TEST(Pruning, SweepOverFinalSparsity) {
  const auto dir = sernn::testing::temp_dir("sweep");
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  const std::vector<std::string> args{"sweep",
                                      "--config",
                                      cfg,
                                      "--out",
                                      dir,
                                      "--param",
                                      "prune.final_sparsity",
                                      "--values",
                                      "0,0.5,0.9",
                                      "--set",
                                      "train.epochs=2",
                                      "--set",
                                      "task.train_size=256",
                                      "--set",
                                      "task.val_size=32",
                                      "--set",
                                      "task.test_size=64",
                                      "--set",
                                      "train.batch_size=32",
                                      "--jobs",
                                      "2",
                                      "--quiet"};
  ASSERT_EQ(sernn::testing::wait_exit(sernn::testing::spawn(args, dir + ".log")), 0) << read_file(dir + ".log");
  const auto csv = read_file(dir + "/results.csv");
  EXPECT_NE(csv.find(",run_dir,mean_hops,param,value\n"), std::string::npos) << csv;
  // One group (the config's regularizer.kind), three values.
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 4) << csv;
  for (const char* v : {"0", "0.5", "0.9"}) {
    const auto run_dir = dir + "/runs/sernn/prune.final_sparsity_" + std::string(v) + "/seed_1";
    const auto w = read_matrix_csv(run_dir + "/weights/epoch_002.csv");
    EXPECT_NEAR(zero_fraction(w), std::stod(v), 1e-4) << run_dir;
    EXPECT_NE(csv.find(",prune.final_sparsity," + std::string(v) + "\n"), std::string::npos) << csv;
  }
  // Bad keys and values are refused, naming them.
  const auto err = dir + "/err.log";
  auto bad = args;
  bad[6] = "prune.schedule";
  EXPECT_EQ(sernn::testing::wait_exit(sernn::testing::spawn(bad, err)), 2);
  EXPECT_NE(read_file(err).find("not numeric"), std::string::npos) << read_file(err);
  bad[6] = "train.seed";
  EXPECT_EQ(sernn::testing::wait_exit(sernn::testing::spawn(bad, err)), 2);
  EXPECT_NE(read_file(err).find("--seeds"), std::string::npos) << read_file(err);
  bad = args;
  bad[8] = "0.5,1.5";
  EXPECT_EQ(sernn::testing::wait_exit(sernn::testing::spawn(bad, err)), 2);
  EXPECT_NE(read_file(err).find("prune.final_sparsity"), std::string::npos) << read_file(err);
}

TEST(Pruning, ValuesParserAllowsNegativesOnlyWhereAsked) {
  EXPECT_EQ(parse_values("-1,2", "--values", true), (std::vector<double>{-1, 2}));
  EXPECT_THROW(parse_values("-1,2", "--gammas", false), InputError);
  EXPECT_EQ(parse_values("-1:1:3", "--values", true), (std::vector<double>{-1, 0, 1}));
}

TEST(Pruning, SpikingNetworksArePrunedToo) {
  // The spiking model's fused kernel reads recurrent.weight; pruning zeroes it after every step.
  const auto dir = sernn::testing::temp_dir("spiking");
  const auto log = dir + "/log.txt";
  ASSERT_EQ(sernn::testing::wait_exit(sernn::testing::spawn(
                {"data", "synth-shd", "--out", dir + "/data", "--train", "256", "--test", "64"}, log)),
            0)
      << read_file(log);
  auto c = Config::from_file(std::string(SERNN_SOURCE_DIR) + "/configs/shd_sernn.toml");
  c.set("task.data_dir=" + dir + "/data");
  c.set("task.bins=20");
  c.set("train.epochs=2");
  c.set("train.batch_size=32");
  c.set("train.threads=2");
  c.set("prune.final_sparsity=0.5");
  c.set("prune.schedule=once");
  train_run(c, dir + "/run", false, true);
  const auto lines = metrics(dir + "/run");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NEAR(lines[0]["sparsity"].get<double>(), 0.5, 1e-4);
  const auto w1 = read_matrix_csv(dir + "/run/weights/epoch_001.csv"),
             w2 = read_matrix_csv(dir + "/run/weights/epoch_002.csv");
  EXPECT_NEAR(zero_fraction(w2), 0.5, 1e-4);
  EXPECT_EQ(w2.masked_select(w1.eq(0)).abs().sum().item<double>(), 0.0);
  EXPECT_GT((w2 - w1).abs().max().item<double>(), 0.0) << "the kept synapses still learn";
}
