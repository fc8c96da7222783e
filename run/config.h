#pragma once
/// Run configuration: a flat set of dotted keys ("train.epochs") with a schema that gives each
/// key its type, default and allowed values. Files are TOML or JSON (chosen by extension);
/// `--set a.b=v` overrides any key. Unknown keys, wrong types and out-of-range values are
/// InputErrors naming the key and the file they came from.
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace sernn {

using Json = nlohmann::json;

/// One key of the schema.
struct ConfigKey {
  enum class Type { Int, Float, Bool, String, IntList };
  std::string name;
  Type type;
  Json default_value;
  std::string help;
  double min = -1e300;  // inclusive bounds for Int/Float/IntList elements
  double max = 1e300;
  std::vector<std::string> choices;  // for String; empty = any string
};

/// The schema of every key sernn understands (see README "Config keys"), assembled from the
/// registry's models, tasks and penalties and the keys of the other concerns (run/registry.cpp).
const std::vector<ConfigKey>& config_schema();
/// The schema entry of `name`, or null for an unknown key.
const ConfigKey* find_config_key(const std::string& name);

class Config {
 public:
  /// All keys at their defaults.
  Config();

  /// Loads `path` (.toml or .json) on top of the defaults.
  static Config from_file(const std::string& path);
  /// Parses `text` as TOML (or JSON when `json` is true); `origin` names it in errors.
  static Config from_string(const std::string& text, bool json, const std::string& origin);

  /// Applies "a.b=value"; the value is parsed according to the key's type
  /// (lists as "[5,5,4]" or "5,5,4").
  void set(const std::string& assignment, const std::string& origin = "--set");
  /// Sets one key from a JSON value, with the same checks as a file.
  void set_json(const std::string& key, const Json& value, const std::string& origin);

  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::vector<int64_t> get_int_list(const std::string& key) const;

  /// The resolved configuration as nested JSON ({"train": {"epochs": 10, ...}, ...}).
  Json to_json() const;
  /// Reads back what to_json wrote (config.json of a run directory).
  static Config from_json(const Json& nested, const std::string& origin);

 private:
  const Json& raw(const std::string& key) const;
  void load_nested(const Json& nested, const std::string& origin, const std::string& prefix);
  std::map<std::string, Json> values_;
};

}  // namespace sernn
