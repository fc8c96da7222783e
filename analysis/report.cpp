#include "analysis/report.h"

#include "analysis/seed000_report.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <fmt/format.h>

#include "analysis/svg.h"
#include "core/errors.h"
#include "core/geometry.h"
#include "core/io.h"
#include "core/run_dir.h"

namespace sernn {
namespace {

using svg::Series;

std::vector<double> column(const nlohmann::json& rows, const std::vector<std::string>& path) {
  std::vector<double> out;
  for (const auto& r : rows) {
    const nlohmann::json* v = &r;
    for (const auto& key : path) {
      if (!v->is_object() || !v->contains(key)) {
        v = nullptr;
        break;
      }
      v = &(*v)[key];
    }
    out.push_back(v && v->is_number() ? v->get<double>() : std::nan(""));
  }
  return out;
}

Series series(const std::string& name, const nlohmann::json& rows, const std::vector<std::string>& path) {
  return {name, column(rows, {"epoch"}), column(rows, path), ""};
}

/// The plots of the last analysed snapshot: W ordered by community, its eigenvalues, the
/// Jacobian spectrum and pathway hops when analysed, and p_ij against distance.
void add_snapshot_plots(const nlohmann::json& last, const std::string& run_dir, std::vector<std::string>& plots) {
  const int64_t epoch = last.value("epoch", int64_t{0});
  const RunDir run(run_dir);
  if (file_exists(run.weights_path(epoch))) {
    const auto w = run.read_weights(epoch);
    std::vector<int64_t> ci = last.at("modularity").at("communities").get<std::vector<int64_t>>();
    if (static_cast<int64_t>(ci.size()) != w.size(0))
      throw InputError(fmt::format("{}/analysis.json: {} communities at epoch {} for a network of {} neurons", run_dir,
                                   ci.size(), epoch, w.size(0)));
    std::vector<int64_t> order(ci.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return ci[a] < ci[b]; });
    std::vector<int64_t> groups;
    for (int64_t i : order) groups.push_back(ci[i]);
    plots.push_back(svg::heatmap(fmt::format("W at epoch {} (ordered by community)", epoch), w, order, groups));

    std::vector<double> re, im;
    for (const auto& e : last.at("spectrum").at("eigenvalues"))
      re.push_back(e.at(0).get<double>()), im.push_back(e.at(1).get<double>());
    plots.push_back(svg::scatter(fmt::format("Eigenvalues of W, epoch {}", epoch), "Re λ", "Im λ", {{"", re, im, ""}},
                                 460, 300, /*equal_aspect=*/true, /*unit_circle=*/true));

    // Jacobian spectrum at the most visited fixed point (rate runs; analysis key "dynamics").
    const auto dyn = last.value("dynamics", nlohmann::json::object());
    if (const auto jac = dyn.value("jacobian_eigenvalues", nlohmann::json()); jac.is_array() && !jac.empty()) {
      std::vector<double> jre, jim;
      for (const auto& e : jac) jre.push_back(e.at(0).get<double>()), jim.push_back(e.at(1).get<double>());
      const double edge = dyn.at("spectral_edge").get<double>();
      const auto [lo, hi] = std::minmax_element(jim.begin(), jim.end());
      std::vector<svg::Series> ser{{"eigenvalues", jre, jim, ""}, {"spectral edge", {edge, edge}, {*lo, *hi}, ""}};
      plots.push_back(svg::scatter(
          fmt::format("Jacobian at the main fixed point, epoch {}: {} f.p., edge {:.3f}, {}", epoch,
                      dyn.at("fixed_points").size(), edge, dyn.at("stable").get<bool>() ? "stable" : "unstable"),
          "Re λ", "Im λ", ser, 460, 300, /*equal_aspect=*/true));
    }

    // Hop-length decomposition of the input -> output pathways (analysis key "pathways").
    if (last.contains("pathways") && last.at("pathways").value("share", nlohmann::json()).is_array()) {
      const auto& hops = last.at("pathways");
      const auto hop_series = [](const std::string& name, const nlohmann::json& share) {
        svg::Series ser{name, {}, {}, ""};
        for (size_t k = 0; k < share.size(); ++k)
          ser.x.push_back(static_cast<double>(k)),
              ser.y.push_back(share.at(k).is_number() ? share.at(k).get<double>() : NAN);
        return ser;
      };
      std::vector<svg::Series> ser{hop_series("all inputs", hops.at("share"))};
      if (hops.contains("groups"))
        for (const auto& g : hops.at("groups"))
          ser.push_back(hop_series(fmt::format("module {}", g.at("group").get<int64_t>()), g.at("share")));
      const auto mean = hops.value("mean_hops", nlohmann::json());
      plots.push_back(svg::line_chart(fmt::format("Input → output pathways by hop length, epoch {}: mean {}", epoch,
                                                  mean.is_number() ? fmt::format("{:.2f}", mean.get<double>()) : "n/a"),
                                      "recurrent hops k", "share of pathway mass", ser));
    }

    const auto coords_path = run_dir + "/coords.csv";
    if (file_exists(coords_path)) {
      const auto d = distance_matrix(read_coords_csv(coords_path));
      if (d.size(0) != w.size(0))
        throw InputError(fmt::format("{}: {} neurons, but the weights of epoch {} are {} x {}", coords_path, d.size(0),
                                     epoch, w.size(0), w.size(1)));
      auto a = w.abs();
      auto s = a.sum(1, true);
      auto p = a / torch::where(s > 0, s, torch::ones_like(s));
      std::vector<double> xs, ys;
      auto aa = a.accessor<double, 2>(), da = d.accessor<double, 2>(), pa = p.accessor<double, 2>();
      for (int64_t i = 0; i < w.size(0); ++i)
        for (int64_t j = 0; j < w.size(1); ++j)
          if (i != j && aa[i][j] > 0) xs.push_back(da[i][j]), ys.push_back(pa[i][j]);
      const auto r = last.value("weight_distance", nlohmann::json::object()).value("r", nlohmann::json());
      plots.push_back(svg::scatter(fmt::format("p_ij against distance, epoch {} (r = {})", epoch,
                                               r.is_number() ? fmt::format("{:.3f}", r.get<double>()) : "n/a"),
                                   "distance", "p_ij", {{"", xs, ys, ""}}));
    }
  }
}

}  // namespace

