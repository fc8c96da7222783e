// An ensemble of K rate networks trains exactly like K separate runs.
#include <gtest/gtest.h>

#include "app/ensemble.h"
#include "run/setup.h"
#include "core/errors.h"
#include "core/io.h"
#include "models/rate_ensemble.h"
#include "test_helpers.h"

using namespace sernn;

namespace {
Config member(const std::string& group, double gamma, int seed) {
  Config c;
  c.set("regularizer.kind=" + group);
  c.set(fmt::format("regularizer.gamma={}", gamma));
  c.set(fmt::format("train.seed={}", seed));
  c.set("task.train_size=256");
  c.set("task.val_size=64");
  c.set("task.test_size=64");
  c.set("train.epochs=2");
  c.set("train.batch_size=32");
  c.set("train.grad_clip=1.0");
  c.set("train.threads=1");
  return c;
}
}  // namespace

TEST(Ensemble, ForwardEqualsMembers) {
  torch::manual_seed(0);
  std::vector<RateRNN> ms;
  for (int k = 0; k < 3; ++k) ms.emplace_back(RateRNNOptions(8, 20, 4));
  RateEnsemble e(ms);
  auto x = torch::rand({3, 10, 5, 8});
  auto logits = e->forward(x);
  for (int k = 0; k < 3; ++k) {
    auto ref = ms[k]->run(x[k], false).logits;
    EXPECT_LT((logits[k] - ref).abs().max().item<double>(), 1e-5);
  }
}

TEST(Ensemble, FourNetworksEqualFourSeparateRunsAfterTraining) {
  const auto dir = sernn::testing::temp_dir("ens");
  const std::vector<Config> configs{member("none", 0.0, 1), member("l1", 0.001, 2), member("space", 0.01, 3),
                                    member("sernn", 0.05, 4)};
  std::vector<std::string> ens_dirs, sep_dirs;
  for (int k = 0; k < 4; ++k) {
    ens_dirs.push_back(fmt::format("{}/ens{}", dir, k));
    sep_dirs.push_back(fmt::format("{}/sep{}", dir, k));
    train_run(configs[k], sep_dirs[k], false, true);
  }
  auto last = train_rate_ensemble(configs, ens_dirs, true);
  for (int k = 0; k < 4; ++k) {
    for (int e : {1, 2}) {
      const auto f = fmt::format("/weights/epoch_{:03d}.csv", e);
      auto a = read_matrix_csv(ens_dirs[k] + f), b = read_matrix_csv(sep_dirs[k] + f);
      EXPECT_LT((a - b).abs().max().item<double>(), 1e-5) << "member " << k << " epoch " << e;
    }
    EXPECT_NE(read_file(ens_dirs[k] + "/weights/epoch_002.csv"), read_file(ens_dirs[(k + 1) % 4] + "/weights/epoch_002.csv"));
    EXPECT_EQ(nlohmann::json::parse(read_file(ens_dirs[k] + "/status.json"))["status"], "finished");
    // Same accuracy as the separate run (the weights agree to 1e-5).
    auto sep_lines = read_file(sep_dirs[k] + "/metrics.jsonl");
    auto sep_last = nlohmann::json::parse(sep_lines.substr(sep_lines.rfind('\n', sep_lines.size() - 2) + 1));
    EXPECT_NEAR(last[k]["test_acc"].get<double>(), sep_last["test_acc"].get<double>(), 1e-9) << "member " << k;
  }
}

TEST(Ensemble, MembersMustShareArchitecture) {
  auto a = member("l1", 0.01, 1), b = member("l1", 0.01, 2);
  b.set("model.hidden=27");
  b.set("model.grid=3,3,3");
  const auto dir = sernn::testing::temp_dir("bad");
  EXPECT_THROW(train_rate_ensemble({a, b}, {dir + "/a", dir + "/b"}, true), InputError);
}

TEST(Ensemble, RefusesWhatItDoesNotImplementInsteadOfIgnoringIt) {
  // Batched ensembles have no activity cost, pruning, Dale's law or per-neuron tau: a member
  // asking for one must be refused, not trained without it.
  const auto dir = sernn::testing::temp_dir("refuse");
  for (const char* key : {"activity.gamma=0.1", "prune.final_sparsity=0.5", "model.dale=true", "model.learn_tau=true"}) {
    auto a = member("l1", 0.01, 1), b = member("l1", 0.01, 2);
    a.set(key);
    b.set(key);
    if (std::string(key).rfind("activity", 0) == 0) a.set("activity.kind=l2"), b.set("activity.kind=l2");
    EXPECT_THROW(train_rate_ensemble({a, b}, {dir + "/a", dir + "/b"}, true), InputError) << key;
  }
}
