"""Per-unit cropland sums and shares (irrmap.core.coverage.cropland_share) and zonal areas (irrmap.core.zonal.zonal_area)
are the same to the bit whatever the tile size ([run].chunk_size): summed in fixed point (irrmap.core.fixed_sum), and
equal to math.fsum of pixel area x cropland with pixel areas from pyproj.Geod."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pytest
import xarray as xr
from rasterio.windows import Window
from shapely.geometry import box

from irrmap.core.coverage import cropland_share
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.core.units import AdminUnits
from irrmap.core.zonal import zonal_area
from tests.geod_truth import densified_pixel_area

RES, LEFT, TOP = 0.005, 0.1, 0.6  # the grid: 0.1..0.6 E x 0.1..0.6 N, 100 x 100 pixels
# unit boxes on pixel edges: 130101 cut by the left edge, 130102 by the bottom, 130103 inside, 130104 by the right and top
BOXES = {"130101": (0.0, 0.2, 0.3, 0.45), "130102": (0.3, 0.05, 0.55, 0.3), "130103": (0.2, 0.45, 0.5, 0.58),
         "130104": (0.5, 0.4, 0.7, 0.65)}


def _fraction(i, j):
    """Cropland fraction 0..1 of the pixel in column i, row j (counted from the grid's top-left pixel, any sign)."""
    return (i * 0.6180339887498949 + j * 0.41421356237309515) % 1.0


def _read_cropland(g: Grid) -> xr.DataArray:
    i = np.rint((g.x_coords() - LEFT) / RES - 0.5).astype(int)
    j = np.rint((TOP - g.y_coords()) / RES - 0.5).astype(int)
    return xr.DataArray(_fraction(i[None, :], j[:, None]), dims=("y", "x"))


def _row_area(j: int) -> float:
    """Ellipsoidal area (m2) of a pixel in row j as drawn (tests.geod_truth.densified_pixel_area)."""
    return densified_pixel_area(LEFT, TOP, RES, j)


def _truth(x0, y0, x1, y1):
    """(cropland m2 of the whole unit, of its part on the grid): math.fsum of Geod pixel area x fraction."""
    cols = range(round((x0 - LEFT) / RES), round((x1 - LEFT) / RES))
    rows = range(round((TOP - y1) / RES), round((TOP - y0) / RES))
    terms = [(_row_area(j) * _fraction(i, j), 0 <= i < 100 and 0 <= j < 100) for j in rows for i in cols]
    return math.fsum(t for t, _ in terms), math.fsum(t for t, on in terms if on)


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("tile_free")
    gpd.GeoDataFrame({"code": list(BOXES)}, geometry=[box(*b) for b in BOXES.values()], crs="EPSG:4326").to_file(d / "u.gpkg")
    return AdminUnits.read(d / "u.gpkg", "code"), Grid.from_bounds(LEFT, 0.1, 0.6, TOP, RES, "EPSG:4326"), d


def test_cropland_shares_are_the_same_bits_whatever_the_tile(case):
    units, grid, _ = case
    tables = {t: cropland_share(units, grid, list(BOXES), _read_cropland, tile=t) for t in (7, 64, 100, 1024)}
    whole = tables[1024]  # the extended grid is 140 x 120 pixels: one tile
    for t, table in tables.items():
        for col in ("cropland_m2", "on_grid_cropland_m2", "known_share", "cropland_share"):
            assert table[col].to_numpy().tobytes() == whole[col].to_numpy().tobytes(), (t, col)
    for code, b in BOXES.items():
        total, on = _truth(*b)
        assert whole.loc[code, "cropland_m2"] == pytest.approx(total, rel=1e-9)
        assert whole.loc[code, "on_grid_cropland_m2"] == pytest.approx(on, rel=1e-9)
        assert whole.loc[code, "cropland_share"] == pytest.approx(on / total, rel=1e-9)
        assert whole.loc[code, "known_share"] == 1.0
    assert whole.loc["130103", "cropland_share"] == 1.0


def test_cropland_sums_match_fsum_of_the_grids_pixel_areas(case):
    """Against math.fsum of the very terms (grid.pixel_area x fraction): each term is rounded to 2**-32 m2 at most
    half a unit, so the sum is within n x 2**-33 m2 of the exact one."""
    units, grid, _ = case
    table = cropland_share(units, grid, list(BOXES), _read_cropland, tile=7)
    for code, (x0, y0, x1, y1) in BOXES.items():
        cols = np.arange(round((x0 - LEFT) / RES), round((x1 - LEFT) / RES))
        rows = np.arange(round((TOP - y1) / RES), round((TOP - y0) / RES))
        ext = grid.window_grid(_window(cols, rows))
        terms = (np.asarray(ext.pixel_area()) * _fraction(cols[None, :], rows[:, None])).ravel()
        assert abs(table.loc[code, "cropland_m2"] - math.fsum(terms)) <= terms.size * 2.0**-33 + 1e-12 * math.fsum(terms)


def _window(cols, rows):
    return Window(int(cols[0]), int(rows[0]), len(cols), len(rows))


def test_zonal_areas_are_the_same_bits_whatever_the_tile(case):
    units, grid, d = case
    zones = write_raster(d / "zones.tif", units.rasterize(grid), nodata=0, dtype="int32", cog=False)
    weights = lambda w: _read_cropland(grid.window_grid(w)).values
    for wt in (weights, None):  # None last: `sums` below are areas
        sums = {t: zonal_area(zones, len(units), weights=wt, tile=t) for t in (7, 64, 100, 2048)}
        for t, s in sums.items():
            assert s.tobytes() == sums[2048].tobytes(), (t, wt)
    # the area of unit 130103 (wholly on the grid): fsum of its Geod pixel areas
    x0, y0, x1, y1 = BOXES["130103"]
    ncols = round((x1 - LEFT) / RES) - round((x0 - LEFT) / RES)
    truth = math.fsum(_row_area(j) * ncols for j in range(round((TOP - y1) / RES), round((TOP - y0) / RES)))
    assert sums[2048][1 + list(BOXES).index("130103")] == pytest.approx(truth, rel=1e-9)
