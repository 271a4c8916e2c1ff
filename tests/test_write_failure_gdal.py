"""A GDAL write that fails (full disk) is the project's OutputError (CLI exit 2, one line naming the file and the fix),
never a traceback, and libtiff's own "_tiffWriteProc: No space left on device" line does not reach stderr.

Messages below are GDAL 3.10's / libtiff's own words, taken from real failed writes on a small tmpfs. The tmpfs tests
mount one (root only; skipped otherwise)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import numpy as np
import pytest

from irrmap.core import atomic
from irrmap.core.atomic import atomic_path, write_failure
from irrmap.core.errors import OutputError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
FLATHEAD = DATA / "landsat" / "flathead_lc8_20150604"
Usage = namedtuple("Usage", "total used free")


class CPLE_AppDefinedError(Exception):  # noqa: N801 - stands for rasterio._err.CPLE_AppDefinedError (same text)
    pass


def _free(monkeypatch, free: int) -> None:
    monkeypatch.setattr(atomic.shutil, "disk_usage", lambda p: Usage(10**12, 10**12 - free, free))


def test_gdal_message_with_plenty_of_space_is_a_generic_write_error(tmp_path, monkeypatch):
    _free(monkeypatch, 50 * 10**9)  # 50 GB free: not a full disk
    exc = CPLE_AppDefinedError("TIFFAppendToStrip:Write error at scanline 0")
    err = write_failure(exc, tmp_path / ".mask.tif.123.partial.tif")
    assert isinstance(err, OutputError)
    text = str(err)
    assert text.startswith(f"{tmp_path / 'mask.tif'}: cannot write: TIFFAppendToStrip:Write error at scanline 0")
    assert "fix:" in text and "No space" not in text


@pytest.mark.parametrize("message", [
    "TIFFAppendToStrip:Write error at scanline 4294967295",
    ".mask.tif.25531.partial.tif.ovr.tmp: WriteEncodedTile/Strip() failed.",
    "TIFFRewriteDirectory:Error fetching directory count",
    "Could not add feature to layer at index 2718: failed to execute insert : database or disk is full",
])
def test_gdal_message_on_a_nearly_full_disk_is_no_space_with_the_free_space(tmp_path, monkeypatch, message):
    _free(monkeypatch, 1_500_000)  # 1.5 MB free (> FULL_BELOW, < NEAR_FULL_BELOW): the failed block did not fit
    err = write_failure(CPLE_AppDefinedError(message), tmp_path / "mask.tif")
    assert isinstance(err, OutputError)
    assert "cannot write: No space left on device (fix: free disk space (1.5 MB free on" in str(err)
    assert "partial" not in str(err)


def test_free_space_below_what_was_written_counts_as_full(tmp_path, monkeypatch):
    _free(monkeypatch, 40 * 2**20)  # 40 MiB free, but 100 MiB were being written
    err = write_failure(CPLE_AppDefinedError("TIFFAppendToStrip:Write error at scanline 0"), tmp_path / "a.tif",
                        written=100 * 2**20)
    assert "No space left on device (fix: free disk space (41.9 MB free" in str(err)


def test_libtiff_os_error_names_the_cause(tmp_path, monkeypatch):
    _free(monkeypatch, 50 * 10**9)
    err = write_failure(CPLE_AppDefinedError("TIFFAppendToStrip:Write error at scanline 0"), tmp_path / "a.tif",
                        libtiff=["_tiffWriteProc: Disk quota exceeded"])
    assert "cannot write: disk quota exceeded" in str(err)


def test_control_read_error_of_another_file_is_not_a_write_failure(tmp_path, monkeypatch):
    """Control (passes on the old code too): an input's read error inside a write stays what it is."""
    _free(monkeypatch, 50 * 10**9)
    exc = CPLE_AppDefinedError("/data/in.tif, band 1: IReadBlock failed at X offset 0, Y offset 0")
    assert write_failure(exc, tmp_path / "out.tif") is None
    assert write_failure(ValueError("bad value"), tmp_path / "out.tif") is None


# --- real writes on a small tmpfs -----------------------------------------------------------------------------------

def _can_mount() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0 and shutil.which("mount") is not None


