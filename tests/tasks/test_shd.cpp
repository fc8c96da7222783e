// SHD loader, binnings, synthetic generator, task batching and the downloader.
#include <gtest/gtest.h>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "core/errors.h"
#include "core/io.h"
#include "tasks/fetch.h"
#include "tasks/shd.h"
#include "test_helpers.h"

using namespace sernn;
namespace fs = std::filesystem;

namespace {
// Two hand-made samples; times are exact in float16 (multiples of 1/256 s).
ShdData hand_data() {
  ShdData d;
  d.add({0.25f, 0.25f, 0.5f, 1.25f}, {3, 3, 699, 0}, 7, 2);
  d.add({0.125f}, {10}, 19, 5);
  return d;
}

std::string expect_input_error(const std::string& path) {
  try {
    read_shd(path);
  } catch (const InputError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no InputError for " << path;
  return "";
}

bool python_h5py() { return std::system("/usr/bin/python3 -c 'import h5py' > /dev/null 2>&1") == 0; }

void python(const std::string& code) {
  const std::string cmd = "/usr/bin/python3 -c '" + code + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
}
}  // namespace

TEST(Shd, WriteReadRoundTripKeepsRaggedSamples) {
  const auto dir = sernn::testing::temp_dir("rt");
  write_shd(dir + "/a.h5", hand_data());
  auto d = read_shd(dir + "/a.h5");
  ASSERT_EQ(d.size(), 2);
  EXPECT_EQ(d.offsets, (std::vector<int64_t>{0, 4, 5}));
  EXPECT_EQ(d.times, hand_data().times);
  EXPECT_EQ(d.units, hand_data().units);
  EXPECT_EQ(d.labels, (std::vector<int64_t>{7, 19}));
  EXPECT_EQ(d.speakers, (std::vector<int64_t>{2, 5}));
}

TEST(Shd, TimesJustBelowAPowerOfTwoKeepTheirOrderInHalfPrecision) {
  // HDF5 1.10's float -> half conversion dropped the carry when rounding up into the next power of
  // two (0.24998 was stored as 0.125): write_shd rounds to half itself.
  const auto dir = sernn::testing::temp_dir("shd_half");
  ShdData d;
  d.add({0.0f, 0.1249f, 0.24998f, 0.25f, 0.49997f, 0.9999f, 1.9999f}, {1, 2, 3, 4, 5, 6, 7}, 0);
  write_shd(dir + "/x.h5", d);
  const auto back = read_shd(dir + "/x.h5");
  const std::vector<float> expected{0.0f, 0.12487793f, 0.25f, 0.25f, 0.5f, 1.0f, 2.0f};
  EXPECT_EQ(back.times, expected);
}

TEST(Shd, PerSampleBinningExactCounts) {
  auto d = hand_data();
  // Sample 0 spans 0.25..1.25 s in 4 bins of 0.25 s: events at 0.25 (x2, unit 3) -> bin 0,
  // 0.5 (unit 699) -> bin 1, 1.25 (unit 0, the last event) -> bin 3.
  auto x = bin_per_sample(d, {0, 1}, 4);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{4, 2, 700}));
  EXPECT_EQ(x[0][0][3].item<float>(), 2.0f);
  EXPECT_EQ(x[1][0][699].item<float>(), 1.0f);
  EXPECT_EQ(x[3][0][0].item<float>(), 1.0f);
  EXPECT_EQ(x.select(1, 0).sum().item<float>(), 4.0f);
  // A single-event sample puts it in bin 0.
  EXPECT_EQ(x[0][1][10].item<float>(), 1.0f);
  EXPECT_EQ(x.select(1, 1).sum().item<float>(), 1.0f);
}

