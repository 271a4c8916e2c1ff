"""`irrmap evaluate statistics` applies the row checks of `irrmap statistics check` (tester report items 1.1,
1.4, 1.6, 3.3).

Truth: unit areas from pyproj.Geod on the box corners (independent of irrmap's geodesic_areas), pixel areas per
row from pyproj.Geod, and the line numbers of the CSV as written here (header = line 1).
"""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod
from shapely.geometry import box

from irrmap.app.cli import build_parser, main
from irrmap.core.errors import DataError
from irrmap.evaluation.workflow import statistics_agreement

W, N, RES = 104.0, 38.4, 0.01
SHAPE = (40, 60)
COUNTIES = {"610101": (0, 30, 0, 20), "610102": (30, 60, 0, 20), "610201": (0, 30, 20, 40), "610202": (30, 60, 20, 40)}
GEOD = Geod(ellps="WGS84")


def _box(c0, c1, r0, r1):
    return box(W + c0 * RES, N - r1 * RES, W + c1 * RES, N - r0 * RES)


def _geod_area(c0, c1, r0, r1) -> float:
    return abs(GEOD.geometry_area_perimeter(_box(c0, c1, r0, r1))[0])


def _row_areas(n_rows: int) -> np.ndarray:
    return np.array([abs(GEOD.polygon_area_perimeter([W, W + RES, W + RES, W], [N - (i + 1) * RES] * 2 + [N - i * RES] * 2)[0])
                     for i in range(n_rows)])


def _write(path, data, nodata=None, width=None):
    h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype=data.dtype, crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(W, N, RES, RES), nodata=nodata) as d:
        d.write(data, 1)
    return path


def _units(tmp_path, counties=COUNTIES):
    gpd.GeoDataFrame([{"code": c, "geometry": _box(*q)} for c, q in counties.items()], crs="EPSG:4326").to_file(tmp_path / "u.geojson")
    return tmp_path / "u.geojson"


def _stats(tmp_path, rows, name="s.csv"):
    pd.DataFrame(rows, columns=["code", "area"]).to_csv(tmp_path / name, index=False)
    return tmp_path / name


def _fraction_map(tmp_path, value=0.5):
    return _write(tmp_path / "f.tif", np.full(SHAPE, value, "float32"), nodata=-1.0)


def _agree(tmp_path, stats, units=None, **kw):
    return statistics_agreement(_fraction_map(tmp_path), units or _units(tmp_path), "code", stats, "code", "area", "ha",
                                levels=["county"], **kw)


# ---- 1.1: the per-row checks ------------------------------------------------------------------------------
def test_area_larger_than_unit_is_an_error_naming_file_field_and_ratio(tmp_path):
    """One county typed x1000: before, a silent r2 of 0.001 and exit 0."""
    rows = [("610101", 1000.0), ("610102", 1000.0 * 1000), ("610201", 1200.0), ("610202", 900.0)]
    stats = _stats(tmp_path, rows)
    with pytest.raises(DataError) as e:
        _agree(tmp_path, stats)
    msg = str(e.value)
    ratio = 1000.0 * 1000 * 1e4 / _geod_area(*COUNTIES["610102"])
    assert "area larger than unit" in msg and "610102" in msg and f"{ratio:.1f}x the unit" in msg
    assert str(stats) in e.value.where and "'area'" in e.value.where
    assert "area unit" in e.value.fix


def test_area_larger_than_unit_checked_with_only_two_units(tmp_path):
    """The whole-table scale check needs 3 units; the row check does not (Kansas LEMA case, 2 regions)."""
    two = {c: COUNTIES[c] for c in ("610101", "610102")}
    units = _units(tmp_path, two)
    areas = [_geod_area(*two[c]) / 1e4 for c in two]  # ha, by Geod: each statistic ~1.2x its unit
    stats = _stats(tmp_path, [(c, 1.2 * a) for c, a in zip(two, areas)])
    with pytest.raises(DataError, match="area larger than unit"):
        _agree(tmp_path, stats, units=units)
    ok = _stats(tmp_path, [(c, 0.5 * a) for c, a in zip(two, areas)], "ok.csv")
    assert _agree(tmp_path, ok, units=units).metrics["county"]["n"] == 2


def test_duplicate_codes_are_an_error_naming_the_lines(tmp_path):
    """Code 610201 on two rows: before, both rows silently dropped."""
    rows = [("610101", 1000.0), ("610201", 23.9), ("610102", 900.0), ("610201", 99.0), ("610202", 800.0)]
    with pytest.raises(DataError) as e:
        _agree(tmp_path, _stats(tmp_path, rows))
    assert "duplicate code" in str(e.value) and "lines 3, 5" in str(e.value)  # file lines (header = 1)
    assert "'code'" in e.value.where


def test_unreadable_numbers_error_and_missing_ones_are_named(tmp_path, caplog):
    bad = _stats(tmp_path, [("610101", "12.3*"), ("610102", "(e) 5.1"), ("610201", "800"), ("610202", "700")], "bad.csv")
    with pytest.raises(DataError) as e:
        _agree(tmp_path, bad)
    assert "non-numeric area" in str(e.value) and "lines 2, 3" in str(e.value) and "'area'" in e.value.where
    missing = _stats(tmp_path, [("610101", "-"), ("610102", "n/a"), ("610201", "800"), ("610202", "700")], "missing.csv")
    with caplog.at_level(logging.WARNING):
        r = _agree(tmp_path, missing)
    assert r.metrics["county"]["n"] == 2  # the two rows without a value are left out ...
    named = [m for m in caplog.messages if "no area" in m]
    assert named and "lines 2, 3" in named[0]  # ... and named


