// The fused CUDA kernels of the LIF network (models/cuda) against the CPU fast path and the
// reference path (per-step autograd), forward and every gradient, all four resets, float32; and a
// CUDA-trained run that exports a TorchScript model the CPU loads and runs. Every test skips where
// CUDA is absent (ctest label `gpu`; scripts/gpu-check.sh runs them).
#include <gtest/gtest.h>

#include <fmt/format.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "run/export.h"
#include "run/setup.h"
#include "core/errors.h"
#include "core/io.h"
#include "models/lif_sequence.h"
#include "models/spiking_rnn.h"
#include "models/spiking_stack.h"
#include "tasks/shd.h"
#include "test_helpers.h"

using namespace sernn;

namespace {

#define SKIP_WITHOUT_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

void copy_parameters(SpikingRNN& from, SpikingRNN& to) {
  torch::NoGradGuard g;
  auto dst = to->named_parameters();
  for (auto& p : from->named_parameters()) dst[p.key()].copy_(p.value());
  auto dst_b = to->named_buffers();
  for (auto& b : from->named_buffers()) dst_b[b.key()].copy_(b.value());
}

double max_abs(const torch::Tensor& a) { return a.abs().max().item<double>(); }

// float32 paths differ from each other by their summation order, and through 80 steps of
// surrogate gradients that rounding grows (measured on the CPU for the cases below: the fast path
// and the reference path are each up to 1.6e-3 from float64 with subtract_decayed, and 1e-3 apart).
// So the GPU is held to the CPU paths' own accuracy: its distance from the same computation in
// float64 may be at most 3 times the larger of theirs, plus a floor of 1e-5 of the scale. A wrong
// formula is off by the gradient's size, far above this.
void expect_as_accurate_as_cpu(const torch::Tensor& gpu, const torch::Tensor& cpu, const torch::Tensor& ref,
                               const torch::Tensor& f64, const std::string& what) {
  ASSERT_TRUE(gpu.defined()) << what;
  const auto truth = f64.to(torch::kFloat64);
  const double e_gpu = max_abs(gpu.cpu().to(torch::kFloat64) - truth);
  const double e_cpu = max_abs(cpu.to(torch::kFloat64) - truth), e_ref = max_abs(ref.to(torch::kFloat64) - truth);
  const double scale = std::max(1.0, max_abs(truth));
  EXPECT_LE(e_gpu, 3.0 * std::max(e_cpu, e_ref) + 1e-5 * scale)
      << what << ": GPU " << e_gpu << " from float64, CPU fast " << e_cpu << ", reference " << e_ref;
}

struct Case {
  std::string reset;
  int64_t hidden;
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.reset << ", N=" << c.hidden; }

class LifCuda : public ::testing::TestWithParam<Case> {};

}  // namespace

TEST_P(LifCuda, KernelsEqualCpuFastAndReferenceForwardAndAllGradients) {
  SKIP_WITHOUT_CUDA();
  const auto [reset, hidden] = GetParam();
  torch::manual_seed(21);
  SpikingRNNOptions o(40, hidden, 7);
  o.reset(parse_reset(reset));
  SpikingRNN cpu(o), ref(SpikingRNNOptions(o).reference(true)), gpu(o), f64(o);
  {
    torch::NoGradGuard g;
    cpu->input->weight.mul_(4.0);
    cpu->beta[0] = 1.2;  // outside [0, 1]: the in-step clamp and its zero gradient
  }
  copy_parameters(cpu, ref);
  copy_parameters(cpu, gpu);
  copy_parameters(cpu, f64);
  gpu->to(torch::kCUDA);
  f64->to(torch::kFloat64);
  auto x = (torch::rand({80, 6, 40}) < 0.5).to(torch::kFloat32);
  auto labels = torch::tensor({0, 4, 2, 1, 6, 3}, torch::kInt64);
  // The activity cost makes the spike counts' gradient part of the comparison.
  auto loss = [&](const NetworkOutput& out, const torch::Tensor& y) {
    return torch::nn::functional::cross_entropy(out.logits, y) + 0.5 * (out.activity - 0.1).pow(2).sum();
  };
  auto tc = cpu->simulate(x), tr = ref->simulate(x), tg = gpu->simulate(x.cuda());
  auto t64 = f64->simulate(x.to(torch::kFloat64));
  EXPECT_GT(tc.spikes.sum().item<double>(), 50) << "the case must spike";
  // -fmad=false and the CPU's summation order: the same spikes, bit for bit.
  EXPECT_TRUE(torch::equal(tg.spikes.cpu(), tc.spikes)) << "spikes differ from the CPU fast path";
  EXPECT_TRUE(torch::equal(tg.spikes.cpu(), tr.spikes)) << "spikes differ from the reference path";
  ASSERT_TRUE(torch::equal(t64.spikes.to(tc.spikes.scalar_type()), tc.spikes)) << "float64 must spike alike";
  expect_as_accurate_as_cpu(tg.readout_mem, tc.readout_mem, tr.readout_mem, t64.readout_mem, "readout membrane");

  auto oc = cpu->run(x, true), orf = ref->run(x, true), og = gpu->run(x.cuda(), true);
  auto o64 = f64->run(x.to(torch::kFloat64), true);
  EXPECT_LT(max_abs(og.activity.cpu() - oc.activity), 1e-6);
  loss(oc, labels).backward();
  loss(orf, labels).backward();
  loss(og, labels.cuda()).backward();
  loss(o64, labels).backward();
  auto ref_params = ref->named_parameters(), gpu_params = gpu->named_parameters(), f64_params = f64->named_parameters();
  for (auto& p : cpu->named_parameters())
    expect_as_accurate_as_cpu(gpu_params[p.key()].grad(), p.value().grad(), ref_params[p.key()].grad(),
                              f64_params[p.key()].grad(), p.key() + " gradient");
  EXPECT_EQ(gpu->beta.grad()[0].item<double>(), 0.0) << "clamped beta gets no gradient";
}

