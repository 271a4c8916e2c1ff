"""One year of MODIS-like 16-day composites (23 dates): EVI, NDVI, VI quality (MOD13Q1), NIR, green, SWIR 1240 nm.

Each 250 m pixel mixes its cover classes linearly in reflectance. A class's green-vegetation cover follows a
double-logistic season; irrigated crops reach a high peak everywhere, rainfed crops peak lower the drier the
climate (so irrigated and rainfed separate strongly in arid and weakly in humid parts); humid crops have a
second (winter-wheat) season. Band reflectance = green cover x leaf spectrum + (1 - cover) x background
(soil brightening with aridity, water, built-up). Clouds from per-date noise brighten all bands and are
flagged in the QA; two dates have missing-data patches (fill values).

Encoding as the products: EVI/NDVI int16 x 1e4 with fill -3000 (MOD13Q1); VI quality uint16 with the
MOD13Q1 bit layout (bits 0-1 MODLAND QA, 2-5 usefulness, 6-7 aerosol, 8 adjacent cloud, 10 mixed clouds,
11-13 land/water, 14 snow/ice, 15 shadow) and fill 65535; reflectances int16 x 1e4 with fill -28672 (MOD09).
"""

from __future__ import annotations

import numpy as np

from irrmap.app.demo.landcover import ORDER
from irrmap.app.demo.noise import fbm, hash_uniform, value_noise
from irrmap.app.demo.terrain import pixel_centres

N_DATES = 23
DOY = 1 + 16 * np.arange(N_DATES)  # composite start days (MOD13Q1 calendar)
VI_FILL, QA_FILL, REFL_FILL = -3000, 65535, -28672
PRODUCTS = ("evi", "ndvi", "vi_quality", "nir", "green", "swir1240")
FILL = {"evi": VI_FILL, "ndvi": VI_FILL, "vi_quality": QA_FILL, "nir": REFL_FILL, "green": REFL_FILL, "swir1240": REFL_FILL}
DTYPE = {"evi": "int16", "ndvi": "int16", "vi_quality": "uint16", "nir": "int16", "green": "int16", "swir1240": "int16"}
MISSING_DATES = (4, 16)  # 0-based dates with missing-data patches

# bands: blue, green, red, nir, swir1240
LEAF = np.array([0.035, 0.09, 0.04, 0.46, 0.33])
LEAF_IRR = np.array([0.035, 0.09, 0.035, 0.48, 0.28])  # well-watered leaves absorb more at 1240 nm
WATER = np.array([0.07, 0.06, 0.04, 0.02, 0.01])
URBAN = np.array([0.12, 0.13, 0.14, 0.19, 0.22])
CLOUD = np.array([0.45, 0.45, 0.46, 0.48, 0.42])


def soil(arid: np.ndarray) -> np.ndarray:
    """(5, h, w) bare-soil reflectance, brighter in the dry west."""
    base = np.array([0.07, 0.10, 0.13, 0.19, 0.24])[:, None, None]
    return base * (1.0 + 0.6 * arid[None])


def double_logistic(t, sos, eos, r1=9.0, r2=11.0):
    return 1.0 / (1.0 + np.exp(-(t - sos) / r1)) - 1.0 / (1.0 + np.exp(-(t - eos) / r2))


def green_cover(L: dict, frac: np.ndarray, x, y, seed: int) -> dict:
    """Per class, green cover (dates, h, w) for the pixel's climate."""
    ai = L["aridity_index"]
    wet = np.clip(ai / 0.8, 0.0, 1.0)
    arid = L["arid"]
    t = (DOY + 8.0)[:, None, None]
    jit = value_noise(seed, 70, x, y, 6.0) - 0.5  # field-to-field phenology shifts
    sos = 125.0 + 20.0 * jit + 8.0 * arid
    eos = 270.0 - 15.0 * jit
    season = double_logistic(t, sos[None], eos[None])
    winter = (1 - arid) * 0.6 * double_logistic(t, 60.0, 155.0, 8.0, 7.0)
    g_irr = 0.06 + (0.80 + 0.06 * jit) * np.maximum(season, winter)
    g_rain = 0.05 + 0.80 * (0.12 + 0.76 * wet**1.2) * np.maximum(season, winter * wet)
    g_forest = 0.25 + 0.55 * (0.3 + 0.7 * wet) * double_logistic(t, 105.0, 290.0, 12.0, 14.0)
    g_grass = 0.04 + 0.55 * (0.1 + 0.9 * wet) * double_logistic(t, 130.0, 265.0, 10.0, 12.0)
    g_shrub = 0.08 + 0.45 * (0.2 + 0.8 * wet) * double_logistic(t, 120.0, 275.0, 10.0, 12.0)
    g = {"irr": g_irr, "rain": g_rain, "forest": g_forest, "grass": g_grass, "shrub": g_shrub, "barren": 0.02 + 0.0 * t}
    return {k: np.broadcast_to(v, season.shape).astype(np.float32) for k, v in g.items()}


