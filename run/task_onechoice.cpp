// The one-choice inference task's registry entry (tasks/onechoice.h; seed 000).
#include "run/entries.h"
#include "run/registry.h"
#include "tasks/onechoice.h"

namespace sernn {

TaskEntry onechoice_task_entry() {
  auto keys = synthetic_task_keys();
  keys.push_back(
      key("task.shuffle_labels", ConfigKey::Type::Bool, false, "onechoice: the 'random' control (labels shuffled)"));
  return {"onechoice", "seed 000's one-choice inference task (8 inputs, 4 choices, 50 steps)", keys,
          [](const Config& config) {
            auto o = synthetic_options<OneChoiceOptions>(config);
            o.shuffle_labels = config.get_bool("task.shuffle_labels");
            return std::make_shared<OneChoiceTask>(o);
          },
          [](const Config& config) {
            const OneChoiceOptions o;
            return TaskShape{8, 4, o.goal_steps + o.delay_steps + o.choice_steps, synthetic_samples(config)};
          }};
}

}  // namespace sernn
