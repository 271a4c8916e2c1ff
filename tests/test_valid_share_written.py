"""A raster irrmap's writer just wrote is not read again by the valid-share guard: its valid pixels are counted
per band and row on the blocks as written (both write paths, any chunking, resumed or not), and the shares are
the very floats a read of the file gives (band_shares after the cache is emptied).

Truths: band_shares reading the file back (the same rule GDAL's nodata gives), and hand counts on a projected
grid."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from affine import Affine

import irrmap.core.raster_write as rw
import irrmap.core.valid_share as vs
from irrmap.core.raster_write import RasterOutput, write_rasters
from irrmap.core.valid_share import band_shares


def _dataarray(values, crs, res, x0, y0):
    h, w = values.shape[-2:]
    dims = ("y", "x") if values.ndim == 2 else ("band", "y", "x")
    a = xr.DataArray(values, dims=dims, coords={"y": y0 - res * (np.arange(h) + 0.5), "x": x0 + res * (np.arange(w) + 0.5)})
    return a.rio.write_crs(crs).rio.write_transform(Affine(res, 0, x0, 0, -res, y0))


def _outputs(folder, cog: bool, chunks: int):
    rng = np.random.default_rng(5)
    f = rng.normal(size=(700, 900)).astype("float32")
    f[rng.random(f.shape) < 0.3] = np.nan
    f[:200, :300] = np.nan
    classes = rng.integers(0, 6, size=f.shape).astype("float32")
    geo = lambda a: _dataarray(a, "EPSG:4326", 0.00225, 104.0, 39.0).chunk(chunks)  # noqa: E731
    return [
        RasterOutput(folder / "float.tif", geo(f), dtype="float32", cog=cog),
        RasterOutput(folder / "classes.tif", geo(np.where(classes == 5, np.nan, classes)), dtype="uint8", nodata=255, cog=cog),
        RasterOutput(folder / "two.tif", [geo(f * 100), geo(classes)], dtype="int16", nodata=0, cog=cog),
        RasterOutput(folder / "none.tif", geo(classes), dtype="uint8", cog=cog),  # integers without nodata: all valid
    ]


def _read_back(path):
    with vs._cache_lock:
        vs._cache.clear()
    return band_shares(path)


@pytest.mark.parametrize("cog", [False, True], ids=["direct tiled GeoTIFF", "COG via window files"])
@pytest.mark.parametrize("chunks", [256, 300])
def test_shares_counted_while_writing_are_those_of_the_file(tmp_path, monkeypatch, cog, chunks):
    outs = _outputs(tmp_path, cog, chunks)
    write_rasters(outs)
    with monkeypatch.context() as m:  # the guard's question is answered without a read
        m.setattr(vs, "read_missing", lambda *a, **k: pytest.fail("band_shares read a file the writer had counted"))
        counted = {o.path: band_shares(o.path) for o in outs}
    for o in outs:
        assert counted[o.path] == _read_back(o.path)  # the same floats, not approximately
    assert counted[tmp_path / "none.tif"] == (1.0,)
    assert 0.3 < counted[tmp_path / "float.tif"][0] < 0.7


def test_a_resumed_write_measures_the_file(tmp_path, monkeypatch):
    # windows saved by an interrupted call are not counted in the resumed one: band_shares reads the file then
    outs = _outputs(tmp_path / "a", True, 256)
    (tmp_path / "a").mkdir()
    work = tmp_path / "work"
    calls = {"n": 0}
    real = rw._save_block

    def interrupted(block, *a, block_info=None, **k):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt
        return real(block, *a, block_info=block_info, **k)

    monkeypatch.setattr(rw, "_save_block", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_rasters(outs, resume=work, resume_key="k", group=1)
    monkeypatch.setattr(rw, "_save_block", real)
    write_rasters(outs, resume=work, resume_key="k")
    read, real_read = [], vs.read_missing
    monkeypatch.setattr(vs, "read_missing", lambda *a, **k: read.append(1) or real_read(*a, **k))
    shares = band_shares(outs[0].path)
    assert read, "a file some of whose windows an earlier call wrote must be read"
    assert shares == _read_back(outs[0].path)


def test_counts_on_a_projected_grid_by_hand(tmp_path):
    # 4 x 10 pixels of 10 m: band 1 all valid, band 2 missing (255) in its first 3 columns -> 0.7
    b1 = np.ones((4, 10), "float32")
    b2 = np.where(np.arange(10) < 3, np.nan, 1).astype("float32")[None].repeat(4, 0)
    utm = lambda a: _dataarray(a, "EPSG:32648", 10.0, 500_000.0, 4_000_040.0)  # noqa: E731
    out = RasterOutput(tmp_path / "two.tif", [utm(b1), utm(b2)], dtype="uint8", nodata=255, cog=False)
    write_rasters([out])
    assert band_shares(out.path) == (1.0, 0.7)
