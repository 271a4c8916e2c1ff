"""A pixel-interleaved multi-band window is decoded once for all its bands (irrmap.core.band_batch)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from irrmap.core import band_batch
from irrmap.core.grid import Grid
from irrmap.training.timeseries import read_multiband


class _Counting:
    """A stand-in dataset that counts its reads (and can fail them)."""

    def __init__(self, data, fail=False):
        self.data, self.fail, self.calls = data, fail, []
        self.lock = threading.Lock()

    def read(self, indexes, window):
        with self.lock:
            self.calls.append(indexes)
        if self.fail and isinstance(indexes, list):
            raise OSError("damaged block")
        sl = (slice(window.row_off, window.row_off + window.height), slice(window.col_off, window.col_off + window.width))
        if isinstance(indexes, list):
            return self.data[[i - 1 for i in indexes]][(slice(None), *sl)].copy()
        return self.data[indexes - 1][sl].copy()


def test_concurrent_band_reads_decode_the_window_once():
    data = np.arange(5 * 6 * 7, dtype=np.int16).reshape(5, 6, 7)
    src, bands, win = _Counting(data), (1, 2, 3, 4, 5), Window(1, 2, 4, 3)
    out = {}
    start = threading.Barrier(5)

    def take(b):
        start.wait()
        out[b] = band_batch.read_band(src, ("f", 1), b, bands, win)

    threads = [threading.Thread(target=take, args=(b,)) for b in bands]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert src.calls == [[1, 2, 3, 4, 5]]
    for b in bands:
        np.testing.assert_array_equal(out[b], data[b - 1, 2:5, 1:5])
    out[3][:] = -1  # each caller owns its copy
    np.testing.assert_array_equal(out[4], data[3, 2:5, 1:5])
    assert band_batch.held() == 0


def test_a_failed_batch_read_raises_for_its_reader_and_others_read_alone():
    src, bands, win = _Counting(np.ones((3, 4, 4), np.int16), fail=True), (1, 2, 3), Window(0, 0, 4, 4)
    with pytest.raises(OSError, match="damaged"):
        band_batch.read_band(src, ("g", 1), 1, bands, win)
    assert band_batch.held() == 0
    with pytest.raises(ValueError, match="not among"):
        band_batch.read_band(src, ("g", 1), 4, bands, win)


def _stack(path, data, interleave):
    grid = Grid("EPSG:32650", Affine(250, 0, 400000, 0, -250, 4000000), data.shape[1], data.shape[2])
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype="int16",
                       crs=grid.crs, transform=grid.transform, nodata=-3000, tiled=True, blockxsize=64, blockysize=64,
                       compress="deflate", interleave=interleave) as dst:
        dst.write(data)
        for i in range(data.shape[0]):
            dst.set_band_description(i + 1, f"2020-{1 + 16 * i:03d}")
    return grid


@pytest.mark.parametrize("interleave", ["pixel", "band"])
def test_series_values_equal_rasterio_band_by_band(tmp_path, interleave, monkeypatch):
    """read_multiband of a 23-date stack, chunked across GeoTIFF blocks: every value is the file's band read
    by rasterio and scaled. Each chunk of a pixel-interleaved file is decoded once for all its dates: the chunks
    inside the file in one read of every band (raster_read._stack_in_one_read), so no band-by-band batch; a
    band-interleaved file is read band by band, without batches."""
    from irrmap.core import raster_read

    rng = np.random.default_rng(3)
    data = rng.integers(-2000, 10000, size=(23, 150, 170)).astype(np.int16)
    data[rng.random(data.shape) < 0.05] = -3000
    path = tmp_path / "evi.tif"
    grid = _stack(path, data, interleave)
    taken = []
    real = band_batch.read_band
    monkeypatch.setattr(band_batch, "read_band", lambda *a: taken.append(a[2]) or real(*a))
    one_read, whole = raster_read._stack_in_one_read, []
    monkeypatch.setattr(raster_read, "_stack_in_one_read", lambda *a: whole.append(one_read(*a)) or whole[-1])
    got = read_multiband(path, grid, preset="mod13q1", chunks=64).compute(scheduler="threads", num_workers=2).values
    with rasterio.open(path) as src:
        raw = src.read()
    expected = np.where(raw == -3000, np.nan, raw * 1e-4).astype(np.float32)  # MOD13 guide: x 1e-4, fill -3000
    np.testing.assert_array_equal(got, expected)
    assert len(taken) == 0
    # 3 x 3 chunks of 64 pixels, plus the centre chunk read again by the check that the values are decoded
    # (training.physical_range.check_decoded)
    assert sum(w is not None for w in whole) == (10 if interleave == "pixel" else 0)
    assert band_batch.held() == 0


def test_bands_read_together_equal_band_by_band_reads_when_resampled(tmp_path):
    """A grid in another CRS and pixel size (GDAL's warper resamples each band): one (band, y, x) read gives
    read_raster's values band by band, and the QA-style categorical kind keeps its dtype and missing marker."""
    from irrmap.core.errors import InputError
    from irrmap.core.raster_read import read_raster, read_raster_bands

    rng = np.random.default_rng(5)
    data = rng.integers(-2000, 10000, size=(4, 130, 140)).astype(np.int16)
    path = tmp_path / "stack.tif"
    _stack(path, data, "pixel")
    grid = Grid("EPSG:4326", Affine(0.004, 0, 115.95, 0, -0.004, 36.1), 60, 70)  # inside the file (pyproj)
    together = read_raster_bands(path, grid, (1, 2, 3, 4), chunks=32).values
    alone = np.stack([read_raster(path, grid, band=b, chunks=32).values for b in (1, 2, 3, 4)])
    np.testing.assert_array_equal(together, alone)
    assert np.isfinite(together).mean() > 0.3  # the grid overlaps the file
    classes = read_raster_bands(path, grid, (2, 3), kind="categorical", chunks=32)
    assert classes.dtype == np.int16 and classes.attrs["nodata"] == -3000
    np.testing.assert_array_equal(classes.values[1], read_raster(path, grid, band=3, kind="categorical", chunks=32).values)
    with pytest.raises(InputError, match="no band"):
        read_raster_bands(path, grid, ())
