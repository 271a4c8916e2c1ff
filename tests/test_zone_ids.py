"""Zone ids read from a raster of any type are checked before the kernels' integer casts: an id of 2**31 or
more must not wrap, 1.5 must not become 1, and float zones with NaN outside every unit split like integer ones.
Truth: the same split on the equivalent int32 zones, and hand-made cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.training.pool import sample_pool
from irrmap.training.split_mapreduce import split_tiles
from irrmap.training.thresholds import ThresholdSplitter, gather_candidates

from conftest import as_dataarray

EQ = "+proj=cea +lon_0=0 +lat_ts=0 +datum=WGS84 +units=m"  # equal-area: every pixel is 100 x 100 m
GRID = Grid.from_bounds(0, 0, 600.0, 400.0, 100.0, EQ)


def _case():
    zones = np.array([[1, 1, 2, 2, 3, 3], [1, 1, 2, 2, 3, 3], [0, 1, 2, 0, 3, 3], [1, 1, 2, 2, 0, 3]], np.int32)
    crop = np.full(zones.shape, 0.5, np.float32)
    score = np.arange(zones.size, dtype=np.float32).reshape(zones.shape)[:, ::-1] / 10
    targets = pd.Series({1: 1.5e4, 2: 1e4, 3: 2.5e4})
    return zones, crop, score, targets


def test_ids_beyond_int32_do_not_wrap_onto_a_unit():
    """2**32 + 1 cast to int32 is 1: the old cast put that pixel in unit 1 without a word."""
    zones, crop, _, _ = _case()
    big = zones.astype(np.int64)
    big[0, 0] = 2**32 + 1
    with pytest.raises(InputError, match=r"zone ids 1\.\.4294967297 are outside 1\.\.3"):
        gather_candidates(as_dataarray(big, GRID), as_dataarray(crop, GRID), n_units=3)
    with pytest.raises(InputError, match="do not fit int32"):
        gather_candidates(as_dataarray(np.where(big > 3, 2**31, big), GRID), as_dataarray(crop, GRID))


@pytest.mark.parametrize("how", ["thresholds", "map-reduce", "pool"])
def test_fractional_zone_ids_are_refused(tmp_path, how):
    zones, crop, score, targets = _case()
    fz = zones.astype(np.float32)
    fz[1, 2] = 1.5
    z, f, s = (as_dataarray(a, GRID) for a in (fz, crop, score))
    with pytest.raises(InputError, match="zone id 1.5 is not a whole number"):
        if how == "thresholds":
            ThresholdSplitter().fit(s, zones=z, cropland=f, targets=targets)
        elif how == "map-reduce":
            split_tiles({"s": s}, z, f, targets, 3, tmp_path / "parts", strip_rows=2)
        else:
            maps = [as_dataarray((score > 1).astype(np.uint8), GRID)] * 2
            sample_pool(maps, z, f, per_class=2)


def test_float_zones_with_nan_split_like_integer_zones(tmp_path):
    zones, crop, score, targets = _case()
    fz = np.where(zones == 0, np.nan, zones).astype(np.float32)  # NaN: outside every unit
    ints = ThresholdSplitter().fit(as_dataarray(score, GRID), zones=as_dataarray(zones, GRID), cropland=as_dataarray(crop, GRID), targets=targets)
    expected = ints.label_map(as_dataarray(zones, GRID)).values
    floats = ThresholdSplitter().fit(as_dataarray(score, GRID), zones=as_dataarray(fz, GRID), cropland=as_dataarray(crop, GRID), targets=targets)
    assert np.array_equal(floats.labels_, ints.labels_)
    maps, tables = split_tiles({"s": as_dataarray(score, GRID)}, as_dataarray(fz, GRID), as_dataarray(crop, GRID), targets, 3,
                               tmp_path / "parts", strip_rows=2)
    assert np.array_equal(maps["s"].values, expected)
    pd.testing.assert_frame_equal(tables["s"], ints.table_, check_exact=True)
    # by hand: each unit's highest scores (the left of the grid scores lower) until its target (0.5 ha a pixel)
    assert tables["s"].set_index("zone").loc[[1, 2, 3], "n_pixels"].tolist() == [3, 2, 5]


def test_pool_quota_of_another_length_is_refused():
    zones, crop, score, _ = _case()
    maps = [as_dataarray((score > 1).astype(np.uint8), GRID)] * 2
    with pytest.raises(InputError, match="3 entries for zone ids 0..3"):
        sample_pool(maps, as_dataarray(zones, GRID), as_dataarray(crop, GRID), per_class_by_zone=np.array([0, 5, 5]))
    # a longer quota is fine: the unit table may hold units without a pixel on the grid (the CLI sizes it by the table)
    longer = sample_pool(maps, as_dataarray(zones, GRID), as_dataarray(crop, GRID), per_class_by_zone=np.array([0, 2, 2, 2, 9]))
    assert longer.equals(sample_pool(maps, as_dataarray(zones, GRID), as_dataarray(crop, GRID), per_class=2))
