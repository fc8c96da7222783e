#include "tasks/shd.h"

#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <condition_variable>
#include <deque>
#include <exception>
#include <fstream>
#include <map>
#include <numeric>
#include <mutex>
#include <random>
#include <thread>

#include <c10/util/Half.h>
#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"
#include "tasks/batching.h"
#include "tasks/hdf5_handle.h"
#include "tasks/shd_events.h"

namespace sernn {

void ShdData::add_events(std::vector<std::pair<float, int32_t>>& events, int64_t label, int64_t speaker) {
  std::sort(events.begin(), events.end());
  std::vector<float> t;
  std::vector<int32_t> u;
  t.reserve(events.size()), u.reserve(events.size());
  for (const auto& [time, unit] : events) t.push_back(time), u.push_back(unit);
  add(t, u, label, speaker);
}

void ShdData::add(const std::vector<float>& t, const std::vector<int32_t>& u, int64_t label, int64_t speaker) {
  TORCH_CHECK(t.size() == u.size(), "ShdData::add: times and units differ in length");
  times.insert(times.end(), t.begin(), t.end());
  units.insert(units.end(), u.begin(), u.end());
  offsets.push_back(static_cast<int64_t>(times.size()));
  labels.push_back(label);
  speakers.push_back(speaker);
}

namespace {

void quiet_hdf5() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

[[noreturn]] void bad(const std::string& path, const std::string& dataset, const std::string& what) {
  throw InputError(fmt::format("{}: dataset '{}': {}", path, dataset, what));
}

hsize_t length_1d(hid_t ds, const std::string& path, const std::string& name) {
  Hid space(H5Dget_space(ds), H5Sclose);
  if (!space.ok() || H5Sget_simple_extent_ndims(space) != 1) bad(path, name, "expected a 1-D dataset");
  hsize_t n = 0;
  H5Sget_simple_extent_dims(space, &n, nullptr);
  return n;
}

hsize_t file_bytes(hid_t file) {
  hsize_t size = 0;
  H5Fget_filesize(file, &size);
  return size;
}

/// The element count a 1-D dataset declares, checked against what the file can hold before anything
/// is allocated for it (issue 29: a 13.8 KB file declared 320 million samples): its raw data must be
/// stored, n x element size <= the storage (x kMaxCompression when filters compress it), and the
/// storage must lie within the file.
hsize_t checked_length(hid_t file, hid_t ds, hid_t ftype, const std::string& path, const std::string& name) {
  const hsize_t n = length_1d(ds, path, name);
  if (n == 0) return 0;
  constexpr double kMaxCompression = 1100.0;  // deflate's limit is 1032:1
  const double declared = static_cast<double>(n) * static_cast<double>(H5Tget_size(ftype));
  const auto storage = static_cast<double>(H5Dget_storage_size(ds));
  const hsize_t file_size = file_bytes(file);
  Hid dcpl(H5Dget_create_plist(ds), H5Pclose);
  const bool filtered = dcpl.ok() && H5Pget_nfilters(dcpl) > 0;
  if (storage > static_cast<double>(file_size) || declared > storage * (filtered ? kMaxCompression : 1.0))
    bad(path, name,
        fmt::format("declares {} elements ({:.0f} bytes) but stores {:.0f} bytes of them in a file of {} bytes "
                    "(truncated or corrupt file)",
                    n, declared, storage, file_size));
  return n;
}

/// HDF5 allocates a ragged array's rows as their lengths in the file say: from a budget, so that
/// a corrupt length fails the read instead of taking the machine's memory.
struct VlenBudget {
  size_t left = 0;
};

void* budget_alloc(size_t size, void* info) {
  auto* budget = static_cast<VlenBudget*>(info);
  if (size > budget->left) return nullptr;
  budget->left -= size;
  return std::malloc(size);
}

void budget_free(void* p, void* /*info*/) { std::free(p); }

/// Where a dataset's raw elements lie in the file: runs of `count` elements from element `first`
/// at file offset `address`.
struct RawRun {
  haddr_t address;
  hsize_t first, count;
};

/// The runs of a ragged dataset's raw storage: contiguous, or unfiltered chunks. Compact, virtual
/// and filtered storage are refused (h5py writes ragged datasets contiguous unless asked).
std::vector<RawRun> raw_runs(hid_t ds, hsize_t n, const std::string& path, const std::string& name) {
  Hid dcpl(H5Dget_create_plist(ds), H5Pclose);
  const auto layout = dcpl.ok() ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
  constexpr const char* refuse = "a ragged dataset stored {} is not read (store it contiguous: h5repack -l CONTI)";
  if (layout == H5D_CONTIGUOUS) {
    const haddr_t address = H5Dget_offset(ds);
    if (address == HADDR_UNDEF) bad(path, name, "declares samples but has no storage (truncated or corrupt file)");
    return {{address, 0, n}};
  }
  if (layout != H5D_CHUNKED) bad(path, name, fmt::format(refuse, layout == H5D_COMPACT ? "compact" : "in this layout"));
  if (H5Pget_nfilters(dcpl) != 0) bad(path, name, fmt::format(refuse, "with filters (compression)"));
  hsize_t chunk = 0, chunks = 0;
  Hid space(H5Dget_space(ds), H5Sclose);
  if (H5Pget_chunk(dcpl, 1, &chunk) != 1 || chunk == 0 || H5Dget_num_chunks(ds, space, &chunks) < 0)
    bad(path, name, "unreadable chunk layout (truncated or corrupt file)");
  std::vector<RawRun> runs;
  for (hsize_t i = 0; i < chunks; ++i) {
    hsize_t first = 0, size = 0;
    unsigned mask = 0;
    haddr_t address = HADDR_UNDEF;
    if (H5Dget_chunk_info(ds, space, i, &first, &mask, &address, &size) < 0 || address == HADDR_UNDEF || first >= n)
      bad(path, name, fmt::format("chunk {} cannot be located (truncated or corrupt file)", i));
    runs.push_back({address, first, std::min(chunk, n - first)});
  }
  return runs;
}

/// A little-endian unsigned integer of `bytes` bytes.
uint64_t little_endian(const unsigned char* p, size_t bytes) {
  uint64_t v = 0;
  for (size_t i = bytes; i-- > 0;) v = (v << 8) | p[i];
  return v;
}

/// What each element of a ragged dataset declares in its raw storage: on disk an element is a
/// 4-byte sequence length and a global heap ID (the address of a heap collection and a 4-byte
/// object index). Elements of chunks never written are empty (length 0, address 0).
struct RaggedRows {
  std::vector<uint32_t> length;
  std::vector<uint64_t> heap;
  std::vector<uint32_t> object;
};

/// A file's bytes [offset, offset + n), read through its path (sizes checked by the caller).
bool read_bytes(std::ifstream& in, uint64_t offset, size_t n, std::vector<unsigned char>& out) {
  out.resize(n);
  in.clear();
  in.seekg(static_cast<std::streamoff>(offset));
  return static_cast<bool>(in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(n)));
}

RaggedRows declared_rows(std::ifstream& in, hid_t ds, hsize_t n, size_t address_bytes, hsize_t file_size,
                         const std::string& path, const std::string& name) {
  const hsize_t stride = 4 + address_bytes + 4;
  RaggedRows rows{std::vector<uint32_t>(n, 0), std::vector<uint64_t>(n, 0), std::vector<uint32_t>(n, 0)};
  std::vector<unsigned char> raw;
  for (const auto& run : raw_runs(ds, n, path, name)) {
    if (run.address > file_size || run.count * stride > file_size - run.address ||
        !read_bytes(in, run.address, run.count * stride, raw))
      bad(path, name, "raw data past the end of the file (truncated or corrupt file)");
    for (hsize_t j = 0; j < run.count; ++j) {
      const unsigned char* e = raw.data() + j * stride;
      rows.length[run.first + j] = static_cast<uint32_t>(little_endian(e, 4));
      rows.heap[run.first + j] = little_endian(e + 4, address_bytes);
      rows.object[run.first + j] = static_cast<uint32_t>(little_endian(e + 4 + address_bytes, 4));
    }
  }
  return rows;
}

/// The objects of the global heap collection at `address` (index -> size), walked as HDF5 walks
/// them, or an input error where HDF5 would loop forever (an object that does not advance: found
/// by fuzz_shd) or read past the collection. Layout: "GCOL", version 1, 3 reserved bytes, the
/// collection's size (a length), then objects: index (2 bytes), reference count (2), reserved (4),
/// size (a length), data padded to 8 bytes; object 0 is the free space.
std::map<uint32_t, uint64_t> heap_objects(std::ifstream& in, uint64_t address, size_t length_bytes, hsize_t file_size,
                                          const std::string& path, const std::string& name) {
  const auto corrupt = [&](const std::string& what) {
    bad(path, name, fmt::format("global heap collection at {}: {} (truncated or corrupt file)", address, what));
  };
  const size_t header = 8 + length_bytes, object_header = 8 + length_bytes;
  std::vector<unsigned char> raw;
  if (address > file_size || header > file_size - address || !read_bytes(in, address, header, raw))
    corrupt("past the end of the file");
  const uint64_t size = little_endian(raw.data() + 8, length_bytes);
  if (std::string(raw.begin(), raw.begin() + 4) != "GCOL" || raw[4] != 1) corrupt("no collection signature");
  if (size < header || size > file_size - address || !read_bytes(in, address, size, raw))
    corrupt(fmt::format("declares {} bytes", size));
  std::map<uint32_t, uint64_t> objects;
  for (uint64_t p = header; p < size;) {
    if (p + object_header > size) break;  // a tail too small for an object header is free space
    const auto index = static_cast<uint32_t>(little_endian(raw.data() + p, 2));
    const uint64_t bytes = little_endian(raw.data() + p + 8, length_bytes);
    const uint64_t need = index > 0 ? object_header + ((bytes + 7) & ~uint64_t{7}) : bytes;
    if (need == 0 || need > size - p || (index > 0 && bytes > size))
      corrupt(fmt::format("object {} declares {} bytes", index, bytes));
    if (index > 0) objects[index] = bytes;
    p += need;
  }
  return objects;
}

/// Checks what a ragged dataset declares against the file before H5Dread (issue 29): HDF5 sizes
/// its conversion buffer from each row's length (a corrupt one asked for 13 GB), copies the heap
/// object into that buffer, and loops forever on some corrupt heap collections. So: the rows'
/// bytes (length x element size) sum to at most the file's size, and each row's heap object exists
/// in a well-formed collection with exactly the row's bytes.
void check_ragged_rows(hid_t file, hid_t ds, hid_t ftype, hsize_t n, const std::string& path, const std::string& name) {
  Hid fcpl(H5Fget_create_plist(file), H5Pclose);
  size_t address_bytes = 8, length_bytes = 8;
  if (!fcpl.ok() || H5Pget_sizes(fcpl, &address_bytes, &length_bytes) < 0 || address_bytes > 8 || length_bytes > 8)
    bad(path, name, "unreadable file creation properties (truncated or corrupt file)");
  Hid base(H5Tget_super(ftype), H5Tclose);
  const uint64_t element = base.ok() ? H5Tget_size(base) : 1;
  const hsize_t file_size = file_bytes(file);
  std::ifstream in(path, std::ios::binary);
  const auto rows = declared_rows(in, ds, n, address_bytes, file_size, path, name);
  double total = 0;
  std::map<uint64_t, std::map<uint32_t, uint64_t>> collections;
  for (hsize_t i = 0; i < n; ++i) {
    total += static_cast<double>(rows.length[i]) * static_cast<double>(element);
    if (total > static_cast<double>(file_size))
      bad(path, name,
          fmt::format("sample {} declares {} values: {:.0f} bytes of rows up to it in a file of {} bytes "
                      "(truncated or corrupt file)",
                      i, rows.length[i], total, file_size));
    if (rows.heap[i] == 0) {
      if (rows.length[i] > 0)
        bad(path, name, fmt::format("sample {} declares {} values but no data", i, rows.length[i]));
      continue;
    }
    auto it = collections.find(rows.heap[i]);
    if (it == collections.end())
      it = collections.emplace(rows.heap[i], heap_objects(in, rows.heap[i], length_bytes, file_size, path, name)).first;
    const auto object = it->second.find(rows.object[i]);
    if (object == it->second.end() || object->second != rows.length[i] * element)
      bad(path, name,
          fmt::format("sample {} declares {} values ({} bytes) but its heap object {} holds {} (truncated or "
                      "corrupt file)",
                      i, rows.length[i], rows.length[i] * element, rows.object[i],
                      object == it->second.end() ? std::string("nothing") : fmt::format("{} bytes", object->second)));
  }
}

Hid open_dataset(hid_t file, const std::string& path, const std::string& name) {
  // Check each link on the way so a missing group is reported as the missing dataset.
  std::string prefix;
  size_t pos = 0;
  while (true) {
    const size_t slash = name.find('/', pos);
    prefix = name.substr(0, slash);
    if (H5Lexists(file, prefix.c_str(), H5P_DEFAULT) <= 0) bad(path, name, "missing");
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  Hid ds(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.ok()) bad(path, name, "cannot be opened as a dataset");
  return Hid(H5Dopen2(file, name.c_str(), H5P_DEFAULT), H5Dclose);
}

/// Reads a ragged (variable-length) dataset as `mem_base` elements into T vectors.
template <class T>
std::vector<std::vector<T>> read_ragged(hid_t file, const std::string& path, const std::string& name, hid_t mem_base) {
  auto ds = open_dataset(file, path, name);
  Hid ftype(H5Dget_type(ds), H5Tclose);
  if (H5Tget_class(ftype) != H5T_VLEN) bad(path, name, "expected a variable-length (ragged) array per sample");
  const hsize_t n = checked_length(file, ds, ftype, path, name);
  check_ragged_rows(file, ds, ftype, n, path, name);
  Hid mtype(H5Tvlen_create(mem_base), H5Tclose);
  Hid space(H5Dget_space(ds), H5Sclose);
  // The rows in memory: at most 4 bytes per element of at least 1 byte stored, and 64 MB beside.
  VlenBudget budget{static_cast<size_t>(4 * file_bytes(file)) + (size_t{64} << 20)};
  Hid xfer(H5Pcreate(H5P_DATASET_XFER), H5Pclose);
  H5Pset_vlen_mem_manager(xfer, budget_alloc, &budget, budget_free, nullptr);
  std::vector<hvl_t> buf(n);
  if (n > 0 && H5Dread(ds, mtype, H5S_ALL, H5S_ALL, xfer, buf.data()) < 0)
    bad(path, name, "read failed (truncated or corrupt file, or an element type that cannot convert)");
  std::vector<std::vector<T>> out(n);
  for (hsize_t i = 0; i < n; ++i) {
    const T* p = static_cast<const T*>(buf[i].p);
    out[i].assign(p, p + buf[i].len);
  }
  if (n > 0) H5Dvlen_reclaim(mtype, space, xfer, buf.data());
  return out;
}

std::vector<int64_t> read_ints(hid_t file, const std::string& path, const std::string& name) {
  auto ds = open_dataset(file, path, name);
  Hid ftype(H5Dget_type(ds), H5Tclose);
  if (H5Tget_class(ftype) != H5T_INTEGER) bad(path, name, "expected integers");
  std::vector<int64_t> out(checked_length(file, ds, ftype, path, name));
  if (!out.empty() && H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0)
    bad(path, name, "read failed (truncated or corrupt file)");
  return out;
}

/// IEEE 754 half precision, the element type of spikes/times in the published files.
hid_t make_float16() {
  hid_t t = H5Tcopy(H5T_IEEE_F32LE);
  H5Tset_fields(t, 15, 10, 5, 0, 10);
  H5Tset_precision(t, 16);
  H5Tset_size(t, 2);
  H5Tset_ebias(t, 15);
  return t;
}

template <class T>
void write_ragged(hid_t parent, const char* name, hid_t file_base, hid_t mem_base, const std::vector<T>& flat,
                  const std::vector<int64_t>& offsets) {
  const hsize_t n = offsets.size() - 1;
  std::vector<hvl_t> buf(n);
  for (hsize_t i = 0; i < n; ++i) {
    buf[i].len = static_cast<size_t>(offsets[i + 1] - offsets[i]);
    buf[i].p = const_cast<T*>(flat.data() + offsets[i]);
  }
  Hid ftype(H5Tvlen_create(file_base), H5Tclose), mtype(H5Tvlen_create(mem_base), H5Tclose);
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid ds(H5Dcreate2(parent, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!ds.ok() || H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0)
    throw std::runtime_error(fmt::format("HDF5: cannot write dataset {}", name));
}

void write_ints(hid_t parent, const char* name, hid_t file_type, const std::vector<int64_t>& values) {
  const hsize_t n = values.size();
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid ds(H5Dcreate2(parent, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!ds.ok() || H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    throw std::runtime_error(fmt::format("HDF5: cannot write dataset {}", name));
}

void write_strings(hid_t parent, const char* name, const std::vector<std::string>& values) {
  std::vector<const char*> ptrs;
  for (const auto& s : values) ptrs.push_back(s.c_str());
  const hsize_t n = ptrs.size();
  Hid type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  Hid space(H5Screate_simple(1, &n, nullptr), H5Sclose);
  Hid ds(H5Dcreate2(parent, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (!ds.ok() || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0)
    throw std::runtime_error(fmt::format("HDF5: cannot write dataset {}", name));
}

/// The child's side of read_shd: a tag ('D' data, 'E' input error, 'X' other error), then the
/// data (each vector as its length and bytes) or the message.
void write_all(int fd, const void* data, size_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t n = ::write(fd, p, bytes);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      _exit(5);  // the parent is gone
    }
    p += n, bytes -= static_cast<size_t>(n);
  }
}

template <class T>
void write_vector(int fd, const std::vector<T>& v) {
  const uint64_t n = v.size();
  write_all(fd, &n, sizeof n);
  write_all(fd, v.data(), n * sizeof(T));
}

template <class T>
void read_vector(const std::string& bytes, size_t& at, std::vector<T>& v) {
  uint64_t n = 0;
  TORCH_CHECK(at + sizeof n <= bytes.size(), "read_shd: truncated reply from the reading process");
  std::memcpy(&n, bytes.data() + at, sizeof n);
  at += sizeof n;
  TORCH_CHECK(n <= (bytes.size() - at) / sizeof(T), "read_shd: truncated reply from the reading process");
  v.resize(n);
  std::memcpy(v.data(), bytes.data() + at, n * sizeof(T));
  at += n * sizeof(T);
}

[[noreturn]] void reply_and_exit(int fd, char tag, const std::string& message) {
  write_all(fd, &tag, 1);
  write_all(fd, message.data(), message.size());
  _exit(0);
}

}  // namespace

ShdData read_shd(const std::string& path) {
  // HDF5 1.10 crashes (SIGSEGV inside its link lookup) or runs for ever on some corrupt files
  // before any check of ours can run (found by fuzz_shd, issue 29), so the file is read in a child
  // process: whatever the library does, the caller gets the data or an input error naming the
  // file. The data comes back through a pipe (about a second for the 300 MB of the real files).
  int fds[2];
  if (::pipe(fds) != 0) return read_shd_in_process(path);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]), ::close(fds[1]);
    return read_shd_in_process(path);
  }
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(kShdReadSeconds);  // a hang is an input error too
    try {
      const auto d = read_shd_in_process(path);
      const char tag = 'D';
      write_all(fds[1], &tag, 1);
      write_vector(fds[1], d.times), write_vector(fds[1], d.units), write_vector(fds[1], d.offsets);
      write_vector(fds[1], d.labels), write_vector(fds[1], d.speakers);
      _exit(0);
    } catch (const InputError& e) {
      reply_and_exit(fds[1], 'E', e.what());
    } catch (const std::exception& e) {
      reply_and_exit(fds[1], 'X', e.what());
    } catch (...) {
      reply_and_exit(fds[1], 'X', "unknown error");
    }
  }
  ::close(fds[1]);
  std::string reply;
  char buf[1 << 16];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
    throw InputError(fmt::format("{}: reading it took over {} s (corrupt file?)", path, kShdReadSeconds));
  if (WIFSIGNALED(status))
    throw InputError(
        fmt::format("{}: the HDF5 library crashed reading it ({}): a corrupt file", path, strsignal(WTERMSIG(status))));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || reply.empty())
    throw std::runtime_error(fmt::format("{}: the process reading it failed (exit status {})", path, status));
  if (reply[0] == 'E') throw InputError(reply.substr(1));
  if (reply[0] != 'D') throw std::runtime_error(reply.substr(1));
  ShdData d;
  size_t at = 1;
  read_vector(reply, at, d.times), read_vector(reply, at, d.units), read_vector(reply, at, d.offsets);
  read_vector(reply, at, d.labels), read_vector(reply, at, d.speakers);
  return d;
}

