"""Labels that state what is true of the run's grid.

1. mapping/irrigated_area_1km.tif sums [mapping].aggregate_factor x aggregate_factor pixels, so its cells are 1 km
   only at 4 x 250 m. The report called it "1 km area" on any grid: 4 km cells on a 1 km UTM grid, about 875 m on a
   0.00225 degree grid at 40 N. Its label now gives the true cell size, and the mapping stage warns when the default
   factor misses 1 km. Truth: pixel areas by pyproj.Geod's polygon area of the pixel's corners (tests/geod_truth.py
   for lon/lat; corners projected back with pyproj for UTM and Web Mercator).
2. A share rounded for a message to 100 % (or 0 %) contradicted the claim next to it: a unit 0.99999 on the grid
   "lies only partly on the grid (630405 100% on the grid)". irrmap.core.share_text.percent_text adds digits
   instead (hand-computed values below).
"""

from __future__ import annotations

import logging
import math
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from geod_truth import geodesic_row_areas
from pyproj import Geod, Transformer

from irrmap.core.config import MappingSection
from irrmap.core.grid import Grid


def _geod_pixel_side(grid: Grid, rows, cols) -> float:
    """Side (m) of the mean Geod area of the given pixels of a projected grid (corners projected to lon/lat)."""
    to_ll = Transformer.from_crs(grid.crs.to_wkt(), "EPSG:4326", always_xy=True)
    t, geod, areas = grid.transform, Geod(ellps="WGS84"), []
    for r in rows:
        for c in cols:
            xs = [t.c + t.a * c, t.c + t.a * (c + 1), t.c + t.a * (c + 1), t.c + t.a * c]
            ys = [t.f + t.e * (r + 1), t.f + t.e * (r + 1), t.f + t.e * r, t.f + t.e * r]
            lon, lat = to_ll.transform(xs, ys)
            areas.append(abs(geod.polygon_area_perimeter(lon, lat)[0]))
    return math.sqrt(float(np.mean(areas)))


def _ctx(grid: Grid, mapping: MappingSection):
    return SimpleNamespace(grid=grid, config=SimpleNamespace(mapping=mapping, training=None))


def _numbers(label: str) -> tuple[float, float]:
    """(cell m, pixel m) from 'irrigated area at about 875 m (4 x 219 m pixels)'."""
    m = re.fullmatch(r"irrigated area at about ([0-9.]+) (m|km) \((\d+) x ([0-9.]+) (m|km) pixels\)", label)
    assert m, label
    scale = {"m": 1.0, "km": 1000.0}
    return float(m.group(1)) * scale[m.group(2)], float(m.group(4)) * scale[m.group(5)]


def test_report_names_4_km_cells_on_a_1_km_utm_grid():
    from irrmap.app.stages.report_context import run_outputs

    grid = Grid.from_bounds(500000, 4400000, 540000, 4440000, 1000, "EPSG:32650")  # 40 x 40 km at 40 N, zone 50
    side = _geod_pixel_side(grid, range(0, 40, 13), range(0, 40, 13))
    assert side == pytest.approx(1000.0, abs=0.6)  # UTM's scale error: 1000.4 m true, "1 km" to 3 digits
    labels = {path: what for what, path in run_outputs(_ctx(grid, MappingSection()))}
    # old code: "1 km area"
    assert labels["mapping/irrigated_area_1km.tif"] == "irrigated area at about 4 km (4 x 1 km pixels)"


def test_report_names_the_cell_size_on_a_0_00225_degree_grid():
    from irrmap.app.stages.report_context import run_outputs

    grid = Grid.from_bounds(100.0, 40.0, 100.45, 40.45, 0.00225, "EPSG:4326")  # 200 x 200 pixels
    side = math.sqrt(float(np.mean(geodesic_row_areas(100.0, 40.45, 0.00225, grid.height))))  # 218.7 m
    label = {path: what for what, path in run_outputs(_ctx(grid, MappingSection()))}["mapping/irrigated_area_1km.tif"]
    cell, pixel = _numbers(label)  # old code: "1 km area"
    assert pixel == pytest.approx(side, rel=0.005) and cell == pytest.approx(4 * side, rel=0.005)
    assert label == "irrigated area at about 875 m (4 x 219 m pixels)"


