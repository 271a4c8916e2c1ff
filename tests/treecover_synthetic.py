"""Synthetic Landsat-like band files and a coarse tree-cover reference for the treecover tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from scipy import ndimage

NAMES = ("blue", "green", "red", "nir", "swir1", "swir2")
CRS = "EPSG:32636"
ORIGIN = (500_000.0, 1_000_020.0)


def cover_field(shape, seed=0) -> np.ndarray:
    """Smooth percent cover 0..100 (float64)."""
    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.normal(size=shape), 6, mode="wrap")
    f = (f - f.min()) / (f.max() - f.min())
    return 100.0 * f


def bands_from_cover(cover: np.ndarray, seed=1) -> dict[str, np.ndarray]:
    """Reflectance x 1e4 of each band: vegetation darkens red and swir, brightens nir, non-linearly."""
    rng = np.random.default_rng(seed)
    t = cover / 100.0
    base = {"blue": 600 - 250 * t, "green": 900 - 300 * t, "red": 1100 - 700 * t**0.7, "nir": 2200 + 1200 * np.sqrt(t),
            "swir1": 2600 - 1100 * t, "swir2": 1700 - 1000 * t**1.5}
    return {k: (v + rng.normal(scale=25, size=cover.shape)).astype(np.float32) for k, v in base.items()}


def write(path, data, *, res=30.0, origin=ORIGIN, crs=CRS, nodata=float("nan"), descriptions=None, dtype=None) -> Path:
    """A GeoTIFF of `data` (2-D, or (bands, y, x)) on a north-up grid."""
    data = np.asarray(data)
    data = data[None] if data.ndim == 2 else data
    prof = dict(driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0], dtype=dtype or data.dtype.name,
                crs=crs, transform=Affine(res, 0, origin[0], 0, -res, origin[1]), nodata=nodata)
    with rasterio.open(path, "w", **prof) as dst:
        dst.write(data.astype(prof["dtype"]))
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return Path(path)


def scene(folder, shape=(96, 128), *, seed=0, described=True, stem="scene_B{}", ids=(1, 2, 3, 4, 5, 7)) -> tuple[list[Path], np.ndarray]:
    """Six band files (float32 x 1e4, NaN nodata, a few missing pixels) and the 30 m truth cover."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cover = cover_field(shape, seed)
    bands = bands_from_cover(cover, seed + 1)
    bands["red"][5, 7] = np.nan
    bands["swir2"][40:43, 60] = np.nan
    paths = [write(folder / f"{stem.format(i)}.tif", bands[n], descriptions=[n] if described else None) for n, i in zip(NAMES, ids)]
    return paths, cover


def block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean of the non-NaN values of each k x k block; partial blocks at the right and bottom edges average
    what they hold."""
    h, w = a.shape
    H, W = -(-h // k) * k, -(-w // k) * k
    a = np.pad(np.asarray(a, np.float64), ((0, H - h), (0, W - w)), constant_values=np.nan)
    b = a.reshape(H // k, k, W // k, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing block is NaN, as wanted
        return np.nanmean(b, axis=(1, 3))