def simulate(spec, L: dict, frac: np.ndarray, window) -> dict[str, np.ndarray]:
    """All six products of a window as their stored integer arrays, shape (23, h, w) each."""
    seed = spec.seed
    x, y = pixel_centres(window)
    f = dict(zip(ORDER, frac))
    share = L["irrigated_share"]
    arid = L["arid"]
    g = green_cover(L, frac, x, y, seed)
    bg = soil(arid)  # (5, h, w)
    refl = np.zeros((5, N_DATES) + share.shape, dtype=np.float32)

    def add(weight, gc, leaf, back):
        w = weight.astype(np.float32)
        gc = gc.astype(np.float32)
        for b in range(5):
            refl[b] += w[None] * (gc * np.float32(leaf[b]) + (1.0 - gc) * back[b].astype(np.float32)[None])

    fcrop = f[1]
    add(fcrop * share, g["irr"], LEAF_IRR, bg)
    add(fcrop * (1.0 - share), g["rain"], LEAF, bg)
    add(f[2], g["forest"], LEAF, bg)
    add(f[3], g["shrub"], LEAF, bg)
    add(f[4], g["grass"], LEAF, bg)
    add(f[7], g["barren"], LEAF, bg)
    refl[:] += (f[5][None, None] * WATER[:, None, None, None]) + (f[8][None, None] * URBAN[:, None, None, None])
    # per-pixel, per-date sensor noise
    dates = np.arange(N_DATES)
    for b in range(5):
        n = np.stack([hash_uniform(seed, 80 + b * 32 + d, x[None, :].astype(np.int64), y[:, None].astype(np.int64)) for d in dates])
        refl[b] *= 1.0 + 0.04 * (n - 0.5)
    # snow on high ground in winter
    snow = np.zeros((N_DATES,) + share.shape, dtype=bool)
    winter = (DOY < 75) | (DOY > 320)
    snow[winter] = (L["temperature"] < 2.0)[None] & (L["dem"] > 2300.0)[None]
    refl[:, snow] = refl[:, snow] * 0.3 + 0.6 * np.array([0.95, 0.95, 0.93, 0.85, 0.45])[:, None]
    # clouds: more frequent in the humid east and in summer
    humid = 1.0 - arid
    cloud_p = 0.10 + 0.25 * humid[None] + 0.10 * np.sin(np.pi * (DOY[:, None, None] - 100) / 365.0).clip(0)
    cover = np.stack([fbm(seed, 90 + d, x, y, 20.0, octaves=3) for d in dates])
    thr = 1.0 - cloud_p
    c_cov = np.clip((cover - (0.5 + 0.35 * (thr - 0.5) * 2.0)) * 8.0, 0.0, 1.0)
    c_cov = np.where(c_cov > 0.15, np.minimum(c_cov + 0.3, 1.0), 0.0)
    refl = refl * (1.0 - c_cov[None]) + CLOUD[:, None, None, None] * c_cov[None]
    near = (c_cov == 0) & (np.clip((cover - (0.5 + 0.35 * (thr - 0.5) * 2.0)) * 8.0 + 0.5, 0, 1) > 0.15)
    missing = np.zeros_like(snow)
    for d in MISSING_DATES:
        missing[d] = value_noise(seed, 120 + d, x, y, 25.0) > 0.82
    blue, green, red, nir, swir = refl
    evi = 2.5 * (nir - red) / (nir + 6.0 * red - 7.5 * blue + 1.0)
    ndvi = (nir - red) / (nir + red)
    out = {
        "evi": _encode(evi, 1e4, -2000, 10000, VI_FILL, missing),
        "ndvi": _encode(ndvi, 1e4, -2000, 10000, VI_FILL, missing),
        "nir": _encode(nir, 1e4, -100, 16000, REFL_FILL, missing),
        "green": _encode(green, 1e4, -100, 16000, REFL_FILL, missing),
        "swir1240": _encode(swir, 1e4, -100, 16000, REFL_FILL, missing),
    }
    out["vi_quality"] = _quality(c_cov, near, snow, missing, f[5])
    return out


def _encode(v, scale, lo, hi, fill, missing) -> np.ndarray:
    out = np.clip(np.rint(v * scale), lo, hi).astype(np.int16)
    out[missing] = fill
    return out


def _quality(c_cov, near, snow, missing, water_frac) -> np.ndarray:
    """MOD13Q1 'VI Quality' bits."""
    cloudy = c_cov > 0
    modland = np.where(cloudy, 2, np.where(near | snow, 1, 0)).astype(np.uint16)
    useful = np.where(cloudy, 12, np.where(near, 4, np.where(snow, 6, 1))).astype(np.uint16)
    aerosol = np.uint16(1)
    adjacent = near.astype(np.uint16)
    mixed = cloudy.astype(np.uint16)
    lw = np.where(water_frac > 0.5, 3, np.where(water_frac > 0.1, 2, 1)).astype(np.uint16)  # 011 inland water, 010 shoreline, 001 land
    qa = (modland | (useful << 2) | (aerosol << 6) | (adjacent << 8) | (np.uint16(1) << 9) | (mixed << 10)
          | (lw[None] << 11) | (snow.astype(np.uint16) << 14))
    qa = qa.astype(np.uint16)
    qa[missing] = QA_FILL
    return qa
