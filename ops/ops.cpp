#include "ops/ops.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "core/archive.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "models/lif.h"
#include "models/lif_sequence.h"

namespace sernn::ops {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

namespace {

using Trace = std::tuple<Tensor, Tensor, Tensor>;
using FwdTrace = std::tuple<Tensor, Tensor, Tensor, Tensor>;
using LifGrads = std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor>;

// sernn's fused CPU loops run on its own thread pool (core/parallel.h), which the `sernn` program
// sizes from train.threads. From Python it follows torch.set_num_threads: every operator reads
// torch's count (two integer reads) and resizes the pool when it changed.
void follow_torch_threads() {
  const int64_t threads = std::max(1, at::get_num_threads());
  if (parallel_threads() != threads) set_parallel_threads(threads);
}

// The allocator policy of the `sernn` program (configure_allocator: large blocks from the heap and
// kept for reuse) from the moment the library is loaded: otherwise every [T, B, N] buffer above
// glibc's 32 MB mmap cap is page-faulted anew on every call (an ensemble of 8 at T = 200, B = 128:
// 7x slower input projections here). SERNN_SYSTEM_MALLOC=1 leaves the process's allocator alone.
const bool kAllocatorConfigured = [] {
  const char* keep = std::getenv("SERNN_SYSTEM_MALLOC");
  if (keep && *keep && std::string(keep) != "0") return false;
  configure_allocator();
  return true;
}();

// The operator `sernn::name` on the dispatcher, typed (looked up once per call site).
template <class Signature>
c10::TypedOperatorHandle<Signature> handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

// Member form and back: the single-network operators run the member (K = 1) functions of models/.
Tensor with_members(const Tensor& t, bool members) { return members ? t : t.unsqueeze(0); }
Tensor without_members(const Tensor& t, bool members) { return (members ? t : t.squeeze(0)).contiguous(); }

// Every tensor of one call on one device (issue 36): the kernels read raw pointers on the first
// one's device, and a CPU loop given a CUDA pointer reads garbage or crashes.
using Named = std::pair<const char*, const Tensor*>;
void check_devices(const char* op, std::initializer_list<Named> tensors) {
  const auto& [first_name, first] = *tensors.begin();
  for (const auto& [name, t] : tensors)
    TORCH_CHECK(!t->defined() || t->device() == first->device(), "sernn.", op, ": ", name, " is on ", t->device(),
                " but ", first_name, " is on ", first->device(), " (one call's tensors must share a device)");
}

// ---------------------------------------------------------------------------------------------
// The fused LIF network: lif_network_fwd and lif_network_bwd are the two halves of the autograd
// node (models/lif_sequence.h: lif_members_forward, lif_members_backward); `members` says whether
// the tensors carry the leading member dimension K.

void check_network(const char* op, const Tensor& drive, const Tensor& weight, const Tensor& beta,
                   const Tensor& readout_weight, const Tensor& readout_bias, const Tensor& readout_beta, int64_t lead) {
  const int64_t d = drive.dim() - lead;
  TORCH_CHECK(d == 3, "sernn.", op, ": drive must be [", lead ? "K, " : "", "T, B, N], got ", drive.sizes());
  TORCH_CHECK(readout_weight.dim() == lead + 2, "sernn.", op, ": readout_weight must be [", lead ? "K, " : "",
              "C, N], got ", readout_weight.sizes());
  const auto K = drive.sizes().slice(0, lead);
  const int64_t N = drive.size(-1), C = readout_weight.size(-2);
  auto shape = [&](std::initializer_list<int64_t> tail) {
    std::vector<int64_t> s(K.begin(), K.end());
    s.insert(s.end(), tail);
    return s;
  };
  auto expect = [&](const char* name, const Tensor& t, std::initializer_list<int64_t> tail) {
    TORCH_CHECK(t.sizes().vec() == shape(tail), "sernn.", op, ": ", name, " must be ", c10::IntArrayRef(shape(tail)),
                " for drive ", drive.sizes(), ", got ", t.sizes());
  };
  expect("weight", weight, {N, N});
  expect("beta", beta, {N});
  expect("readout_weight", readout_weight, {C, N});
  expect("readout_bias", readout_bias, {C});
  expect("readout_beta", readout_beta, {C});
  // The kernels read every tensor through raw pointers on the drive's device.
  check_devices(op, {{"drive", &drive},
                     {"weight", &weight},
                     {"beta", &beta},
                     {"readout_weight", &readout_weight},
                     {"readout_bias", &readout_bias},
                     {"readout_beta", &readout_beta}});
}

const char* network_name(bool members) { return members ? "lif_network_members" : "lif_network"; }

FwdTrace lif_network_fwd(const Tensor& drive, const Tensor& weight, const Tensor& beta, const Tensor& readout_weight,
                         const Tensor& readout_bias, const Tensor& readout_beta, double threshold, std::string reset,
                         bool members) {
  follow_torch_threads();
  torch::NoGradGuard no_grad;
  check_network(network_name(members), drive, weight, beta, readout_weight, readout_bias, readout_beta, members);
  const auto mode = parse_reset(reset);
  const auto dt = drive.scalar_type();
  const auto lead = [&](const Tensor& t) { return with_members(t, members); };
  const auto out =
      lif_members_forward(lead(drive.contiguous()), lead(weight), lead(beta.to(dt)),
                          {lead(readout_weight), lead(readout_bias), lead(readout_beta.to(dt))}, threshold, mode);
  const auto unlead = [&](const Tensor& t) { return without_members(t, members); };
  return {unlead(out.readout_mem), unlead(out.spikes), unlead(out.counts), unlead(out.mem)};
}

LifGrads lif_network_bwd(const Tensor& grad_readout_mem, const Tensor& grad_counts, const Tensor& mem,
                         const Tensor& spikes, const Tensor& weight, const Tensor& beta, const Tensor& readout_weight,
                         const Tensor& readout_beta, double threshold, double slope, std::string reset, bool members) {
  follow_torch_threads();
  torch::NoGradGuard no_grad;
  check_devices("lif_network_bwd", {{"mem", &mem},
                                    {"grad_readout_mem", &grad_readout_mem},
                                    {"grad_counts", &grad_counts},
                                    {"spikes", &spikes},
                                    {"weight", &weight},
                                    {"beta", &beta},
                                    {"readout_weight", &readout_weight},
                                    {"readout_beta", &readout_beta}});
  const auto mode = parse_reset(reset);
  const auto lead = [&](const Tensor& t) { return with_members(t, members); };
  // lif_members_backward overwrites the membranes with the drive's gradient; an operator leaves
  // its arguments alone, so it works on a copy.
  const auto g =
      lif_members_backward(lead(grad_readout_mem), lead(grad_counts), lead(mem).clone(), lead(spikes), lead(weight),
                           lead(beta), lead(readout_weight), lead(readout_beta), threshold, slope, mode);
  const auto unlead = [&](const Tensor& t) { return without_members(t, members); };
  return {unlead(g.drive), unlead(g.weight), unlead(g.beta), unlead(g.readout_weight), unlead(g.readout_bias)};
}

using LifFwdSig = FwdTrace(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           double, std::string, bool);
using LifBwdSig = LifGrads(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                           const Tensor&, const Tensor&, double, double, std::string, bool);

// The autograd node of lif_network(_members) from Python: both halves go through the dispatcher,
// so torch.compile traces them as two operators with fake kernels (python/sernn/_fake.py).
class LifNetworkNode : public torch::autograd::Function<LifNetworkNode> {
 public:
  static tensor_list forward(AutogradContext* ctx, const Tensor& drive, const Tensor& weight, const Tensor& beta,
                             const Tensor& readout_weight, const Tensor& readout_bias, const Tensor& readout_beta,
                             double threshold, double slope, std::string reset, bool members) {
    at::AutoDispatchBelowADInplaceOrView below;
    static const auto fwd = handle<LifFwdSig>("sernn::lif_network_fwd");
    auto [rm, spikes, counts, mem] =
        fwd.call(drive, weight, beta, readout_weight, readout_bias, readout_beta, threshold, reset, members);
    ctx->save_for_backward({mem, spikes, weight, beta, readout_weight, readout_beta});
    ctx->saved_data["threshold"] = threshold;
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["reset"] = reset;
    ctx->saved_data["members"] = members;
    ctx->mark_non_differentiable({spikes});
    return {rm, spikes, counts};
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    // The sernn program's node consumes its membranes (models/lif_sequence.h); the operators keep
    // the same contract, so that a model behaves alike in both.
    TORCH_CHECK(!ctx->saved_data.count("consumed"),
                "lif_network: backward called twice (retain_graph is not supported by the fast LIF path)");
    ctx->saved_data["consumed"] = true;
    static const auto bwd = handle<LifBwdSig>("sernn::lif_network_bwd");
    const auto s = ctx->get_saved_variables();
    auto [gd, gw, gb, grw, grb] = bwd.call(grads[0], grads[2], s[0], s[1], s[2], s[3], s[4], s[5],
                                           ctx->saved_data["threshold"].toDouble(), ctx->saved_data["slope"].toDouble(),
                                           ctx->saved_data["reset"].toStringRef(), ctx->saved_data["members"].toBool());
    return {gd, gw, gb, grw, grb, Tensor(), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

Trace network_kernel(bool members, const Tensor& drive, const Tensor& weight, const Tensor& beta,
                     const Tensor& readout_weight, const Tensor& readout_bias, const Tensor& readout_beta,
                     double threshold, std::string reset) {
  auto [rm, spikes, counts, mem] =
      lif_network_fwd(drive, weight, beta, readout_weight, readout_bias, readout_beta, threshold, reset, members);
  return {rm, spikes, counts};
}

Trace network_autograd(bool members, const Tensor& drive, const Tensor& weight, const Tensor& beta,
                       const Tensor& readout_weight, const Tensor& readout_bias, const Tensor& readout_beta,
                       double threshold, double slope, std::string reset) {
  // β in the drive's dtype (its gradient flows back through the cast); the readout's β is a constant.
  const auto dt = drive.scalar_type();
  auto out = LifNetworkNode::apply(drive, weight, beta.to(dt), readout_weight, readout_bias,
                                   readout_beta.detach().to(dt), threshold, slope, reset, members);
  return {out[0], out[1], out[2]};
}

// ---------------------------------------------------------------------------------------------
// The other differentiable operators: the forward is the C++ function the `sernn` program uses;
// the backward operator runs that function again with autograd on and returns its gradient (its
// own analytic backward), which keeps one source for both and costs one forward more (small next
// to the LIF network's). The input projection's backward skips the forward where its batch is
// sparse (models: member_input_projection_grads).

// Gradients of <grad, f(inputs)> with respect to the inputs marked in `wrt`.
tensor_list recompute_grads(const std::function<Tensor(const tensor_list&)>& f, const tensor_list& inputs,
                            const std::vector<bool>& wrt, const Tensor& grad) {
  follow_torch_threads();
  // Autograd on, and its dispatch keys too: a caller below autograd (a TorchDispatchMode, or the
  // Autograd kernel's redispatch) has them excluded, and the C++ function's ATen ops would then
  // record no graph.
  auto keys = c10::impl::tls_local_dispatch_key_set();
  keys.excluded_ = keys.excluded_ - c10::autograd_dispatch_keyset_with_ADInplaceOrView;
  c10::impl::ForceDispatchKeyGuard with_autograd(keys);
  torch::AutoGradMode grad_on(true);
  tensor_list leaves, targets;
  for (size_t i = 0; i < inputs.size(); ++i) {
    auto leaf = inputs[i].defined() ? inputs[i].detach() : Tensor();
    if (wrt[i]) targets.push_back(leaf.requires_grad_(true));
    leaves.push_back(leaf);
  }
  const auto y = f(leaves);
  auto g = torch::autograd::grad({y}, targets, {grad}, /*retain_graph=*/false, /*create_graph=*/false,
                                 /*allow_unused=*/true);
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i].defined() ? g[i].contiguous() : torch::zeros_like(targets[i]);
  return g;
}

using Params = std::vector<c10::IValue>;

// One autograd node for operator Op (a struct with `forward(a, b, c, params)`: the operator below
// autograd, and `backward(grad, a, b, c, params)`: the gradients of a, b and c from its backward
// operator). Tensors b and c are optional (undefined inside Op when absent); params are the
// operator's other arguments.
template <class Op>
class Recomputed : public torch::autograd::Function<Recomputed<Op>> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& a, const c10::optional<Tensor>& b_opt,
                        const c10::optional<Tensor>& c_opt, Params params) {
    at::AutoDispatchBelowADInplaceOrView below;
    const Tensor b = b_opt.has_value() ? *b_opt : Tensor(), c = c_opt.has_value() ? *c_opt : Tensor();
    ctx->save_for_backward({a, b, c});
    for (size_t i = 0; i < params.size(); ++i) ctx->saved_data[std::to_string(i)] = params[i];
    ctx->saved_data["params"] = static_cast<int64_t>(params.size());
    return Op::forward(a, b, c, params);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto s = ctx->get_saved_variables();
    Params params;
    for (int64_t i = 0; i < ctx->saved_data["params"].toInt(); ++i)
      params.push_back(ctx->saved_data[std::to_string(i)]);
    auto g = Op::backward(grads[0], s[0], s[1], s[2], params);
    g.resize(3);
    g.emplace_back();  // params
    return g;
  }
};

// The projections with their argument checks; differentiable in weight and bias (x gets none).
Tensor projection(bool members, const Tensor& x, const Tensor& weight, const Tensor& bias, double max_density) {
  follow_torch_threads();  // devices: member_input_projection refuses a mix, naming them
  if (!members) {
    TORCH_CHECK(x.dim() == 3, "sernn.input_projection: x must be [T, B, I], got ", x.sizes());
    TORCH_CHECK(weight.dim() == 2 && weight.size(1) == x.size(2), "sernn.input_projection: weight must be [O, ",
                x.size(2), "], got ", weight.sizes());
    TORCH_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "sernn.input_projection: bias must be [",
                weight.size(0), "], got ", bias.sizes());
    return input_projection(x, weight, bias, max_density).contiguous();
  }
  TORCH_CHECK(x.dim() == 3, "sernn.input_projection_members: x must be [T, B, I], got ", x.sizes());
  TORCH_CHECK(weight.dim() == 3 && weight.size(2) == x.size(2),
              "sernn.input_projection_members: weight must be [K, O, ", x.size(2), "], got ", weight.sizes());
  TORCH_CHECK(bias.dim() == 2 && bias.size(0) == weight.size(0) && bias.size(1) == weight.size(1),
              "sernn.input_projection_members: bias must be [", weight.size(0), ", ", weight.size(1), "], got ",
              bias.sizes());
  // One tensor for every member: its nonzeros are found once and read by all (models/lif_sequence.h).
  return member_input_projection(std::vector<Tensor>(weight.size(0), x), weight, bias, max_density).contiguous();
}

template <bool Members>
Tensor projection_kernel(const Tensor& x, const Tensor& weight, const Tensor& bias, double max_density) {
  torch::NoGradGuard no_grad;
  return projection(Members, x, weight, bias, max_density);
}

// The gradients as the projection's autograd node computes them: straight from the sparse form
// where the batch takes the sparse path (no forward again), else by recomputing.
template <bool Members>
std::tuple<Tensor, Tensor> projection_backward(const Tensor& grad, const Tensor& x, const Tensor& weight,
                                               const Tensor& bias, double max_density) {
  follow_torch_threads();
  check_devices(Members ? "input_projection_members_backward" : "input_projection_backward",
                {{"x", &x}, {"grad", &grad}, {"weight", &weight}, {"bias", &bias}});
  {
    torch::NoGradGuard no_grad;
    const auto K = Members ? weight.size(0) : 1;
    if (auto g = member_input_projection_grads(std::vector<Tensor>(K, x), with_members(weight, Members),
                                               with_members(bias, Members), with_members(grad, Members), max_density))
      return {without_members(g->first, Members), without_members(g->second, Members)};
  }
  const auto g =
      recompute_grads([&](const tensor_list& in) { return projection(Members, in[0], in[1], in[2], max_density); },
                      {x, weight, bias}, {false, true, true}, grad);
  return {g[0], g[1]};
}

using ProjectionSig = Tensor(const Tensor&, const Tensor&, const Tensor&, double);
using ProjectionBwdSig = std::tuple<Tensor, Tensor>(const Tensor&, const Tensor&, const Tensor&, const Tensor&, double);

template <bool Members>
struct ProjectionOp {
  static constexpr const char* kName = Members ? "sernn::input_projection_members" : "sernn::input_projection";
  static constexpr const char* kBackward =
      Members ? "sernn::input_projection_members_backward" : "sernn::input_projection_backward";
  static Tensor forward(const Tensor& x, const Tensor& w, const Tensor& b, const Params& p) {
    static const auto op = handle<ProjectionSig>(kName);
    return op.call(x, w, b, p[0].toDouble());
  }
  static tensor_list backward(const Tensor& g, const Tensor& x, const Tensor& w, const Tensor& b, const Params& p) {
    static const auto op = handle<ProjectionBwdSig>(kBackward);
    auto [gw, gb] = op.call(g, x, w, b, p[0].toDouble());
    return {Tensor(), gw, gb};
  }
};

template <bool Members>
Tensor projection_autograd(const Tensor& x, const Tensor& weight, const Tensor& bias, double max_density) {
  return Recomputed<ProjectionOp<Members>>::apply(x, c10::optional<Tensor>(weight), c10::optional<Tensor>(bias),
                                                  Params{max_density});
}

void check_square(const char* op, const Tensor& w) {
  TORCH_CHECK(w.dim() >= 2 && w.size(-1) == w.size(-2), "sernn.", op, ": weight must be [N, N] or [K, N, N], got ",
              w.sizes());
}

Tensor expm_kernel(const Tensor& x) {
  follow_torch_threads();
  torch::NoGradGuard no_grad;
  check_square("expm", x);
  return expm(x).contiguous();
}

Tensor communicability_kernel(const Tensor& w, std::string strength) {
  follow_torch_threads();
  torch::NoGradGuard no_grad;
  check_square("communicability", w);
  return communicability(w, parse_strength(strength)).contiguous();
}

Tensor communicability_detached_kernel(const Tensor& w, std::string strength) {
  follow_torch_threads();
  check_square("communicability_detached", w);
  return communicability_detached(w, parse_strength(strength)).contiguous();
}

WiringPenalty wiring_penalty_of(const Tensor& w, const std::string& kind, const c10::optional<Tensor>& distance,
                                const std::string& grad, const std::string& strength, double comms_factor) {
  check_square("wiring_penalty", w);
  WiringPenaltyOptions o;
  o.kind = kind;
  o.comm_grad = parse_comm_grad(grad);
  o.strength = parse_strength(strength);
  o.comms_factor = comms_factor;
  if (distance.has_value() && distance->defined()) {
    check_devices("wiring_penalty", {{"weight", &w}, {"distance", &*distance}});
    TORCH_CHECK(distance->dim() == 2 && distance->size(0) == w.size(-1) && distance->size(1) == w.size(-1),
                "sernn.wiring_penalty: distance must be [", w.size(-1), ", ", w.size(-1), "], got ", distance->sizes());
    o.distance = *distance;
  }
  return WiringPenalty(o);
}

Tensor wiring_penalty_kernel(const Tensor& w, std::string kind, const c10::optional<Tensor>& distance, std::string grad,
                             std::string strength, double comms_factor) {
  follow_torch_threads();
  torch::NoGradGuard no_grad;
  return wiring_penalty_of(w, kind, distance, grad, strength, comms_factor)(w).contiguous();
}

Tensor resolvent_kernel(const Tensor& w, double alpha) {
  follow_torch_threads();
  torch::NoGradGuard no_grad;
  check_square("resolvent", w);
  return resolvent(w, alpha).contiguous();
}

Tensor resolvent_penalty_kernel(const Tensor& w, double alpha) {
  follow_torch_threads();
  torch::NoGradGuard no_grad;
  check_square("resolvent_penalty", w);
  return ResolventPenalty(alpha)(w).contiguous();
}

// The weight's gradient of a one-weight operator, by its function f(w).
Tensor weight_grad(const std::function<Tensor(const Tensor&)>& f, const Tensor& grad, const Tensor& w) {
  check_devices("backward", {{"weight", &w}, {"grad", &grad}});
  return recompute_grads([&](const tensor_list& in) { return f(in[0]); }, {w}, {true}, grad)[0];
}

Tensor expm_backward_kernel(const Tensor& grad, const Tensor& x) {
  return weight_grad([](const Tensor& w) { return expm(w); }, grad, x);
}

Tensor communicability_backward_kernel(const Tensor& grad, const Tensor& w, std::string strength) {
  const auto s = parse_strength(strength);
  return weight_grad([&](const Tensor& v) { return communicability(v, s); }, grad, w);
}

Tensor wiring_penalty_backward_kernel(const Tensor& grad, const Tensor& w, std::string kind,
                                      const c10::optional<Tensor>& distance, std::string grad_mode,
                                      std::string strength, double comms_factor) {
  const auto penalty = wiring_penalty_of(w, kind, distance, grad_mode, strength, comms_factor);
  return weight_grad([&](const Tensor& v) { return penalty(v); }, grad, w);
}

Tensor resolvent_backward_kernel(const Tensor& grad, const Tensor& w, double alpha) {
  return weight_grad([&](const Tensor& v) { return resolvent(v, alpha); }, grad, w);
}

Tensor resolvent_penalty_backward_kernel(const Tensor& grad, const Tensor& w, double alpha) {
  const ResolventPenalty penalty(alpha);
  return weight_grad([&](const Tensor& v) { return penalty(v); }, grad, w);
}

// The Op structs of Recomputed for the weight operators: each calls its operator and its backward
// operator through the dispatcher, with the other arguments from the node's IValues.
struct ExpmOp {
  static Tensor forward(const Tensor& x, const Tensor&, const Tensor&, const Params&) {
    static const auto op = handle<Tensor(const Tensor&)>("sernn::expm");
    return op.call(x);
  }
  static tensor_list backward(const Tensor& g, const Tensor& x, const Tensor&, const Tensor&, const Params&) {
    static const auto op = handle<Tensor(const Tensor&, const Tensor&)>("sernn::expm_backward");
    return {op.call(g, x)};
  }
};

struct CommunicabilityOp {
  static Tensor forward(const Tensor& w, const Tensor&, const Tensor&, const Params& p) {
    static const auto op = handle<Tensor(const Tensor&, std::string)>("sernn::communicability");
    return op.call(w, p[0].toStringRef());
  }
  static tensor_list backward(const Tensor& g, const Tensor& w, const Tensor&, const Tensor&, const Params& p) {
    static const auto op = handle<Tensor(const Tensor&, const Tensor&, std::string)>("sernn::communicability_backward");
    return {op.call(g, w, p[0].toStringRef())};
  }
};

using WiringSig = Tensor(const Tensor&, std::string, const c10::optional<Tensor>&, std::string, std::string, double);
using WiringBwdSig = Tensor(const Tensor&, const Tensor&, std::string, const c10::optional<Tensor>&, std::string,
                            std::string, double);

c10::optional<Tensor> optional_of(const Tensor& t) { return t.defined() ? c10::optional<Tensor>(t) : c10::nullopt; }

struct WiringPenaltyOp {
  static Tensor forward(const Tensor& w, const Tensor& d, const Tensor&, const Params& p) {
    static const auto op = handle<WiringSig>("sernn::wiring_penalty");
    return op.call(w, p[0].toStringRef(), optional_of(d), p[1].toStringRef(), p[2].toStringRef(), p[3].toDouble());
  }
  static tensor_list backward(const Tensor& g, const Tensor& w, const Tensor& d, const Tensor&, const Params& p) {
    static const auto op = handle<WiringBwdSig>("sernn::wiring_penalty_backward");
    return {op.call(g, w, p[0].toStringRef(), optional_of(d), p[1].toStringRef(), p[2].toStringRef(), p[3].toDouble())};
  }
};

template <bool Penalty>
struct ResolventOp {
  static constexpr const char* kName = Penalty ? "sernn::resolvent_penalty" : "sernn::resolvent";
  static constexpr const char* kBackward = Penalty ? "sernn::resolvent_penalty_backward" : "sernn::resolvent_backward";
  static Tensor forward(const Tensor& w, const Tensor&, const Tensor&, const Params& p) {
    static const auto op = handle<Tensor(const Tensor&, double)>(kName);
    return op.call(w, p[0].toDouble());
  }
  static tensor_list backward(const Tensor& g, const Tensor& w, const Tensor&, const Tensor&, const Params& p) {
    static const auto op = handle<Tensor(const Tensor&, const Tensor&, double)>(kBackward);
    return {op.call(g, w, p[0].toDouble())};
  }
};

Tensor communicability_detached_autograd(const Tensor& w, std::string strength) {
  // No gradient by definition: the operator runs below autograd and its result is a constant.
  at::AutoDispatchBelowADInplaceOrView below;
  static const auto op = handle<Tensor(const Tensor&, std::string)>("sernn::communicability_detached");
  return op.call(w.detach(), strength);
}

// Tensor `name` ("readout.weight": submodule archives, then the tensor) of a saved module.
Tensor read_named(torch::serialize::InputArchive& root, const std::string& name, const std::string& path) {
  std::deque<torch::serialize::InputArchive> chain;
  torch::serialize::InputArchive* node = &root;
  size_t start = 0;
  for (size_t dot; (dot = name.find('.', start)) != std::string::npos; start = dot + 1) {
    chain.emplace_back();
    if (!node->try_read(name.substr(start, dot - start), chain.back()))
      throw InputError(path + ": holds no tensor '" + name + "'");
    node = &chain.back();
  }
  Tensor t;
  if (!node->try_read(name.substr(start), t)) throw InputError(path + ": holds no tensor '" + name + "'");
  check_within_storage(t, path, name);
  return t;
}

// A run's saved model (models/epoch_EEE.pt) read with the checks of the sernn program's readers
// (core/archive.h): a corrupt or crafted file is an error naming it, in bounded memory.
std::vector<Tensor> read_tensors_op(std::string path, std::vector<std::string> names) {
  auto archive = read_archive(path, torch::kCPU, "a model file");
  std::vector<Tensor> out;
  out.reserve(names.size());
  for (const auto& name : names) out.push_back(read_named(archive, name, path));
  return out;
}

}  // namespace

