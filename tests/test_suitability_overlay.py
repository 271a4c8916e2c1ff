"""Reclassification and overlay: hand-computed small cases with the special rules, weights, AHP, the search."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from conftest import as_dataarray
from irrmap.app.cli import main
from irrmap.core.errors import ConfigError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.suitability.overlay import ahp_weights, normalise_weights, random_weights, search_weights, weighted_overlay
from irrmap.suitability.reclass import Breaks, FewCropRule, FlatUnitRule, classify, reclassify, zonal_percentiles

GRID = Grid.from_bounds(500_000, 4_000_000, 500_000 + 4 * 250, 4_000_000 + 3 * 250, 250.0, "EPSG:32650")  # 3 x 4
NAN = np.nan

# two units side by side (1: left two columns, 2: right two), one pixel outside (0)
ZONES = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [1, 1, 2, 0]], np.int32)
ELEV = np.array([[1000, 1099, 50, 55], [1100, 1301, 60, 70], [1501, 1300, 40, 9], [0, 0, 0, 0]][:3], np.float32)
SLOPE = np.array([[0, 2, 2.01, 4], [4.5, 8, 9, 1], [1, 1, 1, 1]], np.float32)
DIST = np.array([[0, 1000, 500, 20500], [1001, 10000, 10500, 40000], [20000, 20001, 1500, 0]], np.float32)
ARID = np.array([[0.05, 0.1, 0.15, 0.95], [0.9, 0.5, 0.55, 2.0], [0.3, NAN, 0.2, 0.2]], np.float32)
CROP = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0]], np.float32)


def _inputs():
    return [as_dataarray(a, GRID) for a in (ELEV, SLOPE, DIST, ARID, ZONES)]


def test_classify_breaks_are_inclusive_upper_limits():
    np.testing.assert_array_equal(classify(np.array([0, 2, 2.0001, 4, 8, 8.5, NAN]), (2, 4, 8)), [4, 4, 3, 3, 2, 1, NAN])
    ai = classify(np.array([0.0, 0.1, 0.11, 0.5, 0.9, 0.91, 5]), Breaks().aridity)
    np.testing.assert_array_equal(ai, [10, 10, 9, 6, 2, 1, 1])


def test_reclassify_relative_to_unit_minimum():
    cls, table = reclassify(*_inputs(), few_crop_rule=None)
    # unit 1 min elevation 1000: +0 +99 +100 +301 +501 +300 -> 4 4 4 2 1 3 ; unit 2 min 40: +10 +15 +20 +30 +0
    np.testing.assert_array_equal(cls["elevation"].values, [[4, 4, 4, 4], [4, 2, 4, 4], [1, 3, 4, NAN]])
    np.testing.assert_array_equal(cls["slope"].values, [[4, 4, 3, 3], [2, 2, 1, 4], [4, 4, 4, NAN]])
    # unit 1 min distance 0; unit 2 min 500 (the outside pixel's 0 does not count): +0 +20000 +10000 +39500 +1000
    np.testing.assert_array_equal(cls["distance"].values, [[4, 4, 4, 2], [3, 3, 3, 1], [2, 1, 4, NAN]])
    np.testing.assert_array_equal(cls["aridity"].values, [[10, 10, 9, 1], [2, 6, 5, 1], [8, NAN, 9, NAN]])
    assert table.loc[1, "elevation_min"] == 1000 and table.loc[2, "elevation_min"] == 40
    assert table.loc[2, "distance_min"] == 500
    assert all(c.attrs["n_classes"] == n for c, n in zip(cls.values(), (4, 4, 4, 10)))


def test_overlay_hand_computed_with_special_rules():
    crop = as_dataarray(CROP, GRID)
    # unit 1 has 4 crop pixels, unit 2 has 1: with min 2, unit 2 is "few crop"
    flat = FlatUnitRule(max_relief=100.0, zones=frozenset({1, 2}))  # unit 2 relief (P95-P5) < 100 m: flat
    cls, table = reclassify(*_inputs(), crop=crop, flat_rule=flat, few_crop_rule=FewCropRule(min_crop_pixels=2))
    assert table.loc[1, "crop_pixels"] == 4 and table.loc[2, "crop_pixels"] == 1
    assert bool(table.loc[2, "few_crop"]) and not bool(table.loc[1, "few_crop"])
    assert bool(table.loc[2, "flat"]) and not bool(table.loc[1, "flat"])
    # unit 1 relief: sorted elevations 1000 1099 1100 1300 1301 1501, P5 = 1000 + 0.25*99 = 1024.75,
    # P95 = 1301 + 0.75*200 = 1451 -> 426.25 ; unit 2: 40 50 55 60 70 -> P5 42, P95 68 -> 26
    assert table.loc[1, "relief"] == pytest.approx(426.25) and table.loc[2, "relief"] == pytest.approx(26.0)
    # few-crop wins over flat: every class of unit 2 is 1
    for c in cls.values():
        np.testing.assert_array_equal(c.values[:, 2:][ZONES[:, 2:] == 2], 1)
    w = {"elevation": 0.4, "distance": 0.3, "slope": 0.2, "aridity": 0.1}
    s = weighted_overlay(cls, w).values
    # pixel (0,0): E4 D4 S4 A10 -> 1.0 ; pixel (1,1): E2 D3 S2 A6 -> 0.4*0.5+0.3*0.75+0.2*0.5+0.1*0.6 = 0.585
    assert s[0, 0] == pytest.approx(1.0) and s[1, 1] == pytest.approx(0.585)
    # unit 2 (few crop): 0.4/4 + 0.3/4 + 0.2/4 + 0.1/10 = 0.235 ; (2,1) has no aridity -> NaN ; outside -> NaN
    np.testing.assert_allclose(s[:, 2:][ZONES[:, 2:] == 2], 0.235, rtol=1e-6)
    assert np.isnan(s[2, 1]) and np.isnan(s[2, 3])
    assert np.nanmin(s) >= 0.1 - 1e-6 and np.nanmax(s) <= 1 + 1e-6


def test_flat_rule_sets_classes_only_in_flat_units():
    flat = FlatUnitRule(max_relief=100.0)
    cls, table = reclassify(*_inputs(), flat_rule=flat, few_crop_rule=None)
    unit2 = ZONES == 2
    np.testing.assert_array_equal(cls["aridity"].values[unit2], 10)
    np.testing.assert_array_equal(cls["distance"].values[unit2], 4)
    np.testing.assert_array_equal(cls["slope"].values[unit2], [3, 3, 1, 4, 4])  # untouched
    np.testing.assert_array_equal(cls["aridity"].values[0, :2], [10, 10])  # unit 1 is not flat: ordinary classes
    assert cls["aridity"].values[1, 0] == 2


def test_few_crop_rule_counts_units_without_crop_as_zero():
    crop = as_dataarray(np.where(ZONES == 2, 0, CROP).astype(np.float32), GRID)
    inputs = _inputs()
    cls, table = reclassify(*inputs, crop=crop)  # default: fewer than 50 crop pixels -> class 1
    assert table.loc[2, "crop_pixels"] == 0 and table["few_crop"].all()
    for name, raster in zip(("elevation", "slope", "distance", "aridity"), inputs):  # a missing input stays NaN ((2, 1)'s aridity)
        want = np.where(np.isnan(raster.values[ZONES > 0]), np.nan, 1)
        np.testing.assert_array_equal(cls[name].values[ZONES > 0], want)


def test_dask_equals_numpy():
    args = _inputs()
    flat = FlatUnitRule(max_relief=100.0)
    crop = as_dataarray(CROP, GRID)
    a, ta = reclassify(*args, crop=crop, flat_rule=flat, few_crop_rule=FewCropRule(2))
    b, tb = reclassify(*[x.chunk(2) for x in args], crop=crop.chunk(2), flat_rule=flat, few_crop_rule=FewCropRule(2))
    for k in a:
        np.testing.assert_array_equal(a[k].values, b[k].values)
    assert ta.equals(tb)


def test_zonal_percentiles_match_numpy():
    rng = np.random.default_rng(4)
    v = np.round(rng.normal(300, 80, (50, 60)), 2)
    z = rng.integers(0, 4, (50, 60))
    pct = zonal_percentiles(v, z, (5, 50, 95))
    for zone in (1, 2, 3):
        np.testing.assert_allclose(pct.loc[zone].to_numpy(), np.percentile(v[z == zone], [5, 50, 95]), atol=1e-6)


def test_weights_normalised_with_warning_or_rejected():
    with pytest.warns(UserWarning, match="sum to 2"):
        assert normalise_weights({"a": 1.0, "b": 1.0}) == {"a": 0.5, "b": 0.5}
    with pytest.raises(ConfigError, match="suitability.weights"):
        normalise_weights({"a": -1.0, "b": 2.0})
    with pytest.raises(ConfigError):
        weighted_overlay({"elevation": as_dataarray(ELEV, GRID)}, {"slope": 1.0}, {"elevation": 4})


def test_ahp_recovers_consistent_weights_and_flags_inconsistency():
    w = np.array([0.4, 0.3, 0.2, 0.1])
    res = ahp_weights(w[:, None] / w[None, :], ["e", "d", "s", "a"])
    np.testing.assert_allclose(list(res.weights.values()), w, atol=1e-12)
    assert res.consistency_ratio == pytest.approx(0.0, abs=1e-9)
    bad = np.array([[1, 9, 1 / 9], [1 / 9, 1, 9], [9, 1 / 9, 1]])
    with pytest.warns(UserWarning, match="consistency ratio"):
        assert ahp_weights(bad, ["a", "b", "c"]).consistency_ratio > 0.1


def test_search_is_seeded_and_picks_the_best():
    target = np.array([0.1, 0.2, 0.3, 0.4])
    names = ["elevation", "distance", "slope", "aridity"]

    def score(w):
        return -float(np.abs(np.array([w[n] for n in names]) - target).sum())

    a = search_weights(score, names, n=500, seed=42)
    b = search_weights(score, names, n=500, seed=42)
    assert a.weights == b.weights and a.index == b.index
    cand = random_weights(500, 4, 42)
    want = np.argmax(-np.abs(cand - target).sum(1))
    assert a.index == want and np.allclose(list(a.weights.values()), cand[want])
    assert abs(sum(a.weights.values()) - 1) < 1e-12
    assert search_weights(score, names, n=500, seed=7).index != a.index  # a different seed searches other vectors


def test_search_ties_go_to_the_most_even_vector():
    names = ["a", "b", "c"]
    cand = random_weights(50, 3, 1)
    # only two score levels: kappa saturates, so many candidates tie at the top
    res = search_weights(lambda w: 1.0 if w["a"] > 0.2 else 0.5, names, n=50, seed=1)
    top = np.flatnonzero(cand[:, 0] > 0.2)
    most_even = top[np.argmin(np.linalg.norm(cand[top] - 1 / 3, axis=1))]
    assert res.index == most_even and len(top) > 5
    # NaN scores never win
    res = search_weights(lambda w: np.nan if w["b"] > 0.3 else w["a"], names, n=50, seed=1)
    assert res.weights["b"] <= 0.3


def test_cli_overlay(tmp_path):
    paths = {}
    for name, arr in {"elevation": ELEV, "slope": SLOPE, "distance": DIST, "aridity": ARID, "crop": CROP}.items():
        paths[name] = tmp_path / f"{name}.tif"
        write_raster(paths[name], as_dataarray(arr, GRID), cog=False)
    write_raster(tmp_path / "zones.tif", as_dataarray(ZONES, GRID), nodata=0, dtype="int32", cog=False)
    rc = main(["-q", "suitability", "overlay", str(tmp_path / "s.tif"), "--zones", str(tmp_path / "zones.tif"),
               *[a for k in ("elevation", "slope", "distance", "aridity", "crop") for a in (f"--{k}", str(paths[k]))],
               "--weights", "0.4", "0.3", "0.2", "0.1", "--min-crop-pixels", "2", "--flat-zones", "1", "2",
               "--classes-out", str(tmp_path / "c.tif"), "--table", str(tmp_path / "t.csv")])
    assert rc == 0
    with rasterio.open(tmp_path / "s.tif") as ds:
        s = ds.read(1)
    assert s[0, 0] == pytest.approx(1.0) and s[1, 1] == pytest.approx(0.585) and s[0, 2] == pytest.approx(0.235)
    with rasterio.open(tmp_path / "c.tif") as ds:
        assert ds.count == 4 and ds.read(1)[1, 1] == 2 and ds.read(4)[0, 0] == 10
    assert (tmp_path / "t.csv").read_text().startswith("zone,")
