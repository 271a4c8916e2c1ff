"""The composites' kernel takes the extremes without sorting when no statistic needs the order (the stage's
default, max only): same values as numpy's nan-reductions and as the sorting path."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from irrmap.training.composites import statistics_block


@pytest.fixture(scope="module")
def block():
    rng = np.random.default_rng(4)
    b = rng.normal(size=(23, 40, 50)).astype(np.float32)
    b[rng.random(b.shape) < 0.4] = np.nan
    b[:, :2, :3] = np.nan  # pixels without a valid date
    b[:22, 5, 5], b[22, 5, 5] = np.nan, 0.5  # one valid date
    return b


def test_extremes_without_sorting_match_numpy(block):
    out = statistics_block(block, ["max", "min", "range", "count"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices
        mx, mn = np.nanmax(block, axis=0), np.nanmin(block, axis=0)
    assert np.array_equal(out[0], mx, equal_nan=True)
    assert np.array_equal(out[1], mn, equal_nan=True)
    assert np.array_equal(out[2], mx - mn, equal_nan=True)
    assert np.array_equal(out[3], (~np.isnan(block)).sum(axis=0).astype(np.float32))
    assert out[0][5, 5] == block[22, 5, 5] and np.isnan(out[0][0, 0])


def test_extremes_agree_with_the_sorting_path(block):
    alone = statistics_block(block, ["max"], min_valid=2)
    with_median = statistics_block(block, ["max", "median"], min_valid=2)  # the median makes the kernel sort
    assert np.array_equal(alone[0], with_median[0], equal_nan=True)
    assert np.isnan(alone[0][5, 5])  # one valid date < min_valid
