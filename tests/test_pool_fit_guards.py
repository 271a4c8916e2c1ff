"""The training pool and `models fit` refuse what prediction refuses: an undeclared fill value (-9999 with nodata unset)
and +inf/-inf in a predictor; `models fit` warns on repeated sample locations (refusing them with conflicting labels) and
on a rarer class under 5 % of the samples. Expected values are hand-counted from the arrays built here."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_raster
from irrmap.models import fit_from_pool
from irrmap.training.pool import attach_predictors

from conftest import as_dataarray
from test_models_fit import pool_from_cube, synthetic_cube

GRID = Grid.from_bounds(100.0, 40.0, 100.05, 40.05, 0.005, "EPSG:4326")  # 10 x 10 pixels


def _all_pixels() -> pd.DataFrame:
    rows, cols = np.divmod(np.arange(100), 10)
    return pd.DataFrame({"zone": np.ones(100, np.int32), "label": (cols < 5).astype(np.uint8), "row": rows, "col": cols})


def _temperature(tmp_path, *, nodata=None, name="temp.tif"):
    """10 x 10 temperatures 5.0..14.9 degC with 3 pixels -9999 (hand-placed: (0, 0), (4, 7), (9, 9))."""
    t = (5.0 + np.arange(100, dtype=np.float32).reshape(10, 10) / 10).astype(np.float32)
    for r, c in [(0, 0), (4, 7), (9, 9)]:
        t[r, c] = -9999.0
    write_raster(tmp_path / name, as_dataarray(t, GRID), nodata=nodata, cog=False)
    return read_raster(tmp_path / name, GRID, name="temperature")


# ---- 1. undeclared fill values -----------------------------------------------------------------------------------
def test_the_pool_refuses_an_undeclared_fill_naming_file_value_and_count(tmp_path):
    temp = _temperature(tmp_path)
    with pytest.raises(InputError) as err:
        attach_predictors(_all_pixels(), {"temperature": temp}, GRID)
    msg = str(err.value)
    assert str(tmp_path / "temp.tif") in msg and "3 of 100 samples of predictor temperature hold -9999" in msg
    assert "the other values run 5.1..14.8" in msg  # 5.0 and 14.9 are the fills' pixels (0, 0) and (9, 9)
    assert f"gdal_edit.py -a_nodata -9999 {tmp_path / 'temp.tif'}" in msg


def test_the_pool_takes_a_declared_fill_as_missing(tmp_path):
    out = attach_predictors(_all_pixels(), {"temperature": _temperature(tmp_path, nodata=-9999.0)}, GRID)
    assert int(out["temperature"].isna().sum()) == 3


def test_a_real_value_next_to_the_range_is_no_fill(tmp_path):
    # a DEM of -998..500 m reaching -999 m: -999 lies 1 m below the rest, inside one range (1498 m) of it
    dem = np.linspace(-998.0, 500.0, 100, dtype=np.float32).reshape(10, 10)
    dem[5, 5] = -999.0
    out = attach_predictors(_all_pixels(), {"dem": as_dataarray(dem, GRID)}, GRID)
    assert float(out["dem"].min()) == -999.0


def test_the_cli_pool_exits_2_naming_the_fill(tmp_path, capsys):
    import geopandas as gpd
    from shapely.geometry import box

    write_raster(tmp_path / "crop.tif", as_dataarray(np.ones(GRID.shape, np.float32), GRID), cog=False)
    write_raster(tmp_path / "map.tif", as_dataarray((np.arange(100).reshape(10, 10) % 10 < 5).astype(np.uint8), GRID),
                 nodata=255, cog=False)
    _temperature(tmp_path)
    gpd.GeoDataFrame({"code": ["650101"]}, geometry=[box(100.0, 40.0, 100.05, 40.05)], crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    code = main(["-q", "training", "pool", "--map", str(tmp_path / "map.tif"), "--cropland", str(tmp_path / "crop.tif"),
                 "--units", str(tmp_path / "u.gpkg"), "--unit-field", "code", "--per-class", "100",
                 "--predictor", f"temperature={tmp_path / 'temp.tif'}", "--out", str(tmp_path / "pool.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "3 of 100 samples of predictor temperature hold -9999" in err and not (tmp_path / "pool.parquet").exists()


@pytest.fixture(scope="module")
def pool():
    label, feats = synthetic_cube()
    return pool_from_cube(label, feats, n=400)


def test_fit_refuses_a_fill_in_a_pool_column(pool):
    p = pool.copy()
    p.loc[p.index[[3, 50, 77, 201, 399]], "elev"] = -9999.0  # 5 rows
    with pytest.raises(InputError) as err:
        fit_from_pool(p, cv_blocks=None, pool_name="ext.parquet")
    msg = str(err.value)
    assert msg.startswith("ext.parquet: elev: 5 of 400 rows of predictor elev hold -9999") and "gdal_edit.py -a_nodata -9999" in msg


def test_fit_card_ranges_without_fill_are_the_clean_columns(pool):
    _, card = fit_from_pool(pool, cv_blocks=None, estimator_params={"n_estimators": 5, "oob_score": False})
    assert card["feature_ranges"]["elev"]["min"] == pytest.approx(float(pool["elev"].astype(np.float32).min()))
    assert card["samples"]["repeated_locations"] == 0 and "random_split_note" not in card


def test_predict_pool_and_fit_share_one_fill_list():
    import irrmap.core.fill_values as F
    import irrmap.mapping.predict as P

    assert P.FILL_VALUES is F.FILL_VALUES
    # the guard's bounds are the shared rule's: 0..10 widened by one range each side
    assert P.FeatureGuard(["a"], {"a": {"min": 0.0, "max": 10.0}}).bounds[0] == (0.0, 10.0, -10.0, 20.0)
    assert F.undeclared_fill(np.array([1.0, 2.0, 3.0, -9999.0, np.nan])) == (-9999.0, 1, 1.0, 3.0)
    assert F.undeclared_fill(np.array([-998.0, 500.0, -999.0])) is None


# ---- 2. infinity -----------------------------------------------------------------------------------------------------
def test_the_pool_refuses_infinite_predictor_values_and_keeps_nan(tmp_path):
    ratio = np.full((10, 10), 0.5, np.float32)
    ratio[2, 3], ratio[7, 1] = np.inf, -np.inf  # a NIR/green ratio where green = 0
    ratio[5, 5] = np.nan
    write_raster(tmp_path / "gi.tif", as_dataarray(ratio, GRID), cog=False)
    with pytest.raises(InputError) as err:
        attach_predictors(_all_pixels(), {"gi": read_raster(tmp_path / "gi.tif", GRID, name="gi")}, GRID)
    assert str(tmp_path / "gi.tif") in str(err.value) and "2 of 100 samples of predictor gi are infinite" in str(err.value)
    ratio[2, 3] = ratio[7, 1] = 0.5
    out = attach_predictors(_all_pixels(), {"gi": as_dataarray(ratio, GRID)}, GRID)
    assert int(out["gi"].isna().sum()) == 1  # NaN is the pool's missing value


def test_fit_refuses_infinity_with_exit_2(pool, tmp_path, capsys):
    p = pool.copy()
    p.loc[p.index[:7], "ndwi"] = np.inf
    with pytest.raises(InputError, match=r"pool: ndwi: 7 of 400 rows of feature ndwi are infinite"):
        fit_from_pool(p, cv_blocks=None)
    p.to_parquet(tmp_path / "inf.parquet")
    assert main(["-q", "models", "fit", str(tmp_path / "inf.parquet"), "--out", str(tmp_path / "m.joblib"), "--cv-blocks", "0"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"{tmp_path / 'inf.parquet'}: ndwi: 7 of 400 rows" in err


# ---- 3. repeated locations ----------------------------------------------------------------------------------------
def test_fit_warns_on_repeated_locations_and_the_card_says_so(pool, caplog):
    twice = pd.concat([pool, pool.iloc[:25]], ignore_index=True)  # 25 samples repeat a (row, col)
    with caplog.at_level(logging.WARNING):
        _, card = fit_from_pool(twice, cv_blocks=None, estimator_params={"n_estimators": 5, "oob_score": False})
    assert "25 of 425 samples of pool repeat the location (row, col)" in caplog.text
    assert card["samples"]["repeated_locations"] == 25 and card["random_split_note"].startswith("optimistic: 25 samples")


def test_fit_refuses_a_location_with_both_labels(pool):
    clash = pool.iloc[:2].copy()
    clash["label"] = 1 - clash["label"]
    with pytest.raises(InputError, match=r"pool: label: 2 locations \(row, col\) hold samples of both labels"):
        fit_from_pool(pd.concat([pool, clash], ignore_index=True), cv_blocks=None)


# ---- 4. a rare class ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_rare,warns", [(10, True), (19, True), (20, False), (60, False)])  # of 400: 2.5, 4.75, 5, 15 %
def test_fit_warns_when_the_rarer_class_is_under_5_percent(pool, caplog, n_rare, warns):
    rng = np.random.default_rng(0)
    p = pool.copy()
    y = np.zeros(len(p), np.uint8)
    y[rng.choice(len(p), n_rare, replace=False)] = 1
    p["label"] = y
    with caplog.at_level(logging.WARNING):
        fit_from_pool(p, cv_blocks=None, estimator_params={"n_estimators": 5, "oob_score": False})
    assert ("under 5 %" in caplog.text) is warns
    if warns:
        assert f"{400 - n_rare} not irrigated and {n_rare} irrigated samples" in caplog.text and "[training].per_class" in caplog.text
        assert f"scores {1 - n_rare / 400:.3f}" in caplog.text and "kappa" in caplog.text