ShdData read_shd_in_process(const std::string& path) {
  quiet_hdf5();
  if (!file_exists(path)) throw InputError(fmt::format("{}: file not found", path));
  if (H5Fis_hdf5(path.c_str()) <= 0) throw InputError(fmt::format("{}: not an HDF5 file", path));
  Hid file(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose);
  if (!file.ok()) throw InputError(fmt::format("{}: cannot open HDF5 file (truncated or corrupt?)", path));
  auto times = read_ragged<float>(file, path, "spikes/times", H5T_NATIVE_FLOAT);
  auto units = read_ragged<int32_t>(file, path, "spikes/units", H5T_NATIVE_INT32);
  auto labels = read_ints(file, path, "labels");
  if (units.size() != times.size())
    bad(path, "spikes/units", fmt::format("{} samples but spikes/times has {}", units.size(), times.size()));
  if (labels.size() != times.size())
    bad(path, "labels", fmt::format("{} labels but spikes/times has {} samples", labels.size(), times.size()));
  std::vector<int64_t> speakers(labels.size(), 0);
  if (H5Lexists(file, "extra", H5P_DEFAULT) > 0 && H5Lexists(file, "extra/speaker", H5P_DEFAULT) > 0) {
    speakers = read_ints(file, path, "extra/speaker");
    if (speakers.size() != labels.size()) bad(path, "extra/speaker", "length differs from labels");
  }
  ShdData data;
  for (size_t i = 0; i < times.size(); ++i) {
    if (times[i].size() != units[i].size())
      bad(path, "spikes/units",
          fmt::format("sample {} has {} unit ids but {} spike times", i, units[i].size(), times[i].size()));
    for (int32_t u : units[i])
      if (u < 0 || u >= kShdUnits) bad(path, "spikes/units", fmt::format("sample {}: unit id {} outside 0..699", i, u));
    for (float t : times[i])
      if (!std::isfinite(t) || t < 0) bad(path, "spikes/times", fmt::format("sample {}: invalid time {}", i, t));
    if (labels[i] < 0 || labels[i] >= kShdClasses)
      bad(path, "labels", fmt::format("sample {}: label {} outside 0..19", i, labels[i]));
    data.add(times[i], units[i], labels[i], speakers[i]);
  }
  return data;
}

