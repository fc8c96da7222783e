#include "analysis/svg.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace sernn::svg {
namespace {

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  void finish() {
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-12) {
      const double pad = std::max(1e-6, std::abs(lo) * 0.05);
      lo -= pad, hi += pad;
    }
  }
};

/// The spacing of about five "nice" ticks (1, 2, 2.5 or 5 times a power of ten) covering [lo, hi].
double tick_step(double lo, double hi) {
  const double raw = (hi - lo) / 5.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (raw <= m * mag) return m * mag;
  return mag;
}

/// The tick values: the multiples of tick_step in [lo, hi].
std::vector<double> ticks(double lo, double hi) {
  const double step = tick_step(lo, hi);
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + 1e-9 * step; v += step)
    t.push_back(std::abs(v) < 1e-12 * step ? 0.0 : v);
  return t;
}

/// A tick value with the decimals its spacing needs and no more: every tick is a multiple of the
/// spacing, so epochs 0-10 (spacing 2) read "2, 4", spacing 0.25 "0.25, 0.50".
std::string tick_label(double v, const Range& r) {
  const double step = tick_step(r.lo, r.hi);
  int decimals = 0;
  for (double scaled = step; decimals < 10 && std::abs(scaled - std::round(scaled)) > 1e-6 * scaled; scaled *= 10)
    ++decimals;
  if (std::abs(v) >= 1e5 || (v != 0 && std::abs(v) < 1e-4 && decimals > 6)) return fmt::format("{:.3g}", v);
  return fmt::format("{:.{}f}", v, decimals);
}

struct Frame {
  int w = 0, h = 0, left = 70, right = 14, top = 30, bottom = 44;
  Range xr, yr;
  double px(double x) const { return left + (x - xr.lo) / (xr.hi - xr.lo) * (w - left - right); }
  double py(double y) const { return h - bottom - (y - yr.lo) / (yr.hi - yr.lo) * (h - top - bottom); }
};

/// Title font size that fits `title` into `width` (bold sans-serif is about 0.62 em per character).
double title_font_size(const std::string& title, int width) {
  const auto chars =
      std::count_if(title.begin(), title.end(), [](char c) { return (c & 0xC0) != 0x80; });  // code points
  return std::clamp(static_cast<double>(width - 12) / (0.62 * static_cast<double>(std::max<int64_t>(chars, 1))), 8.0,
                    13.0);
}

std::string frame_open(const Frame& f, const std::string& title, const std::string& xlabel, const std::string& ylabel) {
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "class=\"plot\" role=\"img\" aria-label=\"{2}\" font-family=\"sans-serif\" font-size=\"11\">"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>"
      "<text x=\"{3}\" y=\"18\" text-anchor=\"middle\" font-size=\"{4:.1f}\" font-weight=\"bold\">{2}</text>",
      f.w, f.h, escape(title), f.w / 2, title_font_size(title, f.w));
  const double x0 = f.left, x1 = f.w - f.right, y0 = f.top, y1 = f.h - f.bottom;
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>", x0, y0,
                   x1 - x0, y1 - y0);
  for (double t : ticks(f.xr.lo, f.xr.hi)) {
    const double x = f.px(t);
    s += fmt::format(
        "<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#eee\"/>"
        "<text x=\"{0}\" y=\"{3}\" text-anchor=\"middle\">{4}</text>",
        x, y0, y1, y1 + 14, tick_label(t, f.xr));
  }
  for (double t : ticks(f.yr.lo, f.yr.hi)) {
    const double y = f.py(t);
    s += fmt::format(
        "<line x1=\"{0}\" x2=\"{1}\" y1=\"{2}\" y2=\"{2}\" stroke=\"#eee\"/>"
        "<text x=\"{3}\" y=\"{4}\" text-anchor=\"end\">{5}</text>",
        x0, x1, y, x0 - 4, y + 4, tick_label(t, f.yr));
  }
  s += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>", (x0 + x1) / 2, f.h - 8, escape(xlabel));
  s += fmt::format("<text transform=\"translate(11,{}) rotate(-90)\" text-anchor=\"middle\">{}</text>", (y0 + y1) / 2,
                   escape(ylabel));
  return s;
}

std::string legend(const Frame& f, const std::vector<Series>& series) {
  std::string s;
  int row = 0;
  for (size_t i = 0; i < series.size(); ++i) {
    if (series[i].name.empty()) continue;
    const auto color = series[i].color.empty() ? palette(i) : series[i].color;
    const int y = f.top + 12 + 14 * row++;
    s += fmt::format(
        "<rect x=\"{}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>"
        "<text x=\"{}\" y=\"{}\">{}</text>",
        f.w - f.right - 110, y - 9, color, f.w - f.right - 96, y, escape(series[i].name));
  }
  return s;
}

Frame fit(const std::vector<Series>& series, int w, int h) {
  Frame f;
  f.w = w, f.h = h;
  for (const auto& s : series) {
    for (double x : s.x) f.xr.add(x);
    for (double y : s.y) f.yr.add(y);
  }
  f.xr.finish(), f.yr.finish();
  return f;
}

}  // namespace

