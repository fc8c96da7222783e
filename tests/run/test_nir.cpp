// Issue 37: spiking runs as NIR graphs (run/nir.h): sernn -> NIR -> sernn bit for bit, the
// import as a run directory that trains on, the export's own verification, and malformed files as
// input errors naming the file and the node. The nir package's side: tests/python/test_nir.py.
#include <gtest/gtest.h>

#include <hdf5.h>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "run/nir.h"
#include "run/setup.h"
#include "tasks/hdf5_handle.h"
#include "tasks/shd.h"
#include "test_helpers.h"

using namespace sernn;

namespace {

/// A spiking run trained for one epoch on synthetic SHD (`reset` its reset rule).
std::string trained_run(const std::string& dir, const std::string& reset = "subtract") {
  const auto data = dir + "/data";
  if (!file_exists(data + "/shd_train.h5")) {
    make_dirs(data);
    write_shd(data + "/shd_train.h5", synth_shd({64, 1, 0.2}));
    write_shd(data + "/shd_test.h5", synth_shd({16, 2, 0.2}));
  }
  Config c;
  for (const auto& s :
       {"model.kind=spiking", "task.kind=shd", "task.bins=20", "model.hidden=27", "model.grid=3,3,3",
        "regularizer.kind=sernn", "regularizer.gamma=0.01", "train.epochs=1", "train.batch_size=32", "train.threads=1"})
    c.set(s);
  c.set("task.data_dir=" + data);
  c.set("model.reset=" + reset);
  const auto run = dir + "/run_" + reset;
  train_run(c, run, false, true);
  return run;
}

/// Overwrites dataset `name` of a NIR file with `values` (float64).
void overwrite(const std::string& path, const std::string& name, const std::vector<double>& values) {
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  Hid ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  ASSERT_TRUE(ds.ok()) << name;
  ASSERT_GE(H5Dwrite(ds, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), 0) << name;
}

void remove_link(const std::string& path, const std::string& name) {
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose);
  ASSERT_GE(H5Ldelete(file, name.c_str(), H5P_DEFAULT), 0) << name;
}

