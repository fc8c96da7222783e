#pragma once
/// Data-parallel training over processes with LibTorch's c10d: a TCPStore rendezvous at
/// master_addr:master_port and a Gloo process group (CPU tensors; loopback or a cluster network).
#include <memory>
#include <string>

#include "core/collective.h"

namespace sernn {

struct DistributedOptions {
  int64_t world_size = 1;
  int64_t rank = 0;
  std::string master_addr = "127.0.0.1";
  int64_t master_port = 29500;
};

/// Fills unset fields from torchrun-style environment variables WORLD_SIZE, RANK, MASTER_ADDR
/// and MASTER_PORT (flags win). InputError on values out of range.
DistributedOptions distributed_from_env(DistributedOptions flags, bool world_flag, bool rank_flag, bool addr_flag,
                                        bool port_flag);

/// True when this build has c10d with Gloo.
bool distributed_available();

/// Joins the process group (blocks until all ranks are there). Throws if unavailable.
std::shared_ptr<Collective> make_gloo_collective(const DistributedOptions& options);

}  // namespace sernn
