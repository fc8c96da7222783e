// Low-rank spiking connectivity (seed 002): W = L R^T keeps its rank and Dale's signs through
// training steps, and the tuned rank-1 inhibitory population confines its latent readout to the
// boundary formed by its threshold lines.
#include <gtest/gtest.h>

#include <filesystem>

#include "app/setup.h"
#include "core/config.h"
#include "core/errors.h"
#include "core/io.h"
#include "models/low_rank.h"
#include "test_helpers.h"

using namespace sernn;

namespace {
// Numerical rank of a float32 product: singular values above 1e-5 of the largest.
int64_t numerical_rank(const torch::Tensor& w) {
  const auto s = torch::linalg_svdvals(w.detach().to(torch::kFloat64));
  return s.gt(1e-5 * s.max().item<double>()).sum().item<int64_t>();
}
}  // namespace

TEST(LowRank, RankAndDaleSignsHoldThroughAdamSteps) {
  torch::manual_seed(2);
  DaleOptions dale;
  dale.enabled = true;
  SpikingRNNOptions o(12, 40, 3);
  o.rank(2).dale(dale);
  SpikingRNN net(o);
  const auto sign = net->neuron_sign();
  ASSERT_EQ(sign.lt(0).sum().item<int64_t>(), 8);
  torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(0.05));
  for (int step = 0; step < 5; ++step) {
    opt.zero_grad();
    const auto x = (torch::rand({30, 8, 12}) < 0.3).to(torch::kFloat32) * 2.0;
    const auto out = net->run(x, true);
    const auto loss = torch::nn::functional::cross_entropy(out.logits, torch::randint(0, 3, {8}));
    loss.backward();
    EXPECT_TRUE(net->rank_left.grad().defined() && net->rank_right.grad().defined());
    EXPECT_FALSE(net->recurrent->weight.grad().defined());
    opt.step();
  }
  const auto w = net->recurrent_weight().detach();
  EXPECT_EQ(numerical_rank(w), 2);
  // Column j has the sign of presynaptic neuron j (or is zero).
  EXPECT_EQ((w * sign.unsqueeze(0)).lt(0).sum().item<int64_t>(), 0);
  EXPECT_EQ(net->recurrent->weight.abs().sum().item<float>(), 0.0f);
  // Without Dale's law W is the plain product.
  SpikingRNNOptions free(4, 10, 2);
  free.rank(1);
  SpikingRNN f(free);
  EXPECT_TRUE(torch::allclose(f->recurrent_weight(), f->rank_left.matmul(f->rank_right.t())));
}

TEST(LowRank, PopulationLatentsGiveTheSeedsEINetwork) {
  // Rank 2 with one latent per population: W_ij = E_i,pop(j) D_j, so the E columns and the I
  // columns are each rank 1 (every E neuron is read out by the same E latent), W is rank 2.
  torch::manual_seed(6);
  DaleOptions dale;
  dale.enabled = true;
  SpikingRNNOptions o(5, 30, 2);
  o.rank(2).dale(dale).population_latents(true);
  SpikingRNN net(o);
  const auto w = net->recurrent_weight().detach();
  const auto exc = net->neuron_sign().gt(0);
  EXPECT_EQ(numerical_rank(w), 2);
  EXPECT_EQ(numerical_rank(w.index({torch::indexing::Slice(), exc})), 1);
  EXPECT_EQ(numerical_rank(w.index({torch::indexing::Slice(), exc.logical_not()})), 1);
  EXPECT_EQ((w * net->neuron_sign().unsqueeze(0)).lt(0).sum().item<int64_t>(), 0);
  // E columns are |L[:, 0]| times their decoder.
  const int64_t j = exc.nonzero()[0].item<int64_t>();
  EXPECT_TRUE(torch::allclose(w.select(1, j), net->rank_left.detach().select(1, 0).abs() * net->rank_right.detach()[j][0].abs()));
  SpikingRNNOptions bad(5, 30, 2);
  bad.rank(2).population_latents(true);
  EXPECT_THROW(SpikingRNN{bad}, c10::Error);
}

