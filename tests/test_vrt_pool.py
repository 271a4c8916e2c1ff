"""The copy of a window mosaic to its final file keeps at most VRT_POOL_SIZE window files open.

GDAL's VRT opens its sources through a proxy pool that keeps up to GDAL_MAX_DATASET_POOL_SIZE of them open
(default 100) until the VRT closes; each open window file held about 2 MB, so the finishing copies of a large
grid held a few hundred MB that nothing reused. The files a process has open are counted in /proc/self/fd
(Linux), while the mosaic is read in the environment the finishing copy runs in.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

import irrmap.core.raster_write as rw

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc/self/fd (Linux)")


def _open_in(folder: Path) -> int:
    """Files of `folder` this process has open now."""
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += Path(os.readlink(f"/proc/self/fd/{fd}")).parent == folder
        except OSError:
            pass
    return n


def _data(size: int = 768, chunk: int = 128) -> xr.DataArray:
    values = np.add.outer(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32) / 7)
    return xr.DataArray(values, dims=("y", "x")).rio.write_crs("EPSG:32650").rio.write_transform(
        Affine(250.0, 0, 500000.0, 0, -250.0, 4000000.0)).chunk(chunk)


def _write_and_count(tmp_path: Path, monkeypatch, cog: bool):
    """Write `_data()` through the window path; (window files open while the mosaic is read in the finishing
    copy's thread and environment, the mosaic's pixels, the data, the final file)."""
    seen = []
    real_copy = rw._copy

    def copy_and_count(src, dst, o, dtype, blocksize, compress):
        real_copy(src, dst, o, dtype, blocksize, compress)
        with rasterio.open(src) as vrt:
            whole = vrt.read(1)
            seen.append((_open_in(Path(src).parent), whole))

    monkeypatch.setattr(rw, "_copy", copy_and_count)
    data = _data()
    out = tmp_path / "a.tif"
    rw.write_rasters([rw.RasterOutput(out, data, cog=cog)], resume=tmp_path / "resume", resume_key="k")
    (open_files, whole), = seen
    return open_files, whole, data, out


@pytest.mark.parametrize("cog", [True, False])
def test_finishing_copy_keeps_few_window_files_open(tmp_path, monkeypatch, cog):
    open_files, whole, data, out = _write_and_count(tmp_path, monkeypatch, cog)
    # 36 windows of 128 x 128 in the mosaic: more than the cap, fewer than GDAL's default of 100
    assert 1 <= open_files <= rw.VRT_POOL_SIZE
    np.testing.assert_array_equal(whole, data.values)  # every window was read, through at most that many open files
    with rasterio.open(out) as src:
        np.testing.assert_array_equal(src.read(1), data.values)


def test_without_the_cap_every_window_stays_open(tmp_path, monkeypatch):
    """The count above is a real measurement: GDAL's default pool keeps all 36 windows open."""
    monkeypatch.setattr(rw, "VRT_POOL_SIZE", 100)
    open_files, *_ = _write_and_count(tmp_path, monkeypatch, cog=False)
    assert open_files == 36
