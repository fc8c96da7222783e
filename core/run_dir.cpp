#include "core/run_dir.h"

#include <cstdio>
#include <filesystem>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"

namespace sernn {

namespace {
constexpr RunStatus kStatuses[] = {RunStatus::Pending, RunStatus::Running, RunStatus::Finished, RunStatus::Interrupted,
                                   RunStatus::Diverged};
}  // namespace

const char* status_name(RunStatus status) {
  switch (status) {
    case RunStatus::Pending: return "pending";
    case RunStatus::Running: return "running";
    case RunStatus::Finished: return "finished";
    case RunStatus::Interrupted: return "interrupted";
    case RunStatus::Diverged: return "diverged";
  }
  return "?";
}

std::string RunDir::weights_path(int64_t epoch) const {
  return fmt::format("{}/weights/epoch_{:03d}.csv", path_, epoch);
}

std::string RunDir::model_path(int64_t epoch) const { return fmt::format("{}/models/epoch_{:03d}.pt", path_, epoch); }

bool RunDir::exists() const { return file_exists(file("config.json")); }

RunState RunDir::state() const {
  RunState s;
  const auto path = file("status.json");
  if (!file_exists(path)) return s;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(path));
  } catch (const nlohmann::json::exception&) {
    return s;
  }
  if (!j.is_object() || !j.contains("status") || !j["status"].is_string()) return s;
  for (auto st : kStatuses)
    if (j["status"].get<std::string>() == status_name(st)) s.status = st;
  s.epoch = json_int(j, "epoch", 0);
  s.epochs = json_int(j, "epochs", 0);
  if (j.contains("message") && j["message"].is_string()) s.message = j["message"].get<std::string>();
  return s;
}

void RunDir::write_state(const RunState& s) const {
  nlohmann::json j = {{"status", status_name(s.status)}, {"epoch", s.epoch}, {"epochs", s.epochs}};
  if (!s.message.empty()) j["message"] = s.message;
  atomic_write_text(file("status.json"), j.dump(2) + "\n");
}

nlohmann::json RunDir::metrics() const { return read_jsonl(file("metrics.jsonl")); }

nlohmann::json RunDir::last_metrics() const {
  const auto rows = metrics();
  return rows.empty() ? nlohmann::json() : rows.back();
}

void RunDir::append_metrics(const nlohmann::json& m) const { append_line_synced(file("metrics.jsonl"), m.dump()); }

nlohmann::json RunDir::keep_metrics_through(int64_t epoch) const {
  nlohmann::json last;
  std::string kept;
  for (const auto& row : metrics())
    if (json_int(row, "epoch", -1) <= epoch) {
      kept += row.dump() + "\n";
      last = row;
    }
  atomic_write_text(file("metrics.jsonl"), kept);
  return last;
}

void RunDir::write_snapshot(int64_t epoch, const torch::Tensor& recurrent, const torch::nn::Module& model) const {
  make_dirs(file("weights"));
  make_dirs(file("models"));
  atomic_write_text(weights_path(epoch), matrix_to_csv(recurrent));
  // The whole model of every epoch, for `sernn export --epoch E` and analyses.
  atomic_write_with(model_path(epoch), [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    model.save(archive);
    archive.save_to(tmp);
  });
}

void RunDir::clear_training_files() const {
  std::remove(file("metrics.jsonl").c_str());
  for (const char* sub : {"weights", "models"}) {
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(file(sub), ec)) {
      const auto name = entry.path().filename().string();
      if (name.rfind("epoch_", 0) == 0) std::filesystem::remove(entry.path(), ec);
    }
  }
}

void RunDir::clear_derived() const {
  for (const char* derived : {"analysis.json", "report.html", "final_analysis.json"})
    std::remove(file(derived).c_str());
}

int64_t RunDir::last_model_epoch() const {
  int64_t last = -1;
  for (int64_t e = 0; file_exists(model_path(e)); ++e) last = e;
  return last;
}

torch::Tensor RunDir::read_weights(int64_t epoch) const { return read_matrix_csv(weights_path(epoch)); }

nlohmann::json RunDir::read_config_json() const {
  if (!exists()) throw InputError(fmt::format("{}: not a run directory (config.json missing)", path_));
  return read_json(file("config.json"));
}

void RunDir::write_config_json(const nlohmann::json& config) const {
  atomic_write_text(file("config.json"), config.dump(2) + "\n");
}

torch::Tensor RunDir::read_coords() const { return read_coords_csv(file("coords.csv")); }

void RunDir::write_coords(const torch::Tensor& coords) const {
  atomic_write_text(file("coords.csv"), matrix_to_csv(coords));
}

}  // namespace sernn
