"""The run's shortcuts give what the plain paths give: fraction inputs of one file counted in one pass
(irrmap.app.stages.shared_fractions) equal each input read on its own, and a killed or forced run stays right."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import irrmap.core.raster_read as rr
from irrmap.app.context import RunContext
from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages import build_stages, shared_fractions
from irrmap.core.config import load_config
from irrmap.core.grid import Grid
from tests.run_config import write_run_config

CLASSES = ([1], [2, 3], [4, 250], [0], [5])


def _classes_file(path, dtype="uint8", nodata=255, shape=(64, 96), mask=False, seed=3, transform=None):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 6, size=shape).astype(dtype)
    if nodata is not None:
        codes[rng.random(shape) < 0.2] = nodata
        codes[:12, :12] = nodata  # whole blocks of nodata
    with rasterio.open(path, "w", driver="GTiff", width=shape[1], height=shape[0], count=1, dtype=dtype, nodata=nodata,
                       crs="EPSG:32633", transform=transform or from_origin(500000, 4000000, 30, 30)) as dst:
        dst.write(codes, 1)
        if mask:
            dst.write_mask(np.where(rng.random(shape) < 0.1, 0, 255).astype(np.uint8))
    return path


def _plans(path, grid, classes):
    return tuple(rr._plan_for(path, grid, kind="fraction", classes=c)[0] for c in classes)


def _each_alone(plans, grid, chunk):
    """Every chunk of every plan through raster_read's own window read."""
    out = []
    for p in plans:
        full = np.full(grid.shape, np.nan, np.float32)
        for r0 in range(0, grid.height, chunk):
            for c0 in range(0, grid.width, chunk):
                rows, cols = (r0, min(r0 + chunk, grid.height)), (c0, min(c0 + chunk, grid.width))
                full[rows[0]:rows[1], cols[0]:cols[1]] = rr._read_window(p, grid, rows, cols)
        out.append(full)
    return out


def _together(plans, grid, chunk):
    out = [np.full(grid.shape, np.nan, np.float32) for _ in plans]
    for r0 in range(0, grid.height, chunk):
        for c0 in range(0, grid.width, chunk):
            rows, cols = (r0, min(r0 + chunk, grid.height)), (c0, min(c0 + chunk, grid.width))
            for o, v in zip(out, shared_fractions.fractions(plans, grid, rows, cols)):
                assert v.dtype == np.float32 and v.shape == (rows[1] - rows[0], cols[1] - cols[0])
                o[rows[0]:rows[1], cols[0]:cols[1]] = v
    return out


@pytest.mark.parametrize("ky, kx, row, col, h, w, chunk", [
    (8, 8, 0, 0, 8, 12, 5),       # the grid is the file; chunks that do not divide it
    (3, 5, 2, 1, 9, 10, 4),       # unequal factors, corners inside the file
    (4, 4, -3, -2, 20, 30, 7),    # the grid overhangs the file on every side (edge windows warp)
    (6, 6, 200, 200, 3, 3, 2),    # wholly off the file: all missing
    (8, 8, 0, 0, 1, 1, 1),        # a one-pixel grid (of a whole-nodata block)
    (2, 2, 40, 60, 1, 1, 1),      # one pixel elsewhere
])
def test_one_pass_equals_each_read_alone(tmp_path, ky, kx, row, col, h, w, chunk):
    path = _classes_file(tmp_path / "lc.tif")
    grid = Grid(crs="EPSG:32633", transform=from_origin(500000 + 30 * col, 4000000 - 30 * row, 30 * kx, 30 * ky), width=w, height=h)
    plans = _plans(str(path), grid, CLASSES[:3])
    for got, want in zip(_together(plans, grid, chunk), _each_alone(plans, grid, chunk)):
        assert got.tobytes() == want.tobytes()


@pytest.mark.parametrize("dtype, nodata, mask", [("int16", -9999, False), ("uint16", None, True), ("int32", -1, False),
                                                 ("float32", -1, False), ("uint8", 0, True)])
def test_one_pass_types_and_masks(tmp_path, dtype, nodata, mask):
    """Signed and 16-bit codes (packed table), the file's mask band, wider and float codes (one count per plan)."""
    path = _classes_file(tmp_path / "lc.tif", dtype=dtype, nodata=nodata, shape=(48, 64), mask=mask)
    grid = Grid(crs="EPSG:32633", transform=from_origin(500000, 4000000, 240, 240), width=8, height=6)
    plans = _plans(str(path), grid, CLASSES)
    for got, want in zip(_together(plans, grid, 3), _each_alone(plans, grid, 3)):
        assert got.tobytes() == want.tobytes()


