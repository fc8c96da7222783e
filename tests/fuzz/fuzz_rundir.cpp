// libFuzzer target: what reads a run directory back (issue 29). A tiny run is trained once; each
// input replaces one of its files (the first byte picks which: status.json, metrics.jsonl,
// config.json, analysis.json, coords.csv, a weight snapshot, a saved model, checkpoint.pt) and
// the readers run over it: the run's state and metrics, its config, `load_run` (analysis, export),
// `run_report` and a resume from the checkpoint. Each must end in the project's InputError or
// succeed; any other exception is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"
#include "core/run_dir.h"
#include "run/config.h"
#include "run/run_analysis.h"
#include "run/setup.h"

namespace fs = std::filesystem;

namespace {

const std::string& run_dir() {
  static const std::string dir = "/tmp/sernn_fuzz_rundir_" + std::to_string(getpid());
  return dir;
}

/// The files of a finished 1-epoch run of 8 neurons, with an analysis.json, as (relative path, bytes).
const std::vector<std::pair<std::string, std::string>>& originals() {
  static const auto files = [] {
    sernn::Config c;
    for (const char* kv : {"task.train_size=64", "task.val_size=32", "task.test_size=32", "train.epochs=1",
                           "model.hidden=8", "model.grid=[2, 2, 2]", "train.batch_size=32", "train.threads=1"})
      c.set(kv);
    fs::remove_all(run_dir());
    sernn::train_run(c, run_dir(), /*resume=*/false, /*quiet=*/true);
    (void)sernn::run_report(run_dir());  // writes analysis.json
    std::vector<std::pair<std::string, std::string>> out;
    for (const char* rel : {"status.json", "metrics.jsonl", "config.json", "analysis.json", "coords.csv",
                            "weights/epoch_001.csv", "models/epoch_001.pt", "checkpoint.pt"})
      out.emplace_back(rel, sernn::read_file(run_dir() + "/" + rel));
    return out;
  }();
  return files;
}

void restore() {
  fs::remove_all(run_dir());
  for (const auto& [rel, bytes] : originals()) {
    const std::string path = run_dir() + "/" + rel;
    fs::create_directories(fs::path(path).parent_path());
    sernn::atomic_write_text(path, bytes);
  }
}

template <class F>
void expect_input_error_or_success(F&& read) {
  try {
    read();
  } catch (const sernn::InputError&) {
  }
}

}  // namespace

/// With SERNN_FUZZ_SEEDS set to a directory, writes one seed input per file of the run there
/// (scripts/fuzz.sh's corpus: every input starts in the real layouts).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* seeds = std::getenv("SERNN_FUZZ_SEEDS");
  if (!seeds) return 0;
  const auto& files = originals();
  for (size_t i = 0; i < files.size(); ++i)
    sernn::atomic_write_text(fmt::format("{}/seed_{}", seeds, i),
                             std::string(1, static_cast<char>(i)) + files[i].second);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& files = originals();
  restore();
  const auto& [rel, bytes] = files[data[0] % files.size()];
  sernn::atomic_write_text(run_dir() + "/" + rel, std::string(reinterpret_cast<const char*>(data) + 1, size - 1));
  const std::string& dir = run_dir();
  expect_input_error_or_success([&] {
    const sernn::RunDir d(dir);
    (void)d.state();
    (void)d.last_metrics();
  });
  expect_input_error_or_success([&] { (void)sernn::read_run_config(dir); });
  expect_input_error_or_success([&] { (void)sernn::load_run(dir); });
  expect_input_error_or_success([&] { (void)sernn::run_report(dir); });
  // Resuming trains nothing (the checkpoint is at the last epoch) unless the checkpoint says otherwise.
  if (rel == "checkpoint.pt" || rel == "metrics.jsonl" || rel == "status.json")
    expect_input_error_or_success([&] {
      sernn::Config c = sernn::read_run_config(dir);
      (void)sernn::train_run(c, dir, /*resume=*/true, /*quiet=*/true);
    });
  return 0;
}
