// The spiking (LIF) network's registry entry (models/spiking_rnn.h): config keys, factory,
// TorchScript export.
#include <fmt/format.h>

#include "core/errors.h"
#include "models/lif_math.h"
#include "models/spiking_rnn.h"
#include "run/entries.h"
#include "run/registry.h"

namespace sernn {
namespace {

using T = ConfigKey::Type;
constexpr double inf = 1e300;

// The forward of models/spiking_rnn.h in TorchScript (DESIGN §3); {rule} is the model's reset
// rule from models/lif_math.h (membrane_rule_text), over beta, v, c, r and thr.
constexpr const char* kSpikingForward = R"JIT(
def forward(self, x):
    T = x.size(0)
    B = x.size(1)
    N = self.recurrent.weight.size(0)
    C = self.readout.weight.size(0)
    drive = torch.matmul(x, self.input.weight.t()) + self.input.bias + self.recurrent.bias
    beta = torch.clamp(self.beta, 0.0, 1.0)
    rbeta = torch.clamp(self.readout_beta, 0.0, 1.0)
    thr = self.threshold
    v = torch.zeros([B, N], dtype=x.dtype, device=x.device)
    s = torch.zeros([B, N], dtype=x.dtype, device=x.device)
    u = torch.zeros([B, C], dtype=x.dtype, device=x.device)
    spikes = []
    mems = []
    for t in range(T):
        c = drive[t] + torch.matmul(s, self.recurrent.weight.t())
        r = (v > thr).to(x.dtype)
        v = {rule}
        s = (v > thr).to(x.dtype)
        u = rbeta * u + torch.matmul(s, self.readout.weight.t()) + self.readout.bias
        spikes.append(s)
        mems.append(u)
    return torch.stack(spikes), torch.stack(mems)
)JIT";

std::shared_ptr<Network> make(const Config& config, int64_t inputs, int64_t classes) {
  const auto dale = dale_options(config);
  SpikingRNNOptions o(inputs, config.get_int("model.hidden"), classes);
  o.reset(parse_reset(config.get_string("model.reset")))
      .threshold(config.get_float("model.threshold"))
      .slope(config.get_float("model.slope"))
      .dt_ms(config.get_float("model.dt_ms"))
      .tau_mean_ms(config.get_float("model.tau_mean_ms"))
      .learn_beta(config.get_bool("model.learn_beta"))
      .beta_clip(config.get_bool("model.beta_clip"))
      .beta_min(config.get_float("model.beta_min"))
      .beta_max(config.get_float("model.beta_max"))
      .readout_beta(config.get_float("model.readout_beta"))
      .sum_readout(config.get_string("model.loss") == "sum")
      .reference(config.get_string("model.impl") == "reference")
      .dale(dale)
      .rank(config.get_int("model.rank"))
      .population_latents(config.get_string("model.rank_latents") == "population")
      .recurrent(config.get_bool("model.recurrent"));
  if (!o.recurrent() && o.rank() > 0)
    throw InputError("keys 'model.recurrent' and 'model.rank': a low-rank W cannot be held at zero; use rank 0");
  if (o.population_latents() && (!dale.enabled || o.rank() < 2))
    throw InputError("key 'model.rank_latents': 'population' needs model.dale = true and model.rank >= 2");
  if (o.rank() > o.hidden())
    throw InputError(fmt::format("key 'model.rank': {} exceeds model.hidden = {}", o.rank(), o.hidden()));
  if (o.rank() > 0 && dale.connectivity < 1.0)
    throw InputError("keys 'model.rank' and 'model.connectivity': a sparse mask would destroy the low rank; use one");
  if (o.rank() > 0 && config.get_float("prune.final_sparsity") > 0.0)
    throw InputError("keys 'model.rank' and 'prune.final_sparsity': low-rank W has no per-synapse weights to prune");
  if (o.beta_min() > o.beta_max())
    throw InputError(fmt::format("keys 'model.beta_min' ({}) and 'model.beta_max' ({}): min exceeds max", o.beta_min(),
                                 o.beta_max()));
  return SpikingRNN(o).ptr();
}

torch::jit::Module script(Network& net) {
  auto& s = dynamic_cast<SpikingRNNImpl&>(net);
  // W is L R^T at low rank: the exported model is the trained network.
  auto m = network_module(s.input, s.recurrent_weight(), s.recurrent->bias, s.readout);
  m.register_parameter("beta", s.beta.detach().clone(), false);
  m.register_buffer("readout_beta", s.readout_beta.detach().clone());
  m.register_attribute("threshold", c10::FloatType::get(), s.options.threshold());
  m.register_attribute("reset_mode", c10::IntType::get(), static_cast<int64_t>(s.options.reset()));
  m.define(fmt::format(kSpikingForward, fmt::arg("rule", lif::membrane_rule_text(s.options.reset()))));
  return m;
}

std::pair<torch::Tensor, torch::Tensor> outputs(Network& net, const torch::Tensor& x) {
  auto trace = dynamic_cast<SpikingRNNImpl&>(net).simulate(x);
  return {trace.spikes, trace.readout_mem};
}

}  // namespace

ModelEntry spiking_model_entry() {
  return {
      "spiking",
      "recurrent LIF network (snnTorch RLeaky), leaky non-spiking readout",
      {
          key("model.reset", T::String, "subtract", "spiking: reset mechanism", -inf, inf,
              {"subtract", "subtract_decayed", "zero", "zero_immediate", "none"}),
          key("model.threshold", T::Float, 1.0, "spiking: firing threshold", 1e-9, 1e9),
          key("model.slope", T::Float, 100.0, "spiking: fast-sigmoid surrogate slope", 1e-9, 1e9),
          key("model.dt_ms", T::Float, 0.5, "spiking: simulation step (ms) for beta = exp(-dt/tau)", 1e-6, 1e6),
          key("model.tau_mean_ms", T::Float, 20.0, "spiking: mean of the Gamma(3, mean/3) tau init (ms)", 1e-6, 1e6),
          key("model.beta_clip", T::Bool, true, "spiking: clip beta after every optimiser step"),
          key("model.beta_min", T::Float, 0.7165313105737893, "spiking: lower beta clip, exp(-1/3)", 0.0, 1.0),
          key("model.beta_max", T::Float, 0.995, "spiking: upper beta clip", 0.0, 1.0),
          key("model.learn_beta", T::Bool, true, "spiking: beta is a learnable parameter"),
          key("model.readout_beta", T::Float, 0.9753099120283326, "spiking: readout leak exp(-0.5/20)", 0.0, 1.0),
          key("model.loss", T::String, "max", "spiking: statistic of the readout membrane over time", -inf, inf,
              {"max", "sum"}),
          key("model.recurrent", T::Bool, true,
              "spiking: false holds the recurrent weight at zero, untrained (the network without recurrence)"),
          key("model.rank", T::Int, 0, "spiking: rank R of the recurrent weight W = L R^T (0 = full rank)", 0, 4096),
          key("model.rank_latents", T::String, "shared",
              "spiking, low rank with Dale: every latent reads all neurons (shared) or one population each "
              "(population)",
              -inf, inf, {"shared", "population"}),
      },
      make,
      script,
      outputs,
      [](int64_t T, int64_t B, int64_t inputs) {
        return (torch::rand({T, B, inputs}) < 0.05).to(torch::kFloat32);
      }};
}

}  // namespace sernn
