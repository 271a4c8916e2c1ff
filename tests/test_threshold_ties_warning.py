"""Statistics-matched thresholds that cut through many pixels of one score value.

Ties are broken by row-major position (documented), so when a unit's statistic is met part-way through a large group
of equal scores the labelled pixels are the unit's northern band, not a choice by score. A probe thresholding the
Kansas irrigation-frequency map (integer years) got 3,379 of 13,200 pixels tied at 8, all from the top 2.8 km of an
18 km unit, without a word. The split is unchanged; a warning names such units. Truth: by hand on a 20 x 20 grid.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from irrmap.core.grid import Grid
from irrmap.training.intermediate_maps import split_scores

GRID = Grid.from_bounds(500_000, 4_000_000, 500_000 + 20 * 250, 4_000_000 + 20 * 250, 250, "EPSG:6933")  # equal-area


def _da(values):
    return xr.DataArray(values, dims=("y", "x"), coords=GRID.coords()).rio.write_crs(GRID.crs).rio.write_transform(GRID.transform)


def _split(score, n_pixels):
    zones = _da(np.ones(GRID.shape, np.int32))
    crop = _da(np.ones(GRID.shape, np.float32))
    area = float(GRID.pixel_area().mean())
    targets = pd.Series({"U1": n_pixels * area})
    maps, table = split_scores({"s": _da(score.astype(np.float32))}, zones, crop, targets, pd.Series({1: "U1"}))
    return np.asarray(maps["s"].values), table


def test_a_cut_tie_is_named_and_labels_the_northern_band(caplog):
    score = np.full(GRID.shape, 5.0)  # 400 crop pixels, all with score 5; the statistic is 100 pixels' area
    with caplog.at_level(logging.WARNING):
        labels, table = _split(score, 100)
    assert (labels == 1).sum() == 100 and (labels[:5] == 1).all()  # rows 0..4: the row-major tie-break, by hand
    text = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "U1: 100 of 400 pixels with score 5 labelled" in text  # old code: no warning


def test_continuous_scores_and_uncut_ties_say_nothing(caplog):
    rng = np.random.default_rng(1)
    score = rng.random(GRID.shape)  # distinct scores: nothing tied
    stepped = np.where(np.arange(20)[:, None] < 5, 9.0, 1.0) * np.ones((1, 20))  # 100 pixels at 9: the statistic takes all of them
    with caplog.at_level(logging.WARNING):
        _split(score, 100)
        labels, _ = _split(stepped, 100)
    assert (labels[:5] == 1).all() and (labels[5:] == 0).all()
    assert not [r for r in caplog.records if "ties are broken" in r.getMessage()]


def test_small_ties_stay_quiet(caplog):
    score = np.arange(400, dtype=float).reshape(20, 20)[::-1]
    score[10, :10] = 150.0  # ten pixels tied where the threshold falls: below TIE_PIXELS
    with caplog.at_level(logging.WARNING):
        _split(score, 245)
    assert not [r for r in caplog.records if "ties are broken" in r.getMessage()]


@pytest.fixture(autouse=True)
def _threads():
    import dask

    with dask.config.set(scheduler="threads"):
        yield
