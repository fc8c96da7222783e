#include <gtest/gtest.h>

#include <cmath>

#include "core/errors.h"
#include "core/geometry.h"
#include "test_helpers.h"

using namespace sernn;

TEST(Geometry, GridMatchesReferenceFormula) {
  auto c = grid_coordinates({5, 5, 4});
  ASSERT_EQ(c.sizes(), (std::vector<int64_t>{100, 3}));
  for (int64_t k = 0; k < 100; ++k) {
    EXPECT_EQ(c[k][0].item<double>(), (k / 4) % 5) << k;
    EXPECT_EQ(c[k][1].item<double>(), k / 20) << k;
    EXPECT_EQ(c[k][2].item<double>(), k % 4) << k;
  }
}

TEST(Geometry, GridMatchesNumpyMeshgridXYRavel) {
  // numpy: x, y, z = meshgrid(arange(gx), arange(gy), arange(gz)) (shape [gy, gx, gz]); ravel C order.
  const int64_t gx = 3, gy = 2, gz = 4;
  auto c = grid_coordinates({gx, gy, gz});
  int64_t k = 0;
  for (int64_t iy = 0; iy < gy; ++iy)
    for (int64_t ix = 0; ix < gx; ++ix)
      for (int64_t iz = 0; iz < gz; ++iz, ++k) {
        EXPECT_EQ(c[k][0].item<double>(), ix);
        EXPECT_EQ(c[k][1].item<double>(), iy);
        EXPECT_EQ(c[k][2].item<double>(), iz);
      }
}

TEST(Geometry, DistancesOfDefaultGrid) {
  auto d = distance_matrix(grid_coordinates({5, 5, 4}));
  EXPECT_NEAR(d.max().item<double>(), std::sqrt(41.0), 1e-12);
  EXPECT_EQ(d.diagonal().abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::allclose(d, d.t()));
  // Neighbours along z are 1 apart; neuron 0 (0,0,0) to 99 (4,4,3) is sqrt(16+16+9).
  EXPECT_NEAR(d[0][1].item<double>(), 1.0, 1e-12);
  EXPECT_NEAR(d[0][99].item<double>(), std::sqrt(41.0), 1e-12);
}

TEST(Geometry, CoordsCsvReadsAndRejectsBadFiles) {
  auto dir = sernn::testing::temp_dir("csv");
  auto ok = sernn::testing::write_text(dir + "/ok.csv", "x,y,z\n0,0,0\n1,2,2\n");
  auto c = read_coords_csv(ok);
  EXPECT_EQ(c.size(0), 2);
  EXPECT_NEAR(distance_matrix(c)[0][1].item<double>(), 3.0, 1e-12);
  auto bad_cols = sernn::testing::write_text(dir + "/cols.csv", "0,0\n1,1\n");
  EXPECT_THROW(read_coords_csv(bad_cols), InputError);
  auto bad_cell = sernn::testing::write_text(dir + "/cell.csv", "0,0,0\n1,abc,1\n");
  try {
    read_coords_csv(bad_cell);
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cell.csv:2"), std::string::npos) << e.what();
  }
  auto nan_cell = sernn::testing::write_text(dir + "/nan.csv", "0,0,0\n1,nan,1\n");
  EXPECT_THROW(read_coords_csv(nan_cell), InputError);
}
