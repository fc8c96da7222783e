#include "core/checkpoint.h"

#include <cmath>
#include <sstream>
#include <type_traits>

#include <fmt/format.h>

#include "core/archive.h"
#include "core/errors.h"
#include "core/io.h"

namespace sernn {

namespace {
/// 3: the epoch's sums [K] by metric name ("sums") and the frozen members ("frozen", [K]); 2 (read
/// too): one network's task_sum, reg_sum, stat_sums.
constexpr int64_t kCheckpointFormat = 3;

}  // namespace

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
    std::string problem;
    if (now.sizes() != before.sizes() || now.scalar_type() != before.scalar_type()) {
      const std::string found = fmt::format("{} {}", c10::str(now.sizes()), c10::toString(now.scalar_type()));
      problem = fmt::format("{}: tensor '{}' is {} but this run's model needs {} {}", path, name, found,
                            c10::str(before.sizes()), c10::toString(before.scalar_type()));
    } else {
      problem = outside_storage(now, path, name);
    }
    if (!problem.empty()) {
      // Put the model back as it was, then refuse the file.
      torch::NoGradGuard no_grad;
      for (const auto& [n2, b2] : expected) loaded.at(n2).set_(b2);
      throw InputError(problem);
    }
  }
}

void write_checkpoint(const std::string& path, const TrainPosition& pos, const std::vector<bool>& frozen_members,
                      torch::nn::Module& model, torch::optim::Optimizer& optimizer) {
  atomic_write_with(path, [&](const std::string& tmp) {
    torch::serialize::OutputArchive archive;
    archive.write("format", torch::tensor(kCheckpointFormat));
    archive.write("epoch", torch::tensor(pos.epoch));
    archive.write("batch", torch::tensor(pos.batch));
    archive.write("samples", torch::tensor(pos.samples));
    archive.write("seconds", torch::tensor(pos.seconds, torch::kFloat64));
    archive.write("correct", pos.correct.cpu());
    std::vector<int64_t> frozen(frozen_members.begin(), frozen_members.end());
    archive.write("frozen", torch::tensor(frozen, torch::kInt64));
    torch::serialize::OutputArchive sums;
    for (const auto& [k, v] : pos.sums) sums.write(k, v.cpu());
    archive.write("sums", sums);
    torch::serialize::OutputArchive model_archive, optim_archive;
    model.save(model_archive);
    optimizer.save(optim_archive);
    archive.write("model", model_archive);
    archive.write("optimizer", optim_archive);
    archive.save_to(tmp);
  });
}

namespace {
/// A tensor of a checkpoint, refused unless it lies inside its storage.
torch::Tensor read_checked(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  torch::Tensor t;
  archive.read(key, t);
  check_within_storage(t, path, key);
  return t;
}

/// A count of a checkpoint's position (epoch, batch, samples): one non-negative integer.
int64_t read_count(torch::serialize::InputArchive& archive, const std::string& key, const std::string& path) {
  const int64_t v = read_checked(archive, key, path).item<int64_t>();
  if (v < 0) throw InputError(fmt::format("{}: '{}' is {}, a negative count", path, key, v));
  return v;
}

/// Every tensor of a sub-archive by key.
std::map<std::string, torch::Tensor> read_tensors(torch::serialize::InputArchive& archive, const std::string& key,
                                                  const std::string& path) {
  torch::serialize::InputArchive sub;
  archive.read(key, sub);
  std::map<std::string, torch::Tensor> out;
  for (const auto& k : sub.keys()) out[k] = read_checked(sub, k, path);
  return out;
}

/// The key of a parameter's state in LibTorch's optimizers: a string of the TensorImpl's address
/// in 1.13, the address itself in 2.x.
template <class Key>
Key adam_key(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream address;  // as 1.13's c10::guts::to_string writes the pointer
    address << p.unsafeGetTensorImpl();
    return address.str();
  } else {
    return p.unsafeGetTensorImpl();
  }
}

