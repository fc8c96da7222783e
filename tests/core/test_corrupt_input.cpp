// Issue 29: saved models, checkpoints and run directories that are corrupt cost an InputError naming
// the file, with memory bounded by the file's size, before LibTorch trusts what they declare.
#include <gtest/gtest.h>

#include <cstring>

#include <fmt/format.h>

#include "core/archive.h"
#include "core/errors.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "run/run_analysis.h"
#include "run/config_of.h"
#include "run/setup.h"
#include "test_helpers.h"

using namespace sernn;

namespace {

/// A small archive as LibTorch writes it (the layout of models/epoch_*.pt).
std::string small_archive(const std::string& dir) {
  torch::serialize::OutputArchive a;
  a.write("weight", torch::arange(12, torch::kFloat32).reshape({3, 4}));
  a.write("epoch", torch::tensor(int64_t{3}));
  const std::string path = dir + "/small.pt";
  a.save_to(path);
  return read_file(path);
}

void put_u32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

/// Byte offset of the central directory header of the record whose name ends in `suffix`.
size_t central_header(const std::string& b, const std::string& suffix) {
  for (size_t at = b.find("PK\x01\x02"); at != std::string::npos; at = b.find("PK\x01\x02", at + 4)) {
    const size_t name_len = static_cast<uint8_t>(b[at + 28]) | static_cast<uint8_t>(b[at + 29]) << 8;
    const std::string name = b.substr(at + 46, name_len);
    if (ends_with(name, suffix)) return at;
  }
  ADD_FAILURE() << "no record named *" << suffix;
  return 0;
}

/// The message of the InputError `read()` throws; empty when it succeeds.
template <class F>
std::string input_error(F&& read) {
  try {
    read();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

std::string error_of(const std::string& path) {
  return input_error([&] { (void)read_archive(path, torch::kCPU, "a model file"); });
}

}  // namespace

TEST(Archive, ARecordDeclaringMoreThanTheFileHoldsIsRefusedBeforeLibTorchAllocatesIt) {
  const auto dir = sernn::testing::temp_dir("zip");
  std::string b = small_archive(dir);
  ASSERT_EQ(error_of(sernn::testing::write_text(dir + "/ok.pt", b)), "");
  // The pickle's record says 2 GB (stored, so its size on disk must say the same).
  const size_t at = central_header(b, "data.pkl");
  put_u32(b, at + 20, 0x7FFFFFF0);
  put_u32(b, at + 24, 0x7FFFFFF0);
  const auto path = sernn::testing::write_text(dir + "/big.pt", b);
  const auto err = error_of(path);
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("data.pkl' declares 2147483632 bytes"), std::string::npos) << err;
  // A stored record whose unpacked size differs from its packed one.
  b = small_archive(dir);
  put_u32(b, central_header(b, "data.pkl") + 24, 1u << 30);
  EXPECT_NE(error_of(sernn::testing::write_text(path, b)).find("stored with method 0"), std::string::npos);
}

TEST(Archive, TruncatedOrMutatedArchivesAreInputErrorsNamingTheFile) {
  const auto dir = sernn::testing::temp_dir("cut");
  const std::string b = small_archive(dir);
  for (size_t cut : {size_t{0}, size_t{10}, b.size() / 2, b.size() - 1}) {
    const auto path = sernn::testing::write_text(dir + "/cut.pt", b.substr(0, cut));
    EXPECT_NE(error_of(path).find(path + ": "), std::string::npos) << cut;
  }
  // Bytes of the pickle set to 0xFF: on LibTorch 1.13 the unpickler throws std::out_of_range (not
  // c10::Error) at offsets 31 and 187-245 of this pickle (fuzz_rundir's first finding), a
  // c10::Error at 0; each load succeeds or is an InputError naming the file (most are now refused
  // by the pickle check before LibTorch reads them). (Each load compiles the archive's
  // TorchScript, ~0.4 s: a handful of offsets.)
  const size_t begin = b.find("\x80\x02", b.find("data.pkl")), end = b.find("PK\x03\x04", begin);
  ASSERT_LT(begin, end);
  int refused = 0;
  for (size_t offset : {0, 31, 33, 187, 190, 230, 245}) {
    const size_t at = begin + offset;
    if (at >= end) continue;
    std::string m = b;
    m[at] = static_cast<char>(0xFF);
    const auto path = sernn::testing::write_text(dir + "/mutated.pt", m);
    try {
      (void)read_archive(path, torch::kCPU, "a model file");
    } catch (const InputError& e) {
      ++refused;
      EXPECT_EQ(std::string(e.what()).rfind(path + ": ", 0), 0u) << e.what();
    }
  }
  EXPECT_GT(refused, 0);
  // A string's length in the pickle made 0xFF000006: LibTorch 1.13 allocated 4.4 GB and took 18 s
  // to find the pickle too short; refused before LibTorch reads it.
  const size_t length = b.find("X\x06\x00\x00\x00weight", begin);
  ASSERT_LT(length, end);
  std::string m = b;
  m[length + 4] = static_cast<char>(0xFF);
  const auto path = sernn::testing::write_text(dir + "/long_string.pt", m);
  const std::string want = fmt::format(
      "{}: record 'small/data.pkl': the argument of opcode 0x58 at byte {} runs past its ", path, length - begin);
  EXPECT_EQ(error_of(path).rfind(want, 0), 0u) << error_of(path);
}

TEST(Archive, TensorsOutsideTheirStorageAreRefused) {
  const auto base = torch::arange(8, torch::kFloat64);
  EXPECT_NO_THROW(check_within_storage(base.view({2, 4}), "f.pt", "w"));
  EXPECT_NO_THROW(check_within_storage(base.narrow(0, 7, 1), "f.pt", "w"));
  EXPECT_NO_THROW(check_within_storage(base[0].expand({5, 5}), "f.pt", "w"));  // zero strides
  EXPECT_NO_THROW(check_within_storage(torch::empty({0, 1 << 20}), "f.pt", "w"));
  auto outside = base.detach();
  outside.unsafeGetTensorImpl()->set_sizes_and_strides(std::vector<int64_t>{3, 4},
                                                       std::vector<int64_t>{4, 1});  // 12 elements of 8
  try {
    check_within_storage(outside, "f.pt", "recurrent.weight");
    FAIL() << "accepted a [3, 4] view of 8 elements";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "f.pt: tensor 'recurrent.weight' of shape [3, 4], strides [4, 1] and offset 0 lies "
                 "outside its storage");
  }
  auto offset = base.detach();
  offset.unsafeGetTensorImpl()->set_storage_offset(6);
  offset.unsafeGetTensorImpl()->set_sizes_and_strides(std::vector<int64_t>{3}, std::vector<int64_t>{1});
  EXPECT_THROW(check_within_storage(offset, "f.pt", "w"), InputError);
}

