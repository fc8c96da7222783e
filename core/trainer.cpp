#include "core/trainer.h"

#include <chrono>
#include <csignal>
#include <cmath>
#include <limits>

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
/// 3: the epoch's sums by metric name ("sums"); 2 (read too): task_sum, reg_sum, stat_sums.
constexpr int64_t kCheckpointFormat = 3;

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

Trainer::Trainer(std::shared_ptr<Network> network, std::shared_ptr<const Task> task, TrainerOptions options)
    : net_(std::move(network)), task_(std::move(task)), opt_(std::move(options)), dir_(opt_.out_dir) {
  if (opt_.loss.empty()) opt_.loss.push_back(task_loss_term());
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
  if (writer()) dir_.write_snapshot(epoch, net_->recurrent_weight(), *net_);
}

void Trainer::write_status(RunStatus status, int64_t epoch, const std::string& message) const {
  if (writer()) dir_.write_state({status, epoch, opt_.epochs, message});
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
  p.correct = torch::zeros({}, f.dtype(torch::kInt64));
  for (const auto& term : opt_.loss) p.sums[term.name] = torch::zeros({}, f);
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
    archive.write("correct", pos.correct.cpu());
    torch::serialize::OutputArchive sums;
    for (const auto& [k, v] : pos.sums) sums.write(k, v.cpu());
    archive.write("sums", sums);
    torch::serialize::OutputArchive model_archive, optim_archive;
    net_->save(model_archive);
    optimizer_->save(optim_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optim_archive);
    archive.save_to(tmp);
  });
}

namespace {
/// Every tensor of a sub-archive by key.
std::map<std::string, torch::Tensor> read_tensors(torch::serialize::InputArchive& archive, const std::string& key) {
  torch::serialize::InputArchive sub;
  archive.read(key, sub);
  std::map<std::string, torch::Tensor> out;
  for (const auto& k : sub.keys()) sub.read(k, out[k]);
  return out;
}
}  // namespace

TrainPosition Trainer::load_checkpoint(const std::string& path) {
  TrainPosition pos = fresh_position();
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, opt_.device);
    torch::Tensor format, epoch, batch, samples, seconds;
    archive.read("format", format);
    const int64_t fmt_read = format.item<int64_t>();
    if (fmt_read != kCheckpointFormat && fmt_read != 2)
      throw InputError(fmt::format("{}: checkpoint format {} (this sernn reads 2 and {})", path, fmt_read, kCheckpointFormat));
    archive.read("epoch", epoch);
    archive.read("batch", batch);
    archive.read("samples", samples);
    archive.read("seconds", seconds);
    archive.read("correct", pos.correct);
    pos.epoch = epoch.item<int64_t>();
    pos.batch = batch.item<int64_t>();
    pos.samples = samples.item<int64_t>();
    pos.seconds = seconds.item<double>();
    if (fmt_read == 2) {
      archive.read("task_sum", pos.sums["task_loss"]);
      archive.read("reg_sum", pos.sums["reg_loss"]);
      for (auto& [k, v] : read_tensors(archive, "stat_sums")) pos.sums[k] = v;
    } else {
      for (auto& [k, v] : read_tensors(archive, "sums")) pos.sums[k] = v;
    }
    torch::serialize::InputArchive model_archive, optim_archive;
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
  pos.correct = pos.correct.to(opt_.device);
  for (auto& [k, v] : pos.sums) v = v.to(opt_.device);
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
  write_status(RunStatus::Diverged, epoch - 1, msg);
  throw Diverged(msg + "; the last good checkpoint is kept in " + dir_.file("checkpoint.pt"));
}

nlohmann::json Trainer::fit(bool resume) {
  make_dirs(opt_.out_dir);
  nlohmann::json last;
  TrainPosition pos = start(resume, last);
  batches_ = task_->train_batches(opt_.batch_size);
  Progress progress((opt_.epochs - pos.epoch) * batches_ - pos.batch, opt_.log_every, stdout);
  last_checkpoint_ = std::chrono::steady_clock::now();
  for (int64_t epoch = pos.epoch + 1; epoch <= opt_.epochs; ++epoch) {
    write_status(RunStatus::Running, epoch - 1);
    train_epoch(epoch, pos, progress);
    reduce(pos);
    last = finish_epoch(epoch, pos, pos.seconds, progress);
    pos = fresh_position();
    pos.epoch = epoch;
    if (stop_requested() && epoch < opt_.epochs) {
      write_status(RunStatus::Interrupted, epoch, fmt::format("stopped by signal {} after epoch {}", stop_signal(), epoch));
      throw Interrupted{stop_signal()};
    }
  }
  write_status(RunStatus::Finished, opt_.epochs);
  return last;
}

