#include "core/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/utf8.h"

namespace sernn {
namespace fs = std::filesystem;

namespace {

void fsync_path(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open for fsync: {}", path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) throw std::runtime_error(fmt::format("{}: fsync failed: {}", path, std::strerror(errno)));
}

void fsync_parent(const std::string& path) {
  auto parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

}  // namespace

void atomic_write_with(const std::string& path, const std::function<void(const std::string&)>& write) {
  const std::string tmp = fmt::format("{}.tmp.{}", path, ::getpid());
  try {
    write(tmp);
    fsync_path(tmp);
    if (std::rename(tmp.c_str(), path.c_str()) != 0)
      throw std::runtime_error(fmt::format("{}: rename failed: {}", path, std::strerror(errno)));
  } catch (...) {
    std::remove(tmp.c_str());
    throw;
  }
  fsync_parent(path);
}

void atomic_write_text(const std::string& path, const std::string& content) {
  atomic_write_with(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(fmt::format("{}: cannot create: {}", tmp, std::strerror(errno)));
    out << content;
    out.flush();
    if (!out) throw std::runtime_error(fmt::format("{}: write failed (disk full?)", tmp));
  });
}

void append_line_synced(const std::string& path, const std::string& line) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) throw std::runtime_error(fmt::format("{}: cannot open for append: {}", path, std::strerror(errno)));
  const std::string data = line + "\n";
  const ssize_t n = ::write(fd, data.data(), data.size());
  const int rc = ::fsync(fd);
  ::close(fd);
  if (n != static_cast<ssize_t>(data.size()) || rc != 0)
    throw std::runtime_error(fmt::format("{}: append failed: {}", path, std::strerror(errno)));
}

std::string matrix_to_csv(const torch::Tensor& m) {
  TORCH_CHECK(m.dim() == 2, "matrix_to_csv expects a 2-D tensor, got ", m.sizes());
  auto c = m.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  auto a = c.accessor<double, 2>();
  std::string out;
  out.reserve(static_cast<size_t>(c.numel()) * 12);
  for (int64_t i = 0; i < c.size(0); ++i) {
    for (int64_t j = 0; j < c.size(1); ++j) {
      if (j) out += ',';
      out += fmt::format("{:.9g}", a[i][j]);
    }
    out += '\n';
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open file", path));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

torch::Tensor read_matrix_csv(const std::string& path, bool allow_header) {
  return parse_matrix_csv(read_file(path), path, allow_header);
}

torch::Tensor parse_matrix_csv(const std::string& text, const std::string& path, bool allow_header) {
  std::istringstream in(text);
  std::vector<double> values;
  int64_t cols = -1, rows = 0, line_no = 0;
  std::string line;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    std::vector<double> row;
    std::stringstream cells(line);
    std::string cell;
    bool header = false;
    int64_t col = 0;
    while (std::getline(cells, cell, ',')) {
      ++col;
      const char* b = cell.c_str();
      while (*b == ' ' || *b == '\t') ++b;
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(b, &end);
      while (end && (*end == ' ' || *end == '\t')) ++end;
      if (end == b || *end != '\0') {
        if (allow_header && rows == 0 && values.empty()) {
          header = true;
          break;
        }
        throw InputError(fmt::format("{}:{}: column {}: not a number: '{}'", path, line_no, col, cell));
      }
      if (!std::isfinite(v))
        throw InputError(fmt::format("{}:{}: column {}: value is not finite: '{}'", path, line_no, col, cell));
      row.push_back(v);
    }
    if (header) {
      allow_header = false;
      continue;
    }
    if (!line.empty() && line.back() == ',')
      throw InputError(fmt::format("{}:{}: empty cell at the end of the line", path, line_no));
    if (cols < 0) cols = static_cast<int64_t>(row.size());
    if (static_cast<int64_t>(row.size()) != cols)
      throw InputError(fmt::format("{}:{}: expected {} columns, found {}", path, line_no, cols, row.size()));
    values.insert(values.end(), row.begin(), row.end());
    ++rows;
  }
  if (rows == 0) throw InputError(fmt::format("{}: no numeric rows", path));
  return torch::tensor(values, torch::kFloat64).reshape({rows, cols});
}

nlohmann::json read_jsonl(const std::string& path) {
  nlohmann::json rows = nlohmann::json::array();
  if (!file_exists(path)) return rows;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    auto row = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!row.is_object()) break;  // discarded (unparsable) or not a row
    rows.push_back(std::move(row));
  }
  return rows;
}

int64_t json_int(const nlohmann::json& obj, const char* key, int64_t fallback) {
  if (!obj.is_object()) return fallback;
  const auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

nlohmann::json read_json(const std::string& path) {
  const auto text = read_file(path);
  check_utf8(text, path);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: invalid JSON: {}", path, e.what()));
  }
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) throw InputError(fmt::format("{}: cannot create directory: {}", path, ec.message()));
}

bool file_exists(const std::string& path) { return fs::exists(path); }

}  // namespace sernn
