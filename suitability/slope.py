"""Terrain slope by Horn's 3x3 method, the same numbers as `gdaldem slope` on projected grids.

Edges follow `gdaldem -compute_edges`: outside rows/columns are extrapolated linearly (2*edge - inner),
corners of the first and last rows reuse the edge column, and a missing (NaN) neighbour takes the centre
value; a missing centre gives NaN. Chunked data are processed with a one-pixel halo.

Spacing is the true ground spacing on the CRS's reference ellipsoid (WGS84 for MODIS sinusoidal's sphere), by
the grid's spacing model (irrmap.core.ground): planar grids (UTM inside its zone) use the pixel size in metres,
as gdaldem does; graticule grids (geographic, Web Mercator and other cylindrical projections) give each row its
own spacing (east-west spacing of the row above, the row and the row below in their own terms of Horn's sum); on general
grids (MODIS sinusoidal, conic, azimuthal) Horn's differences along the array's rows and columns are turned
into the ground gradient with the pixel's own metric, so a plane on the ground has its own slope even where
rows and columns are not perpendicular on the ground. Pixels off the Earth (the corners of a sinusoidal
tile) are NaN.
"""

from __future__ import annotations

import functools

import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr
from numba import njit
from rasterio.windows import Window

from irrmap.core.array_input import raster_arg
from irrmap.core.grid import Grid
from irrmap.core.ground import ground_metric
from irrmap.core.halo import map_with_halo


@njit(cache=True, inline="always")
def _interp(a, b):
    """gdaldem's INTERPOL: the value one step beyond `a` away from `b`; missing if either is missing."""
    if np.isnan(a) or np.isnan(b):
        return np.nan
    return 2.0 * a - b


@njit(cache=True, nogil=True)
def _horn(z, inner_r0, inner_c0, out_h, out_w, at_top, at_bottom, at_left, at_right,
          inv_dx, inv_dy, metric, compute_edges, percent, z_factor):
    """Slope of the `out_h` x `out_w` block starting at (inner_r0, inner_c0) of `z` (block plus halo).

    Spacing per row (planar and graticule grids): `inv_dx[k]`, `inv_dy[k]` are 1/(8*spacing) for row k of
    `z` extended by one virtual row above and below (index k+1). Spacing per pixel (general grids):
    `metric` (3, out_h, out_w) holds each output pixel's inverse metric (G, -2F, E) / (EG - F^2) (NaN off
    the Earth), and the ground gradient is |grad z|^2 = m0*zc^2 + m1*zc*zr + m2*zr^2 with Horn's
    differences per column step (zc) and per row step (zr); it is empty (3, 0, 0) on the other grids.
    `at_*` say whether z's first/last row/column is a grid edge.
    """
    H, W = z.shape
    per_pixel = metric.shape[1] > 0
    out = np.empty((out_h, out_w), dtype=np.float32)
    win = np.empty(9, dtype=np.float64)
    for oi in range(out_h):
        i = inner_r0 + oi
        top = at_top and i == 0
        bottom = at_bottom and i == H - 1
        for oj in range(out_w):
            j = inner_c0 + oj
            left = at_left and j == 0
            right = at_right and j == W - 1
            c = z[i, j]
            if np.isnan(c) or H < 2 or W < 2 or (not compute_edges and (top or bottom or left or right)):
                out[oi, oj] = np.nan
                continue
            if top or bottom:
                jm = j if left else j - 1
                jp = j if right else j + 1
                if top:
                    for k, jj in enumerate((jm, j, jp)):
                        win[k] = _interp(z[i, jj], z[i + 1, jj])
                        win[3 + k] = z[i, jj]
                        win[6 + k] = z[i + 1, jj]
                else:
                    for k, jj in enumerate((jm, j, jp)):
                        win[k] = z[i - 1, jj]
                        win[3 + k] = z[i, jj]
                        win[6 + k] = _interp(z[i, jj], z[i - 1, jj])
            else:
                for k in range(3):
                    ii = i - 1 + k
                    win[3 * k + 1] = z[ii, j]
                    win[3 * k] = _interp(z[ii, j], z[ii, j + 1]) if left else z[ii, j - 1]
                    win[3 * k + 2] = _interp(z[ii, j], z[ii, j - 1]) if right else z[ii, j + 1]
            for k in range(9):
                if np.isnan(win[k]):
                    if not compute_edges:
                        win[k] = np.nan
                        break
                    win[k] = c
            if np.isnan(win[0] + win[1] + win[2] + win[3] + win[5] + win[6] + win[7] + win[8]):
                out[oi, oj] = np.nan
                continue
            if per_pixel:
                zc = ((win[2] + 2.0 * win[5] + win[8]) - (win[0] + 2.0 * win[3] + win[6])) * 0.125
                zr = ((win[6] + 2.0 * win[7] + win[8]) - (win[0] + 2.0 * win[1] + win[2])) * 0.125
                g = np.sqrt(max(metric[0, oi, oj] * zc * zc + metric[1, oi, oj] * zc * zr + metric[2, oi, oj] * zr * zr, 0.0)) * z_factor
            else:
                # rows i-1, i, i+1 of z are rows i, i+1, i+2 of the spacing arrays
                gx = ((win[0] - win[2]) * inv_dx[i] + 2.0 * (win[3] - win[5]) * inv_dx[i + 1] + (win[6] - win[8]) * inv_dx[i + 2])
                gy = ((win[6] + 2.0 * win[7] + win[8]) - (win[0] + 2.0 * win[1] + win[2])) * inv_dy[i + 1]
                g = np.sqrt(gx * gx + gy * gy) * z_factor
            out[oi, oj] = 100.0 * g if percent else np.degrees(np.arctan(g))
    return out


