#include "regularizers/pruning.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "core/errors.h"

namespace sernn {

double scheduled_sparsity(const PruningOptions& o, int64_t epoch, int64_t epochs) {
  if (!o.enabled() || epoch < o.start_epoch) return 0.0;
  const int64_t end = o.end_epoch > 0 ? o.end_epoch : epochs;
  if (o.schedule == "once" || end <= o.start_epoch) return o.final_sparsity;
  const double p =
      std::min(1.0, static_cast<double>(epoch - o.start_epoch + 1) / static_cast<double>(end - o.start_epoch + 1));
  if (o.schedule == "linear") return o.final_sparsity * p;
  if (o.schedule == "cubic") return o.final_sparsity * (1.0 - std::pow(1.0 - p, 3));
  throw InputError(fmt::format("key 'prune.schedule': unknown schedule '{}' (known: cubic, linear, once)", o.schedule));
}

torch::Tensor magnitude_keep_mask(const torch::Tensor& w, double sparsity, const torch::Tensor& previous) {
  torch::NoGradGuard no_grad;
  auto score = w.detach().abs().to(torch::kFloat64).reshape({-1});
  if (previous.defined()) score = score.masked_fill(previous.reshape({-1}).to(score.device()).eq(0), -1.0);
  const auto n = score.numel();
  const auto k = std::min<int64_t>(n, std::llround(sparsity * static_cast<double>(n)));
  auto keep = torch::ones({n}, w.options().dtype(torch::kFloat32));
  if (k > 0) {
    // Stable sort: equal magnitudes are pruned in index order, the same on every run.
    const auto order = std::get<1>(score.sort(/*stable=*/true, /*dim=*/0, /*descending=*/false));
    keep.index_fill_(0, order.slice(0, 0, k), 0.0);
  }
  return keep.view(w.sizes());
}

void register_prune_mask(Network& network) {
  const auto w = network.recurrent_weight();
  network.register_buffer("prune_mask", torch::ones(w.sizes(), w.options().dtype(torch::kFloat32)));
}

double zero_fraction(const torch::Tensor& w) { return w.detach().eq(0).to(torch::kFloat64).mean().item<double>(); }

MagnitudePruner::MagnitudePruner(Network& network, PruningOptions options, int64_t epochs)
    : net_(network), opt_(std::move(options)), epochs_(epochs) {
  scheduled_sparsity(opt_, epochs_, epochs_);  // validates the schedule name
  TORCH_CHECK(net_.named_buffers(/*recurse=*/false).contains("prune_mask"),
              "MagnitudePruner: the network has no prune_mask buffer (register_prune_mask)");
}

// A handle on the buffer's storage: in-place updates reach the module.
torch::Tensor MagnitudePruner::mask() { return net_.named_buffers(/*recurse=*/false)["prune_mask"]; }

void MagnitudePruner::apply() {
  torch::NoGradGuard no_grad;
  auto raw = net_.recurrent_parameter();
  raw.mul_(mask().to(raw.dtype()));
}

std::map<std::string, double> MagnitudePruner::epoch_end(int64_t epoch) {
  const double target = scheduled_sparsity(opt_, epoch, epochs_);
  torch::NoGradGuard no_grad;
  const auto w = net_.recurrent_weight();
  if (target > zero_fraction(w)) {
    auto m = mask();
    m.copy_(magnitude_keep_mask(w, target, m));
    apply();
    return {{"sparsity", zero_fraction(net_.recurrent_weight())}, {"prune_target", target}};
  }
  return {{"sparsity", zero_fraction(w)}, {"prune_target", target}};
}

}  // namespace sernn
