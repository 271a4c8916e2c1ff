"""A 30 m-like land-cover classification (1/8 of a 250 m pixel) with CLCD-style class codes.

Each 250 m pixel gets class probabilities from its landscape (cropland on low flat land, in arid parts only
where irrigation is possible; forest in humid hills; grass and barren land in the dry west; built-up land on
plains). Fine cells are drawn from those probabilities with one hashed uniform per 2 x 2-cell parcel, so
fields form parcels. Water cells are drawn directly: rivers as narrow lines on the fine grid, lakes where the
bilinear-interpolated elevation is below the lake level.
"""

from __future__ import annotations

import numpy as np

from irrmap.app.demo.hydrology import Hydrology, draw_rivers, lake_level_at
from irrmap.app.demo.noise import fbm, hash_uniform, smoothstep
from irrmap.app.demo.spec import DemoSpec

CROP, FOREST, SHRUB, GRASS, WATER, BARREN, URBAN = 1, 2, 3, 4, 5, 7, 8
NODATA = 0
CLASSES = {CROP: "cropland", FOREST: "forest", SHRUB: "shrub", GRASS: "grassland", WATER: "water", BARREN: "barren", URBAN: "impervious"}
GROUPS = {"crop": [CROP], "forest_grass": [FOREST, SHRUB, GRASS], "other": [WATER, BARREN, URBAN]}
DRAWN = (CROP, FOREST, SHRUB, GRASS, BARREN, URBAN)  # classes drawn from probabilities (water is drawn directly)
ORDER = (CROP, FOREST, SHRUB, GRASS, WATER, BARREN, URBAN)  # band order of the per-class fractions


def class_probabilities(spec: DemoSpec, L: dict, x, y) -> np.ndarray:
    """(6, h, w) probabilities of DRAWN classes per 250 m pixel."""
    arid, share = L["arid"], L["irrigated_share"]
    flat, low = L["s_slope"], L["s_elev"]
    town = smoothstep(0.66, 0.8, fbm(spec.seed, 50, x, y, 30.0, octaves=3))
    w_crop = flat**1.2 * low**0.8 * (arid * (0.12 + 0.88 * share**1.5) + (1 - arid) * 0.85)
    w_forest = (1 - arid) ** 1.5 * (1.0 - 0.85 * flat * low) * 0.9 + 0.01
    w_shrub = 0.12 * (1.0 - flat) * (1 - arid) + 0.02
    w_grass = 0.05 + 0.5 * (1.0 - 0.7 * flat * low) * np.clip(1.3 - np.abs(arid - 0.5) * 1.6, 0.1, 1.0)
    w_barren = 0.8 * arid**2 * (1.0 - share) + 0.01
    w_urban = 0.01 + 0.9 * flat * low * town
    w = np.stack([w_crop, w_forest, w_shrub, w_grass, w_barren, w_urban])
    return w / w.sum(axis=0)


def fine_block(spec: DemoSpec, hyd: Hydrology, L: dict, window) -> np.ndarray:
    """uint8 class codes of the fine cells under a 250 m window, shape (8h, 8w)."""
    k = spec.fine
    h, w = int(window.height), int(window.width)
    r0, c0 = int(window.row_off), int(window.col_off)
    from irrmap.app.demo.terrain import pixel_centres

    x, y = pixel_centres(window)
    p = class_probabilities(spec, L, x, y)
    cum = np.cumsum(p, axis=0).astype(np.float32)
    # one uniform per 2x2 parcel of fine cells, hashed from global parcel coordinates
    fr0, fc0 = r0 * k, c0 * k
    py = np.arange(fr0 // 2, (fr0 + h * k + 1) // 2 + 1)
    px = np.arange(fc0 // 2, (fc0 + w * k + 1) // 2 + 1)
    up = hash_uniform(spec.seed, 60, px[None, :], py[:, None]).astype(np.float32)  # on the parcel lattice
    ry = np.arange(fr0, fr0 + h * k) // 2 - py[0]
    rx = np.arange(fc0, fc0 + w * k) // 2 - px[0]
    u = up[ry][:, rx]
    idx = np.zeros(u.shape, dtype=np.uint8)
    for c in range(len(DRAWN) - 1):  # class index = number of cumulative probabilities below u (one class at a time: bounded memory)
        idx += u > np.repeat(np.repeat(cum[c], k, axis=0), k, axis=1)
    out = np.asarray(DRAWN, dtype=np.uint8)[np.minimum(idx, len(DRAWN) - 1)]
    # water: lakes by elevation against the lake level, rivers as fine lines
    fx = (np.arange(fc0, fc0 + w * k) + 0.5) / k
    fy = (np.arange(fr0, fr0 + h * k) + 0.5) / k
    level = lake_level_at(hyd, fx, fy)
    if np.isfinite(level).any():
        zf = _bilinear(L["z_halo1"], L["halo1_origin"], fx, fy)
        out[np.isfinite(level) & (zf <= np.nan_to_num(level, nan=-1e9) + 1e-6)] = WATER
    from rasterio.windows import Window

    out[draw_rivers(hyd, Window(fc0, fr0, w * k, h * k), k=k)] = WATER
    return out


def _bilinear(z1: np.ndarray, origin, fx, fy) -> np.ndarray:
    """Bilinear interpolation of the 250 m elevation (with its 1-pixel halo starting at `origin` = (row, col))."""
    r0, c0 = origin
    gx = fx - 0.5 - c0
    gy = fy - 0.5 - r0
    i0 = np.clip(np.floor(gy).astype(np.int64), 0, z1.shape[0] - 2) if z1.shape[0] > 1 else np.zeros(len(gy), np.int64)
    j0 = np.clip(np.floor(gx).astype(np.int64), 0, z1.shape[1] - 2) if z1.shape[1] > 1 else np.zeros(len(gx), np.int64)
    ty = np.clip(gy - i0, 0, 1)[:, None]
    tx = np.clip(gx - j0, 0, 1)[None, :]
    zr = z1[i0] * (1 - ty) + z1[i0 + 1] * ty  # along rows first (small), then columns
    return zr[:, j0] * (1 - tx) + zr[:, j0 + 1] * tx


def class_fractions(fine: np.ndarray, k: int) -> np.ndarray:
    """(7, h, w) float32 share of each class in ORDER per 250 m pixel from the fine cells."""
    H, W = fine.shape[0] // k, fine.shape[1] // k
    blocks = fine.reshape(H, k, W, k)
    out = np.empty((len(ORDER), H, W), dtype=np.float32)
    for i, c in enumerate(ORDER):
        out[i] = (blocks == c).sum(axis=(1, 3)) / float(k * k)
    return out
