"""`irrmap training thresholds` messages: a percent cropland names the file and --cropland-scale 0.01; every
infeasible unit gets its own line (code and shortfall); a missing first raster is one line, exit 2."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray


@pytest.fixture
def d(tmp_path):
    g = Grid.from_bounds(100.0, 40.0, 100.4, 40.2, 0.005, "EPSG:4326")
    rng = np.random.default_rng(4)
    frac = np.where(rng.random(g.shape) < 0.6, rng.random(g.shape), 0).astype(np.float32)
    write_raster(tmp_path / "sevi.tif", as_dataarray(rng.random(g.shape).astype(np.float32), g), cog=False)
    write_raster(tmp_path / "crop.tif", as_dataarray(frac, g), cog=False)
    write_raster(tmp_path / "crop_pct.tif", as_dataarray(np.rint(frac * 100).astype(np.uint8), g), cog=False)
    gpd.GeoDataFrame({"code": ["650101", "650102"]}, geometry=[box(100.0, 40.0, 100.2, 40.2), box(100.2, 40.0, 100.4, 40.2)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    pd.DataFrame({"county": ["650101", "650102"], "irr_ha": [3000.0, 30000.0]}).to_csv(tmp_path / "s.csv", index=False)
    return tmp_path


def _thresholds(d, cropland, *extra):
    return main(["-q", "training", "thresholds", "--score", str(d / "sevi.tif"), "--cropland", str(cropland), "--units", str(d / "u.gpkg"),
                 "--unit-field", "code", "--stats", str(d / "s.csv"), "--stats-field", "county", "--area-field", "irr_ha",
                 "--area-unit", "ha", *extra, "--out", str(d / "thr")])


def test_a_percent_cropland_names_the_file_and_the_option(d, capsys):
    assert _thresholds(d, d / "crop_pct.tif") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"irrmap: error: {d / 'crop_pct.tif'}: the cropland fraction is not within 0..1: values 0 to 100")
    assert "(fix: these look like percent: pass --cropland-scale 0.01)" in err
    assert _thresholds(d, d / "crop_pct.tif", "--cropland-scale", "0.01") == 0


def test_each_infeasible_unit_gets_a_line_with_its_shortfall(d, caplog, capsys):
    with caplog.at_level(logging.WARNING):
        assert _thresholds(d, d / "crop.tif") == 0
    t = pd.read_csv(d / "thr" / "thresholds.csv", dtype={"unit": str}).set_index("unit")
    assert t.loc["650102", "status"] == "infeasible" and t.loc["650101", "status"] == "ok"
    lines = [r.getMessage() for r in caplog.records if "infeasible" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].startswith(f"thresholds: unit 650102 is infeasible: statistic 300 km2 but {t.loc['650102', 'cropland_m2'] / 1e6:.4g} km2 "
                               f"cropland on the grid, shortfall {t.loc['650102', 'shortfall_m2'] / 1e6:.4g} km2")
    assert "infeasible" in capsys.readouterr().out  # the count stays in the summary


def test_a_missing_cropland_is_one_line(d, capsys):
    assert _thresholds(d, d / "nosuch.tif") == 2
    err = capsys.readouterr().err
    assert err == f"irrmap: error: {d / 'nosuch.tif'}: no such raster file (fix: check the path (a raster file, e.g. a GeoTIFF))\n"
