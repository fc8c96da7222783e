// Dale's law, sparse connectivity and per-neuron time constants (models/dale.h, rate_rnn.h).
#include <gtest/gtest.h>

#include <cmath>

#include "models/dale.h"
#include "models/rate_rnn.h"
#include "models/spiking_rnn.h"

using namespace sernn;

namespace {

DaleOptions dale_opts(double connectivity = 1.0) {
  DaleOptions d;
  d.enabled = true;
  d.exc_fraction = 0.8;
  d.connectivity = connectivity;
  return d;
}

// Effective W: excitatory columns >= 0, inhibitory columns <= 0, absent synapses exactly 0.
void expect_signs(const torch::Tensor& w, const torch::Tensor& sign, const torch::Tensor& mask) {
  const auto exc = sign.gt(0);
  EXPECT_GE(w.index({torch::indexing::Slice(), exc}).min().item<double>(), 0.0);
  EXPECT_LE(w.index({torch::indexing::Slice(), exc.logical_not()}).max().item<double>(), 0.0);
  EXPECT_EQ(w.masked_select(mask.eq(0)).abs().sum().item<double>(), 0.0);
}

}  // namespace

TEST(Dale, MaskHasTheRequestedPopulationsAndSparsity) {
  torch::manual_seed(1);
  auto m = make_dale_mask(200, dale_opts(0.3));
  EXPECT_EQ(m.sign.lt(0).sum().item<int64_t>(), 40);
  const double density = m.mask.ne(0).to(torch::kFloat64).mean().item<double>();
  EXPECT_NEAR(density, 0.3 + 0.7 / 200.0, 0.02);  // the diagonal is always kept
  // Each column has one sign.
  EXPECT_TRUE(torch::equal(m.mask.sign().sum(0).abs(), m.mask.ne(0).sum(0).to(torch::kFloat32)));
}

TEST(Dale, BalancedInitialisationHasTheTargetRadius) {
  torch::manual_seed(2);
  const int64_t n = 400;
  auto d = dale_opts();
  auto m = make_dale_mask(n, d);
  auto raw = torch::empty({n, n});
  init_dale_weight_(raw, m, d);
  auto w = masked_weight(raw, m, d).to(torch::kFloat64);
  // Rows balance on average (E and I expected inputs cancel) ...
  EXPECT_LT(std::abs(w.sum(1).mean().item<double>()), 0.05 * w.abs().sum(1).mean().item<double>());
  // ... and the eigenvalues fill a disc of radius about 1 (circular law).
  auto radius = torch::linalg_eigvals(w).abs().max().item<double>();
  EXPECT_NEAR(radius, 1.0, 0.15);
}

TEST(Dale, RateSignsHoldAfterTraining) {
  torch::manual_seed(3);
  RateRNNOptions o(3, 20, 2);
  o.dale(dale_opts(0.5)).alpha(0.5).tau_per_neuron(true).learn_tau(true).tau_min(1.0).tau_max(5.0).noise(0.05);
  RateRNN net(o);
  const auto w0 = net->recurrent_weight().detach().clone();
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(0.05));
  auto x = torch::randn({15, 8, 3});
  auto y = torch::randint(0, 2, {8}, torch::kInt64);
  for (int step = 0; step < 30; ++step) {
    adam.zero_grad();
    torch::nn::functional::cross_entropy(net->run(x, true).logits, y).backward();
    adam.step();
    net->after_step();
  }
  const auto w = net->recurrent_weight().detach();
  EXPECT_GT((w - w0).abs().max().item<double>(), 0.05) << "training must move the weights";
  expect_signs(w, net->neuron_sign(), net->named_buffers()["recurrent_mask"]);
  EXPECT_GE(net->tau.min().item<double>(), 1.0);
  EXPECT_LE(net->tau.max().item<double>(), 5.0);
  auto stats = net->parameter_stats();
  ASSERT_TRUE(stats.count("tau_inh_mean") && stats.count("tau_exc_mean") && stats.count("tau_inh_std"));
  // Against a naive computation over the populations.
  double sum = 0, sq = 0;
  int64_t n_inh = 0;
  for (int64_t i = 0; i < net->tau.size(0); ++i)
    if (net->neuron_sign()[i].item<float>() < 0) {
      const double t = net->tau[i].item<double>();
      sum += t, sq += t * t, ++n_inh;
    }
  ASSERT_GT(n_inh, 1);
  const double mean = sum / n_inh;
  EXPECT_NEAR(stats["tau_inh_mean"], mean, 1e-5);
  EXPECT_NEAR(stats["tau_inh_std"], std::sqrt((sq - n_inh * mean * mean) / (n_inh - 1)), 1e-4);
}

TEST(Dale, SpikingSignsHoldAfterTraining) {
  torch::manual_seed(4);
  SpikingRNNOptions o(10, 24, 3);
  o.dale(dale_opts());
  SpikingRNN net(o);
  {
    torch::NoGradGuard g;
    net->input->weight.mul_(4.0);
  }
  const auto w0 = net->recurrent_weight().detach().clone();
  torch::optim::Adam adam(net->parameters(), torch::optim::AdamOptions(0.05));
  auto x = (torch::rand({30, 6, 10}) < 0.3).to(torch::kFloat32);
  auto y = torch::randint(0, 3, {6}, torch::kInt64);
  for (int step = 0; step < 10; ++step) {
    adam.zero_grad();
    torch::nn::functional::cross_entropy(net->run(x, true).logits, y).backward();
    adam.step();
    net->after_step();
  }
  const auto w = net->recurrent_weight().detach();
  EXPECT_GT((w - w0).abs().max().item<double>(), 0.01);
  expect_signs(w, net->neuron_sign(), net->named_buffers()["recurrent_mask"]);
}

TEST(Dale, PerNeuronTauGradientMatchesFiniteDifferences) {
  torch::manual_seed(5);
  RateRNNOptions o(2, 6, 2);
  o.alpha(0.3).tau_per_neuron(true).learn_tau(true).tanh(true).dale(dale_opts());
  RateRNN net(o);
  net->to(torch::kFloat64);
  auto x = torch::randn({12, 3, 2}, torch::kFloat64);
  auto loss = [&] { return net->hidden_states(x).pow(2).sum(); };
  loss().backward();
  const auto g = net->tau.grad().clone();
  torch::NoGradGuard no_grad;
  for (int64_t i = 0; i < 6; ++i) {
    const double h = 1e-6, t = net->tau[i].item<double>();
    net->tau[i] = t + h;
    const double up = loss().item<double>();
    net->tau[i] = t - h;
    const double down = loss().item<double>();
    net->tau[i] = t;
    EXPECT_NEAR(g[i].item<double>(), (up - down) / (2 * h), 1e-6 * std::max(1.0, std::abs(g[i].item<double>())));
  }
}
