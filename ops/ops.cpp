#include "ops/ops.h"

#include <torch/library.h>

#include <algorithm>
#include <cstdlib>
#include <deque>
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

namespace {

using Trace = std::tuple<Tensor, Tensor, Tensor>;

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
}

Trace run_network(bool members, const Tensor& drive, const Tensor& weight, const Tensor& beta,
                  const Tensor& readout_weight, const Tensor& readout_bias, const Tensor& readout_beta,
                  double threshold, double slope, const std::string& reset) {
  follow_torch_threads();
  const char* op = members ? "lif_network_members" : "lif_network";
  check_network(op, drive, weight, beta, readout_weight, readout_bias, readout_beta, members ? 1 : 0);
  const LifReadout readout{readout_weight, readout_bias, readout_beta};
  const auto mode = parse_reset(reset);
  auto tr = members ? lif_network_members(drive, weight, beta, readout, threshold, slope, mode)
                    : lif_network(drive, weight, beta, readout, threshold, slope, mode);
  return {tr.readout_mem, tr.spikes, tr.counts};
}

Trace lif_network_op(const Tensor& drive, const Tensor& weight, const Tensor& beta, const Tensor& readout_weight,
                     const Tensor& readout_bias, const Tensor& readout_beta, double threshold, double slope,
                     std::string reset) {
  return run_network(false, drive, weight, beta, readout_weight, readout_bias, readout_beta, threshold, slope, reset);
}

Trace lif_network_members_op(const Tensor& drive, const Tensor& weight, const Tensor& beta,
                             const Tensor& readout_weight, const Tensor& readout_bias, const Tensor& readout_beta,
                             double threshold, double slope, std::string reset) {
  return run_network(true, drive, weight, beta, readout_weight, readout_bias, readout_beta, threshold, slope, reset);
}

Tensor input_projection_op(const Tensor& x, const Tensor& weight, const Tensor& bias, double max_density) {
  follow_torch_threads();
  TORCH_CHECK(x.dim() == 3, "sernn.input_projection: x must be [T, B, I], got ", x.sizes());
  TORCH_CHECK(weight.dim() == 2 && weight.size(1) == x.size(2), "sernn.input_projection: weight must be [O, ",
              x.size(2), "], got ", weight.sizes());
  TORCH_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0), "sernn.input_projection: bias must be [",
              weight.size(0), "], got ", bias.sizes());
  return input_projection(x, weight, bias, max_density);
}

Tensor input_projection_members_op(const Tensor& x, const Tensor& weight, const Tensor& bias, double max_density) {
  follow_torch_threads();
  TORCH_CHECK(x.dim() == 3, "sernn.input_projection_members: x must be [T, B, I], got ", x.sizes());
  TORCH_CHECK(weight.dim() == 3 && weight.size(2) == x.size(2),
              "sernn.input_projection_members: weight must be [K, O, ", x.size(2), "], got ", weight.sizes());
  TORCH_CHECK(bias.dim() == 2 && bias.size(0) == weight.size(0) && bias.size(1) == weight.size(1),
              "sernn.input_projection_members: bias must be [", weight.size(0), ", ", weight.size(1), "], got ",
              bias.sizes());
  // One tensor for every member: its nonzeros are found once and read by all (models/lif_sequence.h).
  return member_input_projection(std::vector<Tensor>(weight.size(0), x), weight, bias, max_density);
}

void check_square(const char* op, const Tensor& w) {
  TORCH_CHECK(w.dim() >= 2 && w.size(-1) == w.size(-2), "sernn.", op, ": weight must be [N, N] or [K, N, N], got ",
              w.sizes());
}

Tensor expm_op(const Tensor& x) {
  follow_torch_threads();
  check_square("expm", x);
  return expm(x);
}

Tensor communicability_op(const Tensor& w, std::string strength) {
  follow_torch_threads();
  check_square("communicability", w);
  return communicability(w, parse_strength(strength));
}

Tensor communicability_detached_op(const Tensor& w, std::string strength) {
  follow_torch_threads();
  check_square("communicability_detached", w);
  return communicability_detached(w, parse_strength(strength));
}

Tensor wiring_penalty_op(const Tensor& w, std::string kind, const c10::optional<Tensor>& distance, std::string grad,
                         std::string strength, double comms_factor) {
  follow_torch_threads();
  check_square("wiring_penalty", w);
  WiringPenaltyOptions o;
  o.kind = kind;
  o.comm_grad = parse_comm_grad(grad);
  o.strength = parse_strength(strength);
  o.comms_factor = comms_factor;
  if (distance.has_value()) {
    TORCH_CHECK(distance->dim() == 2 && distance->size(0) == w.size(-1) && distance->size(1) == w.size(-1),
                "sernn.wiring_penalty: distance must be [", w.size(-1), ", ", w.size(-1), "], got ", distance->sizes());
    o.distance = *distance;
  }
  return WiringPenalty(o)(w);
}

Tensor resolvent_op(const Tensor& w, double alpha) {
  follow_torch_threads();
  check_square("resolvent", w);
  return resolvent(w, alpha);
}

Tensor resolvent_penalty_op(const Tensor& w, double alpha) {
  follow_torch_threads();
  check_square("resolvent_penalty", w);
  return ResolventPenalty(alpha)(w);
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
  m.def(("lif_network" + network_args).c_str(), &lif_network_op);
  m.def(("lif_network_members" + network_args).c_str(), &lif_network_members_op);
  m.def("input_projection(Tensor x, Tensor weight, Tensor bias, float max_density=0.25) -> Tensor",
        &input_projection_op);
  m.def("input_projection_members(Tensor x, Tensor weight, Tensor bias, float max_density=0.25) -> Tensor",
        &input_projection_members_op);
  m.def("expm(Tensor x) -> Tensor", &expm_op);
  m.def("communicability(Tensor weight, str strength=\"in\") -> Tensor", &communicability_op);
  m.def("communicability_detached(Tensor weight, str strength=\"in\") -> Tensor", &communicability_detached_op);
  m.def(
      "wiring_penalty(Tensor weight, str kind=\"sernn\", Tensor? distance=None, str grad=\"full\", "
      "str strength=\"in\", float comms_factor=1.0) -> Tensor",
      &wiring_penalty_op);
  m.def("resolvent(Tensor weight, float alpha) -> Tensor", &resolvent_op);
  m.def("resolvent_penalty(Tensor weight, float alpha) -> Tensor", &resolvent_penalty_op);
  m.def("read_tensors(str path, str[] names) -> Tensor[]", &read_tensors_op);
  m.def("pool_threads() -> int", [] { return parallel_threads(); });
}

}  // namespace sernn::ops
