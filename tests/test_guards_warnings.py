"""No stray library warnings: water change between epochs whose bodies do not overlap raises no Pandas4Warning (the
parents column is built as text from the start), and rasterizing units from dask threads raises no
NotGeoreferencedWarning (rasterio warns it now and then for its temporary in-memory dataset although the transform is
given) while giving the zones that a single thread gives.
"""

from __future__ import annotations

import glob
import warnings

import numpy as np
import pandas as pd
import pytest
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning

from irrmap.core.grid import Grid
from irrmap.core.units import AdminUnits
from irrmap.mapping.water.bodies import body_table
from irrmap.mapping.water.change import match_bodies
from irrmap.mapping.water.labels import label_windowed

from conftest import as_dataarray

HA = Grid("EPSG:6933", Affine(100, 0, 1_000_000, 0, -100, 5_000_000), 20, 30)  # equal-area, 1 ha pixels


def _epoch(mask):
    labels = label_windowed(mask, tile=16).labels.values
    return body_table(labels, grid=HA, tile=16), as_dataarray(labels, HA)


def test_water_change_without_overlap_has_text_parents_and_no_pandas_warning():
    a, b = np.zeros(HA.shape, np.uint8), np.zeros(HA.shape, np.uint8)
    a[2:5, 2:5] = 1  # 9 ha, lost
    b[10:14, 20:24] = 1  # 16 ha, new: no pixel of B overlaps A
    (ta, la), (tb, lb) = _epoch(a), _epoch(b)
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.Pandas4Warning)
        change = match_bodies(ta, la, tb, lb).table.set_index("status")
    assert change.loc["new", "parents"] == "" and change.loc["new", "area_b_km2"] == pytest.approx(0.16)
    assert change.loc["lost", "area_a_km2"] == pytest.approx(0.09)


def test_threaded_rasterize_of_the_chinese_counties_is_quiet_and_equals_one_thread(shared_data):
    files = sorted(glob.glob(str(shared_data / "admin" / "china" / "city_full" / "*.json")))
    units = AdminUnits.read(files, "adcode")
    grid = Grid.from_bounds(73.0, 18.0, 135.0, 54.0, 0.01, "EPSG:4326")
    zones = units.rasterize(grid, chunks=512).data
    one = zones.compute(scheduler="synchronous")
    for _ in range(3):  # the warning came in about one run of three at this size
        with warnings.catch_warnings(record=True) as caught:  # the package's own filters stay in force
            threaded = zones.compute(scheduler="threads", num_workers=2)
        assert not [w for w in caught if issubclass(w.category, NotGeoreferencedWarning)]
        np.testing.assert_array_equal(threaded, one)
