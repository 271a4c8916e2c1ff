"""Every CLI command caps GDAL's block cache at `[run].gdal_cache_mb`'s default (GDAL's own default, 5 % of RAM,
made single-purpose commands' memory grow with the map: `suitability aridity` 955 MB at 144 Mpx with the cap,
1,913 MB without), and a GDAL_CACHEMAX the user set is kept. The truth is GDAL's own GDALGetCacheMax64 after a
command read a raster, asked of the libgdal loaded in the command's process."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import GDAL_CACHE_MB
from irrmap.core.config import RunSection

PROBE = textwrap.dedent("""
    import ctypes, sys
    from irrmap.app.cli import main
    code = main(sys.argv[1:])
    lib = next(line.split()[-1] for line in open('/proc/self/maps') if 'libgdal' in line)
    f = ctypes.CDLL(lib).GDALGetCacheMax64
    f.restype = ctypes.c_int64
    print('CACHE', code, f())
""")


def _dem(path):
    z = np.add.outer(np.arange(32.0), np.arange(32.0)) * 10
    with rasterio.open(path, "w", driver="GTiff", width=32, height=32, count=1, dtype="float32", crs="EPSG:32614",
                       transform=from_origin(500000, 4000000, 30, 30)) as dst:
        dst.write(z.astype("float32"), 1)


def _cache_after_command(tmp_path, env_value):
    _dem(tmp_path / "dem.tif")
    env = {k: v for k, v in os.environ.items() if k != "GDAL_CACHEMAX"}
    if env_value is not None:
        env["GDAL_CACHEMAX"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE, "-q", "suitability", "slope", str(tmp_path / "dem.tif"),
                          str(tmp_path / "slope.tif")], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("CACHE")), None)
    assert line is not None, out.stderr
    _, code, cache = line.split()
    assert code == "0"
    return int(cache)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_command_caps_gdal_cache(tmp_path):
    assert GDAL_CACHE_MB == RunSection.model_fields["gdal_cache_mb"].default
    assert _cache_after_command(tmp_path, None) == GDAL_CACHE_MB * 1024 * 1024


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_user_gdal_cachemax_kept(tmp_path):
    assert _cache_after_command(tmp_path, "32") == 32 * 1024 * 1024
