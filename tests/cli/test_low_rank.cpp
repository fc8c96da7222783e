// Low-rank spiking connectivity (seed 002): W = L R^T keeps its rank and Dale's signs through
// training steps, and the tuned rank-1 inhibitory population confines its latent readout to the
// boundary formed by its threshold lines.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "run/setup.h"
#include "run/config.h"
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
  EXPECT_TRUE(torch::allclose(w.select(1, j),
                              net->rank_left.detach().select(1, 0).abs() * net->rank_right.detach()[j][0].abs()));
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

TEST(LowRank, EINetworkComputesItsFunctionWhereTheBoundariesCross) {
  BoundaryDemoOptions o;
  o.network = "ei";
  o.steps = 20000, o.warmup = 2000, o.decoder = 0.01;
  const auto d = run_boundary_demo(o);
  const int64_t T = d.y.size(0), n = o.neurons;
  ASSERT_EQ(d.spikes.size(1), 2 * n);
  // An independent simulation written from the seed's equations (35)-(36): every neuron's
  // voltage is F_i x̄ + c_i + E_i^E y_E + E_i^I y_I, with tangent planes of p(x) = x^2 (I) and
  // q(x) = x^2 + g(x) (E), a = 2, g(x) = 0.6 + 0.2 sin 3x; no reset besides the latents.
  const double beta = o.beta, de = o.decoder, di = 3 * o.decoder, a = 2.0;
  std::vector<double> f(2 * n), thr(2 * n), enc_e(2 * n), enc_i(2 * n, 1.0);
  for (int64_t k = 0; k < n; ++k) {
    const double xk = -1.0 + 2.0 * static_cast<double>(k) / static_cast<double>(n - 1);
    const double q = xk * xk + 0.6 + 0.2 * std::sin(3 * xk), dq = 2 * xk + 0.6 * std::cos(3 * xk);
    f[k] = dq, thr[k] = xk * dq - q, enc_e[k] = 1.0;                          // excitatory k
    f[n + k] = 2 * xk, thr[n + k] = xk * 2 * xk - xk * xk, enc_e[n + k] = a;  // inhibitory k
  }
  auto xa = d.x.accessor<double, 1>();
  auto ye_net = d.y.accessor<double, 1>(), yi_net = d.y_i.accessor<double, 1>();
  double xb = 0, gain = 0, ye = 0, yi = 0, worst = 0;
  int64_t spikes_e = 0, spikes_i = 0;
  for (int64_t t = 0; t < T; ++t) {
    xb = beta * xb + (1 - beta) * xa[t];
    gain = beta * gain + (1 - beta);
    int64_t fe = 0, fi = 0;
    for (int64_t k = 0; k < 2 * n; ++k) {
      const double v = f[k] * xb + gain * (1.0 - thr[k]) + enc_e[k] * ye + enc_i[k] * yi;
      if (v > 1.0) (k < n ? fe : fi) += 1;
    }
    ye = beta * ye + de * static_cast<double>(fe);
    yi = beta * yi - di * static_cast<double>(fi);
    spikes_e += fe, spikes_i += fi;
    worst = std::max({worst, std::abs(ye - ye_net[t]), std::abs(yi - yi_net[t])});
  }
  EXPECT_LT(worst, 1e-9) << "the network's latents differ from the equations";
  EXPECT_EQ(d.spikes.slice(1, 0, n).sum().item<int64_t>(), spikes_e);
  EXPECT_EQ(d.spikes.slice(1, n).sum().item<int64_t>(), spikes_i);
  // The latents settle on the crossing: y_E follows g(x̄), y_I follows -x̄^2 - 2 g(x̄).
  const auto err_e = (d.y - d.target).slice(0, o.warmup).abs(), err_i = (d.y_i - d.target_i).slice(0, o.warmup).abs();
  EXPECT_LT(err_e.mean().item<double>(), 0.03);
  EXPECT_LT(err_e.max().item<double>(), 0.15);
  EXPECT_LT(err_i.mean().item<double>(), 0.06);
  EXPECT_GT(spikes_e, 1000);
  EXPECT_GT(spikes_i, 1000);
}

TEST(LowRank, BoundaryCommandAndConfigChecks) {
  const auto dir = sernn::testing::temp_dir("cli");
  const auto log = dir + "/log.txt";
  ASSERT_EQ(sernn::testing::wait_exit(sernn::testing::spawn({"boundary", "--out", dir + "/b", "--steps", "500"}, log)),
            0)
      << read_file(log);
  const auto csv = read_file(dir + "/b/boundary.csv");
  EXPECT_EQ(csv.rfind("t,x,x_filtered,y,boundary,target,spikes,neuron\n", 0), 0u);
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1501);
  EXPECT_NE(read_file(dir + "/b/boundary.html").find("<svg"), std::string::npos);
  EXPECT_EQ(sernn::testing::wait_exit(sernn::testing::spawn({"boundary", "--out", dir + "/c", "--beta", "1.5"}, log)),
            2);
  EXPECT_NE(read_file(log).find("--beta"), std::string::npos);
  ASSERT_EQ(sernn::testing::wait_exit(sernn::testing::spawn(
                {"boundary", "--network", "ei", "--out", dir + "/ei", "--steps", "3000", "--warmup", "500"}, log)),
            0)
      << read_file(log);
  const auto ei = read_file(dir + "/ei/boundary.csv");
  EXPECT_EQ(ei.rfind("t,x,x_filtered,y_e,y_i,target_e,target_i,spikes_e,spikes_i\n", 0), 0u);
  EXPECT_EQ(std::count(ei.begin(), ei.end(), '\n'), 3501);
  EXPECT_EQ(sernn::testing::wait_exit(sernn::testing::spawn({"boundary", "--network", "ie", "--out", dir + "/d"}, log)),
            2);

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
  ASSERT_EQ(
      wait_exit(spawn({"train", "--config", std::string(SERNN_SOURCE_DIR) + "/configs/shd_lowrank_ei.toml", "--out",
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
