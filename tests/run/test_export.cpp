// TorchScript export: load back in C++ (and Python where python3-torch exists) and compare with
// the engine's forward.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <torch/script.h>

#include "run/export.h"
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
