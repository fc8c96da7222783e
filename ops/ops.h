#pragma once
/// sernn's fused operators on PyTorch's dispatcher, for Python and TorchScript (issue 28).
///
/// One shared library (libsernn_ops.so) registers the namespace `sernn` with TORCH_LIBRARY; after
/// `torch.ops.load_library(path)` (the Python package `sernn` does it on import) they are
/// `torch.ops.sernn.<name>`. Every operator is the C++ function the `sernn` program trains with
/// (models/lif_sequence.h, regularizers/), registered as a composite kernel: its autograd is the
/// C++ autograd function's analytic backward, and the function itself picks the CPU loop or the
/// CUDA kernel from the tensors' device, so one registration serves CPU and CUDA.
///
///   lif_network(drive [T,B,N], weight [N,N], beta [N], readout_weight [C,N], readout_bias [C],
///               readout_beta [C], threshold, slope, reset) -> (readout_mem [T,B,C],
///               spikes [T,B,N] uint8, counts [B,N])
///   lif_network_members: the same with a leading member dimension K on every argument and result
///   input_projection(x [T,B,I] dense or sparse COO, weight [O,I], bias [O], max_density) -> [T,B,O]
///   input_projection_members(x [T,B,I] shared by K members, weight [K,O,I], bias [K,O]) -> [K,T,B,O]
///   expm(x [...,N,N]);  communicability / communicability_detached(weight, strength)
///   wiring_penalty(weight, kind, distance?, grad, strength, comms_factor) -> [] or [K]
///   resolvent(weight, alpha);  resolvent_penalty(weight, alpha) -> [] or [K]
///   read_tensors(path, names) -> the tensors `names` ("input.weight", ...) of a saved module,
///                     read with the checks of core/archive.h (InputError naming the file)
///   pool_threads() -> the threads of sernn's CPU pool, which every operator sets to
///                     torch.get_num_threads() when it is called
///
/// String arguments take the names of the config keys (DESIGN §7): reset = subtract |
/// subtract_decayed | zero | none, strength = in | out, grad = full | detached | autograd.
/// A bad name or shape is refused with a message naming the argument (a RuntimeError in Python).
#include "regularizers/communicability.h"
#include "regularizers/penalties.h"