// 24 neurons (one warp), 300 (several warps) and 1500 (more neurons than threads in a block:
// the kernels' chunk loops) under every reset.
INSTANTIATE_TEST_SUITE_P(Resets, LifCuda,
                         ::testing::Values(Case{"subtract", 24}, Case{"subtract_decayed", 24}, Case{"zero", 24},
                                           Case{"zero_immediate", 24}, Case{"none", 24}, Case{"subtract", 300},
                                           Case{"zero", 300}, Case{"subtract_decayed", 1500}, Case{"none", 1500}),
                         [](const auto& info) { return info.param.reset + "_" + std::to_string(info.param.hidden); });

TEST(LifCudaNetwork, GradientWrtDriveEqualsCpu) {
  // lif_network directly: the input gradient (dL/d drive), which SpikingRNN folds into the
  // input weights' gradient, compared elementwise.
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(5);
  const int64_t T = 50, B = 3, N = 64, C = 4;
  auto drive = (torch::randn({T, B, N}) * 0.6 + 0.3);
  auto w = torch::randn({N, N}) * 0.2, beta = torch::rand({N});
  auto wo = torch::randn({C, N}) * 0.3, bo = torch::randn({C}) * 0.1, rb = torch::rand({C});
  auto run = [&](const torch::Device& d, torch::ScalarType type) {
    // detach(): a fresh leaf on each device (on the CPU, to() returns the tensor itself, which the
    // first run would otherwise leave requiring grad, so the CUDA copy would not be a leaf).
    auto leaf = [&](const torch::Tensor& t) { return t.detach().to(d, type).requires_grad_(); };
    auto dr = leaf(drive), ww = leaf(w), bb = leaf(beta), wwo = leaf(wo), bbo = leaf(bo);
    auto out = lif_network(dr, ww, bb, {wwo, bbo, rb.to(d, type)}, 1.0, 5.0, ResetMode::Subtract);
    (out.readout_mem.pow(2).sum() + out.counts.mul(torch::linspace(0, 1, N).to(d, type)).sum()).backward();
    return std::vector<torch::Tensor>{out.spikes.cpu(), dr.grad().cpu(),  ww.grad().cpu(),
                                      bb.grad().cpu(),  wwo.grad().cpu(), bbo.grad().cpu()};
  };
  const auto c = run(torch::kCPU, torch::kFloat32), g = run(torch::kCUDA, torch::kFloat32);
  const auto c64 = run(torch::kCPU, torch::kFloat64);
  EXPECT_TRUE(torch::equal(c[0], g[0]));
  ASSERT_TRUE(torch::equal(c[0], c64[0])) << "float64 must spike alike";
  const char* names[] = {"spikes", "drive", "weight", "beta", "readout.weight", "readout.bias"};
  for (size_t i = 1; i < c.size(); ++i) expect_as_accurate_as_cpu(g[i], c[i], c[i], c64[i], names[i]);
}

