#include "core/trainer.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"
#include "core/progress.h"

namespace sernn {

const char* split_name(Split s) {
  switch (s) {
    case Split::Train: return "train";
    case Split::Validation: return "val";
    case Split::Test: return "test";
  }
  return "?";
}

std::pair<torch::Tensor, torch::Tensor> classification_loss(const torch::Tensor& logits,
                                                            const torch::Tensor& labels) {
  auto loss = torch::nn::functional::cross_entropy(logits, labels);
  auto correct = logits.argmax(1).eq(labels).sum();
  return {loss, correct};
}

namespace {
constexpr int64_t kCheckpointFormat = 1;

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

Trainer::Trainer(std::shared_ptr<Network> network, std::shared_ptr<const Task> task,
                 std::shared_ptr<const Penalty> penalty, TrainerOptions options)
    : net_(std::move(network)), task_(std::move(task)), penalty_(std::move(penalty)), opt_(std::move(options)) {
  net_->to(opt_.device);
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(opt_.lr));
}

Evaluation Trainer::evaluate(Split split, int64_t epoch) const {
  torch::NoGradGuard no_grad;
  net_->train(false);
  auto stream = task_->stream(split, epoch, opt_.batch_size, opt_.seed, opt_.device);
  auto loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device));
  auto correct = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(opt_.device));
  int64_t samples = 0;
  Batch batch;
  while (stream->next(batch)) {
    auto out = net_->run(batch.inputs, /*training=*/false);
    auto [loss, right] = classification_loss(out.logits, batch.labels);
    const int64_t b = batch.labels.size(0);
    loss_sum += loss.to(torch::kFloat64) * static_cast<double>(b);
    correct += right;
    samples += b;
  }
  Evaluation e;
  e.samples = samples;
  if (samples > 0) {
    e.loss = loss_sum.item<double>() / static_cast<double>(samples);
    e.accuracy = static_cast<double>(correct.item<int64_t>()) / static_cast<double>(samples);
  }
  return e;
}

void Trainer::write_snapshot(int64_t epoch) const {
  const std::string dir = opt_.out_dir + "/weights", models = opt_.out_dir + "/models";
  make_dirs(dir);
  make_dirs(models);
  atomic_write_text(fmt::format("{}/epoch_{:03d}.csv", dir, epoch), matrix_to_csv(net_->recurrent_weight()));
  // The whole model of every epoch, for `sernn export --epoch E` and analyses.
  atomic_write_with(fmt::format("{}/epoch_{:03d}.pt", models, epoch), [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    net_->save(archive);
    archive.save_to(tmp);
  });
}

void Trainer::write_status(const std::string& status, int64_t epoch, const std::string& message) const {
  nlohmann::json j = {{"status", status}, {"epoch", epoch}, {"epochs", opt_.epochs}};
  if (!message.empty()) j["message"] = message;
  atomic_write_text(opt_.out_dir + "/status.json", j.dump(2) + "\n");
}

void Trainer::save_checkpoint(const std::string& path, int64_t epoch) {
  atomic_write_with(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    archive.write("format", torch::tensor(kCheckpointFormat));
    archive.write("epoch", torch::tensor(epoch));
    torch::serialize::OutputArchive model_archive, optim_archive;
    net_->save(model_archive);
    optimizer_->save(optim_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optim_archive);
    archive.save_to(tmp);
  });
}

int64_t Trainer::load_checkpoint(const std::string& path) {
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, opt_.device);
    torch::Tensor format, epoch;
    archive.read("format", format);
    if (format.item<int64_t>() != kCheckpointFormat)
      throw InputError(fmt::format("{}: checkpoint format {} (this sernn reads {})", path, format.item<int64_t>(),
                                   kCheckpointFormat));
    archive.read("epoch", epoch);
    torch::serialize::InputArchive model_archive, optim_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optim_archive);
    net_->load(model_archive);
    optimizer_->load(optim_archive);
    return epoch.item<int64_t>();
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    throw InputError(fmt::format("{}: not a checkpoint of this model: {}", path, e.what_without_backtrace()));
  }
}

