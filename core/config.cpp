#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/errors.h"
#include "core/io.h"

namespace sernn {
namespace {

using T = ConfigKey::Type;

std::vector<ConfigKey> make_schema() {
  const double inf = 1e300;
  return {
      // model
      {"model.kind", T::String, "rate", "network family", -inf, inf, {"rate", "spiking"}},
      {"model.hidden", T::Int, 100, "number of hidden neurons N", 1, 65536, {}},
      {"model.grid", T::IntList, Json::array({5, 5, 4}), "neuron grid (x, y, z); product must be N", 1, 4096, {}},
      {"model.coords", T::String, "", "N x 3 CSV of neuron coordinates (overrides model.grid)", -inf, inf, {}},
      {"model.alpha", T::Float, 1.0, "rate nets: dt/tau, h' = (1-a) h + a relu(...)", 1e-6, 1.0, {}},
      {"model.activation", T::String, "relu", "rate nets: hidden nonlinearity", -inf, inf, {"relu", "tanh"}},
      {"model.impl", T::String, "fast", "time-loop implementation", -inf, inf, {"fast", "reference"}},
      {"model.reset", T::String, "subtract", "spiking: reset mechanism", -inf, inf,
       {"subtract", "subtract_decayed", "zero", "none"}},
      {"model.threshold", T::Float, 1.0, "spiking: firing threshold", 1e-9, 1e9, {}},
      {"model.slope", T::Float, 100.0, "spiking: fast-sigmoid surrogate slope", 1e-9, 1e9, {}},
      {"model.dt_ms", T::Float, 0.5, "spiking: simulation step (ms) for beta = exp(-dt/tau)", 1e-6, 1e6, {}},
      {"model.tau_mean_ms", T::Float, 20.0, "spiking: mean of the Gamma(3, mean/3) tau init (ms)", 1e-6, 1e6, {}},
      {"model.beta_clip", T::Bool, true, "spiking: clip beta after every optimiser step", -inf, inf, {}},
      {"model.beta_min", T::Float, 0.7165313105737893, "spiking: lower beta clip, exp(-1/3)", 0.0, 1.0, {}},
      {"model.beta_max", T::Float, 0.995, "spiking: upper beta clip", 0.0, 1.0, {}},
      {"model.learn_beta", T::Bool, true, "spiking: beta is a learnable parameter", -inf, inf, {}},
      {"model.readout_beta", T::Float, 0.9753099120283326, "spiking: readout leak exp(-0.5/20)", 0.0, 1.0, {}},
      {"model.loss", T::String, "max", "spiking: statistic of the readout membrane over time", -inf, inf,
       {"max", "sum"}},
      {"model.dale", T::Bool, false, "Dale's law: excitatory and inhibitory neurons, sign-constrained W", -inf, inf, {}},
      {"model.exc_fraction", T::Float, 0.8, "Dale's law: share of excitatory neurons", 1e-6, 0.999999, {}},
      {"model.connectivity", T::Float, 1.0, "probability of each recurrent synapse (fixed sparse mask)", 1e-6, 1.0, {}},
      {"model.spectral_radius", T::Float, 1.0, "Dale/sparse init: target spectral radius of W", 0.0, 1e3, {}},
      {"model.rank", T::Int, 0, "spiking: rank R of the recurrent weight W = L R^T (0 = full rank)", 0, 4096, {}},
      {"model.rank_latents", T::String, "shared",
       "spiking, low rank with Dale: every latent reads all neurons (shared) or one population each (population)",
       -inf, inf, {"shared", "population"}},
      {"model.tau_per_neuron", T::Bool, false, "rate: tau_i ~ Gamma(3, (1/alpha)/3) per neuron", -inf, inf, {}},
      {"model.learn_tau", T::Bool, false, "rate: tau_i learnable (implies tau_per_neuron)", -inf, inf, {}},
      {"model.tau_min", T::Float, 1.0, "rate: lower clip of tau_i (time steps)", 1.0, 1e6, {}},
      {"model.tau_max", T::Float, 100.0, "rate: upper clip of tau_i (time steps)", 1.0, 1e6, {}},
      {"model.noise", T::Float, 0.0, "rate: sigma of additive hidden-state noise (training only)", 0.0, 1e3, {}},
      // task
      {"task.kind", T::String, "onechoice", "task", -inf, inf, {"onechoice", "delayed_match", "hierarchical", "shd"}},
      {"task.shuffle_labels", T::Bool, false, "onechoice: the 'random' control (labels shuffled)", -inf, inf, {}},
      {"task.noise", T::Float, 0.05, "synthetic tasks: input noise sigma (training only)", 0.0, 1e3, {}},
      {"task.train_size", T::Int, 5120, "synthetic tasks: training samples", 1, 1e9, {}},
      {"task.val_size", T::Int, 2560, "synthetic tasks: validation samples", 1, 1e9, {}},
      {"task.test_size", T::Int, 2560, "synthetic tasks: test samples", 1, 1e9, {}},
      {"task.stimuli", T::Int, 4, "delayed_match: number of stimuli K", 2, 1024, {}},
      {"task.sample_steps", T::Int, 10, "delayed_match, hierarchical: steps of each stimulus window", 1, 1e5, {}},
      {"task.delay_steps", T::Int, 20, "delayed_match, hierarchical: steps of the delay", 0, 1e6, {}},
      {"task.modules", T::Int, 2, "hierarchical: modules M (2^M classes)", 1, 6, {}},
      {"task.submodules", T::Int, 2, "hierarchical: sub-modules per module", 1, 64, {}},
      {"task.combine", T::String, "concat", "hierarchical: class = all module values (concat) or their parity (xor)",
       -inf, inf, {"concat", "xor"}},
      {"task.data_dir", T::String, "data/shd", "shd: directory with shd_train.h5 and shd_test.h5", -inf, inf, {}},
      {"task.binning", T::String, "per_sample", "shd: 'per_sample' (task.bins) or 'fixed' (task.dt, task.max_steps)",
       -inf, inf, {"per_sample", "fixed"}},
      {"task.bins", T::Int, 200, "shd: bins per sample (first to last event)", 1, 1e6, {}},
      {"task.dt", T::Float, 0.005, "shd: fixed bin width in seconds", 1e-7, 1e3, {}},
      {"task.max_steps", T::Int, 250, "shd: maximum time steps of the fixed binning", 1, 1e7, {}},
      {"task.val_fraction", T::Float, 0.0, "shd: fraction of the training file held out for validation", 0.0, 0.9, {}},
      {"task.max_train", T::Int, 0, "shd: use at most this many training samples (0 = all)", 0, 1e9, {}},
      {"task.max_test", T::Int, 0, "shd: use at most this many test samples (0 = all)", 0, 1e9, {}},
      // train
      {"train.epochs", T::Int, 10, "training epochs", 0, 1e6, {}},
      {"train.batch_size", T::Int, 128, "minibatch size", 1, 1e7, {}},
      {"train.lr", T::Float, 1e-3, "Adam learning rate", 1e-12, 1e3, {}},
      {"train.seed", T::Int, 1, "random seed", 0, 9.2e18, {}},
      {"train.threads", T::Int, 0, "CPU threads (0 = auto: from the batch size and the cores available; see config.json's runtime)", 0, 4096, {}},
      {"train.device", T::String, "cpu", "cpu or cuda[:i]", -inf, inf, {}},
      {"train.grad_clip", T::Float, 0.0, "clip the global gradient norm to this value (0 = off)", 0.0, 1e12, {}},
      {"train.inject_nan_batch", T::Int, 0, "testing: make the loss NaN at this global batch (0 = off)", 0, 9.2e18, {}},
      {"train.stop_after_batch", T::Int, 0, "testing: stop as on SIGTERM after this global batch (0 = off)", 0, 9.2e18, {}},
      {"train.deterministic", T::Bool, false, "use only deterministic kernels (matters on CUDA)", -inf, inf, {}},
      {"train.log_every", T::Int, 10, "batches between progress log lines (non-terminal output)", 1, 1e9, {}},
      // regularizer
      {"activity.kind", T::String, "none", "activity (metabolic) cost on per-neuron rates", -inf, inf, {"none", "l2", "band"}},
      {"activity.gamma", T::Float, 0.0, "strength of the activity cost", 0.0, 1e6, {}},
      {"activity.low", T::Float, 0.0, "band: lower edge of the free rate band (spikes per step / mean rate)", -1e9, 1e9, {}},
      {"activity.high", T::Float, 1.0, "band: upper edge of the free rate band", -1e9, 1e9, {}},
      {"regularizer.kind", T::String, "none", "wiring/communication cost", -inf, inf,
       {"none", "l1", "space", "comm", "sernn", "resolvent"}},
      {"regularizer.gamma", T::Float, 0.0, "cost strength", 0.0, 1e6, {}},
      {"regularizer.comm_grad", T::String, "auto", "gradient through communicability (auto: full for rate, detached for spiking)",
       -inf, inf, {"auto", "full", "detached"}},
      {"regularizer.strength", T::String, "auto", "node strength for normalisation (auto: out for rate, in for spiking)",
       -inf, inf, {"auto", "in", "out"}},
      {"regularizer.comms_factor", T::Float, 1.0, "power applied to communicability", 0.0, 1e3, {}},
      {"regularizer.resolvent_alpha", T::Float, 0.5, "resolvent: alpha in (I - alpha A)^-1, A row-normalised", 1e-6, 0.999, {}},
      // pruning
      {"prune.final_sparsity", T::Float, 0.0, "magnitude pruning: share of zero recurrent weights at the end (0 = off)", 0.0, 0.999, {}},
      {"prune.start_epoch", T::Int, 1, "magnitude pruning: first epoch whose end prunes", 1, 1e6, {}},
      {"prune.end_epoch", T::Int, 0, "magnitude pruning: epoch that reaches final_sparsity (0 = last epoch)", 0, 1e6, {}},
      {"prune.schedule", T::String, "cubic", "magnitude pruning: how the target rises between start and end", -inf, inf,
       {"cubic", "linear", "once"}},
      // checkpoints
      {"checkpoint.every_minutes", T::Float, 0.0, "extra checkpoints during an epoch (0 = epoch ends only)", 0.0, 1e6, {}},
  };
}

std::string known_prefix_list(const std::string& key) {
  // Helps with typos: list the keys of the same section.
  const auto dot = key.find('.');
  const std::string section = dot == std::string::npos ? key : key.substr(0, dot + 1);
  std::string out;
  for (const auto& k : config_schema())
    if (k.name.rfind(section, 0) == 0) out += (out.empty() ? "" : ", ") + k.name;
  return out.empty() ? "sections: model, task, train, activity, regularizer, prune, checkpoint" : out;
}

std::string type_name(T t) {
  switch (t) {
    case T::Int: return "an integer";
    case T::Float: return "a number";
    case T::Bool: return "a boolean";
    case T::String: return "a string";
    case T::IntList: return "a list of integers";
  }
  return "?";
}

[[noreturn]] void fail(const std::string& origin, const std::string& key, const std::string& what) {
  throw InputError(fmt::format("{}: key '{}': {}", origin, key, what));
}

void check_range(const ConfigKey& k, double v, const std::string& origin) {
  if (std::isnan(v)) fail(origin, k.name, "value is NaN");
  if (v < k.min || v > k.max)
    fail(origin, k.name, fmt::format("value {} out of range [{}, {}]", v, k.min, k.max));
}

/// Coerces `v` to the key's type, checking range and choices.
Json coerce(const ConfigKey& k, const Json& v, const std::string& origin) {
  const std::string got = v.dump();
  switch (k.type) {
    case T::Int: {
      double d;
      if (v.is_number_integer()) d = static_cast<double>(v.get<int64_t>());
      else if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) d = v.get<double>();
      else fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
      check_range(k, d, origin);
      return static_cast<int64_t>(d);
    }
    case T::Float: {
      if (!v.is_number()) fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
      const double d = v.get<double>();
      if (!std::isfinite(d)) fail(origin, k.name, fmt::format("value {} is not finite", got));
      check_range(k, d, origin);
      return d;
    }
    case T::Bool:
      if (!v.is_boolean()) fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
      return v;
    case T::String: {
      if (!v.is_string()) fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
      const auto s = v.get<std::string>();
      if (!k.choices.empty()) {
        bool ok = false;
        std::string known;
        for (const auto& c : k.choices) {
          ok |= c == s;
          known += (known.empty() ? "" : ", ") + c;
        }
        if (!ok) fail(origin, k.name, fmt::format("unknown value '{}' (known: {})", s, known));
      }
      return v;
    }
    case T::IntList: {
      if (!v.is_array() || v.empty())
        fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
      Json out = Json::array();
      for (const auto& e : v) {
        if (!e.is_number_integer())
          fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
        check_range(k, static_cast<double>(e.get<int64_t>()), origin);
        out.push_back(e.get<int64_t>());
      }
      return out;
    }
  }
  return v;
}

/// toml++ 3.3 (Debian 12) reaches an "unreachable" branch on some non-ASCII characters outside
/// strings (found by tests/fuzz/fuzz_config). TOML allows non-ASCII only inside strings and
/// comments, so such input is refused here, before the library sees it.
void check_toml_ascii(const std::string& text, const std::string& origin) {
  enum class State { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral } st = State::Code;
  int64_t line = 1, col = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    ++col;
    if (c == '\n') {
      ++line, col = 0;
      if (st == State::Comment || st == State::Basic || st == State::Literal) st = State::Code;
      continue;
    }
    auto starts = [&](const char* s) { return text.compare(i, std::strlen(s), s) == 0; };
    switch (st) {
      case State::Code:
        if (c >= 0x80)
          throw InputError(fmt::format("{}:{}:{}: invalid TOML: non-ASCII character outside a string or comment", origin,
                                       line, col));
        if (c == '#') st = State::Comment;
        else if (starts("\"\"\"")) st = State::MultiBasic, i += 2;
        else if (starts("'''")) st = State::MultiLiteral, i += 2;
        else if (c == '"') st = State::Basic;
        else if (c == '\'') st = State::Literal;
        break;
      case State::Basic:
        if (c == '\\') ++i;
        else if (c == '"') st = State::Code;
        break;
      case State::Literal:
        if (c == '\'') st = State::Code;
        break;
      case State::MultiBasic:
        if (c == '\\') ++i;
        else if (starts("\"\"\"")) st = State::Code, i += 2;
        break;
      case State::MultiLiteral:
        if (starts("'''")) st = State::Code, i += 2;
        break;
      case State::Comment:
        break;
    }
  }
}

