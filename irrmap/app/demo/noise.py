"""Seeded noise that is a pure function of global coordinates, so any window can be generated alone.

Every value depends only on (seed, salt, integer lattice coordinates): a window's noise equals the same
window cut from a whole-grid generation, and neighbouring tiles join without seams.
"""

from __future__ import annotations

import numpy as np

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
_KX = np.uint64(0x8CB92BA72F3D8DD7)
_KY = np.uint64(0xD6E8FEB86659FD93)
_KS = np.uint64(0xA0761D6478BD642F)


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M2
    h = h ^ (h >> np.uint64(27))
    h = h * _M3
    return h ^ (h >> np.uint64(31))


def hash_uniform(seed: int, salt: int, ix, iy) -> np.ndarray:
    """Uniform [0, 1) float64 from integer coordinates (broadcast), seed and salt."""
    ix = np.asarray(ix, dtype=np.int64).astype(np.uint64)
    iy = np.asarray(iy, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        key = _mix(np.uint64(seed) * _KS + np.uint64(salt) * _M1)
        h = _mix(ix * _KX + key) ^ (iy * _KY)
        h = _mix(h + _M1)
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)


def value_noise(seed: int, salt: int, x: np.ndarray, y: np.ndarray, wavelength: float) -> np.ndarray:
    """Smooth value noise in [0, 1] at global coordinates x (1-D, columns) and y (1-D, rows), shape (len(y), len(x)).

    Lattice values are hashed at integer multiples of `wavelength` and blended with a quintic fade.
    """
    gx = np.asarray(x, dtype=np.float64) / wavelength
    gy = np.asarray(y, dtype=np.float64) / wavelength
    ix = np.floor(gx).astype(np.int64)
    iy = np.floor(gy).astype(np.int64)
    tx = _fade(gx - ix)
    ty = _fade(gy - iy)
    x0, y0 = ix.min(), iy.min()
    lx = np.arange(x0, ix.max() + 2)
    ly = np.arange(y0, iy.max() + 2)
    lat = hash_uniform(seed, salt, lx[None, :], ly[:, None])
    cx, cy = ix - x0, iy - y0
    top = lat[cy][:, cx] * (1 - tx) + lat[cy][:, cx + 1] * tx
    bot = lat[cy + 1][:, cx] * (1 - tx) + lat[cy + 1][:, cx + 1] * tx
    return top * (1 - ty)[:, None] + bot * ty[:, None]


def _fade(t: np.ndarray) -> np.ndarray:
    return t * t * t * (t * (t * 6 - 15) + 10)


def fbm(seed: int, salt: int, x, y, wavelength: float, octaves: int = 5, gain: float = 0.5, min_wavelength: float = 1.5) -> np.ndarray:
    """Fractal sum of value-noise octaves, normalised to about [0, 1] (mean 0.5)."""
    total = None
    amp, norm, lam = 1.0, 0.0, float(wavelength)
    for o in range(octaves):
        if lam < min_wavelength:
            break
        v = value_noise(seed, salt * 64 + o, x, y, lam)
        total = v * amp if total is None else total + v * amp
        norm += amp
        amp *= gain
        lam /= 2.0
    return total / norm


def smoothstep(e0: float, e1: float, v: np.ndarray) -> np.ndarray:
    t = np.clip((v - e0) / (e1 - e0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
