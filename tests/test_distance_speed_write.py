"""The direct write (tiled GeoTIFFs on the local threaded scheduler: blocks straight into the final file) gives
the bytes of the window-file path (window files, then GDAL's own CreateCopy of their mosaic, taken here by
passing `resume`), for any chunking, band count, type, nodata, colour table, CRS and GDAL thread count."""

from __future__ import annotations

import hashlib

import dask
import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

import irrmap.core.raster_write as rw
from irrmap.core.raster_write import RasterOutput, write_rasters

SINUSOIDAL = CRS.from_wkt('PROJCS["sinusoidal",GEOGCS["unknown",DATUM["unknown",SPHEROID["unknown",6371007.181,0]],'
                          'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]],PROJECTION["Sinusoidal"],'
                          'PARAMETER["longitude_of_center",0],PARAMETER["false_easting",0],PARAMETER["false_northing",0],'
                          'UNIT["metre",1]]')


def _dataarray(values: np.ndarray, crs, res: float, x0: float, y0: float) -> xr.DataArray:
    h, w = values.shape[-2:]
    dims = ("y", "x") if values.ndim == 2 else ("band", "y", "x")
    da_ = xr.DataArray(values, dims=dims, coords={"y": y0 - res * (np.arange(h) + 0.5), "x": x0 + res * (np.arange(w) + 0.5)})
    return da_.rio.write_crs(crs).rio.write_transform(Affine(res, 0, x0, 0, -res, y0))


def _cases():
    rng = np.random.default_rng(11)
    f = rng.normal(size=(1100, 1300)).astype("float32")
    f[5:60, 7:90] = np.nan
    classes = rng.integers(0, 6, size=(1100, 1300)).astype("float32")
    classes[:30] = np.nan
    utm = lambda a: _dataarray(a, "EPSG:32650", 30.0, 400000.0, 4500000.0)  # noqa: E731
    return {
        "float32 NaN nodata, tags, description": [dict(data=utm(f), dtype="float32", tags={"stage": "t", "n": 3}, descriptions=["d"])],
        "uint8 classes, nodata 255, colour table": [dict(data=utm(classes), dtype="uint8", nodata=255,
                                                         colours={1: (10, 20, 30, 255), 4: (200, 100, 0, 255)})],
        "int16 two bands": [dict(data=[utm(f * 100), utm(classes)], dtype="int16", nodata=-1, descriptions=["a", "b"])],
        "geographic, float64": [dict(data=_dataarray(f[:700, :900].astype("float64"), "EPSG:4326", 0.00225, 104.0, 39.0))],
        "sinusoidal, smaller than a tile": [dict(data=_dataarray(f[:90, :70], SINUSOIDAL, 463.3127, 1.0e7, 4.0e6), dtype="float32")],
        "two outputs sharing blocks": [dict(data=utm(f), dtype="float32"), dict(data=utm(classes), dtype="uint8", nodata=0)],
    }


