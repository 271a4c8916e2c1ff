"""Estimators never drop what they cannot estimate, and reference labels are never guessed.

Issue 12 item 7: an unsampled map class with area made the Olofsson proportions sum to less than 1 with exit 0;
an undefined kappa was reported with the interval [-1, 1]. Issue 13: labels coded 1/2 were all read as
irrigated (non-zero). Expected values are hand computations (written out below), scikit-learn (kappa of a
single class is undefined there too) and the raw files read with the json module.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from conftest import as_dataarray
from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid
from irrmap.evaluation.agreement import agreement_metrics
from irrmap.evaluation.area_estimation import allocate, olofsson, sample_size, stehman
from irrmap.evaluation.comparison import compare_maps
from irrmap.evaluation.confusion import accuracy, accuracy_from_matrix
from irrmap.evaluation.points import binary_labels

OLOFSSON_COUNTS = [[66, 0, 5, 4], [0, 55, 8, 12], [1, 0, 153, 11], [2, 1, 9, 313]]
OLOFSSON_PIXELS = [200_000, 150_000, 3_200_000, 6_450_000]
CLASSES = ["defor", "gain", "forest", "nonforest"]


def nan_measures(d: dict) -> set[str]:
    """Names (as in `not_estimable`) of every null value among the scalar and per-class estimates of a to_dict()."""
    out = set()
    for k, v in d.items():
        if k in ("not_estimable", "classes", "n", "total_size"):
            continue
        if v is None:
            out.add(k)
        elif isinstance(v, dict):
            out |= {f"{k}.{c}" for c, x in v.items() if x is None}
        elif k == "kappa_ci95" and None in v:
            out.add(k)
    return out


# ---- Olofsson: strata = map classes ------------------------------------------------------------------------
def test_olofsson_map_class_with_area_but_no_samples_is_an_error():
    counts = [row[:] for row in OLOFSSON_COUNTS]
    counts[1] = [0, 0, 0, 0]  # forest gain: 150,000 mapped pixels, no sample unit (before: proportions summed to 0.985)
    with pytest.raises(DataError, match=r"\['gain'\] have a mapped size but no sample unit"):
        olofsson(counts, OLOFSSON_PIXELS, CLASSES)
    # a size for a class the matrix lacks is the same fault
    with pytest.raises(DataError, match=r"\['water'\] have a mapped size but no row"):
        olofsson(pd.DataFrame(OLOFSSON_COUNTS, index=CLASSES, columns=CLASSES), dict(zip(CLASSES + ["water"], OLOFSSON_PIXELS + [5])))
    with pytest.raises(DataError, match="sample units but a mapped size of 0"):
        olofsson(OLOFSSON_COUNTS, [200_000, 0, 3_200_000, 6_450_000], CLASSES)


def test_olofsson_unsampled_class_cli_exits_2(tmp_path, capsys):
    counts = pd.DataFrame(OLOFSSON_COUNTS, index=CLASSES, columns=CLASSES)
    counts.loc["gain"] = 0
    counts.to_csv(tmp_path / "m.csv")
    pd.DataFrame({"class": CLASSES, "size": OLOFSSON_PIXELS}).to_csv(tmp_path / "n.csv", index=False)
    assert main(["-q", "evaluate", "area", "--matrix", str(tmp_path / "m.csv"), "--mapped", str(tmp_path / "n.csv"), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no sample unit" in err[0] and "gain" in err[0]


def test_olofsson_single_unit_stratum_by_hand():
    """Counts [[8, 2], [0, 1]], mapped 900 / 100. By hand (Olofsson 2014 eqs. 4-6): p = [[0.72, 0.18], [0, 0.1]];
    area proportions 0.72 and 0.28 (sum 1); OA 0.82; UA 0.8 (SE sqrt(0.8 * 0.2 / 9) = 0.13333) and 1.0; PA 1.0
    and 0.1 / 0.28. Stratum 1 holds one unit, so every variance that sums over it is not estimable."""
    e = olofsson([[8, 2], [0, 1]], [900, 100], ["a", "b"])
    np.testing.assert_allclose(e.area_proportion.values, [0.72, 0.28], atol=1e-12)
    assert e.area_proportion.sum() == pytest.approx(1.0, abs=1e-12)
    assert e.area.sum() == pytest.approx(1000.0)
    assert e.overall_accuracy == pytest.approx(0.82)
    np.testing.assert_allclose(e.users_accuracy.values, [0.8, 1.0])
    np.testing.assert_allclose(e.producers_accuracy.values, [1.0, 0.1 / 0.28])
    assert e.users_accuracy_se["a"] == pytest.approx(math.sqrt(0.8 * 0.2 / 9))
    d = e.to_dict()
    assert d["overall_accuracy_se"] is None and d["area_se"]["a"] is None
    # every null has a reason, and every reason belongs to a null
    reasons = d["not_estimable"]
    expected = nan_measures(d) - {f"area_ci95.{c}" for c in "ab"} - {f"area_se.{c}" for c in "ab"}
    assert set(reasons) == expected
    assert "single sample unit" in reasons["overall_accuracy_se"] and "b" in reasons["overall_accuracy_se"]


@pytest.mark.parametrize("seed", range(4))
def test_stratified_estimates_sum_to_one(seed):
    """Random stratified designs (strata unlike the map classes, some classes rare): the estimated area
    proportions and the error matrix sum to 1; with strata = map classes Stehman equals Olofsson."""
    rng = np.random.default_rng(seed)
    n = 120
    strata = rng.choice(["s1", "s2", "s3"], n)
    m = rng.choice(["x", "y", "z"], n, p=[0.6, 0.3, 0.1])
    r = np.where(rng.random(n) < 0.75, m, rng.choice(["x", "y", "z"], n))
    sizes = dict(zip(["s1", "s2", "s3"], rng.uniform(1e3, 1e5, 3)))
    e = stehman(strata, m, r, sizes)
    assert e.area_proportion.sum() == pytest.approx(1.0, abs=1e-12)
    assert e.error_matrix.to_numpy().sum() == pytest.approx(1.0, abs=1e-12)
    counts = pd.crosstab(pd.Series(m, name="map"), pd.Series(r, name="ref")).reindex(index=list("xyz"), columns=list("xyz"), fill_value=0)
    mapped = dict(zip("xyz", rng.uniform(1e3, 1e5, 3)))
    o = olofsson(counts, mapped)
    assert o.area_proportion.sum() == pytest.approx(1.0, abs=1e-12)
    s = stehman(m, m, r, mapped, classes=list("xyz"))
    np.testing.assert_allclose(s.area_proportion.values, o.area_proportion.values, rtol=1e-12)


def test_stehman_refuses_what_would_drop_area():
    with pytest.raises(DataError, match=r"labels outside the classes"):
        stehman(["h"] * 4, ["A", "B", "A", "C"], ["A", "B", "C", "C"], {"h": 100}, classes=["A", "B"])
    with pytest.raises(DataError, match="size of 0"):
        stehman(["h", "h", "k", "k"], ["A", "B", "A", "B"], ["A", "B", "A", "A"], {"h": 100, "k": 0})
    # a class no sample unit was mapped as: UA not estimable, with the reason
    e = stehman(["h", "h", "k", "k"], ["A", "A", "A", "A"], ["A", "B", "A", "B"], {"h": 100, "k": 50}, classes=["A", "B"])
    d = e.to_dict()
    assert e.area_proportion.sum() == pytest.approx(1.0)
    assert d["users_accuracy"]["B"] is None and d["not_estimable"]["users_accuracy.B"] == "no sample unit is mapped as B"


# ---- kappa and the confusion matrix ------------------------------------------------------------------------
def test_undefined_kappa_has_no_interval():
    """One class only: chance agreement 1, kappa 0/0. scikit-learn agrees it is undefined (NaN); before, the
    95 % interval was reported as [-1, 1]."""
    acc = accuracy([1] * 6, [1] * 6, classes=[0, 1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert math.isnan(cohen_kappa_score([1] * 6, [1] * 6))
    assert math.isnan(acc.kappa) and math.isnan(acc.kappa_se)
    assert all(math.isnan(v) for v in acc.kappa_ci95)
    d = acc.to_dict({0: "not_irrigated", 1: "irrigated"})
    assert d["kappa_ci95"] == [None, None]
    assert "only the class irrigated" in d["not_estimable"]["kappa_ci95"]
    assert set(d["not_estimable"]) == nan_measures(d)
    assert d["overall_accuracy"] == 1.0


def test_every_nan_accuracy_has_a_reason():
    acc = accuracy([0], [1], classes=[0, 1, 2])  # one unit: no SE; class 2 nowhere
    d = acc.to_dict()
    assert set(d["not_estimable"]) == nan_measures(d)
    assert "needs at least 2" in d["not_estimable"]["overall_accuracy_se"]
    with pytest.raises(DataError, match="no sample units"):
        accuracy_from_matrix(np.zeros((2, 2)))


# ---- agreement with statistics and map comparison ----------------------------------------------------------
def test_agreement_metrics_say_why_not():
    one = agreement_metrics([5.0], [4.0])  # one unit: errors defined, a fitted line is not
    assert one["rmse"] == 1.0 and one["bias"] == -1.0 and one["relative_bias"] == pytest.approx(-0.2)
    assert {k for k in ("r2", "r2_1to1", "slope", "intercept") if one[k] != one[k]} == set(one["not_estimable"])
    assert "1 unit" in one["not_estimable"]["r2"]
    flat = agreement_metrics([3.0, 3.0, 3.0], [1.0, 2.0, 3.0])
    assert "statistics are equal" in flat["not_estimable"]["slope"] and math.isnan(flat["r2"])
    none = agreement_metrics([np.nan], [1.0])
    assert none["n"] == 0 and set(none["not_estimable"]) == {k for k, v in none.items() if isinstance(v, float) and v != v}


def test_compare_one_class_kappa_not_estimable():
    g = Grid.from_bounds(0, 0, 10, 10, 1, "EPSG:32633")
    ones = as_dataarray(np.ones(g.shape, "float32"), g)
    res = compare_maps(ones, ones)
    assert res.overall_agreement == 1.0 and math.isnan(res.kappa)
    d = res.to_dict()
    assert d["kappa"] is None and "irrigated" in d["not_estimable"]["kappa"]


def test_unit_with_map_gaps_has_no_mapped_area(tmp_path):
    """A map with no data on half of one county: that county's area is not estimable (before: the gap counted
    as 0 and the county looked under-mapped); its city and province have no mapped area either, the other
    counties keep the hand-summed area (value x pixel area from Grid.pixel_area)."""
    import geopandas as gpd
    from shapely.geometry import box

    from irrmap.core.units import AdminUnits
    from irrmap.evaluation.agreement import mapped_area_by_unit, paired_by_level

    g = Grid.from_bounds(104.0, 38.0, 104.6, 38.4, 0.01, "EPSG:4326")
    t = g.transform
    quads = {"610101": (0, 30, 0, 20), "610102": (30, 60, 0, 20), "610201": (0, 30, 20, 40), "610202": (30, 60, 20, 40)}
    gpd.GeoDataFrame([{"code": c, "geometry": box(t.c + c0 * t.a, t.f + r1 * t.e, t.c + c1 * t.a, t.f + r0 * t.e)}
                      for c, (c0, c1, r0, r1) in quads.items()], crs="EPSG:4326").to_file(tmp_path / "u.geojson")
    units = AdminUnits.read(tmp_path / "u.geojson", "code", hierarchy="cn-adcode")
    vals = np.full(g.shape, 0.5, "float32")
    vals[20:40, 30:45] = np.nan  # half of county 610202
    mapped = mapped_area_by_unit(as_dataarray(vals, g), units)
    area = g.pixel_area()
    assert mapped["610101"] == pytest.approx(float((0.5 * area[0:20, 0:30]).sum()), rel=1e-9)
    assert math.isnan(mapped["610202"]) and "50.0 %" in mapped.attrs["not_estimable"]["610202"]
    stats = pd.Series({c: 1e6 for c in quads})
    paired = paired_by_level(mapped, stats, units, ["county", "city", "province"])
    assert "610202" not in set(paired["county"]["code"]) and len(paired["county"]) == 3
    city = paired["city"].set_index("code")
    assert city.loc["610200", "n_units"] == 1 and city.loc["610200", "statistic_m2"] == 1e6  # only 610201 on both sides
    by_city = paired_by_level(mapped, pd.Series({"610100": 2e6, "610200": 2e6}), units, ["city"], stats_level="city")
    assert by_city["city"]["code"].tolist() == ["610100"]  # 610200 has a member without mapped area


# ---- sample design -----------------------------------------------------------------------------------------
def test_sample_design_refuses_unestimable_plans():
    with pytest.raises(DataError, match="sample size of 0"):
        sample_size([1.0, 1.0], [0.5, 0.5], 0.01)
    with pytest.raises(DataError, match="fewer than 2"):
        allocate(100, [0.995, 0.005])  # proportional: 99.5 and 0.5 units -> the small stratum gets 0 or 1
    assert allocate(100, [0.995, 0.005], minimum=2).tolist() == [98, 2]


# ---- reference labels --------------------------------------------------------------------------------------
def test_labels_coded_1_2_are_refused_with_the_values_found():
    with pytest.raises(DataError) as e:
        binary_labels([1, 2, 2, 1, 2], where="label field 'code'")
    msg = str(e.value)
    assert "label field 'code'" in msg and "'1' (2), '2' (3)" in msg
    assert "--label-map 1=0 --label-map 2=1" in msg and 'label_map = {"1" = 0, "2" = 1}' in msg
    np.testing.assert_array_equal(binary_labels([1, 2, 2.0, "1", None], label_map={"1": 0, "2": 1}), [0, 1, 1, 0, -1])
    with pytest.raises(DataError, match=r"\['3'\]"):
        binary_labels([1, 2, 3], label_map={"1": 0, "2": 1})
    with pytest.raises(DataError, match="must be 1"):
        binary_labels([1, 2], label_map={"1": 0, "2": 2})


def test_zero_one_words_and_booleans_need_no_mapping():
    np.testing.assert_array_equal(binary_labels([0, 1, 1.0, "0", " Irrigated ", "rainfed", "YES", "no", True, False, "", np.nan]),
                                  [0, 1, 1, 0, 1, 0, 1, 0, 1, 0, -1, -1])


def test_zambia_1_to_5_needs_a_mapping(shared_data):
    """aiscend-research smallholder boxes: `irrigation` 1 (no irrigation) .. 5 (irrigated). Counts read with json."""
    path = shared_data / "points" / "zambia_smallholder" / "latest_irrigation_data.geojson"
    raw = [f["properties"]["irrigation"] for f in json.loads(path.read_text())["features"]]
    counts = pd.Series(raw).value_counts()
    with pytest.raises(DataError) as e:
        binary_labels(raw)
    for v in range(1, 6):
        assert f"'{v}' ({counts[v]:,})" in str(e.value)
    lab = binary_labels(raw, label_map={"1": 0, "5": 1, "2": -1, "3": -1, "4": -1})
    assert (lab == 0).sum() == counts[1] and (lab == 1).sum() == counts[5] and (lab == -1).sum() == counts[[2, 3, 4]].sum()


def test_gmia_irrigated_0_1_is_read_as_is(shared_data):
    import geopandas as gpd

    pts = gpd.read_file(shared_data / "points" / "gmia_next_asia" / "Asia_GTPs.shp", bbox=(71.0, 40.0, 72.5, 41.5))
    np.testing.assert_array_equal(binary_labels(pts["irrigated"].to_numpy()), pts["irrigated"].astype(int).to_numpy())