Json toml_to_json(const toml::node& node) {
  if (auto t = node.as_table()) {
    Json j = Json::object();
    for (const auto& [k, v] : *t) j[std::string(k.str())] = toml_to_json(v);
    return j;
  }
  if (auto a = node.as_array()) {
    Json j = Json::array();
    for (const auto& v : *a) j.push_back(toml_to_json(v));
    return j;
  }
  if (auto v = node.as_integer()) return v->get();
  if (auto v = node.as_floating_point()) return v->get();
  if (auto v = node.as_boolean()) return v->get();
  if (auto v = node.as_string()) return v->get();
  return Json();  // dates/times: rejected by coerce with a type error
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> schema = make_schema();
  return schema;
}

const ConfigKey* find_config_key(const std::string& name) {
  for (const auto& k : config_schema())
    if (k.name == name) return &k;
  return nullptr;
}

Config::Config() {
  for (const auto& k : config_schema()) values_[k.name] = k.default_value;
}

Config Config::from_file(const std::string& path) {
  const bool json = ends_with(path, ".json");
  if (!json && !ends_with(path, ".toml"))
    throw InputError(fmt::format("{}: config files must end in .toml or .json", path));
  return from_string(read_file(path), json, path);
}

Config Config::from_string(const std::string& text, bool json, const std::string& origin) {
  Json nested;
  if (json) {
    try {
      nested = Json::parse(text);
    } catch (const Json::exception& e) {
      throw InputError(fmt::format("{}: invalid JSON: {}", origin, e.what()));
    }
  } else {
    check_toml_ascii(text, origin);
    try {
      nested = toml_to_json(toml::parse(text, origin));
    } catch (const toml::parse_error& e) {
      const auto& src = e.source();
      throw InputError(fmt::format("{}:{}:{}: invalid TOML: {}", origin, src.begin.line, src.begin.column,
                                   e.description()));
    }
  }
  if (!nested.is_object()) throw InputError(fmt::format("{}: top level must be a table/object", origin));
  Config c;
  c.load_nested(nested, origin, "");
  return c;
}

