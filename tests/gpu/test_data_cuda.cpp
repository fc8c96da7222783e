// Issue 36 on a GPU: SHD's batches gathered on the device equal the host binning; training steps
// at production shapes never wait for the host (CUDA's sync debug mode set to error); operators
// refuse tensors on mixed devices by name; members reading one batch share it. Every test skips
// where CUDA is absent (ctest label `gpu`; scripts/gpu-check.sh runs them).
#include <gtest/gtest.h>

#include <numeric>

#include <fmt/format.h>
#include <torch/torch.h>

#ifdef SERNN_HAS_CUDA
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "core/geometry.h"
#include "core/io.h"
#include "core/trainer.h"
#include "models/lif_sequence.h"
#include "models/spiking_rnn.h"
#include "models/spiking_stack.h"
#include "regularizers/penalties.h"
#include "tasks/shd.h"
#include "tasks/shd_events.h"
#include "test_helpers.h"

using namespace sernn;

namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

TEST(ShdEventsCuda, BatchesGatheredOnTheDeviceEqualTheHostBinning) {
  SKIP_WITHOUT_CUDA();
  auto data = synth_shd({300, 5, 0.2, 4800});  // SHD's event counts
  data.add({}, {}, 3);
  const std::vector<int64_t> idx{300, 17, 4, 299, 150, 17, 0};
  for (const ShdBinning bn : {ShdBinning{true, 200, 0.0, 0}, ShdBinning{false, 0, 0.005, 250}}) {
    const auto events = ShdEvents(data, iota(data.size()), bn).to(torch::kCUDA);
    const auto on = torch::tensor(idx, torch::kInt64).to(torch::kCUDA);
    const auto dense = events.batch(on, idx, /*sparse=*/false);
    EXPECT_TRUE(dense.is_cuda());
    EXPECT_TRUE(
        torch::equal(dense.cpu(), bn.per_sample ? bin_per_sample(data, idx, 200) : bin_fixed(data, idx, 0.005, 250)));
    const auto sparse = events.batch(on, idx, /*sparse=*/true), expect = bin_sparse(data, idx, bn);
    EXPECT_TRUE(torch::equal(sparse._indices().cpu(), expect._indices()));
    EXPECT_TRUE(torch::equal(sparse._values().cpu(), expect._values()));
    EXPECT_TRUE(torch::equal(events.labels(on).cpu(), ShdEvents(data, iota(data.size()), bn).labels(on.cpu())));
  }
}

TEST(MixedDevicesCuda, AProjectionRefusesACpuBatchWithCudaWeightsNamingBoth) {
  SKIP_WITHOUT_CUDA();
  const auto x = torch::rand({4, 3, 10}), w = torch::rand({5, 10}, torch::kCUDA), b = torch::rand({5}, torch::kCUDA);
  try {
    input_projection(x, w, b);
    FAIL() << "a CPU input with CUDA weights ran";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cuda"), std::string::npos) << msg;
  }
}

TEST(SharedBatchCuda, MembersReadingOneBatchEqualEachMemberAlone) {
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(3);
  const int64_t K = 4;
  const auto x = torch::rand({50, 16, 700}, torch::kCUDA).gt(0.97).to(torch::kFloat32);
  const auto w = torch::randn({K, 64, 700}, torch::kCUDA) * 0.05, b = torch::randn({K, 64}, torch::kCUDA);
  const auto y = member_input_projection(std::vector<torch::Tensor>(K, x), w, b);  // one GEMM, no copies
  ASSERT_EQ(y.sizes(), (std::vector<int64_t>{K, 50, 16, 64}));
  for (int64_t k = 0; k < K; ++k) {
    const auto alone = input_projection(x, w[k], b[k]);
    EXPECT_LE((y[k] - alone).abs().max().item<double>(), 1e-4) << "member " << k;
  }
}

