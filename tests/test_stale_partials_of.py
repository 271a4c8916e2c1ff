"""A command writing a raster removes the temporaries that an interrupted or killed earlier write of the same file
left beside it (a window folder its worker threads kept alive past the interrupt; a partial file of a SIGKILLed
run), and leaves other files' temporaries and those of live processes alone."""

from __future__ import annotations

import os
import subprocess

import numpy as np

from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_the_output_are_removed(tmp_path):
    dead, live = _dead_pid(), os.getppid()
    stale_dir = tmp_path / f".out.tif.{dead}.partial.windows"
    (stale_dir / "000").mkdir(parents=True)
    (stale_dir / "000" / "w.tif").write_bytes(b"x" * 10)
    stale_file = tmp_path / f".out.tif.{dead}.partial.tif"
    stale_file.write_bytes(b"x")
    keep = [tmp_path / f".out.tif.{live}.partial.tif",        # a live process is writing it now
            tmp_path / f".other.tif.{dead}.partial.tif",      # another output's
            tmp_path / f".out.tif.old.{dead}.partial.tif"]    # the temporary of out.tif.old, not of out.tif
    for k in keep:
        k.write_bytes(b"x")
    grid = Grid.from_bounds(100.0, 40.0, 100.05, 40.04, 0.01, "EPSG:4326")
    write_raster(tmp_path / "out.tif", as_dataarray(np.ones(grid.shape, "float32"), grid))
    assert not stale_dir.exists() and not stale_file.exists()
    assert all(k.exists() for k in keep)
    assert (tmp_path / "out.tif").exists()