std::string palette(size_t i) {
  static const char* colors[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                 "#E69F00", "#56B4E9", "#F0E442", "#000000"};
  return colors[i % 8];
}

std::string escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                       const std::vector<Series>& series, int width, int height) {
  const Frame f = fit(series, width, height);
  std::string s = frame_open(f, title, xlabel, ylabel);
  for (size_t i = 0; i < series.size(); ++i) {
    const auto color = series[i].color.empty() ? palette(i) : series[i].color;
    std::string pts;
    for (size_t k = 0; k < series[i].x.size() && k < series[i].y.size(); ++k)
      if (std::isfinite(series[i].x[k]) && std::isfinite(series[i].y[k]))
        pts += fmt::format("{:.2f},{:.2f} ", f.px(series[i].x[k]), f.py(series[i].y[k]));
    s += fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>", color, pts);
  }
  return s + legend(f, series) + "</svg>";
}

std::string scatter(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                    const std::vector<Series>& series, int width, int height, bool equal_aspect, bool unit_circle) {
  Frame f = fit(series, width, height);
  if (unit_circle) f.xr.add(-1.05), f.xr.add(1.05), f.yr.add(-1.05), f.yr.add(1.05);
  if (equal_aspect) {
    // Widen the shorter range so that one unit spans the same pixels on both axes.
    const double pw = width - f.left - f.right, ph = height - f.top - f.bottom;
    const double sx = (f.xr.hi - f.xr.lo) / pw, sy = (f.yr.hi - f.yr.lo) / ph, scale = std::max(sx, sy);
    const double cx = (f.xr.lo + f.xr.hi) / 2, cy = (f.yr.lo + f.yr.hi) / 2;
    f.xr.lo = cx - scale * pw / 2, f.xr.hi = cx + scale * pw / 2;
    f.yr.lo = cy - scale * ph / 2, f.yr.hi = cy + scale * ph / 2;
  }
  std::string s = frame_open(f, title, xlabel, ylabel);
  if (unit_circle)
    s += fmt::format(
        "<ellipse cx=\"{}\" cy=\"{}\" rx=\"{}\" ry=\"{}\" fill=\"none\" stroke=\"#999\" stroke-dasharray=\"4 3\"/>",
        f.px(0), f.py(0), f.px(1) - f.px(0), f.py(0) - f.py(1));
  for (size_t i = 0; i < series.size(); ++i) {
    const auto color = series[i].color.empty() ? palette(i) : series[i].color;
    for (size_t k = 0; k < series[i].x.size() && k < series[i].y.size(); ++k)
      if (std::isfinite(series[i].x[k]) && std::isfinite(series[i].y[k]))
        s += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"2.5\" fill=\"{}\" fill-opacity=\"0.7\"/>",
                         f.px(series[i].x[k]), f.py(series[i].y[k]), color);
  }
  return s + legend(f, series) + "</svg>";
}

std::string heatmap(const std::string& title, const torch::Tensor& m_, const std::vector<int64_t>& order_,
                    const std::vector<int64_t>& groups, int size) {
  const auto m = m_.detach().to(torch::kCPU, torch::kFloat64);
  const int64_t n = m.size(0);
  std::vector<int64_t> order = order_;
  if (order.empty())
    for (int64_t i = 0; i < n; ++i) order.push_back(i);
  const double vmax = std::max(1e-12, m.abs().max().item<double>());
  const int top = 30, left = 10;
  const double cell = static_cast<double>(size - 2 * left) / static_cast<double>(std::max<int64_t>(n, 1));
  std::string s = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" class=\"plot\" "
      "role=\"img\" aria-label=\"{2}\" font-family=\"sans-serif\" font-size=\"11\" shape-rendering=\"crispEdges\">"
      "<rect width=\"{0}\" height=\"{1}\" fill=\"white\"/>"
      "<text x=\"{3}\" y=\"18\" text-anchor=\"middle\" font-size=\"{4:.1f}\" font-weight=\"bold\">{2}</text>",
      size, size + top - left, escape(title), size / 2, title_font_size(title, size));
  auto a = m.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const double v = a[order[i]][order[j]] / vmax;  // [-1, 1]
      if (v == 0) continue;
      const int shade = static_cast<int>(255 * (1 - std::min(1.0, std::abs(v))));
      const auto color = v > 0 ? fmt::format("rgb(255,{0},{0})", shade) : fmt::format("rgb({0},{0},255)", shade);
      s += fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\"/>",
                       left + j * cell, top + i * cell, cell + 0.05, cell + 0.05, color);
    }
  for (size_t k = 1; k < groups.size(); ++k)
    if (groups[k] != groups[k - 1]) {
      const double p = static_cast<double>(k) * cell;
      s += fmt::format(
          "<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#333\"/>"
          "<line x1=\"{3}\" x2=\"{4}\" y1=\"{5}\" y2=\"{5}\" stroke=\"#333\"/>",
          left + p, top, top + n * cell, left, left + n * cell, top + p);
    }
  s += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>", left, top,
                   n * cell, n * cell);
  return s + "</svg>";
}

}  // namespace sernn::svg
