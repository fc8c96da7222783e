#pragma once
// Small helpers shared by the test files.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace sernn::testing {

/// A fresh, empty directory under the system temp dir, unique per test and process (two
/// checkouts may run the suite at the same time).
inline std::string temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "_" + info->name() + "_" + tag;
  for (auto& c : name)
    if (c == '/') c = '_';  // parameterised test names contain '/'
  auto dir = std::filesystem::temp_directory_path() / ("sernn_test_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline std::string write_text(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "wb");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return path;
}

#ifdef SERNN_BINARY
/// Starts `sernn args...` with stdout and stderr to `log`; returns its pid.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1), dup2(fd, 2);
    std::vector<char*> argv{const_cast<char*>(SERNN_BINARY)};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(SERNN_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

/// Exit code of `pid` (128 + signal if a signal ended it).
inline int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
#endif

}  // namespace sernn::testing
