"""Decoded vegetation indices outside their physical range: set to missing, counted, warned.

A value outside the range a quantity can physically take (NDVI 6.55) is a decoding fault, not data: uint16-
wrapped negatives, an unscaled or twice-scaled product, a fill value nobody declared. `screen` sets such
values to NaN as dask computes each block and tallies them; once every block has been seen, one warning
gives the count, the values found and the fix. Under a dask.distributed cluster the blocks are screened on
the workers, which send each block's count to the client as a report (irrmap.core.block_reports).

Values mostly outside the range are no stray fill values but an undecoded product (a MOD13Q1 VI stored x 10,000
with no scale applied, in an integer or a float file): screening them would leave an all-NaN composite with only a
warning, so `screen` first looks at a small window of the data (`check_decoded`) and refuses it with the fix.

Ranges: normalised differences (NDVI, NDWI) lie in [-1, 1] by definition; EVI is designed for the same range
(MOD13 C6.1 User's Guide, Didan et al. 2019, whose valid range is -0.2..1.0). Reflectances are not screened:
GI and NDWI are ratios, right from unscaled counts too. GI (NIR / green) is positive, and METHOD.md section 1
declares values above 15 invalid (training.indices.MAX_GI): GI_RANGE = [0, 15]; AGI = GI x NDWI then lies in
[-15, 15]. Each index is screened against its own range (a GI of 3 is data, not an undecoded VI).
"""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass, field

import dask.array as da
import numpy as np
import xarray as xr

from irrmap.core.block_reports import on, report
from irrmap.core.errors import DataError
from irrmap.core.stored_scale import X1E4, stored_scale

log = logging.getLogger(__name__)

VI_RANGE = (-1.0, 1.0)
GI_RANGE = (0.0, 15.0)  # METHOD.md section 1: GI above 15 is invalid (training.indices.MAX_GI)
AGI_RANGE = (-GI_RANGE[1], GI_RANGE[1])  # GI x NDWI, NDWI in [-1, 1]
PHYSICAL_RANGES = {"vi": VI_RANGE, "ndvi": VI_RANGE, "evi": VI_RANGE, "ndwi": VI_RANGE, "gi": GI_RANGE, "agi": AGI_RANGE}


def index_quantity(*names) -> str:
    """The PHYSICAL_RANGES key of an index named by the first of `names` that names one (a --name, a band
    description such as "gi_max" or "NDVI", a file tag such as "features index gi"; case-insensitive: the name
    itself, its part before the first "_", or its last word); "vi" when none does."""
    for name in names:
        if not name:
            continue
        text = str(name).strip().lower()
        for key in (text, text.split("_")[0], text.split()[-1] if text.split() else ""):
            if key in PHYSICAL_RANGES:
                return key
    return "vi"
FIX = ('decode the product as stored: --preset mod13q1 (config preset = "mod13q1") for MODIS VI, --scale for '
       'other scaled integers, or drop the values with --valid-range LO HI (config valid_range) on raw values')
#: the fix for a GI (or AGI) out of range: a ratio does not depend on decoding, only on both bands sharing a scale
GI_FIX = ("GI above 15 is invalid (METHOD.md section 1), as `irrmap features index --max-gi` drops it; a GI far above it "
          "means NIR and green on different scales (one decoded, one stored x 10,000): decode both alike")


def _fix(quantity: str) -> str:
    return GI_FIX if str(quantity).lower() in ("gi", "agi") else FIX


@dataclass
class _Tally:
    key: str
    label: str
    lo: float
    hi: float
    blocks: int
    values: int
    fix: str = FIX
    seen: dict = field(default_factory=dict)  # block location -> (count, min, max) of the out-of-range values
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, where: tuple, count: int, vmin: float, vmax: float) -> None:
        """Record one block (a recomputed block replaces its record); warn once all blocks are in."""
        with self.lock:
            self.seen[where] = (count, vmin, vmax)
            if len(self.seen) < self.blocks or _TALLIES.pop(self.key, None) is None:
                return
        bad = [v for v in self.seen.values() if v[0]]
        if bad:
            log.warning("%s: %d decoded values of %d lie outside the physical range [%g, %g] (from %.6g to %.6g) and were set "
                        "to missing (fix: %s)", self.label, sum(v[0] for v in bad), self.values, self.lo, self.hi,
                        min(v[1] for v in bad), max(v[2] for v in bad), self.fix)


