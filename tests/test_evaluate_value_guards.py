"""`irrmap evaluate` refuses values that are not what the map or option claims (probe H findings 1-5): undeclared fill
values (-9999, 65535) scored as data, a percent --weight / --cropland, a threshold in fraction units on a 0..100 map,
a frame pixel area in m2, and errors that name neither the file nor the caller's own option.

Truth: pixel areas per row from pyproj.Geod (tests/geod_truth.py), accuracies and areas summed by numpy from the
arrays written here, with the fill pixels left out by hand; the map's mean pixel area from pyproj.Geod too.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geod_truth import geodesic_row_areas
from irrmap.evaluation.agreement import zonal_mapped_area
from irrmap.evaluation.design import SampleDesign
from irrmap.evaluation.workflow import (
    check_frame_size,
    compare,
    map_grid,
    map_values,
    points_accuracy,
    read_map,
    statistics_agreement,
)
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from tests.test_evaluation_map_values import _write as write_on_lattice

W, N, RES = 104.0, 38.4, 0.01  # as tests.test_evaluation_map_values, whose writer is used
SHAPE = (40, 60)
UNITS = {"610101": (0, 30), "610102": (30, 60)}  # columns of the map; every row
FILL_COLS = 3  # the leftmost columns hold the fill value


def _write(path, data, nodata=None, desc=None):
    return str(write_on_lattice(path, data, nodata=nodata, desc=desc))  # the same 0.01 deg lattice (W, N, RES)


def _classes():
    return (np.random.default_rng(7).random(SHAPE) < 0.4).astype(np.uint8)


def _fraction():
    rng = np.random.default_rng(8)
    return np.clip(_classes() * 0.9 + 0.05 + rng.normal(0, 0.05, SHAPE), 0, 1).astype("float32")


def _units(tmp_path):
    rows = [{"code": c, "geometry": box(W + c0 * RES, N - SHAPE[0] * RES, W + c1 * RES, N)} for c, (c0, c1) in UNITS.items()]
    gpd.GeoDataFrame(rows, crs="EPSG:4326").to_file(tmp_path / "u.geojson")
    return str(tmp_path / "u.geojson")


def _stats(tmp_path):
    pd.DataFrame({"code": list(UNITS), "area": [500.0, 500.0]}).to_csv(tmp_path / "s.csv", index=False)
    return str(tmp_path / "s.csv")


def _points(tmp_path, rows, cols, labels):
    pd.DataFrame({"lon": W + (cols + 0.5) * RES, "lat": N - (rows + 0.5) * RES, "ref": labels}).to_csv(tmp_path / "p.csv", index=False)
    return str(tmp_path / "p.csv")


def _sample():
    rng = np.random.default_rng(9)
    rows, cols = np.divmod(rng.choice(SHAPE[0] * SHAPE[1], 200, replace=False), SHAPE[1])
    m = _classes()[rows, cols]
    return rows, cols, np.where(rng.random(200) < 0.8, m, 1 - m)


def _stat_args(tmp_path, path, *extra):
    return ["evaluate", "statistics", path, "--units", _units(tmp_path), "--unit-field", "code", "--hierarchy", "none",
            "--stats", _stats(tmp_path), "--stats-field", "code", "--area-field", "area", "--area-unit", "ha", *extra]


def _agree(tmp_path, path, **kw):
    return statistics_agreement(path, _units(tmp_path), "code", _stats(tmp_path), "code", "area", "ha", hierarchy="none", **kw)


def _unit_truth(values):
    """m2 by unit code: sum of value x Geod pixel area over each unit's columns (NaN pixels add nothing)."""
    a = np.nan_to_num(values.astype(np.float64)) * geodesic_row_areas(W, N, RES, SHAPE[0])[:, None]
    return {c: a[:, c0:c1].sum() for c, (c0, c1) in UNITS.items()}


# ---- 1: undeclared fills ---------------------------------------------------------------------------------------------
def test_fraction_map_with_undeclared_minus_9999_is_refused_and_declared_gives_the_numpy_area(tmp_path, capsys):
    f = _fraction()
    f[:, :FILL_COLS] = -9999
    bad = _write(tmp_path / "frac_m9999.tif", f)
    with pytest.raises(DataError) as e:
        _agree(tmp_path, bad, levels=["unit"])
    assert bad in str(e.value) and "-9999" in str(e.value) and "gdal_edit.py -a_nodata -9999" in str(e.value)
    assert main(_stat_args(tmp_path, bad)) == 2
    err = capsys.readouterr().err
    assert "frac_m9999.tif" in err and "Traceback" not in err
    good = _write(tmp_path / "frac_nd.tif", f, nodata=-9999)  # the same values, the fill declared
    r = _agree(tmp_path, good, levels=["unit"], units_read=None)
    truth = _unit_truth(np.where(f == -9999, np.nan, f))
    df = r.levels["unit"].set_index("code")  # 610101 holds the fill columns (10 % of it): left out as unmapped
    assert "610101" not in df.index
    assert df.loc["610102", "mapped_m2"] == pytest.approx(truth["610102"], rel=1e-6)


