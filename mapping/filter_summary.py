"""What `mapping filter` changed: irrigated pixels and area removed (isolated-pixel rule, majority filter, minimum
mapping unit) and added (hole filling, majority filter), from the class map before and after the filter.

Area is irrigated area, as the run reports it: true ground area of the pixel (irrmap.core.grid.Grid.pixel_area,
m2, exact on the ellipsoid for lon/lat grids) x the pixel's cropland fraction (0 where missing), in hectares
(1 ha = 10,000 m2). Read block by block: the maps are never whole in memory.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
import xarray as xr
from rasterio.windows import Window

from irrmap.core.grid import Grid

#: m2 per hectare
M2_PER_HA = 10_000.0


def _as_dask(a: xr.DataArray, chunks=None) -> da.Array:
    d = a.data if isinstance(a.data, da.Array) else da.from_array(np.asarray(a.data), chunks=chunks or 1024)
    return d if chunks is None or d.chunks == chunks else d.rechunk(chunks)


def filter_changes(before: xr.DataArray, after: xr.DataArray, cropland: xr.DataArray, grid: Grid) -> dict:
    """{"removed_pixels", "removed_ha", "added_pixels", "added_ha"}: pixels irrigated (value 1) in `before` (the
    class map given to the filter, (h, w); only where the cropland is > 0, as the filter keeps no other pixel) and not
    in `after` (the filtered class map, same grid), and the reverse;
    areas in ha of true pixel area x `cropland` (fraction 0..1, NaN counted as 0). All three on `grid`."""
    b = _as_dask(before)
    a, f = _as_dask(after, b.chunks), _as_dask(cropland, b.chunks)

    def block(cb, ca, cf, block_info=None):
        (r0, r1), (c0, c1) = block_info[0]["array-location"]
        area = grid.pixel_area(Window(c0, r0, c1 - c0, r1 - r0)) * np.where(np.isfinite(cf), cf, 0.0)
        # a class 1 without cropland (0 or NaN) is no crop, written 255 by the filter (mapping.filter): not removed by it
        was, now = (np.asarray(cb) == 1) & np.isfinite(cf) & (cf > 0), np.asarray(ca) == 1
        gone, new = was & ~now, now & ~was
        return np.array([gone.sum(), area[gone].sum(), new.sum(), area[new].sum()], np.float64).reshape(1, 1, 4)

    chunks = (tuple(1 for _ in b.chunks[0]), tuple(1 for _ in b.chunks[1]), (4,))
    sums = da.map_blocks(block, b, a, f, dtype=np.float64, chunks=chunks, new_axis=2).sum(axis=(0, 1)).compute()
    return {"removed_pixels": int(sums[0]), "removed_ha": float(sums[1]) / M2_PER_HA,
            "added_pixels": int(sums[2]), "added_ha": float(sums[3]) / M2_PER_HA}


def changes_text(ch: dict, *, rule: bool, majority: int, mmu: int) -> str:
    """One line for the CLI: what was removed and added, and by which of the passes that ran."""
    drop = [n for n, on in (("isolated-pixel rule", rule), ("majority filter", majority), ("minimum mapping unit", mmu > 1)) if on]
    add = [n for n, on in (("hole filling", rule), ("majority filter", majority)) if on]
    return (f"removed {ch['removed_pixels']} irrigated pixels, {ch['removed_ha']:.2f} ha "
            f"({' / '.join(drop) or 'no pass removes'}); added {ch['added_pixels']} pixels, {ch['added_ha']:.2f} ha "
            f"({' / '.join(add) or 'no pass adds'}); area = true pixel area x cropland fraction")