std::string input_error(const std::string& path) {
  try {
    read_nir(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(read)";
}

}  // namespace

TEST(Nir, ARunRoundTripsThroughNirBitForBit) {
  const auto dir = sernn::testing::temp_dir("nir_round");
  const auto run = trained_run(dir);
  const auto path = dir + "/model.nir";
  EXPECT_EQ(export_run_nir(run, path, -1), 0.0) << "read back, the network is the engine's to the bit";
  const auto loaded = load_run(run);
  const auto g = read_nir(path);
  EXPECT_EQ(g.reset, "subtract");
  EXPECT_EQ(g.epoch, 1);
  EXPECT_TRUE(torch::equal(g.coords, loaded.coords));
  auto back = make_network(loaded.config, kShdUnits, kShdClasses);
  load_nir(dynamic_cast<SpikingRNNImpl&>(*back), g);
  auto original = loaded.network->named_parameters();
  for (const auto& p : back->named_parameters())
    EXPECT_TRUE(torch::equal(p.value(), original[p.key()])) << p.key() << " (β from τ = dt / (1 - β) and back)";
  auto buffers = loaded.network->named_buffers();
  for (const auto& b : back->named_buffers()) EXPECT_TRUE(torch::equal(b.value(), buffers[b.key()])) << b.key();
  torch::manual_seed(3);
  const auto x = (torch::rand({30, 4, kShdUnits}) < 0.1).to(torch::kFloat32);
  torch::NoGradGuard no_grad;
  const auto a = dynamic_cast<SpikingRNNImpl&>(*loaded.network).simulate(x);
  const auto b = dynamic_cast<SpikingRNNImpl&>(*back).simulate(x);
  EXPECT_TRUE(torch::equal(a.spikes, b.spikes));
  EXPECT_TRUE(torch::equal(a.readout_mem, b.readout_mem));
  EXPECT_GT(a.spikes.sum().item<double>(), 0.0);
  // NIR -> NIR: the graph written again from what was read is the same graph.
  const auto again = dir + "/again.nir";
  write_nir(again, g);
  const auto h = read_nir(again);
  for (const auto& [u, v] : {std::pair{g.input_weight, h.input_weight},
                             {g.input_bias, h.input_bias},
                             {g.recurrent_weight, h.recurrent_weight},
                             {g.tau, h.tau},
                             {g.readout_tau, h.readout_tau},
                             {g.readout_weight, h.readout_weight},
                             {g.readout_bias, h.readout_bias}})
    EXPECT_TRUE(torch::equal(u, v));
}

TEST(Nir, AReadoutWrittenAsALifThatNeverFiresReadsBackAsTheReadout) {
  // --nir-readout lif (for snnTorch's import_from_nir, which has no LI): the same network back.
  const auto dir = sernn::testing::temp_dir("nir_lif_readout");
  const auto run = trained_run(dir, "zero_immediate");
  const auto path = dir + "/model.nir";
  EXPECT_EQ(export_run_nir(run, path, -1, /*lif_readout=*/true), 0.0);
  const auto g = read_nir(path);
  EXPECT_TRUE(g.lif_readout);
  EXPECT_EQ(g.reset, "zero_immediate");
  export_run_nir(run, dir + "/li.nir", -1);
  const auto li = read_nir(dir + "/li.nir");
  EXPECT_FALSE(li.lif_readout);
  EXPECT_TRUE(torch::equal(li.readout_tau, g.readout_tau));
  EXPECT_TRUE(torch::equal(li.readout_weight, g.readout_weight));
  EXPECT_THROW(export_run_as("nir", run, dir + "/x.nir", -1, "spiking"), InputError);
  EXPECT_THROW(export_run_as("torchscript", run, dir + "/x.pt", -1, "lif"), InputError);
}

TEST(Nir, AnImportedGraphIsARunThatAnalysesAndTrainsOn) {
  const auto dir = sernn::testing::temp_dir("nir_import");
  const auto run = trained_run(dir, "zero");
  const auto path = dir + "/model.nir";
  export_run_nir(run, path, -1);
  const auto imported = dir + "/imported";
  import_nir(path, imported, "");
  const auto a = load_run(run), b = load_run(imported);
  EXPECT_EQ(b.epoch, 0);
  EXPECT_EQ(b.config.get_string("model.reset"), "zero");
  EXPECT_TRUE(torch::equal(a.network->recurrent_weight(), b.network->recurrent_weight()));
  EXPECT_TRUE(torch::equal(a.coords, b.coords));
  // A foreign file without coordinates needs --coords.
  auto g = read_nir(path);
  g.coords = torch::Tensor();
  g.config.clear();
  const auto bare = dir + "/bare.nir";
  write_nir(bare, g);
  try {
    import_nir(bare, dir + "/nocoords", "");
    FAIL() << "imported without coordinates";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--coords"), std::string::npos) << e.what();
  }
  make_dirs(dir + "/c");
  RunDir(dir + "/c").write_coords(a.coords);
  import_nir(bare, dir + "/withcoords", dir + "/c/coords.csv");
  const auto c = load_run(dir + "/withcoords");
  EXPECT_EQ(c.config.get_int("model.hidden"), 27);
  EXPECT_TRUE(torch::equal(c.network->recurrent_weight(), a.network->recurrent_weight()));
  // Training goes on from the imported weights (the checkpoint at epoch 0).
  auto config = b.config;
  config.set("train.epochs=1");
  train_run(config, imported, /*resume=*/true, true);
  const auto trained = load_run(imported);
  EXPECT_EQ(trained.epoch, 1);
  EXPECT_FALSE(torch::equal(trained.network->recurrent_weight(), b.network->recurrent_weight()));
}

TEST(Nir, MalformedFilesAreInputErrorsNamingFileAndNode) {
  const auto dir = sernn::testing::temp_dir("nir_bad");
  const auto run = trained_run(dir);
  const auto good = dir + "/good.nir";
  export_run_nir(run, good, -1);
  const auto copy = [&](const std::string& name) {
    const auto p = dir + "/" + name + ".nir";
    atomic_write_text(p, read_file(good));
    return p;
  };
  auto p = copy("thresholds");
  std::vector<double> thr(27, 1.0);
  thr[5] = 2.0;
  overwrite(p, "node/nodes/rlif/nodes/lif/v_threshold", thr);
  auto msg = input_error(p);
  EXPECT_NE(msg.find(p + ": node 'lif': v_threshold differs"), std::string::npos) << msg;
  p = copy("leak");
  overwrite(p, "node/nodes/rlif/nodes/lif/v_leak", std::vector<double>(27, 0.5));
  msg = input_error(p);
  EXPECT_NE(msg.find("node 'lif': v_leak must be 0"), std::string::npos) << msg;
  p = copy("resistance");
  overwrite(p, "node/nodes/li/r", std::vector<double>(20, 3.0));
  msg = input_error(p);
  EXPECT_NE(msg.find("node 'li': r must be tau / dt"), std::string::npos) << msg;
  p = copy("missing");
  remove_link(p, "node/nodes/fc_out");
  msg = input_error(p);
  EXPECT_NE(msg.find("'fc_out', which is no node"), std::string::npos) << msg;
  p = copy("noweight");
  remove_link(p, "node/nodes/rlif/nodes/w_rec/weight");
  msg = input_error(p);
  EXPECT_NE(msg.find("node 'w_rec': no 'weight'"), std::string::npos) << msg;
  atomic_write_text(dir + "/text.nir", "not hdf5");
  msg = input_error(dir + "/text.nir");
  EXPECT_NE(msg.find("text.nir: not an HDF5 file"), std::string::npos) << msg;
  EXPECT_EQ(input_error(good), "(read)");
}

TEST(Nir, ARateRunIsRefusedNamingWhatNirLacks) {
  const auto dir = sernn::testing::temp_dir("nir_rate");
  Config c;
  for (const auto& s : {"task.train_size=64", "task.val_size=16", "task.test_size=16", "model.hidden=27",
                        "model.grid=3,3,3", "train.epochs=1", "train.batch_size=32", "train.threads=1"})
    c.set(s);
  train_run(c, dir + "/run", false, true);
  try {
    export_run_nir(dir + "/run", dir + "/rate.nir", -1);
    FAIL() << "a rate network exported as NIR";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("NIR has no node for a rate network"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(file_exists(dir + "/rate.nir"));
}
