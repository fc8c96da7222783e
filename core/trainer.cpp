#include "core/trainer.h"

#include <algorithm>
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

std::pair<torch::Tensor, torch::Tensor> classification_loss(const torch::Tensor& logits, const torch::Tensor& labels) {
  return {mean_cross_entropy(logits, labels), logits.argmax(-1).eq(labels).sum(-1)};
}

namespace {
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
    : Trainer(std::move(network), std::vector<std::shared_ptr<const Task>>{std::move(task)}, std::move(options)) {}

Trainer::Trainer(std::shared_ptr<Network> network, std::vector<std::shared_ptr<const Task>> tasks,
                 TrainerOptions options)
    : net_(std::move(network)), tasks_(std::move(tasks)), opt_(std::move(options)), dir_(opt_.out_dir) {
  members_ = net_->members();
  const auto K = static_cast<size_t>(members_);
  if (tasks_.size() == 1 && K > 1) tasks_.resize(K, tasks_[0]);
  TORCH_CHECK(tasks_.size() == K, "Trainer: ", tasks_.size(), " tasks for ", K, " members");
  if (members_ == 1) {
    member_dirs_ = {dir_};
    seeds_ = {opt_.seed};
    loss_ = {opt_.loss.empty() ? std::vector<LossTerm>{task_loss_term()} : opt_.loss};
  } else {
    TORCH_CHECK(opt_.member_dirs.size() == K, "Trainer: an ensemble of ", K, " needs one run directory per member");
    TORCH_CHECK(!opt_.collective, "Trainer: ensembles train in one process");
    for (const auto& d : opt_.member_dirs) member_dirs_.emplace_back(d);
    seeds_ = opt_.member_seeds.empty() ? std::vector<uint64_t>(K, opt_.seed) : opt_.member_seeds;
    loss_ = opt_.member_loss.empty() ? std::vector<std::vector<LossTerm>>(K, {task_loss_term()}) : opt_.member_loss;
    TORCH_CHECK(seeds_.size() == K && loss_.size() == K, "Trainer: one seed and one loss per member");
    members_loss_ = std::make_unique<MembersLoss>(loss_);
  }
  // Same task object and seed: the same batches (Task::stream is a pure function of them).
  for (size_t k = 0; k < K; ++k) {
    data_of_.push_back(static_cast<int64_t>(k));
    for (size_t j = 0; j < k; ++j)
      if (tasks_[j] == tasks_[k] && seeds_[j] == seeds_[k]) {
        data_of_[k] = static_cast<int64_t>(j);
        break;
      }
  }
  net_->to(opt_.device);
  owners_ = net_->parameter_owners();
  guard_ = std::make_unique<DivergenceGuard>(net_, opt_.device);
  optimizer_ = std::make_unique<torch::optim::Adam>(net_->parameters(), torch::optim::AdamOptions(opt_.lr));
}

std::vector<std::unique_ptr<BatchStream>> Trainer::streams(Split split, int64_t epoch) const {
  std::vector<std::unique_ptr<BatchStream>> out;
  for (int64_t k = 0; k < members_; ++k)
    out.push_back(data_of_[k] == k ? tasks_[k]->stream(split, epoch, opt_.batch_size, seeds_[k], opt_.device)
                                   : nullptr);
  return out;
}

bool Trainer::next_batch(std::vector<std::unique_ptr<BatchStream>>& streams, Batch& out) const {
  if (streams.size() == 1) return streams[0]->next(out);
  out.inputs = torch::Tensor();
  out.member_inputs.resize(streams.size());
  std::vector<torch::Tensor> ys;
  for (size_t k = 0; k < streams.size(); ++k) {
    const auto from = static_cast<size_t>(data_of_[k]);
    if (from != k) {
      out.member_inputs[k] = out.member_inputs[from];
      ys.push_back(ys[from]);
      continue;
    }
    Batch b;
    if (!streams[k]->next(b)) return false;
    out.member_inputs[k] = b.inputs;
    ys.push_back(b.labels);
  }
  out.labels = torch::stack(ys);
  return true;
}

NetworkOutput Trainer::run_batch(const Batch& batch, bool training) const {
  const bool sparse_ok = net_->takes_sparse_inputs();
  const auto input = [&](const torch::Tensor& x) { return x.is_sparse() && !sparse_ok ? x.to_dense() : x; };
  if (members_ == 1) return net_->run(input(batch.inputs), training);
  if (sparse_ok) return net_->run_members(batch.member_inputs, training);
  std::vector<torch::Tensor> dense;  // members that share a batch share its dense form
  for (size_t k = 0; k < batch.member_inputs.size(); ++k) {
    const auto& x = batch.member_inputs[k];
    size_t j = 0;
    while (j < k && !batch.member_inputs[j].is_same(x)) ++j;
    dense.push_back(j < k ? dense[j] : input(x));
  }
  return net_->run_members(dense, training);
}

void Trainer::save_checkpoint(const std::string& path, const TrainPosition& pos) {
  if (writer()) write_checkpoint(path, pos, guard_->frozen(), *net_, *optimizer_);
}

TrainPosition Trainer::load_checkpoint(const std::string& path) {
  TrainPosition pos = fresh_position();
  auto frozen = guard_->frozen();
  read_checkpoint(path, *net_, *optimizer_, pos, frozen, opt_.device);
  guard_->reset(frozen);
  return pos;
}

std::vector<Evaluation> Trainer::evaluate_members(Split split, int64_t epoch) const {
  torch::NoGradGuard no_grad;
  net_->train(false);
  auto ss = streams(split, epoch);
  const auto f64 = torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device);
  auto loss_sum = torch::zeros({members_}, f64);
  auto correct = torch::zeros({members_}, f64.dtype(torch::kInt64));
  int64_t samples = 0;
  Batch batch;
  while (next_batch(ss, batch)) {
    auto out = run_batch(batch, /*training=*/false);
    const int64_t b = batch.labels.size(-1);
    // All members at once ([K, B, C] -> [K]).
    auto [loss, right] = classification_loss(out.logits, batch.labels);
    loss_sum += loss.to(torch::kFloat64).reshape({members_}) * static_cast<double>(b);
    correct += right.reshape({members_});
    samples += b;
  }
  std::vector<Evaluation> e(members_);
  if (samples == 0) return e;
  const auto read = torch::cat({loss_sum, correct.to(torch::kFloat64)}).cpu();  // one read
  const double* v = read.data_ptr<double>();
  for (int64_t k = 0; k < members_; ++k) {
    e[k].samples = samples;
    e[k].loss = v[k] / static_cast<double>(samples);
    e[k].accuracy = v[members_ + k] / static_cast<double>(samples);
  }
  return e;
}

