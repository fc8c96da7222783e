#include "analysis/dynamics.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {
namespace {

using torch::indexing::Slice;

torch::Tensor phi(const std::string& act, const torch::Tensor& x) {
  if (act == "relu") return torch::relu(x);
  if (act == "tanh") return torch::tanh(x);
  return x;
}

torch::Tensor phi_prime(const std::string& act, const torch::Tensor& x) {
  if (act == "relu") return x.gt(0).to(x.scalar_type());
  if (act == "tanh") return 1.0 - torch::tanh(x).pow(2);
  return torch::ones_like(x);
}

RateDynamics as_double(const RateDynamics& d) {
  const auto n = d.w.size(0);
  TORCH_CHECK(d.w.dim() == 2 && d.w.size(1) == n && d.bias.numel() == n && d.tau.numel() == n,
              "RateDynamics: w [N, N], bias [N], tau [N] expected, got ", d.w.sizes(), ", ", d.bias.sizes(), ", ",
              d.tau.sizes());
  if (d.activation != "relu" && d.activation != "tanh" && d.activation != "linear")
    throw InputError(fmt::format("dynamics: unknown activation '{}' (known: relu, tanh, linear)", d.activation));
  RateDynamics r = d;
  auto f64 = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64).contiguous(); };
  r.w = f64(d.w), r.bias = f64(d.bias).reshape({n}), r.tau = f64(d.tau).reshape({n});
  r.sign = d.sign.defined() ? f64(d.sign).reshape({n}) : torch::ones({n}, torch::kFloat64);
  return r;
}

// phi'(x*) at one state h [N], x* = W h + b.
torch::Tensor gains(const RateDynamics& d, const torch::Tensor& h) {
  return phi_prime(d.activation, torch::matmul(d.w, h.to(torch::kFloat64)) + d.bias);
}

// Batched J for states H [K, N] -> [K, N, N].
torch::Tensor jacobians(const RateDynamics& d, const torch::Tensor& h) {
  const auto n = d.w.size(0);
  const auto g = phi_prime(d.activation, torch::matmul(h, d.w.t()) + d.bias);  // [K, N]
  const auto eye = torch::eye(n, d.w.options());
  return (g.unsqueeze(2) * d.w.unsqueeze(0) - eye) / d.tau.view({1, n, 1});
}

torch::Tensor sorted_eigenvalues(const torch::Tensor& j) {
  const auto ev = torch::linalg_eigvals(j);
  return ev.index_select(0, torch::argsort(torch::real(ev), 0, /*descending=*/true));
}

double stat_mean(const torch::Tensor& t) { return t.numel() ? t.mean().item<double>() : 0.0; }
double stat_var(const torch::Tensor& t) { return t.numel() > 1 ? t.var().item<double>() : 0.0; }

}  // namespace

torch::Tensor speed_field(const RateDynamics& d0, const torch::Tensor& h) {
  const auto d = as_double(d0);
  const auto hh = h.to(torch::kFloat64);
  return (-hh + phi(d.activation, torch::matmul(hh, d.w.t()) + d.bias)) / d.tau;
}

torch::Tensor rate_jacobian(const RateDynamics& d0, const torch::Tensor& h) {
  const auto d = as_double(d0);
  return jacobians(d, h.to(torch::kFloat64).reshape({1, -1}))[0];
}