TrainPosition Trainer::start(bool resume, nlohmann::json& last) {
  const auto ckpt = dir_.file("checkpoint.pt");
  if (resume && file_exists(ckpt)) {
    TrainPosition pos = load_checkpoint(ckpt);
    // Keep the metric lines up to the checkpoint; a torn or later line is dropped.
    if (writer()) last = dir_.keep_metrics_through(pos.epoch);
    return pos;
  }
  // A fresh run replaces an old one (`--force`): drop its per-epoch files too, so a longer
  // earlier run cannot leave snapshots that look like this run's later epochs.
  if (writer()) dir_.clear_training_files();
  TrainPosition pos = fresh_position();
  write_snapshot(0);
  save_checkpoint(ckpt, pos);
  return pos;
}

void Trainer::train_epoch(int64_t epoch, TrainPosition& pos, Progress& progress) {
  const int64_t world = this->world();
  const int64_t rank = opt_.collective ? opt_.collective->rank() : 0;
  const int64_t usable = batches_ / world * world;  // every rank takes the same number of steps
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
    train_step(batch, epoch, b, pos);
    progress.step();
    if (!opt_.quiet && progress.due(b, batches_)) {
      const double secs = pos.seconds + seconds_since(t0);
      progress.batch(epoch, opt_.epochs, b, batches_, pos.sums.at("task_loss").item<double>() / pos.samples,
                     static_cast<double>(pos.correct.item<int64_t>()) / pos.samples, pos.samples / std::max(secs, 1e-9));
    }
    if (opt_.stop_after_batch > 0 && (epoch - 1) * batches_ + b == opt_.stop_after_batch) request_stop(SIGTERM);
    const bool timed = opt_.checkpoint_minutes > 0 && seconds_since(last_checkpoint_) >= 60.0 * opt_.checkpoint_minutes;
    // Data-parallel runs checkpoint at epoch ends only (the running sums live on every rank).
    if ((timed || stop_requested()) && b < batches_ && world == 1) {
      TrainPosition mid = pos;
      mid.epoch = epoch - 1;
      mid.seconds = pos.seconds + seconds_since(t0);
      save_checkpoint(dir_.file("checkpoint.pt"), mid);
      last_checkpoint_ = std::chrono::steady_clock::now();
    }
    if (stop_requested() && b < batches_) {
      write_status(RunStatus::Interrupted, epoch - 1,
                   fmt::format("stopped by signal {} in epoch {} after batch {}", stop_signal(), epoch, b));
      if (!opt_.quiet) progress.line(fmt::format("interrupted in epoch {} after batch {}; checkpoint saved", epoch, b));
      throw Interrupted{stop_signal()};
    }
  }
  pos.batch = b;
  pos.seconds += seconds_since(t0);
}

void Trainer::train_step(const Batch& batch, int64_t epoch, int64_t b, TrainPosition& pos) {
  optimizer_->zero_grad();
  auto out = net_->run(batch.inputs, /*training=*/true);
  auto loss = compute_loss(opt_.loss, {batch, out, *net_});
  auto total = loss.total;
  if (opt_.inject_nan_batch > 0 && (epoch - 1) * batches_ + b == opt_.inject_nan_batch)
    total = total * std::numeric_limits<double>::quiet_NaN();
  total.backward();
  if (world() > 1) {
    // Average the gradients over the ranks (each rank's loss is a mean over its batch).
    std::vector<torch::Tensor> grads;
    for (auto& p : net_->parameters())
      if (p.grad().defined()) grads.push_back(p.grad());
    opt_.collective->allreduce_sum(grads);
    for (auto& g : grads) g.div_(static_cast<double>(world()));
  }
  // A host read per batch is free on the CPU; on CUDA every log_every batches and the last.
  const bool check = opt_.device.is_cpu() || b % opt_.log_every == 0 || b == batches_;
  if (check) check_finite(total, epoch, b, /*after_step=*/false);
  if (opt_.grad_clip > 0.0) clip_grad_norm(net_->parameters(), opt_.grad_clip);
  optimizer_->step();
  net_->after_step();
  if (opt_.after_step) opt_.after_step();
  if (check) check_finite(total, epoch, b, /*after_step=*/true);

  const auto n = static_cast<double>(batch.labels.size(0));
  pos.samples += batch.labels.size(0);
  pos.batch = b;
  pos.correct += out.logits.argmax(1).eq(batch.labels).sum();
  auto add = [&](const std::string& key, const torch::Tensor& v) {
    auto w = v.detach().to(torch::kFloat64) * n;
    auto it = pos.sums.find(key);
    if (it == pos.sums.end()) pos.sums.emplace(key, w);
    else it->second = it->second + w;
  };
  for (const auto& [name, value] : loss.terms) add(name, value);
  for (const auto& [k, v] : out.stats) add(k, v);
}

