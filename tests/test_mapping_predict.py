"""Windowed prediction: tiles equal one whole-array prediction, same bytes on reruns, resume after a crash."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.mapping.predict import predict_block, predict_to_files, tile_size_for
from irrmap.models import fit_from_pool, save_model

from conftest import as_dataarray
from test_models_fit import pool_from_cube, synthetic_cube

SHAPE = (60, 80)


def _cube_data():
    """The test cube (also rebuilt by the killed child process: same arrays, so the same fingerprint)."""
    g = Grid.from_bounds(100.0, 40.0, 100.0 + SHAPE[1] * 0.0025, 40.0 + SHAPE[0] * 0.0025, 0.0025, "EPSG:4326")
    label, feats = synthetic_cube(SHAPE)
    rng = np.random.default_rng(11)
    crop = np.where(rng.random(SHAPE) < 0.7, rng.uniform(0.05, 1, SHAPE), 0).astype(np.float32)
    crop[:3, :5] = np.nan  # missing cropland
    feats["evi"][10:12, 10:20] = np.nan  # missing predictor values still predict (trees route NaN)
    zones = np.where(np.arange(SHAPE[1]) < SHAPE[1] // 2, 1, 2)[None].repeat(SHAPE[0], 0).astype(np.int32)
    return g, label, feats, crop, zones


@pytest.fixture(scope="module")
def cube():
    return _cube_data()


def _arrays(cube, chunks=None):
    g, _, feats, crop, zones = cube
    da_ = lambda a: as_dataarray(a, g) if chunks is None else as_dataarray(a, g).chunk(chunks)  # noqa: E731
    return da_(crop), {k: da_(v) for k, v in feats.items()}, da_(zones)


@pytest.fixture(scope="module")
def model_file(cube, tmp_path_factory):
    _, label, feats, _, _ = cube
    model, card = fit_from_pool(pool_from_cube(label, feats), model="rf", scope="county", seed=0, cv_blocks=None)
    path = tmp_path_factory.mktemp("model") / "rf.joblib"
    save_model(model, path, card)
    return path, model


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


def test_tiles_equal_whole_array_and_library(cube, model_file, tmp_path):
    g, _, feats, crop, zones = cube
    path, model = model_file
    cropland, preds, z = _arrays(cube, chunks=16)
    out = predict_to_files(path, cropland, preds, z, tmp_path, tile_size=16, n_jobs=2, cog=False)
    whole = predict_block(model, crop, np.stack(list(feats.values())), zones, n_threads=1)
    assert np.array_equal(predict_block(model, crop, list(feats.values()), zones, n_threads=1), whole)  # unstacked, as tiles pass them
    for b, name in enumerate(("probability", "class", "fraction")):
        assert np.array_equal(_read(out[name]), whole[b]), name
    # against the library's own predict_proba, pixel by pixel
    ok = np.isfinite(crop) & (crop > 0)
    X = np.stack([v[ok] for v in feats.values()], axis=1)
    zz = zones[ok]
    p = np.empty(len(X))
    for zone, key in ((1, "650101"), (2, "650102")):
        p[zz == zone] = model.models_[key].predict_proba(X[zz == zone])[:, 1]
    # percent agrees with the class at 50 (mapping.predict.predict_block): class 1 at least 51, class 0 at most 50
    pct = np.rint(p * 100)
    assert np.array_equal(whole[0][ok], np.where(p > 0.5, np.maximum(pct, 51), np.minimum(pct, 50)).astype(np.uint8))
    assert np.array_equal(whole[1][ok], (p > 0.5).astype(np.uint8))
    assert np.array_equal(whole[2][ok], np.where(p > 0.5, np.rint(crop[ok] * 100), 0).astype(np.uint8))
    assert (whole[0][~ok] == 255).all()
    assert (whole[1][np.isnan(crop)] == 255).all() and (whole[1][crop == 0] == 255).all()  # 255 = no cropland (README)


def test_same_inputs_same_bytes(cube, model_file, tmp_path):
    path, _ = model_file
    cropland, preds, z = _arrays(cube)
    a = predict_to_files(path, cropland, preds, z, tmp_path / "a", tile_size=32)
    b = predict_to_files(path, cropland, preds, z, tmp_path / "b", tile_size=32)
    for name in a:
        assert a[name].read_bytes() == b[name].read_bytes(), name
    assert not (tmp_path / "a" / ".tiles").exists()  # parts are removed once assembled


def test_resume_after_crash(cube, model_file, tmp_path):
    path, _ = model_file
    cropland, preds, z = _arrays(cube)
    ref = predict_to_files(path, cropland, preds, z, tmp_path / "ref", tile_size=16, cog=False)
    n_tiles = len(list(Grid.from_dataarray(cropland).tiles(16)))  # 4 x 5 = 20

    class Crash(Exception):
        pass

    def crash_on_third(i, w, seen=[]):  # noqa: B006 - counts calls
        seen.append(i)
        if len(seen) == 3:
            raise Crash

    with pytest.raises(Crash):
        predict_to_files(path, cropland, preds, z, tmp_path / "run", tile_size=16, cog=False, on_tile=crash_on_third)
    # tiles run side by side: the three reported ones and those running at the interruption are saved
    saved = {p.name for p in (tmp_path / "run" / ".tiles").glob("r*.npy")}
    assert 3 <= len(saved) < n_tiles
    assert not (tmp_path / "run" / "class.tif").exists()
    computed = []
    out = predict_to_files(path, cropland, preds, z, tmp_path / "run", tile_size=16, cog=False,
                           on_tile=lambda i, w: computed.append(f"r{int(w.row_off):07d}_c{int(w.col_off):07d}.npy"))
    assert sorted(computed) == sorted(set(computed)) and len(computed) == n_tiles - len(saved)
    assert not saved & set(computed)  # finished tiles were not recomputed
    for name in ref:
        assert np.array_equal(_read(out[name]), _read(ref[name])), name
    again = []
    predict_to_files(path, cropland, preds, z, tmp_path / "run", tile_size=16, cog=False, on_tile=lambda i, w: again.append(i))
    assert again == []  # complete: nothing recomputed


def test_changed_inputs_invalidate_saved_tiles(cube, model_file, tmp_path):
    path, _ = model_file
    cropland, preds, z = _arrays(cube)

    def stop(i, w):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        predict_to_files(path, cropland, preds, z, tmp_path, tile_size=16, cog=False, on_tile=stop)
    preds2 = dict(preds)
    preds2["elev"] = preds["elev"] + 1.0
    computed = []
    predict_to_files(path, cropland, preds2, z, tmp_path, tile_size=16, cog=False, on_tile=lambda i, w: computed.append(i))
    assert len(computed) == 20


def test_predictors_out_of_order_or_missing_refused(cube, model_file, tmp_path):
    path, _ = model_file
    cropland, preds, z = _arrays(cube)
    # another order is matched by name (docs/models_mapping.md; tests/test_api_predict_accuracy.py); unknown names are refused
    with pytest.raises(InputError, match="unknown slope"):
        predict_to_files(path, cropland, {**preds, "slope": preds["evi"]}, z, tmp_path)
    with pytest.raises(InputError, match="missing"):
        predict_to_files(path, cropland, {"evi": preds["evi"]}, z, tmp_path)
    with pytest.raises(InputError, match="zone raster"):
        predict_to_files(path, cropland, preds, None, tmp_path)


def test_lon_lat_derived_from_grid(cube, tmp_path):
    g, label, feats, crop, _ = cube
    lon, lat = g.lonlat()
    full = {"lon": lon.astype(np.float32), "lat": lat.astype(np.float32), **feats}
    model, _ = fit_from_pool(pool_from_cube(label, full), model="lgbm", seed=0, cv_blocks=None)
    assert model.features_[:2] == ["lon", "lat"]
    cropland, preds, _ = _arrays(cube)
    a = predict_to_files(model, cropland, preds, None, tmp_path / "a", tile_size=32, cog=False)
    given = {"lon": as_dataarray(full["lon"], g), "lat": as_dataarray(full["lat"], g), **preds}
    b = predict_to_files(model, cropland, given, None, tmp_path / "b", tile_size=32, cog=False)
    assert np.array_equal(_read(a["probability"]), _read(b["probability"]))


def test_tile_size_follows_memory_budget():
    sizes = [tile_size_for(26, mb) for mb in (64, 256, 1024)]
    assert sizes[0] < sizes[1] < sizes[2]
    assert tile_size_for(26, 1024, chunk=512) % 512 == 0
    assert 512 % tile_size_for(26, 16, chunk=512) == 0


def test_percent_cropland_refused(cube, model_file):
    _, model = model_file
    with pytest.raises(InputError, match="fraction"):
        predict_block(model, np.full((2, 2), 50.0, np.float32), np.zeros((3, 2, 2), np.float32))


_KILLED_CHILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import numpy as np
from irrmap.core.grid import Grid
from irrmap.mapping.predict import predict_to_files
from test_mapping_predict import SHAPE, _arrays, _cube_data

cube = _cube_data()
cropland, preds, z = _arrays(cube)
done = []

def kill_on_third(i, w):
    done.append(i)
    if len(done) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no exception handlers: a real crash

predict_to_files({model!r}, cropland, preds, z, {out!r}, tile_size=16, cog=False, on_tile=kill_on_third)
"""