TEST(LowRank, InhibitoryPopulationConfinesTheLatentToItsBoundary) {
  BoundaryDemoOptions o;
  const auto d = run_boundary_demo(o);
  const int64_t T = d.y.size(0);
  ASSERT_EQ(T, o.warmup + o.steps);
  // V_i(t) = F_i x̄(t) + c_i(t) + y(t - 1): a neuron fires at t exactly when y(t - 1) has reached
  // the boundary at t (an independent check of the rank-1 algebra against the simulation).
  const auto fired = d.spikes.sum(1).gt(0).slice(0, 1, T);
  const auto margin = d.y.slice(0, 0, T - 1) - d.boundary.slice(0, 1, T);
  const auto clear = margin.abs().gt(1e-9);  // exact ties may round either way
  EXPECT_TRUE(torch::equal(fired.masked_select(clear), margin.ge(0).masked_select(clear)))
      << "spike times differ from the boundary crossings at "
      << fired.ne(margin.ge(0)).logical_and(clear).nonzero().slice(0, 0, 5);
  EXPECT_GT(fired.sum().item<int64_t>(), 100);
  // After the warm-up y stays in a band of width about |D| below the boundary ...
  const auto gap = (d.boundary.slice(0, o.warmup + 1, T) - d.y.slice(0, o.warmup, T - 1));
  EXPECT_GT(gap.min().item<double>(), -0.02) << "y may exceed the boundary by one step of leak at most";
  EXPECT_LT(gap.max().item<double>(), 2.0 * o.decoder + 0.02);
  // ... so it follows the concave target -x̄^2 - 1/2 (tangent envelope error h^2/4 = 0.0123).
  const auto err = (d.y - d.target).slice(0, o.warmup).abs();
  EXPECT_LT(err.max().item<double>(), 2.0 * o.decoder + 0.0123 + 0.02);
  // Every neuron owns a segment of the boundary, in order of its tangent point.
  const auto counts = d.spikes.slice(0, o.warmup).sum(0);
  EXPECT_GT(counts.min().item<double>(), 0.0) << counts;
  const auto first = (d.spikes.slice(0, o.warmup) > 0).to(torch::kFloat64).argmax(0);
  for (int64_t i = 1; i < o.neurons; ++i) EXPECT_GE(first[i].item<int64_t>(), first[i - 1].item<int64_t>()) << i;
}

TEST(LowRank, BoundaryCommandAndConfigChecks) {
  const auto dir = sernn::testing::temp_dir("cli");
  const auto log = dir + "/log.txt";
  ASSERT_EQ(sernn::testing::wait_exit(sernn::testing::spawn({"boundary", "--out", dir + "/b", "--steps", "500"}, log)), 0)
      << read_file(log);
  const auto csv = read_file(dir + "/b/boundary.csv");
  EXPECT_EQ(csv.rfind("t,x,x_filtered,y,boundary,target,spikes,neuron\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1501);
  EXPECT_NE(read_file(dir + "/b/boundary.html").find("<svg"), std::string::npos);
  EXPECT_EQ(sernn::testing::wait_exit(sernn::testing::spawn({"boundary", "--out", dir + "/c", "--beta", "1.5"}, log)), 2);
  EXPECT_NE(read_file(log).find("--beta"), std::string::npos);

  Config c;
  c.set("model.rank=2");
  EXPECT_THROW(make_network(c, 8, 4), InputError);  // rate model
  c.set("model.kind=spiking");
  c.set("model.connectivity=0.5");
  EXPECT_THROW(make_network(c, 8, 4), InputError);
  c.set("model.connectivity=1");
  c.set("model.rank_latents=population");
  EXPECT_THROW(make_network(c, 8, 4), InputError);  // needs Dale's law
  c.set("model.dale=true");
  auto net = make_network(c, 8, 4);
  EXPECT_EQ(numerical_rank(net->recurrent_weight()), 2);
}

TEST(LowRank, TrainsOnShdAndExportsTheProduct) {
  const auto dir = sernn::testing::temp_dir("shd");
  const auto log = dir + "/log.txt";
  using sernn::testing::spawn;
  using sernn::testing::wait_exit;
  ASSERT_EQ(wait_exit(spawn({"data", "synth-shd", "--out", dir + "/data", "--train", "256", "--test", "64"}, log)), 0)
      << read_file(log);
  ASSERT_EQ(wait_exit(spawn({"train", "--config", std::string(SERNN_SOURCE_DIR) + "/configs/shd_lowrank_ei.toml", "--out",
                             dir + "/run", "--quiet", "--threads", "2", "--set", "task.data_dir=" + dir + "/data", "--set",
                             "task.bins=20", "--set", "train.epochs=2", "--set", "train.batch_size=32"},
                            log)),
            0)
      << read_file(log);
  // Snapshots hold the rank-2 product, and the TorchScript export reproduces the engine.
  const auto w = read_matrix_csv(dir + "/run/weights/epoch_002.csv");
  EXPECT_EQ(numerical_rank(w), 2);
  ASSERT_EQ(wait_exit(spawn({"export", dir + "/run", "--out", dir + "/m.pt"}, log)), 0) << read_file(log);
}
