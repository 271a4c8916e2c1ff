"""Re-thresholding per binding unit (irrmap.mapping.reconcile.split_units): hand-computed labels and areas, true
pixel areas from pyproj.Geod on a geographic grid, shortfalls of units that cannot be met, and the job plan's
choice of binding level."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from irrmap.mapping.reconcile import plan_jobs, rethreshold
from pyproj import Geod

from irrmap.core.errors import ConfigError, DataError, InputError
from irrmap.core.grid import Grid


def test_hand_computed_split_nearest_and_ties():
    # one unit, 1 x 5 pixels of 100 m2; cropland f and probability p; score p x f:
    #   f = .5 .4 1. .8 .2 ; p = .8 1. .4 .5 1.  -> score .4 .4 .4 .4 .2 (four ties: row-major order wins)
    # cropland area f x 100 = 50 40 100 80 20; ranked: px0 (50), px1 (90), px2 (190), px3 (270), px4 (290)
    # target 120: c_k first >= 120 at px2 (190, error 70) vs px1 (90, error 30) -> nearest labels px0, px1
    f = np.array([[0.5, 0.4, 1.0, 0.8, 0.2]])
    p = np.array([[0.8, 1.0, 0.4, 0.5, 1.0]])
    unit = np.ones((1, 5), int)
    cls, frac, table = rethreshold(unit, p, f, np.full((1, 1), 100.0), np.array([np.nan, 120.0]))
    assert cls.tolist() == [[1, 1, 0, 0, 0]]
    assert frac[0].tolist() == pytest.approx([0.5, 0.4, 0, 0, 0])
    row = table.iloc[0]
    assert (row.mapped_m2, row.cropland_m2) == pytest.approx((90.0, 290.0))
    assert (row.status, row.shortfall_m2) == ("ok", 0.0)
    # rule "reach": labels until mapped >= target -> px0..px2, 190 m2
    cls, _, table = rethreshold(unit, p, f, np.full((1, 1), 100.0), np.array([np.nan, 120.0]), rule="reach")
    assert cls.tolist() == [[1, 1, 1, 0, 0]] and table.mapped_m2.iloc[0] == pytest.approx(190.0)


def test_missing_inputs_and_units_without_statistic_are_nodata():
    unit = np.array([[1, 1, 2, 0]])
    f = np.array([[np.nan, 0.5, 0.5, 0.5]])
    p = np.array([[0.5, np.nan, 0.5, 0.5]])
    cls, frac, table = rethreshold(unit, p, f, np.ones((1, 4)), np.array([np.nan, 10.0, np.nan]))
    assert cls.tolist() == [[255, 255, 255, 255]]  # cropland missing, probability missing, unit 2 no statistic, outside
    assert np.isnan(frac).all()
    assert table.status.tolist() == ["infeasible", "missing"]
    assert table.shortfall_m2.iloc[0] == 10.0  # nothing could be ranked: the whole statistic is short


def test_infeasible_unit_reports_shortfall_and_maps_all_cropland():
    unit = np.array([[1, 1, 1]])
    f = np.array([[0.2, 0.3, 0.0]])
    cls, _, table = rethreshold(unit, np.full((1, 3), 0.9), f, np.full((1, 3), 1000.0), np.array([np.nan, 800.0]))
    assert cls.tolist() == [[1, 1, 0]]
    r = table.iloc[0]
    assert r.status == "infeasible"
    assert (r.cropland_m2, r.mapped_m2, r.shortfall_m2) == pytest.approx((500.0, 500.0, 300.0))


def test_bad_rule_and_percent_cropland_are_input_errors():
    with pytest.raises(InputError, match="stopping rule"):
        rethreshold(np.ones((1, 1), int), np.ones((1, 1)), np.ones((1, 1)), np.ones((1, 1)), np.array([np.nan, 1.0]), rule="most")
    with pytest.raises(InputError, match="not within 0..1"):
        rethreshold(np.ones((1, 1), int), np.ones((1, 1)), np.full((1, 1), 45.0), np.ones((1, 1)), np.array([np.nan, 1.0]))


def _geod_pixel_areas(grid: Grid) -> np.ndarray:
    """True area (m2) of each row's cells from pyproj.Geod polygons (independent of irrmap's formula)."""
    geod = Geod(ellps="WGS84")
    left, top, res = grid.transform.c, grid.transform.f, grid.transform.a
    out = []
    for r in range(grid.height):
        y0, y1 = top - r * res, top - (r + 1) * res
        area, _ = geod.polygon_area_perimeter([left, left + res, left + res, left], [y0, y0, y1, y1])
        out.append(abs(area))
    return np.array(out)[:, None]


def test_province_only_statistics_are_met_within_one_pixel_of_true_area():
    """Two 'provinces' on a 0.01 deg grid at 40-41 N: after re-thresholding, sum(fraction x Geod pixel area) per
    province equals its statistic within one pixel's true area."""
    grid = Grid.from_bounds(100.0, 40.0, 101.0, 41.0, 0.01, "EPSG:4326")
    rng = np.random.default_rng(17)
    unit = np.where(np.arange(grid.width)[None, :] < 40, 1, 2) * np.ones((grid.height, 1), int)
    f = rng.uniform(0, 1, (grid.height, grid.width)) * (rng.uniform(size=(grid.height, grid.width)) < 0.7)
    p = rng.uniform(0, 1, (grid.height, grid.width))
    area = _geod_pixel_areas(grid)
    crop = [(f * area)[unit == u].sum() for u in (1, 2)]
    target = np.array([np.nan, 0.31 * crop[0], 0.52 * crop[1]])
    cls, frac, table = rethreshold(unit, p, f, np.asarray(grid.pixel_area(), np.float64), target)
    one_pixel = float(area.max())
    for u in (1, 2):
        mapped = float((np.nan_to_num(frac) * area)[unit == u].sum())
        assert abs(mapped - target[u]) <= one_pixel
    assert table.status.tolist() == ["ok", "ok"]
    # the pixels labelled are the highest-scoring ones: every labelled score >= every unlabelled score in a unit
    score = p * f
    for u in (1, 2):
        m = (unit == u) & (f > 0)
        assert score[m & (cls == 1)].min() >= score[m & (cls == 0)].max()