TEST(Shd, FixedBinningExactCountsPaddingAndCut) {
  auto d = hand_data();
  // dt = 0.25 s, 5 steps: 0.25 -> bin 1, 0.5 -> bin 2, 1.25 -> bin 5 (dropped); 0.125 -> bin 0.
  auto x = bin_fixed(d, {1, 0}, 0.25, 5);
  ASSERT_EQ(x.sizes(), (std::vector<int64_t>{5, 2, 700}));
  EXPECT_EQ(x[1][1][3].item<float>(), 2.0f);
  EXPECT_EQ(x[2][1][699].item<float>(), 1.0f);
  EXPECT_EQ(x.select(1, 1).sum().item<float>(), 3.0f) << "the event past max_steps is dropped";
  EXPECT_EQ(x[0][0][10].item<float>(), 1.0f);
  EXPECT_EQ(x.select(1, 0).slice(0, 1).sum().item<float>(), 0.0f) << "short samples are zero-padded";
}

TEST(Shd, SynthIsDeterministicAndClassDependent) {
  auto a = synth_shd({200, 3, 0.2}), b = synth_shd({200, 3, 0.2});
  EXPECT_EQ(a.times, b.times);
  EXPECT_EQ(a.labels, b.labels);
  // Mean unit of class-c events grows with c (the band of class c starts near 20 + 33c).
  std::vector<double> sum(20, 0), n(20, 0);
  for (int64_t i = 0; i < a.size(); ++i)
    for (int64_t e = a.offsets[i]; e < a.offsets[i + 1]; ++e) sum[a.labels[i]] += a.units[e], n[a.labels[i]] += 1;
  EXPECT_LT(sum[0] / n[0], sum[19] / n[19]);
  for (int64_t i = 0; i < a.size(); ++i) {
    const double dur = a.times[a.offsets[i + 1] - 1];
    EXPECT_LE(dur, 1.0 + 1e-6);
  }
}

TEST(Shd, PythonH5pyReadsTheLayout) {
  if (!python_h5py()) GTEST_SKIP() << "python3-h5py not installed";
  const auto dir = sernn::testing::temp_dir("py");
  write_shd(dir + "/shd_train.h5", hand_data());
  python(
      "import h5py, numpy as np\n"
      "f = h5py.File(\"" +
      dir +
      "/shd_train.h5\", \"r\")\n"
      "assert f[\"spikes/times\"][0].dtype == np.float16\n"
      "assert f[\"spikes/units\"][0].dtype == np.uint16\n"
      "assert list(f[\"spikes/units\"][0]) == [3, 3, 699, 0]\n"
      "assert list(f[\"labels\"]) == [7, 19]\n"
      "assert len(f[\"extra/keys\"]) == 20\n");
}

