// The run-directory contract of `sernn train` and a short deterministic training run.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "run/setup.h"
#include "run/config.h"
#include "core/io.h"
#include "test_helpers.h"

using namespace sernn;
namespace fs = std::filesystem;

namespace {
Config small_rate_config() {
  Config c;
  c.set("regularizer.kind=sernn");
  c.set("regularizer.gamma=0.001");
  c.set("task.train_size=1024");
  c.set("task.val_size=256");
  c.set("task.test_size=512");
  c.set("train.epochs=5");
  c.set("train.batch_size=32");
  c.set("train.grad_clip=1.0");
  c.set("train.threads=2");
  c.set("train.seed=4");
  return c;
}

std::vector<nlohmann::json> jsonl_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

int run_cli(const std::string& args, const std::string& stderr_file) {
  const std::string cmd = std::string(SERNN_BINARY) + " " + args + " > /dev/null 2> " + stderr_file;
  const int rc = std::system(cmd.c_str());
  return WEXITSTATUS(rc);
}
}  // namespace

TEST(TrainRun, RateSeRNNReachesNinetyPercentAndWritesRunDirectory) {
  const auto dir = sernn::testing::temp_dir("run");
  const auto config = small_rate_config();
  auto last = train_run(config, dir, /*resume=*/false, /*quiet=*/true);
  EXPECT_GE(last["test_acc"].get<double>(), 0.90) << last.dump();

  // config.json is the resolved config.
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/config.json")), config.to_json());
  // coords.csv: N rows x,y,z.
  auto coords = read_matrix_csv(dir + "/coords.csv");
  EXPECT_EQ(coords.sizes(), (std::vector<int64_t>{100, 3}));
  // One weight snapshot per epoch plus the initial one, N x N.
  for (int e = 0; e <= 5; ++e) {
    const auto path = fmt::format("{}/weights/epoch_{:03d}.csv", dir, e);
    ASSERT_TRUE(fs::exists(path)) << path;
    EXPECT_EQ(read_matrix_csv(path).sizes(), (std::vector<int64_t>{100, 100}));
  }
  EXPECT_FALSE(fs::exists(dir + "/weights/epoch_006.csv"));
  // metrics.jsonl: one object per epoch with the contract keys.
  auto lines = jsonl_lines(dir + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  for (size_t i = 0; i < lines.size(); ++i) {
    EXPECT_EQ(lines[i]["epoch"], static_cast<int>(i + 1));
    for (const char* key : {"task_loss", "reg_loss", "train_acc", "val_acc", "test_acc", "seconds", "samples_per_s"})
      EXPECT_TRUE(lines[i].contains(key) && lines[i][key].is_number()) << key;
    EXPECT_GT(lines[i]["reg_loss"].get<double>(), 0.0);
  }
  EXPECT_TRUE(fs::exists(dir + "/checkpoint.pt"));
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/status.json"))["status"], "finished");
  // No temporary files left behind by the atomic writers.
  for (const auto& e : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
  // The initial snapshot is the orthogonal init: W W^T = I.
  auto w0 = read_matrix_csv(dir + "/weights/epoch_000.csv");
  EXPECT_LT((w0.matmul(w0.t()) - torch::eye(100, torch::kFloat64)).abs().max().item<double>(), 1e-5);
}

TEST(TrainRun, SameSeedGivesIdenticalWeights) {
  auto config = small_rate_config();
  config.set("train.epochs=1");
  config.set("task.train_size=256");
  const auto a = sernn::testing::temp_dir("a"), b = sernn::testing::temp_dir("b");
  train_run(config, a, false, true);
  train_run(config, b, false, true);
  EXPECT_EQ(read_file(a + "/weights/epoch_001.csv"), read_file(b + "/weights/epoch_001.csv"));
}

TEST(TrainRun, ResumeContinuesFromCheckpoint) {
  auto config = small_rate_config();
  config.set("task.train_size=256");
  config.set("train.epochs=2");
  const auto full = sernn::testing::temp_dir("full"), split = sernn::testing::temp_dir("split");
  train_run(config, full, false, true);
  auto one = config;
  one.set("train.epochs=1");
  train_run(one, split, false, true);
  train_run(config, split, /*resume=*/true, true);
  EXPECT_EQ(jsonl_lines(split + "/metrics.jsonl").size(), 2u);
  EXPECT_EQ(read_file(full + "/weights/epoch_002.csv"), read_file(split + "/weights/epoch_002.csv"));
}

TEST(TrainCli, BadConfigExitsTwoNamingKeyAndFile) {
  const auto dir = sernn::testing::temp_dir("cli");
  const auto cfg = sernn::testing::write_text(dir + "/bad.toml", "[train]\nepochs = 2\nbatchsize = 4\n");
  const auto err = dir + "/err.txt";
  EXPECT_EQ(run_cli("train --config " + cfg + " --out " + dir + "/run", err), 2);
  const auto msg = read_file(err);
  EXPECT_NE(msg.find("bad.toml"), std::string::npos) << msg;
  EXPECT_NE(msg.find("train.batchsize"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir + "/run/config.json")) << "no partial output on bad input";

  EXPECT_EQ(run_cli("train --out " + dir + "/run2 --set regularizer.gamma=-1", err), 2);
  EXPECT_NE(read_file(err).find("regularizer.gamma"), std::string::npos);
  EXPECT_EQ(run_cli("train --out " + dir + "/run3 --set model.hidden=64", err), 2);
  EXPECT_NE(read_file(err).find("model.hidden"), std::string::npos) << read_file(err);
  EXPECT_EQ(run_cli("train --bogus", err), 2);
  EXPECT_EQ(run_cli("nosuchcommand", err), 2);
  EXPECT_EQ(run_cli("bench nosuch", err), 2);
  EXPECT_NE(read_file(err).find("known: regularizer, train"), std::string::npos) << read_file(err);
  EXPECT_EQ(run_cli("data nosuch", err), 2);
  EXPECT_EQ(run_cli("data", err), 2) << "no subcommand: usage and exit 2";
}

TEST(TrainCli, TrainsFromTheShippedConfigWithOverrides) {
  const auto dir = sernn::testing::temp_dir("cli_ok");
  const auto err = dir + "/err.txt";
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  ASSERT_EQ(run_cli("train --config " + cfg + " --out " + dir +
                        "/run --set train.epochs=1 --set task.train_size=128 "
                        "--set task.val_size=64 --set task.test_size=64 --threads 1 --seed 5 --quiet",
                    err),
            0)
      << read_file(err);
  auto cfg_json = nlohmann::json::parse(read_file(dir + "/run/config.json"));
  EXPECT_EQ(cfg_json["train"]["seed"], 5);
  EXPECT_EQ(cfg_json["train"]["threads"], 1);
  EXPECT_EQ(cfg_json["regularizer"]["kind"], "sernn");
  // A second run into the same directory is refused without --force.
  EXPECT_EQ(run_cli("train --config " + cfg + " --out " + dir + "/run --quiet", err), 2);
  EXPECT_NE(read_file(err).find("--force"), std::string::npos);
}

TEST(TrainRun, SpikingSeRNNLearnsSyntheticShd) {
  const auto data = sernn::testing::temp_dir("data"), dir = sernn::testing::temp_dir("run");
  const auto err = data + "/err.txt";
  ASSERT_EQ(run_cli("data synth-shd --out " + data + " --train 1024 --test 256 --seed 2", err), 0) << read_file(err);
  auto config = Config::from_file(std::string(SERNN_SOURCE_DIR) + "/configs/shd_sernn.toml");
  config.set("task.data_dir=" + data);
  config.set("task.bins=40");
  config.set("train.epochs=5");
  config.set("train.batch_size=32");
  config.set("train.lr=0.01");
  config.set("train.threads=2");
  config.set("regularizer.gamma=0.001");
  auto last = train_run(config, dir, false, true);
  EXPECT_GE(last["test_acc"].get<double>(), 0.90) << last.dump();
  auto lines = jsonl_lines(dir + "/metrics.jsonl");
  ASSERT_EQ(lines.size(), 5u);
  for (const char* key : {"beta_mean", "beta_min", "beta_max", "rate_hidden"})
    EXPECT_TRUE(lines.back().contains(key)) << key;
  EXPECT_GE(lines.back()["beta_min"].get<double>(), std::exp(-1.0 / 3.0) - 1e-6);
  EXPECT_LE(lines.back()["beta_max"].get<double>(), 0.995 + 1e-6);
  EXPECT_EQ(read_matrix_csv(dir + "/weights/epoch_005.csv").sizes(), (std::vector<int64_t>{100, 100}));
}

TEST(TrainRun, ActivityCostLowersHiddenActivity) {
  // The same E/I network with and without an L2 activity cost: the cost must show in the
  // metrics and leave the trained network with less hidden activity. (gamma 0.1: at 0.05 the
  // ratio was 0.52 with the reference BLAS but 0.71 with OpenBLAS on an AMD EPYC.)
  auto mean_activity = [](const std::string& dir, bool cost) {
    auto c = small_rate_config();
    c.set("train.epochs=2");
    c.set("model.dale=true");
    c.set("model.activation=tanh");
    c.set("activity.kind=l2");
    c.set(cost ? "activity.gamma=0.1" : "activity.gamma=0");
    train_run(c, dir, false, true);
    const auto lines = jsonl_lines(dir + "/metrics.jsonl");
    EXPECT_EQ(lines.back().contains("activity_cost"), cost);
    auto run = load_run(dir);
    torch::NoGradGuard g;
    auto x = torch::rand({50, 64, 8});
    return run.network->run(x, false).activity.pow(2).sum(1).mean().item<double>();
  };
  const auto dir = sernn::testing::temp_dir("act");
  const double with = mean_activity(dir + "/with", true), without = mean_activity(dir + "/without", false);
  EXPECT_LT(with, 0.7 * without) << with << " vs " << without;
}

TEST(TrainRun, ForceReplacesAnOldRunWithoutLeavingItsEpochs) {
  // A shorter run written over a longer one must not leave the old run's later snapshots
  // (load_run and analyze would take them for this run's last epoch).
  const auto dir = sernn::testing::temp_dir("force");
  auto c = small_rate_config();
  c.set("train.epochs=3");
  c.set("task.train_size=128");
  train_run(c, dir, false, true);
  ASSERT_TRUE(fs::exists(dir + "/models/epoch_003.pt"));
  sernn::testing::write_text(dir + "/analysis.json", "[]");
  const auto err = dir + "/../force_err.txt";
  ASSERT_EQ(run_cli("train --config " + std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml --out " + dir +
                        " --force --quiet --set train.epochs=1 --set task.train_size=128 --set model.hidden=64"
                        " --set model.grid=4,4,4",
                    err),
            0)
      << read_file(err);
  EXPECT_TRUE(fs::exists(dir + "/models/epoch_001.pt"));
  for (const char* stale : {"/models/epoch_002.pt", "/models/epoch_003.pt", "/weights/epoch_003.csv", "/analysis.json"})
    EXPECT_FALSE(fs::exists(dir + stale)) << stale;
  EXPECT_EQ(load_run(dir).epoch, 1);
}

TEST(TrainRun, BadActivityBandOnResumeLeavesTheRunAsItWas) {
  // Input checks run before anything in the run directory changes.
  const auto dir = sernn::testing::temp_dir("band");
  auto c = small_rate_config();
  c.set("train.epochs=1");
  c.set("task.train_size=128");
  train_run(c, dir, false, true);
  const auto config_before = read_file(dir + "/config.json"), metrics_before = read_file(dir + "/metrics.jsonl");
  sernn::testing::write_text(dir + "/analysis.json", "[]");
  const auto err = dir + "/../band_err.txt";
  EXPECT_EQ(run_cli("train --resume " + dir +
                        " --quiet --set train.epochs=2 --set activity.kind=band --set activity.gamma=1"
                        " --set activity.low=0.5 --set activity.high=0.1",
                    err),
            2);
  EXPECT_NE(read_file(err).find("activity.low"), std::string::npos) << read_file(err);
  EXPECT_EQ(read_file(dir + "/config.json"), config_before);
  EXPECT_EQ(read_file(dir + "/metrics.jsonl"), metrics_before);
  EXPECT_TRUE(fs::exists(dir + "/analysis.json"));
  EXPECT_TRUE(fs::exists(dir + "/checkpoint.pt"));
}

TEST(TrainRun, AutoThreadsAreRecordedInConfigJsonAndResumeReadsIt) {
  // train.threads = 0: sernn's choice goes into config.json ("runtime"), which a resume reads
  // back without taking it for a config key.
  const auto dir = sernn::testing::temp_dir("auto_threads");
  auto c = small_rate_config();
  c.set("train.threads=0");
  c.set("train.epochs=1");
  c.set("task.train_size=128");
  train_run(c, dir, false, true);
  const auto j = nlohmann::json::parse(read_file(dir + "/config.json"));
  ASSERT_TRUE(j.contains("runtime")) << j.dump();
  const auto expected = choose_threads(0, 32, 100, available_cores());
  EXPECT_EQ(j["runtime"]["threads"], expected.threads);
  EXPECT_EQ(j["runtime"]["intra_op_threads"], expected.intra_op);
  EXPECT_EQ(j["runtime"]["cores_available"], available_cores());
  EXPECT_EQ(j["train"]["threads"], 0);
  atomic_write_text(dir + "/config.json", [&] {
    auto k = j;
    k["train"]["epochs"] = 2;
    return k.dump(2);
  }());
  EXPECT_NO_THROW(train_run(read_run_config(dir), dir, true, true));
  EXPECT_EQ(jsonl_lines(dir + "/metrics.jsonl").size(), 2u);
}

TEST(TrainRun, StrengthConventionHasOneSourceAndHonoursTheKey) {
  // config_strength: the family default for `auto` (rate: out; spiking: in), the key otherwise.
  Config rate, spiking;
  spiking.set("model.kind=spiking");
  EXPECT_EQ(config_strength(rate), Strength::Out);
  EXPECT_EQ(config_strength(spiking), Strength::In);
  rate.set("regularizer.strength=in");
  spiking.set("regularizer.strength=out");
  EXPECT_EQ(config_strength(rate), Strength::In);
  EXPECT_EQ(config_strength(spiking), Strength::Out);
}
