"""One raster layer of the water-body step (water mask, body ids, zones) read window by window, whether it is
given as a file, an xarray DataArray (numpy- or dask-backed) or a plain 2-D array.

Files are read through irrmap.core.raster_read as class rasters (values kept, the file's nodata kept as
its marker), one window at a time, so a layer never has to fit in memory.
"""

from __future__ import annotations

import os
from pathlib import Path

import dask.array as da
import numpy as np
import xarray as xr
from rasterio.windows import Window

from irrmap.core.errors import GridError, InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster, read_window


#: the fix of every grid mismatch between layers: masks of different epochs are put on one grid by making each
#: epoch's mask with a scene of the same grid listed first (`irrmap water mask` reads every scene onto the first's)
ONE_GRID_FIX = ("use layers on one grid: write each epoch's mask with a scene on the same grid listed first (`irrmap water mask "
                "OUT.tif SCENE_ON_THAT_GRID SCENE...` reads every scene onto the first one's grid; the `water` stage does this for "
                "all its epochs), then `irrmap water bodies` again")


#: edge (pixels) of the blocks Grid.pixel_area is called on for projections that are neither geographic nor
#: equal-area: pyproj's get_factors holds a dozen float64 arrays per pixel (1.5 GB for a 4,096 x 4,096 window at
#: once), and Grid interpolates the areal scale on a lattice laid on the window it is given, so each pixel's area
#: is computed in the one block of this size, counted from the grid's origin, that holds it
AREA_BLOCK = 256


def pixel_areas(grid: Grid, window: Window) -> np.ndarray:
    """Grid.pixel_area of a window (m2, shape (height, width)). Where it is computed per pixel (conformal
    projections such as UTM) it is computed on the AREA_BLOCK x AREA_BLOCK blocks of the whole grid (counted from
    its origin) that the window meets, so a pixel's area is the same value, to the bit, whatever the window it is
    read in (sums of a body's area then do not depend on the tile size) and the temporaries stay small; geographic,
    equal-area and row-wise (Mercator, sinusoidal) grids are per row already and keep Grid's values."""
    if grid.is_geographic or grid.equal_area or grid._scale_by_row:
        return grid.pixel_area(window)
    r0, c0, h, w = int(window.row_off), int(window.col_off), int(window.height), int(window.width)
    out = np.empty((h, w))
    b = AREA_BLOCK
    for br in range(r0 // b * b, r0 + h, b):
        bh = min(b, grid.height - br)
        for bc in range(c0 // b * b, c0 + w, b):
            bw = min(b, grid.width - bc)
            block = grid.pixel_area(Window(bc, br, bw, bh))
            rs, re_ = max(r0, br), min(r0 + h, br + bh)
            cs, ce = max(c0, bc), min(c0 + w, bc + bw)
            out[rs - r0 : re_ - r0, cs - c0 : ce - c0] = block[rs - br : re_ - br, cs - bc : ce - bc]
    return out


class Layer:
    """A 2-D raster layer read by windows: `shape`, `grid` (None for a bare array without one), `read(window)`
    and `dask(chunks)`.

    `source`: a raster file path, a 2-D DataArray (a size-1 `band` dimension is dropped; its grid comes from
    rioxarray's CRS and transform when it has them) or a 2-D numpy array. `grid` gives or checks the grid.
    Raises InputError for a source of another kind or dimension, GridError when `grid` does not match it.
    """

    def __init__(self, source, grid: Grid | None = None, what: str = "layer"):
        self.what = what
        self.path = None
        if isinstance(source, (str, os.PathLike)):
            self.path = os.fspath(source)
            if not Path(self.path).is_file():
                raise InputError(f"{what} raster not found", self.path, "check the path")
            own = Grid.from_raster(self.path)
            self.data = None
        else:
            if isinstance(source, xr.DataArray):
                arr = source.squeeze("band", drop=True) if "band" in source.dims and source.sizes["band"] == 1 else source
                own = Grid.from_dataarray(arr) if arr.ndim == 2 and arr.rio.crs is not None else None
                data = arr.data
            elif isinstance(source, (np.ndarray, da.Array)):
                own, data = None, source
            else:
                raise InputError(f"{what} is a {type(source).__name__}", what, "give a raster path, a 2-D DataArray or a 2-D array")
            if data.ndim != 2:
                raise InputError(f"{what} has {data.ndim} dimensions", what, "give one 2-D layer (select the band first)")
            self.data = data
        if grid is not None and own is not None and not grid.aligned_with(own):
            raise GridError(f"{what} is on another grid: {own.mismatch_text(grid)}", self.path or what, ONE_GRID_FIX)
        self.grid = grid or own
        self.shape = own.shape if own is not None else tuple(int(s) for s in self.data.shape)
        if self.grid is not None and self.grid.shape != self.shape:
            raise GridError(f"{what} has shape {self.shape}, the grid {self.grid.shape}", self.path or what, "use layers on one grid")

    def read(self, window: Window) -> np.ndarray:
        """The values of an integer window (numpy)."""
        if self.path is not None:
            return read_window(self.path, self.grid, window, kind="categorical")
        r0, c0 = int(window.row_off), int(window.col_off)
        return np.asarray(self.data[r0 : r0 + int(window.height), c0 : c0 + int(window.width)])

    def dask(self, chunks: tuple[int, int]) -> da.Array:
        """The layer as a dask array with blocks of `chunks` (rows, cols); files are read block by block."""
        if self.path is not None:
            arr = read_raster(self.path, self.grid, kind="categorical", chunks=max(chunks)).data
        elif isinstance(self.data, da.Array):
            arr = self.data
        else:
            arr = da.from_array(self.data, chunks=chunks, name=False)  # name=False: no hash of the whole array
        return arr.rechunk(chunks)

    def check_aligned(self, other: "Layer") -> None:
        """Raise GridError unless `other` has the same shape (and grid, when both have one)."""
        same = self.shape == other.shape and (self.grid is None or other.grid is None or self.grid.aligned_with(other.grid))
        if not same:
            raise GridError(f"{other.what} ({other.grid or other.shape}) is not on the grid of {self.what} ({self.grid or self.shape})",
                            other.path or other.what, ONE_GRID_FIX)
