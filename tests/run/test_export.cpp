// TorchScript export: load back in C++ (and Python where python3-torch exists) and compare with
// the engine's forward.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <torch/script.h>

#include "run/export.h"
#include "run/registry.h"
#include "run/setup.h"
#include "core/errors.h"
#include "core/io.h"
#include "models/rate_rnn.h"
#include "models/spiking_rnn.h"
#include "tasks/shd.h"
#include "test_helpers.h"

using namespace sernn;

namespace {
std::string train_tiny(const std::string& kind, const std::string& dir) {
  Config c;
  if (kind == "spiking") {
    const auto data = dir + "/data";
    make_dirs(data);
    write_shd(data + "/shd_train.h5", synth_shd({64, 1, 0.2}));
    write_shd(data + "/shd_test.h5", synth_shd({16, 2, 0.2}));
    c.set("model.kind=spiking");
    c.set("task.kind=shd");
    c.set("task.data_dir=" + data);
    c.set("task.bins=20");
    c.set("model.reset=subtract_decayed");
    c.set("regularizer.kind=sernn");
    c.set("regularizer.gamma=0.01");
  } else {
    c.set("task.train_size=128");
    c.set("task.val_size=32");
    c.set("task.test_size=32");
  }
  c.set("model.hidden=27");
  c.set("model.grid=3,3,3");
  c.set("train.epochs=2");
  c.set("train.batch_size=32");
  c.set("train.threads=1");
  const auto run = dir + "/run";
  train_run(c, run, false, true);
  return run;
}

void write_pickle(const std::string& path, const torch::Tensor& t) {
  const auto bytes = torch::pickle_save(t);
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

bool python_torch() { return std::system("/usr/bin/python3 -c 'import torch' > /dev/null 2>&1") == 0; }
}  // namespace

class Export : public ::testing::TestWithParam<std::string> {};

TEST_P(Export, LoadedModuleEqualsEngineForward) {
  const auto dir = sernn::testing::temp_dir("exp");
  const auto run = train_tiny(GetParam(), dir);
  const auto path = dir + "/model.pt";
  const double diff = export_run(run, path, -1);
  EXPECT_LT(diff, 1e-5);

  auto loaded = load_run(run);
  EXPECT_EQ(loaded.epoch, 2);
  auto m = torch::jit::load(path);
  // Contract: parameter names, attributes.
  std::set<std::string> names;
  for (const auto& p : m.named_parameters()) names.insert(p.name);
  const bool spiking = GetParam() == "spiking";
  for (const char* n : {"input.weight", "recurrent.weight", "recurrent.bias", "readout.weight", "readout.bias"})
    EXPECT_TRUE(names.count(n)) << n;
  if (spiking) {
    EXPECT_TRUE(names.count("input.bias"));
    EXPECT_TRUE(names.count("beta"));
    bool has_readout_beta = false;
    for (const auto& b : m.named_buffers()) has_readout_beta |= b.name == "readout_beta";
    EXPECT_TRUE(has_readout_beta);
  }
  EXPECT_EQ(nlohmann::json::parse(m.attr("config_json").toStringRef())["model"]["kind"], GetParam());
  EXPECT_EQ(m.attr("coords").toTensor().sizes(), (std::vector<int64_t>{27, 3}));
  // The weights are the trained ones (epoch 2), not the initial ones.
  EXPECT_TRUE(torch::equal(m.attr("recurrent").toModule().attr("weight").toTensor(),
                           loaded.network->recurrent_weight().detach()));

  // Fresh batch; compare with the engine.
  torch::manual_seed(77);
  const int64_t T = 30, B = 3;
  auto x = spiking ? (torch::rand({T, B, 700}) < 0.1).to(torch::kFloat32) : torch::rand({T, B, 8});
  torch::NoGradGuard g;
  auto out = m.forward({x}).toTuple();
  torch::Tensor e0, e1;
  if (spiking) {
    auto tr = dynamic_cast<SpikingRNNImpl&>(*loaded.network).simulate(x);
    e0 = tr.spikes, e1 = tr.readout_mem;
    EXPECT_EQ(out->elements()[1].toTensor().sizes(), (std::vector<int64_t>{T, B, 20}));
  } else {
    auto& r = dynamic_cast<RateRNNImpl&>(*loaded.network);
    e0 = r.hidden_states(x);
    e1 = r.readout->forward(e0[-1]);
    EXPECT_EQ(out->elements()[1].toTensor().sizes(), (std::vector<int64_t>{B, 4}));
  }
  EXPECT_LT((out->elements()[0].toTensor() - e0).abs().max().item<double>(), 1e-5);
  EXPECT_LT((out->elements()[1].toTensor() - e1).abs().max().item<double>(), 1e-5);

  if (!python_torch()) GTEST_SKIP() << "python3-torch not installed; C++ side checked";
  write_pickle(dir + "/x.pt", x);
  write_pickle(dir + "/y0.pt", e0);
  write_pickle(dir + "/y1.pt", e1);
  const std::string py =
      "/usr/bin/python3 -c '\n"
      "import torch, json\n"
      "d = \"" +
      dir +
      "\"\n"
      "m = torch.jit.load(d + \"/model.pt\")\n"
      "x, y0, y1 = (torch.load(d + f) for f in (\"/x.pt\", \"/y0.pt\", \"/y1.pt\"))\n"
      "a, b = m(x)\n"
      "assert torch.allclose(a, y0, atol=1e-5) and torch.allclose(b, y1, atol=1e-5)\n"
      "assert json.loads(m.config_json)[\"model\"][\"hidden\"] == 27\n"
      "assert \"recurrent.weight\" in dict(m.named_parameters())\n'";
  EXPECT_EQ(std::system(py.c_str()), 0) << py;
}

INSTANTIATE_TEST_SUITE_P(Kinds, Export, ::testing::Values("spiking", "rate"));

TEST(ExportErrors, MissingRunOrEpochIsInputError) {
  EXPECT_THROW(export_run("/nonexistent/run", "/tmp/x.pt", -1), InputError);
  const auto dir = sernn::testing::temp_dir("exp_err");
  const auto run = train_tiny("rate", dir);
  try {
    export_run(run, dir + "/m.pt", 9);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("epoch_009.pt"), std::string::npos) << e.what();
  }
}