TORCH_LIBRARY(sernn, m) {
  const std::string network_args =
      "(Tensor drive, Tensor weight, Tensor beta, Tensor readout_weight, Tensor readout_bias, Tensor readout_beta, "
      "float threshold=1.0, float slope=25.0, str reset=\"subtract\") -> (Tensor readout_mem, Tensor spikes, "
      "Tensor counts)";
  m.def(("lif_network" + network_args).c_str());
  m.def(("lif_network_members" + network_args).c_str());
  m.def("input_projection(Tensor x, Tensor weight, Tensor bias, float max_density=0.25) -> Tensor");
  m.def("input_projection_members(Tensor x, Tensor weight, Tensor bias, float max_density=0.25) -> Tensor");
  m.def("expm(Tensor x) -> Tensor");
  m.def("communicability(Tensor weight, str strength=\"in\") -> Tensor");
  m.def("communicability_detached(Tensor weight, str strength=\"in\") -> Tensor");
  m.def(
      "wiring_penalty(Tensor weight, str kind=\"sernn\", Tensor? distance=None, str grad=\"full\", "
      "str strength=\"in\", float comms_factor=1.0) -> Tensor");
  m.def("resolvent(Tensor weight, float alpha) -> Tensor");
  m.def("resolvent_penalty(Tensor weight, float alpha) -> Tensor");
  // The halves of the autograd nodes (what torch.compile's graphs hold): not for direct use.
  m.def(
      "lif_network_fwd(Tensor drive, Tensor weight, Tensor beta, Tensor readout_weight, Tensor readout_bias, "
      "Tensor readout_beta, float threshold, str reset, bool members) -> (Tensor readout_mem, Tensor spikes, "
      "Tensor counts, Tensor mem)");
  m.def(
      "lif_network_bwd(Tensor grad_readout_mem, Tensor grad_counts, Tensor mem, Tensor spikes, Tensor weight, "
      "Tensor beta, Tensor readout_weight, Tensor readout_beta, float threshold, float slope, str reset, "
      "bool members) -> (Tensor grad_drive, Tensor grad_weight, Tensor grad_beta, Tensor grad_readout_weight, "
      "Tensor grad_readout_bias)");
  m.def(
      "input_projection_backward(Tensor grad, Tensor x, Tensor weight, Tensor bias, float max_density) -> "
      "(Tensor grad_weight, Tensor grad_bias)");
  m.def(
      "input_projection_members_backward(Tensor grad, Tensor x, Tensor weight, Tensor bias, float max_density) -> "
      "(Tensor grad_weight, Tensor grad_bias)");
  m.def("expm_backward(Tensor grad, Tensor x) -> Tensor");
  m.def("communicability_backward(Tensor grad, Tensor weight, str strength) -> Tensor");
  m.def(
      "wiring_penalty_backward(Tensor grad, Tensor weight, str kind, Tensor? distance, str grad_mode, str strength, "
      "float comms_factor) -> Tensor");
  m.def("resolvent_backward(Tensor grad, Tensor weight, float alpha) -> Tensor");
  m.def("resolvent_penalty_backward(Tensor grad, Tensor weight, float alpha) -> Tensor");
  // Host functions (no tensor arguments): composite, outside torch.compile's graphs.
  m.def("read_tensors(str path, str[] names) -> Tensor[]", &read_tensors_op);
  m.def("pool_threads() -> int", [] { return parallel_threads(); });
}

