"""mapping/irrigated_area_by_unit.csv and crop pixels the map leaves unpredicted.

fraction.tif holds 255 both where a pixel has no cropland and where a crop pixel was left unpredicted (a predictor has
no value there). The table counted both as 0 ha, so a unit with a predictor gap looked less irrigated than mapped,
with no word. The unpredicted cropland is now a column of its own at every level, and a warning names the units where
it is more than 1 % of their cropland. Truth: pixel areas on a lon/lat grid by pyproj.Geod (tests.geod_truth) times
the cropland fraction, summed by hand.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.core.errors import GridError
from irrmap.mapping.unit_areas import irrigated_area_by_unit, unpredicted_cropland_m2_by_unit
from tests.geod_truth import geodesic_row_areas

H, W, RES, X0, Y0 = 6, 4, 0.01, 110.0, 45.0
AREA = geodesic_row_areas(X0, Y0, RES, H)[:, None] * np.ones((1, W))  # m2 per pixel


def _write(path, arr, nodata, transform=None):
    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype=arr.dtype, crs="EPSG:4326",
                       transform=transform or from_origin(X0, Y0, RES, RES), nodata=nodata) as dst:
        dst.write(arr, 1)
    return path


@pytest.fixture
def run(tmp_path):
    zones = np.where(np.arange(W)[None, :] < 2, 1, 2).repeat(H, 0).astype(np.int32)  # unit 1 west, unit 2 east
    crop = np.full((H, W), 0.5, np.float32)
    crop[0, 0] = np.nan  # no cropland data: never "unpredicted"
    crop[5, 3] = 0.0  # no cropland: 255 there is the CIrrMap250 "not irrigated"
    frac = np.where(crop > 0, 40, 255).astype(np.uint8)  # 40 % of each crop pixel irrigated
    frac[np.isnan(crop)] = 255
    frac[2:4, 0:2] = 255  # 4 crop pixels of unit 1 unpredicted
    frac[1, 3] = 255  # 1 crop pixel of unit 2 unpredicted
    cls = np.where(frac == 255, 255, 1).astype(np.uint8)  # class.tif: 255 on the same pixels, every other crop pixel irrigated
    units = pd.DataFrame({"zone": [1, 2], "code": ["130101", "130102"], "city": ["130100", "130100"], "name": ["A", "B"]})
    return {"zones": _write(tmp_path / "zones.tif", zones, 0), "crop": _write(tmp_path / "crop.tif", crop, None),
            "frac": _write(tmp_path / "fraction.tif", frac, 255), "cls": _write(tmp_path / "class.tif", cls, 255), "units": units, "crop_arr": crop, "frac_arr": frac, "zones_arr": zones}


def _by_hand(run):
    crop, frac, zones = run["crop_arr"], run["frac_arr"], run["zones_arr"]
    gap = (frac == 255) & np.isfinite(crop) & (crop > 0)
    unpredicted = {z: float((np.where(gap, crop, 0) * AREA)[zones == z].sum()) for z in (1, 2)}
    mapped = {z: float((np.where(frac == 255, 0, crop) * AREA)[zones == z].sum()) for z in (1, 2)}  # class 1 x cropland
    return unpredicted, mapped


def test_unpredicted_cropland_per_unit_against_geod(run):
    unpredicted, _ = _by_hand(run)
    got = unpredicted_cropland_m2_by_unit(run["frac"], run["crop"], run["zones"], run["units"])
    assert got["130101"] == pytest.approx(unpredicted[1], rel=1e-6)  # 4 pixels x 0.5 x their Geod areas
    assert got["130102"] == pytest.approx(unpredicted[2], rel=1e-6)  # 1 pixel; the 0-cropland 255 is not counted
    assert unpredicted[1] == pytest.approx(0.5 * AREA[2:4, 0:2].sum())


def test_table_reports_the_gap_at_every_level_and_warns(run, caplog):
    unpredicted, mapped = _by_hand(run)
    with caplog.at_level(logging.WARNING):
        df = irrigated_area_by_unit(run["cls"], run["zones"], run["units"], ["county", "city"], cropland=run["crop"])
    county = df[df["level"] == "county"].set_index("code")
    city = df[df["level"] == "city"].set_index("code")
    # old code: no such column, the 255 crop pixels silently 0 ha
    assert county.loc["130101", "unpredicted_cropland_ha"] == pytest.approx(unpredicted[1] / 1e4, rel=1e-6)
    assert county.loc["130102", "unpredicted_cropland_ha"] == pytest.approx(unpredicted[2] / 1e4, rel=1e-6)
    assert city.loc["130100", "unpredicted_cropland_ha"] == pytest.approx((unpredicted[1] + unpredicted[2]) / 1e4, rel=1e-6)
    assert county.loc["130101", "irrigated_area_ha"] == pytest.approx(mapped[1] / 1e4, rel=1e-6)
    text = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # unit 1: 4 of its 11 crop pixels (36 %), unit 2: 1 of 11 (9 %): both above 1 %, named with their shares
    assert "130101 36." in text and "130102 9." in text and "lower bound" in text


def test_no_gap_no_column_change_no_warning(run, tmp_path, caplog):
    cls = np.where(run["crop_arr"] > 0, 1, 255).astype(np.uint8)  # every crop pixel predicted
    path = _write(tmp_path / "full.tif", cls, 255)
    with caplog.at_level(logging.WARNING):
        df = irrigated_area_by_unit(path, run["zones"], run["units"], ["county"], cropland=run["crop"])
    assert (df["unpredicted_cropland_ha"] == 0).all()
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]


def test_cropland_off_the_zones_grid_is_refused(run, tmp_path):
    shifted = _write(tmp_path / "crop_shift.tif", run["crop_arr"], None, from_origin(X0 + RES, Y0, RES, RES))
    with pytest.raises(GridError):
        unpredicted_cropland_m2_by_unit(run["frac"], shifted, run["zones"], run["units"])
