#pragma once
/// Where the neurons live. Coordinates are [N, 3] float64 tensors in grid units; distances
/// are Euclidean. The default 5x5x4 grid reproduces the reference seRNN code
/// (numpy meshgrid 'xy' order raveled in C order).
#include <string>
#include <vector>

#include <torch/torch.h>

namespace sernn {

/// Coordinates of a gx x gy x gz grid, neuron k at
/// x = (k / gz) mod gx, y = k / (gx gz), z = k mod gz. Returns [gx*gy*gz, 3] float64.
torch::Tensor grid_coordinates(const std::vector<int64_t>& grid);

/// Pairwise Euclidean distances of coords [N, 3] -> [N, N] (same dtype, zero diagonal).
torch::Tensor distance_matrix(const torch::Tensor& coords);

/// Reads an N x 3 CSV of coordinates (x,y,z per line, optional header line "x,y,z").
/// Throws InputError naming the file, line and cell at fault.
torch::Tensor read_coords_csv(const std::string& path);

}  // namespace sernn