def test_too_many_plans_for_one_packed_count(tmp_path):
    """25 x 25 blocks: base 626, so five plans do not fit one int32 count: one count per plan, the same values."""
    path = _classes_file(tmp_path / "lc.tif", shape=(100, 150))
    grid = Grid(crs="EPSG:32633", transform=from_origin(500000, 4000000, 750, 750), width=6, height=4)
    plans = _plans(str(path), grid, CLASSES)
    assert 626 ** len(plans) >= 2**31
    for got, want in zip(_together(plans, grid, 4), _each_alone(plans, grid, 4)):
        assert got.tobytes() == want.tobytes()


def _config(tmp_path, path, names=("crop", "forest", "other"), extra=""):
    body = "".join(f'[inputs.{n}]\npath = "{path.name}"\nkind = "fraction"\nclasses = {c}\n{extra}'
                   for n, c in zip(names, CLASSES))
    # 30 m UTM file of 1000 x 1200 pixels: a UTM grid of 8 x 8 blocks, 125 x 150 pixels, chunks of 64 (not dividing it)
    cfg = write_run_config(tmp_path, body, bounds="[500000, 3970000, 536000, 4000000]", resolution=240)
    cfg.write_text(cfg.read_text().replace('crs = "EPSG:4326"', 'crs = "EPSG:32633"').replace('output_dir = "out"', 'output_dir = "out"\nchunk_size = 64'))
    return cfg


def _inputs_stages(cfg):
    loaded = load_config(cfg)
    return [s for s in build_stages(RunContext(loaded, loaded.grid(), loaded.output_dir)) if s.name.startswith("inputs.")]


@pytest.mark.parametrize("workers", [1, 2])
def test_run_writes_the_same_files_and_leaves_no_cache(tmp_path, monkeypatch, workers):
    src = _classes_file(tmp_path / "lc.tif", shape=(1000, 1200))
    cfg = _config(tmp_path, src)
    cfg.write_text(cfg.read_text().replace("[run]\n", f"[run]\nworkers = {workers}\n"))
    made = []
    monkeypatch.setattr(shared_fractions, "_by_blocks", lambda *a, f=shared_fractions._by_blocks: made.append(len(a[1])) or f(*a))
    run_pipeline(cfg, stages=_inputs_stages(cfg))
    assert made and set(made) == {3}  # the first stage counted all three
    out = tmp_path / "out"
    assert not (out / ".irrmap-cache").exists()
    shared = {n: (out / "aligned" / f"{n}.tif").read_bytes() for n in ("crop", "forest", "other")}

    monkeypatch.setattr(shared_fractions, "siblings", lambda ctx, name: [])  # each stage reads the file on its own
    run_pipeline(cfg, stages=_inputs_stages(cfg), force=True)
    for n, data in shared.items():
        assert (out / "aligned" / f"{n}.tif").read_bytes() == data


def test_a_killed_run_resumes_from_the_cache_and_a_forced_run_ignores_it(tmp_path, monkeypatch):
    src = _classes_file(tmp_path / "lc.tif", shape=(1000, 1200))
    cfg = _config(tmp_path, src)
    stages = _inputs_stages(cfg)
    out = tmp_path / "out"

    def killed(ctx):
        raise KeyboardInterrupt

    stages[1].run = killed  # the run stops in the second stage: the first left the others' fractions
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, stages=stages)
    cached = sorted(p.name for p in (out / ".irrmap-cache" / "fractions").iterdir())
    assert [c.split("-")[0] for c in cached] == ["forest", "other"]

    read_alone = []
    monkeypatch.setattr(rr, "_read_window", lambda *a, f=rr._read_window: read_alone.append(1) or f(*a))
    monkeypatch.setattr(shared_fractions, "_by_blocks", lambda *a: pytest.fail("counted again"))
    manifest = run_pipeline(cfg, stages=_inputs_stages(cfg))  # resumes: crop is up to date, the others use the cache
    assert [manifest["stages"][f"inputs.{n}"]["status"] for n in ("crop", "forest", "other")] == ["skipped (up to date)", "ran", "ran"]
    assert not read_alone and not (out / ".irrmap-cache").exists()
    resumed = {n: (out / "aligned" / f"{n}.tif").read_bytes() for n in ("forest", "other")}

    monkeypatch.undo()
    stages = _inputs_stages(cfg)
    stages[1].run = killed
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, stages=stages, force=True)
    stale = out / ".irrmap-cache" / "fractions" / cached[1]
    np.save(stale, np.zeros((125, 150), np.float32))  # a wrong cache file under a valid key: a forced run must not use it
    monkeypatch.setattr(shared_fractions, "siblings", lambda ctx, name: [])
    run_pipeline(cfg, stages=_inputs_stages(cfg), force=True)
    for n, data in resumed.items():
        assert (out / "aligned" / f"{n}.tif").read_bytes() == data


