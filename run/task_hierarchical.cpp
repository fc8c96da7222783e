// The hierarchically modular task's registry entry (tasks/hierarchical.h).
#include "run/entries.h"
#include "run/registry.h"
#include "tasks/hierarchical.h"

namespace sernn {
namespace {

HierarchicalOptions options(const Config& config) {
  auto o = synthetic_options<HierarchicalOptions>(config);
  o.modules = config.get_int("task.modules");
  o.submodules = config.get_int("task.submodules");
  o.xor_modules = config.get_string("task.combine") == "xor";
  o.sample_steps = config.get_int("task.sample_steps");
  o.delay_steps = config.get_int("task.delay_steps");
  return o;
}

}  // namespace

TaskEntry hierarchical_task_entry() {
  using T = ConfigKey::Type;
  auto keys = synthetic_task_keys();
  for (auto& k : window_keys()) keys.push_back(k);
  keys.push_back(key("task.modules", T::Int, 2, "hierarchical: modules M (2^M classes)", 1, 6));
  keys.push_back(key("task.submodules", T::Int, 2, "hierarchical: sub-modules per module", 1, 64));
  keys.push_back(key("task.combine", T::String, "concat",
                     "hierarchical: class = all module values (concat) or their parity (xor)", -1e300, 1e300,
                     {"concat", "xor"}));
  return {"hierarchical", "modules of sub-module bits; class = module values or their parity", keys,
          [](const Config& config) { return std::make_shared<HierarchicalTask>(options(config)); },
          [](const Config& config) {
            const auto o = options(config);
            return TaskShape{o.inputs(), o.classes(), o.steps(), synthetic_samples(config)};
          }};
}

}  // namespace sernn
