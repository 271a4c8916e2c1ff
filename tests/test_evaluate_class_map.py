"""irrmap's own class map (mapping/class.tif: 1 irrigated, 0 cropland not irrigated, 255 no cropland) read by
`irrmap evaluate statistics / report / compare`.

- Areas: a class map's 1 marks an irrigated pixel whose irrigated area is its cropland fraction; summed without a
  weight it counts the whole pixel (the probe's 683,759 ha for the run's 365,056 ha). It is refused without
  `--weight`; with `--map-kind binary --weight cropland.tif` the area is class==1 x cropland x true pixel area.
  A plain 0/1 map read as fractions is warned about and the report says its pixels count whole.
- Compare: class.tif's 255 means no cropland, compared as not irrigated (0 ha), not as missing; with a cropland
  layer a 255 pixel with cropland > 0 is unpredicted (missing), as statistics and points count it.

Expected values: numpy counts times pyproj.Geod ellipsoidal pixel areas (WGS84), computed here independently.
"""

from __future__ import annotations

import json
import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from irrmap.evaluation.workflow import _summary, compare, statistics_agreement
from pyproj import Geod
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from tests.test_evaluation_map_values import CLASS_DESC, RES, N, W, _write

SHAPE = (12, 12)
COUNTIES = {"610101": (0, 6), "610102": (6, 12)}  # columns c0..c1, all rows


def _row_areas(shape=SHAPE, res=RES) -> np.ndarray:
    """WGS84 ellipsoidal area (m2) of one pixel in each row of the lon/lat lattice anchored at (W, N)."""
    geod = Geod(ellps="WGS84")
    return np.array([abs(geod.polygon_area_perimeter([W, W + res, W + res, W], [N - (i + 1) * res] * 2 + [N - i * res] * 2)[0])
                     for i in range(shape[0])])


@pytest.fixture()
def case(tmp_path):
    """class.tif: rows 0-5 cropland (fraction 0.4 on even columns' pixels, 0.8 on odd), 1 on even columns, 0 on odd;
    rows 6-8 255 with cropland 0.5 (unpredicted); rows 9-11 255 without cropland (no cropland)."""
    cls = np.full(SHAPE, 255, np.uint8)
    cls[:6] = np.where(np.arange(SHAPE[1]) % 2 == 0, 1, 0)
    crop = np.zeros(SHAPE, np.float32)
    crop[:6] = np.where(np.arange(SHAPE[1]) % 2 == 0, 0.4, 0.8)
    crop[6:9] = 0.5
    _write(tmp_path / "class.tif", cls, nodata=255, desc=CLASS_DESC)
    _write(tmp_path / "cropland.tif", crop)
    plain = np.where(cls == 1, 1, 0).astype(np.uint8)  # the same pixels as a plain 0/1 map (no legend, no nodata)
    _write(tmp_path / "plain.tif", plain)
    gpd.GeoDataFrame([{"code": c, "geometry": box(W + c0 * RES, N - SHAPE[0] * RES, W + c1 * RES, N)} for c, (c0, c1) in COUNTIES.items()],
                     crs="EPSG:4326").to_file(tmp_path / "units.geojson")
    pd.DataFrame({"code": list(COUNTIES), "irrigated_area": [5.0, 5.0]}).to_csv(tmp_path / "s.csv", index=False)
    area = np.repeat(_row_areas()[:, None], SHAPE[1], axis=1)
    return {"dir": tmp_path, "cls": cls, "crop": crop, "area": area}


def _stats(d, map_path, **kw):
    return statistics_agreement(map_path, d / "units.geojson", "code", d / "s.csv", "code", "irrigated_area", "ha",
                                levels=["county"], **kw)


# ---- statistics / report: areas of a class map ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["fraction", "binary", "percent"])
def test_class_map_areas_without_weight_are_refused(case, kind):
    d = case["dir"]
    with pytest.raises(DataError) as e:
        _stats(d, d / "class.tif", map_kind=kind)
    msg = str(e.value)
    assert "class map" in msg and str(d / "class.tif") in msg
    assert "--map-kind binary --weight" in msg and "cropland" in msg


def test_class_map_with_cropland_weight_is_cropland_fraction_times_geod_area(case):
    d, cls, crop, area = case["dir"], case["cls"], case["crop"], case["area"]
    r = _stats(d, d / "class.tif", map_kind="binary", weight_path=d / "cropland.tif")
    for code, (c0, c1) in COUNTIES.items():
        truth = float(((cls[:, c0:c1] == 1) * crop[:, c0:c1] * area[:, c0:c1]).sum())  # class==1 x cropland x Geod area
        assert r.mapped[code] == pytest.approx(truth, rel=1e-6)
        whole = float(((cls[:, c0:c1] == 1) * area[:, c0:c1]).sum())
        assert r.mapped[code] < 0.5 * whole  # the old unweighted sum: 2.5x too large here (cropland 0.4)
    assert "times the weight raster" in r.basis and "whole" not in r.basis
    assert "times the weight raster" in _summary(None, r, None)


