// `sernn analyze` and `sernn report` through the program, and the report rendered in headless
// Chromium.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/seed000_report.h"

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <regex>
#include <tuple>

#include <fmt/format.h>

#include "run/setup.h"
#include "core/io.h"
#include "test_helpers.h"

using namespace sernn;
namespace fs = std::filesystem;

namespace {
int run_cli(const std::string& args, const std::string& out, const std::string& err) {
  const int rc = std::system((std::string(SERNN_BINARY) + " " + args + " > " + out + " 2> " + err).c_str());
  return WEXITSTATUS(rc);
}

/// Number of <svg> elements in an HTML page.
size_t count_svgs(const std::string& html) {
  size_t n = 0;
  for (size_t p = html.find("<svg"); p != std::string::npos; p = html.find("<svg", p + 1)) ++n;
  return n;
}

std::string small_run(const std::string& dir) {
  Config c;
  c.set("regularizer.kind=sernn");
  c.set("regularizer.gamma=0.01");
  c.set("task.train_size=256");
  c.set("task.val_size=64");
  c.set("task.test_size=64");
  c.set("train.epochs=3");
  c.set("train.batch_size=32");
  c.set("train.threads=2");
  train_run(c, dir + "/run", false, true);
  return dir + "/run";
}
}  // namespace

TEST(AnalyzeCli, RunDirectoryGivesOneObjectPerEpoch) {
  const auto dir = sernn::testing::temp_dir("an");
  const auto run = small_run(dir);
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(run_cli("analyze " + run, dir + "/out.txt", dir + "/err.txt"), 0) << read_file(dir + "/err.txt");
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "sernn analyze of 4 snapshots (100 x 100): " << secs << " s\n";
  auto j = nlohmann::json::parse(read_file(run + "/analysis.json"));
  ASSERT_EQ(j.size(), 4u);
  for (int e = 0; e < 4; ++e) {
    EXPECT_EQ(j[e]["epoch"], e);
    EXPECT_EQ(j[e]["modularity"]["communities"].size(), 100u);
  }
  // Rate runs: fixed points and the Jacobian spectrum of the last epoch's model.
  const auto& dyn = j[3]["dynamics"];
  ASSERT_TRUE(dyn.is_object()) << j[3].dump().substr(0, 300);
  ASSERT_GE(dyn["fixed_points"].size(), 1u);
  EXPECT_LT(dyn["fixed_points"][0]["q"].get<double>(), 1e-16);
  EXPECT_EQ(dyn["jacobian_eigenvalues"].size(), 100u);
  double edge = -1e300;
  for (const auto& e : dyn["jacobian_eigenvalues"]) edge = std::max(edge, e[0].get<double>());
  EXPECT_DOUBLE_EQ(dyn["spectral_edge"].get<double>(), edge);
  EXPECT_EQ(dyn["stable"].get<bool>(), edge < 0);
  EXPECT_FALSE(j[2].contains("dynamics")) << "only the last epoch";
  // Every run: the hop decomposition of the last model's input -> output pathways, checked
  // against an explicit matrix power.
  const auto& hops = j[3]["pathways"];
  ASSERT_TRUE(hops.is_object()) << j[3].dump().substr(0, 300);
  ASSERT_EQ(hops["mass"].size(), 9u);
  const auto loaded = load_run(run);
  auto params = loaded.network->named_parameters();
  const auto abs64 = [](const torch::Tensor& t) { return t.detach().abs().to(torch::kFloat64); };
  const auto a = abs64(loaded.network->recurrent_weight()) * (0.5 / hops["rho_abs"].get<double>());
  const double m2 = abs64(params["readout.weight"])
                        .matmul(torch::linalg_matrix_power(a, 2))
                        .matmul(abs64(params["input.weight"]))
                        .sum()
                        .item<double>();
  EXPECT_NEAR(hops["mass"][2].get<double>(), m2, 1e-5 * m2);
  EXPECT_FALSE(j[2].contains("pathways")) << "only the last epoch";
}

