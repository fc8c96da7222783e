// The registry (run/registry.h): one list of models, tasks and penalties whose names, keys and
// factories the config, the CLI and the export all take from there.
#include <set>

#include <gtest/gtest.h>
#include <torch/script.h>

#include "core/errors.h"
#include "models/lif_math.h"
#include "run/config.h"
#include "run/registry.h"
#include "run/setup.h"

using namespace sernn;

namespace {

std::vector<std::string> choices(const std::string& key) { return find_config_key(key)->choices; }

}  // namespace

TEST(Registry, KindKeysOfferExactlyTheRegisteredNames) {
  EXPECT_EQ(choices("model.kind"), (std::vector<std::string>{"rate", "spiking"}));
  EXPECT_EQ(choices("task.kind"), (std::vector<std::string>{"onechoice", "delayed_match", "hierarchical", "shd"}));
  EXPECT_EQ(choices("regularizer.kind"), entry_names(penalty_registry()));
  EXPECT_EQ(entry_names(penalty_registry()),
            (std::vector<std::string>{"none", "l1", "space", "comm", "sernn", "resolvent"}));
}

TEST(Registry, EveryEntryKeyIsInTheSchemaOnce) {
  std::set<std::string> names;
  for (const auto& k : config_schema()) EXPECT_TRUE(names.insert(k.name).second) << "twice: " << k.name;
  auto in_schema = [&](const std::vector<ConfigKey>& keys) {
    for (const auto& k : keys) EXPECT_TRUE(names.count(k.name)) << k.name;
  };
  for (const auto& m : model_registry()) in_schema(m.keys);
  for (const auto& t : task_registry()) in_schema(t.keys);
  for (const auto& p : penalty_registry()) in_schema(p.keys);
  EXPECT_EQ(find_config_key("regularizer.resolvent_alpha")->default_value.get<double>(), 0.5);
}

TEST(Registry, UnknownNamesListTheKnownOnes) {
  try {
    find_penalty("serrn");
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("regularizer.kind"), std::string::npos) << msg;
    EXPECT_NE(msg.find("serrn"), std::string::npos) << msg;
    EXPECT_NE(msg.find("none, l1, space, comm, sernn, resolvent"), std::string::npos) << msg;
  }
  EXPECT_THROW(find_model("lstm"), InputError);
  EXPECT_THROW(find_task("mnist", "--task"), InputError);
}

TEST(Registry, TaskShapesMatchTheTasksTheyBuild) {
  for (const auto& entry : task_registry()) {
    if (entry.name == "shd") continue;  // needs data files; its shape is checked in tests/tasks
    Config c;
    c.set("task.kind=" + entry.name);
    c.set("task.train_size=16");
    c.set("task.val_size=8");
    c.set("task.test_size=8");
    const auto shape = entry.shape(c);
    const auto task = entry.make(c);
    EXPECT_EQ(shape.inputs, task->input_size()) << entry.name;
    EXPECT_EQ(shape.classes, task->num_classes()) << entry.name;
    EXPECT_EQ(shape.samples_in_memory, 32) << entry.name;
    Batch b;
    ASSERT_TRUE(task->stream(Split::Test, 1, 4, 1, torch::kCPU)->next(b)) << entry.name;
    EXPECT_EQ(b.inputs.size(0), shape.steps) << entry.name;
  }
}

TEST(Registry, EveryModelsExportRunsItsForward) {
  // Each entry's TorchScript forward against its engine outputs, on a fresh network.
  for (const auto& entry : model_registry()) {
    Config c;
    c.set("model.kind=" + entry.name);
    c.set("model.hidden=27");
    c.set("model.grid=3,3,3");
    auto net = make_network(c, 5, 3);
    net->train(false);
    torch::NoGradGuard g;
    torch::manual_seed(3);
    const auto x = entry.example_input(12, 2, 5);
    auto module = entry.script(*net);
    auto out = module.forward({x}).toTuple();
    const auto [a, b] = entry.outputs(*net, x);
    EXPECT_TRUE(torch::allclose(out->elements()[0].toTensor(), a, 1e-5, 1e-5)) << entry.name;
    EXPECT_TRUE(torch::allclose(out->elements()[1].toTensor(), b, 1e-5, 1e-5)) << entry.name;
  }
}

TEST(LifResetRule, TorchScriptTextComputesTheSameAsTheCppRule) {
  // The exported model's reset rule is the text of the same X-macro the C++ step expands: run
  // the text as TorchScript and compare with membrane_update on tensors and on scalars.
  torch::manual_seed(5);
  const auto beta = torch::rand({6}, torch::kFloat64), v = torch::randn({4, 6}, torch::kFloat64) * 2,
             c = torch::randn({4, 6}, torch::kFloat64);
  const double thr = 0.7;
  const auto r = v.gt(thr).to(torch::kFloat64);
  for (auto mode :
       {ResetMode::Subtract, ResetMode::SubtractDecayed, ResetMode::Zero, ResetMode::None, ResetMode::ZeroImmediate}) {
    auto cu = torch::jit::compile(std::string("def f(beta, v, c, r, thr: float):\n    return ") +
                                  lif::membrane_rule_text(mode) + "\n");
    const auto script = cu->run_method("f", beta, v, c, r, thr).toTensor();
    const auto tensors = lif::membrane_update(beta, v, c, r, thr, mode);
    EXPECT_TRUE(torch::equal(script, tensors)) << lif::membrane_rule_text(mode);
    const double b0 = beta[1].item<double>(), v0 = v[2][1].item<double>(), c0 = c[2][1].item<double>();
    const double scalar = lif::membrane(b0, v0, c0, thr, mode);
    EXPECT_DOUBLE_EQ(scalar, tensors[2][1].item<double>()) << lif::membrane_rule_text(mode);
  }
  EXPECT_STREQ(lif::membrane_rule_text(ResetMode::Subtract), "beta * v + c - r * thr");
}
