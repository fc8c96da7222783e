// Analysis measures against hand-computed values and independent naive implementations.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <numeric>

#include "analysis/analyze.h"
#include "analysis/graph_measures.h"
#include "analysis/measures.h"
#include "analysis/modularity.h"
#include "analysis/svg.h"
#include "core/geometry.h"

using namespace sernn;

namespace {
torch::Tensor mat(std::vector<double> v, int64_t n) { return torch::tensor(v, torch::kFloat64).view({n, n}); }

// Naive Leicht–Newman Q with BCT's conventions (a[i][j] = edge i -> j).
double naive_q(const torch::Tensor& a, const std::vector<int64_t>& c) {
  const int64_t n = a.size(0);
  std::vector<double> kin(n, 0), kout(n, 0);
  double m = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double w = a[i][j].item<double>();
      kout[i] += w, kin[j] += w, m += w;
    }
  double q = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j)
      if (c[i] == c[j]) q += a[i][j].item<double>() - kin[i] * kout[j] / m;
  return q / m;
}

// Same partition up to relabelling.
bool same_partition(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a.size(); ++j)
      if ((a[i] == a[j]) != (b[i] == b[j])) return false;
  return true;
}

torch::Tensor planted(int64_t modules, int64_t size, double p_in, double p_out, uint64_t seed) {
  torch::manual_seed(seed);
  const int64_t n = modules * size;
  auto block = torch::arange(n, torch::kInt64).div(size, "floor");
  auto same = block.unsqueeze(0).eq(block.unsqueeze(1));
  auto p = torch::where(same, torch::full({n, n}, p_in, torch::kFloat64), torch::full({n, n}, p_out, torch::kFloat64));
  auto a =
      (torch::rand({n, n}, torch::kFloat64) < p).to(torch::kFloat64) * (0.5 + torch::rand({n, n}, torch::kFloat64));
  a.fill_diagonal_(0);
  return a;
}
}  // namespace

TEST(Modularity, TwoDisconnectedTrianglesByHand) {
  // Cycles 0->1->2->0 and 3->4->5->3: m = 6, every k_in = k_out = 1, so within each group
  // Σ (A + Aᵀ) = 6 and the null term is 18 / 3 per group: Q = (12 - 6) / 12 = 0.5.
  auto a = torch::zeros({6, 6}, torch::kFloat64);
  for (auto [i, j] : std::vector<std::pair<int, int>>{{0, 1}, {1, 2}, {2, 0}, {3, 4}, {4, 5}, {5, 3}}) a[i][j] = 1;
  auto r = modularity_dir(a);
  EXPECT_NEAR(r.q, 0.5, 1e-12);
  EXPECT_TRUE(same_partition(r.communities, {1, 1, 1, 2, 2, 2}));
  EXPECT_EQ(*std::min_element(r.communities.begin(), r.communities.end()), 1) << "labels are 1-based";
}

TEST(Modularity, CompleteGraphIsIndivisible) {
  auto a = torch::ones({5, 5}, torch::kFloat64);
  a.fill_diagonal_(0);
  auto r = modularity_dir(a);
  EXPECT_EQ(r.communities, std::vector<int64_t>(5, 1));
  EXPECT_NEAR(r.q, 0.0, 1e-12);
}

TEST(Modularity, RecoversPlantedModules) {
  auto a = planted(4, 12, 0.6, 0.03, 3);
  auto r = modularity_dir(a);
  std::vector<int64_t> truth;
  for (int64_t i = 0; i < 48; ++i) truth.push_back(i / 12 + 1);
  EXPECT_TRUE(same_partition(r.communities, truth));
  EXPECT_GT(r.q, 0.5);
}

TEST(Modularity, ReportedQEqualsQOfReturnedCommunities) {
  for (uint64_t seed : {1, 2, 3}) {
    torch::manual_seed(seed);
    auto a =
        torch::rand({30, 30}, torch::kFloat64) * (torch::rand({30, 30}, torch::kFloat64) < 0.2).to(torch::kFloat64);
    auto r = modularity_dir(a);
    EXPECT_NEAR(r.q, naive_q(a, r.communities), 1e-12);
    EXPECT_GT(r.q, 0.0);
  }
}

TEST(Modularity, InvariantUnderNodeRelabelling) {
  auto a = planted(3, 10, 0.5, 0.08, 9);
  auto r = modularity_dir(a);
  auto perm = torch::randperm(30, torch::TensorOptions().dtype(torch::kInt64));
  auto pa = a.index_select(0, perm).index_select(1, perm);
  auto rp = modularity_dir(pa);
  EXPECT_NEAR(r.q, rp.q, 1e-10);
  std::vector<int64_t> back(30);
  for (int64_t k = 0; k < 30; ++k) back[perm[k].item<int64_t>()] = rp.communities[k];
  EXPECT_TRUE(same_partition(r.communities, back));
}

