"""Windowed, resumable prediction of the irrigation map over a grid, only on crop pixels.

Outputs (uint8, nodata 255, tiled COGs):
- probability.tif: P(irrigated) x 100 on crop pixels (cropland > 0), rounded, but at least 51 where class 1 and at
  most 50 where class 0 (so value > 50 <=> class 1); 255 elsewhere;
- class.tif: 1 irrigated (P > 0.5), 0 cropland not irrigated, 255 no cropland (cropland 0 or missing), or a crop
  pixel misses a predictor the model was trained without missing values (also 255 in the other two maps): the
  encoding of the run's final mapping/class.tif (README; mapping.filter.filter_to_files), unfiltered;
- fraction.tif: irrigated fraction in percent = round(100 x f_crop) where irrigated, 0 elsewhere; 255 where
  cropland is missing (the published product's encoding).
The grid is cut into square tiles sized from a memory budget; each finished tile is saved atomically to
`OUT/.tiles/` and skipped when the run is repeated, so an interrupted run resumes. When every tile exists
the three maps are assembled from the parts and the parts are deleted. Trees are evaluated by
models.compiled_forest in `n_jobs` threads; the next tile's inputs are read while the current one predicts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import pickle
import shutil
from pathlib import Path
from typing import Callable, Mapping

import dask
import dask.array as da
import numpy as np
import pandas as pd
import rasterio
import xarray as xr
from dask.base import tokenize
from numba import njit
from rasterio.windows import Window

from irrmap.core.array_input import raster_arg, same_grid
from irrmap.core.atomic import atomic_path, write_failure, write_text_atomic
from irrmap.core.done_marker import clear_done, is_done, write_done
from irrmap.core.errors import DataError, GridError, InputError, OutputError
from irrmap.core.fill_values import FILL_VALUES, RANGE_TOLERANCE, fills_outside, tolerance_bounds  # noqa: F401 (FILL_VALUES, RANGE_TOLERANCE: this module's names before)
from irrmap.core.grid import Grid
from irrmap.core.manifest import sha256_file
from irrmap.core.memory import fix_malloc_thresholds
from irrmap.core.progress import progress_bar
from irrmap.core.palettes import IRRIGATION
from irrmap.core.raster_write import RasterOutput, gdal_cache_bytes, write_rasters
from irrmap.mapping.map_shift import MapTally, check_map
from irrmap.mapping.map_swaps import check_swaps
from irrmap.mapping.tile_runner import tile_runner
from irrmap.models.persistence import check_features, load_model

log = logging.getLogger(__name__)

NODATA = 255
OUTPUTS = ("probability", "class", "fraction")
DERIVED = ("lon", "lat")  # predictors computed from the grid when no raster is given
_DESCRIPTIONS = {"probability": "P(irrigated) x 100 (crop pixels)", "class": "1 irrigated, 0 cropland not irrigated, 255 no cropland",
                 "fraction": "irrigated fraction of the pixel, percent"}


# ---- input guards -------------------------------------------------------------------------------------
def check_cropland_fraction(values, where: str = "cropland") -> None:
    """InputError unless `values` (NaN = missing) are a 0..1 fraction: the one cropland check of predict and filter."""
    f = np.asarray(values, np.float32)
    if not np.isfinite(f).any():
        return
    lo, hi = float(np.nanmin(f)), float(np.nanmax(f))
    if hi > 1.0 + 1e-6:
        raise InputError(f"cropland reaches {hi:g}; it must be a fraction 0..1", where,
                         "scale percent cropland by 0.01 (--cropland-scale 0.01)" if hi <= 100 + 1e-6 else
                         "give the crop fraction (0..1), not a class map or another product")
    if lo < 0:
        raise InputError(f"cropland reaches {lo:g}; it must be a fraction 0..1", where,
                         "declare the file's fill value as nodata (gdal_edit.py -a_nodata VALUE) or check its signedness")


# a predictor whose crop pixels in a tile have their median farther than RANGE_TOLERANCE training ranges (max - min)
# outside the training pool's range is on another scale; FILL_VALUES: the one list of fills the pool, the fit and
# prediction judge alike (irrmap.core.fill_values, which gives their sources and the rule, imported above)
SAMPLE_ROWS = 65536  # rows of a tile whose medians FeatureGuard checks
MIN_ROWS_FOR_RANGE = 16  # a tile with fewer crop pixels is not judged


class FeatureGuard:
    """What the model card says about the training pool's predictors (card["feature_ranges"]: name -> {"min",
    "max", "median", "missing"}, written by `irrmap models fit`), as checks on a tile's feature rows.

    Missing values: a feature whose pool had no missing value (or whose card records none: older cards) makes a
    row missing it unpredictable; `check` drops those rows (predict_block writes nodata). Ranges: a feature
    (not lon/lat) whose median over the tile's crop pixels lies more than RANGE_TOLERANCE training ranges
    outside the training min..max raises InputError; without recorded ranges nothing is checked. Whole map: a
    feature with a recorded p01/p99 is also tallied (`new_tally`, `check(..., tally=)`) for the whole-map test of
    irrmap.mapping.map_shift (shares of crop pixels below p01 / above p99, a histogram median)."""

    def __init__(self, features, ranges: Mapping | None = None):
        ranges = dict(ranges or {})
        self.features = list(features)
        self.missing_ok = np.array([bool((ranges.get(f) or {}).get("missing", 0)) for f in self.features], bool)
        self.bounds = {}
        for j, f in enumerate(self.features):
            r = ranges.get(f) or {}
            if f in DERIVED or r.get("min") is None or r.get("max") is None:
                continue
            lo, hi = float(r["min"]), float(r["max"])
            self.bounds[j] = (lo, hi, *tolerance_bounds(lo, hi))  # RANGE_TOLERANCE ranges each side
        # whole-map test (map_shift): features with p01 and p99 recorded (cards since models fit wrote them)
        self.shift_limits = {j: (float(ranges[f]["p01"]), float(ranges[f]["p99"]), self.bounds[j][0], self.bounds[j][1])
                             for j, f in enumerate(self.features)
                             if j in self.bounds and ranges[f].get("p01") is not None and ranges[f].get("p99") is not None}
        self.medians = {j: (None if ranges[self.features[j]].get("median") is None else float(ranges[self.features[j]]["median"]))
                        for j in self.shift_limits}

    def new_tally(self) -> MapTally | None:
        """An empty whole-map tally for this guard's features with p01/p99 (None when there is none)."""
        return MapTally(self.shift_limits) if self.shift_limits else None

    def check_map(self, tally: MapTally | None) -> None:
        """DataError when the whole map's tally shows two predictors exchanged (map_swaps.check_swaps) or a predictor
        off the training distribution (map_shift.check_map)."""
        if tally is not None:
            check_swaps(tally, self.features, self.medians)
            check_map(tally, self.features, self.medians)

    @classmethod
    def from_card(cls, card: Mapping | None, features) -> "FeatureGuard":
        return cls(features, (card or {}).get("feature_ranges"))

    def token(self):
        return (self.features, self.missing_ok.tolist(), sorted(self.bounds.items()), sorted(self.shift_limits.items()))

    @property
    def need(self) -> np.ndarray:
        """(n_features,) bool: features whose missing value makes a row unpredictable."""
        return ~self.missing_ok

    def check(self, X: np.ndarray, stats: tuple | None = None, tally: MapTally | None = None) -> np.ndarray:
        """Rows (bool) that can be predicted; raises InputError for a predictor on another scale. The medians are
        taken over every k-th row, at most SAMPLE_ROWS of them (a scale error is a factor of 100 or more, not a
        shift a sample could miss), from one contiguous copy of those rows. `stats`: (lows, highs, finite) as
        `row_stats(X, self.need)` gives them, which predict_block's gather (`_gather_rows`) computes while it
        builds X; without them one compiled pass over X computes them (the fill-value screen and the missing
        test read them: no column copy, no float64 row sums). `tally` (MapTally): the same sample's rows are
        counted into it, each standing for `step` rows of X (the whole-map test)."""
        lows, highs, finite = stats if stats is not None else row_stats(X, self.need)
        # the scale test first: a predictor on another scale (EVI x 1e4) may hold a few pixels equal to a fill value
        # by chance (evi 0.0255 x 1e4 = 255), and the fill-value message would blame an undeclared nodata; a median
        # that is itself a fill value (most pixels a fill) is reported by the fill-value test
        if self.bounds and X.shape[0]:
            step = max(1, -(-X.shape[0] // SAMPLE_ROWS))
            sample = X[::step]  # rows in one copy: a strided column of X touches a cache line per value
            if tally is not None:
                tally.add(sample, step)
            for j, (lo, hi, low, high) in self.bounds.items():
                v = sample[:, j]
                v = v[np.isfinite(v)]
                if v.size >= MIN_ROWS_FOR_RANGE and not _median_within(v, low, high):
                    med = float(np.median(v))
                    if not low <= med <= high:
                        if float(np.float32(med)) in FILL_VALUES:
                            self._check_fill_values(X, lows, highs)
                        raise InputError(f"predictor {self.features[j]} has median {med:g} on crop pixels, far outside the training "
                                         f"pool's range {lo:g}..{hi:g}", self.features[j],
                                         "give the predictor on the scale the model was trained with (same product, units and scale "
                                         "factor as the training pool)")
        self._check_fill_values(X, lows, highs)
        return np.asarray(finite, bool)

    def _check_fill_values(self, X: np.ndarray, lows: np.ndarray, highs: np.ndarray) -> None:
        """InputError when crop pixels of a predictor hold a common fill value (FILL_VALUES) that lies farther than
        RANGE_TOLERANCE training ranges outside the training pool's range: a nodata the file does not declare,
        which the model would otherwise take as a real value (a few -9999 pixels leave the median unmoved).
        Columns are screened by their min/max ignoring NaN (`lows`, `highs`), so a clean tile costs no pass."""
        if not self.bounds or not X.shape[0]:
            return
        for j in sorted(self.bounds):
            lo, hi, low, high = self.bounds[j]
            if low <= lows[j] and highs[j] <= high:
                continue
            for fill, n in fills_outside(X[:, j], low, high)[:1]:  # the rule of the pool and the fit (irrmap.core.fill_values)
                raise InputError(f"predictor {self.features[j]} has {n:,} crop pixels (in one tile) of value {fill:g}, a common fill value far "
                                 f"outside the training pool's range {lo:g}..{hi:g}: an undeclared nodata", self.features[j],
                                 f"declare it as the file's nodata (gdal_edit.py -a_nodata {fill:g} FILE) so those pixels are "
                                 "read as missing")


def _median_within(v: np.ndarray, low: float, high: float) -> bool:
    """True when the median of `v` (finite float32, n values) surely lies in low..high: fewer than n // 2 values
    below `low` and fewer than n // 2 above `high` put both middle values (the middle one for odd n) inside, so
    their mean too (float rounding is monotone). Two comparisons instead of a selection (1.1 ms per 65,536
    values); False means: compute the median."""
    half = v.size // 2
    return int(np.count_nonzero(v < low)) < half and int(np.count_nonzero(v > high)) < half


@njit(cache=True, nogil=True)
def _gather_rows(stack, idx, need, X, lows, highs, finite):
    """X[i, j] = stack[j, idx[i]] (stack: (n_features, n_pixels) float32; X: (len(idx), n_features)), row by row,
    and in the same pass each column's min and max ignoring NaN (+inf / -inf for a column without a value) and
    whether row i is finite in every column j with need[j]. The one kernel of these statistics: row_stats runs
    it on rows already gathered (a helper taking the arrays, even inlined, made numba count references per
    value: 50x slower; a flag choosing gather or scan inside the loop made the gather 1.3x slower)."""
    n_rows, n_cols = X.shape
    for j in range(n_cols):
        lows[j] = np.inf
        highs[j] = -np.inf
    for i in range(n_rows):
        p = idx[i]
        good = True
        for j in range(n_cols):
            v = stack[j, p]
            X[i, j] = v
            if v < lows[j]:  # noqa: PLR1730 (a comparison skips NaN, as np.fmin; min() would not be that explicit)
                lows[j] = v
            if v > highs[j]:  # noqa: PLR1730
                highs[j] = v
            if need[j] and not np.isfinite(v):
                good = False
        finite[i] = good


def _stats_arrays(n_rows: int, n_cols: int):
    return np.empty(n_cols, np.float32), np.empty(n_cols, np.float32), np.empty(n_rows, np.bool_)


def row_stats(X: np.ndarray, need) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lows, highs, finite) of feature rows X (n_rows, n_features) float32: each column's min and max ignoring NaN
    (float32; +inf / -inf where a column has no value), and (n_rows,) bool, True where the row is finite in every
    column with `need` (True: the model cannot take it missing). One compiled pass (_gather_rows, into scratch rows)."""
    X = np.ascontiguousarray(X, np.float32)
    lows, highs, finite = _stats_arrays(X.shape[0], X.shape[1])
    # _gather_rows with X's transpose as the stack and every row taken, into scratch rows (X itself is not written:
    # it may be read-only or shared); predict_block never comes here (its gather returns the statistics)
    _gather_rows(X.T, np.arange(X.shape[0], dtype=np.int64), np.ascontiguousarray(need, np.bool_), np.empty_like(X),
                 lows, highs, finite)
    return lows, highs, finite


def feature_rows_of(features, idx: np.ndarray, n_pixels: int, need=None) -> tuple[np.ndarray, tuple]:
    """(X, stats): the rows `idx` (flat pixel indices, int64) of `features` ((n_features, h, w) array, or a list
    of n_features (h, w) arrays, as tiles pass them) as a C-contiguous (len(idx), n_features) float32 array, the
    layout the tree kernels read, and row_stats(X, need) computed in the same pass (`need`: default none).
    A list is copied once into one (n_features, h * w) float32 stack, then rows are gathered from it in one
    compiled pass: column by column, numpy wrote X with a 112-byte stride per value (28 features) and made a
    temporary per column (258,626 rows x 28: 103 ms, with the guard's min/max and row sums 171 ms; now 25 ms)."""
    if isinstance(features, (list, tuple)):
        stack = np.empty((len(features), n_pixels), np.float32)
        for j, a in enumerate(features):
            stack[j] = np.asarray(a, np.float32).reshape(-1)
    else:
        stack = np.ascontiguousarray(np.asarray(features, np.float32).reshape(features.shape[0], -1))
    n_cols = stack.shape[0]
    need = np.zeros(n_cols, np.bool_) if need is None else np.ascontiguousarray(need, np.bool_)
    X = np.empty((idx.size, n_cols), np.float32)
    lows, highs, finite = _stats_arrays(idx.size, n_cols)
    _gather_rows(stack, np.ascontiguousarray(idx, np.int64), need, X, lows, highs, finite)
    return X, (lows, highs, finite)


def check_model_region(grid: Grid, card: Mapping | None, features, n: int = 33, where: str = "model") -> None:
    """InputError when a model that takes lon/lat as predictors is applied to a grid that lies wholly outside the
    longitudes or the latitudes of its training pool (card["feature_ranges"]["lon"/"lat"] min..max, degrees): a
    model of another region or run, whose lon/lat splits would give every pixel the class of the pool's edge.
    The grid's extent is taken from an n x n lattice of pixel centres (edges included; NaN off the Earth
    skipped). Nothing is checked for models without lon/lat or cards without their ranges (older cards)."""
    ranges = (card or {}).get("feature_ranges") or {}
    if not {"lon", "lat"} <= set(features) or not all((ranges.get(k) or {}).get("min") is not None for k in ("lon", "lat")):
        return
    rows = np.linspace(0, grid.height - 1, min(n, grid.height))
    cols = np.linspace(0, grid.width - 1, min(n, grid.width))
    lon, lat = _lonlat_lattice(grid, rows, cols)
    for name, v in (("lon", lon), ("lat", lat)):
        v = np.asarray(v, np.float64)
        v = v[np.isfinite(v)]
        if not v.size:
            return
        lo, hi = float(ranges[name]["min"]), float(ranges[name]["max"])
        if float(v.max()) < lo or float(v.min()) > hi:
            raise InputError(f"the model was trained on samples at {name} {lo:g}..{hi:g}, but the grid covers {name} "
                             f"{float(v.min()):g}..{float(v.max()):g}: it takes {name} as a predictor, so it is a model of another "
                             "region (or run)", where, "fit a model on a training pool of this region (irrmap models fit), or "
                             "predict with the model of the run that made these inputs")


def _lonlat_lattice(grid: Grid, rows, cols):
    from irrmap.core import ground

    r, c = np.meshgrid(rows, cols, indexing="ij")
    return ground.lonlat_at(grid, r, c)


# ---- zone rasters numbered otherwise than the training pool --------------------------------------------
def zone_lookup_path(zones_path, given=None) -> Path | None:
    """The zone raster's lookup table (zone id -> unit code): `given`, else the CSV that `irrmap units rasterize`
    writes beside it (ZONES.csv), else the run's units/units.csv beside units/zones.tif; None when there is none."""
    if given:
        return Path(given)
    z = Path(zones_path)
    for cand in (z.with_suffix(".csv"), z.parent / "units.csv"):
        if cand.is_file():
            try:
                cols = pd.read_csv(cand, nrows=0).columns
            except (OSError, ValueError):
                continue
            if {"zone", "code"} <= set(cols):
                return cand
    return None


def read_zone_lookup(path) -> pd.DataFrame:
    """The lookup table's zone (int) and code (str) columns; InputError naming the file when they are not usable."""
    path = Path(path)
    try:
        t = pd.read_csv(path, dtype={"code": str})
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the zone lookup: {exc}", str(path), "give the CSV written by `irrmap units rasterize`") from None
    if not {"zone", "code"} <= set(t.columns):
        raise InputError(f"the zone lookup has no zone and code columns (it has {', '.join(map(str, t.columns))})", str(path),
                         "give the CSV written by `irrmap units rasterize` (columns zone, code)")
    t = t[["zone", "code"]].dropna()
    t["zone"] = t["zone"].astype(np.int64)
    t["code"] = t["code"].astype(str)
    if t["zone"].duplicated().any():
        raise InputError(f"zone ids repeat in the zone lookup: {sorted(t.loc[t['zone'].duplicated(), 'zone'].unique())[:5]}",
                         str(path), "give the CSV written by `irrmap units rasterize` with this zone raster")
    return t


def restore_leading_zeros(codes: list[str], model, where: str | None = None) -> list[str]:
    """`codes` with the leading zeros a spreadsheet or a numeric column dropped put back: when every code is
    digits and they are of several lengths (US FIPS 1001 beside 56045), or shorter than the county model's own
    unit codes (all digits of one length), the shorter ones are zero-padded to that length ("01001"), and that
    is logged. Other codes are returned unchanged."""
    codes = [str(c) for c in codes]
    if not codes or not all(c.isdigit() for c in codes):
        return codes
    width = max(len(c) for c in codes)
    if getattr(model, "scope", "global") == "county":
        own = [str(k) for k in (*getattr(model, "models_", {}), *getattr(model, "constants_", {})) if str(k)]
        if own and all(k.isdigit() for k in own) and len({len(k) for k in own}) == 1:
            width = max(width, len(own[0]))
    short = [c for c in codes if len(c) < width]
    if not short:
        return codes
    log.warning("%d unit codes of %s have fewer than %d digits (e.g. %s): read as codes whose leading zeros were lost and "
                "padded (%s); write the code column as text to keep them", len(short), where or "the zone lookup", width,
                short[0], short[0].zfill(width))
    return [c.zfill(width) for c in codes]


NO_LOOKUP = "no lookup (zone id -> unit code) was found beside it"
NO_LOOKUP_FIX = ("keep the CSV that `irrmap units rasterize` wrote beside the zone raster (ZONES.csv) or pass --zone-table; its "
                 "unit codes are joined to the model's units")


def zone_keys_for(model, zone_ids, lookup: pd.DataFrame | None, zones_name: str, lookup_name: str | None = None, *,
                  no_lookup: str = NO_LOOKUP, no_lookup_fix: str = NO_LOOKUP_FIX, partial_ok: bool = False) -> dict[int, str] | None:
    """The zone id -> scope key table to predict a scoped model with a zone raster whose distinct ids (0 = no unit
    left out) are `zone_ids`: joined on unit codes through `lookup` (read_zone_lookup) when given, so a raster
    numbered otherwise than the training pool gets each unit's own model. Without a lookup the ids must be the
    model's own (its zone_keys_); returns None then (the model's table). Raises InputError for ids not in the
    lookup, ids unknown to the model without a lookup, or a lookup none of whose units the model was trained on;
    logs a warning with counts for units without a model of their own (they use the global fallback). `no_lookup` and
    `no_lookup_fix`: the refusal's words for unknown ids without a lookup (default: the CLI's, naming --zone-table).
    `partial_ok` (predict_to_files, which has no lookup to find): without a lookup, unknown ids are refused only when
    none of the ids is a training zone (a raster numbered otherwise, e.g. by unit code); some unknown ids among
    training zones (units without training samples, as in the run's own zone raster) are logged as taking the global
    fallback."""
    if getattr(model, "scope", "global") == "global":
        return None
    ids = sorted(int(z) for z in np.asarray(zone_ids).ravel() if int(z) != 0)
    if lookup is None:
        unknown = [z for z in ids if z not in model.zone_keys_]
        if unknown and partial_ok and len(unknown) < len(ids):
            log.warning("%d of the %d zone ids of %s are not zones of the model's training pool (e.g. %s): their pixels use the "
                        "global fallback", len(unknown), len(ids), zones_name, unknown[:5])
        elif unknown:
            raise InputError(f"{len(unknown)} of the {len(ids)} zone ids of the zone raster are not the model's training zones "
                             f"(e.g. {unknown[:5]}) and {no_lookup}", zones_name, no_lookup_fix)
        log.info("zone ids of %s are taken as the model's training zones (no lookup table beside it)", zones_name)
        return None
    table = dict(zip(lookup["zone"].tolist(), restore_leading_zeros(lookup["code"].tolist(), model, lookup_name)))
    absent = [z for z in ids if z not in table]
    if absent:
        raise InputError(f"{len(absent)} zone ids of {zones_name} are not in the lookup (e.g. {absent[:5]})", lookup_name,
                         "the lookup belongs to another zone raster: rasterize the units again (irrmap units rasterize "
                         "writes both files together)")
    codes = [table[z] for z in ids]
    keys = model.keys_for_codes(codes) if codes else np.array([], str)
    own = np.array([model.has_own_model(k) for k in keys], bool)
    if ids and not own.any():
        raise InputError(f"none of the {len(ids)} units of {lookup_name} (codes such as {codes[:3]}) is a unit the "
                         f"{model.scope} model was trained on", lookup_name,
                         "give the zone raster of the units the training pool was made with (same unit codes)")
    if (~own).any():
        log.warning("%d of %d units of %s have no %s model of their own (no training samples) and use the global fallback: %s",
                    int((~own).sum()), len(ids), zones_name, model.scope, ", ".join(np.asarray(codes)[~own][:8]))
    return {int(z): str(k) for z, k in zip(ids, keys)}


# ---- one block ----------------------------------------------------------------------------------------
def predict_block(model, cropland: np.ndarray, features: np.ndarray, zones: np.ndarray | None = None,
                  zone_keys: Mapping[int, str] | None = None, n_threads: int | None = None,
                  guard: "FeatureGuard | None" = None, tally: MapTally | None = None) -> np.ndarray:
    """(3, h, w) uint8 probability/class/fraction for one block: `cropland` (h, w) fraction 0..1 (NaN missing),
    `features` (n_features, h, w) in the model's order, or a list of n_features (h, w) arrays (not stacked:
    each is gathered straight into the rows), `zones` (h, w) zone ids for scoped models. With a `guard`
    (FeatureGuard, from the model card), crop pixels missing a predictor the model was not trained with missing
    get nodata (255) in all three outputs, and predictors far outside the training range raise InputError;
    `tally` (guard.new_tally()) receives the block's counts for the whole-map test.
    Bands: probability = round(100 p) (p = P(irrigated)), except that a class-1 pixel (p > 0.5) stores at least 51
    and a class-0 pixel at most 50, so that "probability > 50" is exactly class 1; class = p > 0.5 on crop pixels,
    255 (NODATA) without cropland (cropland 0 or NaN: the README's class.tif encoding); fraction =
    round(100 x cropland) where class 1, else 0 (255 where the cropland is missing)."""
    f = np.asarray(cropland, np.float32)
    check_cropland_fraction(f)
    valid = np.isfinite(f)
    crop = valid & (f > 0)
    out = np.full((3,) + f.shape, NODATA, np.uint8)
    out[1][crop] = 0  # class: 0 cropland not irrigated; pixels without cropland stay 255 (no cropland)
    out[2][valid] = 0
    idx = np.flatnonzero(crop)
    if idx.size:
        # rows of crop pixels, one column per feature (the kernels read rows)
        X, stats = feature_rows_of(features, idx, f.size, None if guard is None else guard.need)
        if guard is not None:
            keep = guard.check(X, stats, tally)  # refuses predictors far outside the training range; rows missing a predictor
            if not keep.all():  # the model never saw: nodata in every output, not a class
                dropped = idx[~keep]
                idx, X = idx[keep], X[keep]
                for band in out:
                    band.reshape(-1)[dropped] = NODATA
        if not idx.size:
            return out
        if zones is None:
            p = model.positive_proba(X, None, n_threads=n_threads)
        else:
            p = model.positive_proba_zones(X, np.asarray(zones).ravel()[idx], zone_keys, n_threads=n_threads)
        irrigated = p > 0.5
        prob, cls, frac = out[0].reshape(-1), out[1].reshape(-1), out[2].reshape(-1)
        # stored percent agrees with the class at 50: P > 50 <=> class 1 (np.rint alone sent p in (0.5, 0.505) to 50,
        # the value of class-0 pixels too; the demo held 356 such class-1 pixels): class 1 at least 51, class 0 at most 50
        pct = np.rint(p * 100.0)
        prob[idx] = np.where(irrigated, np.maximum(pct, 51), np.minimum(pct, 50)).astype(np.uint8)
        cls[idx] = irrigated
        frac[idx] = np.where(irrigated, np.rint(f.ravel()[idx] * 100.0), 0).astype(np.uint8)
    return out


# ---- tiling -------------------------------------------------------------------------------------------
def tile_size_for(n_features: int, memory_mb: float, chunk: int | None = None, in_flight: int = 2) -> int:
    """Square tile side (pixels) whose working set fits half of `memory_mb` with `in_flight` tiles predicted
    side by side: per tile its inputs as read and stacked, the feature matrix of its crop pixels,
    probabilities, outputs and temporaries. Aligned to the inputs' chunk when given (a tile that cut a chunk
    would read the whole chunk: read inputs with chunks of this size, as `irrmap run` does), else to 512, 256,
    128 or 64 pixels, the block sizes of tiled GeoTIFFs, so no file block is decoded for two tiles.
    InputError for a `memory_mb` that is not a finite number above 0 (NaN passed max(nan, 16) and failed in
    int(); inf overflowed)."""
    if not (math.isfinite(memory_mb) and memory_mb > 0):
        raise InputError(f"memory budget {memory_mb!r} MB is not a finite number above 0", "memory_mb", "give a budget in MB, e.g. 512")
    bytes_per_px = max(1, int(in_flight)) * (12 * n_features + 39)
    side = int(math.sqrt(max(memory_mb, 16) * 2**20 * 0.5 / bytes_per_px))
    side = max(64, min(4096, side))
    if chunk:
        if side >= chunk:
            side = chunk * (side // chunk)
        else:  # a whole fraction of the chunk (halvings), so tiles never straddle chunk edges
            part = chunk
            while part > side and part % 2 == 0 and part > 64:
                part //= 2
            side = part
    else:  # multiples of 512 (irrmap's COG blocks, GDAL's 256 twice): a tile never splits a block of its inputs
        quantum = next(q for q in (512, 256, 128, 64) if side >= q)
        side = side // quantum * quantum
    return int(side)


def _chunk_of(arrays) -> int | None:
    for a in arrays:
        data = getattr(a, "data", a)
        if isinstance(data, da.Array):
            return int(max(data.chunks[0][0], data.chunks[1][0]))
    return None


def _token(a) -> str:
    data = getattr(a, "data", a)
    return data.name if isinstance(data, da.Array) else tokenize(np.asarray(data))


class _Tile:
    """One tile's task: its window, its part file, and its inputs cut to the window (numpy slices, or dask
    graphs sliced to the window; with `cull`, culled here so a cluster worker receives only what the tile
    reads; locally the tile's own compute culls them, once). Reads cropland (and zones) first and the
    predictors only where there is cropland; lon/lat come from the grid."""

    def __init__(self, index: int, window: Window, part: Path, grid: Grid, cropland, predictors, zones, features,
                 cull: bool = True, chunks: Mapping[int, _ChunkGraph] | None = None):
        r0, c0 = int(window.row_off), int(window.col_off)
        cut = (slice(r0, r0 + int(window.height)), slice(c0, c0 + int(window.width)))
        self.index, self.window, self.part, self.grid, self.features = index, window, part, grid, list(features)
        chunks = chunks or {}

        def take(a):  # an input whose chunk is this window exactly: that chunk's task, not a slice of the whole graph
            graph = chunks.get(id(a))
            ref = graph.chunk(cut) if graph is not None else None
            return ref if ref is not None else _cut(a, cut, cull)

        self.base = [take(cropland)] + ([take(zones)] if zones is not None else [])
        # a predictor that is the cropland array itself (the same dask graph: e.g. the `cropland` predictor of
        # `irrmap run`) is taken from the base read instead of being read and decoded a second time
        same = _name(cropland)
        self.as_cropland = [n for n in self.features if n in predictors and same is not None and _name(predictors[n]) == same]
        self.predictors = {n: take(predictors[n]) for n in self.features if n in predictors and n not in self.as_cropland}

    def read(self):
        got = _compute(self.base)
        f = got[0].astype(np.float32, copy=False)
        z = got[1] if len(got) > 1 else None
        if not (np.isfinite(f) & (f > 0)).any():
            return f, None, z
        vals = dict(zip(self.predictors, _compute(list(self.predictors.values()))))
        vals.update({n: f for n in self.as_cropland})
        if any(n not in vals for n in self.features):
            lon, lat = self.grid.lonlat(self.window)
            vals.setdefault("lon", lon.astype(np.float32))
            vals.setdefault("lat", lat.astype(np.float32))
        return f, [np.asarray(vals[n], np.float32) for n in self.features], z  # predict_block gathers the rows from each


def _name(a) -> str | None:
    data = getattr(a, "data", a)
    return data.name if isinstance(data, da.Array) else None


def _cut(a, cut, cull: bool = True):
    data = getattr(a, "data", a)
    if isinstance(data, da.Array):
        return dask.optimize(data[cut])[0] if cull else data[cut]
    return np.asarray(data[cut])


class _ChunkGraph:
    """A dask array's graph, optimised and made a task dict once for every tile: a tile whose window is one of
    its chunks exactly (`irrmap run` reads inputs in chunks of the tile size) computes that chunk's task with
    its dependencies culled from the dict, instead of slicing the array and having dask build, optimise and
    order the whole graph again for every tile and input (16x demo: tile reads 5.9 -> 4.9 CPU-s, medians of 3
    interleaved runs). Local runs only: a cluster task receives culled slices (_cut)."""

    def __init__(self, data: da.Array):
        (opt,) = dask.optimize(data)
        self.name, self.graph = opt.name, dict(opt.__dask_graph__())
        self.rows, self.cols = np.cumsum((0,) + opt.chunks[0]), np.cumsum((0,) + opt.chunks[1])

    def chunk(self, cut) -> _ChunkRef | None:
        """The chunk whose rows and columns are `cut` (two slices), or None when the window is not one chunk."""
        ij = []
        for (lo, hi), edges in zip(((cut[0].start, cut[0].stop), (cut[1].start, cut[1].stop)), (self.rows, self.cols)):
            k = int(np.searchsorted(edges, lo))
            if k + 1 >= edges.size or edges[k] != lo or edges[k + 1] != hi:
                return None
            ij.append(k)
        return _ChunkRef(self.graph, (self.name, ij[0], ij[1]))


class _ChunkRef:
    """One chunk of a _ChunkGraph: its task dict (shared, never changed) and the chunk's key."""

    def __init__(self, graph: dict, key: tuple):
        self.graph, self.key = graph, key


def _chunk_graphs(arrays) -> dict[int, _ChunkGraph]:
    """id(array) -> _ChunkGraph for the 2-D dask-backed arrays of `arrays` (each graph built once)."""
    out = {}
    for a in arrays:
        data = getattr(a, "data", a)
        if isinstance(data, da.Array) and data.ndim == 2 and id(a) not in out:
            out[id(a)] = _ChunkGraph(data)
    return out


def _compute(arrays) -> list[np.ndarray]:
    """The tile's arrays, computed in the calling thread (a local thread or a cluster worker's task): chunk
    references (_ChunkRef) from their culled task dicts, merged, in one synchronous get; the rest by dask.compute."""
    from dask.local import get_sync
    from dask.optimization import cull

    refs = [k for k, x in enumerate(arrays) if isinstance(x, _ChunkRef)]
    rest = [k for k, x in enumerate(arrays) if not isinstance(x, _ChunkRef)]
    out: list = [None] * len(arrays)
    if refs:
        graph: dict = {}
        for k in refs:
            graph.update(cull(arrays[k].graph, [arrays[k].key])[0])
        for k, v in zip(refs, get_sync(graph, [arrays[k].key for k in refs])):
            out[k] = np.asarray(v)
    if rest:
        for k, v in zip(rest, dask.compute(*(arrays[k] for k in rest), scheduler="sync")):
            out[k] = np.asarray(v)
    return out


def _predict_tile(model, tile: _Tile, zone_keys, n_threads: int, guard: FeatureGuard | None = None) -> tuple[int, int, int, int]:
    """Read, predict and save one tile (atomically); runs as a task on a local thread or a cluster worker.
    Returns the tile's index, its number of crop pixels left nodata for a missing predictor, of crop pixels and of
    pixels with a cropland value. With a guard that tallies (whole-map test), the tile's tally is saved first,
    beside the part (`_tally_path`): a part without its tally is not a finished tile."""
    f, feats, z = tile.read()
    tally = guard.new_tally() if guard is not None else None
    if feats is None:
        block = predict_block(model, f, [], None)  # no crop pixel: no feature is read
    else:
        block = predict_block(model, f, feats, z, zone_keys, n_threads=n_threads, guard=guard, tally=tally)
    if tally is not None:
        with atomic_path(_tally_path(tile.part)) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, counts=tally.counts, hist=tally.hist)  # mostly empty bins: a few kB, not 8 B x bins
    with atomic_path(tile.part) as tmp:
        np.save(tmp, block)
    valid = np.isfinite(f)
    crop = valid & (f > 0)
    return tile.index, int((crop & (block[0] == NODATA)).sum()), int(crop.sum()), int(valid.sum())


def _tally_path(part: Path) -> Path:
    """The whole-map tally saved beside a tile part (r..._c....npy -> r..._c....tally.npz)."""
    return part.with_name(part.stem + ".tally.npz")


def _map_tally(guard: FeatureGuard | None, tiles, part) -> MapTally | None:
    """The sum of the tiles' saved tallies (None when the guard tallies nothing)."""
    total = guard.new_tally() if guard is not None else None
    if total is not None:
        for w in tiles:
            with np.load(_tally_path(part(w))) as t:
                total.merge(t["counts"], t["hist"])
    return total


API = "predict_to_files"


def _checked_arguments(cropland, predictors, zones):
    """(cropland, predictors, zones) checked and decoded by irrmap.core.array_input.raster_arg (each predictor named
    `predictors['NAME']`; zones with 0, the zone rasters' missing id, for their declared nodata), north-up
    (raster_arg), and all on one grid (same_grid). A predictor that is the cropland array itself stays that array.
    Predictors that are not a mapping are left to _by_feature_name's refusal."""
    given = cropland
    cropland = raster_arg(cropland, "cropland", API)
    if isinstance(predictors, Mapping):
        checked = {}
        for k, v in predictors.items():
            name = f"predictors[{str(k)!r}]"
            checked[k] = cropland if v is given else raster_arg(v, name, API)
        predictors = checked
    if zones is not None:
        zones = raster_arg(zones, "zones", API, codes_fill=0)
    if isinstance(predictors, Mapping):
        predictors = {k: _cropland_labels(v, cropland) for k, v in predictors.items()}
    zones = None if zones is None else _cropland_labels(zones, cropland)
    named = {f"predictors[{str(k)!r}]": v for k, v in predictors.items()} if isinstance(predictors, Mapping) else {}
    same_grid({"cropland": cropland, **named, "zones": zones}, API)
    return cropland, predictors, zones


def _cropland_labels(arr: xr.DataArray, cropland: xr.DataArray) -> xr.DataArray:
    """`arr` with the cropland's x / y labels when it is on the cropland's grid (Grid.aligned_with: float noise within
    1e-6 pixel) with labels that differ by that noise only (irrmap.read_raster's and rioxarray.open_rasterio's labels of
    one file differ by ~1e-14): tiles read inputs by position, so same_grid's exact-label rule (for xarray arithmetic)
    would refuse inputs this function always took. Anything else is returned as it is, for same_grid to judge."""
    if arr is cropland or any(d not in arr.coords or d not in cropland.coords for d in ("x", "y")) or arr.shape != cropland.shape:
        return arr
    if all(np.array_equal(arr[d].values, cropland[d].values) for d in ("x", "y")):
        return arr
    try:
        aligned = Grid.from_dataarray(arr).aligned_with(Grid.from_dataarray(cropland))
    except Exception:  # noqa: BLE001 (an unusable grid: same_grid names it)
        return arr
    return arr.assign_coords(x=cropland.x, y=cropland.y) if aligned else arr


def _checked_zone_keys(model, zone_ids, zone_keys: Mapping[int, str]) -> dict[int, str]:
    """`zone_keys` (zone id -> scope key) given to predict_to_files, as a dict of int -> str, checked against the
    distinct ids of the zone raster (`zone_ids`; 0 = no unit, left out). InputError when some raster ids have no key
    (their pixels would take the global fallback without a word: positive_proba_zones reads a missing id as "") or
    when none of the keys is a unit the model was trained on (a table of another model or scope); logs
    counts (log level info: zone_keys_for, which makes the CLI's and the run's tables, warns) when some keys have no
    model of their own (units without training samples take the fallback)."""
    try:
        table = {int(z): str(k) for z, k in dict(zone_keys).items()}
    except (TypeError, ValueError) as err:
        raise InputError(f"zone_keys is not a mapping of zone id -> scope key ({err})", f"{API}(zone_keys)",
                         "pass a dict such as {1: '110101', 2: '110102'} (irrmap.mapping.predict.zone_keys_for builds it)") from None
    ids = sorted(int(z) for z in np.asarray(zone_ids).ravel() if int(z) != 0)
    missing = [z for z in ids if z not in table]
    if missing:
        raise InputError(f"{len(missing)} of the {len(ids)} zone ids of the zone raster have no key in zone_keys (e.g. "
                         f"{missing[:5]}): their pixels would use the global fallback", f"{API}(zone_keys)",
                         "give a key for every zone id of the raster: zone_keys=irrmap.mapping.predict.zone_keys_for(model, "
                         "ZONE_IDS, irrmap.mapping.predict.read_zone_lookup('ZONES.csv'), 'zones')")
    used = sorted({table[z] for z in ids})
    own = [k for k in used if model.has_own_model(k)]
    if used and not own:
        raise InputError(f"none of the {len(used)} keys zone_keys gives the raster's zones (e.g. {used[:3]}) is a unit the "
                         f"{model.scope} model was trained on", f"{API}(zone_keys)",
                         f"give the {model.scope} keys of the model's units (model.keys_for_codes(CODES))")
    if len(own) < len(used):  # info: the CLI's and the run's tables come from zone_keys_for, which warns already
        log.info("%d of the %d keys zone_keys gives the raster's zones have no %s model of their own (no training "
                    "samples) and use the global fallback: %s", len(used) - len(own), len(used), model.scope,
                    ", ".join([k for k in used if k not in own][:8]))
    return table


def _zone_ids(zones: xr.DataArray) -> np.ndarray:
    """The distinct zone ids of a zone raster (block by block for a dask array; NaN left out)."""
    data = zones.data
    ids = da.unique(data).compute() if isinstance(data, da.Array) else np.unique(np.asarray(data))
    return ids[np.isfinite(ids)] if ids.dtype.kind == "f" else ids


def _check_inputs(grid: Grid, cropland, predictors: Mapping, zones, features) -> None:
    for name, arr in [("cropland", cropland), *predictors.items()] + ([("zones", zones)] if zones is not None else []):
        g = Grid.from_dataarray(arr)
        if not g.aligned_with(grid):
            raise GridError(f"{name} is not on the cropland grid: {g.mismatch_text(grid)}", name, "resample it onto the cropland grid")
    given = list(predictors)
    expected = [f for f in features if f not in DERIVED or f in predictors]
    check_features(expected, given, "predictors")


def _by_feature_name(predictors: Mapping, features) -> dict:
    """`predictors` (name -> array) in the model's feature order, matched by name (any order given). InputError at
    `predictors` for a name the model does not take or a feature without a predictor (lon/lat may be left out:
    derived from the grid), and for `predictors` that is not a mapping. Names identify the features, so the order
    given does not matter (docs/models_mapping.md)."""
    if not isinstance(predictors, Mapping):
        raise InputError(f"predictors is a {type(predictors).__name__}, not a mapping of feature name -> DataArray", "predictors",
                         f"pass a dict such as {{{', '.join(repr(f) + ': ...' for f in features[:3])}}} with the model's features")
    names = [str(k) for k in predictors]
    extra = [n for n in names if n not in features]
    missing = [f for f in features if f not in names and f not in DERIVED]
    if extra or missing:
        raise InputError(f"predictors differ from the model's features{' (missing ' + ', '.join(missing) + ')' if missing else ''}"
                         f"{' (unknown ' + ', '.join(extra) + ')' if extra else ''}", "predictors",
                         f"give one predictor per model feature, named as in the card: {', '.join(features)} (lon/lat may be "
                         "left out: derived from the grid)")
    given = {str(k): v for k, v in predictors.items()}
    return {f: given[f] for f in features if f in given}


# ---- whole map ----------------------------------------------------------------------------------------
def predict_to_files(model, cropland: xr.DataArray, predictors: Mapping[str, xr.DataArray], zones: xr.DataArray | None,
                     out_dir, *, memory_mb: float = 512, n_jobs: int | None = None, zone_keys: Mapping[int, str] | None = None,
                     tile_size: int | None = None, resume: bool = True, on_tile: Callable[[int, Window], None] | None = None,
                     tags: Mapping | None = None, cog: bool = True, resume_key: str | None = None,
                     card: Mapping | None = None) -> dict[str, Path]:
    """Predict the map tile by tile and write OUT/probability.tif, class.tif and fraction.tif (uint8, nodata 255).

    class.tif: 1 irrigated (P(irrigated) > 0.5), 0 cropland not irrigated, 255 no cropland (cropland 0 or missing)
    or a crop pixel missing a predictor: the README's encoding of the run's mapping/class.tif, before the run's 7x7
    filter (mapping.filter.filter_to_files with rule=False writes the same bytes). probability.tif: P x 100 on crop
    pixels, 255 elsewhere. fraction.tif: round(100 x cropland) where irrigated, 0 on other pixels with a cropland
    value, 255 where the cropland is missing.

    Resuming (`resume`): tiles finished by an interrupted call with the same fingerprint are kept. The fingerprint
    holds the model's hash, the grid, the features and `resume_key` (e.g. the input files' checksums, what
    `irrmap run` passes); without a key, the dask names of the input arrays, which are stable for arrays read
    from files but not for every derived array.

    model: a model file path (checked against its card) or a fitted ScopedClassifier. predictors: name ->
    DataArray on the cropland grid, matched to the model's features by name in any order (lon/lat may be left out:
    derived from the grid); a missing or unknown name raises InputError. Every raster argument is checked and
    decoded first as by the other array-taking API functions (irrmap.core.array_input.raster_arg: declared nodata and
    undecoded scale applied; `_checked_arguments`): south-up or coordinate-less arrays and arrays off the cropland's grid
    are refused naming them (e.g. `predictors['evi']`). zones: zone ids (needed for province/county models; `zone_keys` maps zone id -> scope key, default
    the model's own from the training pool; without zone_keys, a raster none of whose ids is a training zone, e.g.
    numbered by unit code, is refused as by `irrmap mapping predict --zones`: zone_keys_for; a given zone_keys must hold every id of the raster and some unit the model was trained on: _checked_zone_keys, InputError). memory_mb sets the tile size unless `tile_size` is given.
    With resume, tiles saved by an earlier run with the same model, inputs and tiling are not recomputed.
    `on_tile(i, window)` is called after each computed tile is saved. Returns {output name: path}.
    Predictor guards (FeatureGuard) come from the model card: the file's card for a path; for a model object `card`,
    else the card models.fit_from_pool returned with that object (models.fit.card_of); a model object without
    either is predicted without the scale and fill-value guards, with a warning naming `card=`. Crop pixels missing a
    predictor the training pool never missed are nodata (255) in every output, counted in a warning; a predictor
    far outside the card's recorded training range raises InputError; a predictor whose crop pixels over the whole
    map are off the card's training distribution (irrmap.mapping.map_shift: more than 25 % below p01 or above p99,
    or all outside min..max) raises DataError before any output is written.

    Completion: OUT/.predict_done.json (irrmap.core.done_marker) is removed before anything of a new prediction is
    written and written last with the fingerprint and each output's identity (size, SHA-256); a call is
    "already complete" only when the fingerprint matches and every output is still the file recorded.
    """
    # the API's entry check of every raster argument (irrmap.core.array_input, as sample_pool, slope, ...): type, dims,
    # CRS, transform, declared nodata / undecoded scale, north-up, one grid
    cropland, predictors, zones = _checked_arguments(cropland, predictors, zones)
    out_dir = Path(out_dir)
    where = str(model) if isinstance(model, (str, os.PathLike)) else "model"
    if isinstance(model, (str, os.PathLike)):
        model_id = sha256_file(model)
        model, card = load_model(model)
    else:
        model_id = hashlib.sha256(pickle.dumps(model, protocol=5)).hexdigest()
        if card is None:
            from irrmap.models.fit import card_of

            card = card_of(model)
        if card is None:
            log.warning("predict_to_files: the model object has no card, so predictors on another scale (e.g. EVI x 1e4) or "
                        "holding undeclared fill values are not detected (fix: pass card= the card fit_from_pool returned with "
                        "the model, or models.read_card(MODEL_FILE); or pass the model file's path)")
    features = list(model.features_)
    predictors = _by_feature_name(predictors, features)
    guard = FeatureGuard.from_card(card, features)
    grid = Grid.from_dataarray(cropland)
    _check_inputs(grid, cropland, predictors, zones, features)
    check_model_region(grid, card, features, where=where)
    if getattr(model, "scope", "global") != "global" and zones is None:
        raise InputError(f"a {model.scope} model needs the zone raster", "zones", "pass the units' zone raster (irrmap units rasterize)")
    if zones is not None and zone_keys is None and getattr(model, "scope", "global") != "global":
        # the check of `irrmap mapping predict --zones` without a lookup: a raster none of whose ids is a training
        # zone (numbered by unit code) sent every pixel to the global fallback without a word
        zone_keys_for(model, _zone_ids(zones), None, f"{API}(zones)", partial_ok=True,
                      no_lookup="no zone_keys (zone id -> unit key) were given",
                      no_lookup_fix="pass the zone raster the training pool was made with (the run's units/zones.tif), or "
                                    "zone_keys=irrmap.mapping.predict.zone_keys_for(model, ZONE_IDS, "
                                    "irrmap.mapping.predict.read_zone_lookup('ZONES.csv'), 'zones'), with the lookup CSV "
                                    "`irrmap units rasterize` wrote beside this raster (its unit codes are joined to the model's units)")
    if zones is not None and zone_keys is not None and getattr(model, "scope", "global") != "global":
        fills = [zones.attrs.get(a) for a in ("nodata", "_FillValue")]
        ids = _zone_ids(zones)
        ids = ids[~np.isin(ids, [f for f in fills if f is not None and np.isfinite(f)])]  # missing pixels: no unit
        zone_keys = _checked_zone_keys(model, ids, zone_keys)
    n_jobs = n_jobs or os.cpu_count() or 1
    size = int(tile_size or tile_size_for(len(features), memory_mb, _chunk_of([cropland, *predictors.values()]), in_flight=n_jobs))

    work = out_dir / ".tiles"
    inputs = resume_key if resume_key is not None else (_token(cropland), [(k, _token(v)) for k, v in predictors.items()],
                                                        None if zones is None else _token(zones))
    fingerprint = tokenize(model_id, inputs, grid.to_dict(), features,
                           None if zone_keys is None else sorted(dict(zone_keys).items()), guard.token())
    paths = {name: out_dir / f"{name}.tif" for name in OUTPUTS}
    done_file = out_dir / ".predict_done.json"
    if resume and is_done(done_file, fingerprint, paths.values()):
        log.info("prediction already complete in %s", out_dir)
        return paths
    plan_file = work / "plan.json"
    try:  # the work folder: an unwritable or odd --out is one OutputError, as for every written file
        # the marker goes before anything of this prediction is written: a kill between the outputs' renames
        # must not leave another prediction's marker beside a mix of two predictions' maps
        clear_done(done_file)
        if resume and plan_file.is_file():
            plan = json.loads(plan_file.read_text())
            if plan.get("fingerprint") == fingerprint:
                size = int(plan["tile_size"])  # keep the earlier run's tiling so its parts stay valid
            else:
                shutil.rmtree(work)
        elif work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        failure = write_failure(exc, plan_file)
        if failure is None:
            failure = OutputError(f"cannot create the work folder {work}: {exc.strerror or exc}", str(out_dir),
                                  "choose an output folder you may write to (it is created if missing)")
        raise failure from exc
    write_text_atomic(plan_file, json.dumps({"fingerprint": fingerprint, "tile_size": size}))

    if hasattr(model, "prepare_prediction"):  # the numba kernel for every member (faster than compiled C)
        model.prepare_prediction(grid.width * grid.height)
    if getattr(model, "scope", None) == "global" and hasattr(model, "positive_proba"):
        # flatten the forest once, here: the first tiles, side by side, each flattened it (0.9 CPU-s each at 16x)
        model.positive_proba(np.zeros((0, len(features)), np.float32), None, n_threads=1)
        zones = None  # a global model takes no zone: tiles do not read the zone raster
    fix_malloc_thresholds()
    # GDAL's block cache (default 5 % of RAM) would otherwise fill with every input block read and make
    # memory grow with the map; a slice of the budget is enough as each block is read once
    with rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(int(max(16, min(128, memory_mb // 8))))):
        return _run_tiles(model, model_id, grid, cropland, predictors, zones, features, zone_keys, size, work, paths, done_file,
                          fingerprint, n_jobs, on_tile, tags, cog, memory_mb, guard)


def _run_tiles(model, model_id, grid, cropland, predictors, zones, features, zone_keys, size, work, paths, done_file,
               fingerprint, n_jobs, on_tile, tags, cog, memory_mb, guard=None) -> dict[str, Path]:
    tiles = [t.window for t in grid.tiles(size)]
    part = lambda w: work / f"r{int(w.row_off):07d}_c{int(w.col_off):07d}.npy"  # noqa: E731
    tallied = guard is not None and guard.new_tally() is not None
    todo = [(i, w) for i, w in enumerate(tiles) if not part(w).is_file() or (tallied and not _tally_path(part(w)).is_file())]
    with progress_bar(total=len(tiles), desc="predict", unit="tile", initial=len(tiles) - len(todo)) as bar, \
            tile_runner(model, n_jobs) as runner:
        # tiles run side by side with one kernel thread each; a lone tile gets every local thread
        side_by_side = min(runner.slots, max(1, len(todo)))
        chunks = {} if runner.cluster or not todo else _chunk_graphs([cropland, *predictors.values(), *([zones] if zones is not None else [])])
        threads = 1 if side_by_side > 1 or runner.cluster else n_jobs
        queue = iter(todo)
        pending = {}
        missing = n_crop = n_valid = 0

        def submit_next() -> None:
            nxt = next(queue, None)
            if nxt is not None:
                tile = _Tile(nxt[0], nxt[1], part(nxt[1]), grid, cropland, predictors, zones, features, cull=runner.cluster,
                             chunks=chunks)
                pending[runner.submit(_predict_tile, tile, zone_keys, threads, guard)] = nxt

        try:
            for _ in range(side_by_side + 1):  # one tile queued behind the running ones: no slot waits on the client
                submit_next()
            while pending:
                for fut in runner.wait_first(list(pending)):
                    i, w = pending.pop(fut)
                    _, m, c, v = fut.result()
                    missing, n_crop, n_valid = missing + m, n_crop + c, n_valid + v
                    bar.update(1)
                    if on_tile is not None:
                        on_tile(i, w)
                    submit_next()
        except BaseException:
            runner.cancel(list(pending))  # running tiles finish and keep their parts; queued ones never start
            raise
    log.info("predicted %d tiles (%d from an earlier run)", len(todo), len(tiles) - len(todo))
    _check_not_empty(cropland, predictors, features, len(todo) == len(tiles), missing, n_crop, n_valid)
    if missing:
        log.warning("%d crop pixels miss a predictor the model was not trained with missing (NaN or nodata): they are "
                    "nodata (255) in the maps; fill the predictor's gaps or refit with them in the pool", missing)

    if guard is not None:  # the whole-map test, before any output is replaced (the parts stay for a rerun)
        guard.check_map(_map_tally(guard, tiles, part))

    all_tags = {"stage": "mapping.predict", "model": str(model_id), "features": ",".join(features)} | dict(tags or {})
    stack = _assemble(grid, tiles, part, size)  # each part is loaded once for the three outputs
    outputs = [RasterOutput(paths[name], stack[b], nodata=NODATA, dtype="uint8", descriptions=[_DESCRIPTIONS[name]],
                            tags=all_tags, cog=cog, colours=IRRIGATION if name == "class" else None)
               for b, name in enumerate(OUTPUTS)]
    write_rasters(outputs, cache_mb=int(max(16, min(128, memory_mb // 8))), desc="write maps")
    write_done(done_file, {"fingerprint": fingerprint, "tile_size": size}, paths.values())
    shutil.rmtree(work, ignore_errors=True)
    return paths


def _check_not_empty(cropland, predictors, features, whole: bool, missing: int, n_crop: int, n_valid: int) -> None:
    """DataError instead of maps that are nodata everywhere: a cropland without one valid pixel (all nodata; checked
    when this run computed every tile), or crop pixels that all miss a predictor (the predictors without any valid
    value are named: each is reduced once, only in this case)."""
    if whole and n_valid == 0:
        raise DataError("the cropland raster has no valid pixel on the grid (all nodata or NaN): every map would be nodata",
                        str(cropland.name) if getattr(cropland, "name", None) else "cropland",
                        "check the file (gdalinfo -stats), its declared nodata value and that it covers the grid")
    if n_crop and missing == n_crop:
        empty = [n for n in features if n in predictors
                 and not bool(da.isfinite(da.asarray(getattr(predictors[n], "data", predictors[n]))).any().compute())]
        raise DataError(f"every one of the {n_crop:,} crop pixels misses a predictor the model was trained without missing "
                        f"values{': ' + ', '.join(empty) + ' ha' + ('ve' if len(empty) > 1 else 's') + ' no valid value on the grid' if empty else ''}"
                        "; every map would be nodata", ", ".join(empty) or "predictors",
                        "check those rasters (gdalinfo -stats: all nodata?), their nodata value and that they cover the grid")


def _assemble(grid: Grid, tiles, part, size: int) -> xr.DataArray:
    """A lazy (3, y, x) DataArray of the output bands built from the saved tile parts."""
    n_rows = math.ceil(grid.height / size)
    n_cols = math.ceil(grid.width / size)
    blocks = [[None] * n_cols for _ in range(n_rows)]
    for w in tiles:
        d = dask.delayed(np.load, pure=True)(part(w))
        shape = (len(OUTPUTS), int(w.height), int(w.width))
        blocks[int(w.row_off) // size][int(w.col_off) // size] = da.from_delayed(d, shape=shape, dtype=np.uint8)
    arr = da.block([[[b for b in row] for row in blocks]])
    out = xr.DataArray(arr, dims=("band", "y", "x"), coords={"band": np.arange(1, len(OUTPUTS) + 1), **grid.coords()})
    return out.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
