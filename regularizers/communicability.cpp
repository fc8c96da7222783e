#include "regularizers/communicability.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/graphed.h"
#include "core/parallel.h"

namespace sernn {
namespace {

using torch::Tensor;
using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// Taylor coefficients 1/k!, k = 0..16.
double inv_factorial(int k) {
  double f = 1.0;
  for (int i = 2; i <= k; ++i) f *= i;
  return 1.0 / f;
}

/// a @ b: on the CPU in fixed row blocks on sernn's pool (core/parallel.h), so that the penalty
/// of an ensemble's member is the same bits as its network's alone, at any thread count.
Tensor mat_product(const Tensor& a, const Tensor& b) { return blocked_matmul(a, b); }

/// Intermediates of one expm evaluation, kept for the adjoint.
struct ExpmTrace {
  Tensor x, x2, x3, x4;         // scaled argument and its powers
  Tensor z1, z2, z3;            // Paterson–Stockmeyer Horner steps in X^4
  std::vector<Tensor> squares;  // P_0 .. P_{L-1} (each squared once, where active)
  double scale = 1.0;           // X = M * scale, scale = 2^-s (host squaring)
  Tensor scale_t;               // 2^-s [..., 1, 1] per matrix (device squaring, or s differs), else undefined
  Tensor active;                // [L, ..., 1, 1] bool: squaring i happens; undefined: all do
};

Tensor eye_like(const Tensor& m) {
  auto eye = torch::eye(m.size(-1), m.options());
  return m.dim() == 2 ? eye : eye.expand(m.sizes());
}

/// B_i = c_{4i} I + c_{4i+1} X + c_{4i+2} X^2 + c_{4i+3} X^3.
Tensor block(int i, const Tensor& eye, const Tensor& x, const Tensor& x2, const Tensor& x3) {
  const int k = 4 * i;
  return eye * inv_factorial(k) + x * inv_factorial(k + 1) + x2 * inv_factorial(k + 2) + x3 * inv_factorial(k + 3);
}

// The scaled argument's bound: ||X||_1 <= theta (truncation error of the degree-16 Taylor
// polynomial below 3e-15 / 2e-20 relative).
double expm_theta(const Tensor& m) { return m.scalar_type() == torch::kFloat64 ? 0.5 : 1.0; }

// ||M_k||_1 (max column sum) of each matrix: the batch's shape (0-dim for one matrix).
Tensor one_norms(const Tensor& m) { return m.abs().sum(-2).amax(-1); }

bool device_squaring(const Tensor& m, Squaring squaring) {
  return squaring == Squaring::Device || (squaring == Squaring::Automatic && !m.is_cpu());
}

/// The scaling of each matrix of the batch (its own s, so that a member of an ensemble is scaled
/// and squared exactly as when alone: issue 26): sets x = M 2^-s, the number of squarings to run
/// and, where the matrices differ in s, scale_t [..., 1, 1] and active [L, ..., 1, 1] (squaring i
/// happens where i < s); with one s for all, scale (a double) and no mask.
struct Scaling {
  Tensor x, scale_t, active;
  double scale = 1.0;
  int64_t squarings = 0;
};

Scaling scaling_for(const Tensor& m, Squaring squaring) {
  const double theta = expm_theta(m);
  const auto norms = one_norms(m);
  Scaling sc;
  if (device_squaring(m, squaring)) {
    // s = ceil(log2(||M||_1 / theta)) computed on the device and capped at kMaxSquarings; every
    // squaring up to the cap runs, masked by i < s, so nothing is read back to the host.
    const auto s = torch::where(norms.gt(theta).logical_and(torch::isfinite(norms)),
                                torch::ceil(torch::log2(norms / theta)), torch::zeros_like(norms))
                       .clamp(0, static_cast<double>(kMaxSquarings))
                       .unsqueeze(-1)
                       .unsqueeze(-1);
    sc.scale_t = torch::exp2(-s);
    sc.x = m * sc.scale_t;
    sc.squarings = kMaxSquarings;
    std::vector<int64_t> steps(static_cast<size_t>(m.dim()) + 1, 1);
    steps[0] = kMaxSquarings;
    sc.active = torch::arange(kMaxSquarings, norms.options()).view(steps).lt(s);
    return sc;
  }
  // The single host read of the host-squaring algorithm.
  const auto host = norms.to(torch::kCPU, torch::kFloat64).contiguous();
  const double* np = host.data_ptr<double>();
  std::vector<int64_t> s(static_cast<size_t>(host.numel()), 0);
  for (size_t k = 0; k < s.size(); ++k)  // inf/NaN: no squaring, to propagate rather than loop
    if (np[k] > theta && std::isfinite(np[k])) s[k] = static_cast<int64_t>(std::ceil(std::log2(np[k] / theta)));
  sc.squarings = s.empty() ? 0 : *std::max_element(s.begin(), s.end());
  if (std::all_of(s.begin(), s.end(), [&](int64_t v) { return v == sc.squarings; })) {
    sc.scale = std::ldexp(1.0, static_cast<int>(-sc.squarings));
    sc.x = sc.squarings > 0 ? m * sc.scale : m;
    return sc;
  }
  const auto s_t = torch::tensor(s, torch::kFloat64).view(norms.sizes()).unsqueeze(-1).unsqueeze(-1);
  sc.scale_t = torch::exp2(-s_t).to(m.options());
  sc.x = m * sc.scale_t;
  std::vector<int64_t> steps(static_cast<size_t>(m.dim()) + 1, 1);
  steps[0] = sc.squarings;
  sc.active = torch::arange(sc.squarings, torch::kFloat64).view(steps).lt(s_t).to(m.device());
  return sc;
}

/// expm(M); with `trace`, records what the adjoint needs.
Tensor expm_forward(const Tensor& m, ExpmTrace* trace, Squaring squaring) {
  const auto sc = scaling_for(m, squaring);
  const auto& x = sc.x;
  const auto &scale_t = sc.scale_t, &active = sc.active;
  const double scale = sc.scale;
  const int64_t squarings = sc.squarings;
  auto eye = eye_like(m);
  auto x2 = mat_product(x, x);
  auto x3 = mat_product(x2, x);
  auto x4 = mat_product(x2, x2);
  // P = B0 + X4 (B1 + X4 (B2 + X4 (B3 + c16 X4)))
  auto z3 = block(3, eye, x, x2, x3) + x4 * inv_factorial(16);
  auto z2 = block(2, eye, x, x2, x3) + mat_product(x4, z3);
  auto z1 = block(1, eye, x, x2, x3) + mat_product(x4, z2);
  auto p = block(0, eye, x, x2, x3) + mat_product(x4, z1);
  if (trace) {
    trace->x = x, trace->x2 = x2, trace->x3 = x3, trace->x4 = x4;
    trace->z1 = z1, trace->z2 = z2, trace->z3 = z3;
    trace->scale = scale, trace->scale_t = scale_t, trace->active = active;
    trace->squares.clear();
  }
  for (int64_t i = 0; i < squarings; ++i) {
    if (trace) trace->squares.push_back(p);
    p = active.defined() ? torch::where(active[i], mat_product(p, p), p) : mat_product(p, p);
  }
  return p;
}

Tensor mT(const Tensor& t) { return t.transpose(-2, -1); }

/// Reverse-mode adjoint of expm_forward: given G = dL/dexpm(M), returns dL/dM.
Tensor expm_backward(const Tensor& grad, const ExpmTrace& tr) {
  Tensor g = grad;
  for (int64_t i = static_cast<int64_t>(tr.squares.size()) - 1; i >= 0; --i) {
    const auto pt = mT(tr.squares[i]);  // P_{i+1} = P_i P_i (where active)
    auto gi = mat_product(g, pt) + mat_product(pt, g);
    g = tr.active.defined() ? torch::where(tr.active[i], gi, g) : gi;
  }
  // Horner steps in X4, reversed. dB_i collects the gradient of each block.
  const auto x4t = mT(tr.x4);
  Tensor db0 = g;
  Tensor dx4 = mat_product(g, mT(tr.z1));
  Tensor dz1 = mat_product(x4t, g);
  Tensor db1 = dz1;
  dx4 = dx4 + mat_product(dz1, mT(tr.z2));
  Tensor dz2 = mat_product(x4t, dz1);
  Tensor db2 = dz2;
  dx4 = dx4 + mat_product(dz2, mT(tr.z3));
  Tensor dz3 = mat_product(x4t, dz2);
  Tensor db3 = dz3;
  dx4 = dx4 + dz3 * inv_factorial(16);
  // Blocks are linear in X, X^2, X^3.
  Tensor dx = db0 * inv_factorial(1) + db1 * inv_factorial(5) + db2 * inv_factorial(9) + db3 * inv_factorial(13);
  Tensor dx2 = db0 * inv_factorial(2) + db1 * inv_factorial(6) + db2 * inv_factorial(10) + db3 * inv_factorial(14);
  Tensor dx3 = db0 * inv_factorial(3) + db1 * inv_factorial(7) + db2 * inv_factorial(11) + db3 * inv_factorial(15);
  const auto x2t = mT(tr.x2), xt = mT(tr.x);
  dx2 = dx2 + mat_product(dx4, x2t) + mat_product(x2t, dx4);  // X4 = X2 X2
  dx2 = dx2 + mat_product(dx3, xt);                           // X3 = X2 X
  dx = dx + mat_product(x2t, dx3);
  dx = dx + mat_product(dx2, xt) + mat_product(xt, dx2);  // X2 = X X
  if (tr.scale_t.defined()) return dx * tr.scale_t;
  return tr.scale != 1.0 ? dx * tr.scale : dx;
}

tensor_list pack(const ExpmTrace& tr) {
  tensor_list out{tr.x, tr.x2, tr.x3, tr.x4, tr.z1, tr.z2, tr.z3, tr.scale_t, tr.active};
  out.insert(out.end(), tr.squares.begin(), tr.squares.end());
  return out;
}

ExpmTrace unpack(const tensor_list& saved, size_t offset, double scale) {
  ExpmTrace tr;
  tr.x = saved[offset], tr.x2 = saved[offset + 1], tr.x3 = saved[offset + 2], tr.x4 = saved[offset + 3];
  tr.z1 = saved[offset + 4], tr.z2 = saved[offset + 5], tr.z3 = saved[offset + 6];
  tr.scale_t = saved[offset + 7], tr.active = saved[offset + 8];
  tr.squares.assign(saved.begin() + static_cast<std::ptrdiff_t>(offset) + 9, saved.end());
  tr.scale = scale;
  return tr;
}

class ExpmFunction : public torch::autograd::Function<ExpmFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& m, int64_t squaring) {
    ExpmTrace trace;
    auto out = expm_forward(m, &trace, static_cast<Squaring>(squaring));
    ctx->save_for_backward(pack(trace));
    ctx->saved_data["scale"] = trace.scale;
    return out;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto tr = unpack(ctx->get_saved_variables(), 0, ctx->saved_data["scale"].toDouble());
    return {expm_backward(grads[0], tr), Tensor()};
  }
};