def test_points_on_undeclared_fills_are_refused_and_declared_fills_are_left_out(tmp_path):
    rows, cols, ref = _sample()
    cls = _classes()
    # 40 more points on the fill columns
    rng = np.random.default_rng(10)
    r2, c2 = rng.integers(0, SHAPE[0], 40), rng.integers(0, FILL_COLS, 40)
    pts = _points(tmp_path, np.r_[rows, r2], np.r_[cols, c2], np.r_[ref, rng.integers(0, 2, 40)])
    f = _fraction()
    f[:, :FILL_COLS] = -9999
    with pytest.raises(DataError, match=r"-a_nodata -9999"):
        points_accuracy(_write(tmp_path / "f.tif", f), pts, "ref", threshold=0.5)
    u16 = cls.astype(np.uint16)
    u16[:, :FILL_COLS] = 65535
    with pytest.raises(DataError, match=r"65535.*-a_nodata 65535"):
        points_accuracy(_write(tmp_path / "u16.tif", u16), pts, "ref")
    r = points_accuracy(_write(tmp_path / "u16_nd.tif", u16, nodata=65535), pts, "ref")
    keep = np.r_[cols, c2] >= FILL_COLS  # truth: the fill columns left out, the rest scored by numpy
    m = np.r_[cls[rows, cols], cls[r2, c2]][keep]
    lab = np.r_[ref, np.zeros(40, int)][keep]
    assert r.accuracy.n == int(keep.sum()) and r.accuracy.overall_accuracy == pytest.approx(float((m == lab).mean()))


def test_map_values_counts_the_integer_types_largest_value(tmp_path):
    v = _classes().astype(np.uint16)
    v[0, :5] = 65535
    info = map_values(_write(tmp_path / "u16.tif", v))
    assert info["top_fill"] == {"value": 65535, "n": 5, "max_other": 1.0}
    v32 = _classes().astype(np.int32)
    v32[1, :2] = np.iinfo(np.int32).max
    info = map_values(_write(tmp_path / "i32.tif", v32))
    assert info["top_fill"] == {"value": 2**31 - 1, "n": 2, "max_other": 1.0}
    assert map_values(_write(tmp_path / "u16_nd.tif", v, nodata=65535))["top_fill"] is None


# ---- 2: --weight and --cropland must be 0..1 fractions -----------------------------------------------------------------
def test_percent_weight_is_refused_and_a_fraction_weight_gives_the_numpy_area(tmp_path, capsys):
    cls = _classes()
    mp = _write(tmp_path / "map01.tif", cls, nodata=255)
    pct = np.random.default_rng(11).integers(0, 101, SHAPE).astype(np.uint8)
    wp = _write(tmp_path / "crop_pct.tif", pct)
    with pytest.raises(DataError) as e:
        _agree(tmp_path, mp, map_kind="binary", weight_path=wp, levels=["unit"])
    assert wp in str(e.value) and "--weight" in str(e.value) and "-scale 0.01" in str(e.value)
    assert main(_stat_args(tmp_path, mp, "--map-kind", "binary", "--weight", wp)) == 2
    out = tmp_path / "rep"
    assert main(["evaluate", "report", mp, "--out", str(out), "--units", _units(tmp_path), "--unit-field", "code", "--hierarchy", "none",
                 "--stats", _stats(tmp_path), "--stats-field", "code", "--area-field", "area", "--area-unit", "ha",
                 "--map-kind", "binary", "--weight", wp]) == 2
    assert "--weight" in capsys.readouterr().err
    wf = _write(tmp_path / "crop_frac.tif", (pct / 100.0).astype("float32"))
    r = _agree(tmp_path, mp, map_kind="binary", weight_path=wf, levels=["unit"])
    truth = _unit_truth(cls * (pct / 100.0))
    df = r.levels["unit"].set_index("code")
    for code in UNITS:
        assert df.loc[code, "mapped_m2"] == pytest.approx(truth[code], rel=1e-5)


def test_zonal_area_refuses_a_weight_above_one_and_negative_values(tmp_path):
    mp = _write(tmp_path / "m.tif", _classes(), nodata=255)
    m = read_map(mp)
    zones = m.fillna(0) * 0 + 1
    w = read_map(_write(tmp_path / "w.tif", np.full(SHAPE, 100, np.uint8)))
    with pytest.raises(DataError, match="weight"):
        zonal_mapped_area(m, zones, 1, kind="binary", weight=w, source=f"map {mp}")
    neg = read_map(_write(tmp_path / "neg.tif", np.full(SHAPE, -9999, np.float32)))
    with pytest.raises(DataError) as e:
        zonal_mapped_area(neg, zones, 1, kind="fraction", source="map neg.tif (--x)")
    assert e.value.where == "map neg.tif (--x)" and "below 0" in str(e.value)