def test_siblings_need_the_same_file_band_and_missing_values(tmp_path):
    src = _classes_file(tmp_path / "lc.tif", shape=(1000, 1200))
    other = _classes_file(tmp_path / "lc2.tif", shape=(1000, 1200))
    cfg = _config(tmp_path, src)
    cfg.write_text(cfg.read_text() + f'[inputs.elsewhere]\npath = "{other.name}"\nkind = "fraction"\nclasses = [1]\n'
                   f'[inputs.own_nodata]\npath = "{src.name}"\nkind = "fraction"\nclasses = [1]\nnodata = 0\n'
                   f'[inputs.plain]\npath = "{src.name}"\n')
    loaded = load_config(cfg)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    assert shared_fractions.siblings(ctx, "crop") == ["forest", "other"]
    assert shared_fractions.siblings(ctx, "forest") == ["other"]  # only those whose stages run later
    assert shared_fractions.siblings(ctx, "other") == []
    assert shared_fractions.siblings(ctx, "plain") == []


# ---- digests kept between runs (irrmap.core.manifest.DigestCache) ----------------------------------------------------
def _counting(monkeypatch):
    import irrmap.core.manifest as mf

    hashed = []
    monkeypatch.setattr(mf, "sha256_file", lambda p, f=mf.sha256_file: hashed.append(p) or f(p))
    return hashed


def test_digests_are_reused_only_while_the_file_is_unchanged(tmp_path, monkeypatch):
    import hashlib
    import os

    import irrmap.core.manifest as mf

    hashed = _counting(monkeypatch)
    monkeypatch.setattr(mf, "RACY_NS", -1)  # the files were just written: remember them all the same
    f = tmp_path / "a.bin"
    f.write_bytes(b"x" * 1000)
    store = tmp_path / "digests.json"
    first = mf.DigestCache(store)
    assert first.sha256(str(f)) == hashlib.sha256(b"x" * 1000).hexdigest()
    first.save()
    again = mf.DigestCache(store)
    assert again.sha256(str(f)) == hashlib.sha256(b"x" * 1000).hexdigest() and len(hashed) == 1  # from the file

    st = os.stat(f)
    f.write_bytes(b"y" * 1000)  # same size ...
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and mtime: the ctime still tells
    assert again.sha256(str(f)) == hashlib.sha256(b"y" * 1000).hexdigest() and len(hashed) == 2
    assert mf.DigestCache(store, trust=False).sha256(str(f)) and len(hashed) == 3  # --force: hashed again

    monkeypatch.setattr(mf, "RACY_NS", 10**12)  # changed too recently: hashed, not remembered
    fresh = mf.DigestCache(tmp_path / "other.json")
    fresh.sha256(str(f))
    assert not fresh.entries


def test_a_second_run_hashes_nothing_again(tmp_path, monkeypatch):
    import irrmap.core.manifest as mf

    src = _classes_file(tmp_path / "lc.tif", shape=(1000, 1200))
    cfg = _config(tmp_path, src)
    monkeypatch.setattr(mf, "RACY_NS", -1)
    hashed = _counting(monkeypatch)
    first = run_pipeline(cfg, stages=_inputs_stages(cfg))
    assert hashed and (tmp_path / "out" / ".irrmap-digests.json").is_file()
    hashed.clear()
    second = run_pipeline(cfg, stages=_inputs_stages(cfg))
    assert not hashed and second["inputs"] == first["inputs"]
    third = run_pipeline(cfg, stages=_inputs_stages(cfg), force=True)
    assert hashed and third["inputs"] == first["inputs"]