/// Normalisation pieces shared by forward and backward.
struct Normalised {
  Tensor abs_w, s_safe, positive, d, m;
};

Normalised normalise(const Tensor& w, Strength strength) {
  Normalised n;
  n.abs_w = w.abs();
  auto s = n.abs_w.sum(strength == Strength::In ? -1 : -2);
  n.positive = s > 0;
  // Select before the rsqrt so that neither value nor gradient ever sees 1/0.
  n.s_safe = torch::where(n.positive, s, torch::ones_like(s));
  n.d = torch::where(n.positive, n.s_safe.rsqrt(), torch::zeros_like(s));
  n.m = n.d.unsqueeze(-1) * n.abs_w * n.d.unsqueeze(-2);
  return n;
}

/// dL/dW from dL/dM, M = D |W| D (D = diag(d), d = S^-1/2 where S > 0).
Tensor normalise_backward(const Tensor& dm, const Tensor& w, const Normalised& n, Strength strength) {
  const auto dm_a = dm * n.abs_w;
  auto dd = mat_product(dm_a, n.d.unsqueeze(-1)).squeeze(-1) + mat_product(mT(dm_a), n.d.unsqueeze(-1)).squeeze(-1);
  // S^-3/2 as d^3 (d = S^-1/2, correctly rounded): pow's vector and scalar code round differently,
  // so a member of a stacked batch would depend on where its entries fall (issue 26).
  auto ds = torch::where(n.positive, dd * (-0.5) * (n.d * n.d * n.d), torch::zeros_like(dd));
  auto da = dm * n.d.unsqueeze(-1) * n.d.unsqueeze(-2);
  da = da + (strength == Strength::In ? ds.unsqueeze(-1) : ds.unsqueeze(-2));
  return da * w.sign();
}

