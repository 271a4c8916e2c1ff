"""D3, D4, D8: the suitability CLI refuses factor rasters whose unit tag differs from the breaks' unit (slope in
degrees, distance in km), applies `irrmap run`'s DEM guards (unit type feet, Earth's elevation range) to every
DEM it reads, and refuses all-nodata inputs. Truth: hand-computed slopes of planes and gdaldem where installed."""

from __future__ import annotations

import math
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from conftest import as_dataarray

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

UTM = Grid.from_bounds(500_000, 4_000_000, 500_900, 4_000_600, 30.0, "EPSG:32612")  # 20 x 30 pixels of 30 m
ROWS, COLS = np.indices(UTM.shape)
PLANE_M = (1000.0 + 3.0 * COLS + 1.5 * ROWS).astype(np.float32)  # 3 m per 30 m east, 1.5 m per 30 m south


def _write(path, values, *, nodata=None, units=None, tags=None, dtype="float32"):
    write_raster(path, as_dataarray(values, UTM), dtype=dtype, nodata=nodata, cog=False, tags=tags)
    if units:
        with rasterio.open(path, "r+") as dst:
            dst.units = [units]
    return str(path)


def _cli(capsys, *args):
    rc = main(["-q", "suitability", *map(str, args)])
    return rc, capsys.readouterr().err


# ---- D4: DEM guards of `irrmap run` in the CLI -------------------------------------------------------------
def test_slope_refuses_a_dem_in_feet_and_z_factor_gives_the_metre_slope(tmp_path, capsys):
    feet = _write(tmp_path / "ft.tif", PLANE_M / 0.3048, units="ft")
    rc, err = _cli(capsys, "slope", feet, tmp_path / "s.tif")
    assert rc == 2 and "'ft'" in err and "--z-factor 0.3048" in err and not (tmp_path / "s.tif").exists()
    rc, err = _cli(capsys, "slope", "--z-factor", "0.3048", "--no-edges", feet, tmp_path / "s.tif")
    assert rc == 0, err
    with rasterio.open(tmp_path / "s.tif") as src:
        s = src.read(1)
    want = math.degrees(math.atan(math.hypot(3.0 / 30, 1.5 / 30)))  # the plane's slope, by hand
    np.testing.assert_allclose(s[1:-1, 1:-1], want, atol=1e-4)


def test_slope_refuses_undeclared_voids_naming_gdal_edit(tmp_path, capsys):
    z = PLANE_M.copy()
    z[5:7, 5:7] = -32768.0  # SRTM voids without a nodata tag
    dem = _write(tmp_path / "voids.tif", z)
    rc, err = _cli(capsys, "slope", dem, tmp_path / "s.tif")
    assert rc == 2 and "outside Earth's land elevations" in err and f"gdal_edit.py -a_nodata -32768 {dem}" in err, err
    with rasterio.open(dem, "r+") as dst:
        dst.nodata = -32768.0
    rc, err = _cli(capsys, "slope", dem, tmp_path / "s.tif")
    assert rc == 0, err


@pytest.mark.skipif(shutil.which("gdaldem") is None, reason="gdaldem (gdal-bin) not installed")
def test_slope_of_a_clean_dem_still_matches_gdaldem(tmp_path, capsys):
    z = PLANE_M + 20.0 * np.sin(ROWS / 3.0).astype(np.float32) * np.cos(COLS / 4.0).astype(np.float32)
    dem = _write(tmp_path / "dem.tif", z)
    rc, err = _cli(capsys, "slope", "--percent", dem, tmp_path / "s.tif")
    assert rc == 0, err
    subprocess.run(["gdaldem", "slope", "-q", "-p", "-compute_edges", dem, str(tmp_path / "g.tif")], check=True)
    with rasterio.open(tmp_path / "s.tif") as a, rasterio.open(tmp_path / "g.tif") as b:
        np.testing.assert_allclose(a.read(1), b.read(1), atol=2e-3)


# ---- D8: all-nodata inputs ---------------------------------------------------------------------------------
def test_all_nodata_dem_and_mask_are_refused(tmp_path, capsys):
    dem = _write(tmp_path / "nan.tif", np.full(UTM.shape, np.nan, np.float32))
    rc, err = _cli(capsys, "slope", dem, tmp_path / "s.tif")
    assert rc == 2 and dem in err and "no valid pixel" in err and "gdalinfo -stats" in err
    assert not (tmp_path / "s.tif").exists()
    mask = _write(tmp_path / "mask.tif", np.full(UTM.shape, 255, np.uint8), nodata=255, dtype="uint8")
    rc, err = _cli(capsys, "distance", mask, tmp_path / "d.tif")
    assert rc == 2 and mask in err and "no valid pixel" in err and "nodata 255" in err
    rc, err = _cli(capsys, "distance", "--max-distance", "5000", mask, tmp_path / "d.tif")
    assert rc == 2 and "no valid pixel" in err and not (tmp_path / "d.tif").exists()


