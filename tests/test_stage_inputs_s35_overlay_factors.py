"""`irrmap suitability overlay` with factor rasters that are not what their option says: the DEM given as --slope
(elevations 1,000-1,090 read as percent: every pixel slope class 1, exit 0), one file for --elevation and --slope,
and a distance with an undeclared -9999 fill (the fill pixels took distance class 4, "next to water"). Each is
refused now; the good factors still give the hand-computed classes."""

from __future__ import annotations

import numpy as np
import rasterio
from conftest import as_dataarray

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

UTM = Grid.from_bounds(500_000, 4_000_000, 500_900, 4_000_600, 30.0, "EPSG:32612")  # 20 x 30 pixels of 30 m
ROWS, COLS = np.indices(UTM.shape)
PLANE_M = (1000.0 + 3.0 * COLS + 1.5 * ROWS).astype(np.float32)


def _write(path, values, *, nodata=None, dtype="float32"):
    write_raster(path, as_dataarray(values, UTM), dtype=dtype, nodata=nodata, cog=False)
    return str(path)


def _factors(tmp_path, **over):
    zones = np.ones(UTM.shape, np.int32)
    f = {"zones": _write(tmp_path / "zones.tif", zones, nodata=0, dtype="int32"),
         "elevation": _write(tmp_path / "dem.tif", PLANE_M),
         "slope": _write(tmp_path / "slope.tif", np.full(UTM.shape, 3.0, np.float32)),  # percent: class 3 (2 < 3 <= 4)
         "distance": _write(tmp_path / "dist.tif", COLS * 30.0),
         "aridity": _write(tmp_path / "ai.tif", np.full(UTM.shape, 0.35, np.float32))}
    return f | over


def _overlay(capsys, tmp_path, f):
    args = [x for k, v in f.items() for x in (f"--{k}", v)]
    rc = main(["-q", "suitability", "overlay", str(tmp_path / "s.tif"), *args, "--min-crop-pixels", "0",
               "--classes-out", str(tmp_path / "cls.tif")])
    return rc, capsys.readouterr().err


def test_the_dem_as_slope_is_refused(tmp_path, capsys):
    f = _factors(tmp_path)
    rc, err = _overlay(capsys, tmp_path, f | {"slope": _write(tmp_path / "dem2.tif", PLANE_M + 5.0)})
    assert rc == 2 and "no terrain slope" in err and "--slope" in err and "Traceback" not in err
    assert not (tmp_path / "s.tif").exists()


def test_one_file_for_elevation_and_slope_is_refused(tmp_path, capsys):
    f = _factors(tmp_path)
    rc, err = _overlay(capsys, tmp_path, f | {"slope": f["elevation"]})
    assert rc == 2 and "--elevation and --slope read the same data" in err


def test_undeclared_distance_fill_is_refused(tmp_path, capsys):
    d = COLS * 30.0
    d[:5, :5] = -9999.0
    rc, err = _overlay(capsys, tmp_path, _factors(tmp_path, distance=_write(tmp_path / "fill.tif", d)))
    assert rc == 2 and "negative distance" in err and "-a_nodata -9999" in err


def test_good_factors_give_the_classes(tmp_path, capsys):
    rc, err = _overlay(capsys, tmp_path, _factors(tmp_path))
    assert rc == 0, err
    with rasterio.open(tmp_path / "cls.tif") as src:
        slope_class, distance_class = src.read(3), src.read(2)
    assert (slope_class == 3).all()  # 3 % lies in (2, 4]: class 3 (METHOD.md breaks 2/4/8 %)
    # distance above the unit's minimum (0 m) is at most 870 m <= 1 km: class 4 everywhere
    assert (distance_class == 4).all()