std::vector<FixedPoint> find_fixed_points(const RateDynamics& d0, const FixedPointOptions& o,
                                          const torch::Tensor& starts) {
  torch::NoGradGuard no_grad;
  const auto d = as_double(d0);
  const int64_t n = d.w.size(0);
  auto gen = at::detail::createCPUGenerator(o.seed);
  auto h = torch::randn({std::max<int64_t>(0, o.initial_states), n}, gen, torch::kFloat64) * o.init_scale;
  if (starts.defined() && starts.numel()) h = torch::cat({starts.to(torch::kFloat64).reshape({-1, n}), h});
  if (h.size(0) == 0) return {};
  auto q_of = [&](const torch::Tensor& x) {
    const auto f = (-x + phi(d.activation, torch::matmul(x, d.w.t()) + d.bias)) / d.tau;
    return std::make_pair(f, 0.5 * f.pow(2).sum(1));
  };
  auto [f, q] = q_of(h);
  const auto eye = torch::eye(n, torch::kFloat64);
  for (int64_t it = 0; it < o.iterations && q.max().item<double>() >= o.tolerance; ++it) {
    // Levenberg-Marquardt step on q: (J^T J + lambda I) dx = -J^T F; lambda keeps it solvable.
    const auto j = jacobians(d, h);
    const auto jt = j.transpose(1, 2);
    const auto step =
        torch::linalg_solve(torch::matmul(jt, j) + 1e-12 * eye, -torch::matmul(jt, f.unsqueeze(2))).squeeze(2);
    // Backtracking: halve the step per start until q decreases.
    auto accepted = q.lt(o.tolerance);
    auto h_new = h.clone();
    double s = 1.0;
    for (int k = 0; k < 30 && !accepted.all().item<bool>(); ++k, s *= 0.5) {
      const auto cand = h + s * step;
      const auto qc = q_of(cand).second;
      const auto take = qc.lt(q).logical_and(accepted.logical_not());
      h_new = torch::where(take.unsqueeze(1), cand, h_new);
      accepted = accepted.logical_or(take);
    }
    h = h_new;
    std::tie(f, q) = q_of(h);
  }
  std::vector<FixedPoint> out;
  for (int64_t k = 0; k < h.size(0); ++k) {
    const double qk = q[k].item<double>();
    if (!(qk < o.tolerance)) continue;
    bool merged = false;
    for (auto& fp : out)
      if ((fp.h - h[k]).abs().max().item<double>() < o.merge_distance) {
        ++fp.hits;
        merged = true;
        break;
      }
    if (merged) continue;
    FixedPoint fp;
    fp.h = h[k].clone();
    fp.q = qk;
    fp.hits = 1;
    fp.eigenvalues = sorted_eigenvalues(jacobians(d, fp.h.unsqueeze(0))[0]);
    fp.spectral_edge = torch::real(fp.eigenvalues[0]).item<double>();
    fp.stable = fp.spectral_edge < 0;
    out.push_back(std::move(fp));
  }
  std::stable_sort(out.begin(), out.end(), [](const FixedPoint& a, const FixedPoint& b) { return a.hits > b.hits; });
  return out;
}

JacobianStats jacobian_stats(const RateDynamics& d0, const torch::Tensor& h_star) {
  const auto d = as_double(d0);
  const int64_t n = d.w.size(0);
  JacobianStats s;
  const auto off = 1.0 - torch::eye(n, torch::kFloat64);
  const auto present = d.w.ne(0).to(torch::kFloat64) * off;
  s.density = n > 1 ? present.sum().item<double>() / static_cast<double>(n * (n - 1)) : 1.0;
  const auto exc = d.sign.gt(0);
  s.exc_fraction = exc.to(torch::kFloat64).mean().item<double>();
  const auto col_exc = exc.unsqueeze(0).expand({n, n});
  const auto pres = present.to(torch::kBool);
  const auto we = d.w.masked_select(pres.logical_and(col_exc)),
             wi = d.w.masked_select(pres.logical_and(col_exc.logical_not()));
  s.mean_exc = stat_mean(we), s.var_exc = stat_var(we), s.mean_inh = stat_mean(wi), s.var_inh = stat_var(wi);
  const auto g = gains(d, h_star);
  s.gain_mean = g.mean().item<double>(), s.gain_std = n > 1 ? g.std().item<double>() : 0.0;
  s.tau_mean = d.tau.mean().item<double>(), s.tau_std = n > 1 ? d.tau.std().item<double>() : 0.0;
  return s;
}

