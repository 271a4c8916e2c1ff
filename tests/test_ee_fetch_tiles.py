"""Tiling of Earth Engine computePixels requests: tiles cover the grid exactly once, each request stays under the
documented limits (48 MB uncompressed, 32768 px per side), and each tile's transform is rasterio's transform of
that window (no half-pixel shift)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio.windows
from affine import Affine
from rasterio.crs import CRS

from irrmap.core.errors import ConfigError
from irrmap.core.grid import Grid
from irrmap.sources.ee.tiles import EE_MAX_REQUEST_BYTES, EE_MAX_SIDE, pixel_grid, plan_tiles, request, tile_side

# an origin and pixel size with no short binary form, so an off-by-half or rounding slip shows
GRID = Grid(CRS.from_epsg(4326), Affine(0.0025, 0.0, 110.00125, 0.0, -0.0025, 37.00375), 1003, 1501)


def test_tiles_cover_the_grid_exactly_once():
    tiles = plan_tiles(GRID, 256)
    hits = np.zeros(GRID.shape, int)
    for t in tiles:
        w = t.window
        hits[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)] += 1
        assert w.width <= 256 and w.height <= 256
    assert (hits == 1).all()
    # ceil(1003 / 256) = 4 rows, ceil(1501 / 256) = 6 columns; near-equal tiles: heights 250/251, widths 250/251
    assert len(tiles) == 24
    assert {int(t.window.height) for t in tiles} == {250, 251} and {int(t.window.width) for t in tiles} == {250, 251}


def test_tile_transform_is_rasterios_window_transform():
    for t in plan_tiles(GRID, 300):
        want = rasterio.windows.transform(t.window, GRID.transform)
        a = pixel_grid(GRID, t.window)["affineTransform"]
        got = (a["scaleX"], a["shearX"], a["translateX"], a["shearY"], a["scaleY"], a["translateY"])
        assert got == pytest.approx(tuple(want)[:6], abs=1e-12)
    # the last tile, by hand: ceil(1003 / 300) = 4 rows, ceil(1501 / 300) = 6 columns; rows 752.. (3 * 1003 // 4), cols 1250.. (5 * 1501 // 6)
    last = plan_tiles(GRID, 300)[-1]
    a = pixel_grid(GRID, last.window)["affineTransform"]
    assert (int(last.window.row_off), int(last.window.col_off)) == (752, 1250)
    assert a["translateX"] == pytest.approx(110.00125 + 1250 * 0.0025, abs=1e-12)
    assert a["translateY"] == pytest.approx(37.00375 - 752 * 0.0025, abs=1e-12)


def test_request_payload_fields():
    t = plan_tiles(GRID, 512)[0]
    req = request("EXPR", GRID, t.window)
    assert req["fileFormat"] == "GEO_TIFF" and req["expression"] == "EXPR"
    assert req["grid"]["crsCode"] == "EPSG:4326"
    assert req["grid"]["dimensions"] == {"width": int(t.window.width), "height": int(t.window.height)}
    custom = Grid(CRS.from_proj4("+proj=aea +lat_1=25 +lat_2=47 +lon_0=105 +ellps=WGS84 +units=m"), Affine(250, 0, 0, 0, -250, 0), 10, 10)
    g = pixel_grid(custom, plan_tiles(custom, 8)[0].window)
    assert "crsWkt" in g and "crsCode" not in g and CRS.from_wkt(g["crsWkt"]) == custom.crs


def test_tile_side_stays_under_the_byte_limit():
    # float32 under 32 MiB: isqrt(33554432 / 4) = 2896 (2896^2 * 4 = 33,547,264; 2897^2 * 4 = 33,570,436)
    assert tile_side(4, max_bytes=33_554_432, max_side=EE_MAX_SIDE) == 2896
    # at Earth Engine's own limit, int16: isqrt(48e6 / 2) = 4898 (4898^2 = 23,990,404; 4899^2 = 24,000,201)
    assert tile_side(2, max_bytes=EE_MAX_REQUEST_BYTES, max_side=EE_MAX_SIDE) == 4898
    assert tile_side(1, max_bytes=EE_MAX_REQUEST_BYTES, max_side=2048) == 2048
    big = Grid(CRS.from_epsg(4326), Affine(0.00225, 0, 73, 0, -0.00225, 54), 16000, 28000)  # China at 250 m
    side = tile_side(4)
    for t in plan_tiles(big, side):
        assert t.pixels * 4 <= 48_000_000 and max(t.window.width, t.window.height) <= 32_768


@pytest.mark.parametrize("kw, key", [({"max_bytes": 48_000_001}, "max_request_bytes"), ({"max_side": 32_769}, "tile_size"),
                                     ({"max_bytes": 3}, "max_request_bytes")])
def test_limits_beyond_earth_engines_are_refused(kw, key):
    with pytest.raises(ConfigError) as err:
        tile_side(4, **kw)
    assert f"[sources.ee].{key}" in str(err.value)
