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


# GDAL reads GDAL_MAX_DATASET_POOL_SIZE once, when its proxy pool is created: a VRT an earlier test of the same
# process left open (a read cache) would fix the pool at 100 for this one. So each count runs in a fresh interpreter.
_FRESH = """
import json, sys, tempfile
from pathlib import Path
import numpy as np, rasterio
import irrmap.core.raster_write as rw
from tests.test_vrt_pool import _write_and_count
class _Patch:
    def setattr(self, obj, name, value):
        setattr(obj, name, value)
rw.VRT_POOL_SIZE = int(sys.argv[2])
with tempfile.TemporaryDirectory() as d:
    n, whole, data, out = _write_and_count(Path(d), _Patch(), sys.argv[1] == "1")
    with rasterio.open(out) as src:
        print(json.dumps([n, bool(np.array_equal(whole, data.values)), bool(np.array_equal(src.read(1), data.values))]))
"""


def _count_in_fresh_process(cog: bool, pool: int):
    import json
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", _FRESH, "1" if cog else "0", str(pool)], cwd=root, env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("cog", [True, False])
def test_finishing_copy_keeps_few_window_files_open(cog):
    open_files, mosaic_equal, file_equal = _count_in_fresh_process(cog, rw.VRT_POOL_SIZE)
    # 36 windows of 128 x 128 in the mosaic: more than the cap, fewer than GDAL's default of 100
    assert 1 <= open_files <= rw.VRT_POOL_SIZE
    assert mosaic_equal and file_equal  # every window was read, through at most that many open files


def test_without_the_cap_every_window_stays_open():
    """The count above is a real measurement: GDAL's default pool keeps all 36 windows open."""
    open_files, *_ = _count_in_fresh_process(False, 100)
    assert open_files == 36
