"""Guards of `irrmap reconcile` found by a new user: the scale check on every table reconcile reads, flags and
warnings for adjustments beyond the tolerance, agreement against reported values only, the statistics year
against the run's, a province with one county missing, and `--only` merging into the full outputs.

Expected values are computed by hand from the tables written here (1000 ha = 1e7 m2)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.reconcile_report import flagged_units, metrics_by_level
from irrmap.mapping.reconcile import agreement_table, plan_jobs

from irrmap.app.cli import main
from reconcile_project import table_section, write_box_units, write_inputs, write_reconcile_config
from irrmap.app.stages.reconcile import check_year, source_tables, warn_adjustments
from irrmap.core.config import StatisticsSection
from irrmap.core.statistics.harmonise import HarmoniseRules, SourceTable, harmonise

KHA = 1e7


# ---- harmonise: adjustments beyond the tolerance are flagged --------------------------------------------
def _hier():
    return pd.DataFrame({"code": ["610101", "610102", "610000"], "level": ["county", "county", "province"],
                         "parent": ["610000", "610000", None]})


def _tables(c1, c2, p):
    return [SourceTable("county", "county", None, None, pd.DataFrame({"code": ["610101", "610102"], "area_m2": [c1, c2]})),
            SourceTable("province", "province", None, None, pd.DataFrame({"code": ["610000"], "area_m2": [p]}))]


def _row(audit, code):
    return audit.set_index("code").loc[code]


def test_parent_far_below_children_is_flagged_on_parent_and_children():
    # counties 4 and 6 (sum 10), province 3: counties scaled by 3/10 = -70 %
    res = harmonise(_tables(4.0, 6.0, 3.0), _hier(), rules=HarmoniseRules(tolerance=0.02))
    a = res.audit
    assert _row(a, "610101")["area_m2"] == pytest.approx(1.2) and _row(a, "610102")["area_m2"] == pytest.approx(1.8)
    assert _row(a, "610101")["adjustment_pct"] == pytest.approx(-70.0)
    assert "parent_below_children" in _row(a, "610000")["flags"]
    for code in ("610101", "610102"):
        assert "adjusted_beyond_tolerance" in _row(a, code)["flags"]


def test_upward_rescale_is_flagged_and_within_tolerance_is_not():
    # children 1 + 1 = 2, parent 4.24: +112 %
    a = harmonise(_tables(1.0, 1.0, 4.24), _hier(), rules=HarmoniseRules(tolerance=0.02)).audit
    assert _row(a, "610101")["adjustment_pct"] == pytest.approx(112.0)
    assert "adjusted_beyond_tolerance" in _row(a, "610101")["flags"]
    assert "parent_above_children" in _row(a, "610000")["flags"]
    # 1 + 1 = 2 vs 2.02: 1 % off, within 2 %: no value changes, no adjustment flag
    a = harmonise(_tables(1.0, 1.0, 2.02), _hier(), rules=HarmoniseRules(tolerance=0.02)).audit
    assert _row(a, "610101")["area_m2"] == 1.0
    assert not any("adjusted_beyond_tolerance" in f for f in a["flags"])


def test_children_in_a_wrong_unit_are_a_tiny_share_of_the_parent():
    # the county table read as ha while in 1000ha: 0.004 + 0.006 (1000x too small) under a parent of 10
    a = harmonise(_tables(4e-3, 6e-3, 10.0), _hier(), rules=HarmoniseRules(tolerance=0.02)).audit
    assert "children_tiny_share" in _row(a, "610000")["flags"]
    assert _row(a, "610101")["adjustment_pct"] == pytest.approx(99_900.0)


def test_adjustments_warn_on_the_console_with_count_and_largest(caplog):
    a = harmonise(_tables(4.0, 6.0, 3.0), _hier(), rules=HarmoniseRules(tolerance=0.02)).audit
    with caplog.at_level(logging.WARNING):
        warn_adjustments(a, 0.02)
    text = caplog.text
    assert "changed 2 reported statistics" in text and "-70 %" in text
    assert "parent_below_children" in text
    flagged = flagged_units(pd.DataFrame(columns=["level", "code", "year", "status", "shortfall_m2"]), a, pd.DataFrame())
    assert {"610101", "610102", "610000"} <= set(flagged["code"])
    assert flagged["reason"].str.contains("adjusted by more than the tolerance").any()


def test_mixed_year_tables_name_the_tables():
    tables = [SourceTable("sheet2020", "county", None, None, pd.DataFrame({"code": ["610101"], "area_m2": [1.0]})),
              SourceTable("by_year", "province", None, None, pd.DataFrame({"code": ["610000"], "area_m2": [1.0], "year": [2020]}))]
    with pytest.raises(Exception, match=r"have years \(by_year\) and others do not \(sheet2020\)"):
        harmonise(tables, _hier(), rules=HarmoniseRules())
    tables[0].year = 2020  # the table-level constant
    res = harmonise(tables, _hier(), rules=HarmoniseRules(), cropland_m2=pd.Series({"610101": 1.0, "610102": 1.0}))
    assert set(res.reconciled["year"].dropna().astype(int)) == {2020}


# ---- agreement: derived values are labelled and kept out of the metrics -----------------------------
def test_agreement_labels_derived_values_and_metrics_skip_them():
    units = pd.DataFrame({"zone": [1, 2], "code": ["610101", "610102"], "province": ["610000", "610000"]})
    stats = pd.DataFrame({"code": ["610101", "610102", "610000"], "level": ["county", "county", "province"], "year": [2020] * 3,
                          "area_m2": [3.0, 5.0, 8.0], "rule": ["disaggregated", "disaggregated", "precedence"]})
    mapped = pd.Series([2.0, 6.0], index=[1, 2])
    ag = agreement_table(units, ["county", "province"], stats, mapped, 2020)
    assert list(ag.columns[:5]) == ["level", "code", "year", "mapped_m2", "statistic_m2"]
    assert ag.set_index("code")["derived"].to_dict() == {"610101": True, "610102": True, "610000": False}
    m = metrics_by_level(ag, "after")
    assert list(m["level"]) == ["province"] and m["n"].iloc[0] == 1
    assert m["bias (1000 ha)"].iloc[0] == pytest.approx(0.0)  # 2 + 6 mapped vs 8 reported


# ---- plan: one county missing, no parent ----------------------------------------------------------
def test_a_missing_county_does_not_drop_its_province():
    units = pd.DataFrame({"zone": [1, 2, 3], "code": ["610101", "610102", "610103"], "province": ["610000"] * 3})
    sums = pd.DataFrame({"zone": [0, 1, 2, 3], "row0": [-1, 0, 0, 0], "row1": [-1, 5, 5, 5], "col0": [-1, 0, 5, 10],
                         "col1": [-1, 5, 10, 15]})
    stats = pd.DataFrame({"code": ["610101", "610102"], "level": "county", "year": 2020, "area_m2": [1.0, 2.0], "rule": "precedence"})
    jobs, skipped = plan_jobs(units, ["county", "province"], stats, sums, by="province")
    assert not skipped and len(jobs) == 1
    job = jobs[0]
    assert job.level == "county" and job.missing == ("610103",)
    assert dict(zip(job.codes, job.targets))["610102"] == 2.0
    # nothing at any level: left out, with a message that does not say "no statistic" when some exist
    other = stats.assign(code=["999901", "999902"])
    jobs, skipped = plan_jobs(units, ["county", "province"], other, sums, by="province")
    assert jobs == [] and skipped[0]["code"] == "610000" and skipped[0]["reason"] == "no statistic at county or province level"


# ---- the statistics year against the run's --------------------------------------------------------
def _ctx(stat_year=None, ee_year=None):
    cfg = SimpleNamespace(statistics=SimpleNamespace(year=stat_year) if stat_year else None,
                          sources=SimpleNamespace(ee=SimpleNamespace(year=ee_year)) if ee_year else None)
    return SimpleNamespace(config=cfg)


def test_statistics_of_another_year_warn(caplog):
    stats = pd.DataFrame({"year": [2019, 2019]})
    with caplog.at_level(logging.WARNING):
        check_year(_ctx(stat_year=2020), stats)
    assert "of 2019 but the run maps 2020" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_year(_ctx(ee_year=2019), stats)
    assert caplog.text == ""
    with caplog.at_level(logging.WARNING):
        check_year(_ctx(), stats)
    assert "statistics of 2019 are used" in caplog.text


# ---- the scale check runs on every table reconcile reads ------------------------------------------
def test_source_tables_run_the_scale_check(tmp_path, caplog):
    import geopandas as gpd
    from shapely.geometry import box

    from irrmap.core.units import AdminUnits

    codes = ["610101", "610102", "610201", "610202"]
    gpd.GeoDataFrame({"code": codes}, geometry=[box(104 + 0.1 * i, 38, 104.1 + 0.1 * i, 38.1) for i in range(4)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    units = AdminUnits.read(tmp_path / "u.gpkg", "code")
    # 2, 3, 4, 5 thousand ha written as ha; cropland 40 km2 (4000 ha) per county: 0.05 % to 0.125 % of it
    (tmp_path / "c.csv").write_text("code,irr\n" + "".join(f"{c},{v}\n" for c, v in zip(codes, [2, 3, 4, 5])))
    sec = StatisticsSection(path=tmp_path / "c.csv", code_field="code", area_field="irr", area_unit="ha", level="county")
    ctx = SimpleNamespace(config=SimpleNamespace(reconcile=SimpleNamespace(tables={"county": sec})), path=lambda p: p)
    with caplog.at_level(logging.WARNING):
        out = source_tables(ctx, units, pd.Series(4e7, index=codes))
    assert "table county" in caplog.text and "1000x too small" in caplog.text and "'1000ha'" in caplog.text
    assert out[0].table["area_m2"].tolist() == [2e4, 3e4, 4e4, 5e4]


def test_year_constant_without_year_field_is_accepted(tmp_path):
    sec = StatisticsSection(path=tmp_path / "c.csv", code_field="code", area_field="irr", area_unit="ha", year=2020)
    assert sec.year == 2020 and sec.year_field is None


# ---- --only merges into the full outputs -----------------------------------------------------------
LEFT, TOP, RES, N = 100.0, 40.0, 0.01, 20
CODES = ["610101", "610102", "620101", "620102"]  # column strips of 5 pixels; provinces 610000 and 620000


def _project(folder):
    rng = np.random.default_rng(3)
    write_inputs(folder, {name: rng.uniform(0.2, 1.0, (N, N)) for name in ("cropland", "probability")}, LEFT, TOP, RES)
    w = 0.05
    write_box_units(folder, {c: (LEFT + w * i, TOP - 0.2, LEFT + w * (i + 1), TOP) for i, c in enumerate(CODES)})
    (folder / "county.csv").write_text("code,area_kha\n" + "".join(f"{c},0.3\n" for c in CODES))
    return write_reconcile_config(folder, LEFT, TOP, N, N, RES, reconcile='by = "province"\n', tables=table_section("county"))


def test_only_merges_into_the_full_outputs(tmp_path):
    cfg = _project(tmp_path)
    assert main(["-q", "run", str(cfg)]) == 0
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = tmp_path / "output" / "reconcile"
    with rasterio.open(out / "class.tif") as src:
        full = src.read(1)
    assert (full[:, :10] != 255).any() and (full[:, 10:] != 255).any()  # both provinces mapped
    assert main(["-q", "reconcile", str(cfg), "--only", "620000"]) == 0
    with rasterio.open(out / "class.tif") as src:
        after = src.read(1)
    np.testing.assert_array_equal(after, full)  # the other province is still there, unchanged
    # every county is reported; the cities and provinces are only sums of them: derived, so apart from the agreement
    ag = pd.read_csv(out / "agreement.csv", dtype={"code": str})
    assert list(ag.columns) == ["level", "code", "year", "mapped_m2", "statistic_m2"]
    assert sorted(ag["code"]) == sorted(CODES) and ag["statistic_m2"].tolist() == pytest.approx([0.3 * KHA] * 4)
    derived = pd.read_csv(out / "agreement_derived.csv", dtype={"code": str})
    assert sorted(derived["code"]) == ["610000", "610100", "620000", "620100"]  # the cities and provinces (cn-adcode)
    assert derived["statistic_m2"].tolist() == pytest.approx([0.6 * KHA] * 4)
    units = pd.read_csv(out / "units.csv", dtype={"code": str})
    assert sorted(units["code"]) == sorted(CODES)
    assert units["target_m2"].tolist() == pytest.approx([0.3 * KHA] * 4)


def test_a_reported_grandparent_below_its_counties_is_flagged():
    # counties 4 + 6 under a city with no statistic, province 3: the city is their sum (10), scaled to the province's 3 with
    # them (-70 %); the disagreement is the reported province's, never the summed city's
    h = pd.DataFrame({"code": ["610101", "610102", "610100", "610000"], "level": ["county", "county", "city", "province"],
                      "parent": ["610100", "610100", "610000", None]})
    a = harmonise(_tables(4.0, 6.0, 3.0), h, rules=HarmoniseRules(tolerance=0.02), cropland_m2=pd.Series({"610101": 1.0, "610102": 1.0})).audit
    assert _row(a, "610100")["rule"] == "sum_of_children" and _row(a, "610100")["area_m2"] == pytest.approx(3.0)
    assert "parent_below_children" in _row(a, "610000")["flags"] and "parent_" not in _row(a, "610100")["flags"]
    assert _row(a, "610102")["adjustment_pct"] == pytest.approx(-70.0)


def test_tiny_children_are_flagged_when_the_children_bind():
    a = harmonise(_tables(4e-3, 6e-3, 10.0), _hier(), rules=HarmoniseRules(tolerance=0.02, binding_level="county")).audit
    parent = _row(a, "610000")
    assert parent["rule"] == "sum_of_children" and parent["area_m2"] == pytest.approx(0.01)
    assert {"parent_above_children", "children_tiny_share"} <= set(parent["flags"].split(";"))