void Trainer::reduce(TrainPosition& pos) {
  if (world() == 1) return;
  // Metrics over all ranks' batches.
  auto n = torch::tensor(static_cast<double>(pos.samples), torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device));
  auto correct = pos.correct.to(torch::kFloat64);
  std::vector<torch::Tensor> sums{correct, n};
  for (auto& [k, v] : pos.sums) sums.push_back(v);
  opt_.collective->allreduce_sum(sums);
  pos.correct = correct.to(torch::kInt64);
  pos.samples = static_cast<int64_t>(n.item<double>());
}

nlohmann::json Trainer::finish_epoch(int64_t epoch, TrainPosition& pos, double train_seconds, Progress& progress) {
  const int64_t samples = pos.samples;
  auto mean = [&](const std::string& key) { return samples ? pos.sums.at(key).item<double>() / samples : 0.0; };
  // The epoch's mean loss (batches between checks on CUDA) and the parameters.
  double loss_mean = 0.0;
  for (const auto& term : opt_.loss) loss_mean += mean(term.name);
  const auto epoch_loss = torch::tensor(loss_mean);
  check_finite(epoch_loss, epoch, pos.batch, /*after_step=*/false);
  check_finite(epoch_loss, epoch, pos.batch, /*after_step=*/true);

  std::map<std::string, double> hook_metrics;
  if (opt_.epoch_end) hook_metrics = opt_.epoch_end(epoch);
  const auto val = evaluate(Split::Validation, epoch);
  const auto test = evaluate(Split::Test, epoch);
  nlohmann::json m = {
      {"epoch", epoch},
      {"reg_loss", 0.0},
      {"train_acc", samples ? static_cast<double>(pos.correct.item<int64_t>()) / samples : 0.0},
      {"val_loss", val.samples ? nlohmann::json(val.loss) : nlohmann::json()},
      {"val_acc", val.samples ? nlohmann::json(val.accuracy) : nlohmann::json()},
      {"test_loss", test.loss},
      {"test_acc", test.accuracy},
      {"seconds", train_seconds},
      {"samples_per_s", samples / std::max(train_seconds, 1e-9)},
  };
  for (const auto& [k, v] : pos.sums) m[k] = mean(k);
  for (auto& [k, v] : net_->parameter_stats()) m[k] = v;
  for (auto& [k, v] : hook_metrics) m[k] = v;

  write_snapshot(epoch);
  if (writer()) dir_.append_metrics(m);
  TrainPosition next = fresh_position();
  next.epoch = epoch;
  save_checkpoint(dir_.file("checkpoint.pt"), next);
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (!opt_.quiet)
    progress.line(fmt::format("epoch {}/{}: task_loss {:.4f} reg_loss {:.4f} train {:.1f}% val {} test {:.1f}% "
                              "({:.1f}s, {:.0f} samples/s)",
                              epoch, opt_.epochs, m["task_loss"].get<double>(), m["reg_loss"].get<double>(),
                              100.0 * m["train_acc"].get<double>(),
                              val.samples ? fmt::format("{:.1f}%", 100.0 * val.accuracy) : std::string("-"),
                              100.0 * test.accuracy, train_seconds, m["samples_per_s"].get<double>()));
  return m;
}

}  // namespace sernn
