#pragma once
/// Rate RNN of the seRNN papers (DESIGN §3): one hidden layer of N units that all receive the
/// input and all feed the readout, discretised continuous-time dynamics
///     h_{t+1} = (1 - alpha) h_t + alpha f(W_in x_t + W h_t + b) (+ sigma sqrt(alpha) xi_t),   h_0 = 0,
/// and a dense readout of the final state. alpha = 1 is the reference's Keras SimpleRNN.
/// Initialisation as the reference: orthogonal W, Glorot-uniform W_in and readout, zero biases.
/// Parameter names (checkpoints, TorchScript export): input.weight, recurrent.weight,
/// recurrent.bias, readout.weight, readout.bias.
///
/// Extensions (seeds 002, 004): Dale's law and sparse connectivity (see dale.h; then
/// recurrent.weight holds W_raw and recurrent_weight() the signed W), and per-neuron time
/// constants tau_i (in units of the time step, alpha_i = 1 / tau_i), drawn from
/// Gamma(3, tau/3) and optionally learned (parameter `tau`, clipped to [tau_min, tau_max] after
/// every optimiser step). The noise term (sigma = `noise`) is added in training only.
#include <torch/torch.h>

#include "core/interfaces.h"
#include "models/dale.h"

namespace sernn {

struct RateRNNOptions {
  RateRNNOptions(int64_t inputs, int64_t hidden, int64_t outputs)
      : inputs_(inputs), hidden_(hidden), outputs_(outputs) {}
  TORCH_ARG(int64_t, inputs);
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(int64_t, outputs);
  TORCH_ARG(double, alpha) = 1.0;
  TORCH_ARG(bool, tanh) = false;       ///< tanh instead of ReLU
  TORCH_ARG(bool, reference) = false;  ///< per-step Linear calls instead of the batched input GEMM
  TORCH_ARG(DaleOptions, dale);
  TORCH_ARG(bool, tau_per_neuron) = false;  ///< tau_i ~ Gamma(3, (1/alpha)/3) instead of one alpha
  TORCH_ARG(bool, learn_tau) = false;       ///< tau_i learnable (implies tau_per_neuron)
  TORCH_ARG(double, tau_min) = 1.0;         ///< clip of tau_i, in time steps
  TORCH_ARG(double, tau_max) = 100.0;
  TORCH_ARG(double, noise) = 0.0;  ///< sigma of the additive hidden noise (training only)
};

class RateRNNImpl : public Network {
 public:
  explicit RateRNNImpl(RateRNNOptions options);
  void reset();

  /// inputs: [T, B, inputs] -> hidden states [T, B, N]. `noisy`: add the training noise.
  torch::Tensor hidden_states(const torch::Tensor& inputs, bool noisy = false);
  /// logits [B, outputs] = readout(h_T); activity = mean of h over time.
  NetworkOutput run(const torch::Tensor& inputs, bool training) override;
  /// The effective W (signed and masked under Dale's law / sparse connectivity).
  torch::Tensor recurrent_weight() override;
  torch::Tensor recurrent_parameter() override { return recurrent->weight; }
  /// Per-neuron alpha_i = 1 / tau_i [N], or a 0-dim tensor holding the shared alpha.
  torch::Tensor alpha() const;
  void after_step() override;
  std::map<std::string, double> parameter_stats() override;
  /// +1 / -1 per neuron (all +1 without Dale's law).
  torch::Tensor neuron_sign() const { return dale_.sign; }

  RateRNNOptions options;
  torch::nn::Linear input{nullptr}, recurrent{nullptr}, readout{nullptr};
  torch::Tensor tau;  ///< [N] time constants in steps (defined when per neuron)

 private:
  DaleMask dale_;
};
TORCH_MODULE(RateRNN);

}  // namespace sernn