// The computation, for every device: each kernel picks the CPU loop or the CUDA kernel from the
// tensors' device (models/, regularizers/). Fake kernels for torch.compile: python/sernn/_fake.py.
TORCH_LIBRARY_IMPL(sernn, CompositeExplicitAutograd, m) {
  m.impl("lif_network", [](const Tensor& d, const Tensor& w, const Tensor& b, const Tensor& rw, const Tensor& rb,
                           const Tensor& rbeta, double thr, double,
                           std::string reset) { return network_kernel(false, d, w, b, rw, rb, rbeta, thr, reset); });
  m.impl("lif_network_members", [](const Tensor& d, const Tensor& w, const Tensor& b, const Tensor& rw,
                                   const Tensor& rb, const Tensor& rbeta, double thr, double, std::string reset) {
    return network_kernel(true, d, w, b, rw, rb, rbeta, thr, reset);
  });
  m.impl("lif_network_fwd", &lif_network_fwd);
  m.impl("lif_network_bwd", &lif_network_bwd);
  m.impl("input_projection", &projection_kernel<false>);
  m.impl("input_projection_members", &projection_kernel<true>);
  m.impl("input_projection_backward", &projection_backward<false>);
  m.impl("input_projection_members_backward", &projection_backward<true>);
  m.impl("expm", &expm_kernel);
  m.impl("expm_backward", &expm_backward_kernel);
  m.impl("communicability", &communicability_kernel);
  m.impl("communicability_backward", &communicability_backward_kernel);
  m.impl("communicability_detached", &communicability_detached_kernel);
  m.impl("wiring_penalty", &wiring_penalty_kernel);
  m.impl("wiring_penalty_backward", &wiring_penalty_backward_kernel);
  m.impl("resolvent", &resolvent_kernel);
  m.impl("resolvent_backward", &resolvent_backward_kernel);
  m.impl("resolvent_penalty", &resolvent_penalty_kernel);
  m.impl("resolvent_penalty_backward", &resolvent_penalty_backward_kernel);
}

