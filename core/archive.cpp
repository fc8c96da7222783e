#include "core/archive.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <new>
#include <sstream>
#include <string_view>

#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"

namespace sernn {

namespace {

// Zip layout (APPNOTE.TXT 4.3): the end-of-central-directory record (22 bytes and a comment of
// at most 65,535), its zip64 locator and record, then one 46-byte central header per record.
constexpr uint32_t kEndSignature = 0x06054b50, kZip64LocatorSignature = 0x07064b50, kZip64EndSignature = 0x06064b50,
                   kCentralSignature = 0x02014b50, kLocalSignature = 0x04034b50;
constexpr uint64_t kEndBytes = 22, kLocatorBytes = 20, kZip64EndBytes = 56, kCentralBytes = 46, kLocalBytes = 30;
constexpr uint64_t kDeflateMaxRatio = 1032;  // deflate's largest expansion

uint64_t le(const std::string& b, uint64_t at, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(b[at + static_cast<uint64_t>(i)]);
  return v;
}

struct ZipDirectory {
  uint64_t entries = 0, offset = 0, bytes = 0;
};

ZipDirectory find_directory(const std::string& b, const std::string& path) {
  const uint64_t size = b.size();
  if (size < kEndBytes) throw InputError(fmt::format("{}: {} bytes, too short for a zip archive", path, size));
  uint64_t end = size - kEndBytes;
  const uint64_t lowest = end > 65535 ? end - 65535 : 0;
  while (le(b, end, 4) != kEndSignature) {
    if (end == lowest) throw InputError(fmt::format("{}: no zip end-of-directory record", path));
    --end;
  }
  ZipDirectory d{le(b, end + 10, 2), le(b, end + 16, 4), le(b, end + 12, 4)};
  if (d.entries == 0xFFFF || d.offset == 0xFFFFFFFF || d.bytes == 0xFFFFFFFF) {
    if (end < kLocatorBytes || le(b, end - kLocatorBytes, 4) != kZip64LocatorSignature)
      throw InputError(fmt::format("{}: zip64 directory without its locator", path));
    const uint64_t at = le(b, end - kLocatorBytes + 8, 8);
    if (at > size - kZip64EndBytes || le(b, at, 4) != kZip64EndSignature)
      throw InputError(fmt::format("{}: zip64 end record declared at byte {} is not there", path, at));
    d = {le(b, at + 32, 8), le(b, at + 48, 8), le(b, at + 40, 8)};
  }
  if (d.offset > size || d.bytes > size - d.offset || d.entries > d.bytes / kCentralBytes)
    throw InputError(
        fmt::format("{}: zip directory of {} records, {} bytes at byte {} does not fit the file's {} bytes", path,
                    d.entries, d.bytes, d.offset, size));
  return d;
}

/// What follows each pickle opcode (Python's Lib/pickletools.py): 0-8 fixed bytes, a 1-, 4- or
/// 8-byte little-endian length and that many bytes, or one or two newline-terminated lines.
enum PickleArgument : int8_t {
  kNotAnOpcode = -1,
  kLength1 = 11,
  kLength4 = 14,
  kLength8 = 18,
  kLine = 21,
  kLines = 22
};

const std::array<int8_t, 256>& pickle_arguments() {
  static const auto table = [] {
    std::array<int8_t, 256> t;
    t.fill(kNotAnOpcode);
    const auto set = [&](std::string_view ops, int8_t arg) {
      for (const char op : ops) t[static_cast<uint8_t>(op)] = arg;
    };
    set("(.012NRabd}el]st)uQ\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94", 0);
    set("\x80Kqh\x82", 1);
    set("M\x83", 2);
    set("Jrj\x84", 4);
    set("G\x95", 8);
    set("U\x8c"
        "C\x8a",
        kLength1);
    set("TXB\x8b", kLength4);
    set("\x8d\x8e\x96", kLength8);
    set("ILSVFpgP", kLine);
    set("ci", kLines);
    return t;
  }();
  return table;
}

/// Bytes of the argument of opcode `op` whose argument starts at `at` in `p`; more than what is
/// left when it runs past the end; -1 for a byte that is no opcode.
int64_t pickle_argument(const std::string& p, uint64_t at, uint8_t op) {
  const uint64_t left = p.size() - at;
  const int8_t kind = pickle_arguments()[op];
  if (kind >= 0 && kind <= 8) return kind;
  if (kind == kLength1 || kind == kLength4 || kind == kLength8) {
    const int bytes = kind - 10;
    if (left < static_cast<uint64_t>(bytes)) return bytes;
    const uint64_t n = le(p, at, bytes);
    return static_cast<int64_t>(std::min<uint64_t>(n, left + 1)) + bytes;
  }
  if (kind == kLine || kind == kLines) {
    uint64_t end = at;
    for (int i = 0; i < kind - 20; ++i) {
      const auto nl = p.find('\n', end);
      if (nl == std::string::npos) return static_cast<int64_t>(left) + 1;
      end = nl + 1;
    }
    return static_cast<int64_t>(end - at);
  }
  return -1;
}

/// InputError unless every opcode of the pickle `p` (record `name`) is one pickle defines and
/// every length it declares lies inside the record: LibTorch's unpickler allocates a string of
/// the declared length before reading it (a byte changed in a 1.8 KB model file: 4.4 GB, 18 s).
void check_pickle(const std::string& p, const std::string& name, const std::string& path) {
  for (uint64_t at = 0; at < p.size();) {
    const auto op = static_cast<uint8_t>(p[at]);
    if (op == '.') return;  // STOP
    const int64_t arg = pickle_argument(p, at + 1, op);
    if (arg < 0)
      throw InputError(
          fmt::format("{}: record '{}' holds byte 0x{:02x} at {}, not a pickle opcode", path, name, op, at));
    if (static_cast<uint64_t>(arg) > p.size() - at - 1)
      throw InputError(fmt::format("{}: record '{}': the argument of opcode 0x{:02x} at byte {} runs past its {} bytes",
                                   path, name, op, at, p.size()));
    at += 1 + static_cast<uint64_t>(arg);
  }
  throw InputError(fmt::format("{}: record '{}' ends without the pickle's STOP", path, name));
}

bool is_pickle(const std::string& name) { return ends_with(name, ".pkl") || ends_with(name, "debug_pkl"); }
}  // namespace

void check_zip_directory(const std::string& b, const std::string& path) {
  const uint64_t size = b.size();
  const ZipDirectory d = find_directory(b, path);
  uint64_t at = d.offset;
  const uint64_t end = d.offset + d.bytes;
  for (uint64_t i = 0; i < d.entries; ++i) {
    if (end - at < kCentralBytes || le(b, at, 4) != kCentralSignature)
      throw InputError(fmt::format("{}: zip directory record {} at byte {} is malformed", path, i, at));
    const uint64_t method = le(b, at + 10, 2), name_len = le(b, at + 28, 2), extra_len = le(b, at + 30, 2);
    uint64_t packed = le(b, at + 20, 4), unpacked = le(b, at + 24, 4), local = le(b, at + 42, 4);
    const uint64_t next = at + kCentralBytes + name_len + extra_len + le(b, at + 32, 2);
    if (next > end) throw InputError(fmt::format("{}: zip directory record {} runs past the directory", path, i));
    const std::string name = b.substr(at + kCentralBytes, name_len);
    // The zip64 extra field holds, in this order, whichever of the three are 0xFFFFFFFF above.
    for (uint64_t e = at + kCentralBytes + name_len; e + 4 <= at + kCentralBytes + name_len + extra_len;) {
      const uint64_t id = le(b, e, 2), len = le(b, e + 2, 2);
      uint64_t f = e + 4;
      if (id == 1)
        for (uint64_t* v : {&unpacked, &packed, &local})
          if (*v == 0xFFFFFFFF && f + 8 <= e + 4 + len && f + 8 <= next) {
            *v = le(b, f, 8);
            f += 8;
          }
      e += 4 + len;
    }
    if (local > size || size - local < kLocalBytes || packed > size - local - kLocalBytes)
      throw InputError(fmt::format("{}: record '{}' declares {} bytes at byte {}, past the file's {} bytes", path, name,
                                   packed, local, size));
    const bool fits = method == 0 ? unpacked == packed : method == 8 && unpacked / kDeflateMaxRatio <= packed;
    if (!fits)
      throw InputError(fmt::format("{}: record '{}' declares {} bytes from {} stored with method {}", path, name,
                                   unpacked, packed, method));
    if (method == 0 && is_pickle(name)) {
      // The data follows the local header, whose name and extra field have lengths of their own.
      if (le(b, local, 4) != kLocalSignature)
        throw InputError(fmt::format("{}: record '{}' has no local header at byte {}", path, name, local));
      const uint64_t data = local + kLocalBytes + le(b, local + 26, 2) + le(b, local + 28, 2);
      if (data > size || packed > size - data)
        throw InputError(fmt::format("{}: record '{}' runs past the end of the file", path, name));
      check_pickle(b.substr(data, packed), name, path);
    }
    at = next;
  }
}

std::string outside_storage(const torch::Tensor& t, const std::string& path, const std::string& name) {
  if (!t.defined() || t.numel() == 0) return "";
  int64_t last = t.storage_offset();
  bool ok = last >= 0 && t.has_storage();
  for (int64_t d = 0; ok && d < t.dim(); ++d) {
    int64_t step = 0;
    ok = t.stride(d) >= 0 && !__builtin_mul_overflow(t.size(d) - 1, t.stride(d), &step) &&
         !__builtin_add_overflow(last, step, &last);
  }
  int64_t bytes = 0;
  ok = ok && !__builtin_mul_overflow(last + 1, static_cast<int64_t>(t.element_size()), &bytes) &&
       static_cast<uint64_t>(bytes) <= t.storage().nbytes();
  if (ok) return "";
  return fmt::format("{}: tensor '{}' of shape {}, strides {} and offset {} lies outside its storage", path, name,
                     c10::str(t.sizes()), c10::str(t.strides()), t.storage_offset());
}

void check_within_storage(const torch::Tensor& t, const std::string& path, const std::string& name) {
  if (auto why = outside_storage(t, path, name); !why.empty()) throw InputError(why);
}

torch::serialize::InputArchive read_archive(const std::string& path, const torch::Device& device,
                                            const std::string& what) {
  const std::string bytes = read_file(path);
  check_zip_directory(bytes, path);
  torch::serialize::InputArchive archive;
  try {
    std::istringstream in(bytes);
    archive.load_from(in, device);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    // c10::Error and what LibTorch's unpickler throws (std::out_of_range, std::runtime_error, ...).
    const std::string reason = e.what();
    throw InputError(fmt::format("{}: not {} ({})", path, what, reason.substr(0, reason.find('\n'))));
  }
  return archive;
}

}  // namespace sernn
