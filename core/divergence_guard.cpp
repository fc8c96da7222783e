#include "core/divergence_guard.h"

#include <fmt/format.h>

namespace sernn {

DivergenceGuard::DivergenceGuard(std::shared_ptr<Network> net, torch::Device device)
    : net_(std::move(net)), members_(net_->members()), device_(device), owners_(net_->parameter_owners()) {
  reset(std::vector<bool>(members_, false));
}

void DivergenceGuard::reset(const std::vector<bool>& frozen_members) {
  frozen_ = frozen_members;
  const auto on = torch::TensorOptions().device(device_);
  std::vector<uint8_t> frozen(frozen_.begin(), frozen_.end());
  frozen_dev_ = torch::tensor(frozen, torch::kUInt8).to(torch::kBool).to(device_);
  fault_code_ = torch::zeros({members_}, on.dtype(torch::kInt64));
  fault_batch_ = torch::zeros({members_}, on.dtype(torch::kInt64));
  no_fault_ = torch::zeros({members_}, on.dtype(torch::kBool));
  member_mask_ = torch::eye(members_, on.dtype(torch::kBool));
}

namespace {
constexpr int64_t kLossFaults = 3;  // codes 1, 2, 3 (core/divergence_guard.h)
}  // namespace

torch::Tensor DivergenceGuard::fault_codes(const torch::Tensor& losses, bool after_step) const {
  torch::NoGradGuard no_grad;
  const auto params = net_->parameters();
  std::vector<torch::Tensor> causes;  // [K] bool each, in code order
  if (!after_step) {
    const auto l = losses.detach().reshape({members_});
    causes = {torch::isnan(l), torch::isposinf(l), torch::isneginf(l)};
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const auto t = after_step ? params[i] : params[i].grad();
    if (!t.defined()) causes.push_back(no_fault_);
    else if (owners_[i] < 0) causes.push_back(torch::isfinite(t).reshape({members_, -1}).all(1).logical_not());
    else causes.push_back(member_mask_[owners_[i]].logical_and(torch::isfinite(t).all().logical_not()));
  }
  const auto all = torch::stack(causes);  // [causes, K]
  const int64_t first_code = after_step ? 1 + kLossFaults + static_cast<int64_t>(params.size()) : 1;
  return (all.to(torch::kInt32).argmax(0) + first_code).mul_(all.any(0));
}

std::string DivergenceGuard::fault_text(int64_t code) const {
  if (code <= kLossFaults) return code == 1 ? "loss is nan" : code == 2 ? "loss is inf" : "loss is -inf";
  const auto named = net_->named_parameters();
  const auto P = static_cast<int64_t>(named.size());
  const int64_t i = code - 1 - kLossFaults;
  if (i < P) return fmt::format("gradient of '{}' is not finite", named[i].key());
  return fmt::format("parameter '{}' is not finite after the optimiser step", named[i - P].key());
}

void DivergenceGuard::mark(const torch::Tensor& losses, int64_t global, bool after_step) {
  torch::NoGradGuard no_grad;
  const auto code = fault_codes(losses, after_step);
  const auto fresh = code.gt(0).logical_and_(frozen_dev_.logical_not());
  fault_code_ = torch::where(fresh, code, fault_code_);
  fault_batch_.masked_fill_(fresh, global);
  frozen_dev_.logical_or_(fresh);
}

torch::Tensor DivergenceGuard::frozen_mask(size_t i, int64_t dim) const {
  if (owners_[i] >= 0) return frozen_dev_[owners_[i]];
  std::vector<int64_t> shape(dim, 1);
  shape[0] = members_;
  return frozen_dev_.view(shape);
}

void DivergenceGuard::before_step(const torch::Tensor& losses, int64_t global) {
  mark(losses, global, /*after_step=*/false);
  torch::NoGradGuard no_grad;
  const auto params = net_->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    auto g = params[i].grad();
    if (g.defined()) g.masked_fill_(frozen_mask(i, g.dim()), 0.0);
  }
}

void DivergenceGuard::keep_weights() {
  before_step_.clear();
  for (const auto& p : net_->parameters()) before_step_.push_back(p.detach().clone());
}

void DivergenceGuard::after_step(const torch::Tensor& losses, int64_t global) {
  mark(losses, global, /*after_step=*/true);
  torch::NoGradGuard no_grad;
  auto params = net_->parameters();
  for (size_t i = 0; i < params.size(); ++i)
    params[i].copy_(torch::where(frozen_mask(i, params[i].dim()), before_step_[i], params[i]));
}

std::vector<DivergenceGuard::Fault> DivergenceGuard::faults(const std::vector<int64_t>& marks) const {
  std::vector<Fault> out;
  for (int64_t k = 0; k < members_; ++k)
    if (!frozen_[k] && marks[k] != 0) out.push_back({k, marks[members_ + k], fault_text(marks[k])});
  return out;
}

}  // namespace sernn
