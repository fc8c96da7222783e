#pragma once
// Small helpers shared by the test files.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

namespace sernn::testing {

/// A fresh, empty directory under the system temp dir, unique per test.
inline std::string temp_dir(const std::string& tag) {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("sernn_test_" + std::string(info->test_suite_name()) + "_" + info->name() + "_" + tag);
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

}  // namespace sernn::testing