void write_shd(const std::string& path, const ShdData& data) {
  quiet_hdf5();
  atomic_write_with(path, [&](const std::string& tmp) {
    Hid file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) throw std::runtime_error(fmt::format("{}: cannot create HDF5 file", tmp));
    Hid spikes(H5Gcreate2(file, "spikes", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    Hid extra(H5Gcreate2(file, "extra", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    Hid f16(make_float16(), H5Tclose);
    // Rounded to half precision here (round to nearest even), so HDF5's conversion is exact:
    // HDF5 1.10's own float -> half conversion loses the carry when the mantissa rounds up into
    // the next power of two (0.24998 was stored as 0.125, unsorting the sample's times).
    std::vector<float> halves(data.times.size());
    std::transform(data.times.begin(), data.times.end(), halves.begin(),
                   [](float t) { return static_cast<float>(c10::Half(t)); });
    write_ragged(spikes, "times", f16, H5T_NATIVE_FLOAT, halves, data.offsets);
    write_ragged(spikes, "units", H5T_STD_U16LE, H5T_NATIVE_INT32, data.units, data.offsets);
    write_ints(file, "labels", H5T_STD_U16LE, data.labels);
    write_ints(extra, "speaker", H5T_STD_U16LE, data.speakers);
    std::vector<std::string> keys;
    const char* en[] = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"};
    const char* de[] = {"null", "eins", "zwei", "drei", "vier", "fuenf", "sechs", "sieben", "acht", "neun"};
    for (auto* k : en) keys.push_back(k);
    for (auto* k : de) keys.push_back(k);
    write_strings(extra, "keys", keys);
  });
}

ShdData synth_shd(const SynthShdOptions& o) {
  std::mt19937_64 rng(o.seed);
  std::uniform_int_distribution<int64_t> klass(0, kShdClasses - 1), speaker(0, 11);
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  std::normal_distribution<double> jitter(0.0, 1.0);
  ShdData data;
  for (int64_t s = 0; s < o.samples; ++s) {
    const int64_t c = klass(rng);
    const double duration = 0.3 + 0.7 * unif(rng);
    const int64_t low = std::max<int64_t>(1, 2 * o.events / 3);  // 300 -> 200 + U(0, 200), as ever
    const int64_t events = low + static_cast<int64_t>(static_cast<double>(low) * unif(rng));
    // Class c: a band starting near unit 20 + 33 c that drifts by (c*7 mod 5 - 2) * 40 units.
    const double start = 20.0 + 33.0 * static_cast<double>(c);
    const double drift = static_cast<double>((c * 7) % 5 - 2) * 40.0;
    std::vector<std::pair<float, int32_t>> ev;
    ev.reserve(events);
    for (int64_t e = 0; e < events; ++e) {
      const double t = duration * unif(rng);
      double u;
      if (unif(rng) < o.noise_fraction) u = unif(rng) * kShdUnits;
      else u = start + drift * (t / duration) + 6.0 * jitter(rng);
      const auto unit = static_cast<int32_t>(std::clamp<double>(std::floor(u), 0.0, kShdUnits - 1));
      ev.emplace_back(static_cast<float>(t), unit);
    }
    data.add_events(ev, c, speaker(rng));
  }
  return data;
}

void check_synth_sizes(int64_t train, int64_t test) {
  if (train < 1 || test < 1) throw InputError("--train and --test must be at least 1");
}

void check_synth_events(double noise, int64_t events) {
  if (!(noise >= 0 && noise <= 1)) throw InputError(fmt::format("--noise {} outside [0, 1]", noise));
  if (events < 1 || events > 1000000) throw InputError(fmt::format("--events {} outside [1, 1000000]", events));
}

void write_synth_files(const std::string& dir, int64_t train, int64_t test, uint64_t seed,
                       const std::function<ShdData(int64_t samples, uint64_t seed)>& make) {
  make_dirs(dir);
  write_shd(dir + "/shd_train.h5", make(train, seed * 2 + 1));
  write_shd(dir + "/shd_test.h5", make(test, seed * 2 + 2));
}

void write_synth_shd(const std::string& dir, int64_t train, int64_t test, uint64_t seed, double noise, int64_t events) {
  check_synth_sizes(train, test);
  check_synth_events(noise, events);
  write_synth_files(dir, train, test, seed, [&](int64_t samples, uint64_t s) {
    return synth_shd({samples, s, noise, events});
  });
}

namespace {

/// Produces batches on a background thread, `depth` ahead of the consumer, so gathering them on
/// the CPU never stalls the training step. Exceptions in the producer resurface in next().
class PrefetchStream : public BatchStream {
 public:
  using Producer = std::function<bool(Batch&)>;
  PrefetchStream(Producer produce, size_t depth) : produce_(std::move(produce)), depth_(std::max<size_t>(1, depth)) {
    worker_ = std::thread([this] { loop(); });
  }
  ~PrefetchStream() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  bool next(Batch& out) override {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !queue_.empty() || done_; });
    if (queue_.empty()) {
      if (error_) std::rethrow_exception(error_);
      return false;
    }
    Batch b = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    cv_.notify_all();
    out = std::move(b);
    return true;
  }

 private:
  void loop() {
    try {
      while (true) {
        Batch b;
        if (!produce_(b)) break;
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [this] { return queue_.size() < depth_ || stop_; });
        if (stop_) break;
        queue_.push_back(std::move(b));
        lock.unlock();
        cv_.notify_all();
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu_);
      error_ = std::current_exception();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
  }

  Producer produce_;
  size_t depth_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> queue_;
  bool stop_ = false, done_ = false;
  std::exception_ptr error_;
  std::thread worker_;
};

/// Produces each batch when asked, on the caller's thread (a device's batches: queued kernels).
class DirectStream : public BatchStream {
 public:
  explicit DirectStream(std::function<bool(Batch&)> produce) : produce_(std::move(produce)) {}
  bool next(Batch& out) override { return produce_(out); }

 private:
  std::function<bool(Batch&)> produce_;
};

std::vector<int64_t> first_n(std::vector<int64_t> v, int64_t n) {
  if (n > 0 && static_cast<int64_t>(v.size()) > n) v.resize(n);
  return v;
}

}  // namespace

ShdTask::ShdTask(ShdTaskOptions options) : opt_(std::move(options)) {
  const auto train = read_shd(opt_.data_dir + "/shd_train.h5");
  const auto test = read_shd(opt_.data_dir + "/shd_test.h5");
  // A fixed held-out validation split of the training file (independent of the run seed).
  std::vector<int64_t> all(train.size());
  for (int64_t i = 0; i < train.size(); ++i) all[i] = i;
  std::mt19937_64 rng(12345);
  std::shuffle(all.begin(), all.end(), rng);
  const auto n_val = static_cast<int64_t>(std::floor(opt_.val_fraction * train.size()));
  std::vector<int64_t> val_idx(all.begin(), all.begin() + n_val), train_idx(all.begin() + n_val, all.end()), test_idx;
  std::sort(train_idx.begin(), train_idx.end());
  std::sort(val_idx.begin(), val_idx.end());
  train_idx = first_n(train_idx, opt_.max_train);
  for (int64_t i = 0; i < test.size(); ++i) test_idx.push_back(i);
  test_idx = first_n(test_idx, opt_.max_test);
  if (train_idx.empty()) throw InputError(fmt::format("{}/shd_train.h5: no training samples", opt_.data_dir));
  // Each split binned once, in file order; the events themselves are not kept.
  const ShdBinning bn{opt_.per_sample, opt_.bins, opt_.dt, opt_.max_steps};
  events_.emplace(
      "cpu", std::array<std::shared_ptr<const ShdEvents>, 3>{std::make_shared<const ShdEvents>(train, train_idx, bn),
                                                             std::make_shared<const ShdEvents>(train, val_idx, bn),
                                                             std::make_shared<const ShdEvents>(test, test_idx, bn)});
}

int64_t ShdTask::num_samples(Split split) const { return events(split, torch::kCPU)->size(); }

int64_t ShdTask::train_batches(int64_t batch_size) const { return num_samples(Split::Train) / batch_size; }

std::shared_ptr<const ShdEvents> ShdTask::events(Split split, torch::Device device) const {
  std::lock_guard<std::mutex> lock(events_mutex_);
  auto it = events_.find(device.str());
  if (it == events_.end()) {  // first use of this device: the CPU form copied there, once
    const auto& cpu = events_.at("cpu");
    std::array<std::shared_ptr<const ShdEvents>, 3> on;
    for (size_t s = 0; s < on.size(); ++s) on[s] = std::make_shared<const ShdEvents>(cpu[s]->to(device));
    it = events_.emplace(device.str(), on).first;
  }
  return it->second[static_cast<size_t>(split)];
}

std::unique_ptr<BatchStream> ShdTask::stream(Split split, int64_t epoch, int64_t batch_size, uint64_t seed,
                                             torch::Device device) const {
  const bool train = split == Split::Train;
  auto events = this->events(split, device);
  std::vector<int64_t> order(events->size());
  std::iota(order.begin(), order.end(), 0);
  // The split's samples are in file order, so this is the permutation of the file's indices that
  // the run has always drawn.
  if (train) std::shuffle(order.begin(), order.end(), std::mt19937_64(epoch_seed(seed, epoch)));
  // On the CPU a producer thread gathers batches ahead of the step; on a device the gathers are
  // kernels queued on the compute stream, and the epoch's order goes there once (pinned memory,
  // no host wait). A CUDA batch is made dense in place: that is what its GEMM reads.
  const bool on_cpu = device.is_cpu(), sparse = opt_.sparse && on_cpu;
  auto host = torch::tensor(order, torch::kInt64);
  const auto order_dev = on_cpu ? host : (device.is_cuda() ? host.pin_memory() : host).to(device, true);
  auto pos = std::make_shared<size_t>(0);
  auto produce = [events, order = std::move(order), order_dev, pos, batch_size, train, sparse](Batch& b) {
    if (*pos >= order.size()) return false;
    const size_t end = std::min(order.size(), *pos + static_cast<size_t>(batch_size));
    if (train && end - *pos < static_cast<size_t>(batch_size)) return false;  // drop_last
    const std::vector<int64_t> samples(order.begin() + static_cast<std::ptrdiff_t>(*pos),
                                       order.begin() + static_cast<std::ptrdiff_t>(end));
    const auto idx = order_dev.slice(0, static_cast<int64_t>(*pos), static_cast<int64_t>(end));
    *pos = end;
    b.inputs = events->batch(idx, samples, sparse);
    b.labels = events->labels(idx);
    return true;
  };
  if (!on_cpu) return std::make_unique<DirectStream>(produce);
  return std::make_unique<PrefetchStream>(produce, static_cast<size_t>(opt_.prefetch));
}

}  // namespace sernn
