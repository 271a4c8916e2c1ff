"""`irrmap suitability distance` on a raster that is no water mask: with the default rule (any non-zero value is
water) a DEM made 47,190 of 47,730 pixels water and wrote distance 0 everywhere (exit 0); a threshold no pixel
reaches (JRC seasonality, 0..12 months, with --threshold 50) wrote an all-NaN distance with a warning (exit 0).
Both are refused now (exit 2); a 0/1 mask and JRC occurrence with a threshold still run. Truth: the distance by
brute force over the water pixel centres (UTM grid: Euclidean distance in metres)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DEM = DATA / "dem" / "NASADEM_HGT_n18w072.tif"
SEASONALITY = DATA / "water" / "seasonality_60W_10Nv1_4_2021.tif"
H, W, RES = 12, 15, 30.0
T = Affine(RES, 0, 500000.0, 0, -RES, 4000000.0)


def _raster(path, arr, dtype):
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype=dtype, crs="EPSG:32633", transform=T) as dst:
        dst.write(np.asarray(arr).astype(dtype), 1)
    return str(path)


def _brute(water: np.ndarray) -> np.ndarray:
    rr, cc = np.nonzero(water)
    r, c = np.mgrid[0:H, 0:W]
    d = np.sqrt(((r[..., None] - rr) * RES) ** 2 + ((c[..., None] - cc) * RES) ** 2)
    return d.min(axis=-1)


def test_elevations_as_mask_are_refused(tmp_path, capsys):
    dem = 200 + np.add.outer(np.arange(H), np.arange(W)) * 7.0
    out = tmp_path / "d.tif"
    assert main(["suitability", "distance", _raster(tmp_path / "dem.tif", dem, "uint16"), str(out)]) == 2
    err = capsys.readouterr().err
    assert "values up to 375" in err and "--threshold" in err and "Traceback" not in err
    assert not out.exists()


def test_a_share_as_mask_is_refused(tmp_path, capsys):
    share = np.random.default_rng(1).uniform(0, 1, (H, W))
    assert main(["suitability", "distance", _raster(tmp_path / "s.tif", share, "float32"), str(tmp_path / "d.tif")]) == 2
    assert "fractional values" in capsys.readouterr().err


def test_a_threshold_no_pixel_reaches_is_refused(tmp_path, capsys):
    months = np.random.default_rng(2).integers(0, 13, (H, W))
    assert main(["suitability", "distance", "--threshold", "50", _raster(tmp_path / "m.tif", months, "uint8"),
                 str(tmp_path / "d.tif")]) == 2
    assert "no water pixel in the mask (--threshold 50)" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--max-distance", "100000"]])
def test_a_binary_mask_gives_the_brute_force_distance(tmp_path, extra):
    water = np.zeros((H, W), np.uint8)
    water[3, 4] = water[9, 12] = 1
    out = tmp_path / "d.tif"
    assert main(["suitability", "distance", *extra, _raster(tmp_path / "w.tif", water, "uint8"), str(out)]) == 0
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), _brute(water), rtol=1e-5)


def test_occurrence_percent_with_threshold_runs(tmp_path):
    occ = np.zeros((H, W), np.uint8)
    occ[5, 5], occ[0, 14] = 80, 30  # only the first is water at --threshold 50
    out = tmp_path / "d.tif"
    assert main(["suitability", "distance", "--threshold", "50", _raster(tmp_path / "o.tif", occ, "uint8"), str(out)]) == 0
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), _brute(occ >= 50), rtol=1e-5)


@pytest.mark.skipif(not DEM.exists(), reason="real data folder ../shared/data absent")
def test_real_dem_and_seasonality(tmp_path, capsys):
    assert main(["suitability", "distance", str(DEM), str(tmp_path / "d.tif")]) == 2
    assert main(["suitability", "distance", "--threshold", "50", str(SEASONALITY), str(tmp_path / "s.tif")]) == 2
    err = capsys.readouterr().err
    assert "values up to 2241" in err and "no water pixel" in err
