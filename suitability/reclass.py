"""Reclassify the four suitability factors into classes (higher = more suitable), per administrative unit.

Defaults are METHOD.md section 2: elevation and distance to water relative to each unit's minimum
(<= +100/+300/+500 m -> 4/3/2, else 1; <= +1/+10/+20 km -> 4/3/2, else 1), slope in percent
(<= 2/4/8 -> 4/3/2, else 1), aridity in ten classes (AI <= 0.1 -> 10 ... > 0.9 -> 1). Two configurable
rules generalise the authors' special cases: flat units (relief P95 - P5 <= 100 m) get fixed classes for
chosen factors, and units with fewer than 50 crop pixels get class 1 for every factor.

Units come as an integer zone raster (0 = outside any unit). Per-unit statistics are computed block by
block (dask) and combined, so no raster is loaded whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr
from irrmap.suitability import zone_index

from irrmap.core.array_input import raster_arg, same_grid
from irrmap.core.errors import ConfigError, InputError

FACTORS = ("elevation", "distance", "slope", "aridity")


@dataclass(frozen=True)
class Breaks:
    """Upper class limits, most suitable first: value <= breaks[0] -> len(breaks)+1, ..., above the last -> 1.

    `elevation` and `distance` are offsets above the unit's minimum (m); `slope` is percent; `aridity` is AI.
    """

    elevation: tuple[float, ...] = (100.0, 300.0, 500.0)
    distance: tuple[float, ...] = (1000.0, 10000.0, 20000.0)
    slope: tuple[float, ...] = (2.0, 4.0, 8.0)
    aridity: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
    relative: tuple[str, ...] = ("elevation", "distance")

    def __post_init__(self):
        for name in FACTORS:
            b = np.asarray(getattr(self, name), dtype=float)
            if b.ndim != 1 or b.size == 0 or np.any(np.diff(b) <= 0) or not np.all(np.isfinite(b)):
                raise ConfigError(f"breaks must be a non-empty, strictly increasing list of numbers, got {list(b)}", f"suitability.breaks.{name}")

    def n_classes(self, name: str) -> int:
        return len(getattr(self, name)) + 1


@dataclass(frozen=True)
class FlatUnitRule:
    """Units whose relief (elevation percentile `percentiles[1]` minus `percentiles[0]`) is at most
    `max_relief` metres get the fixed classes in `classes` (the authors: aridity 10, water 4, North China
    Plain only). `zones`: the zone ids the rule may apply to; None = every unit."""

    max_relief: float = 100.0
    percentiles: tuple[float, float] = (5.0, 95.0)
    classes: dict = field(default_factory=lambda: {"aridity": 10, "distance": 4})
    zones: frozenset | None = None
    resolution: float = 0.01  # elevation bin (m) for the per-unit percentiles; 0.01 keeps them exact for cm data


@dataclass(frozen=True)
class FewCropRule:
    """Units with fewer than `min_crop_pixels` crop pixels get class `set_class` for every factor where that factor
    has a class (a pixel with a missing input, e.g. a DEM void, stays NaN, as under the flat-unit rule)."""

    min_crop_pixels: int = 50
    set_class: int = 1


def classify(values, breaks) -> np.ndarray:
    """Classes n+1 .. 1 for values <= breaks[0] .. > breaks[-1] (float32, NaN where values are NaN).

    float32 values are compared with float32 breaks, so a stored 0.1 counts as <= 0.1."""
    b = np.asarray(breaks, dtype=np.float64)
    if values.dtype == np.float32:
        b = b.astype(np.float32)  # compare like with like: float32 0.1 must count as <= 0.1
    if type(values) is np.ndarray:  # in memory: one int64 and one float32 array, no further temporaries
        idx = np.searchsorted(b, values, side="left")
        np.subtract(len(b) + 1, idx, out=idx)
        cls = idx.astype(np.float32)
        del idx
        cls[np.isnan(values)] = np.float32(np.nan)
        return cls
    xp = da if isinstance(values, da.Array) else np
    cls = (len(b) + 1 - xp.searchsorted(b, values, side="left")) if xp is np else (len(b) + 1 - values.map_blocks(lambda v: np.searchsorted(b, v, side="left"), dtype=np.int64))
    return xp.where(xp.isnan(values), np.float32(np.nan), cls.astype(np.float32))


# ---- per-zone statistics ---------------------------------------------------------------------------------
_STRIP_PIXELS = 1 << 21  # pixels per block of an in-memory array (8 MB of float32)


def _blocks(*arrays):
    """Pairs of aligned numpy-or-delayed blocks of 2-D arrays (dask arrays are rechunked to the first's chunks)."""
    first = arrays[0]
    if not any(isinstance(a, da.Array) for a in arrays):
        # in memory: row strips (views), so the per-block temporaries (masks, selections, pandas' group keys) are
        # a strip's, not the whole array's many times over; the combined statistics are the same
        arrs = [np.asarray(a) for a in arrays]
        step = max(1, _STRIP_PIXELS // max(1, arrs[0].shape[-1])) if arrs[0].ndim == 2 else 0
        if not step or arrs[0].shape[0] <= step or any(a.shape[:1] != arrs[0].shape[:1] for a in arrs):
            return [tuple(arrs)]
        return [tuple(a[r:r + step] for a in arrs) for r in range(0, arrs[0].shape[0], step)]
    ref = first if isinstance(first, da.Array) else da.from_array(first, chunks=1024)
    darrs = [ref] + [(a if isinstance(a, da.Array) else da.from_array(np.asarray(a), chunks=ref.chunks)).rechunk(ref.chunks) for a in arrays[1:]]
    delayed = [a.to_delayed().ravel() for a in darrs]
    return list(zip(*delayed))


def _zone_reduce(block_func, combine, *arrays):
    parts = [dask.delayed(block_func)(*blk) for blk in _blocks(*arrays)]
    results = dask.compute(*parts)
    return combine([r for r in results if r is not None and len(r)])


def _zone_min_block(values, zones):
    ok = (zones > 0) & ~np.isnan(values)
    if not ok.any():
        return None
    return pd.Series(values[ok]).groupby(zones[ok]).min()


def zonal_min(values, zones) -> pd.Series:
    """Minimum of valid values per zone id (zones > 0), indexed by zone id."""
    return _zone_reduce(_zone_min_block, lambda parts: pd.concat(parts).groupby(level=0).min() if parts else pd.Series(dtype=float), values, zones)


def _count_block(mask, zones):
    ok = (zones > 0) & (mask > 0)  # NaN > 0 is False, as nan_to_num's 0 was, without a copy of the block
    if not ok.any():
        return None
    return zone_index.counts(zones[ok])  # by distinct id: no table of max(id) + 1 entries (9-digit ids)


def zonal_count(mask, zones) -> pd.Series:
    """Number of pixels with mask > 0 per zone id."""
    def combine(parts):
        if not parts:
            return pd.Series(dtype=np.int64)
        total = pd.concat(parts).groupby(level=0).sum()
        return total[total.index > 0]

    return _zone_reduce(_count_block, combine, mask, zones)


def _hist_block(values, zones, resolution):
    ok = (zones > 0) & ~np.isnan(values)
    if not ok.any():
        return None
    bins = np.round(values[ok].astype(np.float64) / resolution).astype(np.int64)
    return pd.DataFrame({"zone": zones[ok].astype(np.int64), "bin": bins}).value_counts()


def zonal_percentiles(values, zones, qs, resolution: float = 0.01) -> pd.DataFrame:
    """Per-zone percentiles (numpy 'linear' definition) of values rounded to `resolution`, one column per q.

    Exact on data already on that resolution; otherwise within resolution/2. Built from a sparse per-block
    histogram, so memory is proportional to the distinct (zone, value) pairs, not to the pixels.
    """
    def combine(parts):
        if not parts:
            return pd.DataFrame(columns=list(qs), dtype=float)
        hist = pd.concat(parts).groupby(level=[0, 1]).sum().sort_index()
        rows = {}
        for zone, sub in hist.groupby(level=0):
            vals = sub.index.get_level_values(1).to_numpy() * resolution
            cum = np.cumsum(sub.to_numpy())
            n = cum[-1]
            out = []
            for q in qs:
                pos = q / 100.0 * (n - 1)
                lo, hi = int(np.floor(pos)), int(np.ceil(pos))
                vlo = vals[np.searchsorted(cum, lo, side="right")]
                vhi = vals[np.searchsorted(cum, hi, side="right")]
                out.append(vlo + (vhi - vlo) * (pos - lo))
            rows[zone] = out
        return pd.DataFrame.from_dict(rows, orient="index", columns=list(qs))

    return _zone_reduce(lambda v, z: _hist_block(v, z, resolution), combine, values, zones)


def _lookup(zones, table: pd.Series):
    """Per-pixel value of `table` (indexed by zone id, any integers) for a zone array; NaN outside units (id <= 0)
    or for ids not in the table. Memory follows the number of units, not the largest id (zone_index.lookup)."""
    ids = table.index.to_numpy(dtype=np.int64)
    keep = ids > 0
    ids, vals = ids[keep], table.to_numpy(dtype=np.float64)[keep]

    def apply(z):
        return zone_index.lookup(z, ids, vals)

    if isinstance(zones, da.Array):
        return zones.map_blocks(apply, dtype=np.float64)
    return apply(zones)


# ---- the reclassification --------------------------------------------------------------------------------
def _data(x, name):
    if x is None:
        raise InputError(f"the {name} raster is missing", name)
    d = x.data if isinstance(x, xr.DataArray) else x
    return d.astype(np.float32) if not np.issubdtype(d.dtype, np.floating) else d


def reclassify(
    elevation: xr.DataArray,
    slope_percent: xr.DataArray,
    distance: xr.DataArray,
    aridity: xr.DataArray,
    zones: xr.DataArray,
    *,
    crop: xr.DataArray | None = None,
    breaks: Breaks = Breaks(),
    flat_rule: FlatUnitRule | None = None,
    few_crop_rule: FewCropRule | None = FewCropRule(),
    check: bool = True,
) -> tuple[dict[str, xr.DataArray], pd.DataFrame]:
    """Class rasters (float32, NaN = missing or outside units) for the four factors, and a per-unit table.

    Order of rules: ordinary classes, then the flat-unit rule, then the few-crop rule (it wins; neither fills a
    pixel whose factor is missing). Zone ids may be any positive integers (e.g. 9-digit township codes). `crop`
    (fraction or 0/1; crop pixel = value > 0) is needed for the few-crop rule; without it the rule is
    skipped. A unit with no crop pixels counts 0 and so gets class 1. Pixels outside any unit are NaN.
    The table has, per zone id: elevation_min, distance_min, relief (with the flat rule), flat,
    crop_pixels and few_crop (with the few-crop rule).

    Every raster is a DataArray (y, x) with a CRS, all on one grid (GridError otherwise); declared nodata
    (`.rio.nodata`, `_FillValue`, ...) is missing (zones: outside any unit) and an undecoded `scale_factor` applied
    (irrmap.core.array_input). `check` (default on) runs the CLI's value checks (irrmap.suitability.guards) on the
    factors in the breaks' units: slope in percent (check_slope_values), distance in metres (check_distance_values:
    a distance in km is refused), the aridity index (check_aridity_index: a median above 3 warns, above 30 or
    negative values are refused); turn it off when the caller has checked them (or uses other breaks' units).
    """
    from irrmap.suitability import guards
    from irrmap.suitability.aridity import api_source

    func = "reclassify"
    elevation, slope_percent, distance, aridity = (raster_arg(v, n, func, georeferenced=False) if v is not None else None for v, n in (
        (elevation, "elevation"), (slope_percent, "slope_percent"), (distance, "distance"), (aridity, "aridity")))
    zones = raster_arg(zones, "zones", func, codes_fill=0, georeferenced=False)
    crop = raster_arg(crop, "crop", func, georeferenced=False) if crop is not None else None
    same_grid({"zones": zones, "elevation": elevation, "slope_percent": slope_percent, "distance": distance,
               "aridity": aridity, "crop": crop}, func)
    if check:
        if slope_percent is not None:
            guards.check_slope_values(slope_percent, api_source(func, "slope_percent"))
        if distance is not None:
            guards.check_distance_values(distance, api_source(func, "distance"))
        if aridity is not None:
            guards.check_aridity_index(aridity, api_source(func, "aridity"))
    z = zones.data
    inputs = {"elevation": _data(elevation, "elevation"), "distance": _data(distance, "distance"),
              "slope": _data(slope_percent, "slope"), "aridity": _data(aridity, "aridity")}
    shapes = {k: v.shape for k, v in inputs.items()}
    if any(s != z.shape for s in shapes.values()):
        raise InputError(f"factor rasters {shapes} and zones {z.shape} are on different grids", "suitability", "align all inputs on one grid")
    columns: dict[str, pd.Series] = {}
    in_unit = z > 0
    xp = da if isinstance(z, da.Array) else np
    classes = {}
    outside = None
    for name, values in inputs.items():
        if name in breaks.relative:
            mins = zonal_min(values, z)
            columns[f"{name}_min"] = mins
            offset = _lookup(z, mins)
            if isinstance(offset, np.ndarray) and isinstance(values, np.ndarray):
                values = np.subtract(values, offset, out=offset)  # into the lookup's new float64 array
            else:
                values = values - offset
            del offset
        cls = classify(values, getattr(breaks, name))
        if isinstance(cls, np.ndarray) and isinstance(in_unit, np.ndarray):  # classify's new array: set in place
            if outside is None:
                outside = ~in_unit
            cls[outside] = np.float32(np.nan)
            classes[name] = cls
        else:
            classes[name] = xp.where(in_unit, cls, np.float32(np.nan))
        del cls, values
    del outside
    if flat_rule is not None:
        lo, hi = flat_rule.percentiles
        pct = zonal_percentiles(inputs["elevation"], z, (lo, hi), flat_rule.resolution)
        relief = (pct[hi] - pct[lo]) if len(pct) else pd.Series(dtype=float)
        flat = relief <= flat_rule.max_relief
        if flat_rule.zones is not None:
            flat &= flat.index.isin(list(flat_rule.zones))
        columns["relief"] = relief
        columns["flat"] = flat
        flat_px = _lookup(z, flat.astype(float)) > 0
        for name, cls in flat_rule.classes.items():
            if name not in classes:
                raise ConfigError(f"unknown factor {name!r}", "suitability.flat_rule.classes", f"use one of {', '.join(FACTORS)}")
            if not 1 <= cls <= breaks.n_classes(name):
                raise ConfigError(f"class {cls} is outside 1..{breaks.n_classes(name)} for {name}", "suitability.flat_rule.classes")
            if isinstance(classes[name], np.ndarray) and isinstance(flat_px, np.ndarray):  # our own array: set in place
                classes[name][flat_px & ~np.isnan(classes[name])] = np.float32(cls)
            else:
                classes[name] = xp.where(flat_px & ~xp.isnan(classes[name]), np.float32(cls), classes[name])
    table = pd.DataFrame(columns)
    if "flat" in table:
        table["flat"] = table["flat"].fillna(False).astype(bool)
    if few_crop_rule is not None and crop is not None:
        counts = zonal_count(_data(crop, "crop"), z)
        all_ids = table.index.union(counts.index)
        table = table.reindex(all_ids)
        table["crop_pixels"] = counts.reindex(all_ids, fill_value=0).astype(np.int64)
        table["few_crop"] = table["crop_pixels"] < few_crop_rule.min_crop_pixels
        few_px = _lookup(z, table["few_crop"].astype(float)) > 0
        for name, cls in classes.items():
            # a missing input stays NaN (as under the flat rule): the rule sets a class, it does not invent the data
            if isinstance(cls, np.ndarray) and isinstance(few_px, np.ndarray):  # our own array: set in place
                cls[few_px & ~np.isnan(cls)] = np.float32(few_crop_rule.set_class)
            else:
                classes[name] = xp.where(few_px & ~xp.isnan(cls), np.float32(few_crop_rule.set_class), cls)
    out = {}
    for name, arr in classes.items():
        ref = zones
        res = xr.DataArray(arr.astype(np.float32, copy=False), dims=("y", "x"), coords={"y": ref.y, "x": ref.x}, name=f"{name}_class")
        res.attrs["n_classes"] = breaks.n_classes(name)
        if ref.rio.crs is not None:  # in place on our new array (write_crs/write_transform would deep-copy it twice)
            res = res.rio.write_crs(ref.rio.crs, inplace=True).rio.write_transform(ref.rio.transform(recalc=False), inplace=True)
        out[name] = res
    table.index.name = "zone"
    return out, table