// Device squaring (the CUDA default) runs as two graphed functions (core/graphed.h) with what the
// backward needs packed into few tensors, so that a call costs a handful of launches:
//   forward  {W} -> {C, mats [8 + kMaxSquarings, ..., N, N], vecs [2, ..., N] (S safe, d),
//                    positive, scale_t, active}
//   backward {dL/dC, W, mats, vecs, positive, scale_t, active} -> {dL/dW}
// mats holds |W|, X, X^2, X^3, X^4, Z1, Z2, Z3 and the squarings' inputs.
constexpr int64_t kPackedMats = 8;

std::vector<Tensor> packed_forward(const Tensor& w, Strength strength) {
  const auto n = normalise(w, strength);
  ExpmTrace tr;
  auto c = expm_forward(n.m, &tr, Squaring::Device);
  std::vector<Tensor> mats{n.abs_w, tr.x, tr.x2, tr.x3, tr.x4, tr.z1, tr.z2, tr.z3};
  mats.insert(mats.end(), tr.squares.begin(), tr.squares.end());
  return {c, torch::stack(mats), torch::stack({n.s_safe, n.d}), n.positive, tr.scale_t, tr.active};
}

Tensor packed_backward(const std::vector<Tensor>& in, Strength strength) {
  const auto &grad = in[0], &w = in[1], &mats = in[2], &vecs = in[3];
  Normalised n;
  n.abs_w = mats[0], n.s_safe = vecs[0], n.d = vecs[1], n.positive = in[4];
  ExpmTrace tr;
  tr.x = mats[1], tr.x2 = mats[2], tr.x3 = mats[3], tr.x4 = mats[4];
  tr.z1 = mats[5], tr.z2 = mats[6], tr.z3 = mats[7];
  for (int64_t i = kPackedMats; i < mats.size(0); ++i) tr.squares.push_back(mats[i]);
  tr.scale_t = in[5], tr.active = in[6];
  return normalise_backward(expm_backward(grad, tr), w, n, strength);
}

