"""Scores over a whole scene in bounded windows: the consistency check of `treecover predict` (reference on the bands'
grid: every pixel scored) and the stage's truth scores are summed window by window from a temporary file
(irrmap.mapping.treecover.streamed_scores), and give the same floats as the whole-array scores
(regression_scores / saturation on numpy arrays read with rasterio). A tiny window (BLOCK = 128 values)
forces many windows; a spy checks that no sum was handed more than that at once."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from treecover_synthetic import scene, write

import irrmap.mapping.treecover.streamed_scores as streamed
from irrmap.mapping.treecover.fit import fit_treecover, saturation, save_treecover
from irrmap.mapping.treecover.predict import check_path, predict_treecover
from irrmap.mapping.treecover.predictors import open_stack
from irrmap.mapping.treecover.summary import truth_scores
from irrmap.models.spatial_cv import regression_scores

TINY = 128  # numpy's own pairwise block: the smallest window allowed


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A small forest fitted on the reference's own 30 m grid (the bands' grid), so the check scores every pixel."""
    root = tmp_path_factory.mktemp("treecover_scale")
    paths, cover = scene(root / "bands", shape=(96, 128))
    ref = np.clip(cover * 1.3, 0, 100).astype(np.float32)  # some cells >= 80: the saturation figures are not empty
    ref[5, 7] = np.nan
    ref_path = write(root / "ref.tif", ref)
    model, card = fit_treecover(open_stack(paths), ref_path, resolution_m=None, cv_block_m=960, cv_splits=2, n_trees=5)
    save_treecover(model, card, root / "model")
    return {"root": root, "paths": paths, "ref": ref_path, "model_dir": root / "model"}


@pytest.fixture
def tiny_windows(monkeypatch):
    """BLOCK = TINY, and the largest array any PairwiseSum was fed (a list: [max size, number of calls])."""
    monkeypatch.setattr(streamed, "BLOCK", TINY)
    seen = [0, 0]
    add = streamed.PairwiseSum.add

    def spy(self, values):
        seen[0], seen[1] = max(seen[0], np.size(values)), seen[1] + 1
        return add(self, values)

    monkeypatch.setattr(streamed.PairwiseSum, "add", spy)
    return seen


def _read(path) -> np.ndarray:
    with rasterio.open(path) as src:
        a = src.read(1).astype(np.float64)
        if src.nodata is not None and np.isfinite(src.nodata):
            a[a == src.nodata] = np.nan
    return a


def test_pairwise_sum_equals_numpy_sum_in_any_pieces():
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 8, 129, 1000, 65_543):
        a = rng.normal(size=n) * 1e3 + rng.random(n) * 1e-3
        for block in (TINY, 1024):
            s = streamed.PairwiseSum(n, block)
            i = 0
            while i < n:
                k = int(rng.integers(1, 300))
                s.add(a[i:i + k])
                i += k
            assert s.total() == np.add.reduce(a)  # bit for bit, not approximately


def test_consistency_check_in_tiny_windows_equals_whole_array_scores(fitted, tmp_path, tiny_windows):
    res = predict_treecover(tmp_path / "cover.tif", fitted["model_dir"], open_stack(fitted["paths"]), reference=fitted["ref"])
    y, p = _read(fitted["ref"]).ravel(), _read(tmp_path / "cover.tif").ravel()
    ok = np.isfinite(y) & np.isfinite(p)
    assert ok.sum() > 10 * TINY and (y[ok] >= 80).sum() > 0
    assert res["check"]["scores"] == regression_scores(y[ok], p[ok])
    assert res["check"]["saturation"] == saturation(y[ok], p[ok])
    assert 0 < tiny_windows[0] <= TINY and tiny_windows[1] > 10  # windowed: never more than TINY values at once
    tiny_bytes = check_path(res["path"]).read_bytes()
    streamed.BLOCK = 1 << 20  # one window: the same bytes
    again = predict_treecover(tmp_path / "cover.tif", fitted["model_dir"], open_stack(fitted["paths"]), reference=fitted["ref"])
    assert check_path(again["path"]).read_bytes() == tiny_bytes


def test_truth_scores_in_tiny_windows_equal_whole_array_scores(fitted, tmp_path, tiny_windows):
    out = predict_treecover(tmp_path / "cover.tif", fitted["model_dir"], open_stack(fitted["paths"]), check=False)["path"]
    got = truth_scores(out, fitted["ref"])
    y, p = _read(fitted["ref"]).ravel(), _read(out).ravel()
    ok = np.isfinite(y) & np.isfinite(p) & (p <= 100)
    want = regression_scores(y[ok], p[ok]) | {"mean_predicted": float(p[ok].mean()), "mean_truth": float(y[ok].mean())}
    assert got == want
    assert 0 < tiny_windows[0] <= TINY and tiny_windows[1] > 10
    assert not list(tmp_path.glob("treecover-pairs-*"))  # the temporary file is gone
