"""A Landsat-like sub-area on the fine (~30 m) grid: six bands for two epochs, truth water and tree cover.

The sub-area is a central window of at most SUB_MAX 250 m pixels per edge (bounded size, so it is generated
in memory). Epoch 2 (the demo year) follows the fine land cover; epoch 1 (EPOCH1_YEAR) differs as in the
seed study: large lakes were larger (shores dilated by up to 150 m), many small ponds did not exist yet, and
forest patches were lost or planted between the epochs.
Reflectance = f x forest spectrum + (1 - f) x class spectrum, x (1 +- 3 % noise), with the canopy's share of a
band f = 1 - (1 - tree cover) ** k (CANOPY_EXPONENT).

Each epoch is a scene stack (irrmap.sources.stack): the six bands as int16 reflectance x 1e4 with the common
band names as descriptions, and a sidecar JSON (`scene_sidecar`) with the date, level and scale, so
`irrmap water mask` and the `water` stage read it as a scene.
"""

from __future__ import annotations

import numpy as np
from rasterio.windows import Window
from scipy import ndimage

from irrmap.app.demo import landcover as lc
from irrmap.app.demo.noise import fbm, hash_uniform, smoothstep
from irrmap.app.demo.spec import DemoSpec

SUB_MAX = 128
EPOCH1_YEAR = 1995
BANDS = ("blue", "green", "red", "nir", "swir1", "swir2")
NODATA = -9999
SPECTRA = {
    "forest": [0.03, 0.06, 0.035, 0.35, 0.16, 0.07],
    lc.CROP: [0.04, 0.08, 0.05, 0.38, 0.20, 0.10],
    lc.FOREST: [0.05, 0.08, 0.07, 0.26, 0.22, 0.13],
    lc.SHRUB: [0.06, 0.09, 0.09, 0.25, 0.25, 0.16],
    lc.GRASS: [0.06, 0.09, 0.09, 0.25, 0.25, 0.16],
    lc.WATER: [0.06, 0.06, 0.04, 0.02, 0.01, 0.005],
    lc.BARREN: [0.12, 0.17, 0.22, 0.28, 0.36, 0.30],
    lc.URBAN: [0.12, 0.13, 0.14, 0.18, 0.22, 0.20],
}
TREE = {lc.FOREST: (60, 95), lc.SHRUB: (12, 30), lc.GRASS: (0, 6), lc.CROP: (0, 4), lc.URBAN: (3, 12), lc.BARREN: (0, 1), lc.WATER: (0, 0)}

# Crowns and their shadows cover the ground faster than the canopy cover grows: a band sees the canopy's signal on a
# share 1 - (1 - cover) ** k of the pixel (k per band; visible and SWIR darken first, NIR mixes linearly), so
# reflectance is not linear in cover and a regression tree beats a linear model, as on real scenes.
CANOPY_EXPONENT = (2.0, 2.0, 2.0, 1.0, 1.5, 2.0)

SCENE_DAY = "07-01"  # mid-season acquisition date of both epochs
SUN_ANGLES = (65.0, 135.0)  # elevation, azimuth (degrees): a July mid-morning sun at ~38 N; only the screen's shadow matching uses them


def scene_sidecar(epoch: int, year: int) -> dict:
    """The sidecar JSON of epoch `epoch` (1 or 2) in `year` (irrmap.sources.stack): surface reflectance x 1e4
    of a synthetic Landsat-like sensor, no quality band (the spectral screen finds no cloud: there is none)."""
    return {"date": f"{year}-{SCENE_DAY}", "sensor": "synthetic", "level": "L2", "scale": 1e-4, "offset": 0.0,
            "sun_elevation": SUN_ANGLES[0], "sun_azimuth": SUN_ANGLES[1], "scene_id": f"demo_epoch{epoch}_{year}"}


