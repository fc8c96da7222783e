#include "core/trainer.h"

#include <filesystem>

#include <chrono>
#include <csignal>
#include <cmath>
#include <limits>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"
#include "core/progress.h"
#include "core/signals.h"

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
constexpr int64_t kCheckpointFormat = 2;

/// torch::nn::utils::clip_grad_norm_ (global L2 norm, coefficient max_norm / (norm + 1e-6) where
/// below 1) without its host read: the coefficient stays on the device, clamped at 1.
void clip_grad_norm(const std::vector<torch::Tensor>& params, double max_norm) {
  torch::NoGradGuard g;
  std::vector<torch::Tensor> norms;
  for (const auto& p : params)
    if (p.grad().defined()) norms.push_back(p.grad().norm(2));
  if (norms.empty()) return;
  const auto coef = (max_norm / (torch::stack(norms).norm(2) + 1e-6)).clamp_max(1.0);
  for (const auto& p : params)
    if (p.grad().defined()) p.grad().mul_(coef);
}

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
  if (!writer()) return;
  make_dirs(opt_.out_dir + "/weights");
  make_dirs(opt_.out_dir + "/models");
  atomic_write_text(snapshot_weights_path(opt_.out_dir, epoch), matrix_to_csv(net_->recurrent_weight()));
  // The whole model of every epoch, for `sernn export --epoch E` and analyses.
  atomic_write_with(snapshot_model_path(opt_.out_dir, epoch), [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    net_->save(archive);
    archive.save_to(tmp);
  });
}

void Trainer::write_status(const std::string& status, int64_t epoch, const std::string& message) const {
  if (!writer()) return;
  nlohmann::json j = {{"status", status}, {"epoch", epoch}, {"epochs", opt_.epochs}};
  if (!message.empty()) j["message"] = message;
  atomic_write_text(opt_.out_dir + "/status.json", j.dump(2) + "\n");
}

void load_module_strict(torch::nn::Module& module, torch::serialize::InputArchive& archive, const std::string& path) {
  std::vector<std::pair<std::string, torch::Tensor>> expected;
  for (const auto& p : module.named_parameters()) expected.emplace_back(p.key(), p.value().detach().clone());
  for (const auto& b : module.named_buffers()) expected.emplace_back(b.key(), b.value().detach().clone());
  try {
    module.load(archive);
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    throw InputError(fmt::format("{}: does not hold this model ({})", path, what.substr(0, what.find('\n'))));
  }
  std::map<std::string, torch::Tensor> loaded;
  for (const auto& p : module.named_parameters()) loaded[p.key()] = p.value();
  for (const auto& b : module.named_buffers()) loaded[b.key()] = b.value();
  for (const auto& [name, before] : expected) {
    const auto& now = loaded.at(name);
    if (now.sizes() != before.sizes() || now.scalar_type() != before.scalar_type()) {
      const std::string found = fmt::format("{} {}", c10::str(now.sizes()), c10::toString(now.scalar_type()));
      // Put the model back as it was, then refuse the file.
      torch::NoGradGuard no_grad;
      for (const auto& [n2, b2] : expected) loaded.at(n2).set_(b2);
      throw InputError(fmt::format("{}: tensor '{}' is {} but this run's model needs {} {}", path, name, found,
                                   c10::str(before.sizes()), c10::toString(before.scalar_type())));
    }
  }
}

TrainPosition Trainer::fresh_position() const {
  TrainPosition p;
  const auto f = torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device);
  p.task_sum = torch::zeros({}, f);
  p.reg_sum = torch::zeros({}, f);
  p.correct = torch::zeros({}, f.dtype(torch::kInt64));
  return p;
}

void Trainer::save_checkpoint(const std::string& path, const TrainPosition& pos) {
  if (!writer()) return;
  atomic_write_with(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    archive.write("format", torch::tensor(kCheckpointFormat));
    archive.write("epoch", torch::tensor(pos.epoch));
    archive.write("batch", torch::tensor(pos.batch));
    archive.write("samples", torch::tensor(pos.samples));
    archive.write("seconds", torch::tensor(pos.seconds, torch::kFloat64));
    archive.write("task_sum", pos.task_sum.cpu());
    archive.write("reg_sum", pos.reg_sum.cpu());
    archive.write("correct", pos.correct.cpu());
    torch::serialize::OutputArchive stats;
    for (const auto& [k, v] : pos.stat_sums) stats.write(k, v.cpu());
    archive.write("stat_sums", stats);
    torch::serialize::OutputArchive model_archive, optim_archive;
    net_->save(model_archive);
    optimizer_->save(optim_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optim_archive);
    archive.save_to(tmp);
  });
}

