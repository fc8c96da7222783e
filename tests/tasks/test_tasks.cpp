// The delayed match-to-sample and hierarchically modular tasks: inputs decoded back by hand
// (loops over the raw tensors, not the generators' vector code) must give the labels.
#include <gtest/gtest.h>

#include "run/run_analysis.h"
#include "run/setup.h"
#include "core/errors.h"
#include "tasks/delayed_match.h"
#include "tasks/hierarchical.h"
#include "test_helpers.h"

using namespace sernn;

TEST(DelayedMatch, InputsDecodeToTheLabels) {
  DelayedMatchOptions o;
  o.train_size = 2000, o.val_size = 10, o.test_size = 10;
  o.stimuli = 5, o.sample_steps = 3, o.delay_steps = 7, o.seed = 11;
  DelayedMatchTask task(o);
  const auto x = task.inputs(Split::Train);
  const auto y = task.labels(Split::Train);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{13, 2000, 5}));
  EXPECT_EQ(task.input_size(), 5);
  EXPECT_EQ(task.num_classes(), 2);
  auto xa = x.accessor<float, 3>();
  auto ya = y.accessor<int64_t, 1>();
  int64_t matches = 0;
  std::vector<int64_t> offset_count(5, 0);
  for (int64_t i = 0; i < 2000; ++i) {
    int sample = -1, test = -1;
    for (int k = 0; k < 5; ++k) {
      if (xa[0][i][k] == 1.0f) sample = k;
      if (xa[12][i][k] == 1.0f) test = k;
    }
    ASSERT_GE(sample, 0);
    ASSERT_GE(test, 0);
    for (int t = 0; t < 13; ++t) {
      float sum = 0;
      for (int k = 0; k < 5; ++k) sum += xa[t][i][k];
      ASSERT_EQ(sum, (t < 3 || t >= 10) ? 1.0f : 0.0f) << "trial " << i << " step " << t;
      for (int k = 0; k < 5 && t < 3; ++k) ASSERT_EQ(xa[t][i][k], xa[0][i][k]);
    }
    EXPECT_EQ(ya[i], sample == test ? 1 : 0);
    matches += ya[i];
    ++offset_count[(test - sample + 5) % 5];
  }
  EXPECT_NEAR(matches / 2000.0, 0.5, 0.05);
  // Non-matches spread over the other stimuli (about 1000 / 4 each).
  for (int d = 1; d < 5; ++d) EXPECT_NEAR(offset_count[d], 250, 60) << d;
  EXPECT_THROW(DelayedMatchTask([] {
                 DelayedMatchOptions b;
                 b.stimuli = 1;
                 return b;
               }()),
               InputError);
}

TEST(Hierarchical, LabelsAreModuleParitiesReadTogether) {
  HierarchicalOptions o;
  o.train_size = 500, o.val_size = 10, o.test_size = 10;
  o.modules = 3, o.submodules = 3, o.sample_steps = 2, o.delay_steps = 4, o.seed = 5;
  HierarchicalTask task(o);
  EXPECT_EQ(task.input_size(), 18);
  EXPECT_EQ(task.num_classes(), 8);
  const auto x = task.inputs(Split::Train);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{10, 500, 18}));
  auto xa = x.accessor<float, 3>();
  auto ya = task.labels(Split::Train).accessor<int64_t, 1>();
  std::vector<int64_t> class_count(8, 0);
  for (int64_t i = 0; i < 500; ++i) {
    int64_t label = 0;
    for (int m = 0; m < 3; ++m) {
      int parity = 0;
      for (int s = 0; s < 3; ++s) {
        // Window s shows sub-module (m, s) on channel 2 (3 m + s) + bit, nothing else of module m.
        const int c0 = 2 * (3 * m + s);
        for (int t = 2 * s; t < 2 * s + 2; ++t) {
          ASSERT_EQ(xa[t][i][c0] + xa[t][i][c0 + 1], 1.0f);
          for (int c = 6 * m; c < 6 * m + 6; ++c) {
            if (c != c0 && c != c0 + 1) {
              ASSERT_EQ(xa[t][i][c], 0.0f);
            }
          }
        }
        parity ^= xa[2 * s][i][c0 + 1] == 1.0f ? 1 : 0;
      }
      label += parity << m;
    }
    for (int t = 6; t < 10; ++t)
      for (int c = 0; c < 18; ++c) ASSERT_EQ(xa[t][i][c], 0.0f);
    EXPECT_EQ(ya[i], label) << "trial " << i;
    ++class_count[label];
  }
  for (int c = 0; c < 8; ++c) EXPECT_GT(class_count[c], 30) << c;
  EXPECT_TRUE(torch::equal(task.module_of_channel(), torch::arange(3).repeat_interleave(6)));
  // combine = xor: the same trials, labelled by the parity of the module values.
  o.xor_modules = true;
  HierarchicalTask x_task(o);
  EXPECT_EQ(x_task.num_classes(), 2);
  EXPECT_TRUE(torch::equal(x_task.inputs(Split::Train), x));
  auto xl = x_task.labels(Split::Train).accessor<int64_t, 1>();
  for (int64_t i = 0; i < 500; ++i) EXPECT_EQ(xl[i], __builtin_popcountll(static_cast<uint64_t>(ya[i])) % 2) << i;
}

TEST(Tasks, ConfigBuildsTheNewTasksWithMatchingShapes) {
  for (const char* kind : {"delayed_match", "hierarchical"}) {
    Config c;
    c.set(std::string("task.kind=") + kind);
    c.set("task.train_size=16");
    c.set("task.val_size=4");
    c.set("task.test_size=4");
    c.set("task.modules=3");
    c.set("task.stimuli=6");
    c.set("task.combine=xor");
    const auto task = make_task(c);
    const auto shape = task_shape(c);
    EXPECT_EQ(task->input_size(), shape.first) << kind;
    EXPECT_EQ(task->num_classes(), shape.second) << kind;
    EXPECT_EQ(task->name(), kind);
  }
}

TEST(Tasks, HierarchicalRunReportsPathwaysPerModule) {
  const auto dir = sernn::testing::temp_dir("hier");
  Config c;
  c.set("task.kind=hierarchical");
  c.set("task.submodules=3");
  c.set("task.train_size=256");
  c.set("task.val_size=32");
  c.set("task.test_size=64");
  c.set("train.epochs=1");
  c.set("train.batch_size=32");
  c.set("train.threads=2");
  train_run(c, dir, false, true);
  const auto hops = run_pathways(dir, 1, 4);
  ASSERT_EQ(hops["groups"].size(), 2u);
  for (int k = 0; k <= 4; ++k)
    EXPECT_NEAR(hops["groups"][0]["mass"][k].get<double>() + hops["groups"][1]["mass"][k].get<double>(),
                hops["mass"][k].get<double>(), 1e-9 * hops["mass"][k].get<double>());
  EXPECT_TRUE(run_pathways(dir, 7).is_null()) << "no model for epoch 7";
}