def test_resume_after_killed_process(cube, model_file, tmp_path):
    import signal
    import subprocess
    import sys
    from pathlib import Path

    path, _ = model_file
    script = _KILLED_CHILD.format(tests=str(Path(__file__).parent), model=str(path), out=str(tmp_path / "run"))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    parts = sorted((tmp_path / "run" / ".tiles").glob("r*.npy"))
    saved = len(parts)
    assert 3 <= saved < 20  # the three reported and any finished side by side before the kill
    for part in parts:  # a tile killed while being written left at most a hidden partial file, never a bad part
        r, c = (int(v[1:]) for v in part.stem.split("_"))
        assert np.load(part).shape == (3, min(16, SHAPE[0] - r), min(16, SHAPE[1] - c)), part
    cropland, preds, z = _arrays(cube)
    computed = []
    out = predict_to_files(path, cropland, preds, z, tmp_path / "run", tile_size=16, cog=False, on_tile=lambda i, w: computed.append(i))
    assert len(computed) == 20 - saved
    assert not (tmp_path / "run" / ".tiles").exists()  # parts and any partial left by the kill are gone
    ref = predict_to_files(path, cropland, preds, z, tmp_path / "ref", tile_size=16, cog=False)
    for name in ref:
        assert np.array_equal(_read(out[name]), _read(ref[name])), name
