"""Units cut by the grid (or wholly off it) get the run's treatment ([units].partial, irrmap.core.partial_units)
outside the run's threshold stage too: in `irrmap training thresholds` (--partial) and in `irrmap reconcile`'s job
targets and agreement. Expected values are computed by hand: geodesic area shares with pyproj.Geod, cropland
shares from hand-made cropland sums."""

from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import as_dataarray
from pyproj import Geod
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

GEOD = Geod(ellps="WGS84")


def _geod_area(b) -> float:
    return abs(GEOD.geometry_area_perimeter(box(*b))[0])


@pytest.fixture
def cut_inputs(tmp_path):
    """A 0.2 x 0.2 degree grid; unit A wholly on it, B cut by its east edge (100.1..100.3 E), C wholly off it."""
    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.2, 0.005, "EPSG:4326")
    rng = np.random.default_rng(7)
    frac = np.full(g.shape, 0.5, np.float32)
    write_raster(tmp_path / "score.tif", as_dataarray(rng.random(g.shape).astype(np.float32), g), cog=False)
    write_raster(tmp_path / "crop.tif", as_dataarray(frac, g), cog=False)
    gpd.GeoDataFrame({"code": ["650101", "650102", "650103"]},
                     geometry=[box(100.0, 40.0, 100.1, 40.2), box(100.1, 40.0, 100.3, 40.2), box(101, 41, 101.1, 41.1)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    pd.DataFrame({"county": ["650101", "650102", "650103"], "irr_ha": [500.0, 800.0, 300.0]}).to_csv(tmp_path / "s.csv", index=False)
    return tmp_path


def _thresholds(d, *extra):
    return main(["-q", "training", "thresholds", "--score", str(d / "score.tif"), "--cropland", str(d / "crop.tif"),
                 "--units", str(d / "u.gpkg"), "--unit-field", "code", "--stats", str(d / "s.csv"), "--stats-field", "county",
                 "--area-field", "irr_ha", "--area-unit", "ha", "--out", str(d / "thr"), *extra])


def test_thresholds_cli_scales_cut_units_and_marks_off_grid(cut_inputs, caplog):
    d = cut_inputs
    with caplog.at_level(logging.WARNING):
        assert _thresholds(d) == 0
    t = pd.read_csv(d / "thr" / "thresholds.csv", dtype={"unit": str}).set_index("unit")
    share = _geod_area((100.1, 40.0, 100.2, 40.2)) / _geod_area((100.1, 40.0, 100.3, 40.2))  # by hand: B's area on the grid
    assert 0.49 < share < 0.51
    assert t.loc["650102", "target_m2"] == pytest.approx(800.0 * 1e4 * share, rel=1e-6)  # old code: 8e6, the whole statistic
    assert t.loc["650101", "target_m2"] == pytest.approx(500.0 * 1e4)  # whole unit: its statistic
    assert t.loc["650103", "status"] == "off grid"  # old code: "infeasible ... 0 km2 cropland"
    assert "infeasible" not in set(t["status"])
    rows = pd.read_csv(d / "thr" / "partial_units.csv", dtype={"code": str}).set_index("code")
    assert rows.loc["650102", "action"] == "scaled" and rows.loc["650103", "action"] == "off grid"
    text = caplog.text
    assert re.search(r"1 units lie partly outside the grid \(650102 ", text)
    assert re.search(r"1 units with statistics lie entirely outside the grid \(650103\)", text)


def test_thresholds_cli_exclude_drops_cut_units(cut_inputs):
    d = cut_inputs
    assert _thresholds(d, "--partial", "exclude") == 0
    t = pd.read_csv(d / "thr" / "thresholds.csv", dtype={"unit": str}).set_index("unit")
    assert t.loc["650102", "status"] == "excluded" and np.isnan(t.loc["650102", "target_m2"])  # old code: "missing"
    assert t.loc["650103", "status"] == "off grid"


def test_thresholds_cli_bad_partial_value_is_a_usage_error(cut_inputs, capsys):
    with pytest.raises(SystemExit) as exc:
        _thresholds(cut_inputs, "--partial", "keep")
    assert exc.value.code == 2 and "--partial" in capsys.readouterr().err


def _units_table() -> pd.DataFrame:
    """units/units.csv of a city 6501 (counties 650101 whole, 650102 cut, 650103 off the grid) and a whole city 6502,
    with the strings reconcile reads (dtype=str)."""
    return pd.DataFrame({
        "zone": ["1", "2", "3", "4"], "code": ["650101", "650102", "650103", "650201"],
        "city": ["650100", "650100", "650100", "650200"], "province": ["650000"] * 4,
        "polygon_area_m2": ["100", "200", "300", "400"], "on_grid_area_m2": ["100", "100", "0", "400"],
        "on_grid_share": ["1.0", "0.5", "0.0", "1.0"], "partial": ["False", "True", "True", "False"],
    }).astype({"zone": int})


def test_reconcile_shares_at_every_level_by_hand():
    from irrmap.mapping.reconcile.on_grid import level_shares, off_grid_in_cut_parents

    units = _units_table()
    levels = ["county", "city", "province"]
    assert off_grid_in_cut_parents(units, levels) == ["650103"]
    # the cut county's cropland: 200 m2 in all, 50 on the grid; the off-grid county's: 300; whole counties: their
    # cropland on the grid (zone_sums): 100 and 400
    cov = pd.DataFrame({"share": [0.25, 0.0], "basis": ["cropland", "area"], "area_share": [0.5, 0.0],
                        "cropland_m2": [200.0, 300.0], "on_grid_cropland_m2": [50.0, 0.0]}, index=["650102", "650103"])
    crop = pd.Series([100.0, 200.0, 0.0, 400.0], index=[1, 2, 3, 4])
    s = level_shares(units, levels, cov, crop).set_index(["level", "code"])
    assert s.loc[("county", "650102"), "share"] == pytest.approx(0.25) and s.loc[("county", "650102"), "basis"] == "cropland"
    assert s.loc[("county", "650103"), "area_share"] == 0
    assert s.loc[("city", "650100"), "share"] == pytest.approx((100 + 50 + 0) / (100 + 200 + 300))
    assert s.loc[("province", "650000"), "share"] == pytest.approx((100 + 50 + 0 + 400) / (100 + 200 + 300 + 400))
    assert ("city", "650200") not in s.index  # whole: no row
    # without the off-grid county's cropland the city falls back to its area share
    s2 = level_shares(units, levels, cov.drop(columns=[]).assign(cropland_m2=[200.0, np.nan]), crop).set_index(["level", "code"])
    assert s2.loc[("city", "650100"), "basis"] == "area"
    assert s2.loc[("city", "650100"), "share"] == pytest.approx((100 + 100 + 0) / (100 + 200 + 300))


def test_reconcile_statistics_scaled_and_off_grid_dropped_by_hand():
    from irrmap.mapping.reconcile.agreement import agreement_table
    from irrmap.mapping.reconcile.on_grid import level_shares, on_grid_statistics

    units = _units_table()
    levels = ["county", "city", "province"]
    cov = pd.DataFrame({"share": [0.25, 0.0], "basis": ["cropland", "area"], "area_share": [0.5, 0.0],
                        "cropland_m2": [200.0, 300.0], "on_grid_cropland_m2": [50.0, 0.0]}, index=["650102", "650103"])
    shares = level_shares(units, levels, cov, pd.Series([100.0, 200.0, 0.0, 400.0], index=[1, 2, 3, 4]))
    stats = pd.DataFrame({"code": ["650101", "650102", "650103", "650201", "650100", "650200", "650000"],
                          "level": ["county"] * 4 + ["city"] * 2 + ["province"], "year": 2020,
                          "area_m2": [10.0, 40.0, 30.0, 20.0, 80.0, 20.0, 100.0], "rule": "precedence", "source": "t"})
    # with the hierarchy: a cut parent whose children all have statistics takes their on-grid share
    by_children = on_grid_statistics(stats.assign(area_m2=[20.0, 40.0, 30.0, 20.0, 80.0, 20.0, 100.0]), shares, "scale",
                                     units, levels)[0].set_index(["level", "code"])["area_m2"]
    city = 80 * (20 + 40 * 0.25 + 0) / (20 + 40 + 30)  # counties on the grid: 20 whole, 40 x 0.25 cut, 30 off
    assert by_children[("city", "650100")] == pytest.approx(city)
    assert by_children[("province", "650000")] == pytest.approx(100 * (city + 20) / (80 + 20))
    on, rows = on_grid_statistics(stats, shares, "scale")  # without it: the cropland shares
    got = on.set_index(["level", "code"])["area_m2"]
    assert got[("county", "650102")] == pytest.approx(40 * 0.25)  # statistic x cropland share on the grid
    assert ("county", "650103") not in got.index  # wholly off the grid: no target
    assert got[("city", "650100")] == pytest.approx(80 * 0.25)
    assert got[("province", "650000")] == pytest.approx(100 * 550 / 1000)
    assert got[("county", "650101")] == 10 and got[("city", "650200")] == 20
    off = rows[rows["action"] == "off grid"]
    assert list(off["code"]) == ["650103"] and off["statistic_m2"].iloc[0] == 30 and off["target_m2"].isna().all()
    # agreement: the off-grid county is in no row (old code: scored as mapped 0 against 30); the cut one against 10
    mapped = pd.Series([10.0, 9.0, 0.0, 20.0], index=[1, 2, 3, 4])
    a = agreement_table(units, levels, on, mapped, 2020).set_index(["level", "code"])
    assert ("county", "650103") not in a.index
    assert a.loc[("county", "650102"), "statistic_m2"] == pytest.approx(10.0)
    excl, rows_x = on_grid_statistics(stats, shares, "exclude")
    assert set(excl["code"]) == {"650101", "650201", "650200"}
    assert set(rows_x.loc[rows_x["action"] == "excluded", "code"]) == {"650102", "650100", "650000"}


def test_reconcile_on_a_run_whose_grid_cuts_units(tmp_path):
    """The demo with its grid's east edge moved west, so that counties 610202, 630101, 630102 are cut and 630103
    lies wholly off it: reconcile binds each cut county at the target the run's threshold stage used (the same
    statistic x cropland share, training/partial_units.csv; old code: the whole statistic, then 'infeasible'), and
    the off-grid county is in no job and no agreement row (old code: scored as mapped 0), listed as 'off grid'."""
    from test_reconcile_demo import _trimmed

    d = tmp_path / "d"
    assert main(["-q", "demo", str(d), "--rows", "120", "--cols", "160"]) == 0
    cfg = d / "config.toml"
    text = _trimmed(cfg.read_text())
    assert "bounds = [104.0, 38.73, 104.36, 39.0]" in text
    cfg.write_text(text.replace("bounds = [104.0, 38.73, 104.36, 39.0]", "bounds = [104.0, 38.73, 104.2925, 39.0]"))
    assert main(["-q", "run", str(cfg)]) == 0
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = d / "output"
    run_rows = pd.read_csv(out / "training" / "partial_units.csv", dtype={"code": str}).set_index("code")
    units = pd.read_csv(out / "reconcile" / "units.csv", dtype={"code": str})
    county = units[units["level"] == "county"].set_index("code")
    for code in ("610202", "630101", "630102"):
        assert run_rows.loc[code, "action"] == "scaled"
        assert county.loc[code, "target_m2"] == pytest.approx(run_rows.loc[code, "used_m2"], rel=1e-9)
        assert county.loc[code, "status"] == "ok"
    assert "630103" not in set(county.index)  # in no job
    agreement = pd.read_csv(out / "reconcile" / "agreement.csv", dtype={"code": str})
    assert "630103" not in set(agreement["code"])
    listed = pd.read_csv(out / "reconcile" / "partial_units.csv", dtype={"code": str})
    assert listed.loc[listed["code"] == "630103", "action"].tolist() == ["off grid"]
    scaled = listed[listed["action"] == "scaled"]
    assert len(scaled) and np.allclose(scaled["target_m2"], scaled["statistic_m2"] * scaled["share"], rtol=1e-12)