namespace {

/// Trains a spiking network (K = 1) or a SpikingStack of K members on full-size SHD-shaped data
/// (700 channels, T = 200, B = 128, ~4,700 events per sample, the seRNN penalty) for one epoch
/// on CUDA, with CUDA's sync debug mode set to error inside every step.
void train_without_host_waits(int64_t hidden, int64_t K, torch::Dtype dtype) {
  const auto dir = sernn::testing::temp_dir(fmt::format("sync_{}_{}", hidden, K));
  make_dirs(dir + "/shd");
  write_shd(dir + "/shd/shd_train.h5", synth_shd({3 * 128, 1, 0.2, 4700}));
  write_shd(dir + "/shd/shd_test.h5", synth_shd({128, 2, 0.2, 4700}));
  ShdTaskOptions so;
  so.data_dir = dir + "/shd";
  so.bins = 200;
  const auto task = std::make_shared<const ShdTask>(so);
  torch::manual_seed(1);
  const auto coords = torch::rand({hidden, 3}, torch::kFloat64);
  TrainerOptions o;
  o.out_dir = dir + "/run";
  o.epochs = 1;
  o.batch_size = 128;
  o.quiet = true;
  o.log_every = 1000;
  o.grad_clip = 1.0;
  o.device = torch::kCUDA;
  WiringPenaltyOptions po;  // the shipped seRNN penalty: distance x communicability
  po.distance = distance_matrix(coords);
  const auto penalty = std::make_shared<const WiringPenalty>(po);
  std::shared_ptr<Network> net;
  if (K == 1) {
    net = SpikingRNN(SpikingRNNOptions(kShdUnits, hidden, kShdClasses)).ptr();
    o.loss = {task_loss_term(), penalty_term(penalty, 0.01)};
  } else {
    std::vector<SpikingRNN> members;
    for (int64_t k = 0; k < K; ++k) {
      members.emplace_back(SpikingRNNOptions(kShdUnits, hidden, kShdClasses));
      o.member_dirs.push_back(fmt::format("{}/m{}", dir, k));
      o.member_seeds.push_back(1);  // one stream, one batch for all
      o.member_loss.push_back({task_loss_term(), penalty_term(penalty, 0.01 * (k + 1))});
    }
    net = SpikingStack(members).ptr();
  }
  net->to(dtype);
  int64_t steps = 0;
#ifdef SERNN_HAS_CUDA
  o.in_step = [&](bool inside) {
    if (inside) ++steps;
    c10::cuda::warning_state().set_sync_debug_mode(inside ? c10::cuda::SyncDebugMode::L_ERROR
                                                          : c10::cuda::SyncDebugMode::L_DISABLED);
  };
#endif
  Trainer trainer(net, task, o);
  EXPECT_NO_THROW(trainer.fit()) << "N = " << hidden << ", K = " << K;
#ifdef SERNN_HAS_CUDA
  c10::cuda::warning_state().set_sync_debug_mode(c10::cuda::SyncDebugMode::L_DISABLED);
#endif
  EXPECT_EQ(steps, 4) << "three steps and the end of the stream, each inside the switch";
  for (const auto& p : net->parameters()) EXPECT_TRUE(torch::isfinite(p).all().item<bool>());
}

}  // namespace

TEST(NoHostWaitCuda, TrainingStepsAtN100NeverSynchronise) {
  SKIP_WITHOUT_CUDA();
  train_without_host_waits(100, 1, torch::kFloat32);
}

TEST(NoHostWaitCuda, TrainingStepsAtN1024NeverSynchronise) {
  SKIP_WITHOUT_CUDA();
  train_without_host_waits(1024, 1, torch::kFloat32);
}

TEST(NoHostWaitCuda, Float64TrainingStepsNeverSynchronise) {
  SKIP_WITHOUT_CUDA();
  train_without_host_waits(100, 1, torch::kFloat64);
}

TEST(NoHostWaitCuda, EnsembleStepsOnOneSharedBatchNeverSynchronise) {
  SKIP_WITHOUT_CUDA();
  train_without_host_waits(100, 4, torch::kFloat32);
}