# ---- D3: overlay inputs whose unit tag differs from the breaks' unit -----------------------------------------
@pytest.fixture
def factors(tmp_path):
    zones = np.ones(UTM.shape, np.int32)
    zones[:, 15:] = 2
    water = np.zeros(UTM.shape, np.uint8)
    water[0, :] = 1
    paths = {
        "zones": _write(tmp_path / "zones.tif", zones, nodata=0, dtype="int32"),
        "dem": _write(tmp_path / "dem.tif", PLANE_M),
        "mask": _write(tmp_path / "water.tif", water, nodata=255, dtype="uint8"),
        "aridity": _write(tmp_path / "ai.tif", np.full(UTM.shape, 0.35, np.float32)),
    }
    assert main(["-q", "suitability", "distance", paths["mask"], str(tmp_path / "dist.tif")]) == 0
    paths["distance"] = str(tmp_path / "dist.tif")
    return paths


def _overlay(capsys, tmp_path, f, slope, **over):
    args = {"zones": f["zones"], "elevation": f["dem"], "slope": slope, "distance": f["distance"], "aridity": f["aridity"]} | over
    return _cli(capsys, "overlay", tmp_path / "s.tif", *[x for k, v in args.items() for x in (f"--{k}", v)],
                "--min-crop-pixels", "0", "--classes-out", tmp_path / "cls.tif")


def test_overlay_refuses_a_slope_in_degrees_and_takes_percent(tmp_path, capsys, factors):
    assert main(["-q", "suitability", "slope", factors["dem"], str(tmp_path / "deg.tif")]) == 0  # default: degrees
    rc, err = _overlay(capsys, tmp_path, factors, tmp_path / "deg.tif")
    assert rc == 2 and "degrees" in err and "irrmap suitability slope --percent" in err and not (tmp_path / "s.tif").exists()
    assert main(["-q", "suitability", "slope", "--percent", factors["dem"], str(tmp_path / "pct.tif")]) == 0
    rc, err = _overlay(capsys, tmp_path, factors, tmp_path / "pct.tif")
    assert rc == 0, err
    with rasterio.open(tmp_path / "cls.tif") as src:
        slope_class = src.read(3)
    # the plane's slope is 100 * hypot(0.1, 0.05) = 11.2 % (> 8 %): class 1 everywhere in the interior
    assert 100 * math.hypot(0.1, 0.05) > 8 and (slope_class[1:-1, 1:-1] == 1).all()


def test_overlay_refuses_untagged_degree_description_and_km_distance(tmp_path, capsys, factors):
    deg = _write(tmp_path / "deg.tif", np.full(UTM.shape, 3.0, np.float32))
    with rasterio.open(deg, "r+") as dst:
        dst.set_band_description(1, "slope_degree")  # what `suitability slope` writes, tag lost in a copy
    rc, err = _overlay(capsys, tmp_path, factors, deg)
    assert rc == 2 and "--percent" in err
    pct = _write(tmp_path / "pct.tif", np.full(UTM.shape, 3.0, np.float32), tags={"units": "percent"})
    km = _write(tmp_path / "km.tif", np.full(UTM.shape, 2.0, np.float32), tags={"units": "km"})
    rc, err = _overlay(capsys, tmp_path, factors, pct, distance=km)
    assert rc == 2 and f"--distance {km}" in err and "in km" in err and "A*1000" in err
    rc, err = _overlay(capsys, tmp_path, factors, pct)
    assert rc == 0, err


def test_overlay_applies_the_dem_guards_to_elevation_and_checks_aridity(tmp_path, capsys, factors):
    pct = _write(tmp_path / "pct.tif", np.full(UTM.shape, 3.0, np.float32), tags={"units": "percent"})
    feet = _write(tmp_path / "ft.tif", PLANE_M / 0.3048, units="ft")
    rc, err = _overlay(capsys, tmp_path, factors, pct, elevation=feet)
    assert rc == 2 and f"--elevation {feet}" in err and "'ft'" in err and "A*0.3048" in err
    z = PLANE_M.copy()
    z[0, 0] = 32767.0
    voids = _write(tmp_path / "voids.tif", z)
    rc, err = _overlay(capsys, tmp_path, factors, pct, elevation=voids)
    assert rc == 2 and "gdal_edit.py -a_nodata 32767" in err
    ai = _write(tmp_path / "ai_x1e4.tif", np.full(UTM.shape, 3500.0, np.float32))  # Global-AI stored x 10,000
    rc, err = _overlay(capsys, tmp_path, factors, pct, aridity=ai)
    assert rc == 2 and "0.0001" in err
    nan = _write(tmp_path / "nan.tif", np.full(UTM.shape, np.nan, np.float32))
    rc, err = _overlay(capsys, tmp_path, factors, nan)
    assert rc == 2 and "no valid pixel" in err