std::vector<std::shared_ptr<Network>> Trainer::member_networks() const {
  if (members_ == 1) return {net_};
  std::vector<std::shared_ptr<Network>> out(members_);
  for (int64_t k = 0; k < members_; ++k)
    if (!guard_->frozen()[k]) out[k] = net_->member(k);
  return out;
}

void Trainer::write_snapshot(int64_t epoch, const std::vector<std::shared_ptr<Network>>& nets) const {
  if (!writer()) return;
  for (int64_t k = 0; k < members_; ++k)
    if (nets[k]) member_dirs_[k].write_snapshot(epoch, nets[k]->recurrent_weight(), *nets[k]);
}

void Trainer::write_status(RunStatus status, int64_t epoch, const std::string& message) const {
  if (!writer()) return;
  for (int64_t k = 0; k < members_; ++k)
    if (!guard_->frozen()[k]) member_dirs_[k].write_state({status, epoch, opt_.epochs, message});
}

TrainPosition Trainer::fresh_position() const {
  TrainPosition p;
  const auto f = torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device);
  p.correct = torch::zeros({members_}, f.dtype(torch::kInt64));
  for (const auto& terms : loss_)
    for (const auto& term : terms) p.sums[term.name] = torch::zeros({members_}, f);
  return p;
}

