"""Harmonising statistics tables (issue 17): hand-computed cases for every rule of
irrmap.core.statistics.harmonise. Areas are in m2; every expected value is worked out in the comments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irrmap.core.errors import ConfigError, DataError
from irrmap.core.statistics.harmonise import (
    ConvergenceError,
    HarmoniseRules,
    SourceTable,
    harmonise,
)

# province P with counties A, B, C
H = pd.DataFrame({"code": ["P", "A", "B", "C"], "level": ["province", "county", "county", "county"], "parent": [None, "P", "P", "P"]})
CROPLAND = pd.Series({"A": 1000.0, "B": 1000.0, "C": 600.0})


def table(name, level, values, year=None):
    rows = [(c, v) for c, v in values.items()]
    return SourceTable(name, level, year, None, pd.DataFrame(rows, columns=["code", "area_m2"]))


def by_code(result, column="area_m2"):
    a = result.audit
    return dict(zip(a["code"], a[column]))


def test_two_disagreeing_sources_and_a_missing_child():
    census = table("census", "county", {"A": 300.0, "B": 400.0})
    survey = table("survey", "county", {"A": 330.0, "B": 404.0})  # A 10 % off census (flagged), B 1 % (within 2 %)
    province = table("census", "province", {"P": 1000.0})
    r = harmonise([survey, census, province], H, rules=HarmoniseRules(precedence=["census", "survey"]), cropland_m2=CROPLAND)
    # census wins for A and B; C, reported by no source, gets the residual 1000 - 300 - 400 = 300
    assert by_code(r) == {"A": 300.0, "B": 400.0, "C": 300.0, "P": 1000.0}
    assert by_code(r, "rule") == {"A": "precedence", "B": "precedence", "C": "disaggregated", "P": "precedence"}
    assert by_code(r, "source") == {"A": "census", "B": "census", "C": "derived", "P": "census"}
    assert by_code(r, "flags")["A"] == "sources_disagree" and by_code(r, "flags")["B"] == ""
    # every source's value is in the audit, beside the chosen one
    assert by_code(r, "survey")["A"] == 330.0 and np.isnan(by_code(r, "census")["C"])
    assert by_code(r, "adjustment_m2")["C"] == 300.0 and by_code(r, "adjustment_m2")["A"] == 0.0
    # the children sum to the parent within the tolerance (here exactly)
    assert abs(sum(by_code(r)[c] for c in "ABC") - 1000.0) <= 0.02 * 1000.0
    assert set(r.reconciled.columns) == {"code", "level", "year", "area_m2", "rule", "source"} and len(r.reconciled) == 4


def test_residual_split_in_proportion_to_the_prior():
    # P 1000, A 400 reported: residual 600 split by cropland B 100 : C 300 -> 150 and 450
    r = harmonise([table("s", "county", {"A": 400.0}), table("s", "province", {"P": 1000.0})], H,
                  rules=HarmoniseRules(), cropland_m2=pd.Series({"A": 1.0, "B": 100.0, "C": 300.0}))
    assert by_code(r)["B"] == pytest.approx(150.0) and by_code(r)["C"] == pytest.approx(450.0)
    # prior "expected": the classifier's expected area given as prior_m2, B 3 : C 1 -> 450 and 150
    r = harmonise([table("s", "county", {"A": 400.0}), table("s", "province", {"P": 1000.0})], H,
                  rules=HarmoniseRules(prior="expected"), prior_m2=pd.Series({"B": 3.0, "C": 1.0}))
    assert by_code(r)["B"] == pytest.approx(450.0) and by_code(r)["C"] == pytest.approx(150.0)


def test_children_scaled_to_a_binding_parent():
    # A 600 + B 600 + C 300 = 1500 vs P 1000 (50 % off): each scaled by 1000/1500 -> 400, 400, 200
    r = harmonise([table("s", "county", {"A": 600.0, "B": 600.0, "C": 300.0}), table("s", "province", {"P": 1000.0})], H,
                  rules=HarmoniseRules())
    assert by_code(r) == pytest.approx({"A": 400.0, "B": 400.0, "C": 200.0, "P": 1000.0})
    assert by_code(r, "rule")["A"] == "scaled_to_parent"
    assert by_code(r, "adjustment_m2")["A"] == pytest.approx(-200.0)
    assert by_code(r, "adjustment_pct")["A"] == pytest.approx(-100 / 3)


def test_children_within_tolerance_are_accepted_unchanged():
    # 500 + 300 + 205 = 1005: 0.5 % above P 1000, inside the 2 % tolerance
    r = harmonise([table("s", "county", {"A": 500.0, "B": 300.0, "C": 205.0}), table("s", "province", {"P": 1000.0})], H,
                  rules=HarmoniseRules())
    assert by_code(r) == {"A": 500.0, "B": 300.0, "C": 205.0, "P": 1000.0}
    assert by_code(r, "flags")["P"] == "children_within_tolerance"


def test_children_above_the_parent_with_one_missing():
    # residual 1000 - 700 - 500 < 0: C gets 0; A and B scaled by 1000/1200 -> 583.33, 416.67
    r = harmonise([table("s", "county", {"A": 700.0, "B": 500.0}), table("s", "province", {"P": 1000.0})], H,
                  rules=HarmoniseRules(), cropland_m2=CROPLAND)
    assert by_code(r) == pytest.approx({"A": 7000 / 12, "B": 5000 / 12, "C": 0.0, "P": 1000.0})
    assert "children_exceed_parent" in by_code(r, "flags")["P"]


def test_parent_below_binding_children_is_replaced_and_flagged():
    # counties bind; the province reports 900 < 300 + 400 + 300 = 1000: it becomes 1000, flagged
    r = harmonise([table("s", "county", {"A": 300.0, "B": 400.0, "C": 300.0}), table("s", "province", {"P": 900.0})], H,
                  rules=HarmoniseRules(binding_level="county"))
    assert by_code(r)["P"] == 1000.0 and by_code(r, "rule")["P"] == "sum_of_children"
    assert by_code(r, "flags")["P"] == "parent_below_children" and by_code(r, "adjustment_m2")["P"] == 100.0
    assert by_code(r, "rule")["A"] == "precedence"  # the binding counties are untouched


def test_parent_that_children_reported_as_zero_cannot_meet_fails_loudly():
    tables = [table("s", "county", {"A": 0.0, "B": 0.0, "C": 0.0}), table("s", "province", {"P": 1000.0})]
    with pytest.raises(ConvergenceError, match=r"1 parents still disagree.*P: children 0 m2 vs 1000 m2"):
        harmonise(tables, H, rules=HarmoniseRules())
    assert issubclass(ConvergenceError, DataError)


def test_three_levels_fill_top_down():
    # P 1000 -> cities X 600 (reported), Y missing -> Y = 400; Y's counties y1 100, y2 missing -> y2 = 300
    h = pd.DataFrame({"code": ["P", "X", "Y", "x1", "x2", "y1", "y2"],
                      "level": ["province", "city", "city", "county", "county", "county", "county"],
                      "parent": [None, "P", "P", "X", "X", "Y", "Y"]})
    tables = [table("s", "province", {"P": 1000.0}), table("s", "city", {"X": 600.0}),
              table("s", "county", {"x1": 300.0, "x2": 300.0, "y1": 100.0})]
    r = harmonise(tables, h, rules=HarmoniseRules(), cropland_m2=pd.Series({c: 1.0 for c in ["x1", "x2", "y1", "y2"]}))
    assert by_code(r) == {"P": 1000.0, "X": 600.0, "Y": 400.0, "x1": 300.0, "x2": 300.0, "y1": 100.0, "y2": 300.0}
    assert by_code(r, "rule")["Y"] == "disaggregated" and by_code(r, "rule")["y2"] == "disaggregated"


def test_years_interpolated_between_reported_ones_and_jumps_flagged():
    h = pd.DataFrame({"code": ["A"], "level": ["county"], "parent": [None]})
    t = SourceTable("s", "county", None, None, pd.DataFrame({"code": ["A", "A", "A"], "year": [2010, 2012, 2014],
                                                             "area_m2": [100.0, 200.0, 700.0]}))
    t2 = SourceTable("t", "county", None, None, pd.DataFrame({"code": ["A"], "year": [2015], "area_m2": [710.0]}))
    r = harmonise([t, t2], h, rules=HarmoniseRules())
    a = r.audit.set_index("year")
    # 2011 = (100 + 200) / 2, 2013 = (200 + 700) / 2; no year before 2010 or after 2015 is made up
    assert a.loc[2011, "area_m2"] == 150.0 and a.loc[2011, "rule"] == "interpolated"
    assert a.loc[2013, "area_m2"] == 450.0
    assert list(a.index) == [2010, 2011, 2012, 2013, 2014, 2015]
    # 2012 -> 2014: x 3.5 > max_jump 3; 2010 -> 2012: x 2 is not flagged
    assert a.loc[2014, "flags"] == "year_jump" and a.loc[2012, "flags"] == ""


def test_statistic_above_cropland_and_unit_area_is_flagged():
    h = pd.DataFrame({"code": ["A", "B"], "level": ["county", "county"], "parent": [None, None]})
    r = harmonise([table("s", "county", {"A": 150.0, "B": 101.0})], h, rules=HarmoniseRules(),
                  cropland_m2=pd.Series({"A": 100.0, "B": 100.0}), unit_area_m2=pd.Series({"A": 120.0, "B": 500.0}))
    # A: 150 > 100 cropland and > 120 unit area; B: 101 is within 2 % of its cropland
    assert by_code(r, "flags") == {"A": "exceeds_cropland;exceeds_unit_area", "B": ""}


def test_bad_inputs_are_refused():
    t = table("census", "county", {"A": 1.0})
    with pytest.raises(ConfigError, match="precedence names 'survey'"):
        harmonise([t], H, rules=HarmoniseRules(precedence=["survey"]))
    with pytest.raises(DataError, match="reports code A more than once"):
        harmonise([table("s", "county", {"A": 1.0}), SourceTable("s", "county", None, None,
                                                                  pd.DataFrame({"code": ["A"], "area_m2": [2.0]}))], H, rules=HarmoniseRules())
    with pytest.raises(DataError, match="are province codes, not county"):
        harmonise([table("s", "county", {"P": 1.0})], H, rules=HarmoniseRules())
    with pytest.raises(ConfigError, match="prior 'expected' needs prior_m2"):
        harmonise([table("s", "county", {"A": 1.0}), table("s", "province", {"P": 5.0})], H, rules=HarmoniseRules(prior="expected"))
    with pytest.raises(ConfigError, match="unknown prior"):
        HarmoniseRules(prior="area")


def test_unknown_binding_level_is_refused():
    with pytest.raises(ConfigError, match="binding level 'city' is not a level"):
        harmonise([table("s", "county", {"A": 1.0})], H, rules=HarmoniseRules(binding_level="city"))


def test_multi_year_table_reads_one_row_per_code_and_year(tmp_path):
    from irrmap.core.statistics import read_statistics

    path = tmp_path / "s.csv"
    path.write_text("code,year,ha\nA,2010,1\nA,2011,2\nB,2010,3\nB,2010,4\n")
    kw = {"code_field": "code", "area_field": "ha", "area_unit": "ha", "year_field": "year"}
    stats = read_statistics(path, per_year=True, **kw)
    dup = [p for p in stats.report.problems if p.kind == "duplicate code"]
    assert len(dup) == 1 and dup[0].rows == [4, 5]  # only B's two 2010 rows; A's two years are fine
    # without per_year (one map, one year) a code on two rows stays an error
    assert [p.rows for p in read_statistics(path, **kw).report.problems if p.kind == "duplicate code"] == [[2, 3, 4, 5]]
