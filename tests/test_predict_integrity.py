"""Prediction integrity: (1) a prediction killed between the renames of its outputs never leaves another
prediction's done-file that a rerun would trust (the done-file goes first and records each output's identity);
(2) a predictor in the wrong unit (humidity as a fraction, distance in km, DEM in feet) is refused over the whole
map, from the shares of crop pixels below the pool's p01 / above its p99, computed here with numpy."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio

from irrmap.core.done_marker import is_done, write_done
from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.mapping.predict import predict_to_files
from irrmap.models import fit_from_pool, save_model

from conftest import as_dataarray

SHAPE = (64, 64)
TILE = 16  # 16 tiles of 256 pixels: every crop row is in the guard's sample (no subsampling), shares are exact


def _data(seed: int = 3):
    """Cropland and three predictors in known units: humidity (percent), dist (metres, 5 % exactly 0) and dem (metres)."""
    rng = np.random.default_rng(seed)
    g = Grid.from_bounds(100.0, 40.0, 100.0 + SHAPE[1] * 0.0025, 40.0 + SHAPE[0] * 0.0025, 0.0025, "EPSG:4326")
    crop = np.where(rng.random(SHAPE) < 0.8, rng.uniform(0.05, 1, SHAPE), 0).astype(np.float32)
    feats = {"humidity": rng.uniform(30, 80, SHAPE).astype(np.float32),
             "dist": np.where(rng.random(SHAPE) < 0.05, 0, rng.exponential(6000, SHAPE)).astype(np.float32),
             "dem": rng.uniform(30, 2000, SHAPE).astype(np.float32)}
    label = ((feats["humidity"] > 55) ^ (feats["dem"] > 1000)).astype(np.uint8)
    return g, crop, feats, label


def _pool(feats, label, n=2000, seed=1, flip=False):
    rng = np.random.default_rng(seed)
    idx = rng.choice(label.size, n, replace=False)
    df = pd.DataFrame({"unit": "650101", "zone": 1, "label": (1 - label if flip else label).ravel()[idx],
                       "row": idx // SHAPE[1], "col": idx % SHAPE[1]})
    for k, v in feats.items():
        df[k] = v.ravel()[idx]
    return df


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Two global random forests on the same predictors: A, and B trained on the flipped labels (maps that differ)."""
    _, _, feats, label = _data()
    out = {}
    for name, flip in (("a", False), ("b", True)):
        model, card = fit_from_pool(_pool(feats, label, flip=flip), model="rf", scope="global", seed=0, cv_blocks=None)
        path = tmp_path_factory.mktemp("m") / f"{name}.joblib"
        save_model(model, path, card)
        out[name] = (path, card)
    return out


def _arrays(feats=None, crop=None):
    g, crop0, feats0, _ = _data()
    feats = feats0 if feats is None else feats
    crop = crop0 if crop is None else crop
    return as_dataarray(crop, g), {k: as_dataarray(v, g) for k, v in feats.items()}


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


def _predict(model, out, feats=None, **kw):
    cropland, preds = _arrays(feats)
    return predict_to_files(model, cropland, preds, None, out, tile_size=TILE, cog=False, n_jobs=1, **kw)


# ---- (1) the done-file ---------------------------------------------------------------------------------
_KILLED_WRITER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import irrmap.mapping.predict as P
from test_predict_integrity import _predict

real = P.write_rasters

def first_then_kill(outputs, **kw):  # the first output renamed into place, then a real crash before the second
    real(outputs[:1], **kw)
    os.kill(os.getpid(), signal.SIGKILL)

P.write_rasters = first_then_kill
_predict({model!r}, {out!r})
"""


def test_kill_between_output_renames_is_not_complete(models, tmp_path):
    """Model A's maps complete, then model B killed after replacing probability.tif only: the rerun of A must
    recompute and give A's maps (the old code found A's done-file, said "already complete" and returned B's
    probability beside A's class: maps of two models)."""
    out = tmp_path / "run"
    _predict(models["a"][0], out)
    script = _KILLED_WRITER.format(tests=str(Path(__file__).parent), model=str(models["b"][0]), out=str(out))
    res = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=300)
    assert res.returncode == -signal.SIGKILL, res.stderr[-2000:]
    marker_left = (out / ".predict_done.json").exists()  # must be removed before B touches any output
    computed = []
    again = _predict(models["a"][0], out, on_tile=lambda i, w: computed.append(i))
    assert computed, "a mixed set of maps was taken as complete"
    ref = _predict(models["a"][0], tmp_path / "ref")
    for name in ref:
        assert np.array_equal(_read(again[name]), _read(ref[name])), name
    p, c = _read(again["probability"]), _read(again["class"])
    crop = p != 255
    # class is P > 0.5; probability is P x 100 rounded: they disagree only where P rounds to exactly 50
    assert np.all(p[crop][(c[crop] == 1) != (p[crop] > 50)] == 50)
    assert not marker_left


