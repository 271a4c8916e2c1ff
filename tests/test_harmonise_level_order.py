"""Unit levels that nest, missing children filled before a binding parent's factor is passed on, and disagreement
flags on the values as reported (irrmap.core.units.AdminUnits.read, irrmap.core.statistics.harmonise).

Truth: hand-written parent codes and hand-computed small hierarchies (docs/reconcile.md: a missing child is filled
from its parent as reported, then "a province table 1.5x its counties' sum scales every county by 1.5"), and
pandas sums of the children of every parent."""

from __future__ import annotations

import logging

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.core.errors import DataError
from irrmap.core.statistics.harmonise import HarmoniseRules, SourceTable, harmonise, hierarchy_of
from irrmap.core.units import AdminUnits

CODES = ["610101", "610102", "610201", "610202"]
TRUE_PARENT = {"610101": "610100", "610102": "610100", "610201": "610200", "610202": "610200",
               "610100": "610000", "610200": "610000", "610000": None}


def _units(tmp_path, city, prov, codes=CODES, fields=None):
    path = tmp_path / "u.gpkg"
    gpd.GeoDataFrame({"code": codes, "city": city, "prov": prov},
                     geometry=[box(108 + i * 0.1, 34, 108.1 + i * 0.1, 34.1) for i in range(len(codes))],
                     crs="EPSG:4326").to_file(path, driver="GPKG")
    return AdminUnits.read(str(path), "code", hierarchy="fields", parent_fields=fields or {"province": "prov", "city": "city"})


def _parents(units) -> dict:
    h = hierarchy_of(units)
    return dict(zip(h["code"], h["parent"].where(h["parent"].notna(), None)))


def test_parent_fields_given_coarse_first_are_ordered_by_how_they_nest(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="irrmap.core.units"):
        u = _units(tmp_path, ["610100", "610100", "610200", "610200"], ["610000"] * 4)
    assert u.levels == ("unit", "city", "province")
    assert _parents(u) == TRUE_PARENT  # province 610000 had the parent city 610100 and city 610200 none
    assert any("taken in that order from the data" in r.getMessage() for r in caplog.records)
    assert u.aggregate(pd.Series([1.0, 2.0, 4.0, 8.0], index=CODES), "city").to_dict() == {"610100": 3.0, "610200": 12.0}


def test_control_parent_fields_given_finest_first_keep_their_order(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="irrmap.core.units"):
        u = _units(tmp_path, ["610100", "610100", "610200", "610200"], ["610000"] * 4, fields={"city": "city", "province": "prov"})
    assert u.levels == ("unit", "city", "province") and _parents(u) == TRUE_PARENT
    assert not any("from the data" in r.getMessage() for r in caplog.records)


def test_levels_that_nest_in_no_order_are_refused_naming_pair_codes_and_fix(tmp_path):
    # city 610100 lies in provinces 610000 and 620000; each province holds two cities
    with pytest.raises(DataError) as e:
        _units(tmp_path, ["610100", "610100", "610200", "620100"], ["610000", "620000", "610000", "620000"],
               codes=["610101", "610102", "610201", "620101"])
    msg = str(e.value)
    assert "city codes lie in more than one province" in msg and "610100: 610000, 620000" in msg
    assert "'city' -> 'prov'" in msg and "correct the parent codes" in msg


def test_a_missing_parent_is_the_one_its_finer_code_has(tmp_path):
    u = _units(tmp_path, ["610100", "610100", "610200", "610200"], ["610000", None, "610000", None],
               fields={"city": "city", "province": "prov"})
    assert u.level_codes("province").tolist() == ["610000"] * 4  # city 610100 is in 610000, so is its unit 610102
    assert _parents(u) == TRUE_PARENT


def test_hierarchy_of_never_picks_one_of_several_parents(tmp_path):
    u = _units(tmp_path, ["610100", "610100", "610200", "610200"], ["610000"] * 4, fields={"city": "city", "province": "prov"})
    t = u.table.copy()
    t["province"] = ["610000", "620000", "610000", "610000"]
    bad = AdminUnits(t, ("unit", "city", "province"), hierarchy="fields")
    with pytest.raises(DataError, match=r"1 city codes lie in more than one province \(610100: 610000, 620000\)"):
        hierarchy_of(bad)
    frame = pd.DataFrame({"code": ["a", "a", "A", "B"], "level": ["unit", "unit", "city", "city"], "parent": ["A", "B", None, None]})
    with pytest.raises(DataError, match=r"a \(unit\): A, B"):
        harmonise([SourceTable("s", "city", None, None, pd.DataFrame({"code": ["A"], "area_m2": [1.0]}))], frame,
                  rules=HarmoniseRules(), check_scale=False)


def test_control_cn_adcode_hierarchy_unchanged(tmp_path):
    path = tmp_path / "cn.gpkg"
    gpd.GeoDataFrame({"code": CODES}, geometry=[box(108 + i * 0.1, 34, 108.1 + i * 0.1, 34.1) for i in range(4)],
                     crs="EPSG:4326").to_file(path, driver="GPKG")
    u = AdminUnits.read(str(path), "code", hierarchy="cn-adcode")
    assert u.levels == ("county", "city", "province") and _parents(u) == TRUE_PARENT


