#pragma once
/// Minimal SVG charts for self-contained HTML reports: line charts, scatter plots and matrix
/// heatmaps, with axes and ticks. Each function returns one <svg> element as text.
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sernn::svg {

struct Series {
  std::string name;
  std::vector<double> x, y;  ///< non-finite points are skipped
  std::string color;         ///< CSS colour; empty = from the palette
};

/// The i-th colour of a colour-blind-friendly palette.
std::string palette(size_t i);

std::string line_chart(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                       const std::vector<Series>& series, int width = 460, int height = 300);
/// With `equal_aspect`, one unit has the same length on both axes (e.g. the complex plane);
/// `unit_circle` draws |z| = 1.
std::string scatter(const std::string& title, const std::string& xlabel, const std::string& ylabel,
                    const std::vector<Series>& series, int width = 460, int height = 300, bool equal_aspect = false,
                    bool unit_circle = false);
/// m: [N, N]; `order`: row/column permutation (empty = identity); `groups`: label per ordered
/// position, drawn as separators between groups (may be empty). Diverging colours, 0 = white.
std::string heatmap(const std::string& title, const torch::Tensor& m, const std::vector<int64_t>& order,
                    const std::vector<int64_t>& groups, int size = 460);

/// Escapes &, <, >, " for HTML text and attributes.
std::string escape(const std::string& text);

}  // namespace sernn::svg