void Trainer::sync_faults(const std::vector<int64_t>& marks) {
  int64_t last = 0;  // the global batch of the latest fault read now (0: none)
  for (const auto& f : guard_->faults(marks)) {
    const int64_t epoch = (f.global - 1) / batches_ + 1, batch = (f.global - 1) % batches_ + 1;
    const auto message = fmt::format("diverged at epoch {} batch {}: {}", epoch, batch, f.cause);
    if (members_ == 1) {
      write_status(RunStatus::Diverged, epoch - 1, message);
      throw Diverged(message + "; the last good checkpoint is kept in " + dir_.file("checkpoint.pt"));
    }
    // Its weights are the last good ones already: the guard put them back after every step since
    // the fault.
    guard_->freeze(f.member);
    if (writer())
      member_dirs_[f.member].write_state({RunStatus::Diverged, epoch - 1, opt_.epochs,
                                          message + "; frozen at its last good weights while the ensemble trained on"});
    if (!opt_.quiet)
      fmt::print("member {} of the ensemble (run {}): {}\n", f.member, member_dirs_[f.member].path(), message);
    last = std::max(last, f.global);
  }
  const auto& frozen = guard_->frozen();
  if (last == 0 || std::find(frozen.begin(), frozen.end(), false) != frozen.end()) return;
  throw Diverged(fmt::format("every member of the ensemble diverged (the last in epoch {} batch {})",
                             (last - 1) / batches_ + 1, (last - 1) % batches_ + 1));
}

std::vector<int64_t> Trainer::read_marks() const {
  const auto m = guard_->marks().cpu();
  return {m.data_ptr<int64_t>(), m.data_ptr<int64_t>() + m.numel()};
}

void Trainer::clip_gradients() {
  auto params = net_->parameters();
  if (members_ == 1) return clip_grad_norm(params, opt_.grad_clip);
  // Each member's global norm: the norm of its parameters' norms, as clip_grad_norm on it alone,
  // and with the same bits (issue 26): a [K, P] matrix of parameter norms, each row reduced as the
  // member's own [P] vector would be (a reduction over the leading dimension rounds otherwise).
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> stacked;                       // [K] per stacked parameter
  std::vector<std::vector<torch::Tensor>> owned(members_);  // per member, its own parameters' norms
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& g = params[i].grad();
    if (!g.defined()) continue;
    if (owners_[i] < 0) stacked.push_back(g.reshape({members_, -1}).norm(2, 1));
    else owned[owners_[i]].push_back(g.norm(2));
  }
  if (stacked.empty() && owned[0].empty()) return;
  TORCH_CHECK(stacked.empty() || owned[0].empty(),
              "clip_gradients: an ensemble's parameters are either all stacked or all owned by members");
  torch::Tensor per_member;  // [K, P]
  if (!stacked.empty()) {
    per_member = torch::stack(stacked, 1);
  } else {
    std::vector<torch::Tensor> rows;
    for (auto& norms : owned) rows.push_back(torch::stack(norms));
    per_member = torch::stack(rows);
  }
  const auto coef = (opt_.grad_clip / (per_member.norm(2, 1) + 1e-6)).clamp_max(1.0);
  for (size_t i = 0; i < params.size(); ++i) {
    auto g = params[i].grad();
    if (!g.defined()) continue;
    if (owners_[i] < 0) {
      std::vector<int64_t> shape(g.dim(), 1);
      shape[0] = members_;
      g.mul_(coef.view(shape));
    } else {
      g.mul_(coef[owners_[i]]);
    }
  }
}

nlohmann::json Trainer::fit(bool resume) {
  make_dirs(opt_.out_dir);
  std::vector<nlohmann::json> last(members_);
  TrainPosition pos = start(resume, last);
  batches_ = tasks_[0]->train_batches(opt_.batch_size);
  Progress progress((opt_.epochs - pos.epoch) * batches_ - pos.batch, opt_.log_every, stdout);
  last_checkpoint_ = std::chrono::steady_clock::now();
  for (int64_t epoch = pos.epoch + 1; epoch <= opt_.epochs; ++epoch) {
    write_status(RunStatus::Running, epoch - 1);
    train_epoch(epoch, pos, progress);
    reduce(pos);
    const auto metrics = finish_epoch(epoch, pos, pos.seconds, progress);
    for (int64_t k = 0; k < members_; ++k)
      if (!metrics[k].is_null()) last[k] = metrics[k];
    pos = fresh_position();
    pos.epoch = epoch;
    if (stop_requested() && epoch < opt_.epochs) {
      write_status(RunStatus::Interrupted, epoch,
                   fmt::format("stopped by signal {} after epoch {}", stop_signal(), epoch));
      throw Interrupted{stop_signal()};
    }
  }
  write_status(RunStatus::Finished, opt_.epochs);
  return members_ == 1 ? last[0] : nlohmann::json(last);
}