def _slope_block(values, window, inner, *, grid: Grid, compute_edges: bool, percent: bool, z_factor: float):
    """Kernel adapter for map_with_halo: the ground spacing of the block's rows (plus one virtual row each
    side) on planar and graticule grids, each output pixel's metric on general grids."""
    r0, c0 = int(window.row_off), int(window.col_off)
    h, w = values.shape
    out_h, out_w = inner[0].stop - inner[0].start, inner[1].stop - inner[1].start
    if grid.metric_kind == "general":
        E, F, G = ground_metric(grid, Window(c0 + inner[1].start, r0 + inner[0].start, out_w, out_h))
        det = E * G - F * F
        metric = np.stack([G / det, -2.0 * F / det, E / det])
        inv_dx = inv_dy = np.empty(0)
    else:
        dx, dy = grid.ground_spacing(Window(0, r0 - 1, 1, h + 2))
        metric, inv_dx, inv_dy = np.empty((3, 0, 0)), 1.0 / (8.0 * dx), 1.0 / (8.0 * dy)
    # float32 and float64 blocks go to the kernel as they are (it widens each value to float64 exactly, so the
    # result is the same as from a float64 copy, without allocating and touching one per block)
    z = np.ascontiguousarray(values, dtype=values.dtype if values.dtype in (np.float32, np.float64) else np.float64)
    return _horn(
        z, inner[0].start, inner[1].start, out_h, out_w,
        r0 == 0, r0 + h == grid.height, c0 == 0, c0 + w == grid.width,
        inv_dx, inv_dy, metric, compute_edges, percent, float(z_factor),
    )


def slope(dem: xr.DataArray, *, percent: bool = False, compute_edges: bool = True, z_factor: float = 1.0) -> xr.DataArray:
    """Slope of a DEM (metres; NaN = missing) in degrees, or percent with `percent=True`, as float32.

    `z_factor` converts elevation units to metres (0.3048 for feet). `compute_edges=False` leaves the
    outermost pixels and pixels next to missing values NaN, like gdaldem without -compute_edges.
    Grids smaller than 2 x 2 give NaN (gdaldem writes nothing useful there either).

    `dem`: a DataArray (y, x) with a CRS and transform; its declared nodata (`.rio.nodata`, `_FillValue`,
    `missing_value`, `nodata` attributes) is missing and an undecoded `scale_factor`/`add_offset` is applied
    (irrmap.core.array_input). Raises ArgumentTypeError (a TypeError) / ArgumentValueError (a ValueError), both
    InputErrors, for another type, other dims, no CRS or no transform.
    """
    dem = raster_arg(dem, "dem", "slope")
    grid = Grid.from_dataarray(dem)
    data = dem.data
    if not np.issubdtype(data.dtype, np.floating):
        data = data.astype(np.float32)
    kernel = functools.partial(_slope_block, grid=grid, compute_edges=compute_edges, percent=percent, z_factor=z_factor)
    result = map_with_halo(data, kernel, 1, np.float32, name="slope")
    out = xr.DataArray(result, dims=("y", "x"), coords={"y": dem.y, "x": dem.x}, name="slope")
    out.attrs.update({"units": "percent" if percent else "degree", "method": "Horn (gdaldem slope -compute_edges)" if compute_edges else "Horn"})
    # in place: `out` is ours (write_crs/write_transform would otherwise deep-copy the computed pixels twice)
    return out.rio.write_crs(grid.crs, inplace=True).rio.write_transform(grid.transform, inplace=True)