def test_mapping_stage_warns_when_the_default_factor_is_not_1_km(caplog):
    from irrmap.app.stages import mapping

    # Web Mercator at 60 N: a nominal 250 m pixel is about 125 m on the ground (cos 60), so 4 x 4 pixels are 500 m
    y60 = 6378137.0 * math.log(math.tan(math.radians(45 + 30)))
    grid = Grid.from_bounds(1.0e6, y60 - 50000, 1.05e6, y60 + 50000, 250, "EPSG:3857")
    side = _geod_pixel_side(grid, range(0, grid.height, 97), range(0, grid.width, 67))
    best = round(1000 / side)
    assert best == 8
    with caplog.at_level(logging.INFO):
        mapping._log_area_cells(_ctx(grid, MappingSection()))  # old code: no such check, nothing said
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    cell = float(re.search(r"cells of about ([0-9.]+) m, not 1 km", warned[0]).group(1))
    assert cell == pytest.approx(4 * side, rel=0.005) and "[mapping].aggregate_factor = 8" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.INFO):  # a factor the user set is their choice of cell: said, not warned about
        mapping._log_area_cells(_ctx(grid, MappingSection(aggregate_factor=4)))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    label = re.search(r"irrigated area at about .* pixels\)", caplog.text).group(0)
    cell, pixel = _numbers(label)
    assert pixel == pytest.approx(side, rel=0.005) and cell == pytest.approx(4 * side, rel=0.005)


def test_no_warning_at_4_x_250_m_utm(caplog):
    from irrmap.app.stages import mapping

    grid = Grid.from_bounds(500000, 4400000, 510000, 4410000, 250, "EPSG:32650")
    with caplog.at_level(logging.INFO):
        mapping._log_area_cells(_ctx(grid, MappingSection()))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "irrigated area at about 1 km (4 x 250 m pixels)" in caplog.text


@pytest.mark.parametrize(("share", "text"), [
    (0.99999, "99.999 %"),  # 99.999: 1 decimal would round it to 100.0
    (1e-6, "0.0001 %"),  # 0.0001 %: 1 decimal would round it to 0.0
    (0.5, "50.0 %"),
    (1.0, "100.0 %"),
    (0.0, "0.0 %"),
    (1e-9, "< 0.0001 %"),  # past 4 decimals: a bound, still true
    (1 - 1e-9, "> 99.9999 %"),
])
def test_share_text(share, text):
    from irrmap.core.share_text import percent_text

    assert percent_text(share) == text


def test_share_text_styles_keep_their_digits_away_from_0_and_100():
    from irrmap.core.share_text import percent_text

    assert percent_text(0.6666666, sig=4, sep="") == "66.67%"  # the units stage's old "{:.4g}%"
    assert percent_text(0.061, sig=4, sep="") == "6.1%"
    assert percent_text(0.99999, sig=4, sep="") == "99.999%"
    assert percent_text(1 / 500, 0, sep="") == "0.2%"  # 1 of 500 points: "0%" before
    assert percent_text(float("nan")) == "n/a"
    rng = np.random.default_rng(0)
    for share in np.concatenate([rng.uniform(0, 1e-3, 200), 1 - rng.uniform(0, 1e-3, 200)]):
        for kw in ({}, {"decimals": 0}, {"sig": 3}, {"sig": 4}):
            shown = percent_text(share, **kw)
            number = float(re.search(r"[0-9.]+", shown).group(0))
            assert 0 < number < 100 or shown.startswith(("<", ">")), (share, kw, shown)


def test_units_stage_message_shows_a_unit_0_99999_on_the_grid_as_not_whole(caplog):
    """The probe's case: a county of a sinusoidal grid 0.99999 on it (4,813 m2 off) was "100% on the grid"."""
    from irrmap.app.stages.units import _report

    table = pd.DataFrame({"code": ["630405", "630406"], "partial": [True, False], "on_grid_share": [0.99999, 1.0],
                          "area_check": ["ok", "ok"], "grid_area_m2": [4.8e8, 5e8], "on_grid_area_m2": [4.8e8, 5e8]})
    with caplog.at_level(logging.WARNING):
        _report(table, "scale")
    assert "1 units lie only partly on the grid (630405 99.999% on the grid)" in caplog.text  # old: "630405 100% on the grid"


def test_thresholds_message_on_partial_units(caplog):
    from irrmap.core.partial_units import warn_partial

    rows = pd.DataFrame({"code": ["630405"], "share": [0.99999], "basis": ["cropland"], "action": ["scaled"]})
    with caplog.at_level(logging.WARNING):
        warn_partial(rows, "scale", "training/partial_units.csv")
    assert "(630405 99.999% of cropland on the grid)" in caplog.text  # old: "630405 100% of cropland"
