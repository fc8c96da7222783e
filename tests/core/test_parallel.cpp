// core/parallel.h: the sleeping pool with dynamic chunks, the thread choice and the cgroup quota.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <tuple>
#include <vector>

#include <torch/torch.h>

#include "core/parallel.h"

using namespace sernn;

namespace {
struct PoolSize {  // restores the pool after a test
  int64_t before = parallel_threads();
  ~PoolSize() { set_parallel_threads(before); }
};
}  // namespace

TEST(Parallel, EveryIndexExactlyOnceForAnyPoolAndGrain) {
  PoolSize restore;
  for (int64_t threads : {1, 2, 4})
    for (int64_t n : {0, 1, 7, 128, 1000})
      for (int64_t grain : {1, 16, 5000})
        for (int64_t per_thread : {1, 4}) {
          set_parallel_threads(threads);
          std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
          parallel_for(
              0, n, grain,
              [&](int64_t b0, int64_t b1) {
                EXPECT_LE(0, b0);
                EXPECT_LT(b0, b1);
                for (int64_t i = b0; i < b1; ++i) hits[static_cast<size_t>(i)]++;
              },
              per_thread);
          for (int64_t i = 0; i < n; ++i)
            ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << threads << " threads, n " << n << ", grain " << grain;
        }
}

TEST(Parallel, WorkersShareTheWorkAndNestedCallsRunInline) {
  PoolSize restore;
  set_parallel_threads(3);
  EXPECT_EQ(parallel_threads(), 3);
  std::atomic<int> inner{0};
  std::mutex m;
  std::set<std::thread::id> ids;
  auto seen = [&] {
    std::lock_guard<std::mutex> g(m);
    return ids.size();
  };
  parallel_for(0, 300, 1, [&](int64_t b0, int64_t b1) {
    {
      std::lock_guard<std::mutex> g(m);
      ids.insert(std::this_thread::get_id());
    }
    // Hold this chunk until a second thread has taken one (a worker woke), or 10 s pass.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (seen() < 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    parallel_for(b0, b1, 1, [&](int64_t c0, int64_t c1) { inner += static_cast<int>(c1 - c0); });
  });
  EXPECT_EQ(inner.load(), 300);
  EXPECT_GE(ids.size(), 2u) << "the pool's workers took chunks";
}

TEST(Parallel, ExceptionInAChunkReachesTheCaller) {
  PoolSize restore;
  set_parallel_threads(2);
  EXPECT_THROW(parallel_for(0, 100, 1,
                            [&](int64_t b0, int64_t) {
                              if (b0 == 0) throw std::runtime_error("chunk failed");
                            }),
               std::runtime_error);
  // The pool is usable afterwards.
  std::atomic<int64_t> sum{0};
  parallel_for(0, 100, 1, [&](int64_t b0, int64_t b1) { sum += b1 - b0; });
  EXPECT_EQ(sum.load(), 100);
}

TEST(Parallel, CgroupQuotaInCores) {
  EXPECT_EQ(cgroup_quota_cores("max 100000"), 0);
  EXPECT_EQ(cgroup_quota_cores("150000 100000"), 2);  // 1.5 cores round up
  EXPECT_EQ(cgroup_quota_cores("50000 100000"), 1);
  EXPECT_EQ(cgroup_quota_cores("400000 100000\n"), 4);
  EXPECT_EQ(cgroup_quota_cores("garbage"), 0);
  EXPECT_EQ(cgroup_quota_cores(-1, 100000), 0);  // v1: no quota
  EXPECT_EQ(cgroup_quota_cores(250000, 100000), 3);
  const int64_t cores = available_cores();
  EXPECT_GE(cores, 1);
  EXPECT_LE(cores, static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency())));
}

TEST(Parallel, ThreadChoiceFollowsBatchCoresAndModelSize) {
  auto c = choose_threads(0, 128, 100, 8);  // auto: 128 rows -> 4 threads of 32 rows, 8 cores
  EXPECT_EQ(c.threads, 4);
  EXPECT_EQ(c.intra_op, 1) << "N = 100: LibTorch's small ops stay single-threaded";
  EXPECT_NE(c.reason.find("auto"), std::string::npos);
  EXPECT_EQ(choose_threads(0, 128, 100, 2).threads, 2);  // capped by the cores available
  EXPECT_EQ(choose_threads(0, 16, 100, 8).threads, 1);   // a small batch does not pay
  EXPECT_EQ(choose_threads(3, 16, 100, 2).threads, 3);   // asked for: taken as given
  const auto big = choose_threads(0, 256, 1024, 4);
  EXPECT_EQ(big.threads, 4);
  // Issue 26 made this 1 (was: N = 1024 -> 4): LibTorch's reductions and threaded GEMMs round by
  // the thread count; the pool runs the large products in fixed pieces instead (blocked_matmul).
  EXPECT_EQ(big.intra_op, 1) << "N = 1024: results must not depend on the threads";
}

TEST(Parallel, RowBlocksAreFixedByTheShapeNotTheThreads) {
  PoolSize restore;
  for (int64_t threads : {1, 2, 3}) {
    set_parallel_threads(threads);
    std::mutex m;
    std::set<std::tuple<int64_t, int64_t, int64_t>> pieces;
    for_row_blocks(3, 80, [&](int64_t k, int64_t b0, int64_t b1) {
      std::lock_guard<std::mutex> g(m);
      pieces.insert({k, b0, b1});
    });
    std::set<std::tuple<int64_t, int64_t, int64_t>> expected;
    for (int64_t k = 0; k < 3; ++k)
      for (auto [b0, b1] : {std::pair<int64_t, int64_t>{0, 32}, {32, 64}, {64, 80}}) expected.insert({k, b0, b1});
    EXPECT_EQ(pieces, expected) << threads << " threads";
  }
}

TEST(Parallel, BlockedProductIsTheSameBitsAtAnyThreadCountAndForAMemberAlone) {
  PoolSize restore;
  torch::manual_seed(3);
  const auto a = torch::randn({4, 150, 90}), b = torch::randn({4, 90, 70}), bias = torch::randn({4, 70});
  torch::NoGradGuard no_grad;
  set_parallel_threads(1);
  const auto one = blocked_matmul(a, b, bias), plain = blocked_matmul(a, b);
  EXPECT_LT((one - torch::baddbmm(bias.unsqueeze(1), a, b)).abs().max().item<double>(), 1e-4);
  EXPECT_LT((plain - torch::bmm(a, b)).abs().max().item<double>(), 1e-4);
  for (int64_t threads : {2, 3}) {
    set_parallel_threads(threads);
    EXPECT_TRUE(torch::equal(blocked_matmul(a, b, bias), one)) << threads << " threads";
    // A transposed operand, as the weight gradients pass it.
    EXPECT_TRUE(torch::equal(blocked_matmul(a.transpose(1, 2), a), [&] {
      set_parallel_threads(1);
      auto r = blocked_matmul(a.transpose(1, 2), a);
      set_parallel_threads(threads);
      return r;
    }()));
  }
  for (int64_t k = 0; k < 4; ++k) {
    EXPECT_TRUE(torch::equal(blocked_matmul(a[k], b[k], bias[k]), one[k])) << "member " << k;
    EXPECT_TRUE(torch::equal(blocked_matmul(a[k], b[k]), plain[k])) << "member " << k;
  }
  // Recording autograd: the plain product, differentiable.
  torch::AutoGradMode grad(true);
  const auto w = b[0].clone().requires_grad_(true);
  blocked_matmul(a[0], w).sum().backward();
  EXPECT_TRUE(w.grad().defined());
}
