"""Weighted overlay S = sum_i w_i * class_i / n_classes_i, and three ways to get the weights.

Weights are given, derived from an AHP pairwise-comparison matrix (principal eigenvector, Saaty's
consistency ratio), or found by the seeded search of METHOD.md: N random normalised uniform vectors, each
scored by a caller's `score(weights)` (the summed kappa of the three threshold maps against reference
points), best score wins, ties go to the most even vector (smallest distance to equal weights).
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr
from irrmap.suitability import zone_index

from irrmap.core.array_input import raster_arg, same_grid
from irrmap.core.errors import ConfigError, DataError

log = logging.getLogger(__name__)

# Saaty's random consistency index for n = 1..10
_RANDOM_INDEX = (0.0, 0.0, 0.58, 0.90, 1.12, 1.24, 1.32, 1.41, 1.45, 1.49)


def normalise_weights(weights: Mapping[str, float], where: str = "suitability.weights", tol: float = 1e-6) -> dict[str, float]:
    """Weights as floats summing to 1: negative or all-zero weights are an error naming `where`; a sum
    other than 1 is rescaled with a warning."""
    w = {k: float(v) for k, v in weights.items()}
    bad = [k for k, v in w.items() if not np.isfinite(v) or v < 0]
    if bad:
        raise ConfigError(f"weights must be finite and >= 0, got {', '.join(f'{k}={w[k]}' for k in bad)}", where)
    total = sum(w.values())
    if total <= 0:
        raise ConfigError("weights are all zero", where, "give at least one positive weight")
    if abs(total - 1.0) > tol:
        warnings.warn(f"{where}: weights sum to {total:g}, not 1; normalised", stacklevel=2)
        w = {k: v / total for k, v in w.items()}
    return w


def weighted_overlay(classes: Mapping[str, xr.DataArray], weights: Mapping[str, float],
                     n_classes: Mapping[str, int] | None = None) -> xr.DataArray:
    """S = sum w_i * class_i / n_i (float32; NaN where any weighted class is NaN).

    `n_classes` defaults to each class raster's `n_classes` attribute (set by reclassify). With the
    METHOD.md defaults S lies in [0.1, 1] when the weights sum to 1.

    Each class raster is a DataArray (y, x) with a CRS, all on one grid (GridError otherwise: xarray would
    inner-join shifted rasters into a smaller or empty result); declared nodata is missing (irrmap.core.array_input).
    Classes are whole numbers 1..n_classes (NaN = missing); any other value raises DataError (for dask data when
    computed), so S never leaves (0, 1].
    """
    w = normalise_weights(weights)
    classes = _checked_classes(classes, w, "weighted_overlay")
    total = None
    for name, wi in w.items():
        cls = classes[name]
        n = _n_classes(name, cls, n_classes)
        term = _class_values(cls, n, name, "weighted_overlay").astype(np.float64, copy=True)  # our own float64 array (never the caller's), scaled in place
        term *= wi / float(n)
        total = term if total is None else _accumulate(total, term)
        del term  # before the next factor's array is made
    s = total.astype(np.float32, copy=False)
    del total
    s.name = "suitability"
    s.attrs = {"weights": ", ".join(f"{k}={v:.6g}" for k, v in w.items())}
    ref = next(iter(classes.values()))
    if ref.rio.crs is not None:  # in place on our new array (write_crs/write_transform would deep-copy it twice)
        s = s.rio.write_crs(ref.rio.crs, inplace=True).rio.write_transform(ref.rio.transform(recalc=False), inplace=True)
    return s


def _checked_classes(classes, w: Mapping[str, float], func: str) -> dict[str, xr.DataArray]:
    """The class rasters of the weighted factors, checked and decoded (irrmap.core.array_input), on one grid."""
    if not isinstance(classes, Mapping):
        raise ConfigError(f"classes must be a dict of factor name -> class DataArray, got {type(classes).__name__}",
                          f"{func}(classes)", "pass e.g. the dict reclassify returns")
    missing = [k for k in w if k not in classes]
    if missing:
        raise ConfigError(f"weights given for factors without a class raster: {', '.join(missing)}", "suitability.weights",
                          f"use the factors {', '.join(map(str, classes))}")
    out = {k: raster_arg(classes[k], f"classes[{k!r}]", func, georeferenced=False) for k in w}
    same_grid({f"classes[{k!r}]": v for k, v in out.items()}, func)
    return out


def _n_classes(name: str, cls: xr.DataArray, n_classes) -> int:
    n = (n_classes or {}).get(name, cls.attrs.get("n_classes"))
    if not n:
        raise ConfigError(f"number of classes unknown for {name}", "n_classes", "pass n_classes={name: N}")
    return n


def _class_range_block(block: np.ndarray, n: int, name: str, where: str) -> np.ndarray:
    """`block` unchanged when its valid values are whole numbers 1..n; DataError naming the first bad value."""
    b = np.asarray(block)
    with np.errstate(invalid="ignore"):
        bad = ~np.isnan(b) & ((b < 1) | (b > n) | (b != np.floor(b))) if b.dtype.kind == "f" else (b < 1) | (b > n)
    if bad.any():
        v = b[bad]
        raise DataError(f"{name} holds class {v[0]:g} ({int(bad.sum()):,} pixel(s) in this block outside the whole numbers "
                        f"1..{n}): a class outside them takes S out of (0, 1]", where,
                        f"give classes 1..{n} (reclassify's output) with NaN for missing, or the right n_classes")
    return block


def _class_values(cls: xr.DataArray, n: int, name: str, func: str) -> xr.DataArray:
    """`cls` with its values checked to be classes 1..n: now for numpy data, as each block is computed for dask."""
    where = f"{func}(classes[{name!r}])"
    if isinstance(cls.data, da.Array):
        return cls.copy(data=cls.data.map_blocks(_class_range_block, n, name, where, dtype=cls.dtype))
    _class_range_block(cls.data, n, name, where)
    return cls


def _in_memory_alike(a: xr.DataArray, b: xr.DataArray) -> bool:
    """Both numpy-backed with the same dims, shape and coordinates: xarray's arithmetic would neither align nor
    drop coordinates, so numpy's in-place arithmetic gives the same array."""
    return (isinstance(a.data, np.ndarray) and isinstance(b.data, np.ndarray) and a.dims == b.dims and a.shape == b.shape
            and a.coords.to_dataset().identical(b.coords.to_dataset()))