// Autograd: one node per call whose halves are operators (the backward ones above).
TORCH_LIBRARY_IMPL(sernn, Autograd, m) {
  m.impl("lif_network", [](const Tensor& d, const Tensor& w, const Tensor& b, const Tensor& rw, const Tensor& rb,
                           const Tensor& rbeta, double thr, double slope, std::string reset) {
    return network_autograd(false, d, w, b, rw, rb, rbeta, thr, slope, reset);
  });
  m.impl("lif_network_members", [](const Tensor& d, const Tensor& w, const Tensor& b, const Tensor& rw,
                                   const Tensor& rb, const Tensor& rbeta, double thr, double slope, std::string reset) {
    return network_autograd(true, d, w, b, rw, rb, rbeta, thr, slope, reset);
  });
  m.impl("input_projection", &projection_autograd<false>);
  m.impl("input_projection_members", &projection_autograd<true>);
  m.impl("expm", [](const Tensor& x) { return Recomputed<ExpmOp>::apply(x, c10::nullopt, c10::nullopt, Params{}); });
  m.impl("communicability", [](const Tensor& w, std::string strength) {
    return Recomputed<CommunicabilityOp>::apply(w, c10::nullopt, c10::nullopt, Params{strength});
  });
  m.impl("communicability_detached", &communicability_detached_autograd);
  m.impl("wiring_penalty", [](const Tensor& w, std::string kind, const c10::optional<Tensor>& distance,
                              std::string grad, std::string strength, double comms_factor) {
    return Recomputed<WiringPenaltyOp>::apply(w, distance, c10::nullopt, Params{kind, grad, strength, comms_factor});
  });
  m.impl("resolvent", [](const Tensor& w, double alpha) {
    return Recomputed<ResolventOp<false>>::apply(w, c10::nullopt, c10::nullopt, Params{alpha});
  });
  m.impl("resolvent_penalty", [](const Tensor& w, double alpha) {
    return Recomputed<ResolventOp<true>>::apply(w, c10::nullopt, c10::nullopt, Params{alpha});
  });
}

}  // namespace sernn::ops