needs_tmpfs = pytest.mark.skipif(not _can_mount(), reason="mounting a tmpfs needs root on Linux")


@pytest.fixture
def tiny_disk(tmp_path):
    """A function mounting a tmpfs of the given size under tmp_path (unmounted afterwards)."""
    mounts = []

    def mount(size: str) -> Path:
        where = tmp_path / f"disk{len(mounts)}"
        where.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
        mounts.append(where)
        return where

    yield mount
    for where in mounts:
        subprocess.run(["umount", str(where)], check=False)


@needs_tmpfs
@pytest.mark.parametrize("size", ["150k", "400k", "2m"])
def test_cog_copy_on_full_tmpfs_is_output_error_and_no_file(tiny_disk, capfd, size):
    import rasterio
    import rasterio.shutil
    from rasterio.transform import from_origin

    import irrmap.core.raster_write  # noqa: F401 - installs the libtiff handler as the writers do

    src = tiny_disk("8m") / "src.tif"
    values = np.random.default_rng(0).random((1200, 1200)).astype("float32")  # random: hardly compresses (5.8 MB)
    with rasterio.open(src, "w", driver="GTiff", width=1200, height=1200, count=1, dtype="float32", crs="EPSG:32611",
                       transform=from_origin(0, 0, 30, 30)) as dst:
        dst.write(values, 1)
    out = tiny_disk(size) / "out.tif"
    with pytest.raises(OutputError) as info:
        with atomic_path(out) as tmp:
            rasterio.shutil.copy(src, tmp, driver="COG", compress="deflate")
    assert str(info.value).startswith(f"{out}: cannot write: No space left on device (fix: free disk space (")
    assert not out.exists() and os.listdir(out.parent) == []  # nothing truncated left, under any name
    assert "_tiffWriteProc" not in capfd.readouterr().err


@needs_tmpfs
def test_gpkg_on_full_tmpfs_is_output_error(tiny_disk):
    import geopandas as gpd
    import shapely

    rng = np.random.default_rng(1)
    n = 5000
    frame = gpd.GeoDataFrame({"a": np.arange(n)}, crs=4326,
                             geometry=shapely.buffer(shapely.points(rng.random(n), rng.random(n)), 0.01))
    out = tiny_disk("200k") / "bodies.gpkg"
    with pytest.raises(OutputError, match="cannot write: No space left on device"):
        with atomic_path(out) as tmp:
            frame.to_file(tmp, driver="GPKG", layer="bodies")
    assert os.listdir(out.parent) == []


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "irrmap", "-q", *map(str, args)], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1])


def _assert_one_error_line(run, out: Path) -> None:
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr  # no GDAL / libtiff line before irrmap's
    assert lines[0].startswith(f"irrmap: error: {out}: cannot write: No space left on device (fix: free disk space")
    assert " free on " in lines[0]  # the free space left


@needs_tmpfs
def test_cli_water_bodies_on_full_tmpfs(tiny_disk, tmp_path):
    """End to end: `irrmap water bodies` writing into a 150 kB tmpfs (its body_id.tif COG does not fit)."""
    import rasterio
    from rasterio.transform import from_origin

    mask = tmp_path / "mask.tif"
    values = (np.random.default_rng(2).random((624, 623)) < 0.3).astype("uint8")  # scattered water: poor compression
    with rasterio.open(mask, "w", driver="GTiff", width=623, height=624, count=1, dtype="uint8", nodata=255,
                       crs="EPSG:32611", transform=from_origin(700000, 5300000, 30, 30)) as dst:
        dst.write(values, 1)
    out = tiny_disk("150k") / "bodies"
    run = _cli("water", "bodies", "--min-area-m2", "0", out, mask)
    _assert_one_error_line(run, out / "body_id.tif")


@needs_tmpfs
@pytest.mark.skipif(not FLATHEAD.is_dir(), reason="needs ../shared/data (Flathead Landsat 8 scene)")
def test_cli_water_mask_on_full_tmpfs(tiny_disk):
    """End to end on the real Flathead scene: the probe's command on a 150 kB tmpfs (traceback, exit 1 before)."""
    out = tiny_disk("150k") / "mask.tif"
    run = _cli("water", "mask", out, FLATHEAD)
    _assert_one_error_line(run, out)