// Process-lifetime graphs (never destroyed: a CUDA graph freed after the runtime's teardown at
// exit would fail).
GraphedFunction& graphed_forward(Strength s) {
  static auto* in =
      new GraphedFunction([](const std::vector<Tensor>& x) { return packed_forward(x[0], Strength::In); });
  static auto* out =
      new GraphedFunction([](const std::vector<Tensor>& x) { return packed_forward(x[0], Strength::Out); });
  return s == Strength::In ? *in : *out;
}

GraphedFunction& graphed_backward(Strength s) {
  static auto* in = new GraphedFunction(
      [](const std::vector<Tensor>& x) { return std::vector<Tensor>{packed_backward(x, Strength::In)}; });
  static auto* out = new GraphedFunction(
      [](const std::vector<Tensor>& x) { return std::vector<Tensor>{packed_backward(x, Strength::Out)}; });
  return s == Strength::In ? *in : *out;
}

GraphedFunction& graphed_detached(Strength s) {
  auto fn = [](Strength st) {
    return [st](const std::vector<Tensor>& x) {
      return std::vector<Tensor>{expm_forward(normalise(x[0], st).m, nullptr, Squaring::Device)};
    };
  };
  static auto* in = new GraphedFunction(fn(Strength::In));
  static auto* out = new GraphedFunction(fn(Strength::Out));
  return s == Strength::In ? *in : *out;
}

