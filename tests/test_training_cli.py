"""`irrmap training thresholds` and `irrmap training pool` end to end on small files."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray


@pytest.fixture
def inputs(tmp_path):
    g = Grid.from_bounds(100.0, 40.0, 100.4, 40.2, 0.00225, "EPSG:4326")
    rng = np.random.default_rng(4)
    frac = np.where(rng.random(g.shape) < 0.6, rng.random(g.shape), 0).astype(np.float32)
    for name in ("sevi", "sndvi"):
        write_raster(tmp_path / f"{name}.tif", as_dataarray(rng.random(g.shape).astype(np.float32), g), cog=False)
    write_raster(tmp_path / "crop.tif", as_dataarray(frac, g), cog=False)
    gpd.GeoDataFrame({"code": ["650101", "650102", "650103"]},
                     geometry=[box(100.0, 40.0, 100.2, 40.2), box(100.2, 40.0, 100.4, 40.2), box(101, 41, 101.1, 41.1)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    pd.DataFrame({"county": ["650101", "650102"], "irr_ha": [3000.0, 30000.0]}).to_csv(tmp_path / "s.csv", index=False)
    return tmp_path, g, frac


def test_thresholds_then_pool(inputs, capsys):
    d, g, frac = inputs
    rc = main(["-q", "training", "thresholds", "--score", str(d / "sevi.tif"), "--score", str(d / "sndvi.tif"),
               "--cropland", str(d / "crop.tif"), "--units", str(d / "u.gpkg"), "--unit-field", "code",
               "--stats", str(d / "s.csv"), "--stats-field", "county", "--area-field", "irr_ha", "--area-unit", "ha",
               "--out", str(d / "thr")])
    assert rc == 0
    t = pd.read_csv(d / "thr" / "thresholds.csv", dtype={"unit": str})
    assert {"unit", "target_m2", "mapped_m2", "cropland_m2", "threshold", "n_pixels", "status"} <= set(t.columns)
    st = t.set_index(["score", "unit"])["status"]
    assert st[("sevi", "650101")] == "ok" and st[("sevi", "650102")] == "infeasible" and st[("sevi", "650103")] == "missing"
    with rasterio.open(d / "thr" / "sevi.tif") as src:
        m = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 255
    area = frac * np.asarray(g.pixel_area())
    left = np.zeros(g.shape, bool)
    left[:, :89] = True  # 100.0-100.2 E
    mapped = area[(m == 1) & left].sum()
    assert abs(mapped - 3e7) <= 0.5 * area.max()
    assert (m[:, 89:][frac[:, 89:] > 0] == 1).all()  # infeasible unit: all crop irrigated

    rc = main(["-q", "training", "pool", "--map", str(d / "thr" / "sevi.tif"), "--map", str(d / "thr" / "sndvi.tif"),
               "--cropland", str(d / "crop.tif"), "--units", str(d / "u.gpkg"), "--unit-field", "code",
               "--predictor", f"sevi={d / 'sevi.tif'}", "--per-class", "25", "--per-class-in", "650102=40", "--seed", "5",
               "--out", str(d / "pool.parquet")])
    assert rc == 0
    pool = gpd.read_parquet(d / "pool.parquet")
    counts = pool.groupby(["unit", "label"]).size()
    assert counts[("650101", 1)] == 25 and counts[("650101", 0)] == 25
    assert counts[("650102", 1)] == 40 and ("650102", 0) not in counts.index  # infeasible: no agreed non-irrigated crop
    assert {"sevi", "lon", "lat", "row", "col"} <= set(pool.columns)


def test_score_on_another_grid_fails_clearly(inputs, capsys):
    d, g, _ = inputs
    other = Grid.from_bounds(100.0, 40.0, 100.4, 40.2, 0.0045, "EPSG:4326")
    write_raster(d / "coarse.tif", as_dataarray(np.zeros(other.shape, np.float32), other), cog=False)
    rc = main(["training", "thresholds", "--score", str(d / "coarse.tif"), "--cropland", str(d / "crop.tif"),
               "--units", str(d / "u.gpkg"), "--unit-field", "code", "--stats", str(d / "s.csv"), "--stats-field", "county",
               "--area-field", "irr_ha", "--area-unit", "ha", "--out", str(d / "x")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "differs from the cropland grid" in err and "--align" in err
