"""evaluate compare: a fraction map B on another grid is thresholded on its own grid before it meets A's grid."""

import numpy as np
import pytest
import rasterio
from irrmap.evaluation.workflow import compare
from rasterio.transform import from_origin


def _write(path, data, res, nodata):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype,
                       crs="EPSG:32648", transform=from_origin(500000, 4300000, res, res), nodata=nodata) as d:
        d.write(data, 1)


def test_fraction_b_on_coarser_grid_keeps_own_grid_area(tmp_path):
    a = np.zeros((40, 40), np.uint8)  # map A: 100 m, nothing irrigated, valid everywhere
    b = np.zeros((20, 20), np.float32)  # map B: 200 m fractions, nested 2 x 2 in A's pixels
    rng = np.random.default_rng(3)
    b[rng.random((20, 20)) < 0.15] = 0.2
    b[5, 5] = 0.9
    _write(tmp_path / "a.tif", a, 100.0, 255)
    _write(tmp_path / "b.tif", b, 200.0, -1.0)
    own_area_m2 = float((b > 0).sum()) * 200.0 * 200.0  # B's irrigated area on its own grid (UTM: exact pixel areas)
    res = compare(tmp_path / "a.tif", tmp_path / "b.tif").comparison.to_dict()
    # UTM pixels are 1/0.9996^2 larger on the ground than on the map near the central meridian
    assert res["irrigated_area_b_m2"] == pytest.approx(own_area_m2 / 0.9996**2, rel=2e-4)
    assert res["irrigated_area_a_m2"] == 0
    # with a threshold on B's values
    res = compare(tmp_path / "a.tif", tmp_path / "b.tif", threshold_b=0.5).comparison.to_dict()
    assert res["irrigated_area_b_m2"] == pytest.approx(200.0 * 200.0 / 0.9996**2, rel=2e-4)


def test_cropland_on_coarser_grid_is_not_spread_before_snapping(tmp_path):
    from irrmap.evaluation.workflow import points_accuracy

    _write(tmp_path / "a.tif", np.zeros((40, 40), np.uint8), 100.0, 255)
    crop = np.zeros((20, 20), np.float32)
    crop[10, 10] = 1.0  # covers A's rows 20-21, cols 20-21
    _write(tmp_path / "crop.tif", crop, 200.0, -1.0)
    x, y = 500000 + 22.5 * 100, 4300000 - 20.5 * 100  # A's pixel (20, 22): next to the crop pixel, not on it
    (tmp_path / "p.csv").write_text(f"x,y,label\n{x},{y},1\n")
    r = points_accuracy(tmp_path / "a.tif", tmp_path / "p.csv", "label", points_crs="EPSG:32648", lon_field="x", lat_field="y",
                        cropland_path=tmp_path / "crop.tif", snap_radius=1)
    s = r.samples.iloc[0]
    assert bool(s["snapped"]) and (int(s["row"]), int(s["col"])) == (20, 21)
