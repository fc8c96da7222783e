// Exact resume, signals, SIGKILL at any moment, divergence guard and hostile inputs.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "run/setup.h"
#include "core/errors.h"
#include "core/io.h"
#include "core/signals.h"
#include "core/trainer.h"
#include "test_helpers.h"

using namespace sernn;
namespace fs = std::filesystem;

namespace {

Config tiny(int epochs, int train_size = 256) {
  Config c;
  c.set("regularizer.kind=sernn");
  c.set("regularizer.gamma=0.01");
  c.set(fmt::format("task.train_size={}", train_size));
  c.set("task.val_size=64");
  c.set("task.test_size=64");
  c.set(fmt::format("train.epochs={}", epochs));
  c.set("train.batch_size=32");
  c.set("train.threads=1");
  c.set("train.seed=7");
  return c;
}

std::vector<nlohmann::json> metrics(const std::string& run) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    j.erase("seconds");  // wall-clock figures differ between runs by nature
    j.erase("samples_per_s");
    out.push_back(j);
  }
  return out;
}

/// Starts `sernn args...` in the background with output to files; returns its pid.
using sernn::testing::spawn;
using sernn::testing::wait_exit;

int run_cli(const std::vector<std::string>& args, const std::string& log) { return wait_exit(spawn(args, log)); }

void write_config(const Config& c, const std::string& path) { atomic_write_text(path, c.to_json().dump(2)); }

void expect_same_run(const std::string& a, const std::string& b, int epochs) {
  EXPECT_EQ(metrics(a), metrics(b));
  for (int e = 0; e <= epochs; ++e) {
    const auto f = fmt::format("/weights/epoch_{:03d}.csv", e);
    EXPECT_EQ(read_file(a + f), read_file(b + f)) << f;
  }
}

}  // namespace

TEST(Resume, TwoPlusTwoEpochsEqualsFourBitwise) {
  const auto dir = sernn::testing::temp_dir("r");
  train_run(tiny(4), dir + "/four", false, true);
  train_run(tiny(2), dir + "/split", false, true);
  train_run(tiny(4), dir + "/split", /*resume=*/true, true);
  expect_same_run(dir + "/four", dir + "/split", 4);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/split/status.json"))["status"], "finished");
}

TEST(Resume, MidEpochCheckpointAfterStopRequestResumesBitwise) {
  const auto dir = sernn::testing::temp_dir("mid");
  train_run(tiny(2), dir + "/full", false, true);
  // A stop request lands inside epoch 1 (the first batch sees it): checkpoint at batch 1.
  request_stop(SIGTERM);
  EXPECT_THROW(train_run(tiny(2), dir + "/cut", false, true), Interrupted);
  clear_stop();
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/cut/status.json"))["status"], "interrupted");
  EXPECT_FALSE(fs::exists(dir + "/cut/metrics.jsonl") && !read_file(dir + "/cut/metrics.jsonl").empty());
  train_run(tiny(2), dir + "/cut", true, true);
  expect_same_run(dir + "/full", dir + "/cut", 2);
}

TEST(Resume, TornMetricsLineIsDropped) {
  const auto dir = sernn::testing::temp_dir("torn");
  train_run(tiny(3), dir + "/full", false, true);
  train_run(tiny(2), dir + "/torn", false, true);
  std::ofstream(dir + "/torn/metrics.jsonl", std::ios::app) << "{\"epoch\": 3, \"task_lo";
  train_run(tiny(3), dir + "/torn", true, true);
  expect_same_run(dir + "/full", dir + "/torn", 3);
}