TEST(AnalyzeCli, SingleMatrixPrintsJsonAndRejectsBadFiles) {
  const auto dir = sernn::testing::temp_dir("an1");
  const auto out = dir + "/out.txt", err = dir + "/err.txt";
  sernn::testing::write_text(dir + "/w.csv", "0,1,0\n0,0,2\n3,0,0\n");
  ASSERT_EQ(run_cli("analyze --weights " + dir + "/w.csv --json", out, err), 0) << read_file(err);
  auto j = nlohmann::json::parse(read_file(out));
  EXPECT_EQ(j["n"], 3);
  EXPECT_TRUE(j["penalties"]["space"].is_null()) << "no coordinates for N = 3";
  EXPECT_EQ(j["graph"]["scc_count"], 1);

  sernn::testing::write_text(dir + "/shape.csv", "0,1\n0,0\n3,0\n");
  EXPECT_EQ(run_cli("analyze --weights " + dir + "/shape.csv", out, err), 2);
  EXPECT_NE(read_file(err).find("shape.csv"), std::string::npos) << read_file(err);
  sernn::testing::write_text(dir + "/cell.csv", "0,1\nx,0\n");
  EXPECT_EQ(run_cli("analyze --weights " + dir + "/cell.csv", out, err), 2);
  EXPECT_NE(read_file(err).find("cell.csv:2"), std::string::npos) << read_file(err);
  sernn::testing::write_text(dir + "/nan.csv", "0,1\nnan,0\n");
  EXPECT_EQ(run_cli("analyze --weights " + dir + "/nan.csv", out, err), 2);
  EXPECT_EQ(run_cli("analyze /nonexistent/run", out, err), 2);
}

TEST(ReportCli, HtmlRendersInHeadlessChromiumWithAllPlots) {
  const auto dir = sernn::testing::temp_dir("rep");
  const auto run = small_run(dir);
  const auto out = dir + "/out.txt", err = dir + "/err.txt";
  ASSERT_EQ(run_cli("report " + run + " --out " + dir + "/report.html", out, err), 0) << read_file(err);
  const auto html = read_file(dir + "/report.html");
  // Self-contained: nothing is loaded from elsewhere.
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("href="), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  const size_t svgs = count_svgs(html);
  EXPECT_EQ(svgs, 10u) << "loss, accuracy, Q, entropy, lambda_max, heatmap, spectrum, Jacobian spectrum, pathway hops, "
                          "p-vs-distance";
  EXPECT_NE(html.find("pathways by hop length"), std::string::npos);
  EXPECT_NE(html.find("Jacobian at the main fixed point"), std::string::npos);

  const char* chromium = std::getenv("SERNN_CHROMIUM") ? std::getenv("SERNN_CHROMIUM") : "/usr/bin/chromium";
  if (!fs::exists(chromium)) GTEST_SKIP() << "chromium not installed (scripts/install-deps.sh installs it)";
  const auto profile = dir + "/profile";
  const std::string cmd = std::string(chromium) +
                          " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run"
                          " --disable-background-networking --disable-component-update --disable-sync"
                          " --user-data-dir=" +
                          profile + " --dump-dom file://" + dir + "/report.html";
  const int rc = std::system((cmd + " > " + dir + "/dom.html 2> " + dir + "/chromium.log").c_str());
  ASSERT_EQ(WEXITSTATUS(rc), 0) << read_file(dir + "/chromium.log");
  const auto dom = read_file(dir + "/dom.html");
  // The inline script ran after the SVGs were parsed and counted them.
  EXPECT_NE(dom.find("data-plots=\"10\""), std::string::npos) << dom.substr(0, 400);
}

TEST(ReportCli, SweepReportPlotsMetricsAgainstGammaWithTheAccuracyFilter) {
  const auto dir = sernn::testing::temp_dir("sweeprep");
  // An independent, hand-written results.csv (the columns sernn sweep writes).
  sernn::testing::write_text(dir + "/results.csv",
                             "group,gamma,seed,status,epochs,train_acc,val_acc,test_acc,task_loss,q,entropy_weights,"
                             "entropy_communicability,entropy_spectral,lambda_max,total_weight,run_dir\n"
                             "l1,0.01,1,finished,10,0.95,0.94,0.93,0.2,0.30,5.1,6.0,6.5,0.1,500,runs/a\n"
                             "l1,0.1,1,finished,10,0.50,0.50,0.40,1.0,0.35,4.9,6.0,6.4,0.0,300,runs/b\n"
                             "sernn,0.01,1,finished,10,0.97,0.96,0.95,0.1,0.40,4.5,5.8,6.2,-0.2,450,runs/c\n"
                             "sernn,0.1,1,diverged,3,,,,,,,,,,,runs/d\n");
  sernn::testing::write_text(dir + "/base_config.json", "{\"model\": {\"kind\": \"rate\"}}");
  const auto out = dir + "/out.txt", err = dir + "/err.txt";
  ASSERT_EQ(run_cli("report " + dir + " --out " + dir + "/all.html", out, err), 0) << read_file(err);
  ASSERT_EQ(run_cli("report " + dir + " --filter --out " + dir + "/f.html", out, err), 0) << read_file(err);
  const auto all = read_file(dir + "/all.html"), filtered = read_file(dir + "/f.html");
  EXPECT_NE(all.find("4 runs, 4 shown"), std::string::npos);
  EXPECT_NE(filtered.find("4 runs, 2 shown (test accuracy ≥ 90 %)"), std::string::npos) << filtered.substr(0, 600);
  const size_t svgs = count_svgs(all);
  EXPECT_EQ(svgs, 5u) << "Q, H, lambda_max, spectral entropy, accuracy against gamma";
  EXPECT_NE(all.find(">sernn</text>"), std::string::npos) << "a legend entry per group";
}

