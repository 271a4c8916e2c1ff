"""Shares and scores in the wrong unit in `irrmap features nscore` / `sscore`: a cropland share in percent made every
pixel with 0.5 % crop a reference pixel of the N-score median (on a real-sized case 97 % of the pixels instead of
30 %), `--min-share 50` made none; a suitability S in percent gave S-scores of 16..100 instead of 0.16..1. Each ran
with exit 0. Now refused (exit 2) with the fix; fractions give the N-score of an independent median (numpy) and
S x VI by hand."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main

H, W = 9, 11
T = Affine(250.0, 0, 500000.0, 0, -250.0, 4000000.0)


def _raster(path, arr):
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype="float32", crs="EPSG:32650",
                       transform=T, nodata=np.nan) as dst:
        dst.write(np.asarray(arr, np.float32), 1)
    return str(path)


def _inputs(tmp_path):
    rng = np.random.default_rng(11)
    vi = rng.uniform(0.2, 0.9, (H, W)).astype(np.float32)
    crop = np.where(rng.random((H, W)) < 0.3, rng.uniform(0.6, 1, (H, W)), rng.uniform(0, 0.1, (H, W))).astype(np.float32)
    return vi, crop, _raster(tmp_path / "vi.tif", vi), _raster(tmp_path / "crop.tif", crop), _raster(tmp_path / "pct.tif", crop * 100)


def _median_nscore(vi, ref, size):
    """N-score by brute force: vi / median of vi over reference pixels in the clipped window."""
    r, out = size // 2, np.full(vi.shape, np.nan, np.float32)
    for i in range(H):
        for j in range(W):
            win = vi[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1][ref[max(0, i - r):i + r + 1, max(0, j - r):j + r + 1]]
            if win.size:
                out[i, j] = vi[i, j] / np.median(win.astype(np.float64))
    return out


def test_nscore_crop_in_percent_is_refused(tmp_path, capsys):
    vi, crop, vi_p, crop_p, pct_p = _inputs(tmp_path)
    out = tmp_path / "n.tif"
    assert main(["features", "nscore", "--crop", pct_p, "--window", "5", vi_p, str(out)]) == 2
    err = capsys.readouterr().err
    assert "--crop" in err and "values" in err and "look like percent" in err and "A*0.01" in err
    assert main(["features", "nscore", "--crop", crop_p, "--window", "5", vi_p, str(out)]) == 0
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), _median_nscore(vi, crop >= 0.5, 5), rtol=1e-5)


def test_nscore_min_share_in_percent_is_refused(tmp_path, capsys):
    _, _, vi_p, crop_p, _ = _inputs(tmp_path)
    with pytest.raises(SystemExit) as exc:  # refused by the shared fraction option type when parsing (exit 2)
        main(["features", "nscore", "--crop", crop_p, "--min-share", "50", vi_p, str(tmp_path / "n.tif")])
    assert exc.value.code == 2
    assert "50 looks like a percent: use 0.50" in capsys.readouterr().err


def test_sscore_suitability_in_percent_is_refused(tmp_path, capsys):
    vi, _, vi_p, _, _ = _inputs(tmp_path)
    s = np.random.default_rng(4).choice([0.25, 0.5, 0.75, 1.0], (H, W)).astype(np.float32)
    out = tmp_path / "sscore.tif"  # not over the --suitability input s.tif (refused: irrmap.core.output_paths)
    assert main(["features", "sscore", "--suitability", _raster(tmp_path / "s_pct.tif", s * 100), vi_p, str(out)]) == 2
    assert "suitability score is not within 0..1" in capsys.readouterr().err
    assert main(["features", "sscore", "--suitability", _raster(tmp_path / "s.tif", s), vi_p, str(out)]) == 0
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), s * vi, rtol=1e-6)