nlohmann::json Trainer::fit(bool resume) {
  make_dirs(opt_.out_dir);
  const std::string metrics_path = opt_.out_dir + "/metrics.jsonl";
  const std::string ckpt_path = opt_.out_dir + "/checkpoint.pt";
  int64_t start_epoch = 0;
  nlohmann::json last;
  if (resume && file_exists(ckpt_path)) {
    start_epoch = load_checkpoint(ckpt_path);
    // Keep the metric lines up to the checkpoint; a torn or later line is dropped.
    std::string kept;
    if (file_exists(metrics_path)) {
      std::istringstream in(read_file(metrics_path));
      std::string line;
      while (std::getline(in, line)) {
        try {
          auto j = nlohmann::json::parse(line);
          if (j.value("epoch", int64_t{-1}) <= start_epoch) {
            kept += line + "\n";
            last = j;
          }
        } catch (const nlohmann::json::parse_error&) {
          break;  // torn last line of a killed run
        }
      }
    }
    atomic_write_text(metrics_path, kept);
  } else {
    std::remove(metrics_path.c_str());
    write_snapshot(0);
    save_checkpoint(ckpt_path, 0);
  }

  const int64_t batches = task_->train_batches(opt_.batch_size);
  Progress progress((opt_.epochs - start_epoch) * batches, opt_.log_every, stdout);
  const auto fopt = torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device);

  for (int64_t epoch = start_epoch + 1; epoch <= opt_.epochs; ++epoch) {
    write_status("running", epoch - 1);
    net_->train(true);
    const auto t0 = std::chrono::steady_clock::now();
    auto task_sum = torch::zeros({}, fopt), reg_sum = torch::zeros({}, fopt);
    auto correct = torch::zeros({}, fopt.dtype(torch::kInt64));
    std::map<std::string, torch::Tensor> stat_sums;
    int64_t samples = 0, b = 0;
    auto stream = task_->stream(Split::Train, epoch, opt_.batch_size, opt_.seed, opt_.device);
    Batch batch;
    while (stream->next(batch)) {
      ++b;
      optimizer_->zero_grad();
      auto out = net_->run(batch.inputs, /*training=*/true);
      auto [task_loss, right] = classification_loss(out.logits, batch.labels);
      auto total = task_loss;
      torch::Tensor reg;
      if (penalty_ && opt_.gamma > 0.0) {
        reg = opt_.gamma * (*penalty_)(net_->recurrent_weight());
        total = total + reg;
      }
      total.backward();
      if (opt_.grad_clip > 0.0) torch::nn::utils::clip_grad_norm_(net_->parameters(), opt_.grad_clip);
      optimizer_->step();
      net_->after_step();

      const int64_t n = batch.labels.size(0);
      samples += n;
      task_sum += task_loss.detach().to(torch::kFloat64) * static_cast<double>(n);
      if (reg.defined()) reg_sum += reg.detach().to(torch::kFloat64) * static_cast<double>(n);
      correct += right;
      for (auto& [k, v] : out.stats) {
        auto w = v.detach().to(torch::kFloat64) * static_cast<double>(n);
        stat_sums[k] = stat_sums.count(k) ? stat_sums[k] + w : w;
      }
      progress.step();
      if (!opt_.quiet && progress.due(b, batches)) {
        const double secs = seconds_since(t0);
        progress.batch(epoch, opt_.epochs, b, batches, task_sum.item<double>() / samples,
                       static_cast<double>(correct.item<int64_t>()) / samples, samples / std::max(secs, 1e-9));
      }
    }
    const double train_seconds = seconds_since(t0);
    const double task_loss_mean = samples ? task_sum.item<double>() / samples : 0.0;
    const double reg_loss_mean = samples ? reg_sum.item<double>() / samples : 0.0;
    if (!std::isfinite(task_loss_mean) || !std::isfinite(reg_loss_mean) ||
        !torch::isfinite(net_->recurrent_weight()).all().item<bool>()) {
      const std::string msg =
          fmt::format("diverged in epoch {}: non-finite {} (task_loss {}, reg_loss {})", epoch,
                      std::isfinite(task_loss_mean) && std::isfinite(reg_loss_mean) ? "recurrent weights" : "loss",
                      task_loss_mean, reg_loss_mean);
      write_status("diverged", epoch - 1, msg);
      throw std::runtime_error(msg + "; the last good checkpoint is kept in " + ckpt_path);
    }

    const auto val = evaluate(Split::Validation, epoch);
    const auto test = evaluate(Split::Test, epoch);
    nlohmann::json m = {
        {"epoch", epoch},
        {"task_loss", task_loss_mean},
        {"reg_loss", reg_loss_mean},
        {"train_acc", samples ? static_cast<double>(correct.item<int64_t>()) / samples : 0.0},
        {"val_loss", val.samples ? nlohmann::json(val.loss) : nlohmann::json()},
        {"val_acc", val.samples ? nlohmann::json(val.accuracy) : nlohmann::json()},
        {"test_loss", test.loss},
        {"test_acc", test.accuracy},
        {"seconds", seconds_since(t0)},
        {"samples_per_s", samples / std::max(train_seconds, 1e-9)},
    };
    for (auto& [k, v] : stat_sums) m[k] = v.item<double>() / samples;
    for (auto& [k, v] : net_->parameter_stats()) m[k] = v;

    write_snapshot(epoch);
    append_line_synced(metrics_path, m.dump());
    save_checkpoint(ckpt_path, epoch);
    last = m;
    if (!opt_.quiet)
      progress.line(fmt::format("epoch {}/{}: task_loss {:.4f} reg_loss {:.4f} train {:.1f}% val {} test {:.1f}% "
                                "({:.1f}s, {:.0f} samples/s)",
                                epoch, opt_.epochs, task_loss_mean, reg_loss_mean, 100.0 * m["train_acc"].get<double>(),
                                val.samples ? fmt::format("{:.1f}%", 100.0 * val.accuracy) : std::string("-"), 100.0 * test.accuracy, m["seconds"].get<double>(),
                                m["samples_per_s"].get<double>()));
  }
  write_status("finished", opt_.epochs);
  return last;
}

}  // namespace sernn
