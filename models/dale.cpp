#include "models/dale.h"

#include <cmath>

#include "core/errors.h"

namespace sernn {

DaleMask make_dale_mask(int64_t n, const DaleOptions& o) {
  if (!(o.exc_fraction > 0.0 && o.exc_fraction < 1.0))
    throw InputError("key 'model.exc_fraction': must lie strictly between 0 and 1");
  if (!(o.connectivity > 0.0 && o.connectivity <= 1.0))
    throw InputError("key 'model.connectivity': must lie in (0, 1]");
  DaleMask m;
  m.sign = torch::ones({n});
  if (o.enabled) {
    const int64_t n_exc = std::clamp<int64_t>(std::llround(o.exc_fraction * static_cast<double>(n)), 1, n - 1);
    // E and I neurons interleave in space: a random permutation orders the neurons; its first
    // n_exc are excitatory and the rest, positions n_exc to n - 1, inhibitory.
    const auto perm = torch::randperm(n, torch::kInt64);
    const auto inhibitory = perm.slice(/*dim=*/0, /*start=*/n_exc, /*end=*/n);
    m.sign.index_put_({inhibitory}, -1.0);
  }
  auto connected = torch::ones({n, n});
  if (o.connectivity < 1.0) {
    connected = (torch::rand({n, n}) < o.connectivity).to(torch::kFloat32);
    connected.fill_diagonal_(1.0);
  }
  m.mask = connected * m.sign.unsqueeze(0);
  return m;
}

torch::Tensor masked_weight(const torch::Tensor& raw, const DaleMask& m, const DaleOptions& o) {
  if (!o.any()) return raw;
  return (o.enabled ? raw.abs() : raw) * m.mask;
}

DaleMask register_dale(torch::nn::Module& module, torch::Tensor& raw, const DaleOptions& o) {
  const int64_t n = raw.size(0);
  if (!o.any()) return {torch::ones({n}), torch::Tensor()};
  auto m = make_dale_mask(n, o);
  init_dale_weight_(raw, m, o);
  return {module.register_buffer("neuron_sign", m.sign), module.register_buffer("recurrent_mask", m.mask)};
}

void init_dale_weight_(torch::Tensor& raw, const DaleMask& m, const DaleOptions& o) {
  torch::NoGradGuard no_grad;
  const int64_t n = raw.size(0);
  auto mag = torch::randn({n, n}).abs() * m.mask.abs();
  if (o.enabled) {
    // Exact balance, row by row (Rajan & Abbott 2006): each neuron's inhibitory weights are
    // scaled so that they cancel its excitatory ones. Balance only on average would leave
    // eigenvalue outliers outside the circular-law disc.
    const auto exc = m.sign.gt(0).to(torch::kFloat32).unsqueeze(0), inh = 1.0 - exc;
    const auto e_sum = (mag * exc).sum(1, true), i_sum = (mag * inh).sum(1, true);
    const auto ratio =
        torch::where(i_sum.gt(0).logical_and(e_sum.gt(0)), e_sum / i_sum.clamp_min(1e-30), torch::ones_like(i_sum));
    mag = mag * (exc + inh * ratio);
  }
  // Circular law for independent entries with population-wise means: the radius is
  // sqrt(N * mean_j Var_i(w_ij)); the E/I mean structure is balanced, so it adds no outlier.
  const double sd = std::sqrt(mag.mul(m.mask.sign()).var(0).mean().item<double>());
  const double scale = sd > 0 ? o.spectral_radius / (std::sqrt(static_cast<double>(n)) * sd) : 1.0;
  if (o.enabled) raw.copy_(mag * scale);
  else raw.mul_(m.mask.abs());  // plain sparse network: keep the model's own init, drop absent synapses
}

}  // namespace sernn
