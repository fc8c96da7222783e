// The delayed match-to-sample working-memory task's registry entry (tasks/delayed_match.h).
#include "run/entries.h"
#include "run/registry.h"
#include "tasks/delayed_match.h"

namespace sernn {
namespace {

DelayedMatchOptions options(const Config& config) {
  auto o = synthetic_options<DelayedMatchOptions>(config);
  o.stimuli = config.get_int("task.stimuli");
  o.sample_steps = config.get_int("task.sample_steps");
  o.delay_steps = config.get_int("task.delay_steps");
  return o;
}

}  // namespace

TaskEntry delayed_match_task_entry() {
  auto keys = synthetic_task_keys();
  keys.push_back(key("task.stimuli", ConfigKey::Type::Int, 4, "delayed_match: number of stimuli K", 2, 1024));
  for (auto& k : window_keys()) keys.push_back(k);
  return {"delayed_match", "working memory: sample, delay, test; match or non-match", keys,
          [](const Config& config) { return std::make_shared<DelayedMatchTask>(options(config)); },
          [](const Config& config) {
            const auto o = options(config);
            return TaskShape{o.stimuli, 2, o.steps(), synthetic_samples(config)};
          }};
}

}  // namespace sernn
