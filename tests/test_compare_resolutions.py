"""evaluate compare with maps of different resolutions: every area is summed on the map's own grid (truth: pyproj.Geod
areas of each pixel polygon), the agreement of a finer map B uses its irrigated fraction per map A pixel (truth:
hand-computed from the 10 x 10 blocks), and the outputs name the comparison grid and the resampling."""

import json
import logging

import numpy as np
import pytest
import rasterio
from irrmap.evaluation.workflow import compare
from pyproj import Geod, Transformer
from rasterio.transform import from_origin

from irrmap.app.cli import main

X0, Y0, EPSG = 500000.0, 4500000.0, 32614  # UTM 14N, on the central meridian
GEOD = Geod(ellps="WGS84")
TO_LL = Transformer.from_crs(EPSG, 4326, always_xy=True)


def _write(path, data, res, nodata=255):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype,
                       crs=f"EPSG:{EPSG}", transform=from_origin(X0, Y0, res, res), nodata=nodata) as d:
        d.write(data, 1)


def _pixel_areas(shape, res) -> np.ndarray:
    """Ground area (m2) of each pixel: the WGS84 geodesic area of its 4 corners (pyproj.Geod, independent of irrmap)."""
    rows, cols = shape
    xs, ys = X0 + np.arange(cols + 1) * res, Y0 - np.arange(rows + 1) * res
    lon, lat = TO_LL.transform(*np.meshgrid(xs, ys))
    out = np.empty(shape)
    for r in range(rows):
        for c in range(cols):
            lo = [lon[r, c], lon[r, c + 1], lon[r + 1, c + 1], lon[r + 1, c]]
            la = [lat[r, c], lat[r, c + 1], lat[r + 1, c + 1], lat[r + 1, c]]
            out[r, c] = abs(GEOD.polygon_area_perimeter(lo, la)[0])
    return out


@pytest.fixture
def speckled(tmp_path):
    """Map A: 8 x 8 pixels of 250 m, all irrigated. Map B: the same 2 km square at 25 m, 30 % of pixels irrigated at
    random (every 250 m block below half: a majority resampling makes B all 0)."""
    rng = np.random.default_rng(7)
    b = (rng.random((80, 80)) < 0.3).astype(np.uint8)
    _write(tmp_path / "a.tif", np.ones((8, 8), np.uint8), 250.0)
    _write(tmp_path / "b.tif", b, 25.0)
    return tmp_path, b


def test_finer_b_area_on_own_grid_and_fraction_agreement(speckled, caplog):
    d, b = speckled
    area_b_px = _pixel_areas(b.shape, 25.0)
    area_a_px = _pixel_areas((8, 8), 250.0)
    truth_b = float(area_b_px[b == 1].sum())  # B's irrigated ground area on its own grid
    frac = b.reshape(8, 10, 8, 10).mean(axis=(1, 3))  # B's irrigated fraction in each A pixel (nested 10 x 10 blocks)
    assert frac.max() < 0.5  # majority (mode) resampling would give 0 everywhere
    with caplog.at_level(logging.WARNING):
        res = compare(d / "a.tif", d / "b.tif", kind_a="binary", kind_b="binary").comparison.to_dict()
    assert res["irrigated_area_b_m2"] == pytest.approx(truth_b, rel=1e-6)
    assert res["irrigated_area_a_m2"] == pytest.approx(float(area_a_px.sum()), rel=1e-6)
    m = np.array(res["agreement_matrix_m2"])
    both = float((area_a_px * frac).sum())  # A irrigated everywhere: the agreeing area is B's fraction of each A pixel
    assert m[1, 1] == pytest.approx(both, rel=1e-6)
    assert m[1, 0] == pytest.approx(float((area_a_px * (1 - frac)).sum()), rel=1e-6)
    assert m[0].sum() == 0
    assert res["overall_agreement"] == pytest.approx(both / float(area_a_px.sum()), rel=1e-6)  # ~0.3, not 0
    assert res["quantity_disagreement"] == pytest.approx(1 - res["overall_agreement"], rel=1e-9)
    assert res["irrigated_area_b_compared_m2"] == pytest.approx(both, rel=1e-6)
    # the outputs name the grid and the method, and a warning names both resolutions
    assert res["comparison_grid"]["map"] == "A" and res["comparison_grid"]["pixel_size_m"] == 250.0
    assert res["comparison_grid"]["crs"] == f"EPSG:{EPSG}"
    assert res["map_b_on_grid"].startswith("average") and "25 m" in res["map_b_on_grid"]
    warned = [r.getMessage() for r in caplog.records if "coarsened" in r.getMessage()]
    assert len(warned) == 1 and "25 m" in warned[0] and "250 m" in warned[0] and "10x" in warned[0]
    assert "half" in warned[0] and "fix:" in warned[0]


def test_cli_headline_area_equals_unit_table_sum(speckled, capsys):
    import geopandas as gpd
    from shapely.geometry import box

    d, b = speckled
    gpd.GeoDataFrame({"code": ["U1", "U2"]}, geometry=[box(X0, Y0 - 2000, X0 + 1000, Y0), box(X0 + 1000, Y0 - 2000, X0 + 2000, Y0)],
                     crs=EPSG).to_file(d / "units.gpkg")
    rc = main(["-q", "evaluate", "compare", str(d / "a.tif"), str(d / "b.tif"), "--units", str(d / "units.gpkg"), "--unit-field",
               "code", "--hierarchy", "none", "--kind-a", "binary", "--kind-b", "binary", "--out", str(d / "u.csv"), "--json"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    truth_b = float(_pixel_areas(b.shape, 25.0)[b == 1].sum())
    assert out["irrigated_area_b_m2"] == pytest.approx(truth_b, rel=1e-6)
    import pandas as pd

    table = pd.read_csv(d / "u.csv")
    assert float(table["b_m2"].sum()) == pytest.approx(truth_b, rel=1e-6)


def test_coarser_b_is_nearest_without_warning(tmp_path, caplog):
    """Map B at 250 m against a 25 m map A: B is refined by nearest (crisp), its area still on its own grid."""
    rng = np.random.default_rng(2)
    b = (rng.random((8, 8)) < 0.4).astype(np.uint8)
    _write(tmp_path / "a.tif", np.zeros((80, 80), np.uint8), 25.0)
    _write(tmp_path / "b.tif", b, 250.0)
    with caplog.at_level(logging.WARNING):
        res = compare(tmp_path / "a.tif", tmp_path / "b.tif", kind_a="binary", kind_b="binary").comparison.to_dict()
    assert res["irrigated_area_b_m2"] == pytest.approx(float(_pixel_areas((8, 8), 250.0)[b == 1].sum()), rel=1e-6)
    assert res["map_b_on_grid"].startswith("nearest")
    assert not [r for r in caplog.records if "coarsened" in r.getMessage()]


def test_coarse_mask_warns_majority(speckled, caplog):
    """A 25 m mask on the 250 m grid stays categorical (majority) and says so; the areas ignore the mask."""
    d, b = speckled
    _write(d / "mask.tif", np.ones((80, 80), np.uint8), 25.0)
    with caplog.at_level(logging.WARNING):
        res = compare(d / "a.tif", d / "b.tif", mask_path=d / "mask.tif", kind_a="binary", kind_b="binary").comparison.to_dict()
    assert res["mask_on_grid"].startswith("majority")
    assert any("mask" in r.getMessage() and "majority" in r.getMessage() for r in caplog.records)
    assert res["irrigated_area_b_m2"] == pytest.approx(float(_pixel_areas(b.shape, 25.0)[b == 1].sum()), rel=1e-6)
