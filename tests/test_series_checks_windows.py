"""The series guards (training.series_checks: composite-day and quality-layer refusals) read the central window of every
date of a stack with one open and one read per file, not one per date (a pixel-interleaved stack decoded each block
once per date: 23 opens and decodes of the demo's evi.tif, 0.9 s per guard). The values are those of a band-by-band
read with rasterio (the independent truth), in the order given, nodata and NaN left out; a file GDAL cannot open and a
band the file lacks give None."""

from __future__ import annotations

import numpy as np
import rasterio
from rasterio.transform import from_origin
from rasterio.windows import Window

from irrmap.training import series_checks
from irrmap.training.series_checks import central_windows


def _stack(path, n=5, h=70, w=90, interleave="pixel", nodata=-3000.0):
    rng = np.random.default_rng(4)
    a = rng.integers(-2000, 10000, size=(n, h, w)).astype("float32")
    a[:, :5, :] = nodata
    a[1, 30:40, 40:50] = np.nan
    prof = dict(driver="GTiff", width=w, height=h, count=n, dtype="float32", crs="EPSG:4326", nodata=nodata,
                transform=from_origin(100, 40, 0.01, 0.01), compress="deflate", interleave=interleave, tiled=True,
                blockxsize=64, blockysize=64)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(a)
    return path


def _by_hand(path, band, size):
    with rasterio.open(path) as src:
        win = Window(max(0, src.width // 2 - size // 2), max(0, src.height // 2 - size // 2), min(size, src.width), min(size, src.height))
        v = src.read(band, window=win, masked=True)
    v = np.asarray(v.compressed(), np.float64)
    return v[np.isfinite(v)]


def test_values_equal_band_by_band_reads_in_the_order_given(tmp_path):
    a = _stack(tmp_path / "a.tif")
    b = _stack(tmp_path / "b.tif", n=2, interleave="band")
    layers = [(a, 3), (b, 2), (a, 1), (a, 2), (b, 1), (a, 3)]
    for size in (16, 64, 256):
        got = central_windows(layers, size)
        for (path, band), v in zip(layers, got):
            want = _by_hand(path, band, size)
            assert v is not None and v.dtype == np.float64 and np.array_equal(v, want)
    assert got[3].size < got[2].size  # band 2's NaN block is left out


def test_each_file_is_opened_once(tmp_path, monkeypatch):
    a = _stack(tmp_path / "a.tif", n=23)
    opened = []
    real = rasterio.open
    monkeypatch.setattr(rasterio, "open", lambda p, *k, **kw: (opened.append(str(p)), real(p, *k, **kw))[1])
    central_windows([(a, b) for b in range(1, 24)], 64)
    assert opened == [str(a)]


def test_missing_file_and_missing_band_give_none(tmp_path):
    a = _stack(tmp_path / "a.tif", n=2)
    got = central_windows([(a, 1), (tmp_path / "absent.tif", 1), (a, 7), (a, 2)], 32)
    assert got[1] is None and got[2] is None
    assert np.array_equal(got[0], _by_hand(a, 1, 32)) and np.array_equal(got[3], _by_hand(a, 2, 32))


def test_the_composite_day_guard_gives_up_on_a_damaged_file_as_before(tmp_path):
    a = _stack(tmp_path / "a.tif", n=2)
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00garbage")
    series_checks.refuse_composite_day([("2020-01-01", a, 1), ("2020-01-17", bad, 1)], "w", fix="f")  # no error: left to the reader
