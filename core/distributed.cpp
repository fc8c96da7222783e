#include "core/distributed.h"

#include <cstdlib>

#include <fmt/format.h>

#include "core/errors.h"
#include "sernn_build_config.h"

#if SERNN_HAS_C10D
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

namespace sernn {

DistributedOptions distributed_from_env(DistributedOptions o, bool world_flag, bool rank_flag, bool addr_flag,
                                        bool port_flag) {
  auto env_int = [](const char* name, int64_t& out) {
    if (const char* v = std::getenv(name)) {
      try {
        out = std::stoll(v);
      } catch (const std::exception&) {
        throw InputError(fmt::format("environment variable {}='{}' is not an integer", name, v));
      }
    }
  };
  if (!world_flag) env_int("WORLD_SIZE", o.world_size);
  if (!rank_flag) env_int("RANK", o.rank);
  if (!port_flag) env_int("MASTER_PORT", o.master_port);
  if (!addr_flag)
    if (const char* v = std::getenv("MASTER_ADDR")) o.master_addr = v;
  if (o.world_size < 1) throw InputError(fmt::format("--world-size {} must be at least 1", o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    throw InputError(fmt::format("--rank {} outside 0..{}", o.rank, o.world_size - 1));
  if (o.master_port < 1 || o.master_port > 65535)
    throw InputError(fmt::format("--master-port {} outside 1..65535", o.master_port));
  return o;
}

#if SERNN_HAS_C10D

namespace {

class GlooCollective : public Collective {
 public:
  explicit GlooCollective(const DistributedOptions& o) : rank_(o.rank), size_(o.world_size) {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(o.master_port);
    so.isServer = o.rank == 0;
    so.numWorkers = static_cast<std::size_t>(o.world_size);
    so.timeout = std::chrono::milliseconds(120000);
    store_ = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(120000));
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(o.master_addr));
    group_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, static_cast<int>(o.rank),
                                                         static_cast<int>(o.world_size), opts);
  }
  int64_t rank() const override { return rank_; }
  int64_t size() const override { return size_; }
  void allreduce_sum(std::vector<torch::Tensor>& tensors) override {
    if (tensors.empty()) return;
    // Gloo reduces lists of same-shaped tensors (one per device); ours differ, so they travel
    // as one flat float64 buffer and are copied back.
    std::vector<torch::Tensor> flat_parts;
    for (const auto& t : tensors) flat_parts.push_back(t.detach().reshape({-1}).to(torch::kFloat64));
    std::vector<torch::Tensor> buffer{torch::cat(flat_parts)};
    group_->allreduce(buffer)->wait();
    int64_t offset = 0;
    for (auto& t : tensors) {
      const int64_t n = t.numel();
      t.detach().copy_(buffer[0].slice(0, offset, offset + n).view(t.sizes()));
      offset += n;
    }
  }

 private:
  int64_t rank_, size_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group_;
};

}  // namespace

bool distributed_available() { return true; }

std::shared_ptr<Collective> make_gloo_collective(const DistributedOptions& o) {
  return std::make_shared<GlooCollective>(o);
}

#else

bool distributed_available() { return false; }

std::shared_ptr<Collective> make_gloo_collective(const DistributedOptions&) {
  throw InputError(
      "data-parallel training needs LibTorch's c10d with Gloo headers (Debian: libgloo-dev); this build has none");
}

#endif

}  // namespace sernn