def _accumulate(total: xr.DataArray, term: xr.DataArray) -> xr.DataArray:
    """total + term, added into `total` (an array of ours) when both are in memory on the same coordinates, so
    that no third full-size array is made; otherwise xarray's aligning sum."""
    if _in_memory_alike(total, term):
        np.add(total.data, term.data, out=total.data)
        return total
    return total + term


def _lookup(z: np.ndarray, ids: np.ndarray, values: np.ndarray, default: float) -> np.ndarray:
    """values[k] where z == ids[k], `default` elsewhere (float64; zone_index.lookup: any integer ids, memory by the
    number of ids, not the largest)."""
    return zone_index.lookup(z, ids, values, default)


def weighted_overlay_by_zone(classes: Mapping[str, xr.DataArray], weights: Mapping[str, float], zones: xr.DataArray,
                             zone_weights: Mapping[int, Mapping[str, float]], n_classes: Mapping[str, int] | None = None,
                             where: str = "suitability.weights_in") -> xr.DataArray:
    """The overlay with weights that vary by unit: `zone_weights[z]` (each normalised) in zone z, `weights`
    elsewhere; e.g. one searched vector per province, expanded to its counties' zone ids."""
    base = weighted_overlay(classes, weights, n_classes)
    if not zone_weights:
        return base
    classes = _checked_classes(classes, normalise_weights(weights), "weighted_overlay_by_zone")
    zones = raster_arg(zones, "zones", "weighted_overlay_by_zone", codes_fill=0, georeferenced=False)
    same_grid({"zones": zones, **{f"classes[{k!r}]": v for k, v in classes.items()}}, "weighted_overlay_by_zone")
    base_attrs, base_crs = base.attrs, base.rio.crs
    base_transform = base.rio.transform(recalc=False) if base_crs is not None else None
    del base  # only its attributes and georeference are needed: its memory goes back before the zone terms are made
    w = normalise_weights(weights)
    ids = np.array([int(z) for z in zone_weights], dtype=np.int64)  # any integer ids: no table of max(id) + 1 entries
    luts = {k: np.full(ids.size, v) for k, v in w.items()}
    for i, zw in enumerate(zone_weights.values()):
        zw = normalise_weights(zw, where)
        unknown = set(zw) - set(w)
        if unknown:
            raise ConfigError(f"weights for unknown factors {sorted(unknown)}", where, f"use the factors {', '.join(w)}")
        for k in w:
            luts[k][i] = zw.get(k, 0.0)
    total = None
    for name, lut in luts.items():
        n = _n_classes(name, classes[name], n_classes)
        cls = _class_values(classes[name], n, name, "weighted_overlay_by_zone")
        data = zones.data
        look = functools.partial(_lookup, ids=ids, values=lut, default=w[name])
        if isinstance(data, np.ndarray) and _in_memory_alike(cls, zones):  # the product into our float64 copy
            wz = look(data)
            term = cls.astype(np.float64, copy=True)
            np.multiply(term.data, wz, out=term.data)
            del wz
        else:
            wz = zones.copy(data=data.map_blocks(look, dtype=np.float64) if isinstance(data, da.Array) else look(np.asarray(data)))
            term = cls.astype(np.float64) * wz  # a new array: divided in place
            del wz
        term /= float(n)
        total = term if total is None else _accumulate(total, term)
        del term  # before the next factor's arrays are made
    s = total.astype(np.float32, copy=False)
    del total
    s.name = "suitability"
    s.attrs = dict(base_attrs, weights_by_zone=f"{len(zone_weights)} zones with their own weights")
    if base_crs is None:
        return s
    # in place on our new array (write_crs/write_transform would deep-copy it twice)
    return s.rio.write_crs(base_crs, inplace=True).rio.write_transform(base_transform, inplace=True)