namespace {
/// A hand-written sweep directory: results and per-epoch rows of four networks; the accurate
/// ones (a, c, e) make the figures, b fails the 0.9 filter.
void write_seed000_sweep(const std::string& dir) {
  sernn::testing::write_text(dir + "/results.csv",
                             "group,gamma,seed,status,epochs,train_acc,val_acc,test_acc,task_loss,q,entropy_weights,"
                             "entropy_communicability,entropy_spectral,lambda_max,total_weight,run_dir\n"
                             "l1,0.01,1,finished,1,0.95,0.94,0.93,0.2,0.30,5.1,6.0,6.5,0.1,500,runs/a\n"
                             "l1,0.1,1,finished,1,0.50,0.50,0.40,1.0,0.35,4.9,6.0,6.4,0.0,300,runs/b\n"
                             "sernn,0.01,1,finished,1,0.97,0.96,0.95,0.1,0.40,4.5,5.8,6.2,-0.2,450,runs/c\n"
                             "sernn,0.02,1,finished,1,0.97,0.96,0.95,0.1,0.50,4.4,5.7,6.1,-0.3,100,runs/e\n");
  std::string epochs =
      "group,gamma,seed,epoch,train_acc,val_acc,test_acc,task_loss,q,entropy_weights,entropy_communicability,"
      "entropy_spectral,lambda_max,total_weight,r_weight_distance,run_dir\n";
  for (const char* row : {"l1,0.01,1,0,,,,,0.1,6,6.5,6.6,0.2,900,0.0,runs/a",
                          "l1,0.01,1,1,0.95,0.94,0.93,0.2,0.3,5.1,6.0,6.5,0.1,500,-0.1,runs/a",
                          "l1,0.1,1,0,,,,,0.1,6,6.5,6.6,0.2,900,0.0,runs/b",
                          "l1,0.1,1,1,0.5,0.5,0.4,1.0,0.35,4.9,6.0,6.4,0.0,300,-0.1,runs/b",
                          "sernn,0.01,1,0,,,,,0.1,6,6.5,6.6,0.2,900,0.0,runs/c",
                          "sernn,0.01,1,1,0.97,0.96,0.95,0.1,0.4,4.5,5.8,6.2,-0.2,450,-0.3,runs/c",
                          "sernn,0.02,1,0,,,,,0.1,6,6.5,6.6,0.2,900,0.0,runs/e",
                          "sernn,0.02,1,1,0.97,0.96,0.95,0.1,0.5,4.4,5.7,6.1,-0.3,100,-0.5,runs/e"})
    epochs += std::string(row) + "\n";
  sernn::testing::write_text(dir + "/results_epochs.csv", epochs);
  sernn::testing::write_text(dir + "/base_config.json", "{\"model\": {\"kind\": \"rate\"}}");
}
}  // namespace

TEST(ReportCli, SweepReportDrawsTheSeed000FiguresFromEveryEpoch) {
  // Hand-written results and per-epoch rows: the accurate networks (a, c, e) make the figures;
  // b fails the 0.9 filter. The matched-weight table puts a (Σ|W| 500) and c (450) in one bin.
  const auto dir = sernn::testing::temp_dir("seed000rep");
  write_seed000_sweep(dir);
  const auto out = dir + "/out.txt", err = dir + "/err.txt";
  ASSERT_EQ(run_cli("report " + dir + " --filter --out " + dir + "/f.html", out, err), 0) << read_file(err);
  const auto html = read_file(dir + "/f.html");
  EXPECT_NE(html.find("Seed 000 figures"), std::string::npos);
  EXPECT_NE(html.find("3 accurate networks (final test accuracy ≥ 90 %) of 4"), std::string::npos) << html;
  EXPECT_EQ(count_svgs(html), 5u + 7u) << "the γ plots, then Fig 2a, 2b, 2c, 3, 4a, 5a, 5b";
  for (const char* title : {"Q (Fig 2a)", "H(W) (Fig 2b)", "Q (Fig 2c, every network)", "corr(|W|, D) (Fig 3)",
                            "H(C) (Fig 4a)", "λ_max (Fig 5a)", "Spectral entropy (Fig 5b)"})
    EXPECT_NE(html.find(title), std::string::npos) << title;
  // Σ|W| bins from 100 to 500: sernn's c (450) shares the last bin with l1's a (500).
  EXPECT_NE(html.find("<td>420–500</td><td>l1</td><td>1</td><td>0.3</td>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>420–500</td><td>sernn</td><td>1</td><td>0.4</td><td>4.5</td><td>5.8</td><td>-0.3</td>"),
            std::string::npos);
  EXPECT_EQ(html.find("<td>l1</td><td>2</td>"), std::string::npos) << "b is not accurate";
}