Config Config::from_json(const Json& nested, const std::string& origin) {
  Config c;
  // "runtime" describes the process that wrote a run's config.json (threads chosen): not input.
  auto keys = nested;
  if (keys.is_object()) keys.erase("runtime");
  c.load_nested(keys, origin, "");
  return c;
}

void Config::load_nested(const Json& nested, const std::string& origin, const std::string& prefix) {
  for (auto it = nested.begin(); it != nested.end(); ++it) {
    const std::string key = prefix.empty() ? it.key() : prefix + "." + it.key();
    if (it.value().is_object() && !find_config_key(key)) {
      load_nested(it.value(), origin, key);
      continue;
    }
    set_json(key, it.value(), origin);
  }
}

void Config::set_json(const std::string& key, const Json& value, const std::string& origin) {
  const ConfigKey* k = find_config_key(key);
  if (!k) fail(origin, key, fmt::format("unknown key (known: {})", known_prefix_list(key)));
  values_[key] = coerce(*k, value, origin);
}

void Config::set(const std::string& assignment, const std::string& origin) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw InputError(fmt::format("{}: expected key=value, got '{}'", origin, assignment));
  const std::string key = assignment.substr(0, eq);
  std::string text = assignment.substr(eq + 1);
  const ConfigKey* k = find_config_key(key);
  if (!k) fail(origin, key, fmt::format("unknown key (known: {})", known_prefix_list(key)));
  Json value;
  if (k->type == T::String) {
    value = text;
  } else {
    if (k->type == T::IntList && (text.empty() || text.front() != '[')) text = "[" + text + "]";
    try {
      value = Json::parse(text);
    } catch (const Json::exception&) {
      fail(origin, key, fmt::format("expected {}, got '{}'", type_name(k->type), assignment.substr(eq + 1)));
    }
  }
  values_[key] = coerce(*k, value, origin);
}

const Json& Config::raw(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw std::logic_error("sernn: config key not in schema: " + key);
  return it->second;
}

int64_t Config::get_int(const std::string& key) const { return raw(key).get<int64_t>(); }
double Config::get_float(const std::string& key) const { return raw(key).get<double>(); }
bool Config::get_bool(const std::string& key) const { return raw(key).get<bool>(); }
std::string Config::get_string(const std::string& key) const { return raw(key).get<std::string>(); }
std::vector<int64_t> Config::get_int_list(const std::string& key) const {
  return raw(key).get<std::vector<int64_t>>();
}

Json Config::to_json() const {
  Json out = Json::object();
  for (const auto& entry : values_) {
    std::string pointer = "/" + entry.first;  // "train.epochs" -> "/train/epochs"
    std::replace(pointer.begin(), pointer.end(), '.', '/');
    out[Json::json_pointer(pointer)] = entry.second;
  }
  return out;
}

}  // namespace sernn
