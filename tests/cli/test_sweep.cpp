// `sernn sweep`: plan expansion, resume after a signal, shards, and the Slurm script.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "run/sweep.h"
#include "core/errors.h"
#include "core/io.h"
#include "test_helpers.h"

using namespace sernn;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> sweep_args(const std::string& out, const std::string& cfg) {
  return {"sweep",
          "--config",
          cfg,
          "--out",
          out,
          "--groups",
          "l1,sernn",
          "--gammas",
          "0.001,0.05",
          "--seeds",
          "1",
          "--jobs",
          "2",
          "--set",
          "train.epochs=3",
          "--set",
          "task.train_size=1024",
          "--set",
          "task.val_size=64",
          "--set",
          "task.test_size=64",
          "--set",
          "train.batch_size=32",
          "--quiet"};
}

using sernn::testing::spawn;
using sernn::testing::wait_exit;

std::string results_rows(const std::string& dir) { return read_file(dir + "/results.csv"); }

enum class KillOutcome { Resumed, FinishedFirst };

/// Runs the sweep `args(out)` uninterrupted into dir/full, then into dir/cut killed with SIGKILL
/// once `runs[0]`'s first epoch is written, then resumed there; expects both results.csv and the
/// epoch-3 weights of `runs` equal.
template <class Args>
KillOutcome sweep_killed_and_resumed(const Args& args, const std::string& dir, const std::vector<std::string>& runs) {
  EXPECT_EQ(wait_exit(spawn(args(dir + "/full"), dir + "/full.log")), 0) << read_file(dir + "/full.log");
  const pid_t pid = spawn(args(dir + "/cut"), dir + "/cut.log");
  const auto first = dir + "/cut/runs/" + runs.front() + "/seed_1/metrics.jsonl";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (read_jsonl(first).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  kill(pid, SIGKILL);
  if (wait_exit(pid) == 0) return KillOutcome::FinishedFirst;
  EXPECT_LT(read_jsonl(first).size(), 3u);
  EXPECT_EQ(wait_exit(spawn(args(dir + "/cut"), dir + "/resume.log")), 0) << read_file(dir + "/resume.log");
  EXPECT_EQ(results_rows(dir + "/cut"), results_rows(dir + "/full"));
  for (const auto& run : runs) {
    const auto f = fmt::format("/runs/{}/seed_1/weights/epoch_003.csv", run);
    EXPECT_EQ(read_file(dir + "/cut" + f), read_file(dir + "/full" + f)) << run;
  }
  return KillOutcome::Resumed;
}
}  // namespace

TEST(Sweep, GammaListsAndLinspace) {
  auto g = parse_gammas("0.001:0.3:1001");
  ASSERT_EQ(g.size(), 1001u);
  EXPECT_DOUBLE_EQ(g.front(), 0.001);
  EXPECT_DOUBLE_EQ(g.back(), 0.3);
  EXPECT_NEAR(g[500], 0.1505, 1e-12);
  EXPECT_EQ(parse_gammas("0.5,0.1"), (std::vector<double>{0.5, 0.1}));
  EXPECT_THROW(parse_gammas("0.1:0.2"), InputError);
  EXPECT_THROW(parse_gammas("a,b"), InputError);
  EXPECT_THROW(parse_gammas("-1,2"), InputError);
  EXPECT_THROW(parse_gammas("0:1:2.5"), InputError);
}