TEST(Shd, RaggedDatasetsInChunksAreReadAndCompressedOnesRefusedByName) {
  // The row-length check reads the raw storage (issue 29): h5py's chunked ragged datasets (5
  // samples in chunks of 2, the last one partial) read as written; compressed ones, whose raw
  // bytes the reader cannot check, are an input error that says how to store the file instead.
  if (!python_h5py()) GTEST_SKIP() << "python3-h5py not installed";
  const auto dir = sernn::testing::temp_dir("chunks");
  auto write = [&](const std::string& name, const std::string& options) {
    python(
        "import h5py, numpy as np\n"
        "with h5py.File(\"" +
        dir + "/" + name +
        "\", \"w\") as f:\n"
        "  t = f.create_dataset(\"spikes/times\", (5,), dtype=h5py.vlen_dtype(np.float16)" +
        options +
        ")\n"
        "  u = f.create_dataset(\"spikes/units\", (5,), dtype=h5py.vlen_dtype(np.uint16)" +
        options +
        ")\n"
        "  for i in range(5):\n"
        "    t[i] = np.arange(i + 1, dtype=np.float16) * 0.1\n"
        "    u[i] = np.arange(i + 1, dtype=np.uint16) + 7 * i\n"
        "  f.create_dataset(\"labels\", data=np.arange(5, dtype=np.uint16))\n");
  };
  write("chunked.h5", ", chunks=(2,)");
  const auto d = read_shd(dir + "/chunked.h5");
  ASSERT_EQ(d.labels.size(), 5u);
  for (int64_t i = 0; i < 5; ++i) {
    ASSERT_EQ(d.offsets[i + 1] - d.offsets[i], i + 1) << "sample " << i;
    EXPECT_EQ(d.units[d.offsets[i + 1] - 1], 8 * i) << "sample " << i;
  }
  write("gzip.h5", ", chunks=(2,), compression=\"gzip\"");
  const auto msg = expect_input_error(dir + "/gzip.h5");
  EXPECT_NE(msg.find("gzip.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("spikes/times"), std::string::npos) << msg;
  EXPECT_NE(msg.find("h5repack"), std::string::npos) << msg;
}

TEST(Shd, BadFilesNameFileAndDataset) {
  const auto dir = sernn::testing::temp_dir("bad");
  // Not HDF5.
  auto msg = expect_input_error(sernn::testing::write_text(dir + "/text.h5", "hello, not hdf5\n"));
  EXPECT_NE(msg.find("text.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("not an HDF5 file"), std::string::npos) << msg;
  // Missing file.
  EXPECT_NE(expect_input_error(dir + "/missing.h5").find("missing.h5"), std::string::npos);
  // Unit id 700.
  ShdData bad_unit;
  bad_unit.add({0.1f}, {700}, 1);
  write_shd(dir + "/unit.h5", bad_unit);
  msg = expect_input_error(dir + "/unit.h5");
  EXPECT_NE(msg.find("spikes/units"), std::string::npos) << msg;
  EXPECT_NE(msg.find("700"), std::string::npos) << msg;
  // Label 20.
  ShdData bad_label;
  bad_label.add({0.1f}, {1}, 20);
  write_shd(dir + "/label.h5", bad_label);
  EXPECT_NE(expect_input_error(dir + "/label.h5").find("labels"), std::string::npos);
  // Truncated file.
  write_shd(dir + "/full.h5", synth_shd({64, 1, 0.2}));
  fs::copy_file(dir + "/full.h5", dir + "/trunc.h5");
  fs::resize_file(dir + "/trunc.h5", fs::file_size(dir + "/full.h5") / 2);
  EXPECT_NE(expect_input_error(dir + "/trunc.h5").find("trunc.h5"), std::string::npos);

  if (!python_h5py()) GTEST_SKIP() << "python3-h5py not installed for the layout-defect cases";
  // Missing dataset and mismatched lengths, written independently with h5py.
  python(
      "import h5py, numpy as np\n"
      "vf = h5py.vlen_dtype(np.float32); vu = h5py.vlen_dtype(np.uint16)\n"
      "with h5py.File(\"" +
      dir +
      "/nolabels.h5\", \"w\") as f:\n"
      "  t = f.create_dataset(\"spikes/times\", (1,), dtype=vf); t[0] = np.array([0.1], np.float32)\n"
      "  u = f.create_dataset(\"spikes/units\", (1,), dtype=vu); u[0] = np.array([1], np.uint16)\n"
      "with h5py.File(\"" +
      dir +
      "/ragged.h5\", \"w\") as f:\n"
      "  t = f.create_dataset(\"spikes/times\", (1,), dtype=vf); t[0] = np.array([0.1, 0.2], np.float32)\n"
      "  u = f.create_dataset(\"spikes/units\", (1,), dtype=vu); u[0] = np.array([1], np.uint16)\n"
      "  f[\"labels\"] = np.array([3], np.uint16)\n"
      "with h5py.File(\"" +
      dir +
      "/count.h5\", \"w\") as f:\n"
      "  t = f.create_dataset(\"spikes/times\", (1,), dtype=vf); t[0] = np.array([0.1], np.float32)\n"
      "  u = f.create_dataset(\"spikes/units\", (1,), dtype=vu); u[0] = np.array([1], np.uint16)\n"
      "  f[\"labels\"] = np.array([3, 4], np.uint16)\n");
  msg = expect_input_error(dir + "/nolabels.h5");
  EXPECT_NE(msg.find("'labels'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;
  msg = expect_input_error(dir + "/ragged.h5");
  EXPECT_NE(msg.find("sample 0 has 1 unit ids but 2 spike times"), std::string::npos) << msg;
  msg = expect_input_error(dir + "/count.h5");
  EXPECT_NE(msg.find("labels"), std::string::npos) << msg;
}

TEST(Shd, TaskBatchesDropLastShuffleAndPrefetch) {
  const auto dir = sernn::testing::temp_dir("task");
  write_shd(dir + "/shd_train.h5", synth_shd({100, 1, 0.2}));
  write_shd(dir + "/shd_test.h5", synth_shd({30, 2, 0.2}));
  ShdTaskOptions o;
  o.data_dir = dir;
  o.bins = 20;
  o.val_fraction = 0.2;
  ShdTask task(o);
  EXPECT_EQ(task.num_samples(Split::Train), 80);
  EXPECT_EQ(task.num_samples(Split::Validation), 20);
  EXPECT_EQ(task.train_batches(32), 2);
  Batch b;
  int64_t n = 0, batches = 0;
  auto s = task.stream(Split::Train, 1, 32, 9, torch::kCPU);
  std::vector<int64_t> first_labels;
  while (s->next(b)) {
    EXPECT_EQ(b.inputs.sizes(), (std::vector<int64_t>{20, 32, 700}));
    if (batches == 0) first_labels.assign(b.labels.data_ptr<int64_t>(), b.labels.data_ptr<int64_t>() + 32);
    n += b.labels.size(0), ++batches;
  }
  EXPECT_EQ(batches, 2) << "drop_last on training";
  EXPECT_EQ(n, 64);
  // Test keeps the last partial batch and is in file order.
  n = 0;
  auto t = task.stream(Split::Test, 1, 16, 9, torch::kCPU);
  while (t->next(b)) n += b.labels.size(0);
  EXPECT_EQ(n, 30);
  // Same (seed, epoch) -> same order; another epoch -> another order.
  ASSERT_TRUE(task.stream(Split::Train, 1, 32, 9, torch::kCPU)->next(b));
  EXPECT_EQ(std::vector<int64_t>(b.labels.data_ptr<int64_t>(), b.labels.data_ptr<int64_t>() + 32), first_labels);
  ASSERT_TRUE(task.stream(Split::Train, 2, 32, 9, torch::kCPU)->next(b));
  EXPECT_NE(std::vector<int64_t>(b.labels.data_ptr<int64_t>(), b.labels.data_ptr<int64_t>() + 32), first_labels);
  // Abandoning a stream mid-epoch joins its prefetch thread cleanly.
  {
    auto partial = task.stream(Split::Train, 3, 8, 9, torch::kCPU);
    ASSERT_TRUE(partial->next(b));
  }
}

TEST(Shd, SparseBatchesAreTheDenseCountsExactlyForBothBinnings) {
  // Issue 25: batches made from the events as sparse COO tensors, no dense [T, B, 700] on the way.
  auto data = synth_shd({40, 3, 0.3});
  data.add({}, {}, 4);                  // a sample without events
  data.add({0.25f, 0.25f}, {7, 7}, 5);  // zero span: everything in bin 0, a count of 2
  data.add({0.1f, 0.9f, 0.3f}, {699, 0, 699}, 6);
  std::vector<int64_t> idx{41, 3, 40, 0, 17, 42, 39};
  const auto per_sample = bin_sparse(data, idx, {true, 20, 0.0, 0});
  EXPECT_TRUE(per_sample.is_sparse() && per_sample.is_coalesced());
  EXPECT_EQ(per_sample.sizes(), (std::vector<int64_t>{20, 7, 700}));
  EXPECT_TRUE(torch::equal(per_sample.to_dense(), bin_per_sample(data, idx, 20)));
  const auto fixed = bin_sparse(data, idx, {false, 0, 0.01, 60});  // events after 0.6 s dropped
  EXPECT_TRUE(torch::equal(fixed.to_dense(), bin_fixed(data, idx, 0.01, 60)));
  // Entries in a coalesced tensor's order (time, sample, unit): what sparse_input reads as rows.
  EXPECT_TRUE(torch::equal(per_sample._indices(), per_sample.coalesce()._indices()));
  EXPECT_GT(per_sample.to_dense().max().item<float>(), 1.0f) << "counts above one are kept";
}

TEST(Shd, SynthesisTakesTheEventsPerSample) {
  const auto dense = synth_shd({30, 4, 0.2, 4800}), usual = synth_shd({30, 4, 0.2});
  for (int64_t i = 0; i < 30; ++i) {
    const int64_t n = dense.offsets[i + 1] - dense.offsets[i], m = usual.offsets[i + 1] - usual.offsets[i];
    EXPECT_GE(n, 3200);
    EXPECT_LT(n, 6400);
    EXPECT_GE(m, 200);
    EXPECT_LT(m, 400);
  }
}

TEST(Shd, TaskStreamsSparseBatchesEqualToTheDenseOnes) {
  const auto dir = sernn::testing::temp_dir("sparse");
  write_shd(dir + "/shd_train.h5", synth_shd({70, 1, 0.2}));
  write_shd(dir + "/shd_test.h5", synth_shd({20, 2, 0.2}));
  ShdTaskOptions o;
  o.data_dir = dir;
  o.bins = 25;
  ShdTask sparse(o);
  o.sparse = false;
  ShdTask dense(o);
  for (const auto split : {Split::Train, Split::Test}) {
    auto a = sparse.stream(split, 2, 16, 5, torch::kCPU), b = dense.stream(split, 2, 16, 5, torch::kCPU);
    Batch x, y;
    int64_t batches = 0;
    while (a->next(x)) {
      ASSERT_TRUE(b->next(y));
      EXPECT_TRUE(x.inputs.is_sparse());
      EXPECT_FALSE(y.inputs.is_sparse());
      EXPECT_TRUE(torch::equal(x.inputs.to_dense(), y.inputs));
      EXPECT_TRUE(torch::equal(x.labels, y.labels));
      ++batches;
    }
    EXPECT_FALSE(b->next(y));
    EXPECT_GE(batches, 2);
  }
}

namespace {
/// read_shd(path) in a child process whose address space may grow by 256 MB only. 0: it failed
/// with an InputError naming every one of `expect`; 3: the message lacks one; 4: another
/// exception (bad_alloc: the memory bound); 5: the file was read; other: the child was killed.
int read_in_bounded_child(const std::string& path, const std::vector<std::string>& expect) {
  const pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    rlimit lim{};
    getrlimit(RLIMIT_AS, &lim);
    std::ifstream status("/proc/self/status");
    std::string key;
    size_t vm_kb = 0;
    while (status >> key)
      if (key == "VmSize:" && (status >> vm_kb)) break;
    lim.rlim_cur = (vm_kb << 10) + (size_t{256} << 20);
    setrlimit(RLIMIT_AS, &lim);
    try {
      read_shd(path);
    } catch (const InputError& e) {
      const std::string msg = e.what();
      for (const auto& part : expect)
        if (msg.find(part) == std::string::npos) _exit(3);
      _exit(0);
    } catch (...) {
      _exit(4);
    }
    _exit(5);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
}  // namespace

TEST(Shd, AFileDeclaringMoreThanItHoldsFailsFastWithinBoundedMemory) {
  // Issue 29: a 13.8 KB corrupt shd_train.h5 made the reader allocate 5.1 GB before it failed. Here
  // h5py declares 400 million samples in chunked datasets that store none (a few KB of file). The
  // read runs in a child whose address space may grow by 256 MB only: the unchecked reader's
  // 6.4 GB buffer would fail there with bad_alloc (not an input error).
  if (!python_h5py()) GTEST_SKIP() << "python3-h5py not installed";
  const auto dir = sernn::testing::temp_dir("huge");
  const auto path = dir + "/huge.h5";
  python(
      "import h5py, numpy as np\n"
      "with h5py.File(\"" +
      path +
      "\", \"w\") as f:\n"
      "  f.create_dataset(\"spikes/times\", (400000000,), dtype=h5py.vlen_dtype(np.float16), chunks=(4096,))\n"
      "  f.create_dataset(\"spikes/units\", (400000000,), dtype=h5py.vlen_dtype(np.uint16), chunks=(4096,))\n"
      "  f.create_dataset(\"labels\", (400000000,), dtype=np.uint16, chunks=(4096,))\n");
  ASSERT_LT(fs::file_size(path), 100000u);
  EXPECT_EQ(read_in_bounded_child(path, {"huge.h5", "spikes/times", "400000000"}), 0)
      << "3: message lacks the file, dataset or size; 4: not an input error (memory); 5: read";
}

TEST(Shd, ACorruptRowLengthFailsBeforeHdf5SizesItsConversionBuffer) {
  // Issue 29, found by fuzz_shd (seed 1, max_len 16384): a 13.8 KB file whose ragged row declares
  // a length that made HDF5 allocate a 13 GB conversion buffer inside H5Dread (libFuzzer:
  // out-of-memory), after every size check the reader made before. The row lengths are now read
  // from the raw storage and checked against the file before H5Dread: an input error, in bounded
  // memory and well under a second.
  const auto path = std::string(SERNN_SOURCE_DIR) + "/tests/fuzz/corpus/shd/regression_vlen_conversion_oom";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(
      read_in_bounded_child(path, {"regression_vlen_conversion_oom", "spikes/units", "declares 3254920194 values"}), 0)
      << "3: message lacks the file or dataset; 4: not an input error (memory); 5: read";
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
}

TEST(Shd, AHeapCollectionThatWouldLoopHdf5ForeverIsAnInputError) {
  // Issue 29, found by fuzz_shd (seed 7, max_len 16384, -timeout=10): a file whose global heap
  // collection holds a free-space object of 0 bytes, on which HDF5 1.10's collection loader never
  // advances (H5Dread hung in H5HG_read). The reader walks the collection itself first.
  const auto path = std::string(SERNN_SOURCE_DIR) + "/tests/fuzz/corpus/shd/regression_heap_loop";
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(read_in_bounded_child(path, {"regression_heap_loop", "spikes/times", "global heap collection"}), 0)
      << "3: message lacks the file, dataset or cause; 4: not an input error (memory); 5: read";
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 1.0);
}

TEST(Shd, AnObjectHeaderDeclaringGigabytesFailsWithinBoundedMemory) {
  // Found by a 10-minute fuzz_shd campaign (seed 7): an object header declaring 4.3 GB makes
  // HDF5's H5Dopen2 ask malloc for that much (libFuzzer's malloc limit calls it out-of-memory).
  // The block is never touched (the read past the file's end fails first), and where the address
  // space is bounded the allocation fails and HDF5 reports the open as failed: an input error here.
  const auto path = std::string(SERNN_SOURCE_DIR) + "/tests/fuzz/corpus/shd/regression_object_header_size";
  EXPECT_EQ(read_in_bounded_child(path, {"regression_object_header_size", "spikes/units"}), 0)
      << "3: message lacks the file or dataset; 4: not an input error (memory); 5: read";
}

TEST(Shd, AFileThatCrashesHdf5IsAnInputErrorNamingIt) {
  // Found by a 10-minute fuzz_shd campaign (seed 7): HDF5 1.10 dereferences a null buffer inside
  // its link lookup (H5F__accum_read) on this 13.8 KB file, before any check of ours can run;
  // `sernn train` died with SIGSEGV. read_shd reads in a child process, so the crash is an input
  // error naming the file. (Kept outside the fuzz corpus: the in-process fuzz target still
  // crashes on it, inside HDF5.)
  const auto path = std::string(SERNN_SOURCE_DIR) + "/tests/tasks/data/hdf5_segfault.h5";
  const auto msg = expect_input_error(path);
  EXPECT_NE(msg.find("hdf5_segfault.h5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("crashed"), std::string::npos) << msg;
  // A good file reads through the child exactly as in this process, every field intact.
  const auto dir = sernn::testing::temp_dir("child");
  write_shd(dir + "/good.h5", synth_shd({40, 3, 0.2}));
  const auto data = read_shd_in_process(dir + "/good.h5");
  const auto back = read_shd(dir + "/good.h5");
  ASSERT_EQ(back.labels.size(), 40u);
  EXPECT_EQ(back.times, data.times);
  EXPECT_EQ(back.units, data.units);
  EXPECT_EQ(back.offsets, data.offsets);
  EXPECT_EQ(back.labels, data.labels);
  EXPECT_EQ(back.speakers, data.speakers);
}

TEST(Shd, MissingDataDirIsInputError) {
  ShdTaskOptions o;
  o.data_dir = "/nonexistent/shd";
  try {
    ShdTask task(o);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/shd/shd_train.h5"), std::string::npos) << e.what();
  }
}

TEST(ShdFetch, DownloadsVerifiesAndUnpacksFromLocalServer) {
  if (std::system("/usr/bin/python3 -c 'import http.server' > /dev/null 2>&1") != 0) GTEST_SKIP() << "no python3";
  const auto serve = sernn::testing::temp_dir("serve"), dest = sernn::testing::temp_dir("dest");
  write_shd(serve + "/shd_train.h5", synth_shd({40, 1, 0.2}));
  write_shd(serve + "/shd_test.h5", synth_shd({20, 2, 0.2}));
  ASSERT_EQ(std::system(("cd " + serve +
                         " && gzip -k shd_train.h5 shd_test.h5 && md5sum shd_train.h5.gz shd_test.h5.gz > md5sums.txt")
                            .c_str()),
            0);
  // Serve on an ephemeral loopback port; the server writes its port to a file.
  const std::string port_file = serve + "/port";
  const std::string cmd = "cd " + serve +
                          " && /usr/bin/python3 -c '"
                          "import http.server, socketserver\n"
                          "class Q(http.server.SimpleHTTPRequestHandler):\n"
                          "  def log_message(self, *a): pass\n"
                          "s = socketserver.TCPServer((\"127.0.0.1\", 0), Q)\n"
                          "open(\"port.tmp\", \"w\").write(str(s.server_address[1]))\n"
                          "import os; os.rename(\"port.tmp\", \"port\")\n"
                          "s.timeout = 60\n"
                          "for _ in range(20): s.handle_request()\n' > /dev/null 2>&1 &";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (int i = 0; i < 100 && !fs::exists(port_file); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(fs::exists(port_file));
  const std::string base = "http://127.0.0.1:" + read_file(port_file);
  std::vector<std::string> log;
  fetch_shd(dest, base, [&](const std::string& l) { log.push_back(l); });
  EXPECT_EQ(read_shd(dest + "/shd_train.h5").size(), 40);
  EXPECT_EQ(read_shd(dest + "/shd_test.h5").size(), 20);
  EXPECT_EQ(md5_file(dest + "/shd_train.h5"), md5_file(serve + "/shd_train.h5"));
  EXPECT_FALSE(fs::exists(dest + "/shd_train.h5.gz.part"));
  // A second fetch keeps the readable files.
  fetch_shd(dest, base, [&](const std::string& l) { log.push_back(l); });
  EXPECT_NE(log.back().find("kept"), std::string::npos);

  // A checksum mismatch keeps nothing under the final name.
  const auto dest2 = sernn::testing::temp_dir("dest2");
  sernn::testing::write_text(
      serve + "/md5sums.txt",
      "00000000000000000000000000000000  shd_train.h5.gz\n00000000000000000000000000000000  shd_test.h5.gz\n");
  try {
    fetch_shd(dest2, base, [](const std::string&) {});
    FAIL() << "expected a checksum error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(dest2 + "/shd_train.h5"));
  for (const auto& e : fs::directory_iterator(dest2))
    EXPECT_EQ(e.path().filename().string().find("shd_train.h5"), std::string::npos) << e.path();
  // An unreachable server is an error naming the URL.
  try {
    fetch_shd(sernn::testing::temp_dir("dest3"), "http://127.0.0.1:9", [](const std::string&) {});
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("127.0.0.1:9"), std::string::npos) << e.what();
  }
}

TEST(ShdFetch, Md5sumsParsing) {
  auto m = parse_md5sums("abc  shd_train.h5.gz\ndef *dir/shd_test.h5.gz\n");
  EXPECT_EQ(m["shd_train.h5.gz"], "abc");
  EXPECT_EQ(m["shd_test.h5.gz"], "def");
}
