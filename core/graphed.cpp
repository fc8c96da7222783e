#include "core/graphed.h"

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <sstream>

#ifdef SERNN_HAS_CUDA
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#endif

namespace sernn {
namespace {

std::atomic<bool>& graphs_switch() {
  static std::atomic<bool> on{[] {
    const char* env = std::getenv("SERNN_CUDA_GRAPHS");
    return !(env && std::string(env) == "0");
  }()};
  return on;
}

std::string signature(const std::vector<torch::Tensor>& inputs) {
  std::ostringstream key;
  for (const auto& t : inputs) key << t.sizes() << c10::toString(t.scalar_type()) << t.device() << ';';
  return key.str();
}

std::vector<torch::Tensor> run_eager(const GraphedFunction::Fn& fn, const std::vector<torch::Tensor>& inputs) {
  torch::NoGradGuard no_grad;
  return fn(inputs);
}

}  // namespace

bool cuda_graphs_enabled() { return graphs_switch().load(); }
void set_cuda_graphs(bool on) { graphs_switch().store(on); }

#ifdef SERNN_HAS_CUDA
struct GraphedFunction::Graph {
  at::cuda::CUDAGraph graph;
  std::vector<torch::Tensor> inputs, outputs;  // static: the graph reads and writes these
  std::mutex replay;                           // static buffers: one replay at a time
};
#else
struct GraphedFunction::Graph {};
#endif

GraphedFunction::GraphedFunction(Fn fn) : fn_(std::move(fn)) {}
GraphedFunction::~GraphedFunction() = default;

std::shared_ptr<GraphedFunction::Graph> GraphedFunction::graph_for(const std::vector<torch::Tensor>& inputs) {
#ifdef SERNN_HAS_CUDA
  const auto key = signature(inputs);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = graphs_.find(key); it != graphs_.end()) return it->second;
  auto g = std::make_shared<Graph>();
  try {
    torch::NoGradGuard no_grad;
    for (const auto& t : inputs) g->inputs.push_back(t.detach().clone());
    const auto device = inputs.front().device().index();
    // Capture on a side stream, after one eager run there (lazy initialisation: cuBLAS handles,
    // workspaces), with the static inputs ready (one host sync per signature, not per call).
    cudaDeviceSynchronize();
    auto stream = c10::cuda::getStreamFromPool(false, device);
    {
      c10::cuda::CUDAStreamGuard guard(stream);
      fn_(g->inputs);
      stream.synchronize();
      g->graph.capture_begin();
      g->outputs = fn_(g->inputs);
      g->graph.capture_end();
    }
    cudaDeviceSynchronize();
  } catch (const std::exception& e) {
    std::string what = e.what();
    std::cerr << "sernn: CUDA graph capture failed, running eagerly (" << what.substr(0, what.find('\n')) << ")\n";
    g = nullptr;
  }
  graphs_[key] = g;
  return g;
#else
  (void)inputs;
  return nullptr;
#endif
}

std::vector<torch::Tensor> GraphedFunction::operator()(const std::vector<torch::Tensor>& inputs) {
  if (inputs.empty() || !inputs.front().is_cuda() || !cuda_graphs_enabled()) return run_eager(fn_, inputs);
#ifdef SERNN_HAS_CUDA
  const auto g = graph_for(inputs);
  if (!g) return run_eager(fn_, inputs);
  torch::NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(g->replay);
  for (size_t i = 0; i < inputs.size(); ++i) g->inputs[i].copy_(inputs[i]);
  g->graph.replay();
  std::vector<torch::Tensor> out;
  out.reserve(g->outputs.size());
  for (const auto& t : g->outputs) out.push_back(t.clone());
  return out;
#else
  return run_eager(fn_, inputs);
#endif
}

}  // namespace sernn
