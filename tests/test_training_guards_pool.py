"""`irrmap training pool` guards: inputs on other grids are refused (as `training thresholds` does, --align to
resample), predictor names that would overwrite the pool's columns or repeat are refused, the pool balance
checks of `irrmap run` apply (empty pool: exit 2; a rare class: a warning with the counts), negative counts."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.training.pool import RESERVED_COLUMNS, attach_predictors, check_pool_balance, sample_pool

from conftest import as_dataarray


@pytest.fixture
def d(tmp_path):
    g = Grid.from_bounds(100.0, 40.0, 100.4, 40.2, 0.005, "EPSG:4326")
    rng = np.random.default_rng(3)
    frac = np.where(rng.random(g.shape) < 0.7, 0.5, 0.0).astype(np.float32)
    write_raster(tmp_path / "crop.tif", as_dataarray(frac, g), cog=False)
    mixed = (rng.random(g.shape) < 0.5).astype(np.uint8)
    write_raster(tmp_path / "map.tif", as_dataarray(mixed, g), nodata=255, cog=False)
    write_raster(tmp_path / "all1.tif", as_dataarray(np.ones(g.shape, np.uint8), g), nodata=255, cog=False)
    write_raster(tmp_path / "evi.tif", as_dataarray(rng.random(g.shape).astype(np.float32), g), cog=False)
    write_raster(tmp_path / "ndvi.tif", as_dataarray(rng.random(g.shape).astype(np.float32), g), cog=False)
    half = Grid(g.crs, g.transform * g.transform.translation(0.5, 0.5), g.height, g.width)  # half a pixel off
    write_raster(tmp_path / "evi_shift.tif", as_dataarray(rng.random(g.shape).astype(np.float32), half), cog=False)
    write_raster(tmp_path / "map_shift.tif", as_dataarray(mixed, half), nodata=255, cog=False)
    gpd.GeoDataFrame({"code": ["650101", "650102"]}, geometry=[box(100.0, 40.0, 100.2, 40.2), box(100.2, 40.0, 100.4, 40.2)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    gpd.GeoDataFrame({"code": ["650201"]}, geometry=[box(110.0, 30.0, 110.2, 30.2)], crs="EPSG:4326").to_file(tmp_path / "far.gpkg")
    return tmp_path


def _pool(d, *extra, map_="map.tif", units="u.gpkg", out="pool.parquet"):
    return main(["-q", "training", "pool", "--map", str(d / map_), "--cropland", str(d / "crop.tif"), "--units", str(d / units),
                 "--unit-field", "code", "--per-class", "20", *extra, "--out", str(d / out)])


# ---- 1.6: no silent resampling --------------------------------------------------------------------------
@pytest.mark.parametrize("args", [("--predictor", "evi=evi_shift.tif"), ("--map", "map_shift.tif")])
def test_inputs_on_another_grid_are_refused_like_thresholds(d, capsys, args):
    option, value = args
    extra = [option, str(d / value.split("=")[-1]) if option == "--map" else f"evi={d / 'evi_shift.tif'}"]
    assert _pool(d, *extra) == 2
    err = capsys.readouterr().err
    assert "differs from the cropland grid" in err and "(fix: pass --align or resample it first)" in err
    assert "_shift.tif" in err and not (d / "pool.parquet").exists()


def test_align_resamples_on_request(d):
    assert _pool(d, "--predictor", f"evi={d / 'evi_shift.tif'}", "--align") == 0
    assert "evi" in gpd.read_parquet(d / "pool.parquet").columns


# ---- 1.8: predictor names --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", RESERVED_COLUMNS)
def test_a_predictor_named_like_a_pool_column_is_refused(d, capsys, name):
    assert _pool(d, "--predictor", f"{name}={d / 'evi.tif'}") == 2
    err = capsys.readouterr().err
    assert f"--predictor: predictor name {name!r} is one of the pool's own columns" in err
    assert not (d / "pool.parquet").exists()


def test_attach_predictors_refuses_reserved_names():
    g = Grid.from_bounds(0, 0, 1, 1, 0.5, "EPSG:4326")
    samples = pd.DataFrame({"zone": [1], "label": [1], "row": [0], "col": [0]})
    with pytest.raises(InputError, match="'label' is one of the pool's own columns"):
        attach_predictors(samples, {"label": as_dataarray(np.zeros(g.shape, np.float32), g)}, g)


def test_a_repeated_predictor_name_is_refused(d, capsys):
    assert _pool(d, "--predictor", f"evi={d / 'evi.tif'}", "--predictor", f"evi={d / 'ndvi.tif'}") == 2
    err = capsys.readouterr().err
    assert "--predictor: 'evi' is given twice" in err and "ndvi.tif" in err
    assert not (d / "pool.parquet").exists()


def test_a_repeated_per_class_in_code_is_refused(d, capsys):
    assert _pool(d, "--per-class-in", "650101=5", "--per-class-in", "650101=50") == 2
    assert "--per-class-in: '650101' is given twice" in capsys.readouterr().err


# ---- 1.9: balance, empty pools, negative counts ----------------------------------------------------------
def test_a_one_class_pool_warns_with_the_counts(d, caplog):
    with caplog.at_level(logging.WARNING):
        assert _pool(d, map_="all1.tif") == 0
    msg = [r.getMessage() for r in caplog.records if r.getMessage().startswith("training pool:")]
    assert msg and msg[0].startswith("training pool: 40 irrigated and 0 not-irrigated samples (0 % not irrigated; 2 of 2 units gave none)")
    assert "--area-unit" in msg[0] and "[statistics]" not in msg[0]  # worded for the command, not the run's config


def test_an_empty_pool_is_an_error_without_a_pandas_dump(d, capsys):
    assert _pool(d, "--per-class", "0") == 2
    out, err = capsys.readouterr()
    assert "Series" not in out + err
    assert "leave the pool empty" in err and "--per-class" in err and err.count("\n") == 1  # refused before sampling
    assert not (d / "pool.parquet").exists()


def test_units_off_the_grid_are_named(d, capsys):
    assert _pool(d, units="far.gpkg") == 2
    err = capsys.readouterr().err
    assert "far.gpkg: the training pool is empty: no unit of --units lies on the cropland grid" in err


@pytest.mark.parametrize("option", ["--per-class", "--erode"])
def test_negative_counts_are_refused(d, capsys, option):
    assert main(["-q", "training", "pool", "--map", str(d / "map.tif"), "--cropland", str(d / "crop.tif"), "--units", str(d / "u.gpkg"),
                 "--unit-field", "code", option, "-1", "--out", str(d / "pool.parquet")]) == 2
    assert f"{option}: negative value -1" in capsys.readouterr().err


def test_sample_pool_refuses_negative_erosion_and_quotas():
    g = Grid.from_bounds(0, 0, 1, 1, 0.1, "EPSG:4326")
    da = lambda a: as_dataarray(a, g)  # noqa: E731
    zones, ones = da(np.ones(g.shape, np.int32)), da(np.ones(g.shape, np.uint8))
    with pytest.raises(InputError, match="erode"):
        sample_pool([ones], zones, da(np.ones(g.shape, np.float32)), erode=-1)
    with pytest.raises(InputError, match="quota of -5"):
        sample_pool([ones], zones, da(np.ones(g.shape, np.float32)), per_class=-5)


def test_run_stage_keeps_its_wording():
    from irrmap.app.stages.training import check_pool_balance as stage_check

    with pytest.raises(DataError, match=r"training.pool: the training pool is empty.*\[training\].scores"):
        stage_check(np.empty(0), np.empty(0))
    with pytest.raises(DataError, match="the training pool is empty"):
        check_pool_balance(np.empty(0), np.empty(0))
