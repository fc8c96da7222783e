#include "core/geometry.h"

#include <fmt/format.h>

#include "core/errors.h"
#include "core/io.h"

namespace sernn {

torch::Tensor grid_coordinates(const std::vector<int64_t>& grid) {
  if (grid.size() != 3) throw InputError(fmt::format("grid must have 3 dimensions, got {}", grid.size()));
  const int64_t gx = grid[0], gy = grid[1], gz = grid[2];
  const int64_t n = gx * gy * gz;
  auto coords = torch::empty({n, 3}, torch::kFloat64);
  auto a = coords.accessor<double, 2>();
  for (int64_t k = 0; k < n; ++k) {
    a[k][0] = static_cast<double>((k / gz) % gx);
    a[k][1] = static_cast<double>(k / (gx * gz));
    a[k][2] = static_cast<double>(k % gz);
  }
  return coords;
}

torch::Tensor distance_matrix(const torch::Tensor& coords) {
  TORCH_CHECK(coords.dim() == 2 && coords.size(1) == 3, "coords must be [N, 3], got ", coords.sizes());
  auto diff = coords.unsqueeze(1) - coords.unsqueeze(0);
  return diff.pow(2).sum(-1).sqrt();
}

torch::Tensor read_coords_csv(const std::string& path) {
  auto coords = read_matrix_csv(path, /*allow_header=*/true);
  if (coords.size(1) != 3)
    throw InputError(fmt::format("{}: coordinates need 3 columns (x,y,z), found {}", path, coords.size(1)));
  return coords;
}

}  // namespace sernn
