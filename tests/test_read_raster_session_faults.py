"""read_raster in one Python session: a VRT source removed after an earlier read, a relative path and a later
os.chdir, rasterio's zip:// URL form (user probe /tmp/probeAPI t9, t2, zip).

1. GDAL 3.10 (rasterio's wheels), in a process where a VRT is open (its proxy pool of sources exists), raises at the
   first read of a missing source and then reads that source as the band's nodata without an error; irrmap checked a
   VRT's sources once per stat of the VRT file itself, so a source removed after an earlier read came back as NaN
   pixels. The scenario runs in a fresh Python (sys.executable) so that GDAL's state does not depend on test order.
2. GDAL resolves a relative name against the current directory when the lazy read opens the file (at compute).
3. rasterio.open reads 'zip://x.zip!a.tif'; os.stat of that name raised FileNotFoundError in stat_identity.
Truth is the arrays written (numpy), not irrmap's own output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster, read_raster_bands

H, W = 12, 10
LEFT = np.arange(H * W, dtype="float32").reshape(H, W) * 1.5
RIGHT = LEFT + 1000.0
ORIGIN = (500000.0, 4000000.0)


def _tif(path, values, x0=ORIGIN[0]):
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=1, dtype="float32", crs="EPSG:32633",
                       transform=from_origin(x0, ORIGIN[1], 30, 30), nodata=float("nan")) as dst:
        dst.write(values, 1)
    return path


def _source(name, band, x_off):
    return (f'<ComplexSource><SourceFilename relativeToVRT="1">{name}</SourceFilename><SourceBand>1</SourceBand>'
            f'<SrcRect xOff="0" yOff="0" xSize="{W}" ySize="{H}"/><DstRect xOff="{x_off}" yOff="0" xSize="{W}" ySize="{H}"/>'
            "<NODATA>nan</NODATA></ComplexSource>")


def _mosaic(folder, bands=1):
    """folder/mos.vrt: left.tif | right.tif side by side (relative to the VRT's folder), `bands` identical bands."""
    _tif(folder / "left.tif", LEFT)
    _tif(folder / "right.tif", RIGHT, ORIGIN[0] + W * 30)
    with rasterio.open(folder / "left.tif") as src:
        srs = src.crs.to_wkt()
    body = "".join(f'<VRTRasterBand dataType="Float32" band="{b}"><NoDataValue>nan</NoDataValue>'
                   f'{_source("left.tif", b, 0)}{_source("right.tif", b, W)}</VRTRasterBand>' for b in range(1, bands + 1))
    vrt = folder / "mos.vrt"
    vrt.write_text(f'<VRTDataset rasterXSize="{2 * W}" rasterYSize="{H}"><SRS>{srs}</SRS>'
                   f"<GeoTransform>{ORIGIN[0]}, 30, 0, {ORIGIN[1]}, 0, -30</GeoTransform>{body}</VRTDataset>")
    return vrt


SCENARIO = textwrap.dedent("""
    import json, os, sys
    import dask
    import numpy as np
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster, read_raster_bands
    dask.config.set(scheduler="synchronous")
    vrt, stacked = sys.argv[1], sys.argv[2] == "1"
    right = os.path.join(os.path.dirname(vrt), "right.tif")
    grid = Grid.from_raster(vrt)
    read = (lambda: read_raster_bands(vrt, grid, [1, 2])) if stacked else (lambda: read_raster(vrt, grid))
    def outcome(make):
        try:
            return ["values", make().compute().values.tolist()]
        except Exception as exc:
            return [type(exc).__name__, str(exc)]
    out = [outcome(read)]                                     # 1: every source there
    os.rename(right, right + ".bak")
    out.append(outcome(read))                                 # 2: GDAL's first failure on the missing source
    os.rename(right + ".bak", right)
    lazy = read()                                             # 3: planned with every source there
    out.append(outcome(lambda: lazy))
    os.rename(right, right + ".bak")
    out.append(outcome(lambda: lazy))                         # 4: computed again after the source went
    out.append(outcome(read))                                 # 5: a new read with the source gone
    os.rename(right + ".bak", right)
    print(json.dumps(out))
""")


@pytest.mark.parametrize("stacked", [False, True], ids=["read_raster", "read_raster_bands"])
def test_vrt_source_removed_after_earlier_read_raises_not_nan(tmp_path, stacked):
    vrt = _mosaic(tmp_path, bands=2 if stacked else 1)
    run = subprocess.run([sys.executable, "-c", SCENARIO, str(vrt), "1" if stacked else "0"], capture_output=True,
                         text=True, timeout=240, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    steps = json.loads(run.stdout.strip().splitlines()[-1])
    truth = np.hstack([LEFT, RIGHT])
    if stacked:
        truth = np.stack([truth, truth])
    for k in (0, 2):  # every source there: the sources' pixels
        assert steps[k][0] == "values", steps[k]
        np.testing.assert_array_equal(np.asarray(steps[k][1], np.float32), truth)
    for k in (1, 3, 4):  # a source missing at read time: the VRT's error naming it, never NaN for its pixels
        kind, what = steps[k]
        assert kind == "InputError", (k, kind, str(what)[:200])
        assert str(vrt) in what and "'right.tif'" in what and "relative to the VRT's folder" in what


def test_relative_path_then_chdir_reads_the_file(tmp_path, monkeypatch):
    _tif(tmp_path / "a.tif", LEFT)
    grid = Grid.from_raster(tmp_path / "a.tif")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    one, stack = read_raster("a.tif", grid), read_raster_bands("a.tif", grid, [1])
    monkeypatch.chdir(tmp_path / "elsewhere")  # GDAL would look for elsewhere/a.tif when computed
    np.testing.assert_array_equal(one.compute().values, LEFT)
    np.testing.assert_array_equal(stack.compute().values, LEFT[None])


def test_rasterio_zip_url_reads_the_file(tmp_path):
    from irrmap.core.companions import stat_identity

    _tif(tmp_path / "a.tif", RIGHT)
    archive = tmp_path / "x.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(tmp_path / "a.tif", "a.tif")
    os.remove(tmp_path / "a.tif")
    name = f"zip://{archive}!a.tif"
    grid = Grid.from_raster(name)
    np.testing.assert_array_equal(read_raster(name, grid).compute().values, RIGHT)
    st = os.stat(archive)
    _, own, _ = stat_identity(name)  # the container's stat stands for the dataset
    assert (own[1], own[2], own[3]) == (st.st_ino, st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("form", ["/vsizip/x.zip/a.tif", "/vsizip/{x.zip}/a.tif", "zip://sub/../x.zip!a.tif"])
def test_relative_archive_name_then_chdir_reads_the_file(tmp_path, monkeypatch, form):
    # (rasterio 1.4 itself reads zip://x.zip!a.tif as a path 'x.zip!a.tif', no archive: only a name with a folder
    # part, as zip://sub/../x.zip!a.tif, is its relative URL form)
    _tif(tmp_path / "a.tif", RIGHT)
    with zipfile.ZipFile(tmp_path / "x.zip", "w") as z:
        z.write(tmp_path / "a.tif", "a.tif")
    os.remove(tmp_path / "a.tif")
    (tmp_path / "sub").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    grid = Grid.from_raster(form)
    one, stack = read_raster(form, grid), read_raster_bands(form, grid, [1])
    monkeypatch.chdir(tmp_path / "elsewhere")  # the archive is looked for against the current directory at compute
    np.testing.assert_array_equal(one.compute().values, RIGHT)
    np.testing.assert_array_equal(stack.compute().values, RIGHT[None])
