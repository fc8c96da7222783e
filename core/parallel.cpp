#include "core/parallel.h"

#include <dlfcn.h>
#include <malloc.h>
#include <sched.h>

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace sernn {
namespace {

void set_omp_threads(int n) {
#ifdef _OPENMP
  omp_set_num_threads(n);
#else
  (void)n;
#endif
}

/// MKL's thread-local thread count, where the process has MKL (pip's torch links it; Debian's has
/// OpenBLAS, which follows OpenMP). torch.set_num_threads sets MKL's count with
/// mkl_set_num_threads, after which MKL ignores OpenMP's, so a GEMM inside a chunk would still use
/// torch's threads and round by their count (found by the Python thread-count test on an AMD
/// EPYC with pip's torch 2.11). The C entry, MKL_Set_Num_Threads_Local (mkl_set_num_threads_local
/// is the Fortran one, which takes a pointer). Returns the previous local count (0: none), or 0
/// without MKL.
int set_mkl_local_threads(int n) {
  using Setter = int (*)(int);
  static const auto setter = reinterpret_cast<Setter>(dlsym(RTLD_DEFAULT, "MKL_Set_Num_Threads_Local"));
  return setter ? setter(n) : 0;
}

int omp_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/// BLAS on this thread only while it lives (OpenMP and MKL), as it was after.
class SingleThreadedBlas {
 public:
  SingleThreadedBlas() : omp_before_(omp_threads()), mkl_before_(set_mkl_local_threads(1)) { set_omp_threads(1); }
  ~SingleThreadedBlas() {
    set_omp_threads(omp_before_);
    set_mkl_local_threads(mkl_before_);
  }
  SingleThreadedBlas(const SingleThreadedBlas&) = delete;
  SingleThreadedBlas& operator=(const SingleThreadedBlas&) = delete;

 private:
  int omp_before_, mkl_before_;
};

thread_local bool t_in_chunk = false;

struct Job {
  const std::function<void(int64_t, int64_t)>* fn = nullptr;
  int64_t end = 0, chunk = 1;
  std::atomic<int64_t> next{0};
  int active = 0;  // workers inside this job (guarded by the pool mutex)
  std::exception_ptr error;
  std::mutex error_mutex;

  void run_chunks() {
    t_in_chunk = true;
    for (;;) {
      const int64_t b0 = next.fetch_add(chunk);
      if (b0 >= end) break;
      try {
        (*fn)(b0, std::min(end, b0 + chunk));
      } catch (...) {
        std::lock_guard<std::mutex> g(error_mutex);
        if (!error) error = std::current_exception();
        next.store(end);  // stop handing out chunks
      }
    }
    t_in_chunk = false;
  }
};

class Pool {
 public:
  ~Pool() { resize(1); }

  int64_t threads() const { return static_cast<int64_t>(workers_.size()) + 1; }

  void resize(int64_t threads) {
    {
      std::lock_guard<std::mutex> g(m_);
      stop_ = true;
    }
    work_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
    stop_ = false;
    for (int64_t i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }

  void run(Job& job) {
    {
      std::lock_guard<std::mutex> g(m_);
      job_ = &job;
      ++generation_;
    }
    work_.notify_all();
    job.run_chunks();
    std::unique_lock<std::mutex> lk(m_);
    job_ = nullptr;  // workers not yet inside never will be
    done_.wait(lk, [&] { return job.active == 0; });
  }

 private:
  void loop() {
    set_omp_threads(1);  // LibTorch ops and BLAS inside a chunk stay on this thread
    set_mkl_local_threads(1);
    uint64_t seen = 0;
    for (;;) {
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lk(m_);
        work_.wait(lk, [&] { return stop_ || (job_ && generation_ != seen); });
        if (stop_) return;
        seen = generation_;
        job = job_;
        ++job->active;
      }
      job->run_chunks();
      std::lock_guard<std::mutex> g(m_);
      if (--job->active == 0) done_.notify_all();
    }
  }

  std::mutex m_;
  std::condition_variable work_, done_;
  std::vector<std::thread> workers_;
  Job* job_ = nullptr;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p;
  return p;
}

std::mutex& pool_call_mutex() {  // one parallel_for at a time from outside (e.g. two trainers)
  static std::mutex m;
  return m;
}

int64_t read_int(const std::string& path) {
  std::ifstream in(path);
  int64_t v = 0;
  return (in >> v) ? v : 0;
}

}  // namespace

void parallel_for(int64_t begin, int64_t end, int64_t grain, const std::function<void(int64_t, int64_t)>& fn,
                  int64_t chunks_per_thread) {
  if (begin >= end) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t threads = pool().threads(), range = end - begin;
  if (t_in_chunk) return fn(begin, end);  // BLAS is on one thread already
  if (threads == 1 || range <= grain) {
    // Inline, but as in a chunk: BLAS on this thread only (a threaded GEMM rounds by the threads).
    const SingleThreadedBlas single;
    fn(begin, end);
    return;
  }
  std::lock_guard<std::mutex> serial(pool_call_mutex());
  Job job;
  job.fn = &fn;
  job.end = end;
  job.next = begin;
  // A thread that is not scheduled leaves its chunks to the others.
  const int64_t chunks = threads * std::max<int64_t>(1, chunks_per_thread);
  job.chunk = std::max(grain, (range + chunks - 1) / chunks);
  {
    const SingleThreadedBlas single;
    pool().run(job);
  }
  if (job.error) std::rethrow_exception(job.error);
}

namespace {

/// fn(k, r0, r1) for every member k < K and block [r0, r1) of `rows` rows of [0, M), pieces
/// handed out `grain` at a time at least: for_row_blocks and blocked_matmul.
void for_blocks(int64_t K, int64_t M, int64_t rows, int64_t grain,
                const std::function<void(int64_t, int64_t, int64_t)>& fn) {
  const int64_t blocks = (M + rows - 1) / rows;
  parallel_for(0, K * blocks, grain, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t k = u / blocks, r0 = (u % blocks) * rows;
      fn(k, r0, std::min(M, r0 + rows));
    }
  });
}

}  // namespace