H = pd.DataFrame({"code": ["P", "A", "B", "a1", "a2", "b1", "b2", "b3"],
                  "level": ["province", "city", "city", "county", "county", "county", "county", "county"],
                  "parent": [None, "P", "P", "A", "A", "B", "B", "B"]})


def _t(rows):
    return pd.DataFrame(rows, columns=["code", "area_m2"])


def _run(county, city, province, cropland=None):
    tables = [SourceTable("county", "county", None, None, _t(county)), SourceTable("city", "city", None, None, _t(city)),
              SourceTable("prov", "province", None, None, _t(province))]
    crop = pd.Series(cropland or {c: 1e9 for c in H["code"]})
    r = harmonise(tables, H, rules=HarmoniseRules(), cropland_m2=crop, check_scale=False)
    a = r.audit.set_index("code")
    for parent, kids in H.dropna(subset=["parent"]).groupby("parent")["code"]:  # sums exact at every level
        present = [k for k in kids if k in a.index and pd.notna(a.at[k, "area_m2"])]
        if present:
            assert a.loc[present, "area_m2"].sum() == pytest.approx(a.at[parent, "area_m2"], rel=1e-12), parent
    return a


def test_missing_child_is_filled_before_the_binding_factor_is_passed_on():
    # province 110; cities A = B = 50; counties a1 = a2 = b1 = 25, b2 missing (b3 not in this one: only b1, b2 under B)
    h = H[H["code"] != "b3"]
    tables = [SourceTable("county", "county", None, None, _t([("a1", 25.0), ("a2", 25.0), ("b1", 25.0)])),
              SourceTable("city", "city", None, None, _t([("A", 50.0), ("B", 50.0)])),
              SourceTable("prov", "province", None, None, _t([("P", 110.0)]))]
    a = harmonise(tables, h, rules=HarmoniseRules(), cropland_m2=pd.Series(1e9, index=h["code"]), check_scale=False).audit.set_index("code")
    # truth: b2 = B - b1 = 25 as reported, then the province's factor 110 / 100 on every city and county
    assert a.loc[["a1", "a2", "b1", "b2"], "area_m2"].tolist() == pytest.approx([27.5] * 4)
    assert a.loc[["A", "B"], "area_m2"].tolist() == pytest.approx([55.0, 55.0])
    assert a.at["b2", "rule"] == "disaggregated" and a.at["b1", "rule"] == "scaled_to_parent"


def test_the_prior_splits_the_reported_residual_and_every_county_gets_the_factor():
    # province 120, cities A = B = 50 (factor 1.2); a1 = a2 = 25, b1 = 20, b2 and b3 missing with cropland 10 : 20
    crop = {"P": 1e9, "A": 1e9, "B": 1e9, "a1": 1e9, "a2": 1e9, "b1": 1e9, "b2": 10.0, "b3": 20.0}
    a = _run([("a1", 25.0), ("a2", 25.0), ("b1", 20.0)], [("A", 50.0), ("B", 50.0)], [("P", 120.0)], crop)
    # truth: B's residual 50 - 20 = 30 split 10 : 20 -> b2 = 10, b3 = 20; then x 1.2 on every county
    assert a.loc[["a1", "a2", "b1", "b2", "b3"], "area_m2"].tolist() == pytest.approx([30.0, 30.0, 24.0, 12.0, 24.0])


def test_a_city_equal_to_its_counties_is_not_flagged_when_its_province_scales_it():
    # city A = 50 vs counties 25 + 25.0002 (4e-6 relative); B = 50 = 25 + 25; province 110 binds: factor 1.1
    a = _run([("a1", 25.0), ("a2", 25.0002), ("b1", 25.0), ("b2", 25.0)], [("A", 50.0), ("B", 50.0)], [("P", 110.0)])
    for city in ("A", "B"):
        assert "parent_above_children" not in a.at[city, "flags"] and "parent_below_children" not in a.at[city, "flags"]
    assert "children_within_tolerance" in a.at["A", "flags"]  # reported 50 vs 50.0002: within 2 %, beyond rounding
    assert "children_within_tolerance" not in a.at["B", "flags"]  # reported equal
    assert "parent_above_children" in a.at["P", "flags"]  # 110 vs the reported cities' 100
    assert a.loc[["a1", "a2", "b1", "b2"], "area_m2"].sum() == pytest.approx(110.0, rel=1e-12)


def test_a_city_that_disagrees_with_its_counties_is_flagged_on_the_reported_values():
    # province 100 = cities 50 + 50 (no factor); city A 50 vs counties 20 + 20 = 40: A is above its counties
    a = _run([("a1", 20.0), ("a2", 20.0), ("b1", 25.0), ("b2", 25.0)], [("A", 50.0), ("B", 50.0)], [("P", 100.0)])
    assert "parent_above_children" in a.at["A", "flags"] and "parent_above_children" not in a.at["B", "flags"]
    assert "parent_" not in a.at["P", "flags"]
    assert a.loc[["a1", "a2"], "area_m2"].tolist() == pytest.approx([25.0, 25.0])