@dataclass(frozen=True)
class AHPResult:
    weights: dict[str, float]
    lambda_max: float
    consistency_index: float
    consistency_ratio: float


def ahp_weights(matrix, names: Sequence[str], max_cr: float = 0.1) -> AHPResult:
    """Weights from an AHP pairwise matrix (a[i, j] = importance of i over j, reciprocal), by its principal
    eigenvector. Warns when Saaty's consistency ratio exceeds `max_cr`."""
    a = np.asarray(matrix, dtype=np.float64)
    n = len(names)
    if a.shape != (n, n):
        raise ConfigError(f"the AHP matrix is {a.shape}, expected {n} x {n} for {list(names)}", "suitability.ahp")
    if np.any(a <= 0) or not np.allclose(a * a.T, 1.0, rtol=1e-3):
        raise ConfigError("the AHP matrix must be positive and reciprocal (a[j, i] = 1 / a[i, j])", "suitability.ahp")
    vals, vecs = np.linalg.eig(a)
    k = int(np.argmax(vals.real))
    v = np.abs(vecs[:, k].real)
    v = v / v.sum()
    lam = float(vals[k].real)
    ci = (lam - n) / (n - 1) if n > 1 else 0.0
    ri = _RANDOM_INDEX[n - 1] if n <= len(_RANDOM_INDEX) else 1.49
    cr = ci / ri if ri > 0 else 0.0
    if cr > max_cr:
        warnings.warn(f"AHP consistency ratio {cr:.3f} exceeds {max_cr}; revise the pairwise judgements", stacklevel=2)
    return AHPResult(dict(zip(names, v.tolist())), lam, ci, cr)


@dataclass(frozen=True)
class SearchResult:
    weights: dict[str, float]
    score: float
    index: int  # which candidate won (0-based, in generation order)
    candidates: np.ndarray  # (n, k) all weight vectors tried
    scores: np.ndarray  # (n,) their scores


def random_weights(n: int, k: int, seed: int) -> np.ndarray:
    """`n` weight vectors of length `k`: uniform(0, 1) draws normalised to sum 1, from numpy's PCG64 with `seed`."""
    rng = np.random.default_rng(seed)
    w = rng.random((n, k))
    return w / w.sum(axis=1, keepdims=True)


def search_weights(score: Callable[[dict[str, float]], float], names: Sequence[str] = ("elevation", "distance", "slope", "aridity"),
                   *, n: int = 500, seed: int = 0, tol: float = 1e-12) -> SearchResult:
    """The seeded weight search: try `n` random normalised vectors, keep the best `score(weights)`.

    Scores within `tol` of the best tie; among ties the most even vector (smallest Euclidean distance to
    equal weights) wins, then the earliest generated. NaN scores never win. Same seed -> same result.
    """
    if n < 1:
        raise ConfigError(f"the search needs at least one candidate, got n={n}", "suitability.search.n")
    cand = random_weights(n, len(names), seed)
    scores = np.array([float(score(dict(zip(names, row.tolist())))) for row in cand])
    finite = np.isfinite(scores)
    if not finite.any():
        raise ConfigError("every candidate weight vector scored NaN", "suitability.search", "check the reference points and threshold maps")
    best = np.nanmax(np.where(finite, scores, -np.inf))
    ties = np.flatnonzero(finite & (scores >= best - tol))
    spread = np.linalg.norm(cand[ties] - 1.0 / len(names), axis=1)
    win = int(ties[np.lexsort((ties, spread))[0]])
    log.info("weight search: best score %.6g from candidate %d of %d (%d tied)", scores[win], win, n, len(ties))
    return SearchResult(dict(zip(names, cand[win].tolist())), float(scores[win]), win, cand, scores)
