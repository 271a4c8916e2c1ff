"""A write_rasters call that mixes COGs and tiled GeoTIFFs writes the tiled GeoTIFFs straight from the computed
blocks while the COGs go through window files (the suitability stage: three factors and two COGs), and the COG
copy keeps its temporary overviews uncompressed: every file keeps the bytes of the all-windows path (taken here
by passing `resume`), for any chunking, worker count, band count, type, nodata and edge case."""

from __future__ import annotations

import hashlib

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio._env import get_gdal_config

import irrmap.core.raster_write as rw
from irrmap.core.raster_write import RasterOutput, write_rasters
from irrmap.core.valid_share import band_shares


def _dataarray(values: np.ndarray, res: float = 30.0) -> xr.DataArray:
    h, w = values.shape[-2:]
    dims = ("y", "x") if values.ndim == 2 else ("band", "y", "x")
    x0, y0 = 400000.0, 4500000.0
    out = xr.DataArray(values, dims=dims, coords={"y": y0 - res * (np.arange(h) + 0.5), "x": x0 + res * (np.arange(w) + 0.5)})
    return out.rio.write_crs("EPSG:32650").rio.write_transform(Affine(res, 0, x0, 0, -res, y0))


def _fields(h: int = 1100, w: int = 1300):
    rng = np.random.default_rng(3)
    f = rng.normal(size=(h, w)).astype("float32")
    f[5:60, 7:90] = np.nan
    f[600:, :700] = np.nan  # whole chunks of nodata at every chunk size used below
    classes = rng.integers(1, 6, size=(h, w)).astype("float32")
    classes[:30] = np.nan
    return f, classes


def _outputs(folder, chunks, f, classes, in_memory: bool = False):
    lazy = lambda a: _dataarray(a).chunk(chunks)
    return [
        RasterOutput(folder / "factor.tif", lazy(f), descriptions=["factor"], tags={"stage": "t"}, cog=False),
        RasterOutput(folder / "s.tif", lazy(f * 2), descriptions=["s"], tags={"stage": "t"}),
        RasterOutput(folder / "memory.tif", _dataarray(f + 1) if in_memory else lazy(f + 1), cog=False),
        RasterOutput(folder / "classes.tif", [lazy(classes), lazy(classes + 1)], dtype="uint8", nodata=0,
                     descriptions=["a", "b"], colours={1: (10, 20, 30, 255), 4: (200, 100, 0, 255)}),
        RasterOutput(folder / "codes.tif", lazy(classes * 100), dtype="int16", nodata=-1, cog=False),
    ]


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def taken(monkeypatch):
    """The finishing copies made (window path) and the direct sinks opened (direct path), by file name."""
    seen = {"copied": [], "direct": []}
    finish, sink = rw._finish, rw._DirectSink.__init__
    monkeypatch.setattr(rw, "_finish", lambda o, *a, **k: (seen["copied"].append(o.path.name), finish(o, *a, **k))[1])
    monkeypatch.setattr(rw._DirectSink, "__init__", lambda self, stack, o, *a, **k: (seen["direct"].append(o.path.name), sink(self, stack, o, *a, **k))[1])
    return seen


def _reference(tmp_path, f, classes):
    folder = tmp_path / "windows"
    folder.mkdir()
    paths = write_rasters(_outputs(folder, 512, f, classes), resume=tmp_path / "resume")  # every file through window files
    assert not (tmp_path / "resume").exists()
    return paths


def test_mixed_call_writes_tiled_files_directly_with_the_bytes_of_the_window_path(tmp_path, taken):
    f, classes = _fields()
    reference = _reference(tmp_path, f, classes)
    ref_shares = [band_shares(p) for p in reference]
    assert sorted(taken["copied"]) == sorted(p.name for p in reference) and not taken["direct"]
    for chunks, workers, in_memory in ((512, 2, False), (333, 1, True), (700, 2, True), (4096, 2, False), (250, 1, False)):
        taken["copied"].clear(), taken["direct"].clear()
        folder = tmp_path / f"mixed{chunks}_{workers}_{in_memory}"
        folder.mkdir()
        with dask.config.set(scheduler="threads", num_workers=workers):
            paths = write_rasters(_outputs(folder, chunks, f, classes, in_memory))
        assert sorted(taken["copied"]) == ["classes.tif", "s.tif"], chunks
        assert sorted(taken["direct"]) == ["codes.tif", "factor.tif", "memory.tif"], chunks
        assert [_md5(p) for p in paths] == [_md5(p) for p in reference], (chunks, workers, in_memory)
        assert [band_shares(p) for p in paths] == ref_shares  # the valid-pixel counts handed over while writing
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], "no partial file or window folder left"
    with rasterio.open(tmp_path / "windows" / "factor.tif") as t, rasterio.open(tmp_path / "windows" / "s.tif") as c:
        assert t.overviews(1) == [] and t.profile["tiled"] and c.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG" and c.overviews(1)


def test_mixed_call_on_a_one_pixel_grid_and_a_grid_smaller_than_a_tile(tmp_path):
    for h, w in ((1, 1), (90, 70)):
        f, classes = _fields(h, w)
        (tmp_path / f"{h}x{w}").mkdir()
        ref = _reference(tmp_path / f"{h}x{w}", f, classes)
        folder = tmp_path / f"{h}x{w}" / "mixed"
        folder.mkdir()
        paths = write_rasters(_outputs(folder, 64, f, classes))
        assert [_md5(p) for p in paths] == [_md5(p) for p in ref], (h, w)


def test_uncompressed_temporary_overviews_give_the_same_cog(tmp_path, monkeypatch):
    f, _ = _fields(1500, 1700)
    data = _dataarray(f).chunk(512)
    seen, copy = [], rw._copy
    monkeypatch.setattr(rw, "_copy", lambda *a, **k: (seen.append(get_gdal_config("COG_TMP_COMPRESSION")), copy(*a, **k))[1])
    fast = write_rasters([RasterOutput(tmp_path / "none.tif", data, dtype="float32")])[0]
    monkeypatch.setattr(rw, "COG_TMP_COMPRESSION", "ZSTD")  # GDAL's own default for the temporary overview file
    slow = write_rasters([RasterOutput(tmp_path / "zstd.tif", data, dtype="float32")])[0]
    with rasterio.open(fast) as src:
        assert src.overviews(1) == [2, 4]
    assert _md5(fast) == _md5(slow) and seen == ["NONE", "ZSTD"]  # as GDAL sees it in the copying thread
    assert sorted(p.name for p in tmp_path.iterdir()) == ["none.tif", "zstd.tif"], "no temporary overview file left"


def test_failed_mixed_write_leaves_nothing_behind(tmp_path):
    def boom(block):
        if block.min() < -3.5:
            raise RuntimeError("block failed")
        return block

    f, classes = _fields()
    outs = _outputs(tmp_path, 256, f, classes)
    outs[0].data = outs[0].data.copy(data=outs[0].data.data.map_blocks(boom, dtype="float32"))
    with pytest.raises(RuntimeError, match="block failed"):
        write_rasters(outs)
    assert list(tmp_path.iterdir()) == []


def test_direct_outputs_fall_back_to_window_files_when_their_rows_do_not_fit(tmp_path, taken):
    f, classes = _fields()
    reference = _reference(tmp_path, f, classes)
    taken["copied"].clear()
    (tmp_path / "small").mkdir()
    paths = write_rasters(_outputs(tmp_path / "small", 333, f, classes), cache_mb=1, group=1)
    assert not taken["direct"] and len(taken["copied"]) == 5
    assert [_md5(p) for p in paths] == [_md5(p) for p in reference]
