"""Commands without --align read every extra raster onto their first file's grid; one that covers only part of
that grid is now warned about, as the --align commands and the run's inputs already were.

Before, `suitability overlay` with a slope file over 30 % of the zones, `suitability aridity` with a PET over 30 %
of the precipitation grid and `features nscore|sscore` with a cropland share or an S over 30 % of the VI wrote
products missing on the other 70 % with exit 0 and no word (the last note's "Left out": commands reading extra
rasters without --align lacked the footprint warning).

Truth by hand: the partial file holds the grid's last 9 of 30 columns (30 % of a projected grid's area), and the
reference raster's valid pixels outside it are 20 x 21 = 420 of 600. The controls (a full-cover file on the same
grid, and one on a coarser grid covering the whole grid) must not warn: they pass on the old code too.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
from conftest import as_dataarray

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

UTM = Grid.from_bounds(500_000, 4_000_000, 500_900, 4_000_600, 30.0, "EPSG:32612")  # 20 rows x 30 columns of 30 m
PART = Grid.from_bounds(500_630, 4_000_000, 500_900, 4_000_600, 30.0, "EPSG:32612")  # its last 9 columns
COARSE = Grid.from_bounds(499_940, 3_999_940, 500_960, 4_000_660, 60.0, "EPSG:32612")  # covers it all, 60 m
ROWS, COLS = np.indices(UTM.shape)


def _write(path, values, grid=UTM, nodata=None, dtype="float32", tags=None):
    write_raster(path, as_dataarray(np.asarray(values, dtype=dtype), grid), dtype=dtype, nodata=nodata, cog=False, tags=tags)
    return str(path)


def _full(grid, value):
    return np.full(grid.shape, value, np.float32)


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "the file covers only" in r.getMessage()]


def _check_partial(caplog, option, path):
    msgs = _warnings(caplog)
    assert len(msgs) == 1, msgs
    m = msgs[0]
    assert m.startswith(f"{option} {path}") and "covers only 30.0 %" in m, m
    assert "(420 of 600)" in m, m  # valid pixels of the reference raster without a value
    assert "fix:" in m


def _overlay_factors(tmp_path):
    return {"zones": _write(tmp_path / "zones.tif", np.ones(UTM.shape), nodata=0, dtype="int32"),
            "elevation": _write(tmp_path / "dem.tif", 1000.0 + 3.0 * COLS + 1.5 * ROWS),
            "slope": _write(tmp_path / "slope.tif", _full(UTM, 3.0)),
            "distance": _write(tmp_path / "dist.tif", COLS * 30.0),
            "aridity": _write(tmp_path / "ai.tif", _full(UTM, 0.35))}


def _overlay(tmp_path, f):
    return main(["suitability", "overlay", str(tmp_path / "s.tif"), *(x for k, v in f.items() for x in (f"--{k}", v)),
                 "--min-crop-pixels", "0"])


def test_overlay_warns_about_a_partial_factor(tmp_path, caplog):
    f = _overlay_factors(tmp_path)
    f["slope"] = _write(tmp_path / "slope_part.tif", _full(PART, 3.0), PART)
    caplog.set_level(logging.INFO)
    assert _overlay(tmp_path, f) == 0
    _check_partial(caplog, "--slope", f["slope"])


@pytest.mark.parametrize("grid", ["same", "coarse"])
def test_overlay_full_cover_is_silent(tmp_path, caplog, grid):
    f = _overlay_factors(tmp_path)
    if grid == "coarse":
        f["aridity"] = _write(tmp_path / "ai60.tif", _full(COARSE, 0.35), COARSE)
    caplog.set_level(logging.INFO)
    assert _overlay(tmp_path, f) == 0
    assert _warnings(caplog) == []


def test_aridity_warns_about_a_partial_pet(tmp_path, caplog):
    precip = _write(tmp_path / "p.tif", _full(UTM, 400.0), tags={"units": "mm"})
    pet = _write(tmp_path / "pet_part.tif", _full(PART, 1000.0), PART, tags={"units": "mm"})
    caplog.set_level(logging.INFO)
    assert main(["suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", precip, "--pet", pet]) == 0
    _check_partial(caplog, "--pet", pet)


def _vi(tmp_path):
    return _write(tmp_path / "evi.tif", 0.3 + 0.01 * (COLS % 7) + 0.005 * (ROWS % 5))


def test_nscore_warns_about_a_partial_crop_share(tmp_path, caplog):
    vi = _vi(tmp_path)
    crop = _write(tmp_path / "crop_part.tif", _full(PART, 0.8), PART)
    caplog.set_level(logging.INFO)
    assert main(["features", "nscore", vi, str(tmp_path / "n.tif"), "--crop", crop, "--window", "5"]) == 0
    _check_partial(caplog, "--crop", crop)


def test_sscore_warns_about_a_partial_suitability(tmp_path, caplog):
    vi = _vi(tmp_path)
    s = _write(tmp_path / "s_part.tif", _full(PART, 0.6), PART)
    caplog.set_level(logging.INFO)
    assert main(["features", "sscore", vi, str(tmp_path / "ss.tif"), "--suitability", s]) == 0
    _check_partial(caplog, "--suitability", s)


def test_sscore_full_cover_is_silent(tmp_path, caplog):
    vi = _vi(tmp_path)
    s = _write(tmp_path / "s60.tif", _full(COARSE, 0.6), COARSE)
    caplog.set_level(logging.INFO)
    assert main(["features", "sscore", vi, str(tmp_path / "ss.tif"), "--suitability", s]) == 0
    assert _warnings(caplog) == []