TEST(Measures, WeightEntropyClosedForm) {
  // Rows: uniform over 2 -> 1 bit, uniform over 4 -> 2 bits, zero row -> 0, single weight -> 0.
  auto w = mat({1, -1, 0, 0, 2, 2, -2, 2, 0, 0, 0, 0, 5, 0, 0, 0}, 4);
  EXPECT_NEAR(weight_entropy(w), (1.0 + 2.0 + 0.0 + 0.0) / 4.0, 1e-12);
  EXPECT_DOUBLE_EQ(total_weight(w), 15.0);
}

TEST(Measures, SpectrumClosedForm) {
  // Block diagonal: eigenvalues 3, -1 and ±2i.
  auto w = torch::zeros({4, 4}, torch::kFloat64);
  w[0][0] = 3, w[1][1] = -1, w[2][3] = -2, w[3][2] = 2;
  auto ev = eigenvalues(w);
  EXPECT_NEAR(ev[0][0].item<double>(), 3.0, 1e-12);
  EXPECT_NEAR(lambda_max(w), std::log(3.0), 1e-12);
  std::vector<double> p{3. / 8, 1. / 8, 2. / 8, 2. / 8};
  double h = 0;
  for (double x : p) h -= x * std::log2(x);
  EXPECT_NEAR(spectral_entropy(w), h, 1e-12);
  EXPECT_NEAR(symmetry(w), (9 + 1 + 0) / (9 + 1 + 8.0), 1e-12);  // the rotation block is antisymmetric
  EXPECT_NEAR(symmetry(w + w.t()), 1.0, 1e-12);
  EXPECT_EQ(lambda_max(-torch::eye(3, torch::kFloat64)), -INFINITY);
  // Two of the four eigenvalues are real; a symmetric matrix has only real ones, a rotation none.
  EXPECT_DOUBLE_EQ(real_eigenvalue_share(ev), 0.5);
  EXPECT_DOUBLE_EQ(real_eigenvalue_share(eigenvalues(w + w.t())), 1.0);
  auto rotation = torch::zeros({2, 2}, torch::kFloat64);
  rotation[0][1] = -1, rotation[1][0] = 1;
  EXPECT_DOUBLE_EQ(real_eigenvalue_share(eigenvalues(rotation)), 0.0);
  EXPECT_DOUBLE_EQ(real_eigenvalue_share(eigenvalues(torch::zeros({3, 3}, torch::kFloat64))), 1.0);
}

TEST(GraphMeasures, DirectedPathByHand) {
  auto a = mat({0, 1, 0, 0, 0, 1, 0, 0, 0}, 3);  // 0 -> 1 -> 2
  EXPECT_EQ(scc_count(a), 3);
  EXPECT_NEAR(global_efficiency(a), (1 + 1 + 0.5) / 6.0, 1e-12);
  EXPECT_NEAR(char_path_length(a), 4.0 / 3.0, 1e-12);
  EXPECT_EQ(betweenness(a), (std::vector<double>{0, 1, 0}));
  // Weights 2 and 1: normalised lengths 1 and 2.
  auto w = mat({0, 2, 0, 0, 0, 1, 0, 0, 0}, 3);
  auto d = shortest_path_lengths(w);
  EXPECT_NEAR(d[0][2].item<double>(), 3.0, 1e-12);
  EXPECT_TRUE(std::isinf(d[2][0].item<double>()));
}

TEST(GraphMeasures, DirectedCycleByHand) {
  auto a = mat({0, 1, 0, 0, 0, 1, 1, 0, 0}, 3);  // 0 -> 1 -> 2 -> 0
  EXPECT_EQ(scc_count(a), 1);
  EXPECT_NEAR(global_efficiency(a), (3 * 1.0 + 3 * 0.5) / 6.0, 1e-12);
  EXPECT_NEAR(char_path_length(a), 1.5, 1e-12);
  EXPECT_EQ(betweenness(a), (std::vector<double>{1, 1, 1}));
}

