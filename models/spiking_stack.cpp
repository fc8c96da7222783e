#include "models/spiking_stack.h"

#include "models/dale.h"

#include <ATen/CPUGeneratorImpl.h>

#include "models/lif_sequence.h"
#include "models/stacking.h"

namespace sernn {

bool SpikingStackImpl::can_stack(const std::vector<SpikingRNN>& members) {
  if (members.empty()) return false;
  const auto& o = members[0]->options;
  for (const auto& m : members) {
    const auto& mo = m->options;
    if (mo.reference() || mo.rank() > 0 || !mo.recurrent()) return false;  // a frozen W is no stacked parameter
    const auto &d = mo.dale(), &d0 = o.dale();
    if (d.enabled != d0.enabled || d.connectivity != d0.connectivity || d.exc_fraction != d0.exc_fraction) return false;
    if (mo.inputs() != o.inputs() || mo.hidden() != o.hidden() || mo.outputs() != o.outputs() ||
        mo.threshold() != o.threshold() || mo.slope() != o.slope() || mo.reset() != o.reset() ||
        mo.sum_readout() != o.sum_readout() || mo.learn_beta() != o.learn_beta() || mo.beta_clip() != o.beta_clip() ||
        mo.beta_min() != o.beta_min() || mo.beta_max() != o.beta_max())
      return false;
  }
  return true;
}

SpikingStackImpl::SpikingStackImpl(const std::vector<SpikingRNN>& members) : options(members.at(0)->options) {
  TORCH_CHECK(can_stack(members), "SpikingStack: members must be plain fast-path SpikingRNNs of one architecture");
  const auto layers = register_stacked_layers(*this);
  auto stack = [&](auto get) { return stack_members(members, get); };
  input_w = layers.input->register_parameter("weight", stack([](const SpikingRNN& m) { return m->input->weight; }));
  input_b = layers.input->register_parameter("bias", stack([](const SpikingRNN& m) { return m->input->bias; }));
  recurrent_w =
      layers.recurrent->register_parameter("weight", stack([](const SpikingRNN& m) { return m->recurrent->weight; }));
  recurrent_b =
      layers.recurrent->register_parameter("bias", stack([](const SpikingRNN& m) { return m->recurrent->bias; }));
  readout_w =
      layers.readout->register_parameter("weight", stack([](const SpikingRNN& m) { return m->readout->weight; }));
  readout_b = layers.readout->register_parameter("bias", stack([](const SpikingRNN& m) { return m->readout->bias; }));
  beta = register_parameter("beta", stack([](const SpikingRNN& m) { return m->beta; }), options.learn_beta());
  readout_beta = register_buffer("readout_beta", stack([](const SpikingRNN& m) { return m->readout_beta; }));
  if (options.dale().any()) {
    neuron_sign = register_buffer("neuron_sign", stack([](const SpikingRNN& m) { return m->dale_mask().sign; }));
    recurrent_mask = register_buffer("recurrent_mask", stack([](const SpikingRNN& m) { return m->dale_mask().mask; }));
  }
}

torch::Tensor SpikingStackImpl::recurrent_weight() {
  // Elementwise, so member k's slice is bit for bit what masked_weight gives the member alone.
  return options.dale().any() ? masked_weight(recurrent_w, {neuron_sign, recurrent_mask}, options.dale()) : recurrent_w;
}

NetworkOutput SpikingStackImpl::run(const torch::Tensor& inputs, bool training) {
  TORCH_CHECK(inputs.dim() == 4 && inputs.size(0) == members(), "SpikingStack expects inputs [", members(),
              ", T, B, I], got ", inputs.sizes());
  return run_members(inputs.unbind(0), training);
}

NetworkOutput SpikingStackImpl::run_members(const std::vector<torch::Tensor>& inputs, bool /*training*/) {
  TORCH_CHECK(static_cast<int64_t>(inputs.size()) == members(), "SpikingStack expects ", members(),
              " members' inputs, got ", inputs.size());
  const auto& o = options;
  // Both biases folded in first, as a member alone folds them (SpikingRNN::drive). The drive is
  // read only by the LIF node: it becomes the membrane buffer.
  auto drive = member_input_projection(inputs, input_w, input_b + recurrent_b);
  auto trace = lif_network_members(drive, recurrent_weight(), beta, {readout_w, readout_b, readout_beta}, o.threshold(),
                                   o.slope(), o.reset(), /*drive_is_scratch=*/true);
  return spiking_output(trace.readout_mem, trace.counts, o.sum_readout());
}

std::shared_ptr<Network> SpikingStackImpl::member(int64_t k) {
  TORCH_CHECK(k >= 0 && k < members(), "SpikingStack: no member ", k, " of ", members());
  SpikingRNN m(nullptr);
  {
    // A SpikingRNN draws its initial τ and weights; the copies must not move the generator that
    // training and the members' separate runs read.
    // (Not under the generator's mutex: the constructor's draws take it.)
    auto gen = at::detail::getDefaultCPUGenerator();
    const auto state = gen.get_state();
    m = SpikingRNN(options);
    gen.set_state(state);
  }
  m->to(recurrent_w.device());
  torch::NoGradGuard no_grad;
  m->input->weight.copy_(input_w[k]);
  m->input->bias.copy_(input_b[k]);
  m->recurrent->weight.copy_(recurrent_w[k]);
  m->recurrent->bias.copy_(recurrent_b[k]);
  m->readout->weight.copy_(readout_w[k]);
  m->readout->bias.copy_(readout_b[k]);
  m->beta.copy_(beta[k]);
  m->readout_beta.copy_(readout_beta[k]);
  if (options.dale().any()) {
    auto buffers = m->named_buffers();
    buffers["neuron_sign"].copy_(neuron_sign[k]);
    buffers["recurrent_mask"].copy_(recurrent_mask[k]);
  }
  return m.ptr();
}

void SpikingStackImpl::after_step() {
  if (!options.beta_clip()) return;
  torch::NoGradGuard no_grad;
  beta.clamp_(options.beta_min(), options.beta_max());
}

}  // namespace sernn
