"""`models fit` on hand-made pools (external reference points): labels that are not the numbers 0/1, missing labels,
a blocked CV without the pixel row/col columns and lon/lat predictors outside degree ranges are refused in one line
naming the pool and the column (they were a ValueError or KeyError traceback, or a silent fit on projected metres)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.models import fit_from_pool

from test_models_fit import pool_from_cube, synthetic_cube


@pytest.fixture(scope="module")
def pool():
    label, feats = synthetic_cube()
    p = pool_from_cube(label, feats, n=300)
    rng = np.random.default_rng(0)
    p["lon"] = 104.0 + rng.random(len(p))  # degrees, as `training pool` writes them
    p["lat"] = 38.0 + rng.random(len(p))
    return p


FEATS = ["evi", "ndwi", "lon", "lat"]


@pytest.mark.parametrize("labels,found", [
    (lambda y: np.where(y == 1, "yes", "no"), "labels are not numbers ('no', 'yes')"),
    (lambda y: y + 1, "found 2"),  # a 1/2 coding: 1 would silently be "irrigated"
    (lambda y: y * 100, "found 100"),
    (lambda y: np.where(y == 1, 5, 1), "found 5"),  # a 1..5 scale
])
def test_labels_other_than_0_1_are_refused(pool, labels, found):
    p = pool.copy()
    p["label"] = labels(p["label"].to_numpy())
    with pytest.raises(InputError, match=re.escape(found)) as err:
        fit_from_pool(p, features=FEATS, cv_blocks=None, pool_name="ext.parquet")
    assert "ext.parquet: label" in str(err.value)


def test_missing_labels_are_counted(pool):
    p = pool.copy()
    p["label"] = p["label"].astype(float)
    p.loc[p.index[:7], "label"] = np.nan
    with pytest.raises(InputError, match=f"7 of {len(p)} samples have no label"):
        fit_from_pool(p, features=FEATS, cv_blocks=None)


def test_float_labels_0_1_still_fit(pool):
    p = pool.copy()
    p["label"] = p["label"].astype(float)  # 0.0/1.0 as a CSV round trip gives them
    _, card = fit_from_pool(p, features=FEATS, cv_blocks=None)
    assert card["samples"]["irrigated"] == int((pool["label"] == 1).sum())


def test_blocked_cv_without_row_col_is_refused(pool):
    p = pool.drop(columns=["row", "col"])
    with pytest.raises(InputError, match="no row or col column"):
        fit_from_pool(p, features=FEATS, cv_blocks=40)
    fit_from_pool(p, features=FEATS, cv_blocks=None)  # without the blocked CV the columns are not needed


@pytest.mark.parametrize("col,values", [("lon", lambda n: -6.08e6 + np.arange(n)), ("lat", lambda n: 4.2e6 + np.arange(n))])
def test_lon_lat_in_metres_are_refused(pool, col, values):
    p = pool.copy()
    p[col] = values(len(p))  # sinusoidal / UTM metres: prediction derives degrees from the grid
    with pytest.raises(InputError, match=f"{col} runs .* outside degrees"):
        fit_from_pool(p, features=FEATS, cv_blocks=None)
    fit_from_pool(p, features=["evi", "ndwi"], cv_blocks=None)  # not a feature: not checked


def test_cli_names_the_pool_file(pool, tmp_path, capsys):
    p = pool.copy()
    p["label"] = np.where(p["label"] == 1, "yes", "no")
    path = tmp_path / "ext.parquet"
    pd.DataFrame(p).to_parquet(path)
    assert main(["models", "fit", str(path), "--out", str(tmp_path / "m.joblib"), "--cv-blocks", "0"]) == 2
    err = capsys.readouterr().err
    assert "ext.parquet: label" in err and "Traceback" not in err
