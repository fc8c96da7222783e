#include "app/export.h"

#include <filesystem>

#include <fmt/format.h>

#include "app/setup.h"
#include "core/errors.h"
#include "core/io.h"
#include "models/rate_rnn.h"
#include "models/spiking_rnn.h"

namespace sernn {
namespace {

// TorchScript sources of the two forwards: the same equations as models/ (DESIGN §3).
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
        cur = drive[t] + torch.matmul(s, self.recurrent.weight.t())
        r = (v > thr).to(x.dtype)
        if self.reset_mode == 0:
            v = beta * v + cur - r * thr
        elif self.reset_mode == 1:
            v = beta * (v - r * thr) + cur
        elif self.reset_mode == 2:
            v = (beta * v + cur) * (1.0 - r)
        else:
            v = beta * v + cur
        s = (v > thr).to(x.dtype)
        u = rbeta * u + torch.matmul(s, self.readout.weight.t()) + self.readout.bias
        spikes.append(s)
        mems.append(u)
    return torch.stack(spikes), torch.stack(mems)
)JIT";

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

torch::jit::Module linear_module(const std::string& name, const torch::Tensor& weight, const torch::Tensor& bias) {
  torch::jit::Module m(name);
  m.register_parameter("weight", weight.detach().clone(), false);
  if (bias.defined()) m.register_parameter("bias", bias.detach().clone(), false);
  return m;
}

torch::jit::Module linear_module(const std::string& name, const torch::nn::Linear& lin) {
  return linear_module(name, lin->weight, lin->bias);
}

}  // namespace

torch::jit::Module script_network(Network& net, const Config& config, const torch::Tensor& coords) {
  torch::jit::Module m("SernnNetwork");
  if (auto* s = dynamic_cast<SpikingRNNImpl*>(&net)) {
    m.register_module("input", linear_module("Linear", s->input));
    // The effective recurrent weight (signed and masked under Dale's law): the exported model
    // is the trained network, not its parametrisation.
    m.register_module("recurrent", linear_module("Linear", s->recurrent_weight(), s->recurrent->bias));
    m.register_module("readout", linear_module("Linear", s->readout));
    m.register_parameter("beta", s->beta.detach().clone(), false);
    m.register_buffer("readout_beta", s->readout_beta.detach().clone());
    m.register_attribute("threshold", c10::FloatType::get(), s->options.threshold());
    m.register_attribute("reset_mode", c10::IntType::get(), static_cast<int64_t>(s->options.reset()));
    m.define(kSpikingForward);
  } else if (auto* r = dynamic_cast<RateRNNImpl*>(&net)) {
    m.register_module("input", linear_module("Linear", r->input));
    m.register_module("recurrent", linear_module("Linear", r->recurrent_weight(), r->recurrent->bias));
    m.register_module("readout", linear_module("Linear", r->readout));
    // alpha_i = 1 / tau_i per neuron, or the shared alpha for every neuron.
    m.register_buffer("alpha", r->alpha().detach().to(torch::kFloat32).expand({r->options.hidden()}).clone());
    m.register_attribute("use_tanh", c10::BoolType::get(), r->options.tanh());
    m.define(kRateForward);
  } else {
    throw std::runtime_error("export: unsupported network type");
  }
  m.register_attribute("config_json", c10::StringType::get(), config.to_json().dump());
  m.register_attribute("coords", c10::TensorType::get(), coords.to(torch::kFloat64).clone());
  return m;
}

double export_run(const std::string& run_dir, const std::string& out_path, int64_t epoch) {
  const auto run = load_run(run_dir, epoch);
  auto module = script_network(*run.network, run.config, run.coords);
  atomic_write_with(out_path, [&](const std::string& tmp) { module.save(tmp); });

  // Verify: load the file back and compare with the engine's forward on a random batch.
  auto loaded = torch::jit::load(out_path);
  torch::NoGradGuard no_grad;
  run.network->train(false);
  torch::manual_seed(1234);
  const bool spiking = run.config.get_string("model.kind") == "spiking";
  const int64_t T = spiking ? 50 : 50, B = 4;
  auto x = spiking ? (torch::rand({T, B, run.inputs}) < 0.05).to(torch::kFloat32) : torch::rand({T, B, run.inputs});
  auto out = loaded.forward({x}).toTuple();
  torch::Tensor a0, a1;
  if (auto* s = dynamic_cast<SpikingRNNImpl*>(run.network.get())) {
    auto tr = s->simulate(x);
    a0 = tr.spikes, a1 = tr.readout_mem;
  } else {
    auto* r = dynamic_cast<RateRNNImpl*>(run.network.get());
    a0 = r->hidden_states(x);
    a1 = r->readout->forward(a0[-1]);
  }
  const auto b0 = out->elements()[0].toTensor(), b1 = out->elements()[1].toTensor();
  if (a0.sizes() != b0.sizes() || a1.sizes() != b1.sizes())
    throw std::runtime_error(fmt::format("export verification failed: output shapes {} / {} differ from the engine's {} / {}",
                                         c10::str(b0.sizes()), c10::str(b1.sizes()), c10::str(a0.sizes()),
                                         c10::str(a1.sizes())));
  const double diff = std::max((a0 - b0).abs().max().item<double>(), (a1 - b1).abs().max().item<double>());
  // float32 sums in another order: relative to the output's scale (a flipped spike is 1 apart).
  const double scale = std::max(1.0, std::max(a0.abs().max().item<double>(), a1.abs().max().item<double>()));
  if (!(diff <= 1e-4 * scale)) {
    std::filesystem::remove(out_path);
    throw std::runtime_error(fmt::format("export verification failed: max |difference| {} (outputs up to {}) between the "
                                         "saved module and the engine's forward; {} was removed",
                                         diff, scale, out_path));
  }
  return diff;
}

}  // namespace sernn
