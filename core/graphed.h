#pragma once
/// A function of tensors replayed from a CUDA graph (issue 14). On a GPU, small kernels cost their
/// launch, not their arithmetic: the communicability penalty of a 100-neuron network is about a
/// hundred kernels (1-2 ms of launches on an H200 for microseconds of work). A graph captured once
/// per input signature replays all of them as one launch.
///
///     GraphedFunction f([](const std::vector<Tensor>& in) { return std::vector<Tensor>{...}; });
///     auto out = f({a, b});   // fn({a, b}), from a graph on CUDA
///
/// Contract for fn: a pure function of its inputs (same shapes in, same shapes out), no host reads
/// (`item()`, data-dependent shapes), no autograd (it runs under NoGradGuard). Each call copies
/// the inputs into the graph's static inputs, replays, and returns fresh copies of the outputs, so
/// outputs of one call survive the next. One graph per (shapes, dtypes, device) signature.
///
/// Where graphs are not available fn runs eagerly: CPU tensors, a Torch without CUDA, graphs
/// switched off (set_cuda_graphs(false), or SERNN_CUDA_GRAPHS=0 in the environment), or a capture
/// that failed (the reason is printed once and that signature stays eager).
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// Whether GraphedFunction captures graphs (default on unless SERNN_CUDA_GRAPHS=0).
bool cuda_graphs_enabled();
void set_cuda_graphs(bool on);

class GraphedFunction {
 public:
  using Fn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;
  explicit GraphedFunction(Fn fn);
  ~GraphedFunction();
  GraphedFunction(const GraphedFunction&) = delete;
  GraphedFunction& operator=(const GraphedFunction&) = delete;

  std::vector<torch::Tensor> operator()(const std::vector<torch::Tensor>& inputs);

 private:
  struct Graph;
  std::shared_ptr<Graph> graph_for(const std::vector<torch::Tensor>& inputs);
  Fn fn_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Graph>> graphs_;  // by signature; null: stays eager
};

}  // namespace sernn
