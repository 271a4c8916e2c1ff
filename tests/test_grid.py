"""Grid: true pixel areas against pyproj.Geod polygon areas, tiling, spacing."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod, Transformer

from irrmap.core.errors import GridError
from irrmap.core.grid import Grid

WGS84 = Geod(ellps="WGS84")


def _outline(left, bottom, right, top, n):
    """A lon/lat rectangle densified along its parallels so Geod's geodesic edges follow them."""
    lons = np.concatenate([np.linspace(left, right, n), np.full(n, right), np.linspace(right, left, n), np.full(n, left)])
    lats = np.concatenate([np.full(n, bottom), np.linspace(bottom, top, n), np.full(n, top), np.linspace(top, bottom, n)])
    return lons, lats


def test_geographic_region_area_matches_geod():
    grid = Grid.from_bounds(100.0, 38.0, 102.0, 41.0, 0.00225, "EPSG:4326")
    area, _ = WGS84.polygon_area_perimeter(*_outline(*grid.bounds, 4000))
    assert abs(grid.total_area() / abs(area) - 1) < 1e-6
    # and summing the per-pixel array (not just the row formula) gives the same
    assert abs(sum(grid.pixel_area(t.window).sum() for t in grid.tiles(500)) / abs(area) - 1) < 1e-6


def test_one_pixel_at_40n_matches_geod():
    grid = Grid.from_bounds(116.0, 40.0, 116.00225, 40.00225, 0.00225, "EPSG:4326")
    assert grid.shape == (1, 1)
    area, _ = WGS84.polygon_area_perimeter(*_outline(*grid.bounds, 200))
    assert grid.pixel_area()[0, 0] == pytest.approx(abs(area), rel=1e-7)
    assert 40_000 < grid.pixel_area()[0, 0] < 50_000  # ~ 250 m x 190 m


def test_pixel_area_shrinks_with_latitude():
    grid = Grid.from_bounds(100.0, 18.0, 100.00225, 54.0, 0.00225, "EPSG:4326")
    rows = grid.row_areas()
    assert np.all(np.diff(rows) > 0)  # rows run north to south, areas grow toward the equator
    assert rows[0] / rows[-1] == pytest.approx(np.cos(np.radians(54)) / np.cos(np.radians(18)), rel=0.01)


def test_utm_pixel_area_is_geodesic():
    grid = Grid.from_bounds(300_000, 4_400_000, 301_000, 4_401_000, 250.0, "EPSG:32612")
    assert not grid.equal_area
    tr = Transformer.from_crs("EPSG:32612", "EPSG:4326", always_xy=True)
    areas = grid.pixel_area()
    for r, c in [(0, 0), (3, 2)]:
        x0, y1 = grid.transform * (c, r)
        x1, y0 = grid.transform * (c + 1, r + 1)
        n = 50
        xs = np.concatenate([np.linspace(x0, x1, n), np.full(n, x1), np.linspace(x1, x0, n), np.full(n, x0)])
        ys = np.concatenate([np.full(n, y0), np.linspace(y0, y1, n), np.full(n, y1), np.linspace(y1, y0, n)])
        lon, lat = tr.transform(xs, ys)
        geod_area, _ = WGS84.polygon_area_perimeter(lon, lat)
        assert areas[r, c] == pytest.approx(abs(geod_area), rel=1e-6)
    assert not np.allclose(areas, 62_500.0, rtol=1e-6)  # UTM is not equal-area: |det| alone would be wrong


def test_equal_area_projection_is_constant():
    grid = Grid.from_bounds(0, 4_000_000, 5000, 4_005_000, 250.0, "EPSG:6933")
    assert grid.equal_area
    assert np.all(grid.pixel_area() == 62_500.0)


def test_modis_sinusoidal_is_equal_area_on_its_sphere_only():
    """MODIS sinusoidal projects WGS84 lon/lat with the formulas of a sphere: equal-area on that sphere, not
    on WGS84, where a pixel at 39 N is 0.016 % larger than |det| (was: equal_area, |det|, the sphere's area)."""
    sinu = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
    grid = Grid.from_bounds(10_000_000, 4_000_000, 10_010_000, 4_010_000, 231.65635826395825, sinu)
    assert not grid.equal_area
    t = grid.transform
    xs = np.r_[np.linspace(t.c, t.c + t.a, 50), np.full(50, t.c + t.a), np.linspace(t.c + t.a, t.c, 50), np.full(50, t.c)]
    ys = np.r_[np.full(50, t.f + t.e), np.linspace(t.f + t.e, t.f, 50), np.full(50, t.f), np.linspace(t.f, t.f + t.e, 50)]
    area, _ = WGS84.polygon_area_perimeter(*Transformer.from_crs(sinu, "+proj=longlat +R=6371007.181", always_xy=True).transform(xs, ys))
    assert grid.pixel_area()[0, 0] == pytest.approx(abs(area), rel=1e-7)
    assert abs(grid.pixel_area()[0, 0] / 231.65635826395825**2 - 1) > 1e-4


def test_tiles_cover_grid_once_and_halo_is_clipped():
    grid = Grid.from_bounds(0, 0, 1.0, 0.7, 0.01, "EPSG:4326")  # 70 x 100
    count = np.zeros(grid.shape, dtype=int)
    for t in grid.tiles((32, 40), halo=3):
        w, rd = t.window, t.read
        count[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width] += 1
        block = np.arange(grid.size).reshape(grid.shape)[rd.row_off:rd.row_off + rd.height, rd.col_off:rd.col_off + rd.width]
        core = np.arange(grid.size).reshape(grid.shape)[w.row_off:w.row_off + w.height, w.col_off:w.col_off + w.width]
        assert np.array_equal(block[t.inner], core)
        assert rd.row_off >= 0 and rd.col_off >= 0 and rd.row_off + rd.height <= grid.height
    assert np.all(count == 1)


def test_ground_spacing_matches_geod_inv():
    grid = Grid.from_bounds(100.0, 39.0, 100.0225, 41.0, 0.00225, "EPSG:4326")
    dx, dy = grid.ground_spacing()
    lat = grid.y_coords()
    _, _, ex = WGS84.inv(np.zeros_like(lat), lat, np.full_like(lat, 0.00225), lat)
    np.testing.assert_allclose(dx, ex, rtol=1e-12)
    assert dy.min() > 249 and dy.max() < 251 and dx[0] < dx[-1]  # north rows narrower


def test_lonlat_of_projected_grid():
    grid = Grid.from_bounds(500_000, 4_400_000, 501_000, 4_401_000, 250.0, "EPSG:32650")
    lon, lat = grid.lonlat()
    assert lon.shape == (4, 4)
    assert lon[0, 0] == pytest.approx(117.0, abs=0.01) and 39.7 < lat[0, 0] < 39.8


def test_bad_grids_are_refused():
    with pytest.raises(GridError, match="bounds"):
        Grid.from_bounds(1, 0, 0, 1, 0.1, "EPSG:4326")
    with pytest.raises(GridError, match="resolution"):
        Grid.from_bounds(0, 0, 1, 1, -0.1, "EPSG:4326")


def test_dict_roundtrip_and_window_grid():
    grid = Grid.from_bounds(100.0, 39.0, 101.0, 40.0, 0.00225, "EPSG:4326")
    assert Grid.from_dict(grid.to_dict()).aligned_with(grid)
    from rasterio.windows import Window

    sub = grid.window_grid(Window(10, 20, 30, 40))
    assert sub.shape == (40, 30)
    np.testing.assert_allclose(sub.pixel_area(), grid.pixel_area(Window(10, 20, 30, 40)))
