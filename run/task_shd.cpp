// The Spiking Heidelberg Digits task's registry entry (tasks/shd.h).
#include "run/entries.h"
#include "run/registry.h"
#include "tasks/shd.h"

namespace sernn {

TaskEntry shd_task_entry() {
  using T = ConfigKey::Type;
  const double inf = 1e300;
  return {
      "shd",
      "Spiking Heidelberg Digits (700 channels, 20 classes) from shd_train.h5 / shd_test.h5",
      {
          key("task.data_dir", T::String, "data/shd", "shd: directory with shd_train.h5 and shd_test.h5"),
          key("task.binning", T::String, "per_sample",
              "shd: 'per_sample' (task.bins) or 'fixed' (task.dt, task.max_steps)", -inf, inf, {"per_sample", "fixed"}),
          key("task.bins", T::Int, 200, "shd: bins per sample (first to last event)", 1, 1e6),
          key("task.dt", T::Float, 0.005, "shd: fixed bin width in seconds", 1e-7, 1e3),
          key("task.max_steps", T::Int, 250, "shd: maximum time steps of the fixed binning", 1, 1e7),
          key("task.val_fraction", T::Float, 0.0, "shd: fraction of the training file held out for validation", 0.0,
              0.9),
          key("task.max_train", T::Int, 0, "shd: use at most this many training samples (0 = all)", 0, 1e9),
          key("task.max_test", T::Int, 0, "shd: use at most this many test samples (0 = all)", 0, 1e9),
          key("task.sparse", T::Bool, true,
              "shd: batches as sparse event counts, read by the sparse input projection (false: dense [T, B, 700])"),
      },
      [](const Config& config) {
        ShdTaskOptions o;
        o.data_dir = config.get_string("task.data_dir");
        o.per_sample = config.get_string("task.binning") == "per_sample";
        o.bins = config.get_int("task.bins");
        o.dt = config.get_float("task.dt");
        o.max_steps = config.get_int("task.max_steps");
        o.val_fraction = config.get_float("task.val_fraction");
        o.max_train = config.get_int("task.max_train");
        o.max_test = config.get_int("task.max_test");
        o.sparse = config.get_bool("task.sparse");
        return std::make_shared<ShdTask>(o);
      },
      [](const Config& config) {
        // Binned batches are built as they stream; the event lists stay on disk-sized scale.
        const int64_t steps = config.get_string("task.binning") == "per_sample" ? config.get_int("task.bins")
                                                                                : config.get_int("task.max_steps");
        return TaskShape{kShdUnits, kShdClasses, steps, 0};
      }};
}

}  // namespace sernn
