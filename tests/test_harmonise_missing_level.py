"""A level without a table between two levels with tables (county and province tables, no city table): the
missing cities are the sums of their counties where every county is reported, and only the residual of partly
reported cities is split by the prior. Expected values are hand arithmetic on the tables in the comments."""

from __future__ import annotations

import pandas as pd
import pytest

from irrmap.core.statistics.harmonise import HarmoniseRules, SourceTable, harmonise

# province P; cities X (counties x1, x2) and Y (counties y1, y2)
H = pd.DataFrame({"code": ["P", "X", "Y", "x1", "x2", "y1", "y2"],
                  "level": ["province", "city", "city", "county", "county", "county", "county"],
                  "parent": [None, "P", "P", "X", "X", "Y", "Y"]})
CROPLAND = pd.Series({"x1": 1000.0, "x2": 1000.0, "y1": 10000.0, "y2": 90000.0})  # a prior far from the counties' shares


def tables(counties: dict, province: float):
    return [SourceTable("county", "county", None, None, pd.DataFrame(list(counties.items()), columns=["code", "area_m2"])),
            SourceTable("province", "province", None, None, pd.DataFrame({"code": ["P"], "area_m2": [province]}))]


def audit(counties, province, **kw):
    r = harmonise(tables(counties, province), H, rules=HarmoniseRules(precedence=["county", "province"], **kw), cropland_m2=CROPLAND)
    return r.audit.set_index("code")


COUNTIES = {"x1": 300.0, "x2": 200.0, "y1": 60.0, "y2": 40.0}  # X = 500, Y = 100, P = 600


def test_consistent_tables_change_nothing_and_flag_nothing():
    a = audit(COUNTIES, 600.0)
    # the cities are their counties' sums (500 and 100), not the prior's split of P (600 x 2,000 / 102,000 and x 100,000 / 102,000)
    assert a.loc["X", "area_m2"] == 500.0 and a.loc["Y", "area_m2"] == 100.0
    assert a.loc["X", "rule"] == "sum_of_children" and a.loc["X", "source"] == "derived"
    for code, value in COUNTIES.items():
        assert a.loc[code, "area_m2"] == value and a.loc[code, "rule"] == "precedence"
    assert (a["flags"] == "").all()


def test_a_province_too_large_scales_every_county_by_the_same_factor():
    a = audit(COUNTIES, 900.0)  # 900 / 600 = 1.5
    for code, value in COUNTIES.items():
        assert a.loc[code, "area_m2"] == pytest.approx(1.5 * value, rel=1e-12)
        assert a.loc[code, "rule"] == "scaled_to_parent"
    assert a.loc["X", "area_m2"] == pytest.approx(750.0) and a.loc["Y", "area_m2"] == pytest.approx(150.0)
    # only the reported province disagrees; the cities made up from the counties are never named
    assert a.loc["P", "flags"] == "parent_above_children"
    assert a.loc["X", "flags"] == "" and a.loc["Y", "flags"] == ""


def test_only_the_residual_of_a_partly_reported_city_is_split_by_the_prior():
    # y2 missing: X = 300 + 200 = 500 (sum); Y = 600 - 500 = 100 (P's residual); y2 = Y - y1 = 100 - 60 = 40
    a = audit({"x1": 300.0, "x2": 200.0, "y1": 60.0}, 600.0)
    assert a.loc["X", "area_m2"] == 500.0 and a.loc["X", "rule"] == "sum_of_children"
    assert a.loc["Y", "area_m2"] == pytest.approx(100.0) and a.loc["Y", "rule"] == "disaggregated"
    assert a.loc["y2", "area_m2"] == pytest.approx(40.0)
    assert a.loc[["x1", "x2", "y1"], "rule"].eq("precedence").all() and (a["flags"] == "").all()


def test_disagreement_below_a_filled_city_is_flagged_on_the_reported_province():
    # y2 missing, P 540 below its reported counties (300 + 200 + 60 = 560): nothing is left for y2 (0), Y = its
    # reported y1 60, and the binding province scales every reported county by 540 / 560 (y1 alone is not cut to
    # P - X = 40); the province (reported) is flagged, the filled city Y is not named
    a = audit({"x1": 300.0, "x2": 200.0, "y1": 60.0}, 540.0, tolerance=0.01)
    assert a.loc["y1", "area_m2"] == pytest.approx(60.0 * 540 / 560) and a.loc["y2", "area_m2"] == pytest.approx(0.0)
    assert a.loc["x1", "area_m2"] == pytest.approx(300.0 * 540 / 560)
    assert "parent_below_children" in a.loc["P", "flags"]
    assert "parent_below_children" not in a.loc["Y", "flags"] and "parent_above_children" not in a.loc["Y", "flags"]