TEST(ReportCli, SweepReportDrawsFig5cShapeFromTheRunsEpochMeasures) {
  // Each run's epoch_measures.json (as sernn sweep caches it) carries the symmetry and the share of
  // real eigenvalues; the report plots both per epoch and puts them in the matched-weight table.
  const auto dir = sernn::testing::temp_dir("seed000shape");
  write_seed000_sweep(dir);
  for (const auto& [run, sym, real] : std::vector<std::tuple<std::string, double, double>>{
           {"a", 0.6, 0.25}, {"b", 0.5, 0.5}, {"c", 0.98, 0.875}, {"e", 0.99, 1.0}}) {
    std::filesystem::create_directories(dir + "/runs/" + run);
    sernn::testing::write_text(dir + "/runs/" + run + "/epoch_measures.json",
                               fmt::format(R"({{"0": {{"symmetry": 0.5, "spectrum": {{"real_share": 0.125}}}},)"
                                           R"( "1": {{"symmetry": {}, "spectrum": {{"real_share": {}}}}}}})",
                                           sym, real));
  }
  const auto out = dir + "/out.txt", err = dir + "/err.txt";
  ASSERT_EQ(run_cli("report " + dir + " --filter --out " + dir + "/f.html", out, err), 0) << read_file(err);
  const auto html = read_file(dir + "/f.html");
  EXPECT_EQ(count_svgs(html), 5u + 7u + 2u) << "the seed-000 figures, then Fig 5c's real share and symmetry";
  EXPECT_NE(html.find("Share of real eigenvalues (Fig 5c)"), std::string::npos);
  EXPECT_NE(html.find("Symmetry of W (Fig 5c)"), std::string::npos);
  // The last epoch's values of the accurate networks in each bin (c alone in sernn's 420-500 bin).
  EXPECT_NE(html.find("<td>-0.3</td><td>0.98</td><td>0.875</td></tr>"), std::string::npos) << html;
  EXPECT_NE(html.find("<td>-0.1</td><td>0.6</td><td>0.25</td></tr>"), std::string::npos) << html;
  // Without the caches (the other test) the columns read "–" and the two plots are left out.
}

TEST(Seed000Report, MeanAndTwoStandardErrors) {
  const auto [m, se2] = mean_2se({1.0, 2.0, 3.0, std::nan("")});
  EXPECT_DOUBLE_EQ(m, 2.0);
  EXPECT_DOUBLE_EQ(se2, 2.0 * 1.0 / std::sqrt(3.0));  // sample sd 1
  EXPECT_TRUE(std::isnan(mean_2se({}).first));
  EXPECT_EQ(mean_2se({5.0}).second, 0.0);
}

TEST(ReportCli, SweepOverAnotherKeyPlotsAgainstItsValuesWithPathwayHops) {
  const auto dir = sernn::testing::temp_dir("paramrep");
  sernn::testing::write_text(
      dir + "/results.csv",
      "group,gamma,seed,status,epochs,train_acc,val_acc,test_acc,task_loss,q,entropy_weights,"
      "entropy_communicability,entropy_spectral,lambda_max,total_weight,run_dir,mean_hops,param,value\n"
      "l1,0.01,1,finished,10,0.95,0.94,0.93,0.2,0.30,5.1,6.0,6.5,0.1,500,runs/a,1.5,prune.final_sparsity,0\n"
      "l1,0.01,1,finished,10,0.90,0.90,0.91,0.3,0.35,4.9,6.0,6.4,0.0,300,runs/b,1.2,prune.final_sparsity,0.9\n");
  sernn::testing::write_text(dir + "/base_config.json", "{\"model\": {\"kind\": \"rate\"}}");
  const auto out = dir + "/out.txt", err = dir + "/err.txt";
  ASSERT_EQ(run_cli("report " + dir + " --out " + dir + "/all.html", out, err), 0) << read_file(err);
  const auto all = read_file(dir + "/all.html");
  const size_t svgs = count_svgs(all);
  EXPECT_EQ(svgs, 6u) << "five metrics and the mean pathway hops";
  EXPECT_NE(all.find("Mean pathway hops against prune.final_sparsity"), std::string::npos);
  EXPECT_EQ(all.find("against γ"), std::string::npos);
}

