#include "tasks/fetch.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"
#include "tasks/shd.h"

namespace sernn {
namespace {

size_t write_to_file(char* data, size_t size, size_t n, void* user) {
  return std::fwrite(data, size, n, static_cast<std::FILE*>(user)) * size;
}

}  // namespace

void download_file(const std::string& url, const std::string& path) {
  atomic_write_with(path, [&](const std::string& tmp) {
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) throw std::runtime_error(fmt::format("{}: cannot create", tmp));
    CURL* curl = curl_easy_init();
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, write_to_file);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, f);
    const CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    const bool write_ok = std::fclose(f) == 0;
    if (rc != CURLE_OK)
      throw std::runtime_error(fmt::format("{}: download failed: {} (HTTP {})", url, curl_easy_strerror(rc), status));
    if (!write_ok) throw std::runtime_error(fmt::format("{}: write failed (disk full?)", tmp));
  });
}

std::string md5_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", path));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_md5(), nullptr);
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) hex += fmt::format("{:02x}", md[i]);
  return hex;
}

std::map<std::string, std::string> parse_md5sums(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string sum, name;
  while (in >> sum >> name) {
    if (!name.empty() && name[0] == '*') name = name.substr(1);  // binary-mode marker
    const auto slash = name.rfind('/');
    out[slash == std::string::npos ? name : name.substr(slash + 1)] = sum;
  }
  return out;
}

void gunzip_file(const std::string& gz_path, const std::string& path) {
  atomic_write_with(path, [&](const std::string& tmp) {
    gzFile in = gzopen(gz_path.c_str(), "rb");
    if (!in) throw InputError(fmt::format("{}: cannot open", gz_path));
    std::FILE* out = std::fopen(tmp.c_str(), "wb");
    std::vector<char> buf(1 << 20);
    int n;
    while ((n = gzread(in, buf.data(), static_cast<unsigned>(buf.size()))) > 0) std::fwrite(buf.data(), 1, n, out);
    int err = 0;
    const char* msg = gzerror(in, &err);
    gzclose(in);
    const bool write_ok = std::fclose(out) == 0;
    if (n < 0 || err < 0) throw InputError(fmt::format("{}: corrupt gzip data: {}", gz_path, msg));
    if (!write_ok) throw std::runtime_error(fmt::format("{}: write failed (disk full?)", tmp));
  });
}

void fetch_shd(const std::string& dir, const std::string& base_url,
               const std::function<void(const std::string&)>& log) {
  make_dirs(dir);
  std::string base = base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  const std::string sums_path = dir + "/md5sums.txt";
  log(fmt::format("fetching {}/md5sums.txt", base));
  download_file(base + "/md5sums.txt", sums_path);
  const auto sums = parse_md5sums(read_file(sums_path));
  for (const std::string name : {"shd_train.h5", "shd_test.h5"}) {
    const std::string final_path = dir + "/" + name, gz = name + ".gz", gz_path = dir + "/" + gz + ".part";
    if (file_exists(final_path)) {
      try {
        read_shd(final_path);
        log(fmt::format("{}: present and readable, kept", final_path));
        continue;
      } catch (const InputError&) {
        log(fmt::format("{}: present but unreadable, fetching again", final_path));
      }
    }
    auto it = sums.find(gz);
    if (it == sums.end()) throw std::runtime_error(fmt::format("{}/md5sums.txt has no checksum for {}", base, gz));
    log(fmt::format("fetching {}/{}", base, gz));
    download_file(base + "/" + gz, gz_path);
    const std::string got = md5_file(gz_path);
    if (got != it->second) {
      std::remove(gz_path.c_str());
      throw std::runtime_error(
          fmt::format("{}/{}: checksum mismatch (md5 {} expected {}); nothing was kept", base, gz, got, it->second));
    }
    gunzip_file(gz_path, final_path);
    std::remove(gz_path.c_str());
    read_shd(final_path);  // a corrupt archive must not pass as data
    log(fmt::format("{}: ok (md5 {})", final_path, got));
  }
}

}  // namespace sernn