torch::Tensor random_ei_matrix(int64_t n, double exc_fraction, double mean_exc, double sd_exc, double mean_inh,
                               double sd_inh, double density, bool balance, torch::Generator& gen) {
  const auto n_exc = std::clamp<int64_t>(std::llround(exc_fraction * static_cast<double>(n)), 0, n);
  auto is_exc = torch::zeros({n}, torch::kFloat64);
  is_exc.index_put_({Slice(0, n_exc)}, 1.0);
  const auto mean = (is_exc * mean_exc + (1 - is_exc) * mean_inh).unsqueeze(0);
  const auto sd = (is_exc * sd_exc + (1 - is_exc) * sd_inh).unsqueeze(0);
  auto present = density < 1.0 ? torch::rand({n, n}, gen, torch::kFloat64).lt(density).to(torch::kFloat64)
                               : torch::ones({n, n}, torch::kFloat64);
  auto noise = torch::randn({n, n}, gen, torch::kFloat64) * sd * present;
  if (balance) {
    const auto cnt = present.sum(1, true).clamp_min(1.0);
    noise = noise - present * (noise.sum(1, true) / cnt);
  }
  return present * mean + noise;
}

nlohmann::json dynamics_report(const RateDynamics& d0, const FixedPointOptions& o, int64_t ensemble) {
  torch::NoGradGuard no_grad;
  const auto d = as_double(d0);
  const int64_t n = d.w.size(0);
  const auto fps = find_fixed_points(d, o);
  nlohmann::json j;
  j["activation"] = d.activation;
  j["starts"] = o.initial_states;
  j["fixed_points"] = nlohmann::json::array();
  for (const auto& fp : fps) {
    std::vector<double> h(fp.h.data_ptr<double>(), fp.h.data_ptr<double>() + n);
    j["fixed_points"].push_back({{"hits", fp.hits},
                                 {"q", fp.q},
                                 {"norm", fp.h.norm().item<double>()},
                                 {"spectral_edge", fp.spectral_edge},
                                 {"stable", fp.stable},
                                 {"h", h}});
  }
  if (fps.empty()) {
    j["jacobian_eigenvalues"] = nullptr;
    j["spectral_edge"] = nullptr;
    j["stable"] = nullptr;
    return j;
  }
  const auto& top = fps.front();
  auto ev = nlohmann::json::array();
  const auto re = torch::real(top.eigenvalues).contiguous(), im = torch::imag(top.eigenvalues).contiguous();
  for (int64_t i = 0; i < n; ++i) ev.push_back({re[i].item<double>(), im[i].item<double>()});
  j["jacobian_eigenvalues"] = ev;
  j["spectral_edge"] = top.spectral_edge;
  j["stable"] = top.stable;
  const auto s = jacobian_stats(d, top.h);
  j["jacobian_stats"] = {{"density", s.density},     {"exc_fraction", s.exc_fraction}, {"mean_exc", s.mean_exc},
                         {"mean_inh", s.mean_inh},   {"var_exc", s.var_exc},           {"var_inh", s.var_inh},
                         {"gain_mean", s.gain_mean}, {"gain_std", s.gain_std},         {"tau_mean", s.tau_mean},
                         {"tau_std", s.tau_std}};
  // A random ensemble with the same statistics: same density, E/I share, per-population means and
  // variances of W, and the trained gains and timescales shuffled across neurons.
  if (ensemble > 0) {
    auto gen = at::detail::createCPUGenerator(o.seed + 7);
    const auto g = gains(d, top.h);
    std::vector<double> edges;
    for (int64_t k = 0; k < ensemble; ++k) {
      const auto w = random_ei_matrix(n, s.exc_fraction, s.mean_exc, std::sqrt(s.var_exc), s.mean_inh,
                                      std::sqrt(s.var_inh), s.density, false, gen);
      const auto gp = g.index_select(0, torch::randperm(n, gen, torch::kInt64));
      const auto tp = d.tau.index_select(0, torch::randperm(n, gen, torch::kInt64));
      const auto jr = (gp.unsqueeze(1) * w - torch::eye(n, torch::kFloat64)) / tp.unsqueeze(1);
      edges.push_back(torch::real(torch::linalg_eigvals(jr)).max().item<double>());
    }
    const auto e = torch::tensor(edges, torch::kFloat64);
    j["random_ensemble"] = {{"draws", ensemble},
                            {"spectral_edge_mean", e.mean().item<double>()},
                            {"spectral_edge_std", ensemble > 1 ? e.std().item<double>() : 0.0}};
  }
  return j;
}

}  // namespace sernn