TEST(GraphMeasures, ClusteringClosedForms) {
  auto full = torch::ones({4, 4}, torch::kFloat64);
  full.fill_diagonal_(0);
  EXPECT_TRUE(torch::allclose(clustering_wd(full), torch::ones({4}, torch::kFloat64)));
  auto star = torch::zeros({4, 4}, torch::kFloat64);
  for (int i = 1; i < 4; ++i) star[0][i] = 1, star[i][0] = 1;
  EXPECT_EQ(clustering_wd(star).abs().sum().item<double>(), 0.0) << "no triangles";
  // Ring lattices are more clustered than their shuffles: sigma > 1.
  auto ring = torch::zeros({30, 30}, torch::kFloat64);
  for (int i = 0; i < 30; ++i)
    for (int k = 1; k <= 3; ++k) ring[i][(i + k) % 30] = 1, ring[(i + k) % 30][i] = 1;
  EXPECT_GT(small_world_sigma(ring, 5, 1), 1.0);
}

TEST(Analyze, ContractKeysOnA100NeuronMatrix) {
  torch::manual_seed(4);
  auto w =
      torch::randn({100, 100}, torch::kFloat64) * (torch::rand({100, 100}, torch::kFloat64) < 0.3).to(torch::kFloat64);
  auto j = analyze_matrix(w, grid_coordinates({5, 5, 4}), AnalysisOptions{});
  for (auto path :
       std::vector<std::pair<const char*, const char*>>{{"modularity", "q"},           {"modularity", "communities"},
                                                        {"entropy", "weights"},        {"entropy", "communicability"},
                                                        {"entropy", "spectral"},       {"spectrum", "lambda_max"},
                                                        {"spectrum", "eigenvalues"},   {"spectrum", "real_share"},
                                                        {"weight_distance", "r"},      {"weight_distance", "p"},
                                                        {"penalties", "l1"},           {"penalties", "space"},
                                                        {"penalties", "comm"},         {"penalties", "sernn"},
                                                        {"graph", "scc_count"},        {"graph", "global_efficiency"},
                                                        {"graph", "mean_clustering"},  {"graph", "betweenness"},
                                                        {"graph", "char_path_length"}, {"small_world", "sigma"}})
    EXPECT_TRUE(j.contains(path.first) && j[path.first].contains(path.second)) << path.first << "." << path.second;
  EXPECT_TRUE(j.contains("total_weight") && j.contains("symmetry"));
  EXPECT_EQ(j["modularity"]["communities"].size(), 100u);
  EXPECT_EQ(j["graph"]["betweenness"].size(), 100u);
  EXPECT_EQ(j["spectrum"]["eigenvalues"].size(), 100u);
  EXPECT_NEAR(j["penalties"]["l1"].get<double>(), w.abs().sum().item<double>(), 1e-9);
  EXPECT_NEAR(j["entropy"]["weights"].get<double>(), weight_entropy(w), 1e-12);
  const double p = j["weight_distance"]["p"].get<double>();
  EXPECT_GE(p, 0.0);
  EXPECT_LE(p, 1.0);
}

TEST(Analyze, WeightDistanceCorrelationAndPValue) {
  // p_ij grows linearly with distance on a line: r = 1, p = 0.
  const int64_t n = 6;
  auto coords = torch::zeros({n, 3}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) coords[i][0] = i;
  auto d = distance_matrix(coords);
  auto c = weight_distance_correlation(d, d);  // W = D: row-normalised p_ij is proportional to D_ij per row
  EXPECT_EQ(c.n, n * (n - 1));
  EXPECT_GT(c.r, 0.5);
  EXPECT_LT(c.p, 1e-3);
  // Independent weights: r near 0 and p large (seeded).
  torch::manual_seed(1);
  auto big = grid_coordinates({5, 5, 4});
  auto r = weight_distance_correlation(torch::rand({100, 100}, torch::kFloat64), distance_matrix(big));
  EXPECT_LT(std::abs(r.r), 0.05);
  EXPECT_GT(r.p, 0.01);
}

TEST(Svg, TickLabelsCarryTheDecimalsTheirSpacingNeedsAndNoMore) {
  // Epochs 0-10 (ticks every 2) used to read "2.0, 4.0" (issue 27).
  std::vector<double> epochs, share, loss;
  for (int e = 0; e <= 10; ++e) epochs.push_back(e), share.push_back(0.1 * e), loss.push_back(0.12 * e);
  const auto chart = svg::line_chart("t", "epoch", "share", {{"a", epochs, share, ""}});
  for (const char* label : {">0</text>", ">4</text>", ">10</text>", ">0.2</text>", ">1.0</text>"})
    EXPECT_NE(chart.find(label), std::string::npos) << label;
  EXPECT_EQ(chart.find(">4.0</text>"), std::string::npos);
  // 0-1.2: ticks every 0.25.
  const auto quarter = svg::line_chart("t", "epoch", "loss", {{"a", epochs, loss, ""}});
  for (const char* label : {">0.25</text>", ">0.50</text>", ">1.00</text>"})
    EXPECT_NE(quarter.find(label), std::string::npos) << label;
}