void for_row_blocks(int64_t K, int64_t B, const std::function<void(int64_t, int64_t, int64_t)>& fn, int64_t rows) {
  for_blocks(K, B, rows, 1, fn);
}

at::Tensor blocked_matmul(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias) {
  const bool pair = a.dim() == 2 && b.dim() == 2, batch = a.dim() == 3 && b.dim() == 3 && a.size(0) == b.size(0);
  if (!a.is_cpu() || !b.is_cpu() || at::GradMode::is_enabled() || !(pair || batch)) {
    const auto ab = at::matmul(a, b);
    return bias.defined() ? ab + (batch ? bias.unsqueeze(1) : bias) : ab;
  }
  // One operator to a profiler (as a GPU runs it): the pieces are its CPU implementation.
  RECORD_FUNCTION("sernn::blocked_matmul", std::vector<c10::IValue>({a, b}));
  const auto a3 = batch ? a : a.unsqueeze(0), b3 = batch ? b : b.unsqueeze(0);
  const auto bias2 = !bias.defined() ? bias : batch ? bias : bias.unsqueeze(0);
  const int64_t K = a3.size(0), M = a3.size(1), Q = b3.size(2);
  auto out = at::empty({K, M, Q}, a.options());
  // Small products run their pieces on the calling thread (the same pieces: the same bits): waking
  // a worker costs more than a [100 x 100] product (the penalty's, every step).
  constexpr double kMacsPerChunk = 8.0 * (1 << 20);
  const double macs = static_cast<double>(kProductRows) * static_cast<double>(a3.size(2)) * static_cast<double>(Q);
  const auto grain = static_cast<int64_t>(std::ceil(kMacsPerChunk / std::max(1.0, macs)));
  for_blocks(K, M, kProductRows, grain, [&](int64_t k, int64_t r0, int64_t r1) {
    at::NoGradGuard no_grad;                // worker threads start with grad mode on
    at::DisableRecordFunctionGuard inside;  // the pieces are not operators of their own
    auto rows = out[k].slice(0, r0, r1);    // contiguous: the product writes in place
    if (bias2.defined()) at::addmm_out(rows, bias2[k], a3[k].slice(0, r0, r1), b3[k]);
    else at::mm_out(rows, a3[k].slice(0, r0, r1), b3[k]);
  });
  return batch ? out : out.squeeze(0);
}

