"""A unit missing at an intermediate level (no city table, or a city absent from it) is built from what its reported
descendants already say: its reported children's sum plus a share of its parent's residual (the parent minus
everything reported beneath it), shared among the missing descendants only by the prior of their missing part. So a
parent that agrees with its reported descendants changes nothing and flags nothing, and the filled children always
add up to the parent. (Before: a missing city got a prior share of the whole residual, ignoring the counties it
already reports; it fell below them, children_exceed_parent, and its reported counties were scaled down by -3.2 %.)

Expected values are hand arithmetic in the comments, and the demo case is the `irrmap demo` (seed 42, 600 x 800)
county table as the probe used it, with a province table equal to the sums of its reported counties."""

from __future__ import annotations

import pandas as pd
import pytest

from irrmap.core.statistics.harmonise import HarmoniseRules, SourceTable, harmonise

# province P; cities A (counties a1, a2, a3) and B (b1, b2); no city table; a3 and b2 missing from the county table
H = pd.DataFrame({"code": ["P", "A", "B", "a1", "a2", "a3", "b1", "b2"],
                  "level": ["province", "city", "city", "county", "county", "county", "county", "county"],
                  "parent": [None, "P", "P", "A", "A", "A", "B", "B"]})
CROPLAND = pd.Series({"a1": 1000.0, "a2": 1000.0, "a3": 3000.0, "b1": 1000.0, "b2": 1000.0})
COUNTIES = {"a1": 100.0, "a2": 50.0, "b1": 30.0}  # reported: A's 150, B's 30, 180 in all


def table(name, level, values: dict, year=None):
    frame = pd.DataFrame(list(values.items()), columns=["code", "area_m2"])
    if year is not None:
        frame["year"] = year
    return SourceTable(name, level, None, None, frame)


def audit(tables, hierarchy=H, cropland=CROPLAND, **kw):
    order = [t.name for t in tables]
    return harmonise(tables, hierarchy, rules=HarmoniseRules(precedence=order, **kw), cropland_m2=cropland).audit


def by_code(a):
    return a.set_index("code")


def test_a_consistent_province_changes_nothing_and_flags_nothing():
    # P = 180 = a1 + a2 + b1: residual 0, so a3 = b2 = 0, A = 150, B = 30 (old: A = 180 x 5/7 = 128.6 < 150, flagged, scaled)
    a = by_code(audit([table("county", "county", COUNTIES), table("province", "province", {"P": 180.0})]))
    for code, value in COUNTIES.items():
        assert a.loc[code, "area_m2"] == value and a.loc[code, "rule"] == "precedence"
    assert a.loc["a3", "area_m2"] == 0.0 and a.loc["b2", "area_m2"] == 0.0
    assert a.loc["A", "area_m2"] == pytest.approx(150.0, rel=1e-12) and a.loc["B", "area_m2"] == pytest.approx(30.0, rel=1e-12)
    assert (a["flags"] == "").all()


def test_the_residual_goes_to_the_missing_counties_by_their_prior():
    # P = 230: residual 230 - 180 = 50 over the missing a3 (cropland 3000) and b2 (1000): a3 = 37.5, b2 = 12.5;
    # A = 150 + 37.5 = 187.5, B = 30 + 12.5 = 42.5 (old: A = 230 x 5/7 = 164.3, B = 65.7, so a3 = 14.3, b2 = 35.7)
    a = by_code(audit([table("county", "county", COUNTIES), table("province", "province", {"P": 230.0})]))
    assert a.loc["a3", "area_m2"] == pytest.approx(37.5, rel=1e-12) and a.loc["b2", "area_m2"] == pytest.approx(12.5, rel=1e-12)
    assert a.loc["A", "area_m2"] == pytest.approx(187.5, rel=1e-12) and a.loc["B", "area_m2"] == pytest.approx(42.5, rel=1e-12)
    assert a.loc[["a3", "b2", "A", "B"], "rule"].eq("disaggregated").all()
    for code, value in COUNTIES.items():
        assert a.loc[code, "area_m2"] == value and a.loc[code, "rule"] == "precedence"
    assert (a["flags"] == "").all()


def test_a_province_1_01x_its_counties_is_met_by_the_missing_ones():
    # P = 1.01 x 180 = 181.8: residual 1.8 -> a3 = 1.35, b2 = 0.45; the counties add to P, reported ones unchanged
    a = by_code(audit([table("county", "county", COUNTIES), table("province", "province", {"P": 181.8})]))
    assert a.loc["a3", "area_m2"] == pytest.approx(1.35, rel=1e-9) and a.loc["b2", "area_m2"] == pytest.approx(0.45, rel=1e-9)
    assert a.loc[a["level"] == "county", "area_m2"].sum() == pytest.approx(181.8, rel=1e-12)
    assert (a["flags"] == "").all()


