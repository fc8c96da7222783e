#include <gtest/gtest.h>

#include <cmath>

#include "tasks/onechoice.h"

using namespace sernn;

namespace {
// Grid cells of a 3x3 board numbered as the reference (rows 1, 2, 3 -> 7..9, 12..14, 17..19).
struct Cell {
  int row, col;
};
Cell cell_of(int id) { return {(id - 7) / 5, (id - 7) % 5}; }
// Position after a move from the centre (13): left, up, right, down.
Cell after_move(int move) {
  const int dr[] = {0, -1, 0, 1}, dc[] = {-1, 0, 1, 0};
  return {1 + dr[move], 1 + dc[move]};
}
double dist(Cell a, Cell b) { return std::hypot(a.row - b.row, a.col - b.col); }

OneChoiceOptions small() {
  OneChoiceOptions o;
  o.train_size = 512, o.val_size = 256, o.test_size = 256, o.seed = 7;
  return o;
}
}  // namespace

TEST(OneChoice, ProblemsMatchDesignAndGeometry) {
  const auto& ps = onechoice_problems();
  const int goals[] = {9, 9, 19, 17, 17, 7, 19, 7};
  const int correct[] = {1, 2, 3, 3, 0, 1, 2, 0};
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(ps[i].goal_cell, goals[i]);
    EXPECT_EQ(ps[i].correct, correct[i]);
    // Independent check: the correct option is the one whose destination is closer to the goal.
    const auto g = cell_of(ps[i].goal_cell);
    const double d0 = dist(after_move(ps[i].offered[0]), g), d1 = dist(after_move(ps[i].offered[1]), g);
    ASSERT_NE(d0, d1);
    EXPECT_EQ(ps[i].correct, d0 < d1 ? ps[i].offered[0] : ps[i].offered[1]) << "problem " << i;
  }
  // Goal channels: cells 7, 9, 17, 19 -> 0..3.
  for (const auto& p : ps)
    EXPECT_EQ(p.goal_channel, (p.goal_cell == 7) ? 0 : (p.goal_cell == 9) ? 1 : (p.goal_cell == 17) ? 2 : 3);
}

TEST(OneChoice, ShapesSplitsAndEncoding) {
  auto o = small();
  OneChoiceTask task(o);
  EXPECT_EQ(task.steps(), 50);
  EXPECT_EQ(task.inputs(Split::Train).sizes(), (std::vector<int64_t>{50, 512, 8}));
  EXPECT_EQ(task.inputs(Split::Test).sizes(), (std::vector<int64_t>{50, 256, 8}));
  EXPECT_EQ(OneChoiceTask(OneChoiceOptions{}).num_samples(Split::Train), 5120);
  EXPECT_EQ(OneChoiceTask(OneChoiceOptions{}).num_samples(Split::Validation), 2560);
  const auto& ps = onechoice_problems();
  auto x = task.inputs(Split::Train);
  auto ids = task.problems(Split::Train);
  auto labels = task.labels(Split::Train);
  for (int64_t s = 0; s < 40; ++s) {
    const auto& p = ps[ids[s].item<int64_t>()];
    EXPECT_EQ(labels[s].item<int64_t>(), p.correct);
    auto xs = x.select(1, s);  // [T, 8]
    // Goal on for steps 0..19 only, on its channel only.
    EXPECT_EQ(xs.slice(0, 0, 20).sum().item<double>(), 20.0);
    EXPECT_EQ(xs.slice(0, 0, 20).select(1, p.goal_channel).sum().item<double>(), 20.0);
    // Delay 20..29 silent.
    EXPECT_EQ(xs.slice(0, 20, 30).abs().sum().item<double>(), 0.0);
    // Choices 30..49 two-hot on channels 4 + move.
    EXPECT_EQ(xs.slice(0, 30, 50).sum().item<double>(), 40.0);
    for (int m : p.offered) EXPECT_EQ(xs.slice(0, 30, 50).select(1, 4 + m).sum().item<double>(), 20.0);
  }
}

TEST(OneChoice, ProblemsAreSampledUniformly) {
  OneChoiceOptions o;
  o.seed = 3;
  OneChoiceTask task(o);
  auto counts = torch::bincount(task.problems(Split::Train), {}, 8).to(torch::kFloat64);
  // 5120 draws of 8 equiprobable problems: each count ~ 640 +- 24 (binomial sd); allow 5 sd.
  EXPECT_LT((counts - 640).abs().max().item<double>(), 5 * std::sqrt(5120 * 0.125 * 0.875));
}

TEST(OneChoice, NoiseOnlyInTrainingWithRequestedSigma) {
  auto o = small();
  o.noise = 0.05;
  OneChoiceTask task(o);
  auto train = task.stream(Split::Train, 1, 512, 1, torch::kCPU);
  Batch b;
  ASSERT_TRUE(train->next(b));
  // Recover the noise: the clean input of each sample is its problem's encoding.
  const auto& ps = onechoice_problems();
  auto table = torch::stack({task.encode(ps[0]), task.encode(ps[1]), task.encode(ps[2]), task.encode(ps[3]),
                             task.encode(ps[4]), task.encode(ps[5]), task.encode(ps[6]), task.encode(ps[7])});
  auto xb = b.inputs.permute({1, 0, 2});                               // [B, T, 8]
  auto d = (xb.unsqueeze(1) - table.unsqueeze(0)).pow(2).sum({2, 3});  // [B, 8]
  auto noise = xb - table.index_select(0, d.argmin(1));
  EXPECT_NEAR(noise.mean().item<double>(), 0.0, 0.002);
  EXPECT_NEAR(noise.std().item<double>(), 0.05, 0.001);
  auto test = task.stream(Split::Test, 1, 256, 1, torch::kCPU);
  ASSERT_TRUE(test->next(b));
  auto xt = b.inputs.permute({1, 0, 2});
  auto dt = (xt.unsqueeze(1) - table.unsqueeze(0)).pow(2).sum({2, 3});
  EXPECT_EQ(std::get<0>(dt.min(1)).max().item<double>(), 0.0) << "evaluation inputs must be noise-free";
}

TEST(OneChoice, EpochOrderIsReproducibleAndShuffled) {
  OneChoiceTask task(small());
  Batch a, b, c;
  ASSERT_TRUE(task.stream(Split::Train, 2, 64, 5, torch::kCPU)->next(a));
  ASSERT_TRUE(task.stream(Split::Train, 2, 64, 5, torch::kCPU)->next(b));
  ASSERT_TRUE(task.stream(Split::Train, 3, 64, 5, torch::kCPU)->next(c));
  EXPECT_TRUE(torch::equal(a.inputs, b.inputs));
  EXPECT_FALSE(torch::equal(a.inputs, c.inputs));
  int64_t total = 0;
  auto s = task.stream(Split::Train, 1, 100, 5, torch::kCPU);
  while (s->next(a)) total += a.labels.size(0);
  EXPECT_EQ(total, 512);
}

TEST(OneChoice, RandomControlShufflesLabels) {
  auto o = small();
  o.shuffle_labels = true;
  OneChoiceTask shuffled(o);
  OneChoiceTask plain(small());
  EXPECT_TRUE(torch::equal(shuffled.problems(Split::Train), plain.problems(Split::Train)));
  EXPECT_FALSE(torch::equal(shuffled.labels(Split::Train), plain.labels(Split::Train)));
  EXPECT_TRUE(
      torch::equal(torch::bincount(shuffled.labels(Split::Train)), torch::bincount(plain.labels(Split::Train))));
}
