// Issue 26, same seed, same network: a CPU run gives the same bits at any thread count, an ensemble
// member gives the bits of its separate run, and a resume at another thread count goes on along
// the same trajectory. Compared bitwise: every epoch's recurrent matrix (written with float32's
// 9 significant digits, so equal text is equal bits), every tensor of the final model and of
// checkpoint.pt (model, Adam's moments, the epoch's sums), and every metric but the wall-clock
// ones.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <regex>

#include "core/io.h"
#include "core/parallel.h"
#include "core/signals.h"
#include "run/ensemble.h"
#include "run/setup.h"
#include "tasks/shd.h"
#include "run/config_of.h"
#include "test_helpers.h"

using namespace sernn;

namespace {

using sernn::testing::config_of;

/// Rate one-choice, 100 neurons (two row blocks of every blocked product), batch 80 (row blocks of
/// 32, 32 and 16), seRNN cost with the full gradient through the communicability.
Config rate_config(const std::string& group, double gamma, int seed) {
  return config_of({"regularizer.kind=" + group, fmt::format("regularizer.gamma={}", gamma),
                    fmt::format("train.seed={}", seed), "task.train_size=240", "task.val_size=80", "task.test_size=80",
                    "train.epochs=1", "train.batch_size=80", "train.grad_clip=1.0"});
}

/// A small LIF network on one-choice (dense input), batch 48 (row blocks of 32 and 16).
Config spiking_config(const std::string& group, double gamma, int seed, const std::string& reset = "subtract") {
  auto c = rate_config(group, gamma, seed);
  for (const auto& s : {"model.kind=spiking", "model.hidden=27", "model.grid=3,3,3", "train.batch_size=48",
                        "task.train_size=144", "task.val_size=48", "task.test_size=48", "train.lr=0.01"})
    c.set(s);
  c.set("model.reset=" + reset);
  return c;
}

/// The same on SHD-format data (sparse input: the compressed-row projection).
Config shd_config(const std::string& data_dir, double gamma, int seed, const std::string& reset = "subtract") {
  auto c = spiking_config("sernn", gamma, seed, reset);
  for (const auto& s : {"task.kind=shd", "task.bins=20"}) c.set(s);
  c.set("task.data_dir=" + data_dir);
  return c;
}

std::string shd_data(const std::string& dir) {
  make_dirs(dir);
  write_shd(dir + "/shd_train.h5", synth_shd({96, 1, 0.2}));
  write_shd(dir + "/shd_test.h5", synth_shd({48, 2, 0.2}));
  return dir;
}

Config with_threads(Config c, int64_t threads) {
  c.set(fmt::format("train.threads={}", threads));
  return c;
}

/// Every metric of every epoch but the wall-clock ones (and the ensemble's size).
nlohmann::json metrics(const std::string& run) {
  auto lines = read_jsonl(run + "/metrics.jsonl");
  for (auto& j : lines)
    for (const char* key : {"seconds", "samples_per_s", "ensemble_size"}) j.erase(key);
  return lines;
}

/// Every tensor of an archive, sub-archives flattened to "outer/inner" keys.
void collect(torch::serialize::InputArchive& archive, const std::string& prefix,
             std::map<std::string, torch::Tensor>& out) {
  for (const auto& key : archive.keys()) {
    torch::Tensor t;
    torch::serialize::InputArchive sub;
    if (archive.try_read(key, t)) out[prefix + key] = t;
    else if (archive.try_read(key, sub)) collect(sub, prefix + key + "/", out);
  }
}

std::map<std::string, torch::Tensor> archive_tensors(const std::string& path) {
  torch::serialize::InputArchive archive;
  archive.load_from(path);
  std::map<std::string, torch::Tensor> out;
  collect(archive, "", out);
  return out;
}

/// The key with LibTorch's optimiser-state names (a parameter's address: "0x55d0..." in torch 1.13,
/// decimal "93980668374368" in 2.x) made "*".
std::string canonical(const std::string& key) {
  static const std::regex address("0x[0-9a-f]+|\\b[0-9]{9,}\\b");
  return std::regex_replace(key, address, "*");
}

/// a and b hold the same tensors, bit for bit (but for `skip`). Adam's state is keyed by the
/// parameters' addresses, which differ between processes and runs: under one canonical key every
/// tensor of a must equal a distinct tensor of b.
void expect_same_tensors(const std::map<std::string, torch::Tensor>& a, const std::map<std::string, torch::Tensor>& b,
                         const std::string& what, const std::string& skip = "seconds") {
  ASSERT_EQ(a.size(), b.size()) << what;
  ASSERT_GT(a.size(), 3u) << what;
  std::map<std::string, std::vector<torch::Tensor>> unmatched;
  for (const auto& [key, t] : b)
    if (key != skip) unmatched[canonical(key)].push_back(t);
  for (const auto& [key, t] : a) {
    if (key == skip) continue;
    auto& pool = unmatched[canonical(key)];
    const auto same = std::find_if(pool.begin(), pool.end(), [&](const torch::Tensor& u) {
      return u.sizes() == t.sizes() && u.scalar_type() == t.scalar_type() && torch::equal(u, t);
    });
    EXPECT_TRUE(same != pool.end()) << what << ": " << key;
    if (same != pool.end()) pool.erase(same);
  }
}

/// Runs a and b trained the same network: snapshots, final model and metrics, bit for bit.
void expect_same_run(const std::string& a, const std::string& b, int epochs, const std::string& what) {
  for (int e = 0; e <= epochs; ++e) {
    const auto f = fmt::format("/weights/epoch_{:03d}.csv", e);
    EXPECT_EQ(read_file(a + f), read_file(b + f)) << what << ": " << f;
  }
  const auto model = fmt::format("/models/epoch_{:03d}.pt", epochs);
  expect_same_tensors(archive_tensors(a + model), archive_tensors(b + model), what + model);
  EXPECT_EQ(metrics(a), metrics(b)) << what;
}

/// Trains `config` at 1, 2 and 3 threads; all three are the same run, checkpoints included.
void expect_thread_independent(const Config& config, const std::string& dir, const std::string& what) {
  for (int64_t threads : {1, 2, 3})
    train_run(with_threads(config, threads), fmt::format("{}/t{}", dir, threads), false, true);
  const auto one = dir + "/t1";
  for (int64_t threads : {2, 3}) {
    const auto run = fmt::format("{}/t{}", dir, threads);
    expect_same_run(one, run, 1, fmt::format("{}, {} threads", what, threads));
    expect_same_tensors(archive_tensors(one + "/checkpoint.pt"), archive_tensors(run + "/checkpoint.pt"),
                        fmt::format("{}, {} threads: checkpoint.pt", what, threads));
  }
}

struct PoolSize {  // the tests change the pool; the others expect it as it was
  int64_t before = parallel_threads();
  ~PoolSize() { set_parallel_threads(before); }
};

}  // namespace

