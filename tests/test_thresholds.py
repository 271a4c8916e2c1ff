"""Threshold splitting: hand-checked cases, a brute-force per-unit loop, and property tests (hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irrmap.core.grid import Grid
from irrmap.training.split_kernel import split
from irrmap.training.thresholds import NODATA, ThresholdSplitter

from conftest import as_dataarray

EQ = "+proj=cea +lon_0=0 +lat_ts=0 +datum=WGS84 +units=m"  # equal-area: every pixel is exactly 100 x 100 m


def _grid(rows, cols):
    return Grid.from_bounds(0, 0, cols * 100.0, rows * 100.0, 100.0, EQ)


def _fit(score, zones, frac, targets_ha, rule="nearest", strip_rows=512):
    g = _grid(*np.shape(score))
    da = lambda a: as_dataarray(np.asarray(a), g)  # noqa: E731
    t = pd.Series({k: v * 1e4 for k, v in targets_ha.items()}, dtype=float)
    sp = ThresholdSplitter(rule=rule, strip_rows=strip_rows).fit(
        da(np.asarray(score, np.float32)), zones=da(np.asarray(zones, np.int32)), cropland=da(np.asarray(frac, np.float32)), targets=t)
    return sp, sp.label_map(da(np.asarray(zones, np.int32))).values, sp.table_.set_index("zone")


def test_ranking_fractional_cropland_and_nearest_stop():
    # one unit, 1 ha pixels; fractions make cropland areas 1.0, 0.5, 0.25, 1.0 ha; target 1.6 ha
    score = [[0.9, 0.8, 0.7, 0.1]]
    sp, m, tab = _fit(score, [[1, 1, 1, 1]], [[1.0, 0.5, 0.25, 1.0]], {1: 1.6})
    assert m.tolist() == [[1, 1, 0, 0]]  # 1.5 ha (|-0.1|) beats 1.75 ha (|+0.15|)
    assert tab.loc[1, "mapped_m2"] == pytest.approx(1.5e4) and tab.loc[1, "status"] == "ok"
    assert tab.loc[1, "threshold"] == pytest.approx(0.8) and tab.loc[1, "n_pixels"] == 2
    _, m, tab = _fit(score, [[1, 1, 1, 1]], [[1.0, 0.5, 0.25, 1.0]], {1: 1.6}, rule="reach")
    assert m.tolist() == [[1, 1, 1, 0]] and tab.loc[1, "mapped_m2"] == pytest.approx(1.75e4)
    _, m, _ = _fit(score, [[1, 1, 1, 1]], [[1.0, 0.5, 0.25, 1.0]], {1: 1.6}, rule="under")
    assert m.tolist() == [[1, 1, 0, 0]]


def test_ties_go_to_the_earlier_pixel_in_row_major_order():
    score = [[0.5, 0.5], [0.5, 0.5]]
    _, m, tab = _fit(score, [[1, 1], [1, 1]], [[1, 1], [1, 1]], {1: 3.0})
    assert m.tolist() == [[1, 1], [1, 0]]
    # a strip boundary between the rows changes nothing
    _, m2, _ = _fit(score, [[1, 1], [1, 1]], [[1, 1], [1, 1]], {1: 3.0}, strip_rows=1)
    assert np.array_equal(m, m2)


def test_non_crop_zero_missing_and_infeasible_units():
    score = [[0.9, 0.8, 0.7, 0.6, 0.5, 0.4]]
    zones = [[1, 1, 2, 2, 3, 4]]
    frac = [[1.0, 0.0, 1.0, 1.0, 1.0, 0.5]]
    sp, m, tab = _fit(score, zones, frac, {1: 5.0, 2: 0.0, 4: 0.3})  # unit 3 has no statistic
    assert m.tolist() == [[1, 0, 0, 0, NODATA, 1]]  # non-crop pixel stays 0 even when short of target
    assert tab.loc[1, "status"] == "infeasible" and tab.loc[1, "shortfall_m2"] == pytest.approx(4e4)
    assert tab.loc[2, "status"] == "zero" and tab.loc[2, "mapped_m2"] == 0
    assert tab.loc[3, "status"] == "missing" and np.isnan(tab.loc[3, "mapped_m2"])
    assert tab.loc[4, "mapped_m2"] == pytest.approx(0.5e4)  # 0.5 ha is nearer the 0.3 ha target than 0 ha
    assert tab.loc[4, "threshold"] == pytest.approx(0.4) and sp.thresholds_[3] == np.inf  # zone 3: nothing labelled


def test_nearest_rule_can_stop_before_a_large_pixel():
    _, m, tab = _fit([[0.9]], [[1]], [[1.0]], {1: 0.4})
    assert m.tolist() == [[0]] and tab.loc[1, "mapped_m2"] == 0.0  # 0 ha is nearer 0.4 ha than 1 ha


def test_crop_pixel_without_score_is_nodata_and_transform_reproduces_fit():
    score = np.array([[0.9, np.nan, 0.3], [0.6, 0.6, 0.1]], np.float32)
    zones = np.array([[1, 1, 1], [1, 2, 2]], np.int32)
    frac = np.ones((2, 3), np.float32)
    sp, m, tab = _fit(score, zones, frac, {1: 2.0, 2: 1.0})
    assert m.tolist() == [[1, NODATA, 0], [1, 1, 0]]
    assert tab.loc[1, "n_without_score"] == 1
    g = _grid(2, 3)
    again = sp.transform(as_dataarray(score, g), as_dataarray(zones, g)).values
    assert np.array_equal(again, m)


def _brute_force(unit, score, area, target):
    """The obvious per-unit loop: mask, sort (stable, descending), cumsum, nearest stop."""
    lab = np.zeros(unit.size, np.uint8)
    for u in np.unique(unit):
        t = target[u]
        if not (t > 0):
            continue
        idx = np.flatnonzero(unit == u)
        idx = idx[np.argsort(-score[idx], kind="stable")]
        c = np.cumsum(area[idx].astype(np.float64))
        if c[-1] <= t:
            lab[idx] = 1
            continue
        k = int(np.searchsorted(c, t)) + 1  # first count with c >= t
        prev = c[k - 2] if k >= 2 else 0.0
        n = k if (c[k - 1] == t or (c[k - 1] - t) <= (t - prev)) else k - 1
        lab[idx[:n]] = 1
    return lab


def test_kernel_equals_brute_force_loop():
    rng = np.random.default_rng(5)
    n, units = 20_000, 37
    unit = rng.integers(1, units + 1, n)
    score = np.round(rng.random(n), 2).astype(np.float32)  # many ties
    area = (rng.random(n) * 6e4).astype(np.float32)
    target = np.concatenate([[np.nan], rng.random(units) * 4e6])
    target[5] = np.nan
    target[7] = 0.0
    target[9] = 1e12  # infeasible
    lab, *_ = split(unit, score, area, target)
    assert np.array_equal(lab, _brute_force(unit, score, area, target))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 12), cols=st.integers(1, 12), n_units=st.integers(1, 5), seed=st.integers(0, 2**31 - 1),
    rule=st.sampled_from(["nearest", "reach", "under"]),
)
def test_property_one_pixel_bound_and_no_non_crop(rows, cols, n_units, seed, rule):
    rng = np.random.default_rng(seed)
    zones = rng.integers(0, n_units + 1, (rows, cols)).astype(np.int32)
    frac = np.where(rng.random((rows, cols)) < 0.3, 0.0, rng.random((rows, cols))).astype(np.float32)
    score = rng.integers(0, 4, (rows, cols)).astype(np.float32)
    crop_ha = {u: float(frac[zones == u].sum()) for u in range(1, n_units + 1)}
    targets = {u: float(rng.uniform(0, 1.2) * crop_ha[u]) for u in crop_ha if rng.random() < 0.8}
    _, m, tab = _fit(score, zones, frac, targets, rule=rule, strip_rows=int(rng.integers(1, 5)))
    assert not np.any((m == 1) & (frac == 0)), "a non-crop pixel was labelled irrigated"
    assert np.all(m[zones == 0] == NODATA)
    for u in range(1, n_units + 1):
        mapped = float(frac[(zones == u) & (m == 1)].sum()) * 1e4
        if u not in targets:
            assert np.all(m[zones == u] == NODATA)
            continue
        assert mapped == pytest.approx(tab.loc[u, "mapped_m2"], rel=1e-5, abs=1e-3)
        biggest = float(frac[zones == u].max(initial=0)) * 1e4
        t = targets[u] * 1e4
        if tab.loc[u, "status"] == "infeasible":
            assert mapped == pytest.approx(crop_ha[u] * 1e4, rel=1e-5)
        else:
            assert abs(mapped - t) <= biggest * (0.5 if rule == "nearest" else 1.0) + 1e-3
        if rule == "reach" and tab.loc[u, "status"] == "ok":
            assert mapped >= t - 1e-3
        if rule == "under":
            assert mapped <= t + 1e-3


def test_all_chinese_counties_on_a_province_grid(shared_data):
    """Real county geometry on a 0.00225 deg grid: every unit within half a crop pixel of its target."""
    import glob

    from irrmap.core.units import AdminUnits

    files = sorted(glob.glob(str(shared_data / "admin" / "china" / "city_full" / "*.json")))
    units = AdminUnits.read(files, "adcode")
    grid = Grid.from_bounds(113.4, 36.0, 119.9, 42.7, 0.00225, "EPSG:4326")  # Hebei and neighbours
    zones = units.rasterize(grid, chunks=1024).compute()
    rng = np.random.default_rng(11)
    frac = np.where(rng.random(grid.shape) < 0.35, rng.random(grid.shape), 0.0).astype(np.float32)
    score = rng.random(grid.shape).astype(np.float32)
    area = frac * np.asarray(grid.pixel_area(), np.float64)
    z = zones.values
    crop = np.bincount(z.ravel(), weights=area.ravel(), minlength=len(units) + 1)
    present = np.flatnonzero(crop[1:] > 0) + 1
    targets = pd.Series(crop[present] * rng.uniform(0.1, 0.9, present.size), index=present)
    sp = ThresholdSplitter().fit(as_dataarray(score, grid), zones=zones, cropland=as_dataarray(frac, grid), targets=targets)
    m = sp.label_map(zones).values
    tab = sp.table_.set_index("zone").loc[present]
    assert (tab["status"] == "ok").all() and len(tab) > 300
    mapped = np.bincount(z.ravel(), weights=np.where(m == 1, area, 0).ravel(), minlength=len(units) + 1)[present]
    np.testing.assert_allclose(mapped, tab["mapped_m2"], rtol=1e-6)  # the table is the map's true area
    biggest = np.array([area[z == u].max() for u in present[:50]])
    err = np.abs(mapped - targets.values)
    assert np.all(err[:50] <= biggest / 2 + 1e-3)
    assert err.max() <= 0.5 * area.max() + 1e-3  # worst unit within half of the largest crop pixel (~25,000 m2)
    assert not np.any((m == 1) & (frac == 0))
