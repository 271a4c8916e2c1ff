"""Harmonising when the reported children already exceed their parent and other children are missing.

A probe dropped two demo counties from the county table and gave a province value below the reported counties' sum:
the missing counties became 0 m2 ("disaggregated", status zero) with no warning naming them, so "zero" read as a
reported statistic of 0. And the reconcile report said the binding province was "replaced by the sum" although it
was kept and its counties were scaled. Hand-computed cases (areas in m2) on province P with counties A, B, C.
"""

from __future__ import annotations

import logging

import pandas as pd
import pytest

from irrmap.core.statistics.harmonise import HarmoniseRules, SourceTable, harmonise
from irrmap.evaluation.reconcile_report import flagged_units

H = pd.DataFrame({"code": ["P", "A", "B", "C"], "level": ["province", "county", "county", "county"], "parent": [None, "P", "P", "P"]})
CROPLAND = pd.Series({"A": 1000.0, "B": 1000.0, "C": 600.0})


def _table(level, values):
    return SourceTable("s", level, None, None, pd.DataFrame(list(values.items()), columns=["code", "area_m2"]))


def _by(result, column):
    return dict(zip(result.audit["code"], result.audit[column]))


def test_missing_child_of_an_exceeded_parent_is_flagged_and_named(caplog):
    # P = 1000 binds; A + B = 1200 > 1000: C (missing, cropland 600) gets nothing; A, B scaled by 1000/1200
    with caplog.at_level(logging.WARNING):
        r = harmonise([_table("county", {"A": 700.0, "B": 500.0}), _table("province", {"P": 1000.0})], H,
                      rules=HarmoniseRules(), cropland_m2=CROPLAND)
    assert _by(r, "area_m2") == pytest.approx({"A": 7000 / 12, "B": 5000 / 12, "C": 0.0, "P": 1000.0})
    flags = _by(r, "flags")
    assert "no_residual" in flags["C"]  # old code: C had no flag at all
    assert "no_residual" not in flags["A"] and "no_residual" not in flags["B"]
    text = " ".join(m.getMessage() for m in caplog.records if m.levelno == logging.WARNING)
    assert "C = 0 ha" in text and "no_residual" in text


def test_no_flag_when_the_parent_leaves_a_residual(caplog):
    # P = 1000, A + B = 700: C gets the residual 300, nothing to flag
    with caplog.at_level(logging.WARNING):
        r = harmonise([_table("county", {"A": 300.0, "B": 400.0}), _table("province", {"P": 1000.0})], H,
                      rules=HarmoniseRules(), cropland_m2=CROPLAND)
    assert _by(r, "area_m2")["C"] == pytest.approx(300.0)
    assert "no_residual" not in _by(r, "flags")["C"]
    assert not [m for m in caplog.records if "no_residual" in m.getMessage()]


def _reasons(result):
    empty = pd.DataFrame(columns=["level", "code", "year", "target_m2", "mapped_m2", "shortfall_m2", "status"])
    rows = flagged_units(empty, result.audit, pd.DataFrame())
    return dict(zip(rows["code"], rows["reason"]))


def test_report_words_a_binding_parent_as_kept():
    # the province binds (default: the finest level present binds, so P's children are scaled to P = 1000)
    r = harmonise([_table("county", {"A": 700.0, "B": 500.0, "C": 300.0}), _table("province", {"P": 1000.0})], H,
                  rules=HarmoniseRules(binding_level="province"))
    assert _by(r, "area_m2")["P"] == 1000.0 and _by(r, "rule")["A"] == "scaled_to_parent"
    reason = _reasons(r)["P"]
    assert "kept" in reason and "replaced by the sum" not in reason  # old wording: "(replaced by the sum)"


def test_report_words_a_replaced_parent_as_replaced():
    # counties bind: P = 900 < 1000 becomes the sum 1000
    r = harmonise([_table("county", {"A": 300.0, "B": 400.0, "C": 300.0}), _table("province", {"P": 900.0})], H,
                  rules=HarmoniseRules(binding_level="county"))
    assert _by(r, "rule")["P"] == "sum_of_children"
    assert "replaced by the sum" in _reasons(r)["P"]
