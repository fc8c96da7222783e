#include "run/config.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "core/errors.h"
#include "core/utf8.h"
#include "core/io.h"

namespace sernn {
namespace {

using T = ConfigKey::Type;

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

/// `text` for a message: printable ASCII as it is, every other byte as \xHH (issue 29: a value
/// with bytes that are not UTF-8 must reach the user as an input error, not a JSON exception).
std::string escaped(const std::string& text) {
  std::string out;
  for (const unsigned char c : text)
    out += c >= 0x20 && c < 0x7f ? std::string(1, static_cast<char>(c)) : fmt::format("\\x{:02X}", c);
  return out;
}

[[noreturn]] void fail(const std::string& origin, const std::string& key, const std::string& what) {
  throw InputError(fmt::format("{}: key '{}': {}", origin, escaped(key), what));
}

void check_range(const ConfigKey& k, double v, const std::string& origin) {
  if (std::isnan(v)) fail(origin, k.name, "value is NaN");
  if (v < k.min || v > k.max) fail(origin, k.name, fmt::format("value {} out of range [{}, {}]", v, k.min, k.max));
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
      if (!v.is_array() || v.empty()) fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
      Json out = Json::array();
      for (const auto& e : v) {
        if (!e.is_number_integer()) fail(origin, k.name, fmt::format("expected {}, got {}", type_name(k.type), got));
        check_range(k, static_cast<double>(e.get<int64_t>()), origin);
        out.push_back(e.get<int64_t>());
      }
      return out;
    }
  }
  return v;
}

/// toml++ 3.3 (Debian 12) reaches an "unreachable" branch (undefined behaviour) where it asks
/// whether a non-ASCII character is whitespace: its is_non_ascii_horizontal_whitespace has no
/// case for U+00A1..U+0499 and a few other ranges (toml++ issue 190, fixed after 3.3). It asks
/// outside strings (found by tests/fuzz/fuzz_config), and inside a multi-line basic string after
/// a backslash: about the escaped character, and past a line-ending backslash about every
/// character up to the first that is not whitespace. TOML allows non-ASCII only inside strings
/// and comments, and no control character but tab and newlines anywhere, so such input is refused
/// here, before the library sees it, as is a non-ASCII character after a backslash and ASCII
/// whitespace in a multi-line basic string (it can be written as \uXXXX). The text is
/// well-formed UTF-8 already (check_utf8).
void check_toml_ascii(const std::string& text, const std::string& origin) {
  enum class State { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral } st = State::Code;
  int64_t line = 1;
  // The column of byte i in characters (the skips below jump over bytes): computed on an error.
  size_t i = 0;
  const auto col = [&] { return utf8_position(text, i).second; };
  for (; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    // TOML permits no control character but tab and newlines anywhere (strings and comments
    // included); refusing them here keeps this lexer's idea of strings toml++'s (a fuzz_config
    // input with NUL bytes around its quotes reached toml++'s unreachable branch past this check).
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
      throw InputError(fmt::format("{}:{}:{}: invalid TOML: control character 0x{:02X}", origin, line, col(), c));
    if (c == '\n') {
      ++line;
      if (st == State::Comment || st == State::Basic || st == State::Literal) st = State::Code;
      continue;
    }
    auto starts = [&](const char* s) { return text.compare(i, std::strlen(s), s) == 0; };
    switch (st) {
      case State::Code:
        if (c >= 0x80)
          throw InputError(fmt::format("{}:{}:{}: invalid TOML: non-ASCII character outside a string or comment",
                                       origin, line, col()));
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
        if (c == '\\') {
          size_t j = i + 1;  // what toml++ asks about: the escaped character, or past whitespace
          while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\n')) ++j;
          if (j < text.size() && static_cast<unsigned char>(text[j]) >= 0x80)
            throw InputError(
                fmt::format("{}:{}:{}: invalid TOML: a non-ASCII character after a backslash in a "
                            "multi-line string (write it as \\uXXXX)",
                            origin, line, col()));
          ++i;
        } else if (starts("\"\"\"")) {
          st = State::Code, i += 2;
        }
        break;
      case State::MultiLiteral:
        if (starts("'''")) st = State::Code, i += 2;
        break;
      case State::Comment: break;
    }
  }
}

/// `text` (well-formed UTF-8) with every non-ASCII character replaced by one 'x'.
std::string ascii_stand_in(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x80) out += ch;
    else if ((c & 0xC0) != 0x80) out += 'x';  // a lead byte: one character
  }
  return out;
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

}  // namespace

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
  // Well-formed UTF-8 before a parser sees it (issue 39: toml++ 3.3's undefined behaviour on
  // malformed sequences); a bad byte is named by file, line and column.
  check_utf8(text, origin);
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
      // Reading a malformed value, toml++ 3.3 scans ahead and asks its broken whitespace table
      // about every character it meets, strings or not (fuzz_config, seed 29: `kind = 07PP...{"x`
      // then U+0207). So it reads the document's structure first with every non-ASCII character
      // as an 'x' (TOML allows them only in strings and comments, where an 'x' is as valid; lines
      // and columns stay the same), and meets the real characters only in a document it has
      // parsed: there it reads them only as a string's or a comment's contents.
      (void)toml::parse(ascii_stand_in(text), origin);
      nested = toml_to_json(toml::parse(text, origin));
    } catch (const toml::parse_error& e) {
      const auto& src = e.source();
      throw InputError(
          fmt::format("{}:{}:{}: invalid TOML: {}", origin, src.begin.line, src.begin.column, e.description()));
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
  // Well-formed UTF-8 before anything parses it (issue 39); the bytes shown escaped.
  if (const auto bad = find_invalid_utf8(assignment))
    fail(origin, key,
         fmt::format("'{}' is not valid UTF-8 at column {}: {}", escaped(assignment),
                     utf8_position(assignment, bad->offset).second, bad->what));
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
      fail(origin, key, fmt::format("expected {}, got '{}'", type_name(k->type), escaped(assignment.substr(eq + 1))));
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
std::vector<int64_t> Config::get_int_list(const std::string& key) const { return raw(key).get<std::vector<int64_t>>(); }

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
