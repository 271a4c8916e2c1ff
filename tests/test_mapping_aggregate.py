"""1 km aggregation: exact area identity and partial edge blocks; the mapping CLI end to end."""

from __future__ import annotations

import numpy as np
import rasterio

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.mapping.aggregate import aggregate_area, coarse_grid
from irrmap.models import fit_from_pool, save_model

from conftest import as_dataarray
from test_models_fit import pool_from_cube, synthetic_cube


def test_area_identity_geographic_partial_blocks():
    g = Grid.from_bounds(100.0, 40.0, 100.0 + 37 * 0.0025, 40.0 + 42 * 0.0025, 0.0025, "EPSG:4326")  # 42 x 37: not /4
    rng = np.random.default_rng(1)
    pct = rng.integers(0, 101, g.shape).astype(np.uint8)
    pct[rng.random(g.shape) < 0.1] = 255  # nodata counts as 0
    out = aggregate_area(as_dataarray(pct, g).chunk(8), 4, chunk_blocks=3)
    vals = out.values
    assert vals.shape == (11, 10) and Grid.from_dataarray(out).aligned_with(coarse_grid(g, 4))
    area = np.asarray(g.pixel_area())
    frac = np.where(pct == 255, 0, pct) / 100.0
    np.testing.assert_allclose(vals.sum(), (frac * area).sum(), rtol=1e-12)
    np.testing.assert_allclose(vals[0, 0], (frac[:4, :4] * area[:4, :4]).sum(), rtol=1e-12)
    np.testing.assert_allclose(vals[-1, -1], (frac[40:, 36:] * area[40:, 36:]).sum(), rtol=1e-12)  # partial block
    assert vals[0, 0] != vals[5, 5]


def predict_inputs(tmp_path, shape, crop_of) -> list[str]:
    """Write a synthetic cube's predictors and the cropland `crop_of(shape)` on a 0.0025 deg grid of `shape` into
    tmp_path, fit and save a LightGBM model as m.joblib (seed 0); returns the --predictor arguments of
    `irrmap mapping predict`."""
    g = Grid.from_bounds(100.0, 40.0, 100.0 + shape[1] * 0.0025, 40.0 + shape[0] * 0.0025, 0.0025, "EPSG:4326")
    label, feats = synthetic_cube(shape)
    write_raster(tmp_path / "crop.tif", as_dataarray(crop_of(shape), g), cog=False)
    args = []
    for k, v in feats.items():
        write_raster(tmp_path / f"{k}.tif", as_dataarray(v, g), cog=False)
        args += ["--predictor", f"{k}={tmp_path / (k + '.tif')}"]
    model, card = fit_from_pool(pool_from_cube(label, feats), model="lgbm", seed=0, cv_blocks=None)
    save_model(model, tmp_path / "m.joblib", card)
    return args


def test_cli_predict_filter_aggregate(tmp_path):
    args = predict_inputs(tmp_path, (48, 64),
                          lambda shape: np.where(np.random.default_rng(2).random(shape) < 0.8, 0.5, 0).astype(np.float32))
    assert main(["-q", "mapping", "predict", str(tmp_path / "m.joblib"), "--cropland", str(tmp_path / "crop.tif"), *args,
                 "--out", str(tmp_path / "map"), "--tile-size", "32"]) == 0
    assert main(["-q", "mapping", "filter", str(tmp_path / "map" / "class.tif"), "--cropland", str(tmp_path / "crop.tif"),
                 "--out", str(tmp_path / "filtered")]) == 0
    assert main(["-q", "mapping", "aggregate", str(tmp_path / "filtered" / "fraction.tif"), "--out", str(tmp_path / "km.tif")]) == 0
    with rasterio.open(tmp_path / "map" / "probability.tif") as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255 and src.profile.get("tiled")
    with rasterio.open(tmp_path / "filtered" / "fraction.tif") as src:
        frac = src.read(1)
    with rasterio.open(tmp_path / "km.tif") as src:
        km = src.read(1)
        assert src.shape == (12, 16)
    area = np.asarray(Grid.from_raster(tmp_path / "crop.tif").pixel_area())  # the grid predict_inputs wrote on
    # stored as float32 (issue 18): each cell to ~6e-8 relative, so the sum to well under 1e-6
    np.testing.assert_allclose(km.astype(np.float64).sum(), (np.where(frac == 255, 0, frac) / 100.0 * area).sum(), rtol=1e-6)
    assert km.sum() > 0