namespace {

/// A checkpoint of `config`'s network written by hand, with the position and Adam state given.
void write_checkpoint(const Config& config, const std::string& path, int64_t epoch,
                      const std::vector<torch::Tensor>& adam_params) {
  const auto [inputs, classes] = task_shape(config);
  auto net = make_network(config, inputs, classes);
  torch::optim::Adam adam(adam_params, torch::optim::AdamOptions(1e-3));
  for (auto p : adam_params) p.mutable_grad() = torch::ones_like(p);
  adam.step();
  torch::serialize::OutputArchive a, sums, model, optim;
  a.write("format", torch::tensor(int64_t{3}));
  a.write("epoch", torch::tensor(epoch));
  a.write("batch", torch::tensor(int64_t{0}));
  a.write("samples", torch::tensor(int64_t{0}));
  a.write("seconds", torch::tensor(0.0, torch::kFloat64));
  a.write("correct", torch::zeros({1}, torch::kInt64));
  a.write("frozen", torch::zeros({1}, torch::kInt64));
  a.write("sums", sums);
  net->save(model);
  adam.save(optim);
  a.write("model", model);
  a.write("optimizer", optim);
  a.save_to(path);
}

/// Trains a finished 1-epoch run of 8 neurons into `dir`; returns its config.
Config train_tiny_run(const std::string& dir) {
  const auto config =
      sernn::testing::config_of({"task.train_size=64", "task.val_size=32", "task.test_size=32", "train.epochs=1",
                                 "model.hidden=8", "model.grid=2,2,2", "train.batch_size=32", "train.threads=1"});
  (void)train_run(config, dir, /*resume=*/false, /*quiet=*/true);
  return config;
}

std::string resume_error(const Config& config, const std::string& dir) {
  return input_error([&] { (void)train_run(config, dir, /*resume=*/true, /*quiet=*/true); });
}

}  // namespace

