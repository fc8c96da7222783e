// The rate RNN's registry entry (models/rate_rnn.h): config keys, factory, TorchScript export.
#include <fmt/format.h>

#include "core/errors.h"
#include "models/rate_rnn.h"
#include "run/entries.h"
#include "run/registry.h"

namespace sernn {
namespace {

using T = ConfigKey::Type;

// The forward of models/rate_rnn.h in TorchScript (DESIGN §3).
constexpr const char* kRateForward = R"JIT(
def forward(self, x):
    T = x.size(0)
    B = x.size(1)
    N = self.recurrent.weight.size(0)
    a = self.alpha
    drive = torch.matmul(x, self.input.weight.t()) + self.recurrent.bias
    h = torch.zeros([B, N], dtype=x.dtype, device=x.device)
    hs = []
    for t in range(T):
        z = drive[t] + torch.matmul(h, self.recurrent.weight.t())
        if self.use_tanh:
            f = torch.tanh(z)
        else:
            f = torch.relu(z)
        h = (1.0 - a) * h + a * f
        hs.append(h)
    hidden = torch.stack(hs)
    logits = torch.matmul(hidden[T - 1], self.readout.weight.t()) + self.readout.bias
    return hidden, logits
)JIT";

std::shared_ptr<Network> make(const Config& config, int64_t inputs, int64_t classes) {
  if (config.get_int("model.rank") > 0)
    throw InputError("key 'model.rank': low-rank connectivity is an option of spiking models (model.kind = spiking)");
  RateRNNOptions o(inputs, config.get_int("model.hidden"), classes);
  o.alpha(config.get_float("model.alpha"))
      .tanh(config.get_string("model.activation") == "tanh")
      .reference(config.get_string("model.impl") == "reference")
      .dale(dale_options(config))
      .tau_per_neuron(config.get_bool("model.tau_per_neuron"))
      .learn_tau(config.get_bool("model.learn_tau"))
      .tau_min(config.get_float("model.tau_min"))
      .tau_max(config.get_float("model.tau_max"))
      .noise(config.get_float("model.noise"));
  if (o.tau_min() > o.tau_max())
    throw InputError(
        fmt::format("keys 'model.tau_min' ({}) and 'model.tau_max' ({}): min exceeds max", o.tau_min(), o.tau_max()));
  return RateRNN(o).ptr();
}

torch::jit::Module script(Network& net) {
  auto& r = dynamic_cast<RateRNNImpl&>(net);
  auto m = network_module(r.input, r.recurrent_weight(), r.recurrent->bias, r.readout);
  // alpha_i = 1 / tau_i per neuron, or the shared alpha for every neuron.
  m.register_buffer("alpha", r.alpha().detach().to(torch::kFloat32).expand({r.options.hidden()}).clone());
  m.register_attribute("use_tanh", c10::BoolType::get(), r.options.tanh());
  m.define(kRateForward);
  return m;
}

std::pair<torch::Tensor, torch::Tensor> outputs(Network& net, const torch::Tensor& x) {
  auto& r = dynamic_cast<RateRNNImpl&>(net);
  auto hidden = r.hidden_states(x);
  return {hidden, r.readout->forward(hidden[-1])};
}

}  // namespace

ModelEntry rate_model_entry() {
  return {
      "rate",
      "rate RNN, h' = (1 - a) h + a f(W_in x + W h + b), dense readout of the last state",
      {
          key("model.alpha", T::Float, 1.0, "rate nets: dt/tau, h' = (1-a) h + a relu(...)", 1e-6, 1.0),
          key("model.activation", T::String, "relu", "rate nets: hidden nonlinearity", -1e300, 1e300, {"relu", "tanh"}),
          key("model.tau_per_neuron", T::Bool, false, "rate: tau_i ~ Gamma(3, (1/alpha)/3) per neuron"),
          key("model.learn_tau", T::Bool, false, "rate: tau_i learnable (implies tau_per_neuron)"),
          key("model.tau_min", T::Float, 1.0, "rate: lower clip of tau_i (time steps)", 1.0, 1e6),
          key("model.tau_max", T::Float, 100.0, "rate: upper clip of tau_i (time steps)", 1.0, 1e6),
          key("model.noise", T::Float, 0.0, "rate: sigma of additive hidden-state noise (training only)", 0.0, 1e3),
      },
      make,
      script,
      outputs,
      [](int64_t T, int64_t B, int64_t inputs) {
        return torch::rand({T, B, inputs});
      }};
}

}  // namespace sernn
