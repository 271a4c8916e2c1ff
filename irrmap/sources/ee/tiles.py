"""Split a run's Grid into Earth Engine computePixels requests that stay under the service's request limits.

Earth Engine documents for `projects.image.computePixels` (REST reference, "Method: projects.image.computePixels"):
"Requests are limited to 48MB in uncompressed data per request, computed as the product of the request dimensions
in pixels, the number of image bands requested, and the number of bytes per pixel for each band. Requests are also
limited to at most 32K pixels in either dimension and at most 1024 bands." A request over them fails with HTTP 400.

Every tile is requested in the Grid's own CRS with the Grid's transform offset by the tile's window (pixel corner,
no half-pixel shift), so its pixels are exactly the Grid's pixels: no resampling happens on the client.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from affine import Affine
from rasterio.windows import Window

from irrmap.core.errors import ConfigError
from irrmap.core.grid import Grid

# The documented limits (see the module docstring). "48MB" is read as 48,000,000 bytes, the smaller of its two
# readings (48 * 2**20 is 50,331,648), so a request under it is under either.
EE_MAX_REQUEST_BYTES = 48_000_000
EE_MAX_SIDE = 32_768


@dataclass(frozen=True)
class Tile:
    """One request: `window` (rows/cols of the Grid) and its position `row`, `col` in the tile layout."""

    row: int
    col: int
    window: Window

    @property
    def name(self) -> str:
        """File stem of the tile: its window's pixel offsets, e.g. r000000_c002048."""
        return f"r{int(self.window.row_off):06d}_c{int(self.window.col_off):06d}"

    @property
    def pixels(self) -> int:
        return int(self.window.width * self.window.height)


def tile_side(bytes_per_pixel: int, *, bands: int = 1, max_bytes: int = EE_MAX_REQUEST_BYTES, max_side: int = EE_MAX_SIDE) -> int:
    """The largest square tile edge (pixels) whose request of `bands` bands of `bytes_per_pixel` bytes stays
    within `max_bytes` and `max_side`; ConfigError when the limits are beyond Earth Engine's or leave no pixel."""
    if not 0 < max_bytes <= EE_MAX_REQUEST_BYTES:
        raise ConfigError(f"max_request_bytes {max_bytes} is outside 1 .. {EE_MAX_REQUEST_BYTES:,} (Earth Engine's computePixels limit)",
                          "[sources.ee].max_request_bytes", f"use at most {EE_MAX_REQUEST_BYTES}")
    if not 0 < max_side <= EE_MAX_SIDE:
        raise ConfigError(f"tile_size {max_side} is outside 1 .. {EE_MAX_SIDE} (Earth Engine's computePixels limit per side)",
                          "[sources.ee].tile_size", f"use at most {EE_MAX_SIDE}")
    side = min(max_side, math.isqrt(max_bytes // (bytes_per_pixel * bands)))
    if side < 1:
        raise ConfigError(f"max_request_bytes {max_bytes} holds not one pixel of {bands} band(s) x {bytes_per_pixel} bytes",
                          "[sources.ee].max_request_bytes", "raise it")
    return side


def tile_cuts(n: int, side: int) -> list[int]:
    """Pixel offsets cutting `n` pixels into ceil(n / side) near-equal parts (first 0, last n)."""
    parts = -(-n // side)
    return [k * n // parts for k in range(parts + 1)]


def tile_count(grid: Grid, side: int) -> int:
    """How many tiles plan_tiles(grid, side) gives, without making them."""
    return -(-grid.height // side) * -(-grid.width // side)


def plan_tiles(grid: Grid, side: int) -> list[Tile]:
    """Tiles covering `grid` exactly once, row-major, each at most `side` x `side` pixels: the grid is cut into
    ceil(height / side) x ceil(width / side) tiles of near-equal size (edges differ by at most one pixel)."""
    rows, cols = tile_cuts(grid.height, side), tile_cuts(grid.width, side)
    return [Tile(i, j, Window(cols[j], rows[i], cols[j + 1] - cols[j], rows[i + 1] - rows[i]))
            for i in range(len(rows) - 1) for j in range(len(cols) - 1)]


# A tile is wanted when the region overlaps its inside by more than this fraction of a pixel: a region that only
# shares an edge or a corner with a tile (or overlaps it by a rounding sliver of the transform) leaves it out.
EDGE_EPS_PX = 1e-6


def region_mask(grid: Grid, side: int, region):
    """Boolean array, row-major like plan_tiles(grid, side): whether each tile's inside overlaps `region` (a shapely
    geometry in the grid's CRS; None: every tile). Tiles sharing only an edge or a corner with the region are not
    wanted. Vectorised (shapely 2): a planet-wide grid of 200,000 tiles takes well under a second."""
    import numpy as np
    import shapely

    rows, cols = np.asarray(tile_cuts(grid.height, side), float), np.asarray(tile_cuts(grid.width, side), float)
    if region is None:
        return np.ones((len(rows) - 1) * (len(cols) - 1), bool)
    r0, c0 = np.meshgrid(rows[:-1] + EDGE_EPS_PX, cols[:-1] + EDGE_EPS_PX, indexing="ij")
    r1, c1 = np.meshgrid(rows[1:] - EDGE_EPS_PX, cols[1:] - EDGE_EPS_PX, indexing="ij")
    t = grid.transform
    corners = [(c, r) for c, r in ((c0, r0), (c1, r0), (c1, r1), (c0, r1), (c0, r0))]
    xy = np.stack([np.stack([t.a * c + t.b * r + t.c, t.d * c + t.e * r + t.f], axis=-1) for c, r in corners], axis=-2)
    boxes = shapely.polygons(xy.reshape(-1, 5, 2))
    shapely.prepare(region)
    return shapely.intersects(region, boxes)


def tile_transform(grid: Grid, window: Window) -> Affine:
    """The affine transform of a window of the grid: the grid's transform with its origin moved to the
    window's top-left pixel corner (exact; no half-pixel offset)."""
    return grid.transform * Affine.translation(window.col_off, window.row_off)


def crs_field(grid: Grid) -> dict:
    """The PixelGrid CRS: {'crsCode': 'EPSG:n'} when the CRS is an EPSG code, else {'crsWkt': WKT}."""
    auth = grid.crs.to_authority()
    if auth is not None and auth[0] == "EPSG":
        return {"crsCode": f"EPSG:{auth[1]}"}
    return {"crsWkt": grid.crs.to_wkt()}


def pixel_grid(grid: Grid, window: Window) -> dict:
    """Earth Engine's PixelGrid for a window: dimensions, affineTransform (the window's exact transform in the
    grid's CRS units) and the CRS (REST reference, "PixelGrid")."""
    t = tile_transform(grid, window)
    return {
        "dimensions": {"width": int(window.width), "height": int(window.height)},
        "affineTransform": {"scaleX": t.a, "shearX": t.b, "translateX": t.c, "shearY": t.d, "scaleY": t.e, "translateY": t.f},
        **crs_field(grid),
    }


def request(expression, grid: Grid, window: Window) -> dict:
    """The `ee.data.computePixels` payload of one tile: the (single-band) expression as a GeoTIFF on the tile."""
    return {"expression": expression, "fileFormat": "GEO_TIFF", "grid": pixel_grid(grid, window)}
