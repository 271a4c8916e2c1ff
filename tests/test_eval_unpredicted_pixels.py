"""irrmap's class.tif stores 255 both for 'no cropland' (mapped not irrigated) and for crop pixels the model never
predicted (a predictor missing there): with a cropland layer the evaluation tells them apart, and leaves the
unpredicted ones out as 'not mapped' instead of scoring them as 'not irrigated'. Expected values are hand counts
on a small grid and pyproj.Geod pixel areas."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from irrmap.evaluation.point_location import NodataCause, check_points_on_map
from irrmap.evaluation.points import read_points, sample_points
from irrmap.evaluation.workflow import (
    _summary,
    points_accuracy,
    read_map,
    statistics_agreement,
)
from pyproj import Geod
from shapely.geometry import box

from tests.test_evaluation_map_values import CLASS_DESC, RES, N, W, _write

SHAPE = (20, 20)


def _centre(r, c):
    return W + (c + 0.5) * RES, N - (r + 0.5) * RES


def _case(tmp_path):
    """class.tif: rows 0-9 predicted (1 on even columns, 0 on odd), rows 10-14 255 WITH cropland (unpredicted),
    rows 15-19 255 without cropland. 20 points: 8 on predicted pixels, 6 on unpredicted, 6 on no cropland."""
    cls = np.full(SHAPE, 255, np.uint8)
    cls[:10] = np.where(np.arange(SHAPE[1]) % 2 == 0, 1, 0)
    crop = np.zeros(SHAPE, np.float32)
    crop[:15] = 0.6
    pts = ([(0, 0, 1), (0, 2, 1), (1, 4, 1), (2, 6, 0), (0, 1, 0), (1, 3, 0), (2, 5, 1), (3, 7, 0)]  # TP TP TP FP TN TN FN TN
           + [(10, c, 1) for c in range(4)] + [(12, 8, 0), (13, 9, 0)]  # unpredicted: 4 irrigated, 2 not
           + [(16, 0, 0), (17, 1, 0), (18, 2, 0), (19, 3, 1), (15, 4, 0), (16, 5, 0)])  # no cropland: 5 TN, 1 FN
    rows = [{"lon": _centre(r, c)[0], "lat": _centre(r, c)[1], "label": lab} for r, c, lab in pts]
    pd.DataFrame(rows).to_csv(tmp_path / "pts.csv", index=False)
    return (_write(tmp_path / "class.tif", cls, 255, CLASS_DESC), _write(tmp_path / "crop.tif", crop), tmp_path / "pts.csv")


def test_unpredicted_crop_pixels_left_out_not_scored_as_not_irrigated(tmp_path, caplog):
    cls, crop, pts = _case(tmp_path)
    with caplog.at_level(logging.WARNING):
        r = points_accuracy(cls, pts, "label", lon_field="lon", lat_field="lat", crop_for_nodata=crop)
    # hand count: predicted 8 points (3 TP, 1 FP, 3 TN, 1 FN) + no cropland 6 points (5 TN, 1 FN) = 14 used, 11 correct
    assert r.counts["n_unpredicted"] == 6
    assert r.counts["n_on_no_cropland"] == 6
    assert r.counts["n_missing_map_value"] == 0
    assert r.accuracy.n == 14
    assert r.accuracy.overall_accuracy == pytest.approx(11 / 14)
    msg = " ".join(rec.getMessage() for rec in caplog.records)
    assert "6 of 20 reference points" in msg and "not mapped" in msg and "predictor" in msg
    assert "gdal_edit" not in msg  # never advise recoding irrmap's own map


def test_cropland_given_for_snapping_also_separates_unpredicted(tmp_path):
    cls, crop, pts = _case(tmp_path)
    r = points_accuracy(cls, pts, "label", lon_field="lon", lat_field="lat", cropland_path=crop, snap_radius=0)
    # snapping with radius 0 keeps only points on crop pixels: the 8 predicted ones are used, the 6 unpredicted left out
    assert r.counts["n_unpredicted"] == 6 and r.accuracy.n == 8
    assert r.accuracy.overall_accuracy == pytest.approx(6 / 8)


def test_without_cropland_every_255_is_no_cropland(tmp_path):
    cls, _, pts = _case(tmp_path)
    r = points_accuracy(cls, pts, "label", lon_field="lon", lat_field="lat")
    # the CIrrMap250 rule without a layer to tell them apart: the 6 unpredicted points count as mapped not irrigated
    # (4 FN, 2 TN): 20 used, 13 correct
    assert "n_unpredicted" not in r.counts and r.counts["n_on_no_cropland"] == 12
    assert r.accuracy.overall_accuracy == pytest.approx(13 / 20)


def test_statistics_unit_mostly_unpredicted_has_no_mapped_area(tmp_path):
    cls, crop, _ = _case(tmp_path)
    counties = {"610101": (0, 10, 0, 10), "610102": (10, 20, 0, 10), "610201": (0, 20, 10, 20)}  # c0, c1, r0, r1
    geoms = [{"code": c, "geometry": box(W + c0 * RES, N - r1 * RES, W + c1 * RES, N - r0 * RES)} for c, (c0, c1, r0, r1) in counties.items()]
    gpd.GeoDataFrame(geoms, crs="EPSG:4326").to_file(tmp_path / "units.geojson")
    pd.DataFrame({"code": list(counties), "irrigated_area": [1.0, 1.0, 1.0]}).to_csv(tmp_path / "s.csv", index=False)
    r = statistics_agreement(cls, tmp_path / "units.geojson", "code", tmp_path / "s.csv", "code", "irrigated_area", "1000ha",
                             map_kind="binary", weight_path=crop, levels=["county"], cropland_path=crop)
    geod = Geod(ellps="WGS84")
    row_area = np.array([abs(geod.polygon_area_perimeter([W, W + RES, W + RES, W], [N - (i + 1) * RES] * 2 + [N - i * RES] * 2)[0])
                         for i in range(SHAPE[0])])
    # predicted counties: the irrigated pixels (even columns, rows 0-9) times their cropland (0.6) and ellipsoidal areas
    assert r.mapped["610101"] == pytest.approx(5 * 0.6 * row_area[:10].sum(), rel=1e-6)
    assert r.mapped["610102"] == pytest.approx(5 * 0.6 * row_area[:10].sum(), rel=1e-6)
    # rows 10-14 unpredicted crop pixels: half the county is not mapped, so no mapped area (old code: 0 ha there)
    assert np.isnan(r.mapped["610201"])
    # the report's headline names the basis of the mapped area (a binary class map weighted by its cropland)
    assert "mapped area = each irrigated pixel's true area times the weight raster" in _summary(None, r, None)


def test_nodata_of_own_map_names_the_units_not_a_recode(tmp_path, caplog):
    cls, _, pts_path = _case(tmp_path)
    pts = read_points(pts_path, "label", lon_field="lon", lat_field="lat")
    m = read_map(cls)  # without filling: every 255 is nodata here, as on a threshold map
    s = sample_points(pts, m, label_field="label")
    zones = m.copy(data=np.where(np.arange(SHAPE[0])[:, None] < 15, 1, 2) * np.ones(SHAPE))
    cause = NodataCause("threshold maps leave units without a statistic unmapped", "give them a statistic", zones, {1: "610204", 2: "630302"})
    with caplog.at_level(logging.WARNING):
        c = check_points_on_map(pts, cause_grid(m), s, source="pts.csv", map_name="threshold_sevi.tif", nodata_cause=cause)
    assert c["n_missing_map_value"] == 12
    msg = " ".join(rec.getMessage() for rec in caplog.records)
    assert "610204 (6 points)" in msg and "630302 (6 points)" in msg and "without a statistic" in msg
    assert "gdal_edit" not in msg and "recode" not in msg


def cause_grid(m):
    from irrmap.core.grid import Grid

    return Grid.from_dataarray(m)


def test_run_unit_areas_leave_out_units_with_unpredicted_crop(tmp_path):
    from irrmap.evaluation.unpredicted import without_unpredicted_units

    cls, crop, _ = _case(tmp_path)
    zones = np.ones(SHAPE, np.int32)
    zones[:, 10:] = 2  # zone 1: columns 0-9, zone 2: columns 10-19
    zones[10:15, 10:] = 3  # zone 3: the unpredicted rows 10-14 of columns 10-19 (all of it unpredicted)
    zones[16, 0] = 3  # and one no-cropland 255 pixel, which is not a gap
    zp = _write(tmp_path / "zones.tif", zones)
    table = pd.DataFrame({"zone": [1, 2, 3], "code": ["610101", "610102", "610201"]})
    mapped = pd.Series([1.0, 2.0, 3.0], index=table["code"], name="mapped_m2")  # as irrigated_m2_by_unit (255 = 0 ha)
    out = without_unpredicted_units(mapped, table, cls, crop, zp)
    # by hand: zone 1 = rows 10-14 x cols 0-9 unpredicted, 50 of its 199 pixels (> 1 %); zone 2 = rows 0-9 and 15-19 of
    # cols 10-19, none unpredicted; zone 3 = 50 unpredicted pixels of 51
    assert np.isnan(out["610101"]) and np.isnan(out["610201"])
    assert out["610102"] == 2.0
    assert "unpredicted" in out.attrs["not_estimable"]["610201"] and "610102" not in out.attrs["not_estimable"]