namespace {
/// A spiking network of `inputs` inputs, 6 neurons and 3 classes whose input weights make it fire.
SpikingRNN firing_network(ResetMode reset, int64_t inputs = 40) {
  torch::manual_seed(5);
  SpikingRNN net(SpikingRNNOptions(inputs, 6, 3).reset(reset));
  torch::NoGradGuard g;
  net->input->weight.mul_(8.0);
  return net;
}

torch::jit::Module scripted(SpikingRNN& net) { return find_model("spiking").script(*net); }

torch::Tensor spiky_batch(int64_t inputs = 40) {
  torch::manual_seed(6);
  return (torch::rand({40, 4, inputs}) < 0.2).to(torch::kFloat32);
}
}  // namespace

TEST(ExportVerification, AMembraneAtRoundingDistanceFromTheThresholdIsNotRefused) {
  // Issue 37: a correct export was deleted because a spike flipped at the threshold. Here the
  // engine's sparse projection adds the two inputs' 2^-24 to the bias 1 one at a time (each
  // rounds away in float32: v = 1, no spike at threshold 1) while TorchScript sums the products
  // first (v = 1 + 2^-23, a spike): both correct, a spike apart in float32, equal in float64.
  SpikingRNN net(SpikingRNNOptions(16, 1, 1).threshold(1.0));
  {
    torch::NoGradGuard g;
    net->input->weight.zero_();
    net->input->weight.index_put_({0, 0}, std::ldexp(1.0, -24));
    net->input->weight.index_put_({0, 1}, std::ldexp(1.0, -24));
    net->input->bias.fill_(1.0);
    net->recurrent->bias.zero_();
    net->recurrent->weight.zero_();
  }
  auto x = torch::zeros({1, 1, 16});
  x.index_put_({0, 0, 0}, 1.0f);
  x.index_put_({0, 0, 1}, 1.0f);
  auto module = scripted(net);
  torch::NoGradGuard g;
  const auto engine32 = net->simulate(x).spikes, script32 = module.forward({x}).toTuple()->elements()[0].toTensor();
  ASSERT_EQ(engine32.item<float>(), 0.0f) << "float32 engine: 1 + 2^-24 + 2^-24 rounds to the threshold";
  ASSERT_EQ(script32.item<float>(), 1.0f) << "float32 TorchScript: 1 + 2^-23 spikes";
  EXPECT_EQ(verify_export(*net, "spiking", module, 16, x), 0.0) << "float64: both spike";
}

TEST(ExportVerification, BrokenExportsAreRefused) {
  // A wrong export must still fail: another weight, another reset rule, a missing bias.
  const auto x = spiky_batch();
  {
    auto net = firing_network(ResetMode::Subtract);
    EXPECT_LT(verify_export(*net, "spiking", scripted(net), 40, x), 1e-12) << "the correct export";
  }
  {
    auto net = firing_network(ResetMode::Subtract);
    auto module = scripted(net);
    torch::NoGradGuard g;
    module.attr("recurrent").toModule().attr("weight").toTensor().add_(0.01);
    EXPECT_THROW(verify_export(*net, "spiking", module, 40, x), std::runtime_error) << "a changed weight";
  }
  {
    auto net = firing_network(ResetMode::Subtract), zero = firing_network(ResetMode::Zero);
    EXPECT_THROW(verify_export(*net, "spiking", scripted(zero), 40, x), std::runtime_error) << "another reset rule";
  }
  {
    auto net = firing_network(ResetMode::Subtract);
    auto module = scripted(net);
    torch::NoGradGuard g;
    module.attr("input").toModule().attr("bias").toTensor().zero_();
    EXPECT_THROW(verify_export(*net, "spiking", module, 40, x), std::runtime_error) << "a missing bias";
  }
  auto net = firing_network(ResetMode::Subtract);
  EXPECT_GT(net->simulate(x).spikes.sum().item<double>(), 10.0) << "the batch makes the network fire";
}