def test_a_province_below_its_counties_scales_every_reported_county_alike():
    # P = 171 < 180 (5 % below, beyond the 2 % tolerance): nothing is left for a3, b2 (0); every reported county is
    # scaled by 171 / 180 = 0.95 (old: A = 171 x 5/7 = 122.1 scaled a1, a2 by 0.814 and b1 not at all), and only
    # the reported province is named, never the made-up cities
    a = by_code(audit([table("county", "county", COUNTIES), table("province", "province", {"P": 171.0})]))
    for code, value in COUNTIES.items():
        assert a.loc[code, "area_m2"] == pytest.approx(0.95 * value, rel=1e-12)
        assert "adjusted_beyond_tolerance" in a.loc[code, "flags"]
    assert a.loc["a3", "area_m2"] == 0.0 and a.loc["b2", "area_m2"] == 0.0
    assert "parent_below_children" in a.loc["P", "flags"] and "children_exceed_parent" in a.loc["P", "flags"]
    assert "parent_" not in a.loc["A", "flags"] and "parent_" not in a.loc["B", "flags"]
    # what the missing units get is what is reported beneath them, not a statistic: flagged no_residual
    assert "no_residual" in a.loc["a3", "flags"] and "no_residual" in a.loc["b2", "flags"]


def test_three_levels_with_gaps():
    # county, city and province tables; city A reported (160), cities B and C missing from the city table;
    # counties: a1 100, a2 50 (a3 missing), b1 30 (b2 missing), c1 20 (c2 missing); P = 260.
    # P's residual = 260 - A 160 - B's reported 30 - C's reported 20 = 50, over the missing parts of B (b2: 1000)
    # and C (c2: 4000): B = 30 + 10 = 40, C = 20 + 40 = 60; a3 = A - 150 = 10, b2 = 10, c2 = 40
    # (old: B = 100 x 2000/7000 = 28.6 < b1 30, C = 71.4: b1 scaled down, c2 = 51.4)
    h = pd.concat([H, pd.DataFrame({"code": ["C", "c1", "c2"], "level": ["city", "county", "county"], "parent": ["P", "C", "C"]})],
                  ignore_index=True)
    cropland = pd.concat([CROPLAND, pd.Series({"c1": 1000.0, "c2": 4000.0})])
    a = by_code(audit([table("county", "county", {**COUNTIES, "c1": 20.0}), table("city", "city", {"A": 160.0}),
                       table("province", "province", {"P": 260.0})], hierarchy=h, cropland=cropland))
    expected = {"A": 160.0, "B": 40.0, "C": 60.0, "a1": 100.0, "a2": 50.0, "a3": 10.0, "b1": 30.0, "b2": 10.0, "c1": 20.0, "c2": 40.0}
    for code, value in expected.items():
        assert a.loc[code, "area_m2"] == pytest.approx(value, rel=1e-12), code
    assert (a["flags"] == "").all()


def test_county_and_city_tables_without_a_province():
    # no province table: P is the sum of its cities when all have a value; missing counties take their city's residual
    a = by_code(audit([table("county", "county", COUNTIES), table("city", "city", {"A": 160.0, "B": 35.0})]))
    assert a.loc["a3", "area_m2"] == pytest.approx(10.0) and a.loc["b2", "area_m2"] == pytest.approx(5.0)
    assert a.loc["P", "area_m2"] == pytest.approx(195.0) and a.loc["P", "rule"] == "sum_of_children"
    # a city missing too: P has no total, B stays without a value, A's family is still filled
    a = by_code(audit([table("county", "county", COUNTIES), table("city", "city", {"A": 160.0})]))
    assert pd.isna(a.loc["P", "area_m2"]) and pd.isna(a.loc["B", "area_m2"]) and a.loc["a3", "area_m2"] == pytest.approx(10.0)


def test_each_year_has_its_own_reported_floor():
    # 2019: P = 180 = its counties (nothing to fill); 2020: b1 reported 60, P = 250 -> residual 40: a3 30, b2 10
    counties = pd.concat([pd.DataFrame({"code": list(COUNTIES), "area_m2": list(COUNTIES.values()), "year": 2019}),
                          pd.DataFrame({"code": ["a1", "a2", "b1"], "area_m2": [100.0, 50.0, 60.0], "year": 2020})])
    province = pd.DataFrame({"code": ["P", "P"], "area_m2": [180.0, 250.0], "year": [2019, 2020]})
    a = audit([SourceTable("county", "county", None, None, counties), SourceTable("province", "province", None, None, province)])
    a = a.set_index(["code", "year"])["area_m2"]
    assert a[("a3", 2019)] == 0.0 and a[("b2", 2019)] == 0.0 and a[("B", 2019)] == pytest.approx(30.0)
    assert a[("a3", 2020)] == pytest.approx(30.0) and a[("b2", 2020)] == pytest.approx(10.0) and a[("B", 2020)] == pytest.approx(70.0)