def sub_window(spec: DemoSpec) -> Window:
    """The 250 m window of the sub-area (central)."""
    h = min(SUB_MAX, spec.rows // 2)
    w = min(SUB_MAX, spec.cols // 2)
    return Window((spec.cols - w) // 2, (spec.rows - h) // 2, w, h)


def simulate(spec: DemoSpec, fine: np.ndarray, fwin: Window) -> dict[str, np.ndarray]:
    """Both epochs from the fine classes of the sub-area (`fine`, on fine window `fwin`)."""
    seed = spec.seed
    fx = np.arange(int(fwin.col_off), int(fwin.col_off + fwin.width)) + 0.5
    fy = np.arange(int(fwin.row_off), int(fwin.row_off + fwin.height)) + 0.5
    cols, rows = fx.astype(np.int64)[None, :], fy.astype(np.int64)[:, None]
    # where in its class's range a pixel's cover lies: stands tens of pixels across (fbm, stretched to ~0..1) plus pixel noise
    u = np.clip(0.5 + 2.2 * (fbm(seed, 601, fx, fy, 40.0, octaves=3) - 0.5) + 0.25 * (hash_uniform(seed, 600, cols, rows) - 0.5), 0, 1)
    tc2 = np.zeros(fine.shape)
    for c, (lo, hi) in TREE.items():
        m = fine == c
        tc2[m] = lo + (hi - lo) * u[m]
    # forest loss and planting between the epochs
    chg = fbm(seed, 610, fx, fy, 48.0, octaves=3)
    loss = smoothstep(0.70, 0.74, chg) * (fine == lc.FOREST)  # epoch-1 forest still standing there... lost since
    gain = smoothstep(0.26, 0.22, chg) * np.isin(fine, (lc.FOREST, lc.SHRUB))
    tc1 = np.clip(tc2 + 0.0 * loss - 45.0 * gain, 0, 100)
    tc2 = np.clip(tc2 - 50.0 * loss, 0, 100)
    water2 = fine == lc.WATER
    # small ponds (fish ponds, reservoirs) on crop land: new since epoch 1 except a few
    ponds = (fbm(seed, 620, fx, fy, 6.0, octaves=2) > 0.8) & (fine == lc.CROP)
    water2 = water2 | ponds
    old_ponds = ponds & (hash_uniform(seed, 621, cols // 16, rows // 16) < 0.25)
    lab, n = ndimage.label(water2 & ~ponds)
    big = np.zeros_like(water2)
    if n:
        sizes = ndimage.sum_labels(np.ones_like(lab), lab, np.arange(1, n + 1))
        big = np.isin(lab, 1 + np.flatnonzero(sizes >= 1500))
    water1 = ((water2 & ~ponds) | old_ponds | ndimage.binary_dilation(big, iterations=5))
    out = {"water_epoch1": water1.astype(np.uint8), "water_epoch2": water2.astype(np.uint8),
           "treecover_epoch1": np.rint(tc1).astype(np.uint8), "treecover_epoch2": np.rint(tc2).astype(np.uint8)}
    for e, (water, tc, cls) in enumerate(((water1, tc1, np.where(loss > 0.5, lc.FOREST, fine)), (water2, tc2, fine)), start=1):
        refl = np.zeros((6,) + fine.shape)
        for c, spec_c in SPECTRA.items():
            if c == "forest":
                continue
            m = cls == c
            refl[:, m] = np.asarray(spec_c)[:, None]
        t = 1 - (1 - (tc / 100.0)[None]) ** np.asarray(CANOPY_EXPONENT)[:, None, None]  # the canopy's share of each band's signal
        refl = t * np.asarray(SPECTRA["forest"])[:, None, None] + (1 - t) * refl
        refl[:, water] = np.asarray(SPECTRA[lc.WATER])[:, None]
        for b in range(6):
            refl[b] *= 1 + 0.06 * (hash_uniform(seed, 630 + 10 * e + b, cols, rows) - 0.5)
        out[f"epoch{e}"] = np.rint(refl * 1e4).astype(np.int16)
    return out