TEST(LifCudaNetwork, MembersInOneLaunchEqualEachMemberOnTheCpu) {
  // lif_network_members on CUDA (one launch per direction, member = blockIdx.y) against
  // lif_network on the CPU for each member's slices: spikes bit for bit, every gradient as
  // accurate as the CPU's own float32 (members with different weights, β and readouts, so a wrong
  // member offset shows).
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(9);
  const int64_t K = 5, T = 40, B = 3, N = 48, C = 4;
  const auto drive = torch::randn({K, T, B, N}) * 0.6 + 0.3, w = torch::randn({K, N, N}) * 0.2;
  const auto beta = torch::rand({K, N}), wo = torch::randn({K, C, N}) * 0.3, bo = torch::randn({K, C}) * 0.1;
  const auto rb = torch::rand({K, C});
  auto leaf = [](const torch::Tensor& t, const torch::Device& d, torch::ScalarType type) {
    return t.detach().to(d, type).requires_grad_();
  };
  const torch::Device gpu(torch::kCUDA);
  auto dr = leaf(drive, gpu, torch::kFloat32), ww = leaf(w, gpu, torch::kFloat32),
       bb = leaf(beta, gpu, torch::kFloat32);
  auto wwo = leaf(wo, gpu, torch::kFloat32), bbo = leaf(bo, gpu, torch::kFloat32);
  auto out = lif_network_members(dr, ww, bb, {wwo, bbo, rb.to(gpu)}, 1.0, 5.0, ResetMode::Subtract);
  const auto weights = torch::linspace(0, 1, N).to(gpu);
  (out.readout_mem.pow(2).sum() + out.counts.mul(weights).sum()).backward();
  const std::vector<torch::Tensor> g{dr.grad().cpu(), ww.grad().cpu(), bb.grad().cpu(), wwo.grad().cpu(),
                                     bbo.grad().cpu()};
  for (int64_t k = 0; k < K; ++k) {
    auto cpu = [&](torch::ScalarType type) {
      auto d = leaf(drive[k], torch::kCPU, type), x = leaf(w[k], torch::kCPU, type);
      auto b = leaf(beta[k], torch::kCPU, type), o = leaf(wo[k], torch::kCPU, type);
      auto ob = leaf(bo[k], torch::kCPU, type);
      auto r = lif_network(d, x, b, {o, ob, rb[k].to(type)}, 1.0, 5.0, ResetMode::Subtract);
      (r.readout_mem.pow(2).sum() + r.counts.mul(torch::linspace(0, 1, N).to(type)).sum()).backward();
      return std::vector<torch::Tensor>{r.spikes, d.grad(), x.grad(), b.grad(), o.grad(), ob.grad()};
    };
    const auto c = cpu(torch::kFloat32), c64 = cpu(torch::kFloat64);
    EXPECT_TRUE(torch::equal(out.spikes[k].cpu(), c[0])) << "member " << k;
    const char* names[] = {"drive", "weight", "beta", "readout.weight", "readout.bias"};
    for (size_t i = 0; i < g.size(); ++i)
      expect_as_accurate_as_cpu(g[i][k], c[i + 1], c[i + 1], c64[i + 1], fmt::format("member {} {}", k, names[i]));
  }
}

TEST(LifCudaRun, CudaTrainedRunExportsAModelTheCpuRuns) {
  SKIP_WITHOUT_CUDA();
  const auto dir = sernn::testing::temp_dir("cuda_export");
  const auto data = dir + "/data";
  make_dirs(data);
  write_shd(data + "/shd_train.h5", synth_shd({64, 1, 0.2}));
  write_shd(data + "/shd_test.h5", synth_shd({16, 2, 0.2}));
  Config c;
  for (const char* kv : {"model.kind=spiking", "task.kind=shd", "task.bins=20", "model.hidden=27", "model.grid=3,3,3",
                         "regularizer.kind=sernn", "regularizer.gamma=0.01", "train.epochs=2", "train.batch_size=32",
                         "train.threads=1", "train.device=cuda"})
    c.set(kv);
  c.set("task.data_dir=" + data);
  const auto run = dir + "/run";
  train_run(c, run, false, true);
  const auto path = dir + "/model.pt";
  EXPECT_LT(export_run(run, path, -1), 1e-5);
  auto m = torch::jit::load(path, torch::kCPU);
  auto x = (torch::rand({20, 2, 700}) < 0.05).to(torch::kFloat32);
  torch::NoGradGuard g;
  const auto readout = m.forward({x}).toTuple()->elements()[1].toTensor();
  EXPECT_EQ(readout.sizes(), (std::vector<int64_t>{20, 2, 20}));
  EXPECT_TRUE(torch::isfinite(readout).all().item<bool>());
}

