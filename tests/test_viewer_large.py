"""The viewer opens a 16384 x 16384 map without loading it whole: its tiles are read from the overview levels.

The map is a synthetic uint8 DEFLATE GeoTIFF with internal overviews (a COG's content) written in a temporary
folder: a checkerboard of 1024-pixel squares (values 0 / 2) plus one random bit per pixel, so the full
resolution does not compress away (~40 MB on disk) and the checkerboard is an exact truth for every
power-of-two decimation. Evidence that the full resolution is never read: the bytes the process reads (Linux
/proc/self/io rchar, every read() call; a control read of a full-resolution window shows the counter sees
GDAL's reads) stay under a tenth of the file, and the Python heap peak (tracemalloc, which numpy reports to)
stays far under the 268 MB array."""

from __future__ import annotations

import base64
import io
import json
import math
import re
import tracemalloc

import numpy as np
import pytest
import rasterio
from PIL import Image
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.windows import Window

from irrmap.evaluation.viewer import Colouring, Frame, render_pyramid, write_viewer
from tests.viewer_run import embedded_data

psutil = pytest.importorskip("psutil")
N, SQUARE = 16384, 1024
FULL_BYTES = N * N  # uint8

pytestmark = pytest.mark.slow


def _rchar() -> int:
    io_ = psutil.Process().io_counters()
    return getattr(io_, "read_chars", None) or pytest.skip("no read_chars counter on this platform")


@pytest.fixture(scope="module")
def big_map(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("bigmap") / "class.tif"
    prof = dict(driver="GTiff", width=N, height=N, count=1, dtype="uint8", nodata=255, crs="EPSG:32648",
                transform=from_origin(500000, 4500000, 30, 30), tiled=True, blockxsize=512, blockysize=512,
                compress="deflate", zlevel=1)
    rng = np.random.default_rng(0)
    with rasterio.open(path, "w", **prof) as dst:
        for r0 in range(0, N, SQUARE):
            checker = ((np.arange(r0, r0 + SQUARE)[:, None] // SQUARE + np.arange(N)[None, :] // SQUARE) % 2).astype(np.uint8)
            dst.write(checker * 2 + rng.integers(0, 2, (SQUARE, N), dtype=np.uint8), 1, window=Window(0, r0, N, SQUARE))
    with rasterio.Env(GDAL_NUM_THREADS="2"), rasterio.open(path, "r+") as dst:
        dst.build_overviews([2, 4, 8, 16, 32, 64], Resampling.nearest)
    with rasterio.open(path) as src:
        assert src.overviews(1) == [2, 4, 8, 16, 32, 64]
    return str(path)


def _checker(shape, factor) -> np.ndarray:
    r = np.arange(shape[0])[:, None] * factor // SQUARE
    c = np.arange(shape[1])[None, :] * factor // SQUARE
    return ((r + c) % 2).astype(np.uint8)


def test_pyramid_reads_only_overviews(big_map):
    import os

    size = os.path.getsize(big_map)
    frame = Frame.for_shape(N, N, 1024)
    assert (frame.top_factor, frame.levels) == (16, 2)
    colouring = Colouring("classes", table={v: (v, v, v, 255) for v in range(4)})
    Image.new("P", (1, 1)).save(io.BytesIO(), format="PNG")  # PIL's PNG plugin loaded before counting

    before = _rchar()
    tracemalloc.start()
    try:
        tiles = render_pyramid(big_map, frame, colouring)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    read = _rchar() - before
    assert read < size / 10, f"read {read / 1e6:.1f} MB of a {size / 1e6:.1f} MB file"
    assert peak < FULL_BYTES / 20, f"Python heap peak {peak / 1e6:.1f} MB"

    # the tiles hold the checkerboard at each level's decimation (value // 2 drops the random bit)
    for z in range(frame.levels + 1):
        rows, cols = frame.level_shape(z)
        n = math.ceil(cols / 256)
        assert set(tiles[z]) == {f"{x}/{y}" for x in range(n) for y in range(n)}
        ty, tx = n - 1, n - 1
        idx = np.asarray(Image.open(io.BytesIO(base64.b64decode(tiles[z][f"{tx}/{ty}"]))))
        truth = _checker((rows, cols), frame.factor(z))[ty * 256:, tx * 256:]
        np.testing.assert_array_equal(idx[: truth.shape[0], : truth.shape[1]] // 2, truth)

    # control: a full-resolution window of 1/16 of the map is seen by the counter (> 1/16 of the level's share)
    before = _rchar()
    with rasterio.open(big_map) as src:
        src.read(1, window=Window(0, 0, N // 4, N // 4))
    assert _rchar() - before > size / 16 / 2


def test_viewer_of_a_16k_run_stays_small(big_map, tmp_path):
    out = tmp_path / "output"
    (out / "mapping").mkdir(parents=True)
    (out / "mapping" / "class.tif").symlink_to(big_map)
    (out / "manifest.json").write_text(json.dumps({"stages": {"mapping": {"outputs": ["mapping/class.tif"]}}}))
    before = _rchar()
    tracemalloc.start()
    try:
        res = write_viewer(out, max_size=1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _rchar() - before < (out / "mapping" / "class.tif").stat().st_size / 10
    assert peak < FULL_BYTES / 10
    data = embedded_data(res.path.read_text())
    assert data["frame"]["levels"] == 2 and sum(len(t) for t in data["rasters"][0]["tiles"].values()) == 1 + 4 + 16
    assert res.bytes < 8e6  # the finest level is capped: the page size does not grow with the map

    # and Chromium opens it with no console error and its tiles load (skips where no Chromium is installed)
    from tests.test_viewer_browser import console_problems, load

    dom, stderr = load(res.path, tmp_path)
    assert console_problems(stderr) == []
    assert 'data-ready="1"' in dom and len(re.findall(r'class="leaflet-tile leaflet-tile-loaded"', dom)) >= 1