std::string run_report_html(const std::string& title, const nlohmann::json& config, const nlohmann::json& metrics,
                            const nlohmann::json& analysis, const std::string& run_dir) {
  std::vector<std::string> plots;
  if (!metrics.empty()) {
    plots.push_back(
        svg::line_chart("Loss", "epoch", "loss",
                        {series("task", metrics, {"task_loss"}), series("γ·constraint", metrics, {"reg_loss"})}));
    plots.push_back(svg::line_chart("Accuracy", "epoch", "accuracy",
                                    {series("train", metrics, {"train_acc"}), series("val", metrics, {"val_acc"}),
                                     series("test", metrics, {"test_acc"})}));
  }
  // The recurrence ablation (sernn analyze): what the recurrent layer carries of the accuracy.
  if (!analysis.empty() && analysis.back().contains("ablation_test_acc"))
    plots.push_back(
        svg::line_chart("Recurrence ablation: test accuracy with and without W", "epoch", "accuracy",
                        {series("test", analysis, {"test_acc"}), series("W = 0", analysis, {"ablation_test_acc"})}));
  plots.push_back(svg::line_chart("Directed modularity Q", "epoch", "Q", {series("Q", analysis, {"modularity", "q"})}));
  plots.push_back(svg::line_chart(
      "Entropy", "epoch", "bits",
      {series("weights H", analysis, {"entropy", "weights"}), series("spectral", analysis, {"entropy", "spectral"})}));
  plots.push_back(svg::line_chart("λ_max = log max Re λ", "epoch", "λ_max",
                                  {series("λ_max", analysis, {"spectrum", "lambda_max"})}));

  add_snapshot_plots(analysis.back(), run_dir, plots);

  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += "<title>" + svg::escape(title) + "</title>";
  html +=
      "<style>body{font-family:sans-serif;margin:20px;color:#222}.plots{display:flex;flex-wrap:wrap;gap:12px}"
      "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px "
      "8px;text-align:left}</style></head><body>";
  html += "<h1>" + svg::escape(title) + "</h1>";
  html +=
      "<table><tr><th>model</th><th>hidden</th><th>task</th><th>regularizer</th><th>γ</th><th>epochs</th><th>final "
      "test acc</th></tr><tr>";
  auto cfg = [&](const char* section, const char* key) {
    if (!config.contains(section) || !config[section].contains(key)) return std::string("-");
    const auto& v = config[section][key];
    return v.is_string() ? v.get<std::string>() : v.dump();
  };
  std::string acc = "-";
  if (!metrics.empty() && metrics.back().contains("test_acc") && metrics.back()["test_acc"].is_number())
    acc = fmt::format("{:.1f}%", 100.0 * metrics.back()["test_acc"].get<double>());
  for (const auto& v : {cfg("model", "kind"), cfg("model", "hidden"), cfg("task", "kind"), cfg("regularizer", "kind"),
                        cfg("regularizer", "gamma"), cfg("train", "epochs"), acc})
    html += "<td>" + svg::escape(v) + "</td>";
  html += "</tr></table><div class=\"plots\">";
  for (const auto& p : plots) html += p;
  html += "</div><script>document.body.dataset.plots = String(document.querySelectorAll('svg.plot').length);</script>";
  html += "</body></html>\n";
  return html;
}