TEST(CudaDevice, AnIndexBeyondTheDevicesIsAnInputErrorNamingTheCount) {
  // Issue 25: train.device = cuda:N on a machine with N devices or fewer failed deep in a copy.
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device";
  const auto n = static_cast<int64_t>(torch::cuda::device_count());
  try {
    parse_device(fmt::format("cuda:{}", n), "key 'train.device'");
    FAIL() << "cuda:" << n << " accepted";
  } catch (const sernn::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(fmt::format("{} CUDA device", n)), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_device(fmt::format("cuda:{}", n - 1), "key 'train.device'").index(), n - 1);
}

TEST(LifCudaNetwork, ProductionShapesAndChunkedSpikeProductsEqualTheCpu) {
  // Issue 25: the shapes users train (N = 100, T = 200, B = 128) with K = 8 members, so the
  // weight gradients' spike products run in several row chunks (member_spike_gemm keeps the
  // float copy of the spikes under 2^24 elements): spikes bit for bit, gradients as accurate as
  // the CPU's float32.
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(13);
  const int64_t K = 8, T = 200, B = 128, N = 100, C = 20;
  const auto drive = torch::randn({K, T, B, N}) * 0.5 + 0.25, w = torch::randn({K, N, N}) * 0.1;
  const auto beta = torch::rand({K, N}) * 0.3 + 0.7, wo = torch::randn({K, C, N}) * 0.3,
             bo = torch::randn({K, C}) * 0.1;
  const auto rb = torch::full({K, C}, 0.95);
  auto run = [&](const torch::Device& d, torch::ScalarType type) {
    std::vector<torch::Tensor> in;
    for (const auto& t : {drive, w, beta, wo, bo}) in.push_back(t.to(d, type).requires_grad_());
    auto out = lif_network_members(in[0], in[1], in[2], {in[3], in[4], rb.to(d, type)}, 1.0, 5.0, ResetMode::Subtract);
    (out.readout_mem.pow(2).mean() + out.counts.mean()).backward();
    std::vector<torch::Tensor> r{out.spikes.cpu()};
    for (auto& t : in) r.push_back(t.grad().cpu());
    return r;
  };
  const auto g = run(torch::kCUDA, torch::kFloat32), c = run(torch::kCPU, torch::kFloat32),
             c64 = run(torch::kCPU, torch::kFloat64);
  EXPECT_TRUE(torch::equal(g[0], c[0])) << "spikes: " << g[0].ne(c[0]).sum().item<int64_t>() << " differ";
  const char* names[] = {"spikes", "drive", "weight", "beta", "readout.weight", "readout.bias"};
  for (size_t i = 1; i < g.size(); ++i) expect_as_accurate_as_cpu(g[i], c[i], c[i], c64[i], names[i]);
}

TEST(LifCudaNetwork, Float64KernelsEqualTheCpuToRounding) {
  // The double instantiation of the kernels (sernn trains float64 with train.dtype): forward and
  // every gradient within 1e-10 of the CPU's float64, spikes bit for bit.
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(21);
  const int64_t K = 3, T = 60, B = 5, N = 40, C = 6;
  const auto o = torch::TensorOptions().dtype(torch::kFloat64);
  const auto drive = torch::randn({K, T, B, N}, o) * 0.6 + 0.3, w = torch::randn({K, N, N}, o) * 0.2;
  const auto beta = torch::rand({K, N}, o), wo = torch::randn({K, C, N}, o) * 0.3, bo = torch::randn({K, C}, o);
  const auto rb = torch::rand({K, C}, o);
  auto run = [&](const torch::Device& d) {
    std::vector<torch::Tensor> in;
    for (const auto& t : {drive, w, beta, wo, bo}) in.push_back(t.to(d).requires_grad_());
    auto out = lif_network_members(in[0], in[1], in[2], {in[3], in[4], rb.to(d)}, 1.0, 5.0, ResetMode::SubtractDecayed);
    (out.readout_mem.pow(2).sum() + out.counts.sum()).backward();
    std::vector<torch::Tensor> r{out.spikes.cpu(), out.readout_mem.detach().cpu()};
    for (auto& t : in) r.push_back(t.grad().cpu());
    return r;
  };
  const auto g = run(torch::kCUDA), c = run(torch::kCPU);
  EXPECT_TRUE(torch::equal(g[0], c[0]));
  for (size_t i = 1; i < g.size(); ++i)
    EXPECT_LT(max_abs(g[i] - c[i]), 1e-10 * std::max(1.0, max_abs(c[i]))) << "tensor " << i;
}