TEST(Sweep, PerGroupGammasAndTheRandomLabelControl) {
  // Seed 000's protocol: each group its own γ list, the random-label control as a group.
  const auto g = parse_group_gammas("l1=0:1:3,sernn=0.1,0.2,random=0:1:2", "--gammas");
  ASSERT_EQ(g.size(), 3u);
  EXPECT_EQ(g[0].first, "l1");
  EXPECT_EQ(g[0].second, (std::vector<double>{0.0, 0.5, 1.0}));
  EXPECT_EQ(g[1].second, (std::vector<double>{0.1, 0.2}));
  EXPECT_EQ(g[2].first, "random");
  EXPECT_THROW(parse_group_gammas("0.1,l1=0.2", "--gammas"), InputError);
  EXPECT_THROW(parse_group_gammas("l1=0.1,l1=0.2", "--gammas"), InputError);
  EXPECT_THROW(parse_group_gammas("l1=", "--gammas"), InputError);

  const auto base = Config::from_file(std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml");
  SweepRequest r;
  r.gammas = "l1=0:1:3,random=0.25";
  r.gammas_given = true;
  const auto plan = make_plan(base, r);
  EXPECT_EQ(plan.groups, (std::vector<std::string>{"l1", "random"}));
  const auto runs = expand(plan);
  ASSERT_EQ(runs.size(), 4u);
  EXPECT_EQ(runs[2].dir, "runs/l1/gamma_1/seed_1");
  EXPECT_EQ(runs[3].dir, "runs/random/gamma_0.25/seed_1");
  const auto c = run_config(base, runs[3], 1);
  EXPECT_EQ(c.get_string("regularizer.kind"), "sernn");
  EXPECT_TRUE(c.get_bool("task.shuffle_labels"));
  EXPECT_DOUBLE_EQ(c.get_float("regularizer.gamma"), 0.25);
  EXPECT_FALSE(run_config(base, runs[0], 1).get_bool("task.shuffle_labels"));

  // The command a Slurm array task runs plans the same runs.
  const auto cmd = sweep_command("sernn", plan, "cfg.toml", "out", {});
  const auto at = std::find(cmd.begin(), cmd.end(), "--values");
  ASSERT_NE(at, cmd.end());
  SweepRequest again;
  again.values = *(at + 1);
  const auto replanned = make_plan(base, again);
  EXPECT_EQ(replanned.group_values, plan.group_values);

  r.groups = "l1,comm";
  r.groups_given = true;
  EXPECT_THROW(make_plan(base, r), InputError) << "--groups names a group without γs";
  r.gammas = "l1=0.1,nope=0.2";
  r.groups_given = false;
  EXPECT_THROW(make_plan(base, r), InputError);
}

TEST(Sweep, PlanShardsPartitionTheRuns) {
  SweepPlan p;
  p.groups = {"l1", "comm"};
  p.values = {0.1, 0.2, 0.3};
  p.seeds = 2;
  const auto runs = expand(p);
  ASSERT_EQ(runs.size(), 12u);
  EXPECT_EQ(runs[0].dir, "runs/l1/gamma_0.1/seed_1");
  size_t total = 0;
  for (int i = 0; i < 5; ++i) total += shard(runs, i, 5).size();
  EXPECT_EQ(total, 12u);
}

TEST(Sweep, KilledMidwayResumesToTheSameResults) {
  const auto dir = sernn::testing::temp_dir("sw");
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(wait_exit(spawn(sweep_args(dir + "/full", cfg), dir + "/full.log")), 0) << read_file(dir + "/full.log");
  const double full_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const auto full = results_rows(dir + "/full");
  EXPECT_EQ(std::count(full.begin(), full.end(), '\n'), 5) << full;
  EXPECT_EQ(full.find("pending"), std::string::npos);

  // Cut the sweep once its first runs are under way (a first epoch written), not after a fixed
  // time: under a loaded ctest a timer can fire after the whole sweep has finished.
  const pid_t pid = spawn(sweep_args(dir + "/cut", cfg), dir + "/cut.log");
  const auto started = [&] {
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir + "/cut", ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename() == "metrics.jsonl") return true;
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(2 * full_ms));
  while (!started() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pid, SIGTERM);
  const int rc = wait_exit(pid);
  if (rc == 0) GTEST_SKIP() << "the sweep finished before the signal";
  EXPECT_EQ(rc, 128 + SIGTERM) << read_file(dir + "/cut.log");
  const auto partial = results_rows(dir + "/cut");
  EXPECT_NE(partial, full) << "the signal must have cut the sweep short";
  ASSERT_EQ(wait_exit(spawn(sweep_args(dir + "/cut", cfg), dir + "/resume.log")), 0) << read_file(dir + "/resume.log");
  EXPECT_EQ(results_rows(dir + "/cut"), full);
  // Every epoch's seed-000 measures: 4 runs x (epoch 0 + 3 epochs), the same after the resume.
  const auto epochs = read_file(dir + "/full/results_epochs.csv");
  EXPECT_EQ(std::count(epochs.begin(), epochs.end(), '\n'), 1 + 4 * 4) << epochs;
  EXPECT_EQ(epochs.rfind("group,gamma,seed,epoch,train_acc", 0), 0u) << epochs;
  EXPECT_NE(epochs.find("l1,0.001,1,0,,,,,"), std::string::npos) << "epoch 0 has no accuracies\n" << epochs;
  EXPECT_NE(epochs.find("sernn,0.05,1,3,"), std::string::npos) << epochs;
  // Every row carries its measures (Q ... r), epoch 0 included.
  std::istringstream lines(epochs);
  std::string line;
  std::getline(lines, line);
  while (std::getline(lines, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    for (std::string c; std::getline(ls, c, ',');) cells.push_back(c);
    ASSERT_EQ(cells.size(), 16u) << line;
    for (size_t i = 8; i <= 14; ++i) EXPECT_FALSE(cells[i].empty()) << "column " << i << ": " << line;
  }
  EXPECT_EQ(read_file(dir + "/cut/results_epochs.csv"), epochs);
}

TEST(Sweep, SigtermStopsAnEnsembleSweepWithinOneBatchThenResumes) {
  // Four rate networks as one batched ensemble, 256 batches per epoch: a SIGTERM once they run
  // ends the sweep within one batch (not at the epoch's end), every member `interrupted`; the
  // resumed sweep finishes them all.
  const auto dir = sernn::testing::temp_dir("ens_sig");
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  const std::vector<std::string> args{"sweep",
                                      "--config",
                                      cfg,
                                      "--out",
                                      dir + "/sw",
                                      "--groups",
                                      "l1,sernn",
                                      "--gammas",
                                      "0.001,0.05",
                                      "--seeds",
                                      "1",
                                      "--ensemble",
                                      "4",
                                      "--threads",
                                      "1",
                                      "--set",
                                      "train.epochs=1",
                                      "--set",
                                      "task.train_size=8192",
                                      "--set",
                                      "task.val_size=64",
                                      "--set",
                                      "task.test_size=64",
                                      "--set",
                                      "train.batch_size=32",
                                      "--quiet"};
  const pid_t pid = spawn(args, dir + "/cut.log");
  std::vector<std::string> statuses;
  const auto running = [&] {
    statuses.clear();
    std::error_code ec;
    for (fs::recursive_directory_iterator it(dir + "/sw", ec), end; !ec && it != end; it.increment(ec))
      if (it->path().filename() == "status.json") statuses.push_back(it->path().string());
    return statuses.size() == 4 && read_file(statuses[0]).find("running") != std::string::npos;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!running() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  ASSERT_TRUE(running()) << read_file(dir + "/cut.log");
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // some batches into the epoch
  const auto t0 = std::chrono::steady_clock::now();
  kill(pid, SIGTERM);
  const int rc = wait_exit(pid);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(rc, 128 + SIGTERM) << read_file(dir + "/cut.log");
  EXPECT_LT(secs, 5.0) << "an epoch here is 256 batches; one batch is milliseconds";
  for (const auto& s : statuses) {
    const auto st = nlohmann::json::parse(read_file(s));
    EXPECT_EQ(st["status"], "interrupted") << s;
    const auto msg = st.value("message", "");
    const auto at = msg.find("after batch ");
    ASSERT_NE(at, std::string::npos) << msg;
    EXPECT_LT(std::stoi(msg.substr(at + 12)), 256) << "stopped inside the epoch: " << msg;
  }
  ASSERT_EQ(wait_exit(spawn(args, dir + "/resume.log")), 0) << read_file(dir + "/resume.log");
  for (const auto& s : statuses) EXPECT_EQ(nlohmann::json::parse(read_file(s))["status"], "finished") << s;
  EXPECT_EQ(results_rows(dir + "/sw").find("interrupted"), std::string::npos);
}

TEST(Sweep, ShardsTogetherEqualTheWholeSweep) {
  const auto dir = sernn::testing::temp_dir("shards");
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  auto small = [&](const std::string& out) {
    auto a = sweep_args(out, cfg);
    a[a.size() - 10] = "train.epochs=1";
    return a;
  };
  ASSERT_EQ(wait_exit(spawn(small(dir + "/whole"), dir + "/w.log")), 0) << read_file(dir + "/w.log");
  for (const char* s : {"0/2", "1/2"}) {
    auto a = small(dir + "/sharded");
    a.insert(a.end(), {"--shard", s});
    ASSERT_EQ(wait_exit(spawn(a, dir + "/s.log")), 0) << read_file(dir + "/s.log");
  }
  EXPECT_EQ(results_rows(dir + "/sharded"), results_rows(dir + "/whole"));
}

TEST(Sweep, SlurmScriptIsAQuotedJobArray) {
  const auto dir = sernn::testing::temp_dir("slurm") + "/it's here";
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  auto a = sweep_args(dir, cfg);
  a.insert(a.end(), {"--slurm", "--shards", "3", "--partition", "gpu", "--time", "02:00:00", "--gpus-per-task", "1"});
  ASSERT_EQ(wait_exit(spawn(a, "/dev/null")), 0);
  const auto script = read_file(dir + "/sweep.sbatch");
  EXPECT_NE(script.find("#SBATCH --array=0-2"), std::string::npos) << script;
  EXPECT_NE(script.find("#SBATCH --partition=gpu"), std::string::npos);
  EXPECT_NE(script.find("#SBATCH --gpus-per-task=1"), std::string::npos);
  EXPECT_NE(script.find("--shard \"${SLURM_ARRAY_TASK_ID}/3\""), std::string::npos);
  EXPECT_NE(script.find("'" + dir.substr(0, dir.find('\'')) + "'\\''s here'"), std::string::npos) << script;
  EXPECT_EQ(std::system(("bash -n " + shell_quote(dir + "/sweep.sbatch")).c_str()), 0);
  // The command line the script runs, with its task id, parses back to the same words.
  const auto echo = dir + "/echo.sh";
  std::string body = script.substr(script.find("set -euo pipefail\n") + 18);
  atomic_write_text(echo, "SLURM_ARRAY_TASK_ID=2\nprintf '%s\\n' " + body.substr(body.find(' ') + 1));
  const auto words_file = dir + "/words.txt";
  ASSERT_EQ(std::system(("bash " + shell_quote(echo) + " > " + shell_quote(words_file)).c_str()), 0);
  const auto words = read_file(words_file);
  EXPECT_NE(words.find("\n" + dir + "\n"), std::string::npos) << words;
  EXPECT_NE(words.find("\n2/3\n"), std::string::npos) << words;
  EXPECT_TRUE(fs::exists(dir + "/sweep.json"));
}

TEST(Sweep, EnsembleSweepKilledWithSigkillResumesToTheUninterruptedOne) {
  // Four rate networks as one ensemble; SIGKILL (no chance to save anything) once the first
  // epoch is done; the resumed sweep continues from the ensemble's last checkpoint and ends with
  // the weights and results of an uninterrupted sweep.
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  const auto dir = sernn::testing::temp_dir("ens_kill");
  auto args = [&](const std::string& out) {
    auto a = sweep_args(out, cfg);
    a.insert(a.end() - 1, {"--ensemble", "4", "--threads", "1"});
    return a;
  };
  const auto outcome =
      sweep_killed_and_resumed(args, dir, {"l1/gamma_0.001", "l1/gamma_0.05", "sernn/gamma_0.001", "sernn/gamma_0.05"});
  if (outcome == KillOutcome::FinishedFirst) GTEST_SKIP() << "the sweep finished before the kill";
}

TEST(Sweep, SpikingEnsembleSweepOnShdKilledWithSigkillResumesToTheUninterruptedOne) {
  // Seed 000's spiking protocol in small (issue 27): L1 and seRNN groups of LIF networks on
  // SHD-format data as one stacked ensemble, killed once the first epoch is written; the resumed
  // sweep ends with the results, every epoch's measures and the weights of an uninterrupted one,
  // and those measures are the reference's formulas applied to the snapshots.
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/shd_sernn.toml";
  const auto dir = sernn::testing::temp_dir("spk_kill");
  ASSERT_EQ(wait_exit(spawn({"data", "synth-shd", "--out", dir + "/shd", "--train", "256", "--test", "64"},
                            dir + "/data.log")),
            0)
      << read_file(dir + "/data.log");
  auto args = [&](const std::string& out) {
    return std::vector<std::string>{"sweep",
                                    "--config",
                                    cfg,
                                    "--out",
                                    out,
                                    "--groups",
                                    "l1,sernn",
                                    "--gammas",
                                    "l1=0:0.001:2,sernn=0:0.02:2",
                                    "--ensemble",
                                    "4",
                                    "--threads",
                                    "1",
                                    "--set",
                                    "task.data_dir=" + dir + "/shd",
                                    "--set",
                                    "task.bins=20",
                                    "--set",
                                    "model.hidden=27",
                                    "--set",
                                    "model.grid=3,3,3",
                                    "--set",
                                    "train.batch_size=32",
                                    "--set",
                                    "train.epochs=3",
                                    "--quiet"};
  };
  const auto outcome =
      sweep_killed_and_resumed(args, dir, {"l1/gamma_0", "l1/gamma_0.001", "sernn/gamma_0", "sernn/gamma_0.02"});
  if (outcome == KillOutcome::FinishedFirst) GTEST_SKIP() << "the sweep finished before the kill";
  EXPECT_EQ(read_file(dir + "/cut/results_epochs.csv"), read_file(dir + "/full/results_epochs.csv"));
  EXPECT_NE(read_file(dir + "/full/results_epochs.csv").find("sernn,0.02,1,3,"), std::string::npos);
  // The recurrence ablation per run (issue 38): results.csv's ablation_test_acc is what `sernn
  // analyze` gives the run's last snapshot.
  for (const auto& row : read_results(dir + "/full")) {
    ASSERT_TRUE(row.count("ablation_test_acc"));
    ASSERT_FALSE(row.at("ablation_test_acc").empty()) << row.at("run_dir");
    const auto run = dir + "/full/" + row.at("run_dir");
    ASSERT_EQ(wait_exit(spawn({"analyze", run, "--max-hops", "-1", "--out", run + "/ablation.json"}, run + "/a.log")),
              0)
        << read_file(run + "/a.log");
    const auto last = read_json(run + "/ablation.json").back();
    EXPECT_EQ(last.at("epoch").get<int64_t>(), 3);
    EXPECT_NEAR(std::stod(row.at("ablation_test_acc")), last.at("ablation_test_acc").get<double>(), 1e-9)
        << row.at("run_dir");
  }
  // Every epoch's statistics of the sweep output (H(W), H(C), spectral entropy, λ_max, Σ|W|,
  // corr(|W|, D) on W as snnTorch stores it) against the reference's formulas in an independent
  // numpy script, applied to each run's weight snapshots.
  if (std::system("/usr/bin/python3 -c 'import numpy' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no numpy";
  const auto check =
      fmt::format("/usr/bin/python3 {}/tests/analysis/fixtures/reference_measures.py --sweep {}/full > {}",
                  SERNN_SOURCE_DIR, dir, dir + "/check.log 2>&1");
  EXPECT_EQ(std::system(check.c_str()), 0) << read_file(dir + "/check.log");
  EXPECT_NE(read_file(dir + "/check.log").find("16 rows of"), std::string::npos) << read_file(dir + "/check.log");
}

TEST(Sweep, EpochMeasuresCarryTheSpectrumShapeAndOlderCachesAreCompleted) {
  // Every snapshot's cached measures include Fig 5c's symmetry and share of real eigenvalues; a
  // cache written before those measures existed is completed when the sweep's results are rebuilt.
  const auto dir = sernn::testing::temp_dir("swshape");
  const std::string cfg = std::string(SERNN_SOURCE_DIR) + "/configs/rate_onechoice.toml";
  const std::vector<std::string> args{"sweep",
                                      "--config",
                                      cfg,
                                      "--out",
                                      dir + "/s",
                                      "--groups",
                                      "sernn",
                                      "--gammas",
                                      "0.05",
                                      "--set",
                                      "train.epochs=2",
                                      "--set",
                                      "task.train_size=64",
                                      "--set",
                                      "task.val_size=32",
                                      "--set",
                                      "task.test_size=32",
                                      "--set",
                                      "train.batch_size=32",
                                      "--quiet"};
  ASSERT_EQ(wait_exit(spawn(args, dir + "/1.log")), 0) << read_file(dir + "/1.log");
  const auto cache = dir + "/s/runs/sernn/gamma_0.05/seed_1/epoch_measures.json";
  auto j = nlohmann::json::parse(read_file(cache));
  ASSERT_EQ(j.size(), 3u) << j.dump();
  for (const auto& [epoch, m] : j.items()) {
    ASSERT_TRUE(m.contains("symmetry") && m["spectrum"].contains("real_share")) << epoch << ": " << m.dump();
    EXPECT_GE(m["symmetry"].get<double>(), 0.0);
    EXPECT_LE(m["symmetry"].get<double>(), 1.0);
    const double real = m["spectrum"]["real_share"].get<double>();
    EXPECT_DOUBLE_EQ(real * 100, std::round(real * 100)) << "a share of 100 eigenvalues";
  }
  const auto epochs = read_file(dir + "/s/results_epochs.csv");
  // An older cache: epoch 1 without the two measures.
  const double symmetry = j["1"]["symmetry"].get<double>();
  j["1"].erase("symmetry");
  j["1"]["spectrum"].erase("real_share");
  sernn::testing::write_text(cache, j.dump());
  ASSERT_EQ(wait_exit(spawn(args, dir + "/2.log")), 0) << read_file(dir + "/2.log");
  const auto again = nlohmann::json::parse(read_file(cache));
  EXPECT_DOUBLE_EQ(again["1"]["symmetry"].get<double>(), symmetry);
  EXPECT_TRUE(again["1"]["spectrum"].contains("real_share"));
  EXPECT_EQ(read_file(dir + "/s/results_epochs.csv"), epochs);
}
