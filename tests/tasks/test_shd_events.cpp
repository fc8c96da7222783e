// Issue 36: SHD's batches gathered from the binned events where the kernels are (ShdEvents),
// against the host binning (bin_sparse, bin_per_sample, bin_fixed) and against the pipeline that
// binned every batch on the host: same batches, same weights after training.
#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "core/io.h"
#include "core/trainer.h"
#include "models/spiking_rnn.h"
#include "models/spiking_stack.h"
#include "tasks/batching.h"
#include "tasks/shd.h"
#include "tasks/shd_events.h"
#include "test_helpers.h"

using namespace sernn;

namespace {

/// Synthetic samples plus the edge cases: no events, zero span, the first and last unit, a
/// sample whose events all fall after a fixed binning's last step.
ShdData edge_data() {
  auto data = synth_shd({40, 3, 0.3, 500});
  data.add({}, {}, 4);
  data.add({0.25f, 0.25f}, {7, 7}, 5);
  data.add({0.1f, 0.9f, 0.3f}, {699, 0, 699}, 6);
  data.add({0.7f, 0.8f}, {5, 6}, 7);
  return data;
}

std::vector<int64_t> all_samples(const ShdData& d) {
  std::vector<int64_t> v(d.size());
  std::iota(v.begin(), v.end(), 0);
  return v;
}

torch::Tensor on_device(const std::vector<int64_t>& idx) { return torch::tensor(idx, torch::kInt64); }

}  // namespace

TEST(ShdEvents, BatchesAreBinSparsesBitForBitForBothBinnings) {
  const auto data = edge_data();
  const std::vector<int64_t> idx{41, 3, 40, 0, 17, 42, 39, 43, 3};  // a sample twice, the empty one
  for (const ShdBinning bn : {ShdBinning{true, 20, 0.0, 0}, ShdBinning{false, 0, 0.01, 60}}) {
    const ShdEvents events(data, all_samples(data), bn);
    EXPECT_EQ(events.size(), data.size());
    const auto expect = bin_sparse(data, idx, bn);
    const auto got = events.batch(on_device(idx), idx, /*sparse=*/true);
    ASSERT_TRUE(got.is_sparse() && got.is_coalesced());
    EXPECT_EQ(got.sizes(), expect.sizes());
    EXPECT_TRUE(torch::equal(got._indices(), expect._indices())) << "entries in a coalesced tensor's order";
    EXPECT_TRUE(torch::equal(got._values(), expect._values()));
    EXPECT_EQ(got._values().scalar_type(), torch::kFloat32);
    const auto dense = events.batch(on_device(idx), idx, /*sparse=*/false);
    EXPECT_FALSE(dense.is_sparse());
    EXPECT_TRUE(torch::equal(dense, bn.per_sample ? bin_per_sample(data, idx, 20) : bin_fixed(data, idx, 0.01, 60)));
    EXPECT_EQ(events.entries(idx), expect._nnz());
    std::vector<int64_t> labels;
    for (int64_t i : idx) labels.push_back(data.labels[i]);
    EXPECT_TRUE(torch::equal(events.labels(on_device(idx)), torch::tensor(labels, torch::kInt64)));
  }
}

TEST(ShdEvents, ASubsetOfSamplesIsIndexedInItsOwnOrder) {
  const auto data = edge_data();
  const std::vector<int64_t> subset{5, 9, 41, 42};
  const ShdBinning bn{true, 16, 0.0, 0};
  const ShdEvents events(data, subset, bn);
  ASSERT_EQ(events.size(), 4);
  const std::vector<int64_t> local{3, 0, 2}, file{42, 5, 41};
  const auto got = events.batch(on_device(local), local, true), expect = bin_sparse(data, file, bn);
  EXPECT_TRUE(torch::equal(got._indices(), expect._indices()));
  EXPECT_TRUE(torch::equal(got._values(), expect._values()));
  EXPECT_EQ(events.label(3), data.labels[42]);
}

TEST(ShdEvents, ABatchWithoutEventsIsEmptyNotAnError) {
  ShdData data;
  data.add({}, {}, 1);
  data.add({}, {}, 2);
  const ShdEvents events(data, {0, 1}, {true, 8, 0.0, 0});
  const auto got = events.batch(on_device({1, 0}), {1, 0}, true);
  EXPECT_EQ(got._nnz(), 0);
  EXPECT_EQ(got.sizes(), (std::vector<int64_t>{8, 2, 700}));
  EXPECT_EQ(events.batch(on_device({1, 0}), {1, 0}, false).sum().item<float>(), 0.0f);
}

