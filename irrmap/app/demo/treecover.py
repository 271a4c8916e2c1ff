"""The demo's tree-cover inputs for the Landsat-like sub-area (irrmap.app.demo.landsat): a coarse reference cover
like MODIS VCF and a dated NDVI series, both from the sub-area's truth tree cover of the two epochs.

Reference (inputs/treecover/reference_YEAR.tif, the demo year, on the 250 m grid of the sub-area): the mean
truth cover of the 8 x 8 fine pixels under each cell, plus seeded noise of +-REF_NOISE percentage points,
rounded to uint8 0..100; cells mostly water carry VCF's water flag 200, so the fit must mask flags (values
above 100). NDVI series (inputs/treecover/ndvi_series.tif, fine grid): one layer per year of SERIES_YEARS,
int16 NDVI x 1e4 (nodata -9999), band descriptions the acquisition dates (YEAR-07-01). A pixel's cover is the
epoch-1 cover until its change year (drawn per pixel between the epochs), the epoch-2 cover from then on;
NDVI = NDVI_BARE + NDVI_PER_PERCENT x cover + noise, water NDVI_WATER. Its trend is negative where forest was
lost and positive where it was planted.
"""

from __future__ import annotations

import numpy as np

from irrmap.app.demo.noise import hash_uniform

REF_NOISE = 4.0  # percentage points, uniform noise of the reference
VCF_WATER = 200  # MODIS VCF's water flag
SERIES_STEP = 5  # years between the series' layers
NDVI_BARE, NDVI_PER_PERCENT, NDVI_WATER, NDVI_NOISE = 0.18, 0.006, -0.2, 0.04
NODATA = -9999


def series_years(epoch1: int, epoch2: int) -> list[int]:
    """The series' years: every SERIES_STEP years from `epoch1`, and `epoch2`."""
    return sorted(set(range(epoch1, epoch2, SERIES_STEP)) | {epoch2})


def reference(seed: int, cover: np.ndarray, water: np.ndarray, k: int, cols, rows) -> np.ndarray:
    """uint8 (h / k, w / k) reference of the fine truth `cover` (percent) and `water` mask; `cols`, `rows`:
    the coarse cells' global indices (broadcast), for the noise."""
    h, w = cover.shape[0] // k, cover.shape[1] // k
    mean = cover[:h * k, :w * k].reshape(h, k, w, k).mean(axis=(1, 3))
    wet = water[:h * k, :w * k].reshape(h, k, w, k).mean(axis=(1, 3)) > 0.5
    noisy = mean + REF_NOISE * (2 * hash_uniform(seed, 700, cols, rows) - 1)
    return np.where(wet, VCF_WATER, np.clip(np.rint(noisy), 0, 100)).astype(np.uint8)


def ndvi_series(seed: int, cover1: np.ndarray, cover2: np.ndarray, water: np.ndarray, years: list[int], cols, rows) -> np.ndarray:
    """int16 (len(years), h, w) NDVI x 1e4 of the fine pixels (module docstring); `cols`, `rows`: their
    global indices (broadcast)."""
    change_year = years[0] + (years[-1] - years[0]) * hash_uniform(seed, 710, cols, rows)
    out = np.empty((len(years),) + cover1.shape, np.int16)
    for i, yr in enumerate(years):
        cover = np.where(yr < change_year, cover1, cover2).astype(np.float64)
        ndvi = NDVI_BARE + NDVI_PER_PERCENT * cover + NDVI_NOISE * (2 * hash_uniform(seed, 720 + i, cols, rows) - 1)
        ndvi = np.where(water, NDVI_WATER, ndvi)
        out[i] = np.rint(np.clip(ndvi, -1, 1) * 1e4).astype(np.int16)
    return out