TEST(Reproducible, RateRunIsTheSameBitsAtOneTwoAndThreeThreads) {
  PoolSize restore;
  const auto dir = sernn::testing::temp_dir("rate");
  expect_thread_independent(rate_config("sernn", 0.05, 3), dir + "/sernn", "rate seRNN");
  // Per-neuron time constants and training noise: the other leak and the noise path.
  auto c = rate_config("l1", 0.01, 4);
  for (const auto& s : {"model.learn_tau=true", "model.noise=0.05", "model.activation=tanh"}) c.set(s);
  expect_thread_independent(c, dir + "/tau", "rate, learnable tau, noise, tanh");
}

TEST(Reproducible, SpikingRunsAreTheSameBitsAtAnyThreadCountForEveryResetDenseAndSparse) {
  PoolSize restore;
  const auto dir = sernn::testing::temp_dir("spk");
  const auto data = shd_data(dir + "/shd");
  for (const std::string reset : {"subtract", "zero", "subtract_decayed", "none", "zero_immediate"}) {
    expect_thread_independent(spiking_config("sernn", 0.05, 5, reset), dir + "/dense_" + reset, "dense " + reset);
    expect_thread_independent(shd_config(data, 0.05, 6, reset), dir + "/sparse_" + reset, "SHD " + reset);
  }
}

TEST(Reproducible, EnsembleMembersAreTheirSeparateRunsBitwiseAtAnyThreadCount) {
  // K = 4 rate and K = 4 spiking members (different penalties, γ and seeds; the spiking ones on
  // SHD data, three sharing one seed's batches): each member at 1, 2 and 3 threads is its
  // separate run at 1 thread, bit for bit.
  PoolSize restore;
  const auto dir = sernn::testing::temp_dir("ens");
  const auto data = shd_data(dir + "/shd");
  const std::vector<std::pair<std::string, std::vector<Config>>> groups{
      {"rate",
       {rate_config("none", 0.0, 1), rate_config("l1", 0.001, 2), rate_config("space", 0.01, 3),
        rate_config("sernn", 0.05, 4)}},
      {"spiking",
       {spiking_config("none", 0.0, 1), spiking_config("l1", 0.001, 2), spiking_config("space", 0.01, 3),
        spiking_config("sernn", 0.05, 4)}},
      {"shd",
       {shd_config(data, 0.0, 1), shd_config(data, 0.05, 1), shd_config(data, 0.2, 1), shd_config(data, 0.05, 2)}},
  };
  for (const auto& [name, configs] : groups) {
    std::vector<std::string> sep;
    for (size_t k = 0; k < configs.size(); ++k) {
      sep.push_back(fmt::format("{}/{}/sep{}", dir, name, k));
      train_run(with_threads(configs[k], 1), sep.back(), false, true);
    }
    for (int64_t threads : {1, 2, 3}) {
      std::vector<Config> cs;
      std::vector<std::string> ens;
      for (size_t k = 0; k < configs.size(); ++k) {
        cs.push_back(with_threads(configs[k], threads));
        ens.push_back(fmt::format("{}/{}/t{}_ens{}", dir, name, threads, k));
      }
      train_ensemble(cs, ens, fmt::format("{}/{}/t{}_ensemble", dir, name, threads), false, true);
      for (size_t k = 0; k < configs.size(); ++k)
        expect_same_run(sep[k], ens[k], 1, fmt::format("{} member {} at {} threads", name, k, threads));
    }
  }
}

