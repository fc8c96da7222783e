#pragma once
/// sernn's fused operators on PyTorch's dispatcher, for Python and TorchScript (issue 28).
///
/// One shared library (libsernn_ops.so) registers the namespace `sernn` with TORCH_LIBRARY; after
/// `torch.ops.load_library(path)` (the Python package `sernn` does it on import) they are
/// `torch.ops.sernn.<name>`. Each operator's computation is the C++ function the `sernn` program
/// trains with (models/lif_sequence.h, regularizers/), registered as its CompositeExplicitAutograd
/// kernel: the function picks the CPU loop or the CUDA kernel from the tensors' device, so one
/// registration serves CPU and CUDA. Its Autograd kernel is a node whose two halves are operators
/// too, so that torch.compile traces forward and backward into graphs (their fake kernels:
/// python/sernn/_fake.py): lif_network(_members) runs lif_network_fwd (which also returns the
/// membranes) and lif_network_bwd (the analytic backward); every other differentiable operator X
/// has X_backward, which runs the C++ function again with autograd on and returns the gradient of
/// its own analytic backward (one extra forward, small next to the LIF network's).
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
///   (read_tensors and pool_threads are host functions: composite, outside compiled graphs)
///   internal: lif_network_fwd, lif_network_bwd, input_projection(_members)_backward,
///   expm_backward, communicability_backward, wiring_penalty_backward, resolvent(_penalty)_backward
///
/// String arguments take the names of the config keys (DESIGN §7): reset = subtract |
/// subtract_decayed | zero | none, strength = in | out, grad = full | detached | autograd.
/// A bad name or shape is refused with a message naming the argument (a RuntimeError in Python).
#include "regularizers/communicability.h"
#include "regularizers/penalties.h"