TrainPosition Trainer::start(bool resume, std::vector<nlohmann::json>& last) {
  const auto ckpt = dir_.file("checkpoint.pt");
  if (resume && file_exists(ckpt)) {
    TrainPosition pos = load_checkpoint(ckpt);
    // Keep the metric lines up to the checkpoint; a torn or later line is dropped.
    if (writer())
      for (int64_t k = 0; k < members_; ++k) last[k] = member_dirs_[k].keep_metrics_through(pos.epoch);
    return pos;
  }
  // A fresh run replaces an old one (`--force`): drop its per-epoch files too, so a longer
  // earlier run cannot leave snapshots that look like this run's later epochs.
  if (writer())
    for (const auto& d : member_dirs_) d.clear_training_files();
  TrainPosition pos = fresh_position();
  write_snapshot(0, member_networks());
  save_checkpoint(ckpt, pos);
  return pos;
}

void Trainer::train_epoch(int64_t epoch, TrainPosition& pos, Progress& progress) {
  const int64_t world = this->world();
  const int64_t rank = opt_.collective ? opt_.collective->rank() : 0;
  const int64_t usable = batches_ / world * world;  // every rank takes the same number of steps
  net_->train(true);
  const auto t0 = std::chrono::steady_clock::now();
  auto ss = streams(Split::Train, epoch);
  Batch batch;
  // Resuming inside an epoch: replay the stream (same order, same noise) up to where we were.
  for (int64_t skip = 0; skip < pos.batch && next_batch(ss, batch); ++skip) {
  }
  int64_t b = pos.batch;
  const auto in_step = [&](bool inside) {
    if (opt_.in_step) opt_.in_step(inside);
  };
  while (true) {
    in_step(true);
    if (!next_batch(ss, batch)) {
      in_step(false);
      break;
    }
    ++b;
    if (world > 1 && (b > usable || (b - 1) % world != rank)) {
      in_step(false);
      if (b > usable) break;
      continue;
    }
    train_step(batch, epoch, b, pos);
    in_step(false);
    progress.step();
    // The NaN guard's findings, read every log_every batches and at the epoch's end (issue 25:
    // no host read inside a step).
    // Data-parallel ranks run different batch indices: they read every step, so that all ranks
    // stop at once (a rank left waiting in an all-reduce would hang).
    // The guard's marks and the progress line's numbers come in one read.
    const bool show = !opt_.quiet && progress.due(b, batches_);
    if (world > 1 || b % opt_.log_every == 0 || b == batches_ || show) {
      const auto K = members_;
      auto read = torch::cat({guard_->marks().to(torch::kFloat64), pos.sums.at("task_loss").mean().reshape({1}),
                              pos.correct.sum().to(torch::kFloat64).reshape({1})})
                      .cpu();
      const double* v = read.data_ptr<double>();
      sync_faults(std::vector<int64_t>(v, v + 2 * K));  // codes and batch numbers: exact in float64
      if (show)
        progress.batch(epoch, opt_.epochs, b, batches_, v[2 * K] / pos.samples, v[2 * K + 1] / (pos.samples * K),
                       K * pos.samples / std::max(pos.seconds + seconds_since(t0), 1e-9));
    }
    if (opt_.stop_after_batch > 0 && (epoch - 1) * batches_ + b == opt_.stop_after_batch) request_stop(SIGTERM);
    const bool timed = opt_.checkpoint_minutes > 0 && seconds_since(last_checkpoint_) >= 60.0 * opt_.checkpoint_minutes;
    // Data-parallel runs checkpoint at epoch ends only (the running sums live on every rank).
    if ((timed || stop_requested()) && b < batches_ && world == 1) {
      sync_faults(read_marks());  // a checkpoint holds good weights only
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

MembersLossValue Trainer::step_loss(const NetworkOutput& out, const Batch& batch, int64_t global) const {
  torch::Tensor weight;  // the recurrent weight, computed once if a term asks for it
  const LossInputs inputs{out.logits, batch.labels, out.activity, [&] {
                            if (!weight.defined()) weight = net_->recurrent_weight();
                            return weight;
                          }};
  if (members_ == 1) {
    auto lv = compute_loss(loss_[0], inputs);
    if (opt_.inject_nan_batch > 0 && global == opt_.inject_nan_batch)
      lv.total = lv.total * std::numeric_limits<double>::quiet_NaN();
    MembersLossValue v{lv.total.reshape({1}), {}};
    for (const auto& [name, value] : lv.terms) v.terms[name] = value.reshape({1});
    return v;
  }
  auto v = (*members_loss_)(inputs);
  // Fault injection: a NaN in the chosen members' losses (and so only in their gradients).
  std::vector<double> mask(members_, 1.0);
  bool inject = false;
  for (size_t k = 0; k < opt_.member_inject_nan_batch.size() && k < mask.size(); ++k)
    if (opt_.member_inject_nan_batch[k] > 0 && global == opt_.member_inject_nan_batch[k]) {
      mask[k] = std::numeric_limits<double>::quiet_NaN();
      inject = true;
    }
  if (inject) v.total = v.total * torch::tensor(mask, torch::kFloat64).to(v.total.options());
  return v;
}

void Trainer::train_step(const Batch& batch, int64_t epoch, int64_t b, TrainPosition& pos) {
  optimizer_->zero_grad();
  auto out = run_batch(batch, /*training=*/true);
  const auto loss = step_loss(out, batch, (epoch - 1) * batches_ + b);
  loss.total.sum().backward();
  if (world() > 1) {
    // Average the gradients over the ranks (each rank's loss is a mean over its batch).
    std::vector<torch::Tensor> grads;
    for (auto& p : net_->parameters())
      if (p.grad().defined()) grads.push_back(p.grad());
    opt_.collective->allreduce_sum(grads);
    for (auto& g : grads) g.div_(static_cast<double>(world()));
  }
  // The NaN guard without a host read (core/divergence_guard.h); what it found is read at the
  // boundaries (train_epoch).
  const int64_t global = (epoch - 1) * batches_ + b;
  guard_->before_step(loss.total, global);
  if (opt_.grad_clip > 0.0) clip_gradients();
  guard_->keep_weights();
  optimizer_->step();
  net_->after_step();
  if (opt_.after_step) opt_.after_step();
  guard_->after_step(loss.total, global);
  add_sums(out, batch, loss.terms, pos);
  pos.batch = b;
}

void Trainer::add_sums(const NetworkOutput& out, const Batch& batch, const std::map<std::string, torch::Tensor>& terms,
                       TrainPosition& pos) const {
  const int64_t B = batch.labels.size(-1);
  const auto n = static_cast<double>(B);
  pos.samples += B;
  pos.correct += out.logits.argmax(-1).eq(batch.labels).sum(-1).reshape({members_});
  auto add = [&](const std::string& key, const torch::Tensor& v) {
    auto w = v.detach().to(torch::kFloat64).reshape({members_}) * n;
    auto it = pos.sums.find(key);
    if (it == pos.sums.end()) pos.sums.emplace(key, w);
    else it->second = it->second + w;
  };
  for (const auto& [name, value] : terms) add(name, value);
  for (const auto& [k, v] : out.stats) add(k, v);
}

void Trainer::reduce(TrainPosition& pos) {
  if (world() == 1) return;
  // Metrics over all ranks' batches.
  auto n = torch::tensor(static_cast<double>(pos.samples),
                         torch::TensorOptions().dtype(torch::kFloat64).device(opt_.device));
  auto correct = pos.correct.to(torch::kFloat64);
  std::vector<torch::Tensor> sums{correct, n};
  for (auto& [k, v] : pos.sums) sums.push_back(v);
  opt_.collective->allreduce_sum(sums);
  pos.correct = correct.to(torch::kInt64);
  pos.samples = static_cast<int64_t>(n.item<double>());
}

std::vector<nlohmann::json> Trainer::finish_epoch(int64_t epoch, TrainPosition& pos, double train_seconds,
                                                  Progress& progress) {
  const int64_t samples = pos.samples, K = members_;
  // One read: the guard's marks (every batch of the epoch was guarded; this reads the last ones'
  // findings), the correct counts and the sums.
  std::vector<torch::Tensor> parts{guard_->marks().to(torch::kFloat64), pos.correct.to(torch::kFloat64)};
  for (const auto& [k, v] : pos.sums) parts.push_back(v);
  const auto read = torch::cat(parts).cpu();
  const double* host = read.data_ptr<double>();
  sync_faults(std::vector<int64_t>(host, host + 2 * K));
  const double* correct = host + 2 * K;
  std::map<std::string, const double*> sums;  // [K] each
  int64_t at = 3 * K;
  for (const auto& entry : pos.sums) sums[entry.first] = host + at, at += K;
  std::map<std::string, double> hook_metrics;
  if (opt_.epoch_end) hook_metrics = opt_.epoch_end(epoch);
  const auto val = evaluate_members(Split::Validation, epoch);
  const auto test = evaluate_members(Split::Test, epoch);
  const auto nets = member_networks();  // built once for the snapshot and the metrics
  write_snapshot(epoch, nets);
  std::vector<nlohmann::json> out(members_);
  for (int64_t k = 0; k < members_; ++k) {
    if (!nets[k]) continue;  // frozen
    nlohmann::json m = {
        {"epoch", epoch},
        {"reg_loss", 0.0},
        {"train_acc", samples ? correct[k] / samples : 0.0},
        {"val_loss", val[k].samples ? nlohmann::json(val[k].loss) : nlohmann::json()},
        {"val_acc", val[k].samples ? nlohmann::json(val[k].accuracy) : nlohmann::json()},
        {"test_loss", test[k].loss},
        {"test_acc", test[k].accuracy},
        {"seconds", train_seconds},
        {"samples_per_s", members_ * samples / std::max(train_seconds, 1e-9)},
    };
    if (members_ > 1) m["ensemble_size"] = members_;
    for (const auto& [key, sum] : sums) m[key] = samples ? sum[k] / static_cast<double>(samples) : 0.0;
    for (auto& [key, value] : nets[k]->parameter_stats()) m[key] = value;
    for (auto& [key, v] : hook_metrics) m[key] = v;
    if (writer()) member_dirs_[k].append_metrics(m);
    out[k] = std::move(m);
  }
  TrainPosition next = fresh_position();
  next.epoch = epoch;
  save_checkpoint(dir_.file("checkpoint.pt"), next);
  last_checkpoint_ = std::chrono::steady_clock::now();
  if (!opt_.quiet) progress.line(epoch_line(epoch, out, train_seconds));
  return out;
}

std::string Trainer::epoch_line(int64_t epoch, const std::vector<nlohmann::json>& metrics, double seconds) const {
  if (members_ > 1) {
    int64_t training = 0;
    double acc = 0;
    for (const auto& m : metrics)
      if (!m.is_null()) ++training, acc += m["test_acc"].get<double>();
    return fmt::format("ensemble of {}: epoch {}/{}: {} training, mean test {:.1f}% ({:.1f}s, {:.0f} samples/s)",
                       members_, epoch, opt_.epochs, training, training ? 100.0 * acc / training : 0.0, seconds,
                       metrics.empty() || metrics[0].is_null() ? 0.0 : metrics[0]["samples_per_s"].get<double>());
  }
  const auto& m = metrics[0];
  return fmt::format(
      "epoch {}/{}: task_loss {:.4f} reg_loss {:.4f} train {:.1f}% val {} test {:.1f}% ({:.1f}s, {:.0f} samples/s)",
      epoch, opt_.epochs, m["task_loss"].get<double>(), m["reg_loss"].get<double>(),
      100.0 * m["train_acc"].get<double>(),
      m["val_acc"].is_number() ? fmt::format("{:.1f}%", 100.0 * m["val_acc"].get<double>()) : std::string("-"),
      100.0 * m["test_acc"].get<double>(), seconds, m["samples_per_s"].get<double>());
}

}  // namespace sernn