TEST(ReportCli, ARateAndASpikingSweepShareOnePageEachWithItsOwnFilter) {
  // Seed 000's two halves (issue 27): the same hand-written sweep as a rate sweep (filter 0.9: a,
  // c, e kept) and as a spiking one (filter 0.45; b's test accuracy moved from 0.40 to 0.50 there,
  // so all four are kept).
  const auto rate = sernn::testing::temp_dir("rate"), spiking = sernn::testing::temp_dir("spiking");
  write_seed000_sweep(rate);
  write_seed000_sweep(spiking);
  auto results = read_file(spiking + "/results.csv");
  results.replace(results.find("0.50,0.50,0.40"), 14, "0.50,0.50,0.50");
  sernn::testing::write_text(spiking + "/results.csv", results);
  sernn::testing::write_text(spiking + "/base_config.json", "{\"model\": {\"kind\": \"spiking\"}}");
  // Fig 5c of the spiking half is drawn at epoch 30 (spiking_figures.m): the snapshots of a and c
  // (at 10-50 % of their group's largest γ) there; the rate half has no final analysis to draw.
  for (const char* run : {"/runs/a", "/runs/c"}) {
    fs::create_directories(spiking + run + "/weights");
    sernn::testing::write_text(spiking + run + "/weights/epoch_030.csv", "0.5,0\n0,-0.25\n");
  }
  const auto page = rate + "/both.html", out = rate + "/out.txt", err = rate + "/err.txt";
  ASSERT_EQ(run_cli("report " + rate + " " + spiking + " --filter --out " + page, out, err), 0) << read_file(err);
  const auto html = read_file(page);
  EXPECT_EQ(count_svgs(html), 2u * (5u + 7u) + 1u) << "both halves' γ plots and seed-000 figures, Fig 5c";
  EXPECT_NE(html.find("Eigenvalues at 10-50 % of the largest γ, epoch 30"), std::string::npos);
  const size_t first = html.find("4 runs, 3 shown (test accuracy ≥ 90 %)"),
               second = html.find("4 runs, 4 shown (test accuracy ≥ 45 %)");
  EXPECT_NE(first, std::string::npos);
  EXPECT_NE(second, std::string::npos);
  EXPECT_LT(first, second) << "in the order given";
  EXPECT_EQ(html.find("</html>"), html.size() - 8) << "one page";
  EXPECT_EQ(html.find("<html"), html.rfind("<html"));
  // A run directory among several is refused, naming it.
  ASSERT_EQ(run_cli("report " + rate + " " + out, out, err), 2);
  EXPECT_NE(read_file(err).find(out + ": not a sweep directory"), std::string::npos) << read_file(err);
}

TEST(Seed000Report, GroupsWithGammaRangesFarApartShareOneAxisAsShareOfTheirLargestGamma) {
  // The small scales give L1 a γ range 20-50 times narrower than seRNN's: on one γ axis every L1
  // point sat at the left edge. Ranges within 2x keep γ itself.
  std::vector<CsvRow> rows;
  for (const auto& [group, gamma] : std::vector<std::pair<std::string, std::string>>{
           {"l1", "0"}, {"l1", "0.001"}, {"l1", "0.002"}, {"sernn", "0"}, {"sernn", "0.01"}, {"sernn", "0.02"}})
    rows.push_back({{"group", group}, {"gamma", gamma}});
  auto apart = rows;
  const auto [key, label] = gamma_axis(apart);
  EXPECT_EQ(key, "gamma_share");
  EXPECT_EQ(label, "γ / the group's largest γ");
  EXPECT_EQ(row_number(apart[2], "gamma_share"), 1.0);
  EXPECT_EQ(row_number(apart[4], "gamma_share"), 0.5);
  EXPECT_EQ(row_number(apart[0], "gamma_share"), 0.0);
  rows[4]["gamma"] = "0.0015", rows[5]["gamma"] = "0.003";  // ranges 0.002 and 0.003: one γ axis
  EXPECT_EQ(gamma_axis(rows).first, "gamma");
  EXPECT_EQ(rows[0].count("gamma_share"), 0u);
}