def _md5(path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _write(folder, specs, chunks, **kw):
    outs = [RasterOutput(folder / f"o{k}.tif", [d.chunk(chunks) for d in s["data"]] if isinstance(s["data"], list) else s["data"].chunk(chunks),
                         dtype=s.get("dtype"), nodata=s.get("nodata"), descriptions=s.get("descriptions", []), tags=s.get("tags", {}),
                         cog=False, colours=s.get("colours"))
            for k, s in enumerate(specs)]
    return write_rasters(outs, **kw)


@pytest.fixture
def paths(monkeypatch):
    """Which path each write_rasters call took: "direct" or "windows"."""
    taken = []
    direct, copy = rw._write_direct, rw._finish
    monkeypatch.setattr(rw, "_write_direct", lambda *a, **k: (taken.append("direct"), direct(*a, **k))[1])
    monkeypatch.setattr(rw, "_finish", lambda *a, **k: (taken.append("windows"), copy(*a, **k))[1])
    return taken


@pytest.mark.parametrize("case", list(_cases()))
def test_direct_write_gives_the_bytes_of_gdal_copy_of_the_windows(tmp_path, case, paths):
    specs = _cases()[case]
    (tmp_path / "copy").mkdir()
    reference = _write(tmp_path / "copy", specs, 512, resume=tmp_path / "resume")  # window files + GDAL CreateCopy
    assert not (tmp_path / "resume").exists()
    for chunks in (512, 333, 700, 4096):
        folder = tmp_path / f"direct{chunks}"
        folder.mkdir()
        direct = _write(folder, specs, chunks)
        assert [_md5(p) for p in direct] == [_md5(p) for p in reference], f"chunks {chunks}"
        assert not [p.name for p in folder.iterdir() if p.name.startswith(".")], "no partial file or window folder left"
    assert paths == ["windows"] * len(specs) + ["direct"] * 4


def test_direct_write_holds_the_values_and_the_metadata(tmp_path):
    spec = _cases()["uint8 classes, nodata 255, colour table"][0]
    (path,) = _write(tmp_path, [spec], 333)
    want = np.where(np.isnan(spec["data"].values), 255, spec["data"].values).astype("uint8")
    with rasterio.open(path) as src:
        assert np.array_equal(src.read(1), want)
        assert src.nodata == 255 and src.profile["tiled"] and src.block_shapes == [(512, 512)]
        assert src.compression.name.lower() == "deflate" and src.colormap(1)[4] == (200, 100, 0, 255)
        assert src.tags()["software"].startswith("irrmap ")


def test_bytes_do_not_depend_on_gdal_threads_or_the_memory_fallback(tmp_path, monkeypatch, paths):
    specs = _cases()["two outputs sharing blocks"]
    hashes = []
    for name, cpus, cache_mb in (("one", 1, None), ("four", 4, None), ("fallback", 2, 1)):
        monkeypatch.setattr(rw.os, "cpu_count", lambda c=cpus: c)
        (tmp_path / name).mkdir()
        hashes.append([_md5(p) for p in _write(tmp_path / name, specs, 100, cache_mb=cache_mb, group=1)])
    assert hashes[0] == hashes[1] == hashes[2]
    assert paths == ["direct", "direct", "windows", "windows"]  # 1 MB cannot hold a chunk row of both outputs


def test_window_path_for_schedulers_that_run_tasks_elsewhere():
    assert rw._tasks_run_here()
    with dask.config.set(scheduler="synchronous"):
        assert rw._tasks_run_here()
    with dask.config.set(scheduler="processes"):
        assert not rw._tasks_run_here()


def test_failed_direct_write_leaves_nothing_behind(tmp_path):
    def boom(block):
        if block.min() < -3.5:
            raise RuntimeError("block failed")
        return block

    data = _dataarray(np.random.default_rng(1).normal(size=(900, 800)).astype("float32"), "EPSG:32650", 30.0, 4e5, 4.5e6)
    bad = data.copy(data=data.chunk(256).data.map_blocks(boom, dtype="float32"))
    with pytest.raises(RuntimeError, match="block failed"):
        write_rasters([RasterOutput(tmp_path / "out.tif", bad, cog=False)])
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("width", [1300, 17000])  # full-width strips, and 1024 x 1024 blocks past rw._STRIP_PIXELS
def test_in_memory_pixels_are_written_without_dask_and_give_the_same_bytes(tmp_path, paths, width):
    values = np.random.default_rng(5).normal(size=(2, 1100, width)).astype("float32")
    values[:, 3:40, 9:70] = np.nan
    data = _dataarray(values, "EPSG:32650", 30.0, 400000.0, 4500000.0)
    one = write_rasters([RasterOutput(tmp_path / "direct.tif", data, dtype="int16", nodata=-9, cog=False)])[0]
    two = write_rasters([RasterOutput(tmp_path / "copy.tif", data, dtype="int16", nodata=-9, cog=False)], resume=tmp_path / "r")[0]
    assert paths == ["direct", "windows"] and _md5(one) == _md5(two)
    with rasterio.open(one) as src:
        assert np.array_equal(src.read(), np.where(np.isnan(values), -9, np.rint(np.nan_to_num(values))).astype("int16"))
