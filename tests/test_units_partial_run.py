"""`irrmap run` with grid bounds that cut through a county: the county is flagged, its statistic is scaled by
the share of its cropland on the grid (counted here on the 25 m land cover) or the county is left out."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray
from test_pipeline_cli import CONFIG, project  # noqa: F401  (the tiny two-county project)

CUT = "bounds = [100.0, 40.0, 100.15, 40.1]"  # county 620102 spans 100.1..100.2 E


def _config(project, partial=None):
    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    write_raster(project / "s1.tif", as_dataarray(np.random.default_rng(0).random(g.shape).astype("float32"), g), cog=False)
    text = CONFIG.replace("bounds = [100.0, 40.0, 100.2, 40.1]", CUT) + '\n[inputs.s1]\npath = "s1.tif"\n\n[training]\nscores = ["s1"]\n'
    if partial:
        text = text.replace('code_field = "code"\n\n[statistics]', f'code_field = "code"\npartial = "{partial}"\n\n[statistics]')
    (project / "config.toml").write_text(text)
    return project / "config.toml"


def test_county_cut_by_the_grid_is_scaled_by_its_cropland_share(project, caplog):  # noqa: F811
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "run", str(_config(project))]) == 0
    units = pd.read_csv(project / "out" / "units" / "units.csv", dtype={"code": str}).set_index("code")
    assert units["partial"].tolist() == [False, True]
    right = Grid.from_bounds(100.0, 40.0, 100.15, 40.1, 0.00225, "EPSG:4326").bounds[2]  # the last column ends past 100.15
    geod = Geod(ellps="WGS84")
    full = geod.polygon_area_perimeter([100.1, 100.2, 100.2, 100.1], [40.0, 40.0, 40.1, 40.1])[0]
    part = geod.polygon_area_perimeter([100.1, right, right, 100.1], [40.0, 40.0, 40.1, 40.1])[0]
    assert units.loc["620102", "on_grid_share"] == pytest.approx(part / full, rel=1e-6)
    assert units.loc["620102", "partial_action"] == "scaled"

    # truth: crop cells of the 25 m land cover (crop where (row + col) % 3 == 0) inside the county, and on the grid
    rows, cols = np.indices((400, 800))
    lon = 100.0 + (cols + 0.5) * 0.00025
    crop = (rows + cols) % 3 == 0
    in_county = (lon >= 100.1) & (lon < 100.2)
    share = (crop & in_county & (lon < right)).sum() / (crop & in_county).sum()
    thr = pd.read_csv(project / "out" / "training" / "thresholds.csv", dtype={"unit": str}).set_index("unit")
    assert thr.loc["620102", "target_m2"] == pytest.approx(300 * 1e4 * share, rel=0.02)  # 250 m zones vs 25 m cells
    assert thr.loc["620101", "target_m2"] == pytest.approx(1200 * 1e4)
    partial = pd.read_csv(project / "out" / "training" / "partial_units.csv", dtype={"code": str})
    assert partial[["code", "basis", "action"]].values.tolist() == [["620102", "cropland", "scaled"]]
    messages = " ".join(r.getMessage() for r in caplog.records)
    area_pct = f"{100 * units.loc['620102', 'on_grid_share']:.4g}%"
    crop_pct = f"{100 * partial['share'].iloc[0]:.4g}%"
    assert partial["share"].iloc[0] == pytest.approx(share, rel=0.02)
    assert f"1 units lie only partly on the grid (620102 {area_pct} on the grid)" in messages
    assert f"(620102 {crop_pct} of cropland on the grid); their statistics were scaled by that share" in messages


def test_county_cut_by_the_grid_can_be_excluded(project):  # noqa: F811
    assert main(["-q", "run", str(_config(project, "exclude"))]) == 0
    units = pd.read_csv(project / "out" / "units" / "units.csv", dtype={"code": str}).set_index("code")
    assert units.loc["620102", "partial_action"] == "excluded"
    thr = pd.read_csv(project / "out" / "training" / "thresholds.csv", dtype={"unit": str}).set_index("unit")
    assert thr.loc["620102", "status"] == "excluded" and thr.loc["620101", "status"] == "ok"  # old code: "missing"


def test_county_off_the_grid_is_marked_off_grid_in_the_run(project, caplog):  # noqa: F811
    """Grid bounds 100.0..100.09 E leave county 620102 (100.1..100.2 E) wholly off the grid: the run's thresholds.csv
    says 'off grid' as `irrmap training thresholds` and the warning do (the old run said 'missing': no statistic)."""
    cfg = _config(project)
    cfg.write_text(cfg.read_text().replace(CUT, "bounds = [100.0, 40.0, 100.09, 40.1]"))
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "run", str(cfg)]) == 0
    thr = pd.read_csv(project / "out" / "training" / "thresholds.csv", dtype={"unit": str}).set_index("unit")
    assert thr.loc["620102", "status"] == "off grid" and thr.loc["620101", "status"] == "ok"
    assert "status 'off grid'" in caplog.text