TEST(Archive, ACheckpointWithANegativeEpochOrAdamMomentsOfOtherShapesIsRefused) {
  const auto dir = sernn::testing::temp_dir("ckpt");
  const auto config = train_tiny_run(dir);
  const auto ckpt = dir + "/checkpoint.pt";
  const auto [inputs, classes] = task_shape(config);
  std::vector<torch::Tensor> right, wrong;
  for (const auto& p : make_network(config, inputs, classes)->parameters()) {
    right.push_back(torch::zeros_like(p).requires_grad_());
    wrong.push_back(torch::zeros({1}, p.options()).requires_grad_());  // would broadcast in Adam's step
  }
  // A negative epoch would train from epoch -4 (or forever).
  write_checkpoint(config, ckpt, -5, right);
  EXPECT_EQ(resume_error(config, dir), ckpt + ": 'epoch' is -5, a negative count");
  write_checkpoint(config, ckpt, 1, wrong);
  EXPECT_NE(resume_error(config, dir).find(ckpt + ": optimizer state 'exp_avg' is [1] Float for a parameter of"),
            std::string::npos);
  write_checkpoint(config, ckpt, 1, right);
  EXPECT_EQ(resume_error(config, dir), "");
}

TEST(RunDirectory, MalformedJsonAndCoordinatesAreInputErrorsOrIgnoredAsTorn) {
  const auto dir = sernn::testing::temp_dir("run");
  const auto config = train_tiny_run(dir);
  const RunDir run(dir);
  // fuzz_rundir's findings: a metrics line that is a number (nlohmann's type_error escaped the
  // resume), a status with a string epoch, coordinates of fewer neurons than the network (the
  // report indexed past them).
  const auto metrics = read_file(run.file("metrics.jsonl"));
  sernn::testing::write_text(run.file("metrics.jsonl"), "{\"epoch\": \"one\"}\n7\n" + metrics);
  EXPECT_EQ(run.metrics().size(), 1u);
  EXPECT_EQ(run.keep_metrics_through(1), nlohmann::json({{"epoch", "one"}}));
  sernn::testing::write_text(run.file("status.json"), R"({"status": "finished", "epoch": "x", "message": 3})");
  EXPECT_EQ(run.state().status, RunStatus::Finished);
  EXPECT_EQ(run.state().epoch, 0);
  sernn::testing::write_text(run.file("coords.csv"), "0,0,0\n0,0,1\n0,1,0\n");
  try {
    (void)load_run(dir);
    FAIL() << "loaded a run of 8 neurons with 3 coordinates";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), run.file("coords.csv") + ": 3 neurons, but config.json's network has 8");
  }
  sernn::testing::write_text(run.file("analysis.json"), R"([{"epoch": 1, "modularity": {"q": "high"}}])");
  try {
    (void)run_report(dir);
    FAIL() << "reported a run whose analysis.json holds a string for Q";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()).rfind(dir + " (config.json, metrics.jsonl, analysis.json): unexpected content", 0),
              0u)
        << e.what();
  }
}