class CommunicabilityFunction : public torch::autograd::Function<CommunicabilityFunction> {
 public:
  static Tensor forward(AutogradContext* ctx, const Tensor& w, int64_t strength, int64_t squaring) {
    const auto st = static_cast<Strength>(strength);
    ctx->saved_data["strength"] = strength;
    if (device_squaring(w, static_cast<Squaring>(squaring))) {
      auto out = graphed_forward(st)({w});
      ctx->save_for_backward({w, out[1], out[2], out[3], out[4], out[5]});
      ctx->saved_data["packed"] = true;
      return out[0];
    }
    auto n = normalise(w, st);
    ExpmTrace trace;
    auto c = expm_forward(n.m, &trace, static_cast<Squaring>(squaring));
    tensor_list saved{w, n.abs_w, n.s_safe, n.positive, n.d};
    for (auto& t : pack(trace)) saved.push_back(t);
    ctx->save_for_backward(saved);
    ctx->saved_data["scale"] = trace.scale;
    ctx->saved_data["packed"] = false;
    return c;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto strength = static_cast<Strength>(ctx->saved_data["strength"].toInt());
    if (ctx->saved_data["packed"].toBool()) {
      std::vector<Tensor> in{grads[0].contiguous()};
      in.insert(in.end(), saved.begin(), saved.end());
      return {graphed_backward(strength)(in)[0], Tensor(), Tensor()};
    }
    Normalised n;
    n.abs_w = saved[1], n.s_safe = saved[2], n.positive = saved[3], n.d = saved[4];
    const auto dm = expm_backward(grads[0], unpack(saved, 5, ctx->saved_data["scale"].toDouble()));
    return {normalise_backward(dm, saved[0], n, strength), Tensor(), Tensor()};
  }
};

}  // namespace

Tensor expm(const Tensor& x, Squaring squaring) {
  TORCH_CHECK(x.dim() >= 2 && x.size(-1) == x.size(-2), "expm expects square matrices [..., N, N], got ", x.sizes());
  return ExpmFunction::apply(x, static_cast<int64_t>(squaring));
}

Tensor communicability(const Tensor& weight, Strength strength, Squaring squaring) {
  TORCH_CHECK((weight.dim() == 2 || weight.dim() == 3) && weight.size(-1) == weight.size(-2),
              "communicability expects [N, N] or [K, N, N] weights, got ", weight.sizes());
  return CommunicabilityFunction::apply(weight, static_cast<int64_t>(strength), static_cast<int64_t>(squaring));
}

Tensor communicability_detached(const Tensor& weight, Strength strength, Squaring squaring) {
  torch::NoGradGuard no_grad;
  if (device_squaring(weight, squaring)) return graphed_detached(strength)({weight.detach()})[0];
  return expm_forward(normalise(weight.detach(), strength).m, nullptr, squaring);
}

Tensor normalized_abs(const Tensor& weight, Strength strength) { return normalise(weight, strength).m; }

Tensor communicability_autograd_reference(const Tensor& weight, Strength strength) {
  return torch::linalg_matrix_exp(normalise(weight, strength).m);
}

}  // namespace sernn
