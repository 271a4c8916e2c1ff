"""Aridity: Priestley-Taylor PET against a hand computation, AI = sum P / sum PET, the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.windows import Window

from conftest import as_dataarray
from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.suitability.aridity import aridity_from_meteorology, aridity_index, priestley_taylor_pet

GRID = Grid.from_bounds(100.0, 40.0, 100.03, 40.02, 0.01, "EPSG:4326")  # 2 x 3


def test_pet_hand_computed():
    # T = 20 degC, RH = 50 %, Rs = 200 W m-2, albedo 0.23, worked by hand:
    # es = 2.33807 kPa, D = 0.144728, a = 1.63, L = 2453780 J/kg, ea = 0.809456, Rn = 86.77 W m-2
    # PET = 1.63 * 0.686800 * 86.77 / 2453780 * 86400 = 3.420 mm/day
    assert priestley_taylor_pet(20.0, 50.0, 200.0) == pytest.approx(3.420, rel=2e-3)
    t, rh, rs, alb = 5.0, 80.0, 120.0, 0.15
    es = 0.6108 * math.exp(17.27 * t / (t + 237.3))
    d = 4098 * es / (t + 237.3) ** 2
    rn = (1 - alb) * rs + ((1 - 0.26 * math.exp(-7.77e-4 * t * t)) - 0.97) * 5.670374419e-8 * (t + 273.15) ** 4
    want = (2.33 - 0.014 * rh) * d / (d + 0.066) * rn / (2.501e6 - 2361 * t) * 86400
    assert priestley_taylor_pet(t, rh, rs, albedo=alb) == pytest.approx(want, rel=1e-12)
    assert priestley_taylor_pet(-20.0, 90.0, 10.0) == 0.0  # negative net radiation: PET clipped at 0


def test_aridity_index_from_steps_and_from_time_dim():
    p = [as_dataarray(np.array([[10, 20, 0], [5, np.nan, 30]], np.float32), GRID) for _ in range(3)]
    pet = [as_dataarray(np.array([[20, 20, 10], [0, 10, 10]], np.float32), GRID) for _ in range(3)]
    ai = aridity_index(p, pet).values
    np.testing.assert_allclose(ai, [[0.5, 1.0, 0.0], [np.nan, np.nan, 3.0]])
    stacked = aridity_index(xr.concat(p, "time"), xr.concat(pet, "time")).values
    np.testing.assert_array_equal(np.isnan(ai), np.isnan(stacked))
    assert ai.dtype == np.float32


def test_aridity_from_meteorology_uses_step_lengths():
    t = [as_dataarray(np.full(GRID.shape, v, np.float32), GRID) for v in (20.0, 10.0)]
    rh = [as_dataarray(np.full(GRID.shape, 50.0, np.float32), GRID)] * 2
    rs = [as_dataarray(np.full(GRID.shape, 200.0, np.float32), GRID)] * 2
    p = [as_dataarray(np.full(GRID.shape, 30.0, np.float32), GRID)] * 2
    ai = aridity_from_meteorology(p, t, rh, rs, seconds_per_step=[31 * 86400.0, 30 * 86400.0]).values
    want = 60.0 / (priestley_taylor_pet(20.0, 50.0, 200.0) * 31 + priestley_taylor_pet(10.0, 50.0, 200.0) * 30)
    np.testing.assert_allclose(ai, want, rtol=1e-5)


def test_cli_aridity_from_rasters_and_meteorology(tmp_path):
    def put(name, value):
        path = tmp_path / f"{name}.tif"
        write_raster(path, as_dataarray(np.full(GRID.shape, value, np.float32), GRID), cog=False)
        return str(path)

    assert main(["-q", "suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", put("p1", 10), put("p2", 30),
                 "--pet", put("e1", 50), put("e2", 50)]) == 0
    with rasterio.open(tmp_path / "ai.tif") as ds:
        np.testing.assert_allclose(ds.read(1), 0.4)
    assert main(["-q", "suitability", "aridity", str(tmp_path / "ai2.tif"), "--precip", put("p", 100), "--temperature", put("t", 20),
                 "--humidity", put("rh", 50), "--radiation", put("rs", 200), "--step-days", "30"]) == 0
    with rasterio.open(tmp_path / "ai2.tif") as ds:
        np.testing.assert_allclose(ds.read(1), 100 / (30 * 3.420), rtol=2e-3)
    assert main(["-q", "suitability", "aridity", str(tmp_path / "x.tif"), "--precip", put("q", 1)]) == 2  # no PET source


def test_real_china_precipitation_runs(shared_data):
    from irrmap.core.raster_read import read_raster

    path = shared_data / "climate" / "china_precipitation_5km.tif"
    grid = Grid.from_raster(path)
    win = Window(600, 300, 40, 30)
    p = read_raster(path, grid.window_grid(win), fill_values=[65525])
    pet = xr.full_like(p, 800.0)
    ai = aridity_index(p, pet).values
    valid = ~np.isnan(p.values)
    assert np.array_equal(valid, ~np.isnan(ai)) and (ai[valid] >= 0).all()