TEST(LifCudaRun, ARunTrainedOnCudaEndsWhereTheCpuRunEnds) {
  // One configuration trained on the CPU and on CUDA (SHD-format sparse batches, the sernn
  // penalty, an ensemble-free run): after 4 Adam steps the weights agree to within the steps'
  // own size wherever rounding could flip an update's sign, and almost everywhere to 1e-5.
  SKIP_WITHOUT_CUDA();
  const auto dir = sernn::testing::temp_dir("cuda_vs_cpu");
  const auto data = dir + "/data";
  make_dirs(data);
  write_shd(data + "/shd_train.h5", synth_shd({64, 1, 0.2}));
  write_shd(data + "/shd_test.h5", synth_shd({16, 2, 0.2}));
  auto config = [&](const std::string& device) {
    Config c;
    for (const char* kv : {"model.kind=spiking", "task.kind=shd", "task.bins=20", "model.hidden=27", "model.grid=3,3,3",
                           "model.slope=5", "regularizer.kind=sernn", "regularizer.gamma=0.01", "train.epochs=2",
                           "train.batch_size=32", "train.threads=1"})
      c.set(kv);
    c.set("task.data_dir=" + data);
    c.set("train.device=" + device);
    return c;
  };
  train_run(config("cpu"), dir + "/cpu", false, true);
  train_run(config("cuda"), dir + "/cuda", false, true);
  const auto a = read_matrix_csv(dir + "/cpu/weights/epoch_002.csv"),
             b = read_matrix_csv(dir + "/cuda/weights/epoch_002.csv");
  const auto diff = (a - b).abs();
  EXPECT_LE(diff.max().item<double>(), 4 * 1e-3 + 1e-5) << "at most every step's update flipped";
  EXPECT_GE(diff.le(1e-5).to(torch::kFloat64).mean().item<double>(), 0.99) << "weights agree almost everywhere";
  EXPECT_GT((a - read_matrix_csv(dir + "/cpu/weights/epoch_000.csv")).abs().max().item<double>(), 1e-3)
      << "the runs trained";
}

TEST(SpikingStackCuda, StackedMembersOnCudaComputeWhatEachMemberComputesOnTheCpu) {
  // Issue 25: a SpikingStack on CUDA (one batched input projection of the densified sparse
  // batches, one LIF launch per direction) against each member alone on the CPU: activity bit for
  // bit, logits and every parameter's gradient to float32 rounding.
  SKIP_WITHOUT_CUDA();
  torch::manual_seed(4);
  std::vector<SpikingRNN> ms;
  for (int k = 0; k < 3; ++k) ms.emplace_back(SpikingRNNOptions(70, 24, 5).slope(5.0));
  SpikingStack stack(ms);
  stack->to(torch::kCUDA);
  const auto x = ((torch::rand({20, 6, 70}) < 0.05).to(torch::kFloat32) * 2.0).to_sparse();
  // Members 0 and 1 share one batch tensor (as the Trainer passes a seed's batch), member 2 has a copy.
  const auto shared = x.to(torch::kCUDA);
  const auto out = stack->run_members({shared, shared, x.to(torch::kCUDA)}, true);
  out.logits.pow(2).sum().backward();
  for (int k = 0; k < 3; ++k) {
    const auto ref = ms[k]->run(x, true);
    ref.logits.pow(2).sum().backward();
    EXPECT_TRUE(torch::equal(out.activity[k].cpu(), ref.activity)) << "member " << k;
    EXPECT_LT(max_abs(out.logits[k].detach().cpu() - ref.logits.detach()), 1e-4) << "member " << k;
    for (const auto& p : ms[k]->named_parameters()) {
      if (!p.value().grad().defined()) continue;
      const auto g = stack->named_parameters()[p.key()].grad()[k].cpu();
      EXPECT_LT(max_abs(g - p.value().grad()), 1e-4 * std::max(1.0, max_abs(p.value().grad())))
          << "member " << k << " " << p.key();
    }
  }
}
