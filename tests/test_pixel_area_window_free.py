"""Pixel areas on a projected grid whose areal scale varies across the grid (UTM) are the same, to the bit, in every
window: the interpolation lattice belongs to the grid, not to the window asked for. It was laid on each window, so a
pixel's area changed (by up to about 1e-9 relative) with the tiling, and per-body water areas summed over tiles
differed in their last digits with --tile (a probe: 5.6e-5 m2). Truth for the values: pyproj.Geod polygon areas of
densified pixel outlines, within the documented 1e-9 (plus Geod's own error)."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod, Transformer
from rasterio.windows import Window

from irrmap.core.grid import Grid, _lattice_for

# 30 m UTM pixels far from the central meridian: the lattice is used (its step is between 1 and 64 pixels)
GRID = Grid.from_bounds(200_000, 4_000_000, 200_000 + 1537 * 30, 4_000_000 + 1031 * 30, 30, "EPSG:32648")


def test_the_grid_uses_a_lattice():
    lattice = _lattice_for(GRID.crs.to_wkt(), tuple(GRID.transform)[:6], GRID.height, GRID.width)
    assert lattice is not None and 1 < np.diff(lattice[0]).max() < GRID.height


@pytest.mark.parametrize("window", [Window(0, 0, 97, 41), Window(37, 999, 500, 32), Window(1500, 500, 37, 531),
                                    Window(13, 7, 1, 1), Window(0, 0, GRID.width, 1)])
def test_a_window_holds_the_full_grids_values(window):
    full = GRID.pixel_area()
    r0, c0 = int(window.row_off), int(window.col_off)
    np.testing.assert_array_equal(GRID.pixel_area(window), full[r0:r0 + int(window.height), c0:c0 + int(window.width)])


def test_tiles_assemble_the_same_array_whatever_the_tile_size():
    full = GRID.pixel_area()
    for tile in (64, 100, 4096):
        out = np.empty(GRID.shape)
        for t in GRID.tiles(tile):
            w = t.window
            out[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)] = GRID.pixel_area(w)
        np.testing.assert_array_equal(out, full)  # so an order-free sum of them is the same bytes for every tiling


def test_values_against_geod():
    geod, to_ll = Geod(ellps="WGS84"), Transformer.from_crs(GRID.crs, "EPSG:4326", always_xy=True)
    full = GRID.pixel_area()
    for r, c in ((0, 0), (517, 800), (GRID.height - 1, GRID.width - 1)):
        x0, y0 = GRID.transform.c + 30 * c, GRID.transform.f - 30 * r
        s = np.linspace(0, 30, 40)
        xs = np.r_[x0 + s, np.full(40, x0 + 30), x0 + 30 - s, np.full(40, x0)]
        ys = np.r_[np.full(40, y0), y0 - s, np.full(40, y0 - 30), y0 - 30 + s]
        area = abs(geod.polygon_area_perimeter(*to_ll.transform(xs, ys))[0])
        assert full[r, c] == pytest.approx(area, rel=1e-8)
