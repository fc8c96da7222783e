#pragma once
/// Rate RNN of the seRNN papers (DESIGN §3): one hidden layer of N units that all receive the
/// input and all feed the readout, discretised continuous-time dynamics
///     h_{t+1} = (1 - alpha) h_t + alpha f(W_in x_t + W h_t + b),   h_0 = 0,
/// and a dense readout of the final state. alpha = 1 is the reference's Keras SimpleRNN.
/// Initialisation as the reference: orthogonal W, Glorot-uniform W_in and readout, zero biases.
/// Parameter names (checkpoints, TorchScript export): input.weight, recurrent.weight,
/// recurrent.bias, readout.weight, readout.bias.
#include <torch/torch.h>

#include "core/interfaces.h"

namespace sernn {

struct RateRNNOptions {
  RateRNNOptions(int64_t inputs, int64_t hidden, int64_t outputs) : inputs_(inputs), hidden_(hidden), outputs_(outputs) {}
  TORCH_ARG(int64_t, inputs);
  TORCH_ARG(int64_t, hidden);
  TORCH_ARG(int64_t, outputs);
  TORCH_ARG(double, alpha) = 1.0;
  TORCH_ARG(bool, tanh) = false;        ///< tanh instead of ReLU
  TORCH_ARG(bool, reference) = false;   ///< per-step Linear calls instead of the batched input GEMM
};

class RateRNNImpl : public Network {
 public:
  explicit RateRNNImpl(RateRNNOptions options);
  void reset();

  /// inputs: [T, B, inputs] -> hidden states [T, B, N].
  torch::Tensor hidden_states(const torch::Tensor& inputs);
  /// logits [B, outputs] = readout(h_T).
  NetworkOutput run(const torch::Tensor& inputs, bool training) override;
  torch::Tensor recurrent_weight() override { return recurrent->weight; }

  RateRNNOptions options;
  torch::nn::Linear input{nullptr}, recurrent{nullptr}, readout{nullptr};
};
TORCH_MODULE(RateRNN);

}  // namespace sernn
