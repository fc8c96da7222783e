#pragma once
/// Downloading the SHD files: HTTP(S) via libcurl, MD5 verification against the site's
/// md5sums.txt, gunzip, and an atomic rename so a final name never holds a partial file.
#include <functional>
#include <map>
#include <string>

namespace sernn {

/// The dataset site of the Heidelberg spiking data sets.
constexpr const char* kShdBaseUrl = "https://zenkelab.org/datasets";

/// Downloads `url` to `path` (written atomically). Throws std::runtime_error naming the URL
/// on HTTP or network errors.
void download_file(const std::string& url, const std::string& path);
/// Hex MD5 of a file.
std::string md5_file(const std::string& path);
/// Parses "md5  filename" lines (md5sum output format).
std::map<std::string, std::string> parse_md5sums(const std::string& text);
/// Decompresses a .gz file to `path` (atomically); InputError naming the file if corrupt.
void gunzip_file(const std::string& gz_path, const std::string& path);

/// Fetches shd_train.h5 and shd_test.h5 into `dir` from `base_url` (files NAME.gz and
/// md5sums.txt). Files already present and readable are kept. `log` receives progress lines.
void fetch_shd(const std::string& dir, const std::string& base_url, const std::function<void(const std::string&)>& log);

}  // namespace sernn
