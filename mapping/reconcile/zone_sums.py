"""Per-zone sums over a finished run's rasters, in one strip-by-strip pass (bounded memory): the zones' pixel
extents (the windows of the reconciliation jobs), cropland area, the classifier's expected irrigated area and
the area the run's own map calls irrigated."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio
from rasterio.windows import Window

from irrmap.core import fixed_sum
from irrmap.core.errors import DataError, GridError
from irrmap.core.georef import grid_of, north_up
from irrmap.core.grid import Grid
from irrmap.core.nodata import decoding_for, valid_mask
from irrmap.core.progress import progress_bar


@dataclass(frozen=True)
class RunRasters:
    """A finished run's rasters, all on the zones' grid: zones (int, 0 = no unit), probability (P x
    `probability_scale` gives 0..1), cropland fraction 0..1, and the run's class map (1 irrigated) or None."""

    zones: Path
    probability: Path
    cropland: Path
    before: Path | None = None
    probability_scale: float = 0.01  # irrmap.mapping.predict writes P(irrigated) x 100

    def grid(self) -> Grid:
        """The zones' grid; GridError when another raster is on another grid. The other rasters are compared by
        their north-up grid (irrmap.core.georef.grid_of): one stored south-up is read north-up by `read_window`."""
        grid = Grid.from_raster(self.zones)
        for p in (self.probability, self.cropland, self.before):
            if p is None:
                continue
            with rasterio.open(p) as src:
                g = grid_of(src)
            if not g.aligned_with(grid):
                raise GridError(f"{p} is on another grid than the zones {self.zones}: {g.mismatch_text(grid)}", str(p),
                                "use the rasters of one finished `irrmap run` (they share its grid)")
        return grid


def read_window(path: Path, window: Window, scale: float = 1.0) -> np.ndarray:
    """One band-1 window (of the file's north-up view: a file stored south-up or east-left is read as its pixels
    north-up, irrmap.core.georef.north_up) as float64 with nodata and the internal mask (and NaN) as NaN, the
    file's own scale/offset tags applied (GDAL's value x scale + offset), then times `scale`."""
    with rasterio.open(path) as opened:
        src = north_up(opened)
        a = src.read(1, window=window).astype(np.float64)
        nd = src.nodata
        mask = valid_mask(src, 1, decoding_for(src, 1), window)  # GDAL mask band and alpha band (any data type)
        k = float(src.scales[0]) if src.scales and src.scales[0] not in (None, 0) else 1.0
        b = float(src.offsets[0]) if src.offsets and src.offsets[0] is not None else 0.0
    if nd is not None and not np.isnan(nd):
        a[a == nd] = np.nan
    if mask is not None:
        a[mask == 0] = np.nan
    if k != 1.0 or b != 0.0:
        a = a * k + b
    return a * scale


def _check_unit_interval(a: np.ndarray, path, what: str, key: str, fix: str) -> None:
    """DataError unless the finite values of `a` lie within 0..1 (a percent layer, or a wrong scale)."""
    if a.size and (float(a.max()) > 1.0 + 1e-6 or float(a.min()) < -1e-6):
        raise DataError(f"the {what} of {path} reaches {float(a.min()):g}..{float(a.max()):g}; it must be 0..1", key, fix)


def zone_sums(r: RunRasters, n_zones: int, strip_rows: int = 512) -> pd.DataFrame:
    """One row per zone 0..n_zones: row0, row1, col0, col1 (pixel extent, end exclusive; -1 when the zone has
    no pixel), area_m2 (true pixel area), cropland_m2 (sum f x area), expected_m2 (sum P x f x area, the
    classifier's expected irrigated area; missing P counts 0) and before_m2 (sum f x area where the run's class
    is 1; NaN without a class map). The area sums add each pixel's term in fixed point (irrmap.core.fixed_sum.KeySums),
    so they are the same bits whatever `strip_rows`."""
    grid = r.grid()
    n = n_zones + 1
    ext = np.stack([np.full(n, grid.height), np.full(n, -1), np.full(n, grid.width), np.full(n, -1)]).astype(np.int64)
    sums = [fixed_sum.KeySums(n) for _ in range(4)]  # fixed point (irrmap.core.fixed_sum): the same bits whatever `strip_rows`
    with progress_bar(total=grid.height, desc="zone sums", unit="row") as bar:
        for r0 in range(0, grid.height, strip_rows):
            r1 = min(grid.height, r0 + strip_rows)
            w = Window(0, r0, grid.width, r1 - r0)
            z = read_window(r.zones, w)
            z = np.where(np.isfinite(z), z, 0).astype(np.int64)
            z[(z < 0) | (z > n_zones)] = 0
            area = np.broadcast_to(np.asarray(grid.pixel_area(w), np.float64), z.shape)
            f = np.nan_to_num(read_window(r.cropland, w))
            p = np.nan_to_num(read_window(r.probability, w, r.probability_scale))
            _check_unit_interval(f, r.cropland, "cropland fraction", "[reconcile].cropland",
                                 "name a cropland fraction product (0..1), or write the percent layer as a fraction")
            _check_unit_interval(p, r.probability, f"probability x probability_scale ({r.probability_scale:g})",
                                 "[reconcile].probability_scale", "set probability_scale so that the probability is 0..1 (0.01 for "
                                 "the mapping stage's P x 100)")
            before = (read_window(r.before, w) == 1) if r.before is not None else np.zeros(z.shape, bool)
            for k, wt in enumerate((area, f * area, p * f * area, before * f * area)):
                sums[k].add(z, wt)
            rows, cols = np.mgrid[r0:r1, 0:grid.width]
            for k, (vals, fn) in enumerate(((rows, np.minimum), (rows + 1, np.maximum), (cols, np.minimum), (cols + 1, np.maximum))):
                fn.at(ext[k], z.ravel(), vals.ravel())
            bar.update(r1 - r0)
    sums = [s.totals() for s in sums]
    empty = ext[1] < 0
    ext[:, empty] = -1
    return pd.DataFrame({"zone": np.arange(n), "row0": ext[0], "row1": ext[1], "col0": ext[2], "col1": ext[3],
                         "area_m2": sums[0], "cropland_m2": sums[1], "expected_m2": sums[2],
                         "before_m2": sums[3] if r.before is not None else np.nan})
