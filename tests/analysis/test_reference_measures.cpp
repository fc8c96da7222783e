// The seed-000 measures of `sernn analyze` against numbers computed from the reference's formulas
// (rate_generate_statistics.m / spiking_generate_statistics.m) by an independent numpy script,
// tests/analysis/fixtures/reference_measures.py, whose output is the fixture read here: both
// layouts (rate: the reference saw W^T; spiking: W), H(C) with its diagonal, a pruned matrix.
#include <gtest/gtest.h>

#include "analysis/analyze.h"
#include "core/io.h"

using namespace sernn;

namespace {

torch::Tensor matrix(const nlohmann::json& rows) {
  std::vector<double> flat;
  for (const auto& r : rows)
    for (double v : r) flat.push_back(v);
  const auto n = static_cast<int64_t>(rows.size());
  return torch::tensor(flat, torch::kFloat64).view({n, static_cast<int64_t>(flat.size()) / n});
}

const nlohmann::json& fixture() {
  static const auto j = read_json(std::string(SERNN_SOURCE_DIR) + "/tests/analysis/fixtures/reference_measures.json");
  return j;
}

}  // namespace

TEST(ReferenceMeasures, MatchTheReferenceFormulasInBothLayouts) {
  const auto coords = matrix(fixture()["coords"]);
  ASSERT_EQ(fixture()["cases"].size(), 3u);
  for (const auto& c : fixture()["cases"]) {
    const std::string name = c["name"], layout = c["layout"];
    AnalysisOptions o;
    o.strength = layout == "rows_presynaptic" ? Strength::Out : Strength::In;
    o.nulls = 1;
    const auto j = analyze_matrix(matrix(c["weights"]), coords, o);
    const auto& e = c["expected"];
    EXPECT_EQ(j["layout"], layout) << name;
    EXPECT_NEAR(j["entropy"]["weights"].get<double>(), e["entropy_weights"].get<double>(), 1e-9) << name;
    EXPECT_NEAR(j["entropy"]["communicability"].get<double>(), e["entropy_communicability"].get<double>(), 1e-9)
        << name;
    EXPECT_NEAR(j["entropy"]["spectral"].get<double>(), e["entropy_spectral"].get<double>(), 1e-9) << name;
    EXPECT_NEAR(j["total_weight"].get<double>(), e["total_weight"].get<double>(), 1e-9) << name;
    EXPECT_NEAR(j["weight_distance"]["r_reference"].get<double>(), e["r_reference"].get<double>(), 1e-9) << name;
    if (e["lambda_max"].is_null()) EXPECT_TRUE(j["spectrum"]["lambda_max"].is_null()) << name;
    else EXPECT_NEAR(j["spectrum"]["lambda_max"].get<double>(), e["lambda_max"].get<double>(), 1e-9) << name;
  }
}

TEST(ReferenceMeasures, LayoutDecidesWhichIndexTheEntropiesRunOver) {
  // The same matrix read in the other layout is a different measurement (the rate reference
  // normalises the rows of W^T, i.e. each presynaptic neuron's outgoing weights): the fixture's
  // rate case analysed as rows_postsynaptic must not reproduce the reference's numbers.
  const auto& c = fixture()["cases"][0];
  ASSERT_EQ(c["layout"], "rows_presynaptic");
  AnalysisOptions o;
  o.strength = Strength::In;
  o.nulls = 1;
  const auto j = analyze_matrix(matrix(c["weights"]), matrix(fixture()["coords"]), o);
  EXPECT_GT(std::abs(j["entropy"]["weights"].get<double>() - c["expected"]["entropy_weights"].get<double>()), 1e-3);
  EXPECT_GT(
      std::abs(j["entropy"]["communicability"].get<double>() - c["expected"]["entropy_communicability"].get<double>()),
      1e-3);
}