# `check_decoded`: the window (pixels per side, every date) whose values are looked at, and the share of its valid
# values outside the physical range above which the product is taken as undecoded. A decoded VI has at most a few
# undeclared fill values (a MOD13Q1 tile's -3000 is declared by its preset); half the values out of range is a
# decoding fault, not data.
CHECK_WINDOW = 256
UNDECODED_SHARE = 0.5
# MOD13Q1 / MOD09 store VI and reflectance x 10,000 (scale 1e-4; MOD13 C6.1 User's Guide, Didan et al. 2019:
# valid raw range -2,000..10,000)
STORED_X1E4 = (-2000.0, 10000.0)
#: the largest value a 16-bit store holds (uint16): decoded values above it were multiplied by a scale, not stored
INTEGER_STORE_MAX = 65535.0


def _central_span(n: int, chunks) -> tuple[int, int]:
    """[start, stop) of the CHECK_WINDOW central pixels of an axis of length n, cut to the one chunk holding the
    axis's centre when `chunks` (dask chunk sizes) are given: the check then reads one chunk of a lazy array, not up
    to four, and that chunk is read again by the run (one extra chunk read per series)."""
    start, stop = max(0, (n - CHECK_WINDOW) // 2), min(n, max(0, (n - CHECK_WINDOW) // 2) + CHECK_WINDOW)
    if chunks:
        edges = np.cumsum((0,) + tuple(chunks))
        k = int(np.searchsorted(edges, n // 2, side="right")) - 1
        start, stop = max(start, int(edges[k])), min(stop, int(edges[k + 1]))
    return start, stop


def check_decoded(arr: xr.DataArray, quantity: str, label: str | None = None) -> None:
    """Raise DataError when most valid values (over UNDECODED_SHARE) of a central CHECK_WINDOW x CHECK_WINDOW window of
    `arr` (any leading dims, e.g. every date of a (time, y, x) series; of a dask-backed array only the part of that
    window in the chunk at the centre is read) lie outside
    the physical range of `quantity` (PHYSICAL_RANGES; other quantities and a window without valid values pass).
    The fix names the factor of irrmap.core.stored_scale.stored_scale (the values' 99.9th percentile and median): the
    MOD13Q1 preset / scale 1e-4 when the values fit a product stored x 10,000, scale 0.01 for percent, 0.001 for
    x 1,000; the error's attribute `stored_scale` holds that StoredScale (None: no factor fits)."""
    rng = PHYSICAL_RANGES.get(str(quantity).lower())
    if rng is None or arr.ndim < 2:
        return
    h, w = arr.shape[-2:]
    r0, r1 = _central_span(h, getattr(arr.data, "chunks", None) and arr.data.chunks[-2])
    c0, c1 = _central_span(w, getattr(arr.data, "chunks", None) and arr.data.chunks[-1])
    window = arr.data[..., r0:r1, c0:c1]
    vals = np.asarray(window.compute() if hasattr(window, "compute") else window, np.float64)
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return
    bad = vals[(vals < rng[0]) | (vals > rng[1])]
    if bad.size <= UNDECODED_SHARE * vals.size:
        return
    lo, hi = float(vals.min()), float(vals.max())
    found = (f"{bad.size:,} of {vals.size:,} valid values in a window of the data lie outside the physical range "
             f"[{rng[0]:g}, {rng[1]:g}] (values {lo:.6g} to {hi:.6g}): " +
             ("not a GI of two bands on one scale" if str(quantity).lower() in ("gi", "agi") else "the values are not decoded"))
    stored = stored_scale(float(np.percentile(vals, 99.9)), float(np.median(vals)))
    if str(quantity).lower() in ("gi", "agi"):  # ratios: no decoding makes them out of range
        fix = GI_FIX
    elif stored is X1E4 and STORED_X1E4[0] <= lo and hi <= STORED_X1E4[1]:
        fix = ('they fit a product stored x 10,000 (MODIS): decode it with --preset mod13q1 or --scale 0.0001 '
               '(config preset = "mod13q1" or scale = 0.0001)')
    elif stored is not None and stored is not X1E4:
        fix = (f"they fit values stored in {stored.name} (99.9th percentile {np.percentile(vals, 99.9):.4g}; stored x 10,000 they "
               f"would be a VI of at most {np.percentile(vals, 99.9) * 1e-4:.2g}): decode them with --scale {stored.scale:g} "
               f"(config scale = {stored.scale:g}; a factor applied to the values as read)")
    elif STORED_X1E4[0] * 1e4 <= lo and INTEGER_STORE_MAX < hi <= STORED_X1E4[1] * 1e4:  # beyond any 16-bit store: scaled up
        fix = ("they fit values stored x 10,000 and then multiplied by 10,000: the file's band scale tag is 10000, written "
               "by the HDF convention (value = stored / scale_factor) while GDAL multiplies by it; give --preset mod13q1 or "
               '--scale 0.0001 (config preset = "mod13q1" or scale = 0.0001), which replace the tag, or correct the tag: '
               "gdal_edit.py -scale 0.0001 FILE")
    else:
        fix = _fix(quantity)
    err = DataError(found, label or str(quantity).upper(), fix)
    err.stored_scale = None if str(quantity).lower() in ("gi", "agi") else stored  # the factor the fix names, for callers rewording it
    raise err


_TALLIES: dict[str, _Tally] = {}  # tallies still waiting for blocks, by key (in the client process only)
_TOPIC = "physical-range"


def _screen_block(block: np.ndarray, tally_id: str, lo: float, hi: float, block_info=None) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        bad = (block < lo) | (block > hi)  # NaN compares False: missing stays missing, uncounted
    count = int(np.count_nonzero(bad))
    vmin = vmax = np.nan
    if count:
        vmin, vmax = float(block[bad].min()), float(block[bad].max())
        block = np.where(bad, np.asarray(np.nan, block.dtype), block)
    if block_info is not None:
        report(_TOPIC, (tally_id, tuple(block_info[0]["chunk-location"]), count, vmin, vmax))
    return block


def _tallied(payload) -> None:
    """Book one block's report (in the process that built the graph; irrmap.core.block_reports)."""
    tally_id, *rest = payload
    tally = _TALLIES.get(tally_id)
    if tally is not None:
        tally.add(*rest)


on(_TOPIC, _tallied)


def screen(arr: xr.DataArray, quantity: str, label: str | None = None) -> xr.DataArray:
    """`arr` (float, any dims, numpy or dask) with values outside the physical range of `quantity` (a key of
    PHYSICAL_RANGES, case-insensitive; other quantities pass unchanged) set to NaN, lazily. A warning naming
    `label` (default: the quantity), the count and the fix is logged once every block has been computed. Data whose
    values mostly lie outside the range are refused first (check_decoded: DataError)."""
    rng = PHYSICAL_RANGES.get(str(quantity).lower())
    if rng is None:
        return arr
    check_decoded(arr, quantity, label)
    data = arr.data if isinstance(arr.data, da.Array) else da.from_array(np.asarray(arr.data), chunks=-1)
    tally_id = uuid.uuid4().hex
    _TALLIES[tally_id] = _Tally(tally_id, label or str(quantity).upper(), rng[0], rng[1], int(np.prod(data.numblocks)), int(data.size),
                                 _fix(quantity))
    screened = data.map_blocks(_screen_block, tally_id, rng[0], rng[1], dtype=data.dtype, name=f"screen-{quantity}-{tally_id}")
    return arr.copy(data=screened)