TrainPosition Trainer::load_checkpoint(const std::string& path) {
  TrainPosition pos = fresh_position();
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, opt_.device);
    torch::Tensor format, epoch, batch, samples, seconds;
    archive.read("format", format);
    if (format.item<int64_t>() != kCheckpointFormat)
      throw InputError(fmt::format("{}: checkpoint format {} (this sernn reads {})", path, format.item<int64_t>(),
                                   kCheckpointFormat));
    archive.read("epoch", epoch);
    archive.read("batch", batch);
    archive.read("samples", samples);
    archive.read("seconds", seconds);
    archive.read("task_sum", pos.task_sum);
    archive.read("reg_sum", pos.reg_sum);
    archive.read("correct", pos.correct);
    pos.epoch = epoch.item<int64_t>();
    pos.batch = batch.item<int64_t>();
    pos.samples = samples.item<int64_t>();
    pos.seconds = seconds.item<double>();
    torch::serialize::InputArchive stats, model_archive, optim_archive;
    archive.read("stat_sums", stats);
    for (const auto& key : stats.keys()) {
      torch::Tensor t;
      stats.read(key, t);
      pos.stat_sums[key] = t.to(opt_.device);
    }
    archive.read("model", model_archive);
    archive.read("optimizer", optim_archive);
    load_module_strict(*net_, model_archive, path);
    optimizer_->load(optim_archive);
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    throw InputError(fmt::format("{}: not a checkpoint of this run's model ({})", path, what));
  }
  pos.task_sum = pos.task_sum.to(opt_.device);
  pos.reg_sum = pos.reg_sum.to(opt_.device);
  pos.correct = pos.correct.to(opt_.device);
  return pos;
}

void Trainer::check_finite(const torch::Tensor& loss, int64_t epoch, int64_t batch, bool after_step) const {
  std::string what;
  if (!after_step) {
    if (!std::isfinite(loss.item<double>())) {
      what = fmt::format("loss is {}", loss.item<double>());
    } else {
      for (const auto& p : net_->named_parameters())
        if (p.value().grad().defined() && !torch::isfinite(p.value().grad()).all().item<bool>()) {
          what = fmt::format("gradient of '{}' is not finite", p.key());
          break;
        }
    }
  } else {
    for (const auto& p : net_->named_parameters())
      if (!torch::isfinite(p.value()).all().item<bool>()) {
        what = fmt::format("parameter '{}' is not finite after the optimiser step", p.key());
        break;
      }
  }
  if (what.empty()) return;
  const auto msg = fmt::format("diverged at epoch {} batch {}: {}", epoch, batch, what);
  write_status("diverged", epoch - 1, msg);
  throw Diverged(msg + "; the last good checkpoint is kept in " + opt_.out_dir + "/checkpoint.pt");
}

