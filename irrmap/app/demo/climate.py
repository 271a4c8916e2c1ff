"""Climate: an arid west to humid east gradient with orographic rain, and Priestley-Taylor PET.

All fields are pure functions of global pixel coordinates and the terrain, so windows are independent.
PET is the Priestley-Taylor formula of METHOD.md section 2 applied to the annual-mean meteorology and
multiplied by the seconds of a year, so the pipeline's PET from (T, RH, Rs, albedo) reproduces pet.tif.
"""

from __future__ import annotations

import numpy as np

from irrmap.app.demo.noise import fbm
from irrmap.app.demo.spec import RES, DemoSpec
from irrmap.app.demo.terrain import plain_level

SIGMA = 5.670374419e-8
SECONDS_PER_YEAR = 365.25 * 86400.0


def humidity_index(spec: DemoSpec, x, y) -> np.ndarray:
    """0 (arid west) .. 1 (humid east), with a wavy boundary."""
    u = np.asarray(x, dtype=np.float64)[None, :] / spec.cols
    wobble = (fbm(spec.seed, 20, x, y, spec.scale / 3, octaves=3) - 0.5) * 0.35
    return np.clip(u + wobble, 0.0, 1.0)


def priestley_taylor(t, rh, rs, albedo) -> np.ndarray:
    """PET (mm per second = kg m-2 s-1) from mean air temperature (C), relative humidity (%),
    shortwave radiation (W m-2) and albedo, as in METHOD.md section 2."""
    a = 2.33 - 0.014 * rh
    g = 0.066
    lam = 2.501e6 - 2361.0 * t
    es = 0.6108 * np.exp(17.27 * t / (t + 237.3))
    d = 4098.0 * es / (t + 237.3) ** 2
    ea = 1.0 - 0.26 * np.exp(-7.77e-4 * t**2)
    rn = (1.0 - albedo) * rs + (ea - 0.97) * SIGMA * (t + 273.15) ** 4
    return np.maximum(a * d / (d + g) * rn / lam, 0.0)


def climate(spec: DemoSpec, x, y, dem: np.ndarray) -> dict[str, np.ndarray]:
    """Annual precipitation (mm), PET (mm), mean temperature (C), RH (%), shortwave (W m-2), albedo."""
    h = humidity_index(spec, x, y)
    lat = spec.top - np.asarray(y, dtype=np.float64)[:, None] * RES
    rise = np.maximum(dem - plain_level(spec, x)[None, :], 0.0)
    n1 = fbm(spec.seed, 21, x, y, spec.scale / 8, octaves=3) - 0.5
    precip = (70.0 + 830.0 * h**1.3) * (1.0 + 0.25 * n1) + 0.28 * rise
    t = 15.5 - 0.8 * (lat - 37.0) - 0.0065 * (dem - 40.0) + 1.5 * (fbm(spec.seed, 22, x, y, spec.scale / 6, octaves=2) - 0.5)
    rh = np.clip(32.0 + 42.0 * h + 0.004 * rise + 6.0 * n1, 10.0, 95.0)
    rs = 208.0 - 55.0 * h - 1.2 * (lat - 37.0) + 0.004 * rise
    albedo = np.clip(0.27 - 0.11 * h - 0.00002 * rise + 0.03 * (fbm(spec.seed, 23, x, y, 40.0, octaves=3) - 0.5), 0.1, 0.35)
    pet = priestley_taylor(t, rh, rs, albedo) * SECONDS_PER_YEAR
    return {"precipitation": precip, "pet": pet, "temperature": t, "humidity": rh, "radiation": rs, "albedo": albedo}
