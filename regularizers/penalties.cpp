#include "regularizers/penalties.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/errors.h"

namespace sernn {

namespace {

/// The wiring family, A_ij times D_ij and/or C_ij: the one list of its kinds.
struct WiringKind {
  const char* name;
  bool distance, comm;
};
constexpr WiringKind kWiringKinds[] = {
    {"l1", false, false}, {"space", true, false}, {"comm", false, true}, {"sernn", true, true}};

const WiringKind* find_wiring(const std::string& name) {
  for (const auto& k : kWiringKinds)
    if (name == k.name) return &k;
  return nullptr;
}

}  // namespace

WiringPenalty::WiringPenalty(WiringPenaltyOptions options) : options_(std::move(options)) {
  const auto* k = find_wiring(options_.kind);
  TORCH_CHECK(k, "WiringPenalty: unknown kind '", options_.kind, "'");
  uses_distance_ = k->distance;
  uses_comm_ = k->comm;
  TORCH_CHECK(!uses_distance_ || options_.distance.defined(), "penalty '", options_.kind, "' needs a distance matrix");
}

const torch::Tensor& WiringPenalty::distance_like(const torch::Tensor& w) const {
  if (!distance_cache_.defined() || distance_cache_.device() != w.device() || distance_cache_.dtype() != w.dtype())
    distance_cache_ = options_.distance.to(w.device(), w.scalar_type());
  TORCH_CHECK(distance_cache_.size(-1) == w.size(-1), "distance matrix is ", distance_cache_.sizes(),
              " but the weights are ", w.sizes());
  return distance_cache_;
}

torch::Tensor WiringPenalty::comm_term(const torch::Tensor& w) const {
  torch::Tensor c;
  switch (options_.comm_grad) {
    case CommGrad::Full: c = communicability(w, options_.strength); break;
    case CommGrad::Detached: c = communicability_detached(w, options_.strength); break;
    case CommGrad::AutogradMatrixExp: c = communicability_autograd_reference(w, options_.strength); break;
  }
  // Self-connections cost nothing: the diagonal is 0 (as the references).
  auto off = 1.0 - torch::eye(w.size(-1), w.options());
  if (options_.comms_factor == 1.0) return c * off;
  // Where C is 0 (the diagonal once zeroed; pairs no path joins, so A is 0 there too) the term is 0
  // for every power, but pow's derivative at 0 is infinite below a power of 1 and times 0 gives NaN
  // gradients: those entries read 1 inside the power (no gradient) and are zeroed after it.
  const auto keep = (c > 0) * off;
  return torch::where(keep > 0, c, torch::ones_like(c)).pow(options_.comms_factor) * keep;
}

torch::Tensor WiringPenalty::operator()(const torch::Tensor& w) const {
  auto term = w.abs();
  if (uses_distance_) term = term * distance_like(w);
  if (uses_comm_) term = term * comm_term(w);
  return term.sum({-2, -1});
}

torch::Tensor row_normalized_abs(const torch::Tensor& w) {
  auto a = w.abs();
  auto s = a.sum(-1, /*keepdim=*/true);
  auto safe = torch::where(s > 0, s, torch::ones_like(s));
  return a / safe;  // zero rows stay zero
}

torch::Tensor resolvent(const torch::Tensor& w, double alpha) {
  auto eye = torch::eye(w.size(-1), w.options());
  auto lhs = eye - alpha * row_normalized_abs(w);
  // linalg_solve_ex without its error check: linalg_solve reads the LAPACK info on the host
  // (a sync on a GPU every step, issue 25). A singular system gives non-finite entries, which the
  // Trainer's NaN guard reports.
  return std::get<0>(torch::linalg_solve_ex(lhs, eye.expand(lhs.sizes()).contiguous()));
}

torch::Tensor resolvent_hops(const torch::Tensor& w, double alpha, int64_t max_hops) {
  auto a = alpha * row_normalized_abs(w);
  std::vector<torch::Tensor> hops;
  auto p = a;
  for (int64_t k = 1; k <= max_hops; ++k) {
    hops.push_back(p);
    p = torch::matmul(p, a);
  }
  return torch::stack(hops);
}

torch::Tensor ResolventPenalty::operator()(const torch::Tensor& w) const {
  auto r = resolvent(w, alpha_) * (1.0 - torch::eye(w.size(-1), w.options()));
  return (w.abs() * r).sum({-2, -1});
}

const std::vector<std::string>& wiring_penalty_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& k : kWiringKinds) n.push_back(k.name);
    return n;
  }();
  return names;
}

bool wiring_penalty_uses_distance(const std::string& kind) {
  const auto* k = find_wiring(kind);
  return k && k->distance;
}

Strength parse_strength(const std::string& name) {
  if (name == "in") return Strength::In;
  if (name == "out") return Strength::Out;
  throw InputError("strength must be \"in\" or \"out\", got \"" + name + "\"");
}

CommGrad parse_comm_grad(const std::string& name) {
  if (name == "full") return CommGrad::Full;
  if (name == "detached") return CommGrad::Detached;
  if (name == "autograd") return CommGrad::AutogradMatrixExp;
  throw InputError("grad must be \"full\", \"detached\" or \"autograd\", got \"" + name + "\"");
}

const std::vector<std::string>& penalty_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n{"none"};
    for (const auto& k : wiring_penalty_names()) n.push_back(k);
    n.push_back("resolvent");
    return n;
  }();
  return names;
}

std::shared_ptr<Penalty> make_penalty(const std::string& kind, WiringPenaltyOptions options, double resolvent_alpha) {
  if (kind == "none") return nullptr;
  if (kind == "resolvent") return std::make_shared<ResolventPenalty>(resolvent_alpha);
  if (find_wiring(kind)) {
    options.kind = kind;
    return std::make_shared<WiringPenalty>(std::move(options));
  }
  throw InputError(fmt::format("unknown regularizer '{}' (known: {})", kind, fmt::join(penalty_names(), ", ")));
}

torch::Tensor activity_cost(const torch::Tensor& a, const std::string& kind, double low, double high) {
  TORCH_CHECK(a.dim() == 2 || a.dim() == 3, "activity_cost: activity [B, N] or [K, B, N] expected, got ", a.sizes());
  if (kind == "l2") return a.pow(2).sum(-1).mean(-1);
  if (kind == "band") return (torch::relu(low - a).pow(2) + torch::relu(a - high).pow(2)).sum(-1).mean(-1);
  throw InputError(fmt::format("key 'activity.kind': unknown cost '{}' (known: none, l2, band)", kind));
}

}  // namespace sernn