def test_replaced_output_is_not_trusted(models, tmp_path):
    """A done-file is trusted only for the files it recorded: class.tif replaced by model B's (same name, same
    fingerprint in the done-file) makes the rerun recompute, not return B's class beside A's probability."""
    a, b = _predict(models["a"][0], tmp_path / "a"), _predict(models["b"][0], tmp_path / "b")
    assert not np.array_equal(_read(a["class"]), _read(b["class"]))
    shutil.copyfile(b["class"], tmp_path / "a" / "class.tif.new")
    os.replace(tmp_path / "a" / "class.tif.new", a["class"])
    computed = []
    again = _predict(models["a"][0], tmp_path / "a", on_tile=lambda i, w: computed.append(i))
    assert len(computed) == (SHAPE[0] // TILE) * (SHAPE[1] // TILE)
    assert np.array_equal(_read(again["class"]), _read(_predict(models["a"][0], tmp_path / "ref")["class"]))


def test_done_marker_identity(tmp_path):
    out = [tmp_path / "x.tif", tmp_path / "y.tif"]
    for p in out:
        p.write_bytes(b"abc")
    marker = tmp_path / ".done.json"
    write_done(marker, {"fingerprint": "f1"}, out)
    assert is_done(marker, "f1", out)
    assert not is_done(marker, "f2", out)
    out[1].write_bytes(b"abd")  # same size, other bytes
    assert not is_done(marker, "f1", out)
    out[1].write_bytes(b"abc")  # the same bytes again: the identity is the content (identical runs, identical markers)
    assert is_done(marker, "f1", out)
    marker.write_text(json.dumps({"fingerprint": "f1"}))  # a marker of an older version: no identities recorded
    assert not is_done(marker, "f1", out)
    out[0].unlink()
    write_done(marker, {"fingerprint": "f1"}, out)
    assert not is_done(marker, "f1", out)  # an output absent


# ---- (2) the whole-map test ----------------------------------------------------------------------------
def _shares(card, name, values):
    """(below p01, above p99) shares of the crop pixels' finite values, numpy, from the card's percentiles."""
    _, crop, _, _ = _data()
    r = card["feature_ranges"][name]
    v = values[np.isfinite(crop) & (crop > 0)].astype(np.float64)
    return float(np.mean(v < r["p01"])), float(np.mean(v > r["p99"]))


@pytest.mark.parametrize("name, factor, likely", [
    ("humidity", 0.01, "a fraction instead of percent"),  # percent given as a fraction: every value below the pool's minimum
    ("dist", 0.001, "km instead of m"),  # km instead of m: p01 = 0, no pixel below it; the medians' ratio tells
    ("dem", 3.28084, "feet instead of metres"),  # feet: a medium factor, the median stays inside the old tolerance
])
def test_unit_error_refused_over_the_map(models, tmp_path, name, factor, likely):
    path, card = models["a"]
    _, _, feats, _ = _data()
    bad = dict(feats)
    bad[name] = (feats[name] * np.float32(factor)).astype(np.float32)
    below, above = _shares(card, name, bad[name])
    ok_below, ok_above = _shares(card, name, feats[name])
    assert ok_below + ok_above < 0.05  # the right unit: about 1 % each
    with pytest.raises(DataError) as err:
        _predict(path, tmp_path / "out", bad)
    msg = str(err.value)
    assert msg.startswith(f"{name}: predictor {name}")  # the error names the predictor (as `where`)
    assert f"{below:.1%} of the map's crop pixels lie below" in msg and f"{above:.1%} above its 99th" in msg
    assert likely in msg
    assert not any((tmp_path / "out" / f"{n}.tif").exists() for n in ("probability", "class", "fraction"))


def test_dem_feet_shares_match_numpy(models):
    """The case of the probe: DEM in feet puts far more than 25 % above the pool's p99 (numpy), the right DEM ~1 %."""
    _, card = models["a"]
    _, _, feats, _ = _data()
    _, above_ft = _shares(card, "dem", feats["dem"] * np.float32(3.28084))
    _, above_m = _shares(card, "dem", feats["dem"])
    assert above_ft > 0.25 and above_m < 0.03


def test_one_tile_beyond_range_passes(models, tmp_path, caplog):
    """One tile (1/16 of the map: mountains) wholly above the pool's maximum DEM is no unit error: the map passes."""
    path, card = models["a"]
    _, _, feats, _ = _data()
    high = dict(feats)
    high["dem"] = feats["dem"].copy()
    high["dem"][:TILE, :TILE] = card["feature_ranges"]["dem"]["max"] + 500
    out = _predict(path, tmp_path / "out", high)
    assert all(Path(p).is_file() for p in out.values())


def test_resumed_run_counts_earlier_tiles(models, tmp_path):
    """Tiles saved by an interrupted run are counted by the resumed one (their tallies are saved beside them)."""
    path, card = models["a"]
    _, _, feats, _ = _data()
    bad = dict(feats)
    bad["dem"] = (feats["dem"] * np.float32(3.28084)).astype(np.float32)

    def stop(i, w):
        if i == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _predict(path, tmp_path / "out", bad, on_tile=stop)
    computed = []
    with pytest.raises(DataError) as err:
        _predict(path, tmp_path / "out", bad, on_tile=lambda i, w: computed.append(i))
    assert 0 < len(computed) < 16
    _, above = _shares(card, "dem", bad["dem"])
    assert f"{above:.1%} above its 99th" in str(err.value)


def test_scale_error_still_refused_per_tile(models, tmp_path):
    """The existing per-tile refusal (EVI x 1e4 kind: the median far outside the pool's range) stays an InputError."""
    path, _ = models["a"]
    _, _, feats, _ = _data()
    bad = dict(feats)
    bad["humidity"] = feats["humidity"] * np.float32(1e4)
    with pytest.raises(InputError, match="far outside"):
        _predict(path, tmp_path / "out", bad)
