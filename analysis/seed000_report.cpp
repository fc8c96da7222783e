#include "analysis/seed000_report.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "analysis/svg.h"

namespace sernn {
namespace {

std::string cell(const CsvRow& r, const std::string& key) {
  const auto it = r.find(key);
  return it == r.end() ? std::string() : it->second;
}

std::vector<std::string> groups_of(const std::vector<CsvRow>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs)
    if (std::find(out.begin(), out.end(), cell(r, "group")) == out.end()) out.push_back(cell(r, "group"));
  return out;
}

/// The row of the last epoch of each run in `dirs`, in run-directory order.
std::vector<CsvRow> last_epoch_rows(const std::vector<CsvRow>& epochs, const std::set<std::string>& dirs) {
  std::map<std::string, CsvRow> last;
  for (const auto& r : epochs) {
    const auto dir = cell(r, "run_dir");
    if (dirs.count(dir) && (!last.count(dir) || row_number(r, "epoch") > row_number(last[dir], "epoch"))) last[dir] = r;
  }
  std::vector<CsvRow> out;
  for (const auto& [dir, r] : last) out.push_back(r);
  return out;
}

/// Run directories whose final test accuracy reaches the threshold (rate_figures.m's filter).
std::set<std::string> accurate_runs(const std::vector<CsvRow>& runs, double min_accuracy) {
  std::set<std::string> out;
  for (const auto& r : runs)
    if (min_accuracy < 0 || row_number(r, "test_acc") >= min_accuracy) out.insert(cell(r, "run_dir"));
  return out;
}

/// `key` per epoch, mean ± 2 SE over the accurate networks of each group: three series per
/// group (mean, mean + 2 SE, mean - 2 SE) in the group's colour.
std::string per_epoch(const std::string& title, const std::string& key, const std::vector<CsvRow>& epochs,
                      const std::vector<std::string>& groups, const std::set<std::string>& keep) {
  std::vector<svg::Series> series;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    std::map<int64_t, std::vector<double>> by_epoch;
    for (const auto& r : epochs)
      if (cell(r, "group") == groups[gi] && keep.count(cell(r, "run_dir")))
        by_epoch[static_cast<int64_t>(row_number(r, "epoch"))].push_back(row_number(r, key));
    svg::Series mean{groups[gi], {}, {}, svg::palette(gi)}, hi{groups[gi] + " +2SE", {}, {}, svg::palette(gi)},
        lo{groups[gi] + " -2SE", {}, {}, svg::palette(gi)};
    for (const auto& [e, v] : by_epoch) {
      const auto [m, se2] = mean_2se(v);
      if (!std::isfinite(m)) continue;  // (a column an older sweep lacks)
      for (auto* s : {&mean, &hi, &lo}) s->x.push_back(static_cast<double>(e));
      mean.y.push_back(m), hi.y.push_back(m + se2), lo.y.push_back(m - se2);
    }
    series.insert(series.end(), {mean, hi, lo});
  }
  return svg::line_chart(title, "epoch", title, series);
}

/// One scatter of y against x over the accurate networks' final rows, one colour per group.
std::string final_scatter(const std::string& title, const std::string& xkey, const std::string& xlabel,
                          const std::string& ykey, const std::vector<CsvRow>& runs,
                          const std::vector<std::string>& groups, const std::set<std::string>& keep) {
  std::vector<svg::Series> series;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    svg::Series s{groups[gi], {}, {}, svg::palette(gi)};
    for (const auto& r : runs)
      if (cell(r, "group") == groups[gi] && keep.count(cell(r, "run_dir")))
        s.x.push_back(row_number(r, xkey)), s.y.push_back(row_number(r, ykey));
    series.push_back(std::move(s));
  }
  return svg::scatter(title, xlabel, title, series);
}

/// Fig 5c: the eigenvalues of every given network in the complex plane, one colour per group.
std::string eigen_clouds(const std::vector<EigenCloud>& clouds, const std::vector<std::string>& groups) {
  std::vector<svg::Series> series;
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    svg::Series s{groups[gi], {}, {}, svg::palette(gi)};
    for (const auto& c : clouds)
      if (c.group == groups[gi])
        for (const auto& ev : c.eigenvalues) s.x.push_back(ev[0]), s.y.push_back(ev[1]);
    if (!s.x.empty()) series.push_back(std::move(s));
  }
  const int64_t epoch = clouds.empty() ? -1 : clouds.front().epoch;
  return svg::scatter(fmt::format("Eigenvalues at 10-50 % of the largest γ, {}",
                                  epoch < 0 ? std::string("final epoch") : fmt::format("epoch {}", epoch)),
                      "Re λ", "Im λ", series, 460, 300, true, true);
}

