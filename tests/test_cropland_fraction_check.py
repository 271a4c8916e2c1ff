"""A cropland layer that is not a 0..1 fraction is refused with the fix that fits what it holds (percent: scale
0.01; class codes: kind = 'fraction'; negatives: a fill value), wherever a cropland fraction is consumed."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import as_dataarray
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.plausibility import check_fraction

GRID = Grid.from_bounds(100.0, 30.0, 100.04, 30.03, 0.01, "EPSG:4326")  # 3 x 4


@pytest.mark.parametrize(("values", "fix"), [
    ([0, 12.5, 88, np.nan], "scale = 0.01"),
    ([0, 1, 2, 10, 210], "kind = 'fraction'"),
    ([-9999, 0.2, 0.5, 1], "nodata = -9999"),
])
def test_the_fix_fits_what_the_layer_holds(values, fix):
    with pytest.raises(InputError) as err:
        check_fraction(np.array(values, float))
    assert fix in str(err.value) and f"{np.nanmax(values):g}" in str(err.value)


def test_fractions_and_missing_pass():
    check_fraction(np.array([0.0, 0.25, 1.0, np.nan]))
    check_fraction(np.array([np.nan, np.nan]))


def test_threshold_maps_and_reconciliation_both_use_it():
    from irrmap.training.thresholds import gather_candidates

    zones = as_dataarray(np.ones(GRID.shape, np.int32), GRID)
    pct = as_dataarray(np.full(GRID.shape, 40.0, np.float32), GRID)
    with pytest.raises(InputError, match="scale = 0.01"):
        gather_candidates(zones, pct)
    split_units = pytest.importorskip("irrmap.mapping.reconcile.split_units")
    with pytest.raises(InputError, match="scale = 0.01"):
        split_units.rethreshold(np.ones((2, 2), np.int32), np.full((2, 2), 0.5), np.full((2, 2), 40.0), np.ones((2, 2)), np.array([np.nan, 1.0]))