def test_cli_exits_2_with_the_error(tmp_path, capsys):
    stats = _stats(tmp_path, [("610101", 1e6), ("610102", 1e3), ("610201", 1e3), ("610202", 1e3)])
    rc = main(["evaluate", "statistics", str(_fraction_map(tmp_path)), "--units", str(_units(tmp_path)), "--unit-field", "code",
               "--stats", str(stats), "--stats-field", "code", "--area-field", "area", "--area-unit", "ha"])
    assert rc == 2 and "area larger than unit" in capsys.readouterr().err


# ---- 1.4: a unit only partly on the map ---------------------------------------------------------------------
def test_unit_partly_off_the_map_is_left_out_and_named(tmp_path, caplog):
    """The map ends at column 45: counties 610102 and 610202 (columns 30-60) are half on it. Before, their
    whole statistics were compared with the mapped half."""
    cols = 45
    p = _write(tmp_path / "half.tif", np.full((SHAPE[0], cols), 0.5, "float32"), nodata=-1.0)
    stats = _stats(tmp_path, [(c, 1000.0) for c in COUNTIES])
    with caplog.at_level(logging.WARNING):
        r = statistics_agreement(p, _units(tmp_path), "code", stats, "code", "area", "ha", levels=["county"])
    df = r.levels["county"].set_index("code")
    assert sorted(df.index) == ["610101", "610201"]
    for code in ("610102", "610202"):
        c0, c1, r0, r1 = COUNTIES[code]
        share = _geod_area(c0, cols, r0, r1) / _geod_area(c0, c1, r0, r1)
        assert math.isnan(r.mapped[code])
        assert f"{100 * share:.1f} % of the unit's area lies on the map's grid" in r.left_out["units_without_mapped_area"][code]
    assert any("610102" in m and "610202" in m and "left out" in m for m in caplog.messages)
    rows = _row_areas(SHAPE[0])
    for code in ("610101", "610201"):  # whole units: value x true pixel area
        c0, c1, r0, r1 = COUNTIES[code]
        assert df.loc[code, "mapped_m2"] == pytest.approx(0.5 * (c1 - c0) * rows[r0:r1].sum(), rel=1e-6)


# ---- 3.3: an explicit --threshold 0 --------------------------------------------------------------------------
def test_explicit_threshold_zero_is_a_threshold(tmp_path):
    v = np.zeros(SHAPE, np.uint8)
    v[:, :15] = 2
    v[:, 15:30] = 3  # class codes 0, 2, 3: refused without a threshold, accepted with an explicit 0
    p = _write(tmp_path / "c.tif", v, nodata=255)
    units, stats = _units(tmp_path), _stats(tmp_path, [(c, 100.0) for c in COUNTIES])
    with pytest.raises(DataError, match="give the threshold"):
        statistics_agreement(p, units, "code", stats, "code", "area", "ha", map_kind="binary", levels=["county"])
    r = statistics_agreement(p, units, "code", stats, "code", "area", "ha", map_kind="binary", threshold=0, levels=["county"])
    c0, c1, r0, r1 = COUNTIES["610101"]
    assert r.mapped["610101"] == pytest.approx((c1 - c0) * _row_areas(SHAPE[0])[r0:r1].sum(), rel=1e-6)  # every pixel > 0
    assert r.mapped["610102"] == 0
    for cmd in (["evaluate", "statistics", "m", "--units", "u", "--unit-field", "c", "--stats", "s", "--stats-field", "c",
                 "--area-field", "a", "--area-unit", "ha"], ["evaluate", "points", "m", "p", "--label-field", "l"],
                ["evaluate", "report", "m", "--out", "o"]):
        assert build_parser(cmd).parse_args(cmd).threshold is None
        assert build_parser(cmd).parse_args([*cmd, "--threshold", "0"]).threshold == 0.0
    cmp = ["evaluate", "compare", "a", "b"]
    assert build_parser(cmp).parse_args(cmp).threshold_a is None


# ---- 1.6: evaluate report takes the options of evaluate statistics -------------------------------------------
def test_report_accepts_percent_maps_and_weight(tmp_path):
    cmd = ["evaluate", "report", "m.tif", "--out", "o", "--map-kind", "percent", "--weight", "w.tif"]
    args = build_parser(cmd).parse_args(cmd)
    assert args.map_kind == "percent" and args.weight == "w.tif"
    st = ["evaluate", "statistics", "m", "--units", "u", "--unit-field", "c", "--stats", "s", "--stats-field", "c",
          "--area-field", "a", "--area-unit", "ha"]
    kinds = lambda c: next(a.choices for a in build_parser(c)._subparsers._group_actions[0].choices["evaluate"]  # noqa: E731
                           ._subparsers._group_actions[0].choices[c[1]]._actions if "--map-kind" in a.option_strings)
    assert kinds(cmd) == kinds(st)


def test_report_areas_of_a_percent_map(tmp_path):
    v = np.full(SHAPE, 40, np.uint8)  # 40 % of every pixel
    p = _write(tmp_path / "pct.tif", v, nodata=255)
    stats = _stats(tmp_path, [(c, 100.0) for c in COUNTIES])
    out = tmp_path / "rep"
    rc = main(["evaluate", "report", str(p), "--out", str(out), "--map-kind", "percent", "--units", str(_units(tmp_path)),
               "--unit-field", "code", "--stats", str(stats), "--stats-field", "code", "--area-field", "area", "--area-unit", "ha",
               "--levels", "county"])
    assert rc == 0
    df = pd.read_csv(out / "statistics_county.csv", dtype={"code": str}).set_index("code")
    rows = _row_areas(SHAPE[0])
    for code, (c0, c1, r0, r1) in COUNTIES.items():
        assert df.loc[code, "mapped_m2"] == pytest.approx(0.4 * (c1 - c0) * rows[r0:r1].sum(), rel=1e-6)
