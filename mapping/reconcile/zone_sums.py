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

from irrmap.core.errors import GridError
from irrmap.core.grid import Grid
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
        """The zones' grid; GridError when another raster is on another grid."""
        grid = Grid.from_raster(self.zones)
        for p in (self.probability, self.cropland, self.before):
            if p is not None and not Grid.from_raster(p).aligned_with(grid):
                raise GridError(f"{p} is on another grid than the zones {self.zones}", str(p),
                                "use the rasters of one finished `irrmap run` (they share its grid)")
        return grid


def read_window(path: Path, window: Window, scale: float = 1.0) -> np.ndarray:
    """One band-1 window as float64 with nodata (and NaN) as NaN, times `scale`."""
    with rasterio.open(path) as src:
        a = src.read(1, window=window).astype(np.float64)
        nd = src.nodata
    if nd is not None and not np.isnan(nd):
        a[a == nd] = np.nan
    return a * scale


def zone_sums(r: RunRasters, n_zones: int, strip_rows: int = 512) -> pd.DataFrame:
    """One row per zone 0..n_zones: row0, row1, col0, col1 (pixel extent, end exclusive; -1 when the zone has
    no pixel), area_m2 (true pixel area), cropland_m2 (sum f x area), expected_m2 (sum P x f x area, the
    classifier's expected irrigated area; missing P counts 0) and before_m2 (sum f x area where the run's class
    is 1; NaN without a class map)."""
    grid = r.grid()
    n = n_zones + 1
    ext = np.stack([np.full(n, grid.height), np.full(n, -1), np.full(n, grid.width), np.full(n, -1)]).astype(np.int64)
    sums = np.zeros((4, n))
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
            before = (read_window(r.before, w) == 1) if r.before is not None else np.zeros(z.shape, bool)
            for k, wt in enumerate((area, f * area, p * f * area, before * f * area)):
                sums[k] += np.bincount(z.ravel(), weights=wt.ravel(), minlength=n)
            rows, cols = np.mgrid[r0:r1, 0:grid.width]
            for k, (vals, fn) in enumerate(((rows, np.minimum), (rows + 1, np.maximum), (cols, np.minimum), (cols + 1, np.maximum))):
                fn.at(ext[k], z.ravel(), vals.ravel())
            bar.update(r1 - r0)
    empty = ext[1] < 0
    ext[:, empty] = -1
    return pd.DataFrame({"zone": np.arange(n), "row0": ext[0], "row1": ext[1], "col0": ext[2], "col1": ext[3],
                         "area_m2": sums[0], "cropland_m2": sums[1], "expected_m2": sums[2],
                         "before_m2": sums[3] if r.before is not None else np.nan})
