#include "analysis/graph_measures.h"

#include <cmath>
#include <limits>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/betweenness_centrality.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <boost/graph/strong_components.hpp>

namespace sernn {
namespace {

using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                    boost::property<boost::edge_weight_t, double>>;

torch::Tensor prepared(const torch::Tensor& a_) {
  auto a = a_.detach().to(torch::kCPU, torch::kFloat64).abs().clone();
  TORCH_CHECK(a.dim() == 2 && a.size(0) == a.size(1), "graph measures expect a square matrix, got ", a.sizes());
  a.fill_diagonal_(0.0);
  return a;
}

/// Graph with edge length 1 / (w / max w) for every nonzero off-diagonal weight.
Graph length_graph(const torch::Tensor& a) {
  const int64_t n = a.size(0);
  const double mx = a.max().item<double>();
  Graph g(static_cast<size_t>(n));
  auto acc = a.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (acc[i][j] > 0) boost::add_edge(static_cast<size_t>(i), static_cast<size_t>(j), mx / acc[i][j], g);
  return g;
}

}  // namespace

int64_t scc_count(const torch::Tensor& a_) {
  const auto a = prepared(a_);
  const auto g = length_graph(a);
  std::vector<int> comp(boost::num_vertices(g));
  return boost::strong_components(g,
                                  boost::make_iterator_property_map(comp.begin(), boost::get(boost::vertex_index, g)));
}

torch::Tensor shortest_path_lengths(const torch::Tensor& a_) {
  const auto a = prepared(a_);
  const int64_t n = a.size(0);
  const auto g = length_graph(a);
  auto d = torch::full({n, n}, std::numeric_limits<double>::infinity(), torch::kFloat64);
  auto da = d.accessor<double, 2>();
  std::vector<double> dist(n);
  for (int64_t s = 0; s < n; ++s) {
    boost::dijkstra_shortest_paths(g, static_cast<size_t>(s), boost::distance_map(dist.data()));
    for (int64_t t = 0; t < n; ++t)
      da[s][t] = dist[t] == std::numeric_limits<double>::max() ? std::numeric_limits<double>::infinity() : dist[t];
  }
  return d;
}

double global_efficiency(const torch::Tensor& a) {
  const auto d = shortest_path_lengths(a);
  const int64_t n = d.size(0);
  if (n < 2) return 0.0;
  auto inv = 1.0 / d;
  inv.fill_diagonal_(0.0);
  return inv.sum().item<double>() / static_cast<double>(n * (n - 1));
}

double char_path_length(const torch::Tensor& a) {
  auto d = shortest_path_lengths(a);
  d.fill_diagonal_(std::numeric_limits<double>::infinity());
  auto finite = torch::isfinite(d);
  const int64_t count = finite.sum().item<int64_t>();
  return count ? d.masked_select(finite).mean().item<double>() : std::numeric_limits<double>::infinity();
}

std::vector<double> betweenness(const torch::Tensor& a_) {
  const auto a = prepared(a_);
  const auto g = length_graph(a);
  std::vector<double> bc(boost::num_vertices(g), 0.0);
  boost::brandes_betweenness_centrality(
      g, boost::centrality_map(boost::make_iterator_property_map(bc.begin(), boost::get(boost::vertex_index, g)))
             .weight_map(boost::get(boost::edge_weight, g)));
  return bc;
}

torch::Tensor clustering_wd(const torch::Tensor& a_) {
  auto a = prepared(a_);
  const double mx = a.max().item<double>();
  if (mx > 0) a = a / mx;
  auto a_bin = (a > 0).to(torch::kFloat64);
  auto s = a.pow(1.0 / 3.0) + a.pow(1.0 / 3.0).t();
  auto k = (a_bin + a_bin.t()).sum(1);
  auto cyc3 = torch::matrix_power(s, 3).diagonal() / 2.0;
  auto kd = k * (k - 1) - 2 * a_bin.matmul(a_bin).diagonal();
  auto c = torch::where(kd > 0, cyc3 / torch::where(kd > 0, kd, torch::ones_like(kd)), torch::zeros_like(kd));
  return c;
}

double small_world_sigma(const torch::Tensor& a_, int64_t nulls, uint64_t seed) {
  const auto a = prepared(a_);
  const int64_t n = a.size(0);
  const double c = clustering_wd(a).mean().item<double>(), l = char_path_length(a);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto off = 1.0 - torch::eye(n, torch::kFloat64);
  auto mask = off.to(torch::kBool);
  auto values = a.masked_select(mask);
  double c_null = 0, l_null = 0;
  for (int64_t k = 0; k < nulls; ++k) {
    auto perm = torch::randperm(values.size(0), gen, torch::kInt64);
    auto r = torch::zeros_like(a);
    r.masked_scatter_(mask, values.index_select(0, perm));
    c_null += clustering_wd(r).mean().item<double>() / nulls;
    l_null += char_path_length(r) / nulls;
  }
  if (!(c_null > 0) || !(l > 0) || !std::isfinite(l) || !std::isfinite(l_null)) return std::nan("");
  return (c / c_null) / (l / l_null);
}

}  // namespace sernn
