"""mapping/irrigated_area_by_unit.csv and the thresholds' warnings tell the truth about units cut by the grid and
about cropland without a score.

The old table compared a cut unit's mapped area (its part on the grid) with its whole statistic: a unit wholly off
the grid read -100 %, one 2.7 % on the grid -98 % where the run's own on-grid target gave +1 %. The table now has
coverage (whole / partial / off grid) and statistic_on_grid_ha (the statistic the thresholds used for the part on
the grid), and difference_ha compares with that. The thresholds' infeasible warning blamed the cropland input when
the unit's cropland had no score (a DEM gap); the statistics warning said units without a statistic "stay
unmapped" though the classifier maps them. Every expected value is hand-computed (1 ha pixels on an equal-area
grid) or comes from the run's own thresholds table and a pyproj.Geod / 25 m crop-cell count."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.app.stages.training import warn_infeasible
from irrmap.core.grid import Grid
from irrmap.mapping.unit_areas import irrigated_area_by_unit
from irrmap.training.intermediate_maps import split_scores
from irrmap.training.thresholds import ThresholdSplitter

from conftest import as_dataarray
from test_pipeline_cli import project  # noqa: F401  (the tiny two-county project)
from test_statistics_join_messages import _check
from test_units_partial_run import _config

EQ = "+proj=cea +lon_0=0 +lat_ts=0 +datum=WGS84 +units=m"  # equal-area: every 100 m pixel is 1 ha on the ellipsoid
CONTRACT = ["level", "code", "name", "irrigated_area_ha", "unpredicted_cropland_ha", "statistic_ha", "coverage",
            "statistic_on_grid_ha", "difference_ha"]

# zones: A=1 B=2 C=3 D=4 (no pixel: off grid) E=5 F=6 G=7; row 1 ends in two pixels of no unit
ZONES = np.array([[1, 1, 2, 2, 3, 3], [5, 6, 6, 7, 0, 0]], np.int32)
CLASS = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 255, 255]], np.uint8)
CROP = np.array([[1, 1, 1, 0.5, 1, 1], [1, 1, 1, 1, 0, 0]], np.float32)
UNITS = pd.DataFrame({
    "zone": [1, 2, 3, 4, 5, 6, 7],
    "code": ["110101", "110102", "120101", "120102", "130101", "130102", "140101"],
    "city": ["110100", "110100", "120100", "120100", "130100", "130100", "140100"],
    "name": list("ABCDEFG"),
    "on_grid_share": [1.0, 0.4, 1.0, 0.0, 1.0, 1.0, 1.0],
    "partial": [False, True, False, True, False, False, False]})
STATS_HA = {"110101": 3.0, "110102": 10.0, "120101": 4.0, "120102": 5.0, "130101": 1.0, "130102": 2.0}  # G has none


def _files(tmp_path):
    for name, arr, nd in (("zones.tif", ZONES, 0), ("class.tif", CLASS, 255), ("crop.tif", CROP, None)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=6, height=2, count=1, dtype=arr.dtype, crs=EQ,
                           transform=from_origin(0, 200, 100, 100), nodata=nd) as dst:
            dst.write(arr, 1)


def _table(tmp_path, action="scaled", used_ha=2.0):
    _files(tmp_path)
    rows = pd.DataFrame({"code": ["110102", "120102"], "share": [0.2, 0.0], "basis": ["cropland", "area"],
                         "target_m2": [10e4, 5e4], "used_m2": [used_ha * 1e4 if action == "scaled" else np.nan, np.nan],
                         "action": [action, "off grid"]})
    stats = pd.Series({k: v * 1e4 for k, v in STATS_HA.items()})
    df = irrigated_area_by_unit(tmp_path / "class.tif", tmp_path / "zones.tif", UNITS, ["county", "city"], stats, "county",
                                cropland=tmp_path / "crop.tif", partial_rows=rows, listing="table.csv")
    return df.set_index(["level", "code"])


def test_cut_units_are_compared_with_their_on_grid_statistic(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        t = _table(tmp_path)
    assert list(t.reset_index().columns) == CONTRACT
    c = t.loc["county"]
    # hand-computed: 1 ha pixels; A 2 ha, B 1 + 0.5 ha, C 2 ha, D none (off grid: unknown, empty), E 1 ha, F 2 ha,
    # G 1 ha irrigated
    assert c["irrigated_area_ha"].tolist() == pytest.approx([2, 1.5, 2, np.nan, 1, 2, 1], rel=1e-6, nan_ok=True)
    assert c["coverage"].tolist() == ["whole", "partial", "whole", "off grid", "whole", "whole", "whole"]
    assert c["statistic_ha"].tolist()[:6] == pytest.approx([3, 10, 4, 5, 1, 2]) and np.isnan(c.loc["140101", "statistic_ha"])
    # B: the thresholds' on-grid target 2 ha (not its whole 10 ha): -0.5 ha, not -8.5 ha; D off grid: no comparison
    assert c.loc["110102", "statistic_on_grid_ha"] == pytest.approx(2.0)
    assert c.loc["110102", "difference_ha"] == pytest.approx(-0.5, rel=1e-6)
    assert np.isnan(c.loc["120102", "statistic_on_grid_ha"]) and np.isnan(c.loc["120102", "difference_ha"])  # old: -5 ha (-100 %)
    assert c.loc["110101", "statistic_on_grid_ha"] == 3.0 and c.loc["110101", "difference_ha"] == pytest.approx(-1.0, rel=1e-6)
    assert np.isnan(c.loc["140101", "difference_ha"])
    city = t.loc["city"]
    assert city["coverage"].tolist() == ["partial", "partial", "whole", "whole"]
    # a city with a cut or off-grid county has no city statistic; its on-grid one sums its on-grid counties'
    assert np.isnan(city.loc["110100", "statistic_ha"]) and city.loc["110100", "statistic_on_grid_ha"] == pytest.approx(5.0)
    assert city.loc["110100", "difference_ha"] == pytest.approx(3.5 - 5.0, rel=1e-6)
    assert np.isnan(city.loc["120100", "statistic_ha"]) and city.loc["120100", "statistic_on_grid_ha"] == pytest.approx(4.0)
    # whole city, every county with a statistic: their sum (1 + 2 ha); a county without one leaves it empty
    assert city.loc["130100", "statistic_ha"] == pytest.approx(3.0) and city.loc["130100", "difference_ha"] == pytest.approx(0.0, abs=1e-6)
    assert np.isnan(city.loc["140100", "statistic_ha"]) and np.isnan(city.loc["140100", "statistic_on_grid_ha"])
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "2 units are not wholly on the grid (110102 partial, 120102 off grid)" in msg and "table.csv" in msg


def test_excluded_unit_has_no_on_grid_statistic(tmp_path):
    c = _table(tmp_path, action="excluded").loc["county"]
    assert c.loc["110102", "coverage"] == "partial" and c.loc["110102", "statistic_ha"] == pytest.approx(10.0)
    assert np.isnan(c.loc["110102", "statistic_on_grid_ha"]) and np.isnan(c.loc["110102", "difference_ha"])


def test_the_run_table_uses_the_thresholds_on_grid_target(project, caplog):  # noqa: F811
    """The two-county project cut at 100.15 E (test_units_partial_run): county 620102 (100.1..100.2 E, statistic
    300 ha) is partial; its statistic_on_grid_ha is the run's thresholds target (about 300 ha x its share of 25 m
    crop cells on the grid), and its difference is measured from it."""
    cfg = _config(project)
    cfg.write_text(cfg.read_text() + '\n[models]\nmodel = "rf"\n\n[mapping]\n')  # the model and map of the thresholds' pool
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "run", str(cfg)]) == 0
    t = pd.read_csv(project / "out" / "mapping" / "irrigated_area_by_unit.csv", dtype={"code": str})
    assert list(t.columns) == CONTRACT
    c = t[t["level"] == "county"].set_index("code")
    thr = pd.read_csv(project / "out" / "training" / "thresholds.csv", dtype={"unit": str}).drop_duplicates("unit").set_index("unit")
    right = Grid.from_bounds(100.0, 40.0, 100.15, 40.1, 0.00225, "EPSG:4326").bounds[2]
    rows, cols = np.indices((400, 800))
    lon = 100.0 + (cols + 0.5) * 0.00025
    crop, in_county = (rows + cols) % 3 == 0, (lon >= 100.1) & (lon < 100.2)
    share = (crop & in_county & (lon < right)).sum() / (crop & in_county).sum()
    assert c.loc["620102", "coverage"] == "partial" and c.loc["620101", "coverage"] == "whole"
    assert c.loc["620102", "statistic_ha"] == pytest.approx(300.0, abs=1e-3)
    assert c.loc["620102", "statistic_on_grid_ha"] == pytest.approx(thr.loc["620102", "target_m2"] / 1e4, abs=1e-3)
    assert c.loc["620102", "statistic_on_grid_ha"] == pytest.approx(300 * share, rel=0.02)
    assert c.loc["620102", "difference_ha"] == pytest.approx(c.loc["620102", "irrigated_area_ha"] - c.loc["620102", "statistic_on_grid_ha"], abs=2e-3)
    assert c.loc["620101", "statistic_on_grid_ha"] == pytest.approx(1200.0, abs=1e-3)
    assert "1 units are not wholly on the grid (620102 partial)" in " ".join(r.getMessage() for r in caplog.records)


# one unit of four 1 ha crop pixels (one half crop); two have no score: 1 + 0.5 ha of cropland unscored
SCORE = np.array([[0.9, np.nan, np.nan, 0.3]], np.float32)
FRAC = np.array([[1.0, 1.0, 0.5, 1.0]], np.float32)


def _da(a):
    return as_dataarray(np.asarray(a), Grid.from_bounds(0, 0, 400.0, 100.0, 100.0, EQ))


def test_thresholds_table_counts_cropland_without_a_score(tmp_path):
    zones = _da(np.ones((1, 4), np.int32))
    _, table = split_scores({"s": _da(SCORE)}, zones, _da(FRAC), pd.Series({"u": 3.5e4}), pd.Series({1: "u"}), work=tmp_path / "w")
    row = table.iloc[0]
    assert row["status"] == "infeasible" and row["cropland_m2"] == pytest.approx(2e4, rel=1e-6)
    assert row["unscored_cropland_m2"] == pytest.approx(1.5e4, rel=1e-6) and row["n_without_score"] == 2
    sp = ThresholdSplitter().fit(_da(SCORE), zones=zones, cropland=_da(FRAC), targets=pd.Series({1: 3.5e4}))
    assert sp.table_.loc[0, "unscored_cropland_m2"] == pytest.approx(1.5e4, rel=1e-6)


def test_infeasible_warning_names_cropland_without_a_score(caplog):
    # 610104 of the DEM-gap probe: 91.937 km2 reported, 32.48 km2 scored cropland, 105.65 km2 without a score
    table = pd.DataFrame({"score": ["a", "b", "a"], "unit": ["610104", "610104", "610105"], "target_m2": [91.937e6, 91.937e6, 5e6],
                          "cropland_m2": [32.48e6, 32.48e6, 4e6], "unscored_cropland_m2": [105.65e6, 105.65e6, 0.0],
                          "status": ["infeasible"] * 3})
    with caplog.at_level(logging.WARNING):
        warn_infeasible(table, ["a", "b"])
    msgs = [r.getMessage() for r in caplog.records]
    gap = next(m for m in msgs if "610104" in m)
    share = 100 * 105.65 / (105.65 + 32.48)  # 76.5 % of its cropland on the grid has no score
    assert f"105.65 km2 = {share:.1f} % of its cropland without a score" in gap and "[training].scores = a, b" in gap
    assert "1 units" in gap and "cropland input's classes" not in gap
    other = next(m for m in msgs if "610105" in m)
    assert "check the cropland input's classes and nodata" in other and "610104" not in other


def test_units_without_a_statistic_are_said_to_be_mapped(tmp_path):
    from irrmap.core.units import UNIT_OPTIONS

    p = _check(tmp_path, "adcode,mu\n640104,100\n640105,200\n", options="[statistics]", units_options=UNIT_OPTIONS)["unit without statistic"]
    assert "the classifier still maps them" in p.message and "no statistic to check it" in p.message
    assert "stay unmapped" not in p.message + p.fix
    p = _check(tmp_path, "adcode,mu\n640104,100\n640105,200\n")["unit without statistic"]
    assert "still maps them" in p.message and "stay unmapped" not in p.message + p.fix


def test_a_unit_with_no_pixel_centre_is_off_grid_and_left_empty(tmp_path):
    """A county whose sliver on the grid holds no pixel centre (units.csv: grid_area_m2 0, on_grid_share 3.4e-5; user
    probe /tmp/probeU/H, county 630104) was 'partial' with irrigated_area_ha 0, statistic_on_grid_ha 0 and
    difference_ha 0.0000, and its city and province, with no other county on the grid, read 0.0000: perfect
    agreement where nothing was measured. It is off grid now: empty mapped area, no on-grid statistic, no
    difference, up the levels."""
    _files(tmp_path)
    units = UNITS.assign(on_grid_share=[1.0, 0.4, 1.0, 3.4e-5, 1.0, 1.0, 1.0],
                         grid_area_m2=[2e4, 2e4, 2e4, 0.0, 1e4, 2e4, 1e4])
    rows = pd.DataFrame({"code": ["110102", "120102"], "share": [0.2, 0.0], "basis": ["cropland", "cropland"],
                         "target_m2": [10e4, 5e4], "used_m2": [2e4, 0.0], "action": ["scaled", "scaled"]})
    stats = pd.Series({k: v * 1e4 for k, v in STATS_HA.items()})
    one = UNITS.loc[[3]].assign(on_grid_share=3.4e-5, grid_area_m2=0.0, zone=4)  # D alone: its city has no other county
    t = irrigated_area_by_unit(tmp_path / "class.tif", tmp_path / "zones.tif", units, ["county", "city"], stats, "county",
                               cropland=tmp_path / "crop.tif", partial_rows=rows).set_index(["level", "code"])
    d = t.loc[("county", "120102")]
    assert d["coverage"] == "off grid"
    assert np.isnan(d["irrigated_area_ha"]) and np.isnan(d["statistic_on_grid_ha"]) and np.isnan(d["difference_ha"])
    assert d["statistic_ha"] == pytest.approx(5.0)  # the unit's own statistic is still shown
    city = t.loc[("city", "120100")]  # C (whole, 2 ha mapped, 4 ha statistic) and D: the sum over C only
    assert city["coverage"] == "partial" and city["irrigated_area_ha"] == pytest.approx(2.0)
    assert city["statistic_on_grid_ha"] == pytest.approx(4.0) and city["difference_ha"] == pytest.approx(-2.0)
    alone = irrigated_area_by_unit(tmp_path / "class.tif", tmp_path / "zones.tif", one, ["county", "city"], stats, "county",
                                   cropland=tmp_path / "crop.tif", partial_rows=rows.iloc[[1]]).set_index(["level", "code"])
    for level, code in (("county", "120102"), ("city", "120100")):
        row = alone.loc[(level, code)]
        assert row["coverage"] == "off grid", level
        assert np.isnan(row["irrigated_area_ha"]) and np.isnan(row["difference_ha"]), level
