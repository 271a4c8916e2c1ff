"""Same data, same bytes: files do not depend on thread timing, block completion order, chunking or the number
of workers (README: "equal inputs give equal bytes"). Delays are put into the block computations so that blocks
finish in the reverse of their natural order; the truth is the SHA-256 of the files, and GDAL reading back the
pixels that numpy wrote."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import rasterio

from irrmap.app.demo import generate_demo
from irrmap.core.grid import Grid
from irrmap.core.raster_write import RasterOutput, write_rasters

from conftest import as_dataarray


def _sha(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _hashes(folder: Path, skip=()) -> dict[str, str]:
    return {str(p.relative_to(folder)): _sha(p) for p in sorted(folder.rglob("*")) if p.is_file() and p.name not in skip}


def _delayed(arr: da.Array, reverse: bool) -> da.Array:
    """`arr` with a sleep in every block: with `reverse`, the first blocks are the slowest, so blocks finish in
    the reverse of the order dask starts them."""
    n = arr.npartitions

    def slow(block, block_info=None):
        loc = block_info[None]["chunk-location"]
        idx = int(np.ravel_multi_index(loc, block_info[None]["num-chunks"]))
        time.sleep(0.02 * ((n - idx) if reverse else 0))
        return block

    return arr.map_blocks(slow, dtype=arr.dtype)


GRID = Grid.from_bounds(100.0, 38.0, 100.0 + 900 * 0.00225, 38.0 + 700 * 0.00225, 0.00225, "EPSG:4326")  # 700 x 900


def _write(folder: Path, *, chunks: int, workers: int, reverse: bool) -> list[Path]:
    rng = np.random.default_rng(5)
    floats = rng.normal(size=GRID.shape).astype("float32")
    floats[::37, ::41] = np.nan
    ints = rng.integers(-3000, 10000, size=(3, *GRID.shape)).astype("int16")
    bands = [as_dataarray(_delayed(da.from_array(ints[b], chunks=chunks), reverse), GRID) for b in range(3)]
    outputs = []
    for cog in (True, False):
        outputs += [
            RasterOutput(folder / f"float_{cog}.tif", as_dataarray(_delayed(da.from_array(floats, chunks=chunks), reverse), GRID),
                         descriptions=["values"], tags={"case": "float"}, cog=cog),
            RasterOutput(folder / f"int_{cog}.tif", _delayed(da.from_array(ints, chunks=(3, chunks, chunks)), reverse), GRID,
                         dtype="int16", nodata=-3000, cog=cog),
            RasterOutput(folder / f"bands_{cog}.tif", bands, dtype="int16", nodata=-3000, cog=cog),  # one band per block
        ]
    with dask.config.set(scheduler="threads", num_workers=workers):
        paths = write_rasters(outputs)
    with rasterio.open(folder / "float_False.tif") as src:  # GDAL reads back what numpy wrote
        assert np.array_equal(src.read(1), floats, equal_nan=True)
    with rasterio.open(folder / "bands_True.tif") as src:
        assert np.array_equal(src.read(), ints)
    return paths


def test_block_completion_order_chunking_and_workers_do_not_change_bytes(tmp_path):
    # blocks of 200 px straddle the files' 512-px tiles; reversed completion wrote tiles in another order (old code)
    runs = {
        "natural order, 4 threads": dict(chunks=200, workers=4, reverse=False),
        "reversed order, 4 threads": dict(chunks=200, workers=4, reverse=True),
        "one thread, other chunks": dict(chunks=512, workers=1, reverse=False),
    }
    hashes = {}
    for name, kw in runs.items():
        folder = tmp_path / name.replace(" ", "_").replace(",", "")
        hashes[name] = {p.name: _sha(p) for p in _write(folder, **kw)}
        assert sorted(p.name for p in folder.iterdir()) == sorted(hashes[name]), "no temporary file is left"
    first, *others = hashes.values()
    for name, h in hashes.items():
        assert h == first, f"{name}: bytes differ in {[k for k in h if h[k] != first[k]]}"


def test_demo_bytes_do_not_depend_on_workers_chunking_or_timing(tmp_path, monkeypatch):
    import irrmap.app.demo.bundle as bundle

    kw = dict(rows=120, cols=160, seed=7)
    generate_demo(tmp_path / "serial", workers=1, chunk=48, **kw)  # 3 x 4 windows of the main pass

    real = bundle.window_bundle

    def slow(spec, hyd, window):  # the first windows finish last
        time.sleep(0.05 * max(0, 6 - int(window.row_off) // 48 * 4 - int(window.col_off) // 48))
        return real(spec, hyd, window)

    monkeypatch.setattr(bundle, "window_bundle", slow)
    generate_demo(tmp_path / "threads", workers=2, chunk=48, **kw)
    monkeypatch.undo()
    generate_demo(tmp_path / "one_window", workers=2, **kw)  # default chunk: the whole grid in one window
    a, b, c = (_hashes(tmp_path / n) for n in ("serial", "threads", "one_window"))
    assert a.keys() == b.keys() == c.keys()
    assert len([k for k in a if k.endswith(".tif")]) > 10
    assert not [k for k in a if a[k] != b[k]], "files differ between 1 and 2 workers with delayed windows"
    assert not [k for k in a if a[k] != c[k]], "files differ between chunk 48 and one window"


def test_every_file_of_a_run_is_byte_identical_when_blocks_finish_in_reverse(tmp_path, monkeypatch):
    # GeoTIFFs, CSV, JSON, Parquet, joblib models, PNG figures and the HTML report: the second run computes its
    # dask blocks in the reverse order. Only bookkeeping may differ: manifest.json records timings, .irrmap-digests.json
    # the file identities (inode, mtime, ctime) its SHA-256 digests are kept for (the prediction's
    # resume marker, mapping/raw/.predict_done.json, is keyed on the inputs' checksums and must be equal too).
    import re

    from irrmap.app.pipeline import run_pipeline

    generate_demo(tmp_path, rows=96, cols=128, seed=5, workers=2)
    cfg = tmp_path / "config.toml"
    cfg.write_text(re.sub(r"(?m)^chunk_size = \d+$", "chunk_size = 64\nworkers = 2", cfg.read_text()))
    run_pipeline(cfg)
    (tmp_path / "output").rename(tmp_path / "first")

    real_store = da.store

    def reversed_store(sources, targets, **kw):
        return real_store([_delayed(s, reverse=True) for s in sources], targets, **kw)

    monkeypatch.setattr(da, "store", reversed_store)
    run_pipeline(cfg)
    skip = ("manifest.json", ".irrmap-digests.json")  # the digest cache records each input's inode and times
    first, second = _hashes(tmp_path / "first", skip), _hashes(tmp_path / "output", skip)
    assert first.keys() == second.keys()
    assert {k.rsplit(".", 1)[-1] for k in first} >= {"tif", "csv", "json", "parquet", "joblib", "png", "html"}
    assert not [k for k in first if first[k] != second[k]], "files differ between two runs of the same config"