TEST(Signals, SigintSavesAndResumeFinishesIdentically) {
  const auto dir = sernn::testing::temp_dir("sig");
  const auto cfg = dir + "/c.json";
  write_config(tiny(30, 1024), cfg);
  ASSERT_EQ(run_cli({"train", "--config", cfg, "--out", dir + "/full", "--quiet"}, dir + "/full.log"), 0);
  const pid_t pid = spawn({"train", "--config", cfg, "--out", dir + "/cut", "--quiet"}, dir + "/cut.log");
  // Signal once training has started (status.json written), however long a loaded machine takes
  // to start the program: a signal during start-up leaves no run to resume.
  for (int i = 0; i < 600 && !fs::exists(dir + "/cut/status.json"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  kill(pid, SIGINT);
  const int rc = wait_exit(pid);
  if (rc == 0) GTEST_SKIP() << "the run finished before the signal";
  EXPECT_EQ(rc, 130) << read_file(dir + "/cut.log");
  EXPECT_NE(read_file(dir + "/cut.log").find("--resume"), std::string::npos);
  EXPECT_EQ(nlohmann::json::parse(read_file(dir + "/cut/status.json"))["status"], "interrupted");
  ASSERT_EQ(run_cli({"train", "--resume", dir + "/cut", "--quiet"}, dir + "/resume.log"), 0)
      << read_file(dir + "/resume.log");
  expect_same_run(dir + "/full", dir + "/cut", 30);
}

TEST(CrashSafety, SigkillAtManyPointsThenResumeGivesTheSameRun) {
  const auto dir = sernn::testing::temp_dir("kill");
  auto c = tiny(3, 1024);
  c.set("checkpoint.every_minutes=0.000001");  // a checkpoint after every batch: kills land in writes
  const auto cfg = dir + "/c.json";
  write_config(c, cfg);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_cli({"train", "--config", cfg, "--out", dir + "/full", "--quiet"}, dir + "/full.log"), 0);
  const double full_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  int killed = 0;
  // Kill points spread over the run's own duration, so they land on any machine.
  for (double frac : {0.15, 0.3, 0.45, 0.6, 0.75, 0.9}) {
    const int ms = static_cast<int>(frac * full_ms);
    const auto run = dir + fmt::format("/k{}", ms);
    const pid_t pid = spawn({"train", "--config", cfg, "--out", run, "--quiet"}, run + ".log");
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    kill(pid, SIGKILL);
    if (wait_exit(pid) != 128 + SIGKILL) continue;  // finished first
    ++killed;
    // Whatever the moment, the files present are whole and the run resumes to the same end.
    if (fs::exists(run + "/checkpoint.pt")) {
      ASSERT_EQ(run_cli({"train", "--resume", run, "--quiet"}, run + ".resume.log"), 0)
          << read_file(run + ".resume.log");
      expect_same_run(dir + "/full", run, 3);
    }
  }
  EXPECT_GT(killed, 0) << "no kill landed during training";
}

TEST(Divergence, NanLossMarksRunDivergedAndKeepsLastGoodCheckpoint) {
  const auto dir = sernn::testing::temp_dir("nan");
  auto c = tiny(3);
  c.set("train.inject_nan_batch=11");  // epoch 2, batch 3 (8 batches per epoch)
  const auto cfg = dir + "/c.json";
  write_config(c, cfg);
  EXPECT_EQ(run_cli({"train", "--config", cfg, "--out", dir + "/run", "--quiet"}, dir + "/log"), 1);
  const auto log = read_file(dir + "/log");
  EXPECT_NE(log.find("diverged at epoch 2 batch 3: loss is nan"), std::string::npos) << log;
  auto status = nlohmann::json::parse(read_file(dir + "/run/status.json"));
  EXPECT_EQ(status["status"], "diverged");
  EXPECT_EQ(status["epoch"], 1);
  EXPECT_EQ(metrics(dir + "/run").size(), 1u);
  // The checkpoint is the one of epoch 1 and loads.
  auto c1 = tiny(1);
  auto net = make_network(c1, 8, 4);
  TrainerOptions t;
  t.out_dir = dir + "/probe";
  Trainer probe(net, make_task(c1), t);
  EXPECT_EQ(probe.load_checkpoint(dir + "/run/checkpoint.pt").epoch, 1);
}

TEST(HostileInputs, CheckpointOfAnotherModelIsRefused) {
  const auto dir = sernn::testing::temp_dir("foreign");
  auto small = tiny(1);
  small.set("model.hidden=27");
  small.set("model.grid=3,3,3");
  train_run(small, dir + "/small", false, true);
  train_run(tiny(1), dir + "/big", false, true);
  fs::copy_file(dir + "/small/checkpoint.pt", dir + "/big/checkpoint.pt", fs::copy_options::overwrite_existing);
  const auto before = read_file(dir + "/big/metrics.jsonl");
  EXPECT_EQ(run_cli({"train", "--resume", dir + "/big", "--set", "train.epochs=2", "--quiet"}, dir + "/log"), 2);
  const auto log = read_file(dir + "/log");
  EXPECT_NE(log.find("checkpoint.pt"), std::string::npos) << log;
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << "one-line error: " << log;
  EXPECT_EQ(read_file(dir + "/big/metrics.jsonl"), before) << "nothing lost";
  sernn::testing::write_text(dir + "/big/checkpoint.pt", "garbage");
  EXPECT_EQ(run_cli({"train", "--resume", dir + "/big", "--set", "train.epochs=2", "--quiet"}, dir + "/log"), 2);
}

TEST(HostileInputs, SizesThatCannotFitAreRefusedBeforeAnyOutput) {
  const auto dir = sernn::testing::temp_dir("huge");
  EXPECT_EQ(run_cli({"train", "--out", dir + "/run", "--set", "model.hidden=60000", "--set", "model.grid=100,100,6",
                     "--quiet"},
                    dir + "/log"),
            2);
  EXPECT_NE(read_file(dir + "/log").find("model.hidden"), std::string::npos) << read_file(dir + "/log");
  EXPECT_FALSE(fs::exists(dir + "/run"));
  EXPECT_EQ(run_cli({"train", "--out", dir + "/run", "--set", "task.train_size=900000000", "--quiet"}, dir + "/log"),
            2);
  EXPECT_FALSE(fs::exists(dir + "/run"));
}

TEST(Signals, StopEndsTrainingWithinOneBatchWithACheckpointThenResumes) {
  // A stop request after global batch 3 (train.stop_after_batch: as if SIGTERM arrived during
  // batch 3) ends the run after that batch, not at the epoch's end: status interrupted "after
  // batch 3" and a checkpoint; the resumed run equals an uninterrupted one.
  const auto dir = sernn::testing::temp_dir("onebatch");
  train_run(tiny(2), dir + "/full", false, true);
  auto c = tiny(2);
  c.set("train.stop_after_batch=3");
  EXPECT_THROW(train_run(c, dir + "/cut", false, true), Interrupted);
  clear_stop();
  const auto status = nlohmann::json::parse(read_file(dir + "/cut/status.json"));
  EXPECT_EQ(status["status"], "interrupted");
  EXPECT_NE(status.value("message", "").find("epoch 1 after batch 3"), std::string::npos) << status.dump();
  EXPECT_TRUE(fs::exists(dir + "/cut/checkpoint.pt"));
  train_run(c, dir + "/cut", true, true);
  expect_same_run(dir + "/full", dir + "/cut", 2);
}