/// Adam's state as loaded from `path` fits the parameters: LibTorch takes its moments as they are,
/// and a moment of another shape would broadcast silently or fail inside a step.
void check_adam_state(torch::optim::Adam& adam, const std::string& path) {
  auto& state = adam.state();
  using Key = typename std::decay_t<decltype(state)>::key_type;  // std::string in 1.13, void* in 2.x
  for (const auto& group : adam.param_groups())
    for (const auto& p : group.params()) {
      const auto it = state.find(adam_key<Key>(p));
      if (it == state.end()) continue;
      const auto& s = static_cast<const torch::optim::AdamParamState&>(*it->second);
      for (const auto& [name, m] : {std::pair<const char*, torch::Tensor>{"exp_avg", s.exp_avg()},
                                    {"exp_avg_sq", s.exp_avg_sq()},
                                    {"max_exp_avg_sq", s.max_exp_avg_sq()}}) {
        if (!m.defined() || (std::string(name) == "max_exp_avg_sq" && m.numel() == 0)) continue;
        check_within_storage(m, path, name);
        if (m.sizes() != p.sizes() || m.scalar_type() != p.scalar_type() || m.device() != p.device())
          throw InputError(fmt::format("{}: optimizer state '{}' is {} {} for a parameter of {} {}", path, name,
                                       c10::str(m.sizes()), c10::toString(m.scalar_type()), c10::str(p.sizes()),
                                       c10::toString(p.scalar_type())));
      }
    }
}
}  // namespace

void read_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Adam& adam, TrainPosition& pos,
                     std::vector<bool>& frozen_members, torch::Device device) {
  const auto members = static_cast<int64_t>(frozen_members.size());
  torch::serialize::InputArchive archive = read_archive(path, device, "a checkpoint");
  try {
    const int64_t fmt_read = read_checked(archive, "format", path).item<int64_t>();
    if (fmt_read != kCheckpointFormat && fmt_read != 2)
      throw InputError(
          fmt::format("{}: checkpoint format {} (this sernn reads 2 and {})", path, fmt_read, kCheckpointFormat));
    pos.epoch = read_count(archive, "epoch", path);
    pos.batch = read_count(archive, "batch", path);
    pos.samples = read_count(archive, "samples", path);
    pos.seconds = read_checked(archive, "seconds", path).item<double>();
    if (!std::isfinite(pos.seconds) || pos.seconds < 0)
      throw InputError(fmt::format("{}: 'seconds' is {}", path, pos.seconds));
    pos.correct = read_checked(archive, "correct", path);
    torch::Tensor frozen;
    if (fmt_read == 2) {
      pos.sums["task_loss"] = read_checked(archive, "task_sum", path);
      pos.sums["reg_loss"] = read_checked(archive, "reg_sum", path);
      for (auto& [k, v] : read_tensors(archive, "stat_sums", path)) pos.sums[k] = v;
    } else {
      for (auto& [k, v] : read_tensors(archive, "sums", path)) pos.sums[k] = v;
      frozen = read_checked(archive, "frozen", path);
    }
    torch::serialize::InputArchive model_archive, optim_archive;
    archive.read("model", model_archive);
    archive.read("optimizer", optim_archive);
    load_module_strict(model, model_archive, path);
    adam.load(optim_archive);
    check_adam_state(adam, path);
    if (pos.correct.numel() != members || (frozen.defined() && frozen.numel() != members))
      throw InputError(
          fmt::format("{}: a checkpoint of {} members, this run has {}", path, pos.correct.numel(), members));
    for (const auto& [k, v] : pos.sums)
      if (v.numel() != members)
        throw InputError(fmt::format("{}: sum '{}' has {} values for {} members", path, k, v.numel(), members));
    if (frozen.defined())
      for (int64_t k = 0; k < members; ++k) frozen_members[k] = frozen[k].item<int64_t>() != 0;
  } catch (const InputError&) {
    throw;
  } catch (const c10::Error& e) {
    std::string what = e.what_without_backtrace();
    what = what.substr(0, what.find('\n'));
    throw InputError(fmt::format("{}: not a checkpoint of this run's model ({})", path, what));
  }
  // Format 2 held one network's sums as scalars.
  pos.correct = pos.correct.reshape({members}).to(device, torch::kInt64);
  for (auto& [k, v] : pos.sums) v = v.reshape({members}).to(device, torch::kFloat64);
}

}  // namespace sernn