namespace {

/// The pipeline before issue 36, as a task: every batch binned on the host from the events
/// (bin_sparse of the shuffled file indices). Only what the comparison needs: no validation split.
class HostBinnedShd : public Task {
 public:
  HostBinnedShd(const std::string& dir, int64_t bins)
      : train_(read_shd(dir + "/shd_train.h5")), test_(read_shd(dir + "/shd_test.h5")), bins_(bins) {}
  std::string name() const override { return "shd"; }
  int64_t input_size() const override { return kShdUnits; }
  int64_t num_classes() const override { return kShdClasses; }
  int64_t num_samples(Split s) const override {
    return s == Split::Train ? train_.size() : s == Split::Test ? test_.size() : 0;
  }
  int64_t train_batches(int64_t batch_size) const override { return train_.size() / batch_size; }
  std::unique_ptr<BatchStream> stream(Split split, int64_t epoch, int64_t batch_size, uint64_t seed,
                                      torch::Device) const override {
    const bool train = split == Split::Train;
    const ShdData& data = train ? train_ : test_;
    std::vector<int64_t> order(split == Split::Validation ? 0 : data.size());
    std::iota(order.begin(), order.end(), 0);
    if (train) std::shuffle(order.begin(), order.end(), std::mt19937_64(epoch_seed(seed, epoch)));
    return std::make_unique<Stream>(data, std::move(order), batch_size, train, bins_);
  }

 private:
  struct Stream : BatchStream {
    Stream(const ShdData& d, std::vector<int64_t> o, int64_t b, bool drop, int64_t bins)
        : data(d), order(std::move(o)), batch(b), drop_last(drop), bins(bins) {}
    bool next(Batch& out) override {
      const auto n = static_cast<int64_t>(order.size());
      if (pos >= n || (drop_last && n - pos < batch)) return false;
      const std::vector<int64_t> idx(order.begin() + pos, order.begin() + std::min(n, pos + batch));
      pos += static_cast<int64_t>(idx.size());
      out.inputs = bin_sparse(data, idx, {true, bins, 0.0, 0});
      std::vector<int64_t> labels;
      for (int64_t i : idx) labels.push_back(data.labels[i]);
      out.labels = torch::tensor(labels, torch::kInt64);
      return true;
    }
    const ShdData& data;
    std::vector<int64_t> order;
    int64_t batch, pos = 0;
    bool drop_last;
    int64_t bins;
  };
  ShdData train_, test_;
  int64_t bins_;
};

SpikingRNN seeded_network(uint64_t seed) {
  torch::manual_seed(seed);
  return SpikingRNN(SpikingRNNOptions(kShdUnits, 27, kShdClasses));
}

/// The parameters after one epoch of `task`: one network (K = 1) or a SpikingStack of K members
/// on seeds 1, 2, ..., K (members 0 and 1 on one seed when K > 2: they share their batches).
std::vector<torch::Tensor> trained(std::shared_ptr<const Task> task, int64_t K, const std::string& dir) {
  TrainerOptions o;
  o.out_dir = dir;
  o.epochs = 1;
  o.batch_size = 16;
  o.lr = 0.01;
  o.quiet = true;
  std::shared_ptr<Network> net;
  if (K == 1) {
    net = seeded_network(7).ptr();
  } else {
    std::vector<SpikingRNN> members;
    for (int64_t k = 0; k < K; ++k) {
      members.push_back(seeded_network(7 + k));
      o.member_dirs.push_back(fmt::format("{}/m{}", dir, k));
      o.member_seeds.push_back(k == 1 && K > 2 ? 1 : static_cast<uint64_t>(k + 1));
    }
    net = SpikingStack(members).ptr();
  }
  Trainer trainer(net, task, o);
  trainer.fit();
  std::vector<torch::Tensor> params;
  for (const auto& p : net->parameters()) params.push_back(p.detach().clone());
  return params;
}

}  // namespace

TEST(ShdEvents, TrainingGivesTheWeightsOfTheHostBinnedPipeline) {
  // Same seed, same batch order, same batches: after an epoch the weights are today's pipeline's
  // bit for bit, for one network and for an ensemble whose members 0 and 1 share their batches.
  const auto dir = sernn::testing::temp_dir("shd_events_train");
  make_dirs(dir + "/shd");
  write_shd(dir + "/shd/shd_train.h5", synth_shd({80, 1, 0.2, 400}));
  write_shd(dir + "/shd/shd_test.h5", synth_shd({24, 2, 0.2, 400}));
  ShdTaskOptions o;
  o.data_dir = dir + "/shd";
  o.bins = 20;
  const auto gathered = std::make_shared<const ShdTask>(o);
  const auto host = std::make_shared<const HostBinnedShd>(dir + "/shd", 20);
  for (const int64_t K : {1, 3}) {
    const auto a = trained(gathered, K, fmt::format("{}/gathered{}", dir, K));
    const auto b = trained(host, K, fmt::format("{}/host{}", dir, K));
    ASSERT_EQ(a.size(), b.size());
    for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "K = " << K << ", parameter " << i;
    const auto untrained = seeded_network(7)->parameters();
    EXPECT_FALSE(torch::equal(K == 1 ? a[0] : a[0][0], untrained[0])) << "the epoch trained";
  }
}
