#pragma once
/// The seed-000 figures of a sweep (Achterberg, Akarca et al. 2023), drawn from the sweep's
/// results (one row per run, final epoch) and results_epochs.csv (one row per run and epoch),
/// as the reference's rate_figures.m draws them: networks whose final test accuracy is at least
/// `min_accuracy` ("accurate"), mean ± 2 SE over them per epoch, one line per group.
///   Fig 2a/2b  Q and H(W) per epoch           Fig 2c  Q against H(W), every accurate network
///   Fig 3      corr(|W|, D) per epoch          Fig 4a  H(C) per epoch
///   Fig 5a/5b  λ_max and spectral entropy against γ (every accurate network)
///   Fig 5c     eigenvalues of L1 and seRNN networks at 10-50 % of the largest γ (rate: final
///              epoch; spiking: epoch 30, as spiking_figures.m)
/// plus a table of the groups at matched total weight (accurate networks binned by Σ|W|).
#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sernn {

using CsvRow = std::map<std::string, std::string>;

/// One network's eigenvalues (for Fig 5c): its group, γ, the epoch of the snapshot (-1: the
/// final one) and [re, im] pairs.
struct EigenCloud {
  std::string group;
  double gamma = 0;
  std::vector<std::array<double, 2>> eigenvalues;
  int64_t epoch = -1;
};

/// The HTML section (a heading, the figures as inline SVG, the table).
std::string seed000_figures_html(const std::vector<CsvRow>& runs, const std::vector<CsvRow>& epochs,
                                 const std::vector<EigenCloud>& clouds, double min_accuracy);

/// The number in column `key` of a row; NaN when the column is missing, empty or not a number.
double row_number(const CsvRow& row, const std::string& key);

/// The x axis of plots against γ: "gamma", or "gamma_share" (γ over its group's largest γ, a
/// column added to every row) when the groups' largest γ differ more than twofold (sernn's small
/// scales give each group its own range; on one γ axis the narrow ones collapse onto the left).
/// Returns the column and the axis label.
std::pair<std::string, std::string> gamma_axis(std::vector<CsvRow>& rows);

/// Mean and 2 standard errors of the finite values (NaN, 0 when there are none / one).
std::pair<double, double> mean_2se(const std::vector<double>& values);

}  // namespace sernn