TEST(Reproducible, AResumeAtAnotherThreadCountContinuesTheSameTrajectory) {
  PoolSize restore;
  const auto dir = sernn::testing::temp_dir("resume");
  const auto data = shd_data(dir + "/shd");
  for (const auto& [name, base] : std::vector<std::pair<std::string, Config>>{{"rate", rate_config("sernn", 0.05, 7)},
                                                                              {"shd", shd_config(data, 0.05, 8)}}) {
    auto two = base;
    two.set("train.epochs=2");
    train_run(with_threads(two, 1), dir + "/" + name + "_straight", false, true);
    // Epoch 1 at 2 threads, epoch 2 resumed at 3.
    train_run(with_threads(base, 2), dir + "/" + name + "_split", false, true);
    train_run(with_threads(two, 3), dir + "/" + name + "_split", true, true);
    expect_same_run(dir + "/" + name + "_straight", dir + "/" + name + "_split", 2, name + " resumed");
    // A stop inside epoch 1 at 3 threads (mid-epoch checkpoint), resumed at 2.
    auto cut = with_threads(two, 3);
    cut.set("train.stop_after_batch=2");
    EXPECT_THROW(train_run(cut, dir + "/" + name + "_cut", false, true), Interrupted);
    clear_stop();
    train_run(with_threads(two, 2), dir + "/" + name + "_cut", true, true);
    expect_same_run(dir + "/" + name + "_straight", dir + "/" + name + "_cut", 2, name + " stopped and resumed");
  }
}

TEST(Reproducible, SparseShdBatchesTrainWhatTheDenseBatchesTrained) {
  // Issue 25: SHD batches made from the events as sparse tensors (task.sparse, the default) train
  // the network the dense [T, B, 700] batches trained, bit for bit: a spiking run, a spiking
  // ensemble (members sharing one seed's batches), and a rate network, for which the Trainer makes
  // the batches dense (it has no sparse input path).
  PoolSize restore;
  const auto dir = sernn::testing::temp_dir("sparse");
  const auto data = shd_data(dir + "/shd");
  auto dense = [](Config c) {
    c.set("task.sparse=false");
    return c;
  };
  const auto spiking = with_threads(shd_config(data, 0.05, 3), 2);
  train_run(spiking, dir + "/spk_sparse", false, true);
  train_run(dense(spiking), dir + "/spk_dense", false, true);
  expect_same_run(dir + "/spk_sparse", dir + "/spk_dense", 1, "spiking");
  auto rate = spiking;
  for (const auto& s : {"model.kind=rate", "model.hidden=27", "regularizer.kind=l1"}) rate.set(s);
  train_run(rate, dir + "/rate_sparse", false, true);
  train_run(dense(rate), dir + "/rate_dense", false, true);
  expect_same_run(dir + "/rate_sparse", dir + "/rate_dense", 1, "rate on SHD");
  const std::vector<Config> members{shd_config(data, 0.0, 4), shd_config(data, 0.1, 4), shd_config(data, 0.1, 5)};
  std::vector<Config> dense_members;
  for (const auto& c : members) dense_members.push_back(dense(c));
  const auto a = fmt::format("{}/ens_sparse", dir), b = fmt::format("{}/ens_dense", dir);
  const std::vector<std::string> sa{a + "0", a + "1", a + "2"}, sb{b + "0", b + "1", b + "2"};
  train_ensemble(members, sa, a, false, true);
  train_ensemble(dense_members, sb, b, false, true);
  for (size_t k = 0; k < members.size(); ++k) expect_same_run(sa[k], sb[k], 1, fmt::format("member {}", k));
}
