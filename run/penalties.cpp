// The penalties' registry entries (regularizers/penalties.h): none, the wiring family (l1,
// space, comm, sernn: one factory over the same options) and the resolvent penalty.
#include "core/geometry.h"
#include "regularizers/penalties.h"
#include "run/entries.h"
#include "run/registry.h"
#include "run/setup.h"

namespace sernn {
namespace {

using T = ConfigKey::Type;
constexpr double inf = 1e300;

std::vector<ConfigKey> communicability_keys() {
  return {
      key("regularizer.comm_grad", T::String, "auto",
          "gradient through communicability (auto: full for rate, detached for spiking)", -inf, inf,
          {"auto", "full", "detached"}),
      key("regularizer.strength", T::String, "auto",
          "node strength for normalisation (auto: out for rate, in for spiking)", -inf, inf, {"auto", "in", "out"}),
      key("regularizer.comms_factor", T::Float, 1.0, "power applied to communicability", 0.0, 1e3),
  };
}

/// The wiring family's options from regularizer.*, with the model family's defaults for `auto`.
std::shared_ptr<Penalty> make_wiring(const std::string& kind, const Config& config, const torch::Tensor& coords) {
  const bool spiking = config.get_string("model.kind") == "spiking";
  WiringPenaltyOptions o;
  o.distance = distance_matrix(coords).to(torch::kFloat32);
  const std::string grad = config.get_string("regularizer.comm_grad");
  o.comm_grad = grad == "auto" ? (spiking ? CommGrad::Detached : CommGrad::Full) : parse_comm_grad(grad);
  o.strength = config_strength(config);
  o.comms_factor = config.get_float("regularizer.comms_factor");
  return make_penalty(kind, o, 0.0);
}

PenaltyEntry wiring(const std::string& kind, const std::string& summary, bool uses_comm) {
  return {kind, summary, uses_comm ? communicability_keys() : std::vector<ConfigKey>{},
          [kind](const Config& config, const torch::Tensor& coords) { return make_wiring(kind, config, coords); }};
}

}  // namespace

std::vector<PenaltyEntry> penalty_entries() {
  return {
      {"none", "no wiring cost", {}, [](const Config&, const torch::Tensor&) { return std::shared_ptr<Penalty>(); }},
      wiring("l1", "sum |W|", false),
      wiring("space", "sum |W| * D (Euclidean distance)", false),
      wiring("comm", "sum |W| * C (communicability)", true),
      wiring("sernn", "sum |W| * D * C: the seRNN cost", true),
      {"resolvent",
       "sum |W| * R, R = (I - alpha S_in^-1 |W|)^-1 (seed 003)",
       {key("regularizer.resolvent_alpha", T::Float, 0.5, "resolvent: alpha in (I - alpha A)^-1, A row-normalised",
            1e-6, 0.999)},
       [](const Config& config, const torch::Tensor&) -> std::shared_ptr<Penalty> {
         return std::make_shared<ResolventPenalty>(config.get_float("regularizer.resolvent_alpha"));
       }},
  };
}

}  // namespace sernn