std::string sweep_report_html(const std::string& title, const std::vector<std::map<std::string, std::string>>& rows,
                              double min_accuracy) {
  std::vector<std::string> groups;
  size_t kept = 0;
  for (const auto& r : rows)
    if (r.count("group") && std::find(groups.begin(), groups.end(), r.at("group")) == groups.end())
      groups.push_back(r.at("group"));
  std::vector<std::pair<std::string, std::string>> metrics{{"q", "Directed modularity Q"},
                                                           {"entropy_weights", "Weight entropy H (bits)"},
                                                           {"lambda_max", "λ_max"},
                                                           {"entropy_spectral", "Spectral entropy (bits)"},
                                                           {"test_acc", "Test accuracy"}};
  // Columns only some sweeps have: plotted where any run has a value.
  const auto any_value = [&](const char* key) {
    return std::any_of(rows.begin(), rows.end(), [&](const auto& r) { return std::isfinite(row_number(r, key)); });
  };
  if (any_value("mean_hops")) metrics.push_back({"mean_hops", "Mean pathway hops"});
  if (any_value("ablation_test_acc"))
    metrics.push_back({"ablation_test_acc", "Test accuracy with W = 0 (recurrence ablation)"});
  // Sweeps over another key (`--param`) have its values in the column "value"; groups with γ
  // ranges far apart share one axis as γ over their own largest γ.
  auto rows_x = rows;
  auto [x_key, x_label] = gamma_axis(rows_x);
  if (!rows.empty() && rows.front().count("param") && !rows.front().at("param").empty())
    x_key = "value", x_label = rows.front().at("param");
  std::vector<std::string> plots;
  for (const auto& [key, label] : metrics) {
    std::vector<Series> series;
    for (const auto& g : groups) {
      Series s{g, {}, {}, ""};
      for (const auto& r : rows_x) {
        if (r.at("group") != g) continue;
        const double acc = row_number(r, "test_acc");
        if (min_accuracy >= 0 && !(acc >= min_accuracy)) continue;
        s.x.push_back(row_number(r, x_key));
        s.y.push_back(row_number(r, key));
      }
      series.push_back(std::move(s));
    }
    plots.push_back(svg::scatter(label + " against " + x_label, x_label, label, series));
  }
  for (const auto& r : rows) kept += min_accuracy < 0 || row_number(r, "test_acc") >= min_accuracy;
  std::string html = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  html += "<title>" + svg::escape(title) + "</title>";
  html +=
      "<style>body{font-family:sans-serif;margin:20px;color:#222}.plots{display:flex;flex-wrap:wrap;gap:12px}</style>"
      "</head><body>";
  html += "<h1>" + svg::escape(title) + "</h1>";
  html +=
      fmt::format("<p>{} runs, {} shown{}.</p>", rows.size(), kept,
                  min_accuracy >= 0 ? fmt::format(" (test accuracy ≥ {:.0f} %)", 100 * min_accuracy) : std::string());
  html += "<div class=\"plots\">";
  for (const auto& p : plots) html += p;
  html += "</div><script>document.body.dataset.plots = String(document.querySelectorAll('svg.plot').length);</script>";
  html += "</body></html>\n";
  return html;
}

}  // namespace sernn
