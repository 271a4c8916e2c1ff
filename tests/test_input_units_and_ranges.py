"""A DEM in feet, or with undeclared -32768 voids, is refused instead of giving slopes 3.28x or 1000x off."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import rasterio
from conftest import as_dataarray
from test_pipeline_cli import CONFIG, SUITABILITY, project  # noqa: F401  (the tiny two-county project)

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster


def _run(project, capsys, text):  # noqa: F811
    (project / "run.toml").write_text(text)
    rc = main(["-q", "run", str(project / "run.toml")])
    return rc, capsys.readouterr().err


def test_dem_in_feet_is_refused_then_read_with_scale(project, capsys):  # noqa: F811
    dem = project / "dem.tif"
    if _has_gdal_edit():  # GDAL's own tool sets the band's unit type, as a user would
        subprocess.run(["gdal_edit.py", "-units", "ft", str(dem)], check=True)
    else:
        _set_units(dem, "ft")
    rc, err = _run(project, capsys, CONFIG)
    assert rc == 2 and "in 'ft'" in err and "scale = 0.3048" in err
    fixed = re.sub(r'(\[inputs\.dem\]\npath = "dem.tif")', r'\1\nscale = 0.3048', CONFIG)
    assert fixed != CONFIG
    rc, err = _run(project, capsys, fixed)
    assert rc == 0, err


def test_undeclared_voids_in_a_dem_stop_the_suitability_stage(project, capsys):  # noqa: F811
    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    water = np.zeros(g.shape, "uint8")
    water[20, :] = 1
    write_raster(project / "water.tif", as_dataarray(water, g), dtype="uint8", nodata=255, cog=False)
    for name, value in (("precip", 300.0), ("pet", 1000.0)):
        write_raster(project / f"{name}.tif", as_dataarray(np.full(g.shape, value, "float32"), g), cog=False)
    rc, err = _run(project, capsys, CONFIG + SUITABILITY)
    assert rc == 0, err  # the clean DEM (500..900 m) passes
    dem = project / "dem.tif"
    with rasterio.open(dem) as src:
        profile, z = src.profile, src.read(1)
    z[:3, :3] = -32768.0  # SRTM-style voids, no nodata tag
    profile.update(nodata=None)
    with rasterio.open(dem, "w", **profile) as dst:
        dst.write(z, 1)
    rc, err = _run(project, capsys, CONFIG + SUITABILITY)
    assert rc == 2 and "outside Earth's land elevations" in err and "nodata = -32768" in err, err
    rc, err = _run(project, capsys, CONFIG.replace('path = "dem.tif"', 'path = "dem.tif"\nnodata = -32768') + SUITABILITY)
    assert rc == 0, err


def _has_gdal_edit() -> bool:
    from shutil import which

    return which("gdal_edit.py") is not None


def _set_units(path, unit):
    with rasterio.open(path, "r+") as dst:
        dst.units = [unit]


def test_units_reporting_more_than_their_cropland_are_named(project, caplog):  # noqa: F811
    """County 620102's cropland on the grid is 1/3 of its ~94 km2 (land cover class 1 on every third 25 m
    cell); 80 km2 (8,000 ha) reported is more than that, so the warning names it and the 2 km2 of 620101 not."""
    import logging

    import pandas as pd

    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    rng = np.random.default_rng(0)
    for name in ("s1", "s2"):
        write_raster(project / f"{name}.tif", as_dataarray(rng.random(g.shape).astype("float32"), g), cog=False)
    pd.DataFrame({"code": ["620101", "620102"], "irrigated": [200.0, 8000.0]}).to_csv(project / "stats.csv", index=False)
    text = CONFIG + '\n[inputs.s1]\npath = "s1.tif"\n\n[inputs.s2]\npath = "s2.tif"\n\n[training]\nscores = ["s1", "s2"]\nper_class = 20\n'
    (project / "run.toml").write_text(text)
    with caplog.at_level(logging.WARNING):
        main(["-q", "run", str(project / "run.toml")])
    thr = pd.read_csv(project / "out" / "training" / "thresholds.csv", dtype={"unit": str})
    infeasible = set(thr.loc[thr["status"] == "infeasible", "unit"])
    assert infeasible == {"620102"}  # 80 km2 > ~31 km2 of cropland; 2 km2 < cropland
    msg = [r.getMessage() for r in caplog.records if "more irrigated area than their cropland" in r.getMessage()]
    assert len(msg) == 1 and "620102 (80.00 km2 reported" in msg[0] and "620101" not in msg[0]
