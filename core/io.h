#pragma once
/// File output that never loses data, and the small text formats of a run directory.
/// Every writer goes to "<path>.tmp.<pid>", is flushed and fsynced, then renamed over `path`,
/// so a crash leaves either the old file or the new one, never a torn one.
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/errors.h"

namespace sernn {

/// Writes `content` to `path` atomically.
void atomic_write_text(const std::string& path, const std::string& content);
/// Calls `write(tmp_path)` and renames the result over `path` (for torch::save and friends).
void atomic_write_with(const std::string& path, const std::function<void(const std::string&)>& write);
/// Appends one line (a newline is added) and fsyncs, so earlier lines survive a crash.
void append_line_synced(const std::string& path, const std::string& line);

/// Writes a 2-D tensor as CSV: one row per line, comma-separated, full double precision.
std::string matrix_to_csv(const torch::Tensor& m);
/// Reads a numeric CSV into a [rows, cols] float64 tensor. All rows must have the same number
/// of cells; non-numeric or non-finite cells are InputErrors naming file, line and column.
/// With `allow_header`, a first line that is not numeric is skipped.
torch::Tensor read_matrix_csv(const std::string& path, bool allow_header = false);
/// The same parser on text already in memory; `origin` names it in errors.
torch::Tensor parse_matrix_csv(const std::string& text, const std::string& origin, bool allow_header = false);

/// The objects of a JSON-lines file in order, stopping at the first line that does not parse to an
/// object (the torn last line of a killed writer). An empty array when the file does not exist.
nlohmann::json read_jsonl(const std::string& path);
/// obj[key] when obj is an object holding an integer there, else `fallback` (fields of files a
/// person or a crash may have changed).
int64_t json_int(const nlohmann::json& obj, const char* key, int64_t fallback);
/// Runs `read()` over files of `origin`: what the JSON library throws on content of an unexpected
/// shape (a string where a number belongs, a list for an object), std::stod on a cell that is no
/// number and `at()` on a missing column become an InputError naming `origin`.
template <class F>
auto reading(const std::string& origin, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const nlohmann::json::exception& e) {
    throw InputError(origin + ": unexpected content (" + e.what() + ")");
  } catch (const std::invalid_argument& e) {
    throw InputError(origin + ": a value that is not a number (" + e.what() + ")");
  } catch (const std::out_of_range& e) {
    throw InputError(origin + ": a missing or out-of-range value (" + e.what() + ")");
  }
}
/// Parses a JSON file; InputError naming the file if it is missing or not valid JSON.
nlohmann::json read_json(const std::string& path);
/// Reads a whole text file; InputError naming the file if it cannot.
std::string read_file(const std::string& path);
/// Whether `s` ends with `suffix`.
inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}
/// Creates a directory and its parents (no error if it exists).
void make_dirs(const std::string& path);
bool file_exists(const std::string& path);

}  // namespace sernn