def test_percent_cropland_is_refused_naming_cropland_not_the_map_kind(tmp_path):
    mp = _write(tmp_path / "map01.tif", _classes(), nodata=255)
    cp = _write(tmp_path / "crop_pct.tif", np.full(SHAPE, 60, np.uint8))
    with pytest.raises(DataError) as e:
        _agree(tmp_path, mp, map_kind="binary", cropland_path=cp, levels=["unit"])
    assert cp in str(e.value) and "--cropland" in str(e.value) and "--map-kind" not in str(e.value)
    rows, cols, ref = _sample()
    with pytest.raises(DataError, match="--cropland"):
        points_accuracy(mp, _points(tmp_path, rows, cols, ref), "ref", cropland_path=cp)


# ---- 3: threshold in fraction units on a 0..100 map ------------------------------------------------------------------
def _pct_map():
    cls = _classes()
    rng = np.random.default_rng(12)
    return np.where(cls == 1, rng.integers(51, 101, SHAPE), rng.integers(0, 50, SHAPE)).astype(np.uint8)


def test_fraction_threshold_on_a_percent_map_is_refused_and_50_gives_the_numpy_accuracy(tmp_path, capsys):
    pct = _pct_map()
    pp = _write(tmp_path / "pct.tif", pct, nodata=255)
    rows, cols, ref = _sample()
    pts = _points(tmp_path, rows, cols, ref)
    with pytest.raises(DataError) as e:
        points_accuracy(pp, pts, "ref", threshold=0.5)
    assert pp in str(e.value) and "--threshold 50" in str(e.value)
    r = points_accuracy(pp, pts, "ref", threshold=50)
    assert r.accuracy.overall_accuracy == pytest.approx(float(((pct[rows, cols] > 50).astype(int) == ref).mean()))
    described = _write(tmp_path / "prob.tif", pct, nodata=255, desc="P(irrigated) x 100 (crop pixels)")
    with pytest.raises(DataError, match="--threshold 50"):
        points_accuracy(described, pts, "ref", threshold=0.5)
    mp = _write(tmp_path / "map01.tif", _classes(), nodata=255)
    with pytest.raises(DataError) as e:
        compare(mp, pp, threshold_b=0.5)
    assert "--threshold-b 50" in str(e.value) and pp in str(e.value)
    assert main(["evaluate", "report", mp, "--out", str(tmp_path / "rep"), "--compare", pp, "--compare-threshold", "0.5"]) == 2
    assert "--compare-threshold 50" in capsys.readouterr().err
    # a 0/1 map and a 0..1 probability keep their fraction thresholds
    assert points_accuracy(mp, pts, "ref", threshold=0.5).accuracy.n == len(rows)
    assert points_accuracy(_write(tmp_path / "f.tif", _fraction()), pts, "ref", threshold=0.5).accuracy.n == len(rows)


# ---- 4: frame pixel area in m2 ----------------------------------------------------------------------------------------
def test_frame_pixel_area_in_m2_or_pixel_side_is_refused(tmp_path):
    mp = _write(tmp_path / "map01.tif", _classes(), nodata=255)
    grid, info = map_grid(mp), map_values(mp)
    mean_ha = geodesic_row_areas(W, N, RES, SHAPE[0]).mean() / 1e4  # Geod truth of the map's mean pixel area
    sizes = {"1": 900, "0": 1400}
    for wrong in (mean_ha * 1e4, np.sqrt(mean_ha * 1e4)):  # m2 given for ha; the pixel side in m
        with pytest.raises(DataError) as e:
            check_frame_size(SampleDesign("stratum", stratum_sizes=sizes, unit_area_ha=float(wrong)), info, grid, "p.csv", "map01.tif")
        fix = float(str(e.value).split("give it in ha: --frame-pixel-area ")[1].split()[0])
        assert fix == pytest.approx(mean_ha, rel=1e-4)
    ratio = check_frame_size(SampleDesign("stratum", stratum_sizes=sizes, unit_area_ha=float(mean_ha)), info, grid, "p.csv")
    assert ratio == pytest.approx(sum(sizes.values()) / (SHAPE[0] * SHAPE[1]), rel=1e-4)
    # a frame of 30 m pixels under the map is no unit mistake
    assert check_frame_size(SampleDesign("stratum", stratum_sizes=sizes, unit_area_ha=0.09), info, grid, "p.csv") is not None


# ---- 5: errors name the file and the caller's own option -------------------------------------------------------------
def test_compare_units_on_a_percent_map_b_names_kind_b_and_report_offers_a_rescale(tmp_path, capsys):
    mp = _write(tmp_path / "map01.tif", _classes(), nodata=255)
    pp = _write(tmp_path / "pct.tif", _pct_map(), nodata=255)
    with pytest.raises(DataError) as e:
        compare(mp, pp, threshold_b=50, units_path=_units(tmp_path), unit_field="code", hierarchy="none")
    msg = str(e.value)
    assert pp in msg and "--kind-b binary" in msg and "--map-kind" not in msg
    rc = main(["evaluate", "report", mp, "--out", str(tmp_path / "rep"), "--compare", pp, "--compare-threshold", "50",
               "--units", _units(tmp_path), "--unit-field", "code", "--hierarchy", "none"])
    err = capsys.readouterr().err
    assert rc == 2 and "pct.tif" in err and "--kind-b" not in err and "--map-kind" not in err and "-scale 0.01" in err