/// Accurate networks binned by total weight (5 equal-width bins over their range): per bin and
/// group, n and the means of Q, H(W), H(C), corr(|W|, D), the symmetry of W and the share of real
/// eigenvalues at the last epoch.
std::string matched_weight_table(const std::vector<CsvRow>& last_epoch, const std::vector<std::string>& groups) {
  std::vector<double> tw;
  for (const auto& r : last_epoch) tw.push_back(row_number(r, "total_weight"));
  tw.erase(std::remove_if(tw.begin(), tw.end(), [](double v) { return !std::isfinite(v); }), tw.end());
  if (tw.empty()) return "<p>No accurate networks to compare at matched total weight.</p>";
  const double lo = *std::min_element(tw.begin(), tw.end()), hi = *std::max_element(tw.begin(), tw.end());
  const int bins = hi > lo ? 5 : 1;
  std::string html =
      "<table><tr><th>Σ|W| bin</th><th>group</th><th>n</th><th>Q</th><th>H(W)</th><th>H(C)</th><th>r(|W|, D)</th>"
      "<th>symmetry</th><th>real λ share</th></tr>";
  for (int b = 0; b < bins; ++b) {
    const double a = lo + (hi - lo) * b / bins, z = b + 1 == bins ? hi : lo + (hi - lo) * (b + 1) / bins;
    for (const auto& g : groups) {
      std::map<std::string, std::vector<double>> v;
      for (const auto& r : last_epoch) {
        const double t = row_number(r, "total_weight");
        if (cell(r, "group") != g || !(t >= a && (t < z || (b + 1 == bins && t <= z)))) continue;
        for (const char* k :
             {"q", "entropy_weights", "entropy_communicability", "r_weight_distance", "symmetry", "real_eigenvalues"})
          v[k].push_back(row_number(r, k));
      }
      if (v.empty()) continue;
      auto mean = [&](const char* k) {
        const double m = mean_2se(v[k]).first;
        return std::isfinite(m) ? fmt::format("{:.4g}", m) : std::string("–");
      };
      html += fmt::format(
          "<tr><td>{:.4g}–{:.4g}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td>{}</td></tr>",
          a, z, svg::escape(g), v["q"].size(), mean("q"), mean("entropy_weights"), mean("entropy_communicability"),
          mean("r_weight_distance"), mean("symmetry"), mean("real_eigenvalues"));
    }
  }
  return html + "</table>";
}

}  // namespace

double row_number(const CsvRow& r, const std::string& key) {
  const auto it = r.find(key);
  if (it == r.end() || it->second.empty()) return std::nan("");
  try {
    return std::stod(it->second);
  } catch (const std::exception&) {
    return std::nan("");
  }
}

std::pair<double, double> mean_2se(const std::vector<double>& values) {
  std::vector<double> v;
  for (double x : values)
    if (std::isfinite(x)) v.push_back(x);
  if (v.empty()) return {std::nan(""), 0.0};
  double m = 0;
  for (double x : v) m += x;
  m /= static_cast<double>(v.size());
  if (v.size() < 2) return {m, 0.0};
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  const double sd = std::sqrt(ss / static_cast<double>(v.size() - 1));
  return {m, 2.0 * sd / std::sqrt(static_cast<double>(v.size()))};
}

std::pair<std::string, std::string> gamma_axis(std::vector<CsvRow>& rows) {
  std::map<std::string, double> top;  // by group
  for (const auto& r : rows)
    if (const double g = row_number(r, "gamma"); std::isfinite(g))
      top[cell(r, "group")] = std::max(top[cell(r, "group")], g);
  double lo = INFINITY, hi = 0;
  for (const auto& [group, g] : top)
    if (g > 0) lo = std::min(lo, g), hi = std::max(hi, g);
  if (!(hi > 2 * lo)) return {"gamma", "γ"};
  for (auto& r : rows) {
    const double g = row_number(r, "gamma"), t = top[cell(r, "group")];
    r["gamma_share"] = std::isfinite(g) && t > 0 ? fmt::format("{:.10g}", g / t) : std::string();
  }
  return {"gamma_share", "γ / the group's largest γ"};
}

std::string seed000_figures_html(const std::vector<CsvRow>& runs_in, const std::vector<CsvRow>& epochs,
                                 const std::vector<EigenCloud>& clouds, double min_accuracy) {
  auto runs = runs_in;
  const auto [x_key, x_label] = gamma_axis(runs);
  const auto groups = groups_of(runs);
  const auto keep = accurate_runs(runs, min_accuracy);
  // The last epoch's row of every network (Fig 2c) and of every accurate one (the table).
  std::set<std::string> every;
  for (const auto& r : runs) every.insert(cell(r, "run_dir"));
  const auto last_rows = last_epoch_rows(epochs, keep), last_all = last_epoch_rows(epochs, every);
  std::string html = "<h2>Seed 000 figures</h2>";
  html += fmt::format("<p>{} accurate networks (final test accuracy ≥ {:.0f} %) of {}; lines: mean ± 2 SE.</p>",
                      keep.size(), 100 * std::max(0.0, min_accuracy), runs.size());
  html += "<div class=\"plots\">";
  html += per_epoch("Q (Fig 2a)", "q", epochs, groups, keep);
  html += per_epoch("H(W) (Fig 2b)", "entropy_weights", epochs, groups, keep);
  html += final_scatter("Q (Fig 2c, every network)", "entropy_weights", "H(W)", "q", last_all, groups, every);
  html += per_epoch("corr(|W|, D) (Fig 3)", "r_weight_distance", epochs, groups, keep);
  html += per_epoch("H(C) (Fig 4a)", "entropy_communicability", epochs, groups, keep);
  html += final_scatter("λ_max (Fig 5a)", x_key, x_label, "lambda_max", runs, groups, keep);
  html += final_scatter("Spectral entropy (Fig 5b)", x_key, x_label, "entropy_spectral", runs, groups, keep);
  if (!clouds.empty()) html += eigen_clouds(clouds, groups);
  // Fig 5c's shape of the spectrum over training, where the rows carry it (sweep_report adds it
  // from the runs' epoch_measures.json).
  const bool shape = std::any_of(epochs.begin(), epochs.end(), [](const CsvRow& r) { return r.count("symmetry"); });
  if (shape) {
    html += per_epoch("Share of real eigenvalues (Fig 5c)", "real_eigenvalues", epochs, groups, keep);
    html += per_epoch("Symmetry of W (Fig 5c)", "symmetry", epochs, groups, keep);
  }
  html += "</div><h3>Groups at matched total weight</h3>" + matched_weight_table(last_rows, groups);
  return html;
}

}  // namespace sernn