def _units(zones_codes):
    return pd.DataFrame([{"zone": z, "code": c, "city": c[:4] + "00", "province": c[:2] + "0000"} for z, c in zones_codes])


def _sums(n):
    return pd.DataFrame({"zone": range(n + 1), "row0": [-1] + [0] * n, "row1": [-1] + [10] * n, "col0": [-1] + list(range(0, 10 * n, 10)),
                         "col1": [-1] + list(range(10, 10 * n + 10, 10))})


def test_plan_binds_counties_where_reported_and_provinces_where_only_they_are():
    units = _units([(1, "610101"), (2, "610102"), (3, "620101"), (4, "620102")])
    stats = pd.DataFrame({"code": ["610101", "610102", "610000", "620000"], "level": ["county", "county", "province", "province"],
                          "year": 2020, "area_m2": [1.0, 2.0, 3.0, 5.0]})
    jobs, skipped = plan_jobs(units, ["county", "city", "province"], stats, _sums(4), by="province")
    assert [(j.code, j.level, j.codes, j.targets) for j in jobs] == [
        ("610000", "county", ("610101", "610102"), (1.0, 2.0)), ("620000", "province", ("620000",), (5.0,))]
    assert jobs[0].window == (0, 10, 0, 20) and jobs[1].window == (0, 10, 20, 40)
    assert skipped == []
    only, _ = plan_jobs(units, ["county", "city", "province"], stats, _sums(4), by="province", only=["620000"])
    assert [j.code for j in only] == ["620000"]
    with pytest.raises(DataError, match="no province with code"):
        plan_jobs(units, ["county", "city", "province"], stats, _sums(4), by="province", only=["990000"])
    with pytest.raises(ConfigError, match="not a level"):
        plan_jobs(units, ["county", "city", "province"], stats, _sums(4), by="state")


def test_plan_skips_a_batch_unit_without_any_statistic():
    units = _units([(1, "610101"), (2, "620101")])
    stats = pd.DataFrame({"code": ["610101"], "level": ["county"], "year": 2020, "area_m2": [1.0]})
    jobs, skipped = plan_jobs(units, ["county", "city", "province"], stats, _sums(2), by="province")
    assert [j.code for j in jobs] == ["610000"]
    assert skipped == [{"year": 2020, "code": "620000", "reason": "no statistic at county or city or province level"}]