# ---- the probe's demo case (irrmap demo, seed 42, 600 x 800): actual county values in 1000 ha (None: missing from
# county.csv) and cropland in km2 from truth/statistics_truth.csv; cn-adcode hierarchy (county -> XXXX00 -> XX0000)
DEMO = """610101 0.1586 16.6120|610102 4.2770 91.3265|610103 0.5394 25.1327|610104 9.1937 138.1311|610105 4.8304 77.0665
610201 23.8999 315.7582|610202 4.8652 182.5570|610203 11.6336 182.6116|610204 - 198.8574|610205 6.1167 104.9119
610206 0.0073 0.2238|610207 0.0002 0.0704|610301 13.6149 159.3860|610302 6.1751 77.7376|610401 0.0041 0.0859
610402 1.1433 13.8634|610403 0.0006 0.3297|620101 6.5339 114.9046|620102 4.3058 116.8990|620103 7.9638 154.8783
620104 13.6662 196.4407|620201 12.1442 318.8721|620202 14.7943 216.4179|620203 10.4178 173.6864|620204 6.3610 161.4594
620205 3.8464 62.4556|620301 11.5386 139.8442|620302 16.1361 229.8416|620303 3.2957 66.4604|620304 16.3431 254.0235
630101 3.4973 67.3941|630102 6.0015 86.4370|630103 0.0865 1.5350|630104 11.1240 180.5622|630105 3.0475 62.2232
630201 0.0018 0.0461|630202 0.0004 0.0524|630203 6.7921 89.2404|630204 28.6069 322.9039|630301 9.9025 100.6426
630302 - 243.4576|630303 20.2997 268.0087|630304 - 70.7622|630401 14.1530 257.1094|630402 13.4532 216.9905
630403 - 280.2668|630404 7.5883 135.0706|630405 14.7511 299.7146"""
M2 = 1e7  # m2 per 1000 ha


def demo_case(scale_630000=1.0):
    rows = [r.split() for r in DEMO.replace("\n", "|").split("|")]
    codes = [r[0] for r in rows]
    cities = sorted({c[:4] + "00" for c in codes})
    provinces = sorted({c[:2] + "0000" for c in codes})
    h = pd.DataFrame({"code": codes + cities + provinces, "level": ["county"] * len(codes) + ["city"] * len(cities) + ["province"] * len(provinces),
                      "parent": [c[:4] + "00" for c in codes] + [c[:2] + "0000" for c in cities] + [None] * len(provinces)})
    county = {r[0]: round(float(r[1]) * M2) for r in rows if r[1] != "-"}
    cropland = pd.Series({r[0]: float(r[2]) * 1e6 for r in rows})
    # the province table: each province = the sum of its reported counties, rounded to 4 decimals of 1000 ha
    # (610000 = 86.4600, 620000 = 127.3469, 630000 = 139.3058)
    province = {p: round(sum(v for c, v in county.items() if c[:2] == p[:2]) / M2, 4) * M2 for p in provinces}
    province["630000"] *= scale_630000
    tables = [table("county_actual", "county", county), table("province_actual", "province", province)]
    return by_code(audit(tables, hierarchy=h, cropland=cropland)), county, province, cropland


def test_the_demo_with_a_province_table_equal_to_its_counties_changes_nothing():
    a, county, province, _ = demo_case()
    assert province["630000"] == pytest.approx(139.3058 * M2)
    for code, value in county.items():
        assert a.loc[code, "area_m2"] == value and a.loc[code, "rule"] == "precedence", code
    for code in ("610204", "630302", "630304", "630403"):  # nothing is left over for the missing counties
        assert a.loc[code, "area_m2"] == pytest.approx(0.0, abs=1e-3)
    assert a.loc["630300", "area_m2"] == pytest.approx((9.9025 + 20.2997) * M2)  # its reported counties: 302.022 km2 (was 292.36)
    assert (a["flags"] == "").all()


def test_the_demo_with_a_province_1_01x_its_counties():
    # 630000 = 1.01 x 1393.058 km2: the residual 13.93058 km2 goes to 630302, 630304, 630403 by cropland
    # (243.4576, 70.7622, 280.2668 km2 of 594.4866); the counties then add to the province (were 1411.57 km2 vs 1406.99)
    a, county, province, cropland = demo_case(1.01)
    residual = province["630000"] - sum(v for c, v in county.items() if c[:2] == "63")
    assert residual == pytest.approx(0.01 * 1393.058e6, rel=1e-6)
    for code in ("630302", "630304", "630403"):
        assert a.loc[code, "area_m2"] == pytest.approx(residual * cropland[code] / 594.4866e6, rel=1e-6), code
    counties = a[(a["level"] == "county") & a.index.str.startswith("63")]
    assert counties["area_m2"].sum() == pytest.approx(province["630000"], rel=1e-12)
    for code, value in county.items():
        assert a.loc[code, "area_m2"] == value, code
    assert (a["flags"] == "").all()