int64_t parallel_threads() { return pool().threads(); }

void set_parallel_threads(int64_t threads) {
  threads = std::max<int64_t>(1, threads);
  std::lock_guard<std::mutex> serial(pool_call_mutex());
  if (threads != pool().threads()) pool().resize(threads);
}

int64_t cgroup_quota_cores(int64_t quota_us, int64_t period_us) {
  if (quota_us <= 0 || period_us <= 0) return 0;
  return std::max<int64_t>(1, (quota_us + period_us - 1) / period_us);
}

int64_t cgroup_quota_cores(const std::string& cpu_max) {
  std::istringstream in(cpu_max);
  std::string quota;
  int64_t period = 0;
  if (!(in >> quota >> period) || quota == "max") return 0;
  try {
    return cgroup_quota_cores(std::stoll(quota), period);
  } catch (const std::exception&) {
    return 0;
  }
}

int64_t available_cores() {
  int64_t cores = std::max<unsigned>(1, std::thread::hardware_concurrency());
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cores = std::max(1, CPU_COUNT(&set));
  int64_t quota = 0;
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  if (v2) {
    std::string text;
    std::getline(v2, text);
    quota = cgroup_quota_cores(text);
  } else {
    quota = cgroup_quota_cores(read_int("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
                               read_int("/sys/fs/cgroup/cpu/cpu.cfs_period_us"));
  }
  return quota > 0 ? std::min(cores, quota) : cores;
}

ThreadChoice choose_threads(int64_t requested, int64_t batch, int64_t hidden, int64_t cores) {
  // 32 rows per thread: at B = 128, N = 100 (2-core dev machine) 2 threads of 64 rows ran the
  // rate step 1.35x faster than 1; thinner slices turn the per-step products into GEMV-like calls.
  constexpr int64_t kRowsPerThread = 32;
  ThreadChoice c;
  c.cores = cores = std::max<int64_t>(1, cores);
  if (requested > 0) {
    c.threads = requested;
    c.reason = fmt::format("{} requested", requested);
  } else {
    const int64_t by_batch = std::max<int64_t>(1, batch / kRowsPerThread);
    c.threads = std::min(cores, by_batch);
    c.reason = fmt::format("auto: {} core{} available, batch {} -> {} (>= {} rows per thread)", cores,
                           cores == 1 ? "" : "s", batch, by_batch, kRowsPerThread);
  }
  // LibTorch's reductions and threaded GEMMs round by the thread count: they stay on one thread,
  // and sernn's pool runs the large products in pieces fixed by their shape (blocked_matmul).
  c.intra_op = 1;
  c.reason += fmt::format("; N = {}: LibTorch ops single-threaded (results independent of threads)", hidden);
  return c;
}

ThreadChoice configure_threads(int64_t requested, int64_t batch, int64_t hidden) {
  const auto choice = choose_threads(requested, batch, hidden, available_cores());
  set_parallel_threads(choice.threads);
  at::set_num_threads(static_cast<int>(std::max<int64_t>(1, choice.intra_op)));
  return choice;
}

void configure_allocator() {
  // Every block from the heap and none given back: a training step allocates the same buffers
  // every batch, and memory returned to the kernel comes back as page faults on the next one.
  // - No mmap (M_MMAP_MAX 0): glibc caps the mmap threshold at 32 MB, so larger blocks were mapped
  //   and faulted anew on every allocation (an ensemble of 16 rate networks, [K, T, B, N] = 41 MB
  //   buffers, spent 60 % of its time in page faults, 10x slower per network than one of 8).
  // - No trimming (M_TRIM_THRESHOLD -1): a freed block above the threshold at the heap's top was
  //   returned (128 members: 328 MB buffers, 17 % of the time in page faults at 256 MB).
  // The process keeps its peak heap until it exits, which a training run reaches every step.
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_MMAP_MAX, 0);
  mallopt(M_TRIM_THRESHOLD, -1);
}

}  // namespace sernn