def test_cli_statistics_class_map_without_weight_exits_2_without_traceback(case, capsys):
    d = case["dir"]
    rc = main(["-q", "evaluate", "statistics", str(d / "class.tif"), "--units", str(d / "units.geojson"), "--unit-field", "code",
               "--stats", str(d / "s.csv"), "--stats-field", "code", "--area-field", "irrigated_area", "--area-unit", "ha",
               "--levels", "county", "--json"])
    err = capsys.readouterr().err
    assert rc == 2 and "Traceback" not in err
    assert "class.tif" in err and "--weight" in err


def test_plain_zero_one_map_read_as_fraction_warns_and_says_whole_pixels(case, caplog):
    d, cls, area = case["dir"], case["cls"], case["area"]
    with caplog.at_level(logging.WARNING):
        r = _stats(d, d / "plain.tif")
    assert any("holds only 0 and 1" in m and "plain.tif" in m for m in caplog.messages)
    for code, (c0, c1) in COUNTIES.items():  # each 1 counts its whole Geod area: what the warning and basis say
        assert r.mapped[code] == pytest.approx(float(((cls[:, c0:c1] == 1) * area[:, c0:c1]).sum()), rel=1e-6)
    assert "whole true area of each pixel holding 1" in r.basis
    assert "cropland fraction of irrigated pixels" not in _summary(None, r, None)


# ---- compare: 255 = no cropland = not irrigated --------------------------------------------------------------

def test_compare_class_map_255_is_not_irrigated_not_missing(case):
    d, cls, area = case["dir"], case["cls"], case["area"]
    r = compare(d / "class.tif", d / "plain.tif", units_path=d / "units.geojson", unit_field="code")
    c = r.comparison
    assert c.missing_area_m2 == pytest.approx(0.0, abs=1e-3)  # old code: every 255 pixel's area was missing
    assert float(np.asarray(c.matrix).sum()) == pytest.approx(float(area.sum()), rel=1e-9)
    # both maps hold 1 on the same pixels: full agreement, (not, not) includes the 255 pixels' area
    assert c.overall_agreement == pytest.approx(1.0)
    assert float(np.asarray(c.matrix)[0, 0]) == pytest.approx(float(area[cls != 1].sum()), rel=1e-9)
    assert r.units is not None and len(r.units) == 2  # every unit compared (old: units mostly 255 left out)
    assert not r.unit_metrics["units_without_mapped_area"]


def test_compare_class_map_as_b_with_cropland_leaves_unpredicted_out(case):
    d, cls, crop, area = case["dir"], case["cls"], case["crop"], case["area"]
    r = compare(d / "plain.tif", d / "class.tif", cropland_path=d / "cropland.tif")
    unpredicted = (cls == 255) & (crop > 0)
    assert r.comparison.missing_area_m2 == pytest.approx(float(area[unpredicted].sum()), rel=1e-9)
    r0 = compare(d / "plain.tif", d / "class.tif")  # without cropland every 255 is no cropland (the CIrrMap250 rule)
    assert r0.comparison.missing_area_m2 == pytest.approx(0.0, abs=1e-3)


def test_compare_class_map_b_on_other_grid_binarised_without_255_gaps(case, tmp_path):
    """Map B (class.tif) on a different grid goes through compare_grids.binarise_own_grid: its 255 must be written
    as 0 (not irrigated), not as nodata."""
    d, cls, area = case["dir"], case["cls"], case["area"]
    coarse = np.zeros((SHAPE[0] // 2, SHAPE[1] // 2), np.uint8)  # map A on a 0.02 deg grid, no irrigation
    import rasterio

    with rasterio.open(tmp_path / "coarse.tif", "w", driver="GTiff", width=coarse.shape[1], height=coarse.shape[0], count=1,
                       dtype="uint8", crs="EPSG:4326", transform=rasterio.transform.from_origin(W, N, 2 * RES, 2 * RES)) as dst:
        dst.write(coarse, 1)
    r = compare(tmp_path / "coarse.tif", d / "class.tif")
    assert r.comparison.missing_area_m2 == pytest.approx(0.0, abs=1e-3)
    assert r.comparison.irrigated_area_b_m2 == pytest.approx(float(area[cls == 1].sum()), rel=1e-9)


def test_cli_compare_json_class_map(case, capsys):
    d = case["dir"]
    assert main(["-q", "evaluate", "compare", str(d / "class.tif"), str(d / "plain.tif"), "--units", str(d / "units.geojson"),
                 "--unit-field", "code", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["missing_area_m2"] == pytest.approx(0.0, abs=1e-3)
    assert out["unit_areas"]["n"] == 2