nlohmann::json Trainer::fit(bool resume) {
  make_dirs(opt_.out_dir);
  const std::string metrics_path = opt_.out_dir + "/metrics.jsonl";
  const std::string ckpt_path = opt_.out_dir + "/checkpoint.pt";
  TrainPosition pos = fresh_position();
  nlohmann::json last;
  if (resume && file_exists(ckpt_path)) {
    pos = load_checkpoint(ckpt_path);
    // Keep the metric lines up to the checkpoint; a torn or later line is dropped.
    std::string kept;
    if (file_exists(metrics_path)) {
      std::istringstream in(read_file(metrics_path));
      std::string line;
      while (std::getline(in, line)) {
        try {
          auto j = nlohmann::json::parse(line);
          if (j.value("epoch", int64_t{-1}) <= pos.epoch) {
            kept += line + "\n";
            last = j;
          }
        } catch (const nlohmann::json::exception&) {
          break;  // torn last line of a killed run
        }
      }
    }
    if (writer()) atomic_write_text(metrics_path, kept);
  } else {
    if (writer()) {
      // A fresh run replaces an old one (`--force`): drop its per-epoch files too, so a longer
      // earlier run cannot leave snapshots that look like this run's later epochs.
      std::remove(metrics_path.c_str());
      for (const char* sub : {"weights", "models"}) {
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(opt_.out_dir + "/" + sub, ec)) {
          const auto name = entry.path().filename().string();
          if (name.rfind("epoch_", 0) == 0) std::filesystem::remove(entry.path(), ec);
        }
      }
    }
    write_snapshot(0);
    save_checkpoint(ckpt_path, pos);
  }

  const int64_t world = opt_.collective ? opt_.collective->size() : 1;
  const int64_t rank = opt_.collective ? opt_.collective->rank() : 0;
  const int64_t batches = task_->train_batches(opt_.batch_size);
  const int64_t usable = batches / world * world;  // every rank takes the same number of steps
  Progress progress((opt_.epochs - pos.epoch) * batches - pos.batch, opt_.log_every, stdout);
  auto last_checkpoint = std::chrono::steady_clock::now();
  const bool check_every_batch = opt_.device.is_cpu();  // a host read per batch is free on the CPU

  for (int64_t epoch = pos.epoch + 1; epoch <= opt_.epochs; ++epoch) {
    write_status("running", epoch - 1);
    net_->train(true);
    const auto t0 = std::chrono::steady_clock::now();
    auto stream = task_->stream(Split::Train, epoch, opt_.batch_size, opt_.seed, opt_.device);
    Batch batch;
    // Resuming inside an epoch: replay the stream (same order, same noise) up to where we were.
    for (int64_t skip = 0; skip < pos.batch && stream->next(batch); ++skip) {
    }
    int64_t b = pos.batch;
    while (stream->next(batch)) {
      ++b;
      if (world > 1) {
        if (b > usable) break;
        if ((b - 1) % world != rank) continue;
      }
      optimizer_->zero_grad();
      auto out = net_->run(batch.inputs, /*training=*/true);
      auto [task_loss, right] = classification_loss(out.logits, batch.labels);
      auto total = task_loss;
      torch::Tensor reg;
      if (penalty_ && opt_.gamma > 0.0) {
        reg = opt_.gamma * (*penalty_)(net_->recurrent_weight());
        total = total + reg;
      }
      if (opt_.activity_cost && out.activity.defined()) {
        auto act = opt_.activity_cost(out.activity);
        total = total + act;
        out.stats["activity_cost"] = act.detach();
      }
      if (opt_.inject_nan_batch > 0 && (epoch - 1) * batches + b == opt_.inject_nan_batch)
        total = total * std::numeric_limits<double>::quiet_NaN();
      total.backward();
      if (world > 1) {
        // Average the gradients over the ranks (each rank's loss is a mean over its batch).
        std::vector<torch::Tensor> grads;
        for (auto& p : net_->parameters())
          if (p.grad().defined()) grads.push_back(p.grad());
        opt_.collective->allreduce_sum(grads);
        for (auto& g : grads) g.div_(static_cast<double>(world));
      }
      const bool check = check_every_batch || b % opt_.log_every == 0 || b == batches;
      if (check) check_finite(total, epoch, b, /*after_step=*/false);
      if (opt_.grad_clip > 0.0) clip_grad_norm(net_->parameters(), opt_.grad_clip);
      optimizer_->step();
      net_->after_step();
      if (opt_.after_step) opt_.after_step();
      if (check) check_finite(total, epoch, b, /*after_step=*/true);

      const int64_t n = batch.labels.size(0);
      pos.samples += n;
      pos.batch = b;
      pos.task_sum += task_loss.detach().to(torch::kFloat64) * static_cast<double>(n);
      if (reg.defined()) pos.reg_sum += reg.detach().to(torch::kFloat64) * static_cast<double>(n);
      pos.correct += right;
      for (auto& [k, v] : out.stats) {
        auto w = v.detach().to(torch::kFloat64) * static_cast<double>(n);
        pos.stat_sums[k] = pos.stat_sums.count(k) ? pos.stat_sums[k] + w : w;
      }
      progress.step();
      if (!opt_.quiet && progress.due(b, batches)) {
        const double secs = pos.seconds + seconds_since(t0);
        progress.batch(epoch, opt_.epochs, b, batches, pos.task_sum.item<double>() / pos.samples,
                       static_cast<double>(pos.correct.item<int64_t>()) / pos.samples, pos.samples / std::max(secs, 1e-9));
      }
      if (opt_.stop_after_batch > 0 && (epoch - 1) * batches + b == opt_.stop_after_batch) request_stop(SIGTERM);
      const bool timed = opt_.checkpoint_minutes > 0 && seconds_since(last_checkpoint) >= 60.0 * opt_.checkpoint_minutes;
      // Data-parallel runs checkpoint at epoch ends only (the running sums live on every rank).
      if ((timed || stop_requested()) && b < batches && world == 1) {
        TrainPosition mid = pos;
        mid.epoch = epoch - 1;
        mid.seconds = pos.seconds + seconds_since(t0);
        save_checkpoint(ckpt_path, mid);
        last_checkpoint = std::chrono::steady_clock::now();
      }
      if (stop_requested() && b < batches) {
        write_status("interrupted", epoch - 1, fmt::format("stopped by signal {} in epoch {} after batch {}", stop_signal(), epoch, b));
        if (!opt_.quiet) progress.line(fmt::format("interrupted in epoch {} after batch {}; checkpoint saved", epoch, b));
        throw Interrupted{stop_signal()};
      }
    }
    if (world > 1) {
      // Metrics over all ranks' batches.
      auto n = torch::tensor(static_cast<double>(pos.samples), torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device));
      auto correct = pos.correct.to(torch::kFloat64);
      std::vector<torch::Tensor> sums{pos.task_sum, pos.reg_sum, correct, n};
      for (auto& [k, v] : pos.stat_sums) sums.push_back(v);
      opt_.collective->allreduce_sum(sums);
      pos.correct = correct.to(torch::kInt64);
      pos.samples = static_cast<int64_t>(n.item<double>());
    }
    const double train_seconds = pos.seconds + seconds_since(t0);
    const int64_t samples = pos.samples;
    const double task_loss_mean = samples ? pos.task_sum.item<double>() / samples : 0.0;
    const double reg_loss_mean = samples ? pos.reg_sum.item<double>() / samples : 0.0;
    // The epoch's mean loss (batches between checks on CUDA) and the parameters.
    const auto epoch_loss = torch::tensor(task_loss_mean + reg_loss_mean);
    check_finite(epoch_loss, epoch, b, /*after_step=*/false);
    check_finite(epoch_loss, epoch, b, /*after_step=*/true);

    std::map<std::string, double> hook_metrics;
    if (opt_.epoch_end) hook_metrics = opt_.epoch_end(epoch);
    const auto val = evaluate(Split::Validation, epoch);
    const auto test = evaluate(Split::Test, epoch);
    nlohmann::json m = {
        {"epoch", epoch},
        {"task_loss", task_loss_mean},
        {"reg_loss", reg_loss_mean},
        {"train_acc", samples ? static_cast<double>(pos.correct.item<int64_t>()) / samples : 0.0},
        {"val_loss", val.samples ? nlohmann::json(val.loss) : nlohmann::json()},
        {"val_acc", val.samples ? nlohmann::json(val.accuracy) : nlohmann::json()},
        {"test_loss", test.loss},
        {"test_acc", test.accuracy},
        {"seconds", pos.seconds + seconds_since(t0)},
        {"samples_per_s", samples / std::max(train_seconds, 1e-9)},
    };
    for (auto& [k, v] : pos.stat_sums) m[k] = v.item<double>() / samples;
    for (auto& [k, v] : net_->parameter_stats()) m[k] = v;
    for (auto& [k, v] : hook_metrics) m[k] = v;

    write_snapshot(epoch);
    if (writer()) append_line_synced(metrics_path, m.dump());
    pos = fresh_position();
    pos.epoch = epoch;
    save_checkpoint(ckpt_path, pos);
    last_checkpoint = std::chrono::steady_clock::now();
    last = m;
    if (!opt_.quiet)
      progress.line(fmt::format("epoch {}/{}: task_loss {:.4f} reg_loss {:.4f} train {:.1f}% val {} test {:.1f}% "
                                "({:.1f}s, {:.0f} samples/s)",
                                epoch, opt_.epochs, task_loss_mean, reg_loss_mean, 100.0 * m["train_acc"].get<double>(),
                                val.samples ? fmt::format("{:.1f}%", 100.0 * val.accuracy) : std::string("-"),
                                100.0 * test.accuracy, m["seconds"].get<double>(), m["samples_per_s"].get<double>()));
    if (stop_requested() && epoch < opt_.epochs) {
      write_status("interrupted", epoch, fmt::format("stopped by signal {} after epoch {}", stop_signal(), epoch));
      throw Interrupted{stop_signal()};
    }
  }
  write_status("finished", opt_.epochs);
  return last;
}

}  // namespace sernn
