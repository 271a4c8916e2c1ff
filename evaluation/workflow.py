"""File-level evaluation steps shared by `irrmap evaluate` and the pipeline: read inputs from paths, call the
array functions of this package, return results (and, for reports, write them).

Each step also returns the CLI command that reproduces it, so every number in a report can be recomputed.
"""

from __future__ import annotations

import json
import math
import logging
import shlex
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.evaluation import agreement, compare_grids, comparison, confusion, points, value_guards
from irrmap.evaluation.area_estimation import AreaEstimate, olofsson, stehman
from irrmap.evaluation.margins import drop_total_sizes, matrix_without_margins, refuse_unlabelled_total
from irrmap.evaluation.design import DesignAccuracy, SampleDesign, design_accuracy
from irrmap.core.areas import M2_PER_UNIT, normalise_area_unit
from irrmap.core.errors import DataError, InputError, IrrmapError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.tables import TableFormat, parse_numbers, read_table

log = logging.getLogger(__name__)

CLASSES = (0, 1)
CLASS_NAMES = {0: "not_irrigated", 1: "irrigated"}


def map_grid(path) -> Grid:
    """The grid of a raster file; InputError (not a traceback) when the file is missing or not a raster."""
    from irrmap.core import dataset_names

    path = dataset_names.normalise(path)  # /vsizip//abs.zip/...: GDAL's brace form, which pathlib keeps whole
    if not dataset_names.is_file(path):
        raise InputError("raster not found", str(path), "check the path (products of `irrmap run` are under its output folder)")
    try:
        return Grid.from_raster(path)
    except IrrmapError:
        raise
    except Exception as exc:  # rasterio.errors.RasterioIOError and friends
        raise InputError(f"cannot read the raster: {exc}", str(path), "give a GeoTIFF or another raster GDAL reads") from None


def read_map(path, grid: Grid | None = None, name: str | None = None):
    """A map (or any raster) as a lazy float DataArray on `grid` (default its own grid); nodata -> NaN."""
    own = map_grid(path)  # a one-line error for a missing or unreadable file
    return read_raster(path, grid or own, kind="continuous", name=name or Path(path).stem)


_SCAN_CACHE: dict | None = None  # map_values results while `scans_once` is active, by (file identity, limit)


@contextmanager
def scans_once():
    """Within the block, `map_values` scans each map file once: later calls on the same file (same inode, size and
    mtime) return a copy of the first result. For a caller that checks one map several times while nothing writes
    it (the evaluation stage checks the evaluated map for the points, each comparison and the diagnostics)."""
    global _SCAN_CACHE
    outer = _SCAN_CACHE
    _SCAN_CACHE = {} if outer is None else outer
    try:
        yield
    finally:
        _SCAN_CACHE = outer


def map_values(path, limit: int = 256) -> dict:
    """`_map_values` of `path`, scanned once per file inside `scans_once`."""
    import copy
    import os

    if _SCAN_CACHE is None:
        return _map_values(path, limit)
    from irrmap.core.companions import stat_identity

    try:  # the file's version and its companions' (an .aux.xml nodata or scale changes what it holds)
        key = (stat_identity(os.path.abspath(path)), limit)
    except OSError:
        return _map_values(path, limit)
    if key not in _SCAN_CACHE:
        _SCAN_CACHE[key] = _map_values(path, limit)
    return copy.deepcopy(_SCAN_CACHE[key])


def _map_values(path, limit: int = 256) -> dict:
    """What a map file holds (its own grid, band 1, read block by block), decoded as every irrmap reader decodes it
    (irrmap.core.nodata via decoding_for: nodata, the file's mask or alpha band, and its scale/offset, as
    irrmap.core.raster_read.read_raster and so `read_map` apply them): {"dtype", "nodata" (declared or None),
    "scale", "offset" (the file's, 1 and 0 when it declares none), "description", "values" (sorted distinct valid
    values of an unscaled integer band, or None when there are more than `limit`, the band is float or scaled:
    scaled values are quantities, not class codes), "whole_values" (sorted distinct valid decoded values of any band
    when all are whole numbers and at most `limit`, else None: a float or scaled band of counts), "few_values" (sorted distinct valid decoded values of any
    band, None when there are more than FEW_VALUES), "n_255" (valid pixels storing 255), "max_below_255" (largest
    other stored value), "max" / "min" (largest / smallest valid decoded value, -inf / inf when there is none), "raw_max" (largest valid
    stored value), "n_valid", "top_fill" (on an integer band wider than 8 bit with valid pixels storing the type's
    largest value, e.g. 65535 for uint16: {"value", "n" (those pixels), "max_other" (largest other stored value)};
    else None: 8-bit 255 is n_255's)}. Pixels the file marks missing (nodata, mask) count in none of these."""
    import rasterio

    from irrmap.core.nodata import decoding_for, valid_mask

    with rasterio.open(path) as src:
        dec = decoding_for(src, 1)
        nodata, dtype = src.nodata, src.dtypes[0]
        scaled = dec.scale != 1.0 or dec.offset != 0.0
        integer = np.issubdtype(np.dtype(dtype), np.integer)
        vals: set | None = set() if integer and not scaled else None
        few: set | None = set()
        whole: set | None = set()  # distinct decoded values while all are whole numbers (any dtype), None past `limit`
        n255, top, peak, low, raw_peak, n_valid = 0, -np.inf, -np.inf, np.inf, -np.inf, 0
        counted = integer and not scaled and np.dtype(dtype) in (np.dtype(np.uint8), np.dtype(np.uint16))
        itop = int(np.iinfo(np.dtype(dtype)).max) if integer else None
        n_top, below_top = 0, -np.inf
        for _, w in src.block_windows(1):
            raw = src.read(1, window=w)
            ok = ~dec.missing(raw, valid_mask(src, 1, dec, w))  # the GDAL mask band and an alpha band
            if not integer:
                ok &= np.isfinite(raw)
            raw = raw[ok]
            if counted:  # unscaled 8/16-bit band: every statistic below from one histogram of the stored values
                n_valid += int(raw.size)
                counts = np.bincount(raw, minlength=256)
                n_top += int(counts[itop]) if counts.size > itop else 0
                held = np.flatnonzero(counts[:itop])
                below_top = max(below_top, float(held[-1])) if held.size else below_top
                peak, low, raw_peak, n255, top, vals, few = _fold_counts(counts, (peak, low, raw_peak, n255, top),
                                                                         vals, few, limit)
                whole = vals  # stored = decoded values here, all whole
                continue
            v = dec.decode(raw) if scaled else raw
            n_valid += int(v.size)
            if v.size:
                peak = max(peak, float(v.max()))
                low = min(low, float(v.min()))
                raw_peak = max(raw_peak, float(raw.max()))
            n255 += int((raw == 255).sum())
            if itop is not None and raw.size:
                n_top += int((raw == itop).sum())
                rest = raw[raw != itop]
                below_top = max(below_top, float(rest.max())) if rest.size else below_top
            other = raw[raw != 255]
            if other.size:
                top = max(top, float(other.max()))
            if whole is not None and v.size:
                whole = whole | set(np.unique(v).tolist()) if np.array_equal(v, np.floor(v)) else None
                whole = None if whole is not None and len(whole) > limit else whole
            if vals is not None or few is not None:
                vals, few = _merge_values(set(np.unique(v).tolist()), vals, few, limit)
        return {"dtype": dtype, "nodata": nodata, "scale": dec.scale, "offset": dec.offset, "description": src.descriptions[0] or "",
                "values": sorted(vals) if vals is not None else None,
                "whole_values": sorted(whole) if whole is not None and n_valid else None, "few_values": sorted(few) if few is not None else None,
                "n_255": n255, "max_below_255": top, "max": peak, "min": low, "raw_max": raw_peak, "n_valid": n_valid,
                "top_fill": {"value": itop, "n": n_top, "max_other": below_top} if itop is not None and itop > 255 and n_top else None}


FEW_VALUES = 8  # map_values lists the distinct values of any band holding at most this many


def _fold_counts(counts: np.ndarray, acc: tuple, vals: set | None, few: set | None, limit: int):
    """One block of an unscaled unsigned integer band folded into map_values' running statistics from the histogram
    `counts` of its valid stored values (counts[v] = pixels storing v): the same results as its per-pixel
    expressions (v.max(), (raw == 255).sum(), np.unique ...). acc = (peak, low, raw_peak, n255, top); returns
    (peak, low, raw_peak, n255, top, vals, few)."""
    peak, low, raw_peak, n255, top = acc
    held = np.flatnonzero(counts)
    if held.size:
        peak = max(peak, float(held[-1]))
        low = min(low, float(held[0]))
        raw_peak = max(raw_peak, float(held[-1]))
    n255 += int(counts[255]) if counts.size > 255 else 0
    other = held[held != 255]
    if other.size:
        top = max(top, float(other[-1]))
    if vals is not None or few is not None:
        vals, few = _merge_values(set(held.tolist()), vals, few, limit)
    return peak, low, raw_peak, n255, top, vals, few


def _merge_values(u: set, vals: set | None, few: set | None, limit: int) -> tuple[set | None, set | None]:
    """One block's distinct values `u` added to map_values' running sets: `vals` (all values, given up as None past
    `limit`) and `few` (given up past FEW_VALUES). A set already given up stays None."""
    if vals is not None:
        vals |= u
        if len(vals) > limit:
            vals = None
    if few is not None:
        few |= u
        if len(few) > FEW_VALUES:
            few = None
    return vals, few


def check_map_values(path, threshold: float | None = None, kind: str = "fraction", what: str = "map",
                     binarised: bool | None = None, option: str | None = None) -> dict:
    """Refuse map values that would silently be scored wrong, as labels are (see points.binary_labels): valid
    pixels storing a fill code (255, 254, int8 127) above other values all at most 100, whatever nodata the file
    declares (none, or e.g. 0: value_guards.check_fill_codes; else counted as irrigated); a map whose declared nodata
    is 0 while its only other value is 1 (a 0/1 export
    with nodata = 0: every 'not irrigated' pixel would be read as missing); without an explicit threshold
    (`threshold` None) a binary or few-valued integer map (at most 3 values, all below 100: class codes, unless
    `kind` says percent) not coded 0/1 (e.g. 1 = not irrigated, 2 = irrigated would all be irrigated at value > 0); and,
    where the map is binarised (`binarised`, default: `kind` == "binary"), a threshold at or above the map's
    largest positive value (nothing could be mapped irrigated; a map without positive values only gets a warning); a
    `kind` "percent" map whose declared scale makes it 0..1; where the map is binarised without an explicit
    threshold, a continuous map (is_continuous: a probability 0..1 or a 0..100 percent map) - value > 0 would count
    every partly irrigated or barely probable pixel as irrigated. Values are judged as irrmap reads them (map_values: the
    file's scale/offset applied, nodata and mask pixels left out), the 255 code on the stored values. `option`
    names the threshold's option in the fix (default threshold_option(what)). Also (evaluation.value_guards) undeclared
    fill values: valid values below 0, or an integer band's largest value (65535 ...) apart from the others
    (check_fills); and, where the map is binarised, a threshold in fraction units (0 < T < 1) on a 0..100 percent map
    (check_threshold_units). Returns `map_values(path)`."""
    info = map_values(path)
    scaled = (f"; values as read: stored value x {info['scale']:g} + {info['offset']:g}, the scale/offset the file declares; "
              f"stored values reach {info['raw_max']:g}") if info.get("scale", 1.0) != 1.0 or info.get("offset", 0.0) != 0.0 else ""
    value_guards.check_fill_codes(info, path, what)  # valid 255 / 254 / 127 whatever nodata the file declares
    value_guards.check_fills(info, path, what)  # -9999, 65535 ... not declared nodata
    few = info["few_values"]
    if info["nodata"] == 0 and few == [1]:
        raise DataError("the file declares nodata = 0 and its only other value is 1: a 0/1 map exported with nodata = 0, so every "
                        "'not irrigated' pixel (0) would be read as missing and only irrigated pixels evaluated",
                        f"{what} {path}", f"remove the nodata value (gdal_edit.py -unsetnodata {path}) or set another one "
                        f"(gdal_edit.py -a_nodata 255 {path}), after marking pixels that really lack data with it")
    if kind == "percent" and scaled and info["n_valid"] and info["max"] <= 1.0 < info["raw_max"]:
        raise DataError(f"the {what} is declared percent (0..100) but reads as 0..{info['max']:g}{scaled}: its areas would be "
                        "divided by 100 twice", f"{what} {path}", "evaluate it as a 0..1 fraction map (--map-kind fraction), "
                        f"or drop the scale if the stored values are the percentages (gdal_edit.py -scale 1 -offset 0 {path})")
    if kind == "percent" and info["n_valid"] and info["whole_values"] is None and 0.0 < info["max"] <= 1.0 and info["min"] >= 0.0:
        # fractional values all within 0..1 (as mapping aggregate refuses): a 0..1 fraction read as percent gave every
        # area 100x too small (2,417 ha of the demo read as 24.2 ha, exit 0)
        raise DataError(f"the {what} is declared percent (0..100) but its values run from {info['min']:g} to {info['max']:g}, "
                        f"not whole numbers{scaled}: a 0..1 fraction, whose areas would be divided by 100", f"{what} {path}",
                        "evaluate it as a 0..1 fraction map (--map-kind fraction; [evaluation].map_kind in irrmap run), or scale it "
                        f"to percent first (gdal_edit.py -scale 100 {path})")
    vals = info["values"]
    if kind == "percent":  # whole numbers of any dtype: a Float32 copy of a years-irrigated map counts as well
        _warn_counts_as_percent(info["whole_values"], what, path)
    if threshold is None and vals is not None and not set(vals) <= {0, 1} and (kind == "binary" or (kind != "percent" and len(vals) <= 3 and max(vals) < 100)):
        raise DataError(f"the {what} holds the values {', '.join(f'{v:g}' for v in vals[:10])}, not 0 = not irrigated / 1 = irrigated: "
                        "at value > 0 every pixel with any of them would count as irrigated", f"{what} {path}",
                        "recode it to 0/1 (e.g. gdal_calc.py -A MAP --calc=\"A==2\" --outfile=MAP01.tif for 1/2 coding), or give "
                        "the threshold (value > T = irrigated, e.g. --threshold 1), and declare a nodata code with gdal_edit.py -a_nodata")
    if binarised is None:
        binarised = kind == "binary"
    if threshold is None and binarised and info["n_valid"] and is_continuous(info):
        n = f"{len(few)}" if few is not None else f"more than {FEW_VALUES}"
        desc = f", band description {info['description']!r}" if info.get("description") else ""
        opt = option or threshold_option(what)
        raise DataError(f"the {what} is continuous ({n} distinct values from {info['min']:g} to {info['max']:g}{desc}{scaled}), not a "
                        "0/1 class map: scored without a threshold, every pixel above 0 would count as irrigated",
                        f"{what} {path}", f"give the threshold that makes it a class map with {opt} (value > T = irrigated"
                        + ("; in irrmap run [evaluation].threshold" if opt.startswith("--") else "") + "), in the map's own units: "
                        + (f"e.g. {opt} 0.5 for a 0..1 probability or fraction, {opt} 50 for a 0..100 percent map" if opt.startswith("--")
                           else f"e.g. {opt} = 0.5 for a 0..1 probability or fraction, 50 for a 0..100 percent map"))
    t = 0.0 if threshold is None else float(threshold)
    top = info["max"]
    if binarised and info["n_valid"] and top <= t:
        if top > 0:
            raise DataError(f"the threshold {t:g} is at or above the {what}'s largest value ({top:g}{scaled}): no pixel can be mapped "
                            "irrigated (value > threshold)", f"{what} {path}",
                            f"give a threshold below {top:g} in the map's own units (e.g. 0.5 for a 0..1 map, 50 for a 0..100 map)"
                            + (", i.e. after its scale is applied" if scaled else ""))
        log.warning("%s %s: no value is above %g (largest %g): every pixel counts as not irrigated", what, path, t, top)
    if binarised or kind == "binary":
        value_guards.check_threshold_units(info, path, threshold, kind, what, option or threshold_option(what))
    return info


#: a "percent" map whose values are all whole numbers up to this looks like counts (years or days irrigated: 31 days
#: in a month, about 30 years in a climate-normal record; class codes), not a 0..100 share of the pixel
COUNT_MAX = 31


def _warn_counts_as_percent(vals, what: str, path) -> None:
    """Warn (log.warning) when a map declared percent holds only whole numbers in 0..COUNT_MAX, at least one above 0
    (`vals`: its distinct valid values as read, map_values' 'values'; None when too many to list): it reads such a
    map's 10 as 10 % of the pixel irrigated, while it probably counts years, days or classes."""
    if not vals or min(vals) < 0 or max(vals) <= 0 or max(vals) > COUNT_MAX or any(float(v) != int(v) for v in vals):
        return
    shown = ", ".join(f"{v:g}" for v in sorted(vals)[:12]) + (", ..." if len(vals) > 12 else "")
    log.warning("%s %s: declared percent (0..100 %% of the pixel irrigated) but holds only the whole numbers %s (max %g): "
                "that looks like counts (years or days irrigated, or class codes), not percentages, and each would be read "
                "as that %% of the pixel; fix: if it counts, give --map-kind binary with --threshold T (value > T = irrigated, "
                "e.g. irrigated in more than T years; [evaluation].map_kind / threshold in irrmap run), or recode the classes to 0/1; "
                "keep --map-kind percent only if the values are percentages", what, path, shown, max(vals))


def is_continuous(info: dict) -> bool:
    """True for a map of a continuous quantity (a probability, fraction or percent), not class codes, judged on
    `info` = map_values(...) as read (after scale/offset): more than FEW_VALUES distinct valid values, or more than
    two values with a band description naming such a quantity (CONTINUOUS_WORDS, e.g. irrmap's 'P(irrigated) x 100').
    A map of few values (0 / 1, 0 / 0.8, 0 / 0.2 / 0.9) binarises at > 0 unambiguously; 0 / 1 / 2 are class codes,
    judged by check_map_values' coding rule."""
    few = info.get("few_values")
    if few is None:
        return info.get("n_valid", 0) > 0
    desc = str(info.get("description") or "").lower()
    return len(few) > 2 and any(w in desc for w in CONTINUOUS_WORDS)


#: band-description words that name a continuous quantity (irrmap writes 'P(irrigated) x 100' and
#: 'irrigated fraction of the pixel, percent')
CONTINUOUS_WORDS = ("p(", "probab", "percent", "fraction", "share")


def threshold_option(what: str) -> str:
    """The option giving the threshold of `what` ('map', 'map A', 'map B'), as check_map_values names it."""
    return {"map A": "--threshold-a", "map B": "--threshold-b"}.get(what, "--threshold")


def no_cropland_is_zero(info: dict) -> bool:
    """True for irrmap's class.tif (band description '... 255 no cropland ...'), where nodata 255 marks pixels
    without cropland: 0 irrigated area there, not missing data."""
    return info.get("nodata") == 255 and "255 no cropland" in info.get("description", "")


def _cmd(*parts) -> str:
    return " ".join(shlex.quote(str(p)) for p in parts if p is not None and p != "")


def _opt(flag, value):
    return [] if value is None or value is False else ([flag] if value is True else [flag, value])


def _drops(units_read: dict | None) -> bool:
    """Whether `units_read` (AdminUnits.read's `invalid_codes` and `options`, from the command line or [units]) drops
    polygons with invalid codes: then the reproducing command says --drop-invalid-codes."""
    return (units_read or {}).get("invalid_codes") == "drop"


def _parents(units_read: dict | None, hierarchy: str | None) -> list:
    """The reproducing command's --parent-field LEVEL=FIELD flags: a 'fields' hierarchy's parent fields (from
    --parent-field or [units].parent_fields), finest level first; [] for any other hierarchy."""
    if hierarchy != "fields":
        return []
    return sum((["--parent-field", f"{lv}={field}"] for lv, field in ((units_read or {}).get("parent_fields") or {}).items()), [])


def design_options(design: SampleDesign) -> list:
    """The `irrmap evaluate points` options that give `design`."""
    return [*_opt("--stratum-field", design.stratum_field), *_opt("--inclusion-field", design.inclusion_field),
            *sum((["--stratum-size", f"{k}={v:g}"] for k, v in (design.stratum_sizes or {}).items()), []),
            *_opt("--frame-pixel-area", getattr(design, "unit_area_ha", None))]


# ---- points --------------------------------------------------------------------------------------
def design_areas_ha(design: "DesignAccuracy", class_names: dict) -> dict:
    """The design-based areas in ha when the sampling frame's pixel area is known (--frame-pixel-area): area_ha,
    area_se_ha and area_ci95_ha by class (the estimate's own area, area_se and area_ci95 stay in frame pixels, or
    are already in ha when design.area_unit is 'ha': stratum areas summed from true pixel areas); {} without it."""
    ha = 1.0 if getattr(design, "area_unit", "") == "ha" else getattr(design.design, "unit_area_ha", None)
    if not ha:
        return {}
    est = design.estimate
    name = lambda c: str(class_names.get(c, c))  # noqa: E731
    ci = est.area_ci95()
    return {"area_ha": {name(c): confusion._clean(v * ha) for c, v in est.area.items()},
            "area_se_ha": {name(c): confusion._clean(v * ha) for c, v in est.area_se.items()},
            "area_ci95_ha": {name(c): [confusion._clean(lo * ha), confusion._clean(hi * ha)]
                             for c, lo, hi in zip(est.classes, ci["lower"], ci["upper"])}}


@dataclass
class PointsResult:
    accuracy: confusion.Accuracy
    groups: dict
    samples: pd.DataFrame
    counts: dict
    command: str
    group_by: str | None = None
    design: "DesignAccuracy | None" = None  # design-based estimates when the sampling design is given

    def to_dict(self) -> dict:
        d = self.accuracy.to_dict(CLASS_NAMES) | self.counts
        if self.design is not None:
            d["design_based"] = self.design.to_dict(CLASS_NAMES) | design_areas_ha(self.design, CLASS_NAMES)
        if self.groups:
            d["by_group"] = {"field": self.group_by, **{k: v.to_dict(CLASS_NAMES) for k, v in self.groups.items() if k != "all"}}
        return d


def points_accuracy(map_path, points_path, label_field: str, *, threshold: float | None = None, positive=None, label_map=None,
                    lon_field=None, lat_field=None, points_crs=None, layer=None, cropland_path=None,
                    snap_radius: int = 0, min_crop_fraction: float = 0.0, by: str | None = None, units_path=None,
                    unit_field=None, hierarchy="cn-adcode", by_level=None, aridity_path=None,
                    aridity_threshold: float = 0.5, units_layer=None, design: SampleDesign | None = None,
                    units_encoding=None, one_per_pixel: bool = False, units_read: dict | None = None, crop_for_nodata=None,
                    nodata_causes: dict | None = None) -> PointsResult:
    """Point accuracy of a map (binarised at `threshold`) against labelled reference points, optionally grouped
    by a point field (`by`), by the unit at `by_level`, or by the unit's aridity class (arid/humid).
    With `design` (how the points were sampled) also the design-based estimates of evaluation.design.
    `units_read`: AdminUnits.read's `invalid_codes` and `options` for the units (the same in statistics_agreement and
    compare), e.g. irrmap.app.cli.units_options.unit_read_args of a command or [units] of a run; default: error.

    `threshold` None: not given (binarised at value > 0, and a map not coded 0/1 is refused, see
    check_map_values); an explicit 0 is a threshold like any other.

    On irrmap's class.tif (nodata 255 described as 'no cropland', see no_cropland_is_zero) a point on a 255 pixel
    without cropland counts as mapped 'not irrigated', as `statistics_agreement` counts those pixels as 0 irrigated
    area: a point labelled irrigated there is an omission error, not a missing value (counts['n_on_no_cropland']
    says how many). A 255 pixel WITH cropland (fraction > 0 in `crop_for_nodata`, default `cropland_path`: a 0..1
    cropland raster, resampled onto the map's grid as categories; DataError when it is not 0..1, see
    value_guards.check_fraction_raster) is a crop pixel the mapping left unpredicted
    (a predictor missing there): not mapped, so the point is left out (counts['n_unpredicted'], see
    evaluation.unpredicted; a warning names the cause beyond unpredicted.UNPREDICTED_WARN_SHARE). Without a
    cropland layer every 255 counts as no cropland. On any other map's nodata a point is left out
    (counts['n_missing_map_value']), with a warning when that is a notable share (point_location.NODATA_WARN_SHARE)
    naming the map's entry of `nodata_causes` ({str(map path): point_location.NodataCause}, why the run's own map
    has nodata there) when it has one.

    Points are reprojected from their CRS (`points_crs`, default the file's own, EPSG:4326 for CSV) onto the
    map's grid. Raises DataError for labels that are not 0/1 or known words without `label_map`/`positive`
    (see points.binary_labels), and when no point is usable or most miss the map for a nameable cause (see
    point_location.check_points_on_map).

    Several used points in one map pixel (after snapping) see one map value and are not independent samples: the
    accuracy SEs, computed as for a simple random sample of points, are then too small. Their numbers are counted
    (counts['n_points_sharing_pixels'], counts['n_pixels_with_several_points']) and, without `one_per_pixel`, a
    warning names them; `one_per_pixel` keeps the first used point of each pixel in file order and leaves out the
    others (counts['n_left_out_same_pixel'], samples column 'same_pixel_left_out')."""
    from irrmap.evaluation.point_location import check_points_on_map
    from irrmap.evaluation.unpredicted import at_points, split_no_cropland, warn_if_many

    grid = map_grid(map_path)
    info = check_map_values(map_path, threshold, binarised=True)
    for path, what in ((cropland_path, "cropland"), (crop_for_nodata, "cropland")):
        if path:
            value_guards.check_fraction_raster(map_values(path), path, what, "--cropland")
    if aridity_path and units_path and not by:
        value_guards.check_fills(map_values(aridity_path), aridity_path, "aridity", "--aridity")
    given = threshold
    threshold = 0.0 if threshold is None else float(threshold)
    m = read_map(map_path, grid)
    no_cropland = no_cropland_is_zero(info)
    crop_for_255 = crop_for_nodata or cropland_path
    pts = points.read_points(points_path, label_field, lon_field=lon_field, lat_field=lat_field, crs=points_crs, layer=layer)
    import shutil
    import tempfile

    tmp = tempfile.mkdtemp(prefix="irrmap-points-")
    try:
        # crop pixels (fraction > min_crop_fraction) decided on the cropland's own grid, then brought onto the map's
        # grid as categories: a continuous resampling would spread crop onto neighbouring pixels before the test
        crop = binary_on_grid(cropland_path, grid, min_crop_fraction, Path(tmp) / "crop.tif", name="cropland")[0] if cropland_path else None
        unpredicted = None
        if no_cropland:  # 255 = no cropland: mapped not irrigated (as in statistics_agreement); with cropland > 0: not mapped
            raw = m
            any_crop = None
            if crop_for_255:
                da, thr = binary_on_grid(crop_for_255, grid, 0.0, Path(tmp) / "crop_any.tif", name="cropland")
                any_crop = (da > thr).load()
            m, unpredicted = split_no_cropland(raw, any_crop)
        s = points.sample_points(pts, m, label_field=label_field, threshold=threshold, positive=positive, label_map=label_map,
                                 cropland=crop, snap_radius=snap_radius, min_crop_fraction=min_crop_fraction)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if unpredicted is not None:  # crop pixels the model never predicted (255 with cropland > 0): missing, not class 0
        s["unpredicted"] = at_points(unpredicted, s["row"].to_numpy(), s["col"].to_numpy(), s["inside"].to_numpy())
    counts = check_points_on_map(pts, grid, s, source=str(points_path), map_name=Path(map_path).name,
                                 nodata_cause=(nodata_causes or {}).get(str(map_path)))
    if no_cropland:  # how many used points sit on 255 = no cropland (scored as mapped not irrigated)
        s["on_no_cropland"] = s["inside"].to_numpy() & np.isnan(points.values_at(raw, s["row"].to_numpy(), s["col"].to_numpy()))
        counts["n_on_no_cropland"] = int((s["on_no_cropland"] & s["used"]).sum())
        if unpredicted is not None:
            warn_if_many(counts["n_unpredicted"], counts["n_unpredicted"] + int(s["used"].sum()), str(points_path), Path(map_path).name)
    _same_pixel(s, counts, one_per_pixel, str(points_path), Path(map_path).name)
    group_by, groups_col = None, None
    if by:
        if by not in s.columns:
            raise InputError(f"field {by!r} not found in the points", str(points_path), f"use one of {', '.join(map(str, pts.columns[:30]))}")
        group_by, groups_col = by, s[by].to_numpy(dtype=object)
    elif units_path and (by_level or aridity_path):
        from irrmap.core.units import AdminUnits

        units = AdminUnits.read(units_path, unit_field, hierarchy=hierarchy, layer=units_layer, encoding=units_encoding, **(units_read or {}))
        finest = points.attach_units(pts, units)
        if aridity_path:
            cls = points.unit_aridity_classes(units, read_map(aridity_path, name="aridity"), aridity_threshold)
            group_by, groups_col = "aridity_class", finest.map(cls).to_numpy(dtype=object)
        else:
            group_by, groups_col = by_level, points.attach_units(pts, units, by_level).to_numpy(dtype=object)
    used = s["used"].to_numpy()
    acc = confusion.accuracy(s.loc[used, "map"].to_numpy(), s.loc[used, "reference"].to_numpy(), CLASSES)
    groups = {}
    if groups_col is not None:
        s["group"] = groups_col
        groups = confusion.accuracy_by_group(s.loc[used, "map"].to_numpy(), s.loc[used, "reference"].to_numpy(), groups_col[used], CLASSES)
        counts["n_used_without_group"] = int(sum(1 for v in groups_col[used] if v is None or v != v))
    snapped_d = s.loc[s["snapped"].to_numpy() & used, "snap_distance_m"]
    counts |= {"n_snapped": int(s["snapped"].sum()), "threshold": float(threshold),
               "max_snap_distance_m": float(snapped_d.max()) if len(snapped_d) else None}  # geodesic, point to pixel centre
    if design is not None:
        check_frame_size(design, info, grid, str(points_path), Path(map_path).name, values=m)
        from irrmap.evaluation.design_frame import check_frame_area

        check_frame_area(s, design, grid, str(points_path), "--frame-pixel-area", inside=s["inside"].to_numpy())
    design_acc = (design_accuracy(s.loc[used], design, CLASSES, source=str(points_path), all_points=s,
                                  pixel_areas=_design_pixel_areas(design, grid, m, threshold, s.loc[used]))
                  if design else None)
    if design is not None:  # strata = map classes: each stratum's size against its class's pixels in the map
        from irrmap.evaluation.design_checks import check_strata_on_map

        check_strata_on_map(s.loc[used], design, {1: int((m > threshold).sum()), 0: int((m <= threshold).sum())},
                            source=str(points_path), map_name=Path(map_path).name,
                            map_pixel_ha=grid.total_area() / (grid.width * grid.height) / 1e4)
    cmd = _cmd("irrmap", "evaluate", "points", map_path, points_path, "--label-field", label_field, *_opt("--threshold", given),
               *sum((["--positive", p] for p in positive or []), []),
               *sum((["--label-map", f"{k}={v}"] for k, v in (label_map or {}).items()), []),
               *_opt("--points-crs", points_crs), *_opt("--layer", layer), *_opt("--lon-field", lon_field), *_opt("--lat-field", lat_field),
               *_opt("--cropland", cropland_path), *(_opt("--snap-radius", snap_radius) if cropland_path else []),
               *(_opt("--min-crop-fraction", min_crop_fraction) if cropland_path and min_crop_fraction else []),
               *_opt("--by", by), *_opt("--units", units_path if (by_level or aridity_path) and not by else None),
               *_opt("--unit-field", unit_field if (by_level or aridity_path) and not by else None),
               *_opt("--hierarchy", hierarchy if (by_level or aridity_path) and not by and hierarchy != "cn-adcode" else None),
               *_parents(units_read if (by_level or aridity_path) and not by else None, hierarchy),
               *_opt("--units-layer", units_layer if (by_level or aridity_path) and not by else None),
               *_opt("--units-encoding", units_encoding if (by_level or aridity_path) and not by else None),
               *_opt("--drop-invalid-codes", _drops(units_read) and bool(by_level or aridity_path) and not by),
               *_opt("--by-level", by_level if not by else None), *_opt("--aridity", aridity_path if not by else None),
               *(design_options(design) if design else []), *_opt("--one-per-pixel", one_per_pixel), "--json")
    return PointsResult(acc, groups, s, counts, cmd, group_by, design_acc)


def _design_pixel_areas(design: SampleDesign, grid: Grid, m, threshold: float, used: pd.DataFrame):
    """design_areas.PixelAreas of the map when the sampling frame is its grid (the frame pixel area given is the map's
    mean true pixel area, as `irrmap run` sets it) and its pixels differ in area (geographic grid); else None (the
    one frame pixel area then scales the pixel counts)."""
    from irrmap.evaluation.design_areas import frame_is_map, map_pixel_areas
    from irrmap.evaluation.design_checks import map_class_strata

    if not frame_is_map(design.unit_area_ha, grid):
        return None
    return map_pixel_areas(grid, np.asarray(m, dtype=np.float64), threshold, used["row"].to_numpy(), used["col"].to_numpy(),
                           map_class_strata(used, design))


def _same_pixel(s: pd.DataFrame, counts: dict, one_per_pixel: bool, source: str, map_name: str) -> None:
    """Count the used points sharing a map pixel (points.repeated_pixels) into `counts`; with `one_per_pixel` leave
    out all but the first of each pixel (s['used'] updated in place), else warn when any pixel holds several."""
    shared, later = points.repeated_pixels(s["row"].to_numpy(), s["col"].to_numpy(), s["used"].to_numpy())
    n_shared, n_pix = int(shared.sum()), int((shared & ~later).sum())
    counts |= {"n_points_sharing_pixels": n_shared, "n_pixels_with_several_points": n_pix}
    if one_per_pixel:
        s["same_pixel_left_out"] = later
        s["used"] = s["used"].to_numpy() & ~later
        counts["n_left_out_same_pixel"] = int(later.sum())
    elif n_shared:
        log.warning("%s: %s of %s used reference points share a pixel of the map %s with another point (%s pixels hold 2 or more, "
                    "up to %s): points of one pixel see one map value and are not independent samples, so the accuracy SEs and "
                    "confidence intervals (computed as for a simple random sample of points) are too small. Fix: keep one point per "
                    "pixel with --one-per-pixel (the first in file order), or thin the points to distinct pixels", source, f"{n_shared:,}",
                    f"{int(s['used'].sum()):,}", map_name, f"{n_pix:,}",
                    int(pd.Series(list(zip(s["row"][shared], s["col"][shared]))).value_counts().max()))


FRAME_REFUSE_RATIO = 3.0  # stratum sizes totalling more than 3x the map's pixels are refused (a frame the map cannot hold)
FRAME_WARN_RATIO = 1.25  # more than 25 % above the map's pixels is warned (a frame is the map or a part of it, e.g. its cropland)


def check_frame_size(design: SampleDesign, info: dict, grid: Grid, source: str, map_name: str = "map", values=None) -> float | None:
    """Compare the total of the given stratum sizes (pixels of the sampling frame) with the map the points evaluate:
    its pixels holding data (`info` = map_values; on irrmap's class.tif every pixel, 255 = no cropland being scored),
    as areas when the frame's pixel area is given (design.unit_area_ha; the map's: its mean true pixel area).
    Returns the ratio frame / map (None without stratum sizes, or a map without valid pixels). A frame smaller than
    the map is normal (the points drawn from its cropland only, as the demo's are). Raises DataError when the frame
    exceeds the map more than FRAME_REFUSE_RATIO times and is the map's grid (no frame pixel area, or the map's own
    mean pixel area, as `irrmap run` sets it by default): sizes counted in another unit, e.g. hectares or 30 m pixels
    for a 250 m map, would scale every design-based area. Logs a warning beyond FRAME_WARN_RATIO (only that, for a
    frame with pixels of its own area: it may be another region than the map; design_frame.check_frame_area, called after
    it, refuses one whose points on the map stand for more than the map's area). `values` (optional; the map's array,
    shape (height, width), NaN = nodata): the map's area in ha is then the sum of its data pixels' true areas
    (Grid.pixel_area), not their count times the mean pixel area, which differ on a lon/lat grid. First, with or
    without stratum sizes, raises DataError for a frame pixel area that is the map's mean pixel area in m2, in acres
    or its pixel side in m (value_guards.check_frame_unit): areas 1e4x (...) too large."""
    value_guards.check_frame_unit(design.unit_area_ha, grid.total_area() / (grid.width * grid.height) / 1e4, source, map_name)
    if not design.stratum_sizes:
        return None
    total = float(sum(design.stratum_sizes.values()))
    n_map = grid.width * grid.height if no_cropland_is_zero(info) else int(info.get("n_valid", 0))
    if values is not None and no_cropland_is_zero(info):  # class.tif's unpredicted crop pixels (NaN) are no part of the map
        n_map -= int(np.isnan(np.asarray(values, dtype=np.float64)).sum())
    if not n_map or total <= 0:
        return None
    map_ha = grid.total_area() / (grid.width * grid.height) / 1e4  # mean true pixel area of the map (ha)
    if design.unit_area_ha:
        mapped = n_map * map_ha
        if values is not None:  # true area of the pixels with data (on class.tif: all but the unpredicted crop pixels)
            mapped = float(grid.pixel_area()[~np.isnan(np.asarray(values, dtype=np.float64))].sum()) / 1e4
        frame, unit = total * design.unit_area_ha, "ha"
    else:
        frame, mapped, unit = total, float(n_map), "pixels"
    ratio = frame / mapped
    what = (f"the stratum sizes add up to {frame:,.0f} {unit} of the sampling frame"
            + (f" ({total:,.0f} frame pixels x {design.unit_area_ha:g} ha)" if design.unit_area_ha else "")
            + f", {ratio:.3g} times the {n_map:,} pixels with data of the map {map_name}"
            + (f" ({mapped:,.0f} ha)" if design.unit_area_ha else ""))
    fix = ("give each stratum's size as its number of pixels in the frame the points were drawn from (--stratum-size STRATUM=PIXELS, "
           "[evaluation].stratum_sizes), not hectares or pixels of another resolution; when the frame's pixels differ from the "
           "map's, give their area with --frame-pixel-area HA ([evaluation].frame_pixel_area_ha); when the points cover only part "
           "of the map, evaluate the map clipped to that part")
    same_frame = not design.unit_area_ha or math.isclose(design.unit_area_ha, map_ha, rel_tol=1e-6)
    if same_frame and ratio > FRAME_REFUSE_RATIO:
        raise DataError(what + f": the design-based areas would be off by that factor (more than {FRAME_REFUSE_RATIO:g}x)",
                        f"{source}: stratum sizes", fix)
    if ratio > FRAME_WARN_RATIO:
        log.warning("%s: %s; check the sizes (fix: %s)", source, what, fix)
    return ratio


# ---- area estimation -----------------------------------------------------------------------------
def _read_csv(path, what: str, need, fmt: TableFormat | None = None) -> pd.DataFrame:
    """A user table (CSV/TSV/semicolon or Excel, see irrmap.core.tables) with the columns `need`; cells as text."""
    return read_table(path, fmt or TableFormat(options="--"), what=what, require=need)


def _numbers(df: pd.DataFrame, column: str, path, fmt: TableFormat | None = None) -> pd.Series:
    """A column of non-negative numbers (any decimal convention, see irrmap.core.tables.parse_numbers);
    InputError naming the lines of empty, non-numeric or negative cells."""
    num = parse_numbers(df[column], fmt or TableFormat(options="--"), column=column, source=str(path))
    wrong = num.bad | num.empty | (num.values < 0)
    if wrong.any():
        lines = ", ".join(map(str, df.index[wrong.to_numpy()][:10]))
        raise InputError(f"{column!r} must hold non-negative numbers (lines {lines}: {df.loc[wrong, column].iloc[0]!r}"
                         + (f"; {num.hint}" if num.hint else "") + ")", str(path), f"fix the {column} column")
    return num.values


def class_labels(values) -> pd.Series:
    """Class and stratum labels as text, written one way: surrounding spaces dropped and numbers written as
    numbers (1.0 -> '1', 2.50 -> '2.5'), so a table written by a spreadsheet ('1.0') meets one written by hand
    ('1'), and in Unicode NFC form (an accent written as one code point or two is one label). Case is kept (see
    area_estimation.check_label_sets)."""
    def one(v):
        t = unicodedata.normalize("NFC", str(v).strip())
        try:
            f = float(t)
        except ValueError:
            return t
        if not np.isfinite(f) or t.lower() in ("nan", "inf", "-inf", "infinity"):
            return t
        return str(int(f)) if f.is_integer() else repr(f)
    return pd.Series([one(v) for v in np.asarray(values, dtype=object)], dtype=object)


def _sizes(df: pd.DataFrame, key: str, path, fmt: TableFormat | None = None, totals=()) -> pd.Series:
    """Sizes keyed by class_labels(df[key]); a total row (is_total_label or `totals`) equal to the sum of the
    others is left out (else InputError, see margins.drop_total_sizes). InputError for repeated labels."""
    vals = _numbers(df, "size", path, fmt)
    keys = class_labels(df[key])
    if keys.duplicated().any():
        raise InputError(f"{key} values repeat: {sorted(df[key].to_numpy()[keys.duplicated().to_numpy()].tolist())[:5]} "
                         "(labels are compared as numbers where they are numbers: 1 and 1.0 are one label)", str(path), "one row per stratum")
    return drop_total_sizes(pd.Series(vals.to_numpy(), index=keys.to_numpy()), path, key, totals)


@contextmanager
def _in_files(*paths):
    """Name the input files in an estimator's DataError (which names only the table, e.g. 'matrix')."""
    try:
        yield
    except DataError as exc:
        raise DataError(exc.what, f"{' + '.join(map(str, paths))} ({exc.where})", exc.fix) from None


def area_from_samples(samples_path, strata_path, *, fpc: bool = False, fmt: TableFormat | None = None) -> tuple[AreaEstimate, str]:
    """Stehman (2014) estimates from a sample table (stratum, map, reference) and stratum sizes (stratum, size);
    `fmt` says how the tables are written (encoding, separator, decimal, thousands).

    A total row of the strata table (labelled total, sum, Σ, all, grand total; any case) that equals the sum of
    the other sizes is left out with an INFO line; one that does not, or an unsampled stratum whose size is the
    sum of the others, raises InputError. Labels of irrmap's binary vocabulary (0/1, irrigated / not irrigated /
    non-irrigated / rainfed, yes / no) are read as 0/1 in the map and reference columns, and in the stratum
    columns of both tables, as `evaluate points` reads them (area_estimation.binary_recoding)."""
    s = _read_csv(samples_path, "sample table", ["stratum", "map", "reference"], fmt)
    n = _read_csv(strata_path, "strata table", ["stratum", "size"], fmt)
    sizes = _sizes(n, "stratum", strata_path, fmt)
    strata = class_labels(s["stratum"])
    refuse_unlabelled_total(sizes, set(strata), strata_path, "stratum")
    with _in_files(samples_path, strata_path):
        est = stehman(strata, *(class_labels(s[c]) for c in ("map", "reference")), sizes, fpc=fpc)
    return est, _cmd("irrmap", "evaluate", "area", "--samples", samples_path, "--strata", strata_path, *_opt("--fpc", fpc), "--json")


def area_from_matrix(matrix_path, mapped_path, *, fmt: TableFormat | None = None) -> tuple[AreaEstimate, str]:
    """Olofsson (2014) estimates from a count matrix CSV (first column map class, header reference classes) and
    the mapped size of each class (columns class or stratum, and size); `fmt` as for `area_from_samples`.

    A matrix copied with its margins (as Olofsson et al. 2014 Table 8 prints it) is read without them: a row or
    column labelled total / totals / sum / Σ / all / grand total (any case), or one holding the sums of the other
    rows / columns under a label the other axis lacks (or as the last row and column under one label), is left
    out with an INFO line after checking that it is the sum (matrix_without_margins); so is the mapped-size table's total
    row. A labelled total that is not the sum raises InputError naming the file, the label and the fix."""
    raw = _read_csv(matrix_path, "matrix", [], fmt)
    mat = pd.DataFrame({c: _numbers(raw, c, matrix_path, fmt).to_numpy() for c in raw.columns[1:]})
    mat.columns = class_labels(mat.columns).to_numpy()
    mat.index = class_labels(raw.iloc[:, 0]).to_numpy()
    mat, totals = matrix_without_margins(mat, matrix_path)
    if set(mat.columns) != set(mat.index):
        raise InputError(f"rows {list(mat.index)} and columns {list(mat.columns)} are not the same classes", str(matrix_path),
                         "rows are map classes, columns reference classes, same labels in both")
    mat = mat[list(mat.index)]
    n = _read_csv(mapped_path, "mapped-size table", [], fmt)
    key = "class" if "class" in n.columns else "stratum"
    if key not in n.columns or "size" not in n.columns:
        raise InputError("mapped-size table needs columns class (or stratum) and size", str(mapped_path), "add a header row")
    sizes = _sizes(n, key, mapped_path, fmt, totals)
    refuse_unlabelled_total(sizes, mat.index, mapped_path, key)
    with _in_files(matrix_path, mapped_path):
        est = olofsson(mat, sizes)
    return est, _cmd("irrmap", "evaluate", "area", "--matrix", matrix_path, "--mapped", mapped_path, "--json")


# ---- statistics ----------------------------------------------------------------------------------
@dataclass
class StatisticsResult:
    levels: dict  # level -> DataFrame (code, statistic_m2, mapped_m2, n_units)
    metrics: dict  # level -> metrics (m2)
    out_unit: str
    command: str
    mapped: pd.Series = field(default=None)
    left_out: dict = field(default_factory=dict)  # what the pairs leave out, and why (see statistics_agreement)
    sources: dict = field(default_factory=dict)  # level -> what the map is compared with there (its own table, or summed units)
    basis: str = ""  # how a pixel's mapped area is counted (area_basis), for the report to label the area with

    def to_dict(self) -> dict:
        scale = M2_PER_UNIT[self.out_unit]
        return {"unit": self.out_unit, "levels": {lv: _clean_metrics(agreement.scaled_metrics(m, scale)) for lv, m in self.metrics.items()},
                "sources": self.sources, "left_out": self.left_out}


def area_basis(map_kind: str, weighted: bool, zero_one: bool = False) -> str:
    """How a pixel's mapped irrigated area is counted (agreement.mapped_area_by_unit), in words for the report:
    a fraction/percent map counts the share of the pixel's area it holds, times the weight raster when one is given;
    a binary map the whole area of each irrigated pixel, or that area times the weight. `zero_one`: the map holds
    only 0 and 1 (value_guards.is_zero_one), so read as fractions without a weight each 1 counts the whole pixel."""
    times = " times the weight raster (e.g. its cropland fraction)" if weighted else ""
    if map_kind in ("fraction", "percent"):
        if zero_one and not weighted:
            return "the whole true area of each pixel holding 1 (a 0/1 map read as fractions, no weight: a pixel counts whole)"
        unit = "fraction (0..1)" if map_kind == "fraction" else "percent / 100"
        return f"each pixel's true area times its mapped irrigated {unit}{times}"
    return f"each irrigated pixel's true area{times}" if weighted else "the whole true area of each irrigated pixel"


def _clean_metrics(metrics: dict) -> dict:
    """Agreement metrics as JSON values (NaN -> None), keeping the reasons (dict values) as they are."""
    return {k: v if isinstance(v, dict) else confusion._clean(v) for k, v in metrics.items()}


def statistics_agreement(map_path, units_path, unit_field, stats_path, stats_field, area_field, area_unit, *,
                         hierarchy="cn-adcode", levels=None, stats_level=None, map_kind="fraction", threshold=None,
                         weight_path=None, year_field=None, year=None, variant_field=None, variant=None,
                         skip_rows=0, out_unit="ha", units_layer=None, units_encoding=None, fmt: TableFormat | None = None,
                         level_tables: dict | None = None, cropland_path=None, main_checked: bool = False,
                         mapped_m2: pd.Series | None = None, units_read: dict | None = None) -> StatisticsResult:
    """Mapped area per unit against statistics at each level (see evaluation.agreement); `fmt` says how the
    statistics table is written (irrmap.core.tables.TableFormat); `units_read` as in points_accuracy. `level_tables` maps a higher level to its own
    statistics table (same columns): that level is compared with it instead of the sum of the units' statistics.

    Every table read passes the checks of `irrmap statistics check` and the run's statistics stage
    (irrmap.core.statistics.validate_statistics, row by row whatever the number of units: duplicate, missing or
    unreadable codes and areas, areas larger than the unit, no join; and the scale of the table as a whole
    against the units' cropland from `cropland_path` (a 0..1 cropland fraction raster, resampled onto the map's
    grid) when given, and against their whole areas): errors raise DataError naming the file, the field and the
    fix; warnings (rows without an area, codes on one side only, a table implausibly small) are logged, naming
    the rows left out. `main_checked`: the main table passed those checks already (the run's statistics stage),
    so they are not raised or logged again for it (its bad rows are still left out).

    A unit that lies only partly on the map's grid (more than agreement.MAX_MISSING_SHARE of its ellipsoidal
    area off it) has no mapped area (agreement.leave_out_partial) and is named in the left-out warning: its
    whole-unit statistic cannot be compared with the part of it that is mapped.

    `map_kind`: "fraction" (0..1), "percent" (0..100, mapping/fraction.tif) or "binary" (value > `threshold`).
    DataError (evaluation.value_guards) for map values outside the kind's domain (above 1 / 100, below 0, an
    undeclared integer fill), a threshold in fraction units on a 0..100 map, and a `weight_path` or `cropland_path`
    raster that is not a 0..1 fraction (a percent weight would multiply every area by up to 100).
    `mapped_m2`: the mapped area (m2) by finest unit code, when the caller has it from the one definition of the
    product it publishes (the run: irrmap.mapping.unit_areas.irrigated_m2_by_unit on mapping/fraction.tif, the
    areas of mapping/irrigated_area_by_unit.csv); the map is then not summed again here."""
    from irrmap.core.statistics import read_statistics, validate_statistics
    from irrmap.core.units import AdminUnits

    out_unit = normalise_area_unit(out_unit)
    units = AdminUnits.read(units_path, unit_field, hierarchy=hierarchy, layer=units_layer, encoding=units_encoding, **(units_read or {}))
    levels = list(levels or units.levels)
    stats_level = stats_level or units.levels[0]
    grid = map_grid(map_path)
    if mapped_m2 is None:
        info = check_map_values(map_path, threshold, map_kind)
        value_guards.check_kind_domain(info, map_path, map_kind)
        value_guards.check_class_map_areas(info, map_path, map_kind, weight_path is not None)  # class.tif: 1 = irrigated pixel
        whole_pixels = value_guards.warn_zero_one_fraction(info, map_path, map_kind, weight_path is not None)
        if weight_path:
            value_guards.check_fraction_raster(map_values(weight_path), weight_path, "weight", "--weight")
        if cropland_path:
            value_guards.check_fraction_raster(map_values(cropland_path), cropland_path, "cropland", "--cropland")
        m = read_map(map_path, grid)
        if no_cropland_is_zero(info):  # irrmap's class.tif: 255 = no cropland, i.e. 0 irrigated area (not missing data),
            m = _class_map_with_gaps(m, cropland_path, grid)  # but 255 on cropland = not predicted: missing
        weight = read_map(weight_path, grid, name="weight") if weight_path else None
        mapped = agreement.mapped_area_by_unit(m, units, kind=map_kind, threshold=0.0 if threshold is None else threshold, weight=weight,
                                               source=f"map {map_path}", fix="evaluate it with --map-kind binary and --threshold T "
                                               "for a class or probability map, --map-kind percent for a 0..100 map")
    else:
        whole_pixels = False
        mapped = mapped_m2.reindex(units.codes.astype(str).to_numpy()).rename("mapped_m2")
        mapped.attrs["not_estimable"] = dict(mapped_m2.attrs.get("not_estimable", {}))  # e.g. unpredicted.without_unpredicted_units
        whole_map_m2 = float(mapped.sum())  # before partial units are left out: the report's "share of the map" (flags_section)
        mapped = agreement.leave_out_partial(mapped, units, grid)

    if cropland_path is not None and mapped_m2 is not None:
        value_guards.check_fraction_raster(map_values(cropland_path), cropland_path, "cropland", "--cropland")
    cropland_m2 = cropland_by_unit(cropland_path, units, grid) if cropland_path is not None else None

    def read_level(path, level, check=True):
        stats = read_statistics(path, code_field=stats_field, area_field=area_field, area_unit=area_unit, year_field=year_field,
                                year=year, variant_field=variant_field, variant=variant, level=level, skip_rows=skip_rows,
                                code_pattern=units.code_pattern(level), fmt=fmt)
        report = validate_statistics(stats, units, cropland_m2, without_statistic=WITHOUT_STATISTIC)  # also marks bad rows not valid
        if check:
            _raise_statistics_errors(report, path, stats_field, area_field, year_field)
            for p in report.warnings:
                log.warning("%s: %s", path, _cli_fix(str(p)))
        return stats

    stats = read_level(stats_path, stats_level, not main_checked)
    paired = agreement.paired_by_level(mapped, stats.areas(), units, levels, stats_level)
    sources = {lv: (f"its own table ({Path(stats_path).name})" if lv == stats_level else f"the sum of the {stats_level} statistics of its units")
               for lv in paired}
    for lv, path in (level_tables or {}).items():
        if lv in paired and lv != stats_level:
            paired[lv] = agreement.paired_by_level(mapped, read_level(path, lv).areas(), units, [lv], lv)[lv]
            sources[lv] = f"its own table ({Path(path).name})"
    if paired and all(len(df) == 0 for df in paired.values()):
        unmapped = mapped.attrs.get("not_estimable", {})
        if len(mapped) and mapped.isna().all() and unmapped:
            raise DataError(*_no_unit_mapped(unmapped, mapped.attrs.get("data_share", {}), map_path))
        problems = "; ".join(str(p) for p in stats.report.problems[:3]) or "no code of the table matches a unit code"
        raise DataError(f"no unit has both a statistic and a mapped area ({problems})", str(stats_path),
                        "check --stats-field and --unit-field, and filter one row per unit with --year/--variant")
    metrics = {lv: agreement.agreement_metrics(df["statistic_m2"], df["mapped_m2"]) for lv, df in paired.items()}
    left_out = _left_out(mapped, stats.areas(), units, stats_level, str(stats_path))
    left_out.update(_coverage_and_mapped(mapped, units, grid, stats_level, left_out["units_without_statistic"],
                                         whole_map_m2 if mapped_m2 is not None else None))
    cmd = _cmd("irrmap", "evaluate", "statistics", map_path, "--units", units_path, "--unit-field", unit_field, *_opt("--units-layer", units_layer), *_opt("--units-encoding", units_encoding),
               "--hierarchy", hierarchy, *_parents(units_read, hierarchy), *_opt("--drop-invalid-codes", _drops(units_read)), "--stats", stats_path, "--stats-field", stats_field, "--area-field", area_field,
               "--area-unit", area_unit, "--levels", ",".join(levels), *_opt("--stats-level", stats_level if stats_level != units.levels[0] else None),
               "--map-kind", map_kind, *_opt("--threshold", threshold if map_kind == "binary" else None), *_opt("--weight", weight_path),
               *_opt("--cropland", cropland_path), *_opt("--year-field", year_field), *_opt("--year", year), *_opt("--variant-field", variant_field),
               *_opt("--variant", variant), *_opt("--skip-rows", skip_rows or None), "--out-unit", out_unit,
               *sum((["--level-stats", f"{lv}={p}"] for lv, p in (level_tables or {}).items()), []), "--json")
    return StatisticsResult(paired, metrics, out_unit, cmd, mapped, left_out, sources, area_basis(map_kind, weight_path is not None, whole_pixels))


WITHOUT_STATISTIC = ("they are left out of this comparison with statistics (their mapped area is not checked against one)",
                     "add their statistics to compare them too; else nothing to do")  # validate_statistics, in this command's words


def _no_unit_mapped(unmapped: dict, data_share: dict, map_path, listed: int = 5) -> tuple[str, str, str]:
    """(message, where, fix) of the DataError for a map that gives no unit a mapped area: the rule that makes a unit
    estimable (agreement.MAX_MISSING_SHARE), then each unit's own reason (the share of its WHOLE area the map has
    data on), the units closest to the rule first (`data_share`, {code: 0..1}; unknown shares last), `listed` of them."""
    from irrmap.core.share_text import percent_text

    order = sorted(unmapped, key=lambda c: -data_share.get(str(c), -1.0))
    known = any(str(c) in data_share for c in order)
    units = "; ".join(f"{c}: {unmapped[c]}" for c in order[:listed]) + (f"; ... ({len(order) - listed} more)" if len(order) > listed else "")
    limit = agreement.MAX_MISSING_SHARE
    msg = (f"no unit has a mapped area: a unit is compared only when at most {percent_text(limit)} of its area lies off the map's grid "
           f"and the map has no data on at most {percent_text(limit)} of it (evaluation.agreement.MAX_MISSING_SHARE: a whole-unit "
           f"statistic cannot be compared with part of the unit); none of the {len(order)} units passes"
           + (", closest first: " if known else ": ") + units)
    fix = ("give units that lie within the map's data (e.g. the regions the map was made for, with their own statistics), or a map "
           f"with data on at least {percent_text(1 - limit)} of each unit (mosaic the neighbouring maps; pixels without cropland "
           "should hold 0, not nodata)")
    return msg, str(map_path), fix


def class_map_values(info: dict, cropland_path=None):
    """For irrmap's class.tif (`info` = map_values; no_cropland_is_zero): the function (values, grid) -> values that
    sets its 255 (read as NaN) to 0 = mapped not irrigated, NaN (unpredicted) where `cropland_path` has cropland > 0
    (_class_map_with_gaps, evaluation.unpredicted); None for any other map (its nodata stays missing)."""
    if not no_cropland_is_zero(info):
        return None
    return lambda values, grid: _class_map_with_gaps(values, cropland_path, grid)


def _class_map_with_gaps(m, cropland_path, grid: Grid):
    """irrmap's class.tif `m` (255 -> NaN) with 0 on its 255 pixels without cropland and NaN (missing, so a unit
    mostly unpredicted has no mapped area, agreement.MAX_MISSING_SHARE) on 255 pixels with cropland > 0 in
    `cropland_path` (evaluation.unpredicted); every 255 is 0 without a cropland raster."""
    import shutil
    import tempfile

    from irrmap.evaluation.unpredicted import split_no_cropland

    if cropland_path is None:
        return m.fillna(0)
    tmp = tempfile.mkdtemp(prefix="irrmap-crop-")
    try:
        da, thr = binary_on_grid(cropland_path, grid, 0.0, Path(tmp) / "crop_any.tif", name="cropland")
        return split_no_cropland(m, (da > thr).load())[0]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_KIND_FIELD = {"duplicate code": "code", "missing code": "code", "no join": "code", "code not in boundaries": "code",
               "codes in scientific notation": "code", "non-numeric year": "year"}  # otherwise the area field


def _raise_statistics_errors(report, path, code_field, area_field, year_field=None) -> None:
    """DataError for the errors of a statistics ValidationReport, naming the file, the field of each error and its
    fix (the report's own wording, with config keys translated to the flags of `irrmap evaluate`)."""
    errors = report.errors
    if not errors:
        return
    field_of = lambda p: {"code": code_field, "year": year_field}.get(_KIND_FIELD.get(p.kind), area_field)  # noqa: E731
    if len(errors) == 1:
        p = errors[0]
        where = f" (lines {', '.join(map(str, p.rows[:10]))}{', ...' if len(p.rows) > 10 else ''})" if p.rows else ""
        raise DataError(f"{p.kind}: {p.message}{where}", f"{path}, field {field_of(p)!r}", _cli_fix(p.fix))
    fields = sorted({str(field_of(p)) for p in errors})
    raise DataError(f"{len(errors)} errors in the statistics table: " + " | ".join(_cli_fix(str(p)) for p in errors[:5]),
                    f"{path}, field{'s' if len(fields) > 1 else ''} {', '.join(map(repr, fields))}",
                    "correct the rows named above (or check --area-unit, --stats-field and --year/--variant); "
                    "`irrmap statistics check` lists every problem")


def _cli_fix(text: str) -> str:
    """A statistics message with its config keys ([statistics].variant = 'x') written as the flags of
    `irrmap evaluate statistics` (--variant x)."""
    import re

    return re.sub(r"\[statistics\]\.(\w+)(?: = ('[^']*'|\S+))?",
                  lambda m: f"--{m.group(1).replace('_', '-')}" + (f" {m.group(2)}" if m.group(2) else ""), text)


def cropland_by_unit(cropland_path, units, grid: Grid | None = None) -> pd.Series:
    """Cropland area (m2) by finest unit code: a 0..1 cropland fraction raster (nodata = no cropland) on `grid`
    (default its own) times true pixel areas, summed over each unit's pixels (evaluation.agreement); NaN for a
    unit with less than irrmap.core.plausibility.MIN_COVERED of its ellipsoidal area on the grid (its cropland
    would be partial). DataError when the raster holds values above 1."""
    from irrmap.core.plausibility import MIN_COVERED

    crop = read_map(cropland_path, grid, name="cropland").fillna(0)
    # one pass: the units' pixel area on the grid is the `whole` sum of the cropland's pass (a map of ones has no gap
    # there); a -inf cropland value would be a gap of `crop * 0 + 1`: then the second pass as written
    cropland, on_grid = agreement.mapped_and_whole_area_by_unit(crop, units, kind="fraction", source=f"cropland {cropland_path} (--cropland)",
                                                                fix="give a 0..1 cropland fraction raster (gdal_edit.py -scale 0.01 for percent)")
    if not np.isfinite(cropland.to_numpy()[cropland.notna().to_numpy()]).all():
        on_grid = agreement.mapped_area_by_unit(crop * 0 + 1, units, kind="fraction")
    return cropland.where(on_grid >= MIN_COVERED * units.geodesic_areas().reindex(cropland.index).to_numpy())


def _coverage_and_mapped(mapped: pd.Series, units, grid: Grid, stats_level: str, without_statistic, map_m2=None) -> dict:
    """For the report's findings (evaluation.flags_section): on_grid_share (finest code -> share 0..1 of its geodesic
    area on the map's grid, agreement.on_grid_share: units/units.csv's share), mapped_m2_without_statistic (code at
    `stats_level` -> mapped m2 of the units without a statistic, NaN-skipping) and mapped_m2_total (m2: `map_m2`, the
    whole map's area by unit, else the sum of `mapped`)."""
    share = agreement.on_grid_share(units, grid)
    by_code = mapped.groupby(units.level_codes(stats_level).astype(str).to_numpy()).sum(min_count=1)
    # results.json is strict JSON: unknown values (NaN) are left out, not written as NaN
    total = float(map_m2) if map_m2 is not None else float(mapped.sum())
    areas = {str(c): float(by_code.get(str(c), float("nan"))) for c in without_statistic}
    return {"on_grid_share": {str(c): float(v) for c, v in share[~share.index.duplicated()].items() if np.isfinite(v)},
            "mapped_m2_without_statistic": {c: v for c, v in areas.items() if np.isfinite(v)},
            "mapped_m2_total": total if np.isfinite(total) else None}


def _left_out(mapped: pd.Series, stats: pd.Series, units, stats_level: str, source: str) -> dict:
    """What the agreement pairs leave out: units without a mapped area (with the reason), statistics whose
    code is no unit's, units without a statistic. Logs a warning for the first (their area is not compared; the
    second are named by validate_statistics)."""
    unit_codes = set(units.level_codes(stats_level).astype(str))
    orphans = sorted(str(c) for c in stats.index if str(c) not in unit_codes)
    unmapped = mapped.attrs.get("not_estimable", {})
    out = {"units_without_mapped_area": unmapped, "statistics_without_unit": orphans,
           "units_without_statistic": sorted(unit_codes - {str(c) for c in stats.index})}
    if unmapped:
        log.warning("%s: %d units have no mapped area and are left out of the comparison (%s); fix: evaluate a map that covers "
                    "them", source, len(unmapped), "; ".join(f"{c}: {why}" for c, why in list(unmapped.items())[:5]))
    # statistics matching no unit are named by validate_statistics' 'code not in boundaries' warning (with the likely cause)
    return out


# ---- comparison ----------------------------------------------------------------------------------
@dataclass
class CompareResult:
    comparison: comparison.MapComparison
    units: pd.DataFrame | None
    unit_metrics: dict | None
    command: str

    def to_dict(self) -> dict:
        d = self.comparison.to_dict()
        if self.unit_metrics is not None:
            d["unit_areas"] = _clean_metrics(self.unit_metrics)
        return d


def compare(map_a, map_b, *, threshold_a=None, threshold_b=None, mask_path=None, units_path=None, unit_field=None,
            hierarchy="cn-adcode", kind_a="fraction", kind_b="fraction", units_layer=None, units_encoding=None,
            threshold_options: dict | None = None, units_read: dict | None = None, cropland_path=None) -> CompareResult:
    """Compare map B with map A on map A's grid; per-unit areas side by side when units are given.
    `threshold_options` ({"a": ..., "b": ...}) names the options giving the thresholds in errors (default
    --threshold-a / --threshold-b).

    Map B (and the mask) are binarised on their own grid first (value > threshold; mask > 0): resampling a fraction
    map as continuous before thresholding would spread every partly irrigated pixel. A finer map B then enters each
    A pixel as its irrigated fraction (average of its 0/1 pixels; the matrix is area-weighted by it), a map B as fine
    or coarser by nearest, the mask as categories (mode/nearest); evaluation.compare_grids, which also warns when a
    map is coarsened more than 2x. Every area reported for a map (irrigated_area_a_m2 / _b_m2, per-unit areas) is
    summed on that map's own grid with true pixel areas; the outputs name the comparison grid and each method.

    irrmap's class.tif (either map; no_cropland_is_zero) stores 255 for no cropland: such a pixel is mapped not
    irrigated (0 ha, compared as 0), not missing, as in statistics and points (class_map_values). With `cropland_path`
    (a 0..1 cropland fraction raster) a 255 pixel with cropland > 0 is unpredicted instead (evaluation.unpredicted):
    missing, left out of the matrix and counted in missing_area_m2."""
    return compare_all(map_a, [map_b], threshold_a=threshold_a, threshold_b=threshold_b, mask_path=mask_path, units_path=units_path,
                       unit_field=unit_field, hierarchy=hierarchy, kind_a=kind_a, kind_b=kind_b, units_layer=units_layer,
                       units_encoding=units_encoding, threshold_options=threshold_options, units_read=units_read,
                       cropland_path=cropland_path)[0]


def compare_all(map_a, maps_b, *, threshold_a=None, threshold_b=None, mask_path=None, units_path=None, unit_field=None,
                hierarchy="cn-adcode", kind_a="fraction", kind_b="fraction", units_layer=None, units_encoding=None,
                threshold_options: dict | None = None, units_read: dict | None = None,
                kind_options: dict | None = None, cropland_path=None) -> list[CompareResult]:
    """`compare(map_a, b, ...)` for each map b of `maps_b` (same keywords, one threshold and kind for every map B),
    map A checked, read and summed once for all of them (comparison.compare_maps_many): the same results.
    `kind_options` ({"a": ..., "b": ...}) names the options choosing the kinds in errors (default --kind-a / --kind-b,
    or none when `threshold_options` is given: that caller, e.g. `evaluate report --compare`, has no kind option).
    DataError (check_map_values, evaluation.value_guards) for undeclared fills, a threshold in fraction units on
    a 0..100 map and, with units, values outside the kind's domain (a 0..100 map read as a fraction)."""
    import shutil
    import tempfile

    maps_b = list(maps_b)
    grid = map_grid(map_a)
    t_opts = {"a": threshold_option("map A"), "b": threshold_option("map B")} | (threshold_options or {})
    if kind_options is None:  # `evaluate compare` has --kind-a/--kind-b; a caller naming its own thresholds has no kind options
        kind_options = {"a": "--kind-a", "b": "--kind-b"} if threshold_options is None else {}
    info_a = check_map_values(map_a, threshold_a, kind_a, "map A", binarised=True, option=t_opts["a"])
    infos_b = [check_map_values(map_b, threshold_b, kind_b, "map B", binarised=True, option=t_opts["b"]) for map_b in maps_b]
    if units_path:  # unit areas read the maps as their kinds
        value_guards.check_kind_domain(info_a, map_a, kind_a, "map A", kind_options.get("a"), t_opts["a"])
        for map_b, info_b in zip(maps_b, infos_b):
            value_guards.check_kind_domain(info_b, map_b, kind_b, "map B", kind_options.get("b"), t_opts["b"])
    given = threshold_a, threshold_b  # None: not given (value > 0)
    threshold_a, threshold_b = (0.0 if t is None else float(t) for t in given)
    fill_a = class_map_values(info_a, cropland_path)
    fills_b = [class_map_values(info_b, cropland_path) for info_b in infos_b]
    from irrmap.core.footprint import warn_partial_footprint

    for map_b in maps_b:  # a map B covering part of map A: only missing_area_m2 said so, OA and kappa looked whole
        warn_partial_footprint(map_b, grid, f"map B {map_b}", grid_name="map A's grid",
                               fix="compare maps of the same area (or crop map A to map B: gdal_translate -projwin); the "
                                   "agreement covers only their overlap, and missing_area_m2 gives the rest")
    a = read_map(map_a, grid, name=Path(map_a).stem)
    a = a if fill_a is None else fill_a(a, grid)
    all_names = []
    for map_b in maps_b:
        names = (Path(map_a).stem, Path(map_b).stem)
        all_names.append((f"A:{names[0]}", f"B:{names[1]}") if names[0] == names[1] else names)
    tmp = tempfile.mkdtemp(prefix="irrmap-compare-")
    try:
        on_grid = [compare_grids.on_grid(map_b, grid, threshold_b, Path(tmp) / f"b{i}.tif", fill=fill)
                   for i, (map_b, fill) in enumerate(zip(maps_b, fills_b))]
        mask = compare_grids.on_grid(mask_path, grid, 0.0, Path(tmp) / "mask.tif", what="mask", fraction=False, name="mask") if mask_path else None
        res = comparison.compare_maps_many(a, [b.data for b in on_grid], threshold_a=threshold_a, thresholds_b=[b.threshold for b in on_grid],
                                           mask=None if mask is None else mask.data, names=all_names) if maps_b else []
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for r, b in zip(res, on_grid):  # areas on each map's own grid, never after resampling
        if b.area_m2 is not None:
            r.irrigated_area_b_m2 = b.area_m2
        r.grids = {"comparison_grid": {"map": "A", **compare_grids.grid_description(grid)}, "map_b_on_grid": b.method,
                   **({"mask_on_grid": mask.method} if mask is not None else {})}
    out = []
    units = ua = None
    for map_b, names, r, fill_b in zip(maps_b, all_names, res, fills_b):
        table = metrics = None
        if units_path:
            from irrmap.core.units import AdminUnits

            if units is None:
                units = AdminUnits.read(units_path, unit_field, hierarchy=hierarchy, layer=units_layer, encoding=units_encoding, **(units_read or {}))
                ua = agreement.mapped_area_by_unit(a, units, kind=kind_a, threshold=threshold_a, source=f"map A {map_a}")
            b_own = read_map(map_b, name=Path(map_b).stem)
            b_own = b_own if fill_b is None else fill_b(b_own, map_grid(map_b))
            ub = agreement.mapped_area_by_unit(b_own, units, kind=kind_b, threshold=threshold_b, source=f"map B {map_b}")
            table = comparison.unit_areas_side_by_side(ua, ub, names)
            metrics = agreement.agreement_metrics(ua.to_numpy(), ub.to_numpy())
            metrics["units_without_mapped_area"] = {f"{names[i]}: {c}": why for i, side in enumerate((ua, ub))
                                                    for c, why in side.attrs.get("not_estimable", {}).items()}
        cmd = _cmd("irrmap", "evaluate", "compare", map_a, map_b, *_opt("--threshold-a", given[0]),
                   *_opt("--threshold-b", given[1]), *_opt("--mask", mask_path), *_opt("--units", units_path),
                   *_opt("--unit-field", unit_field if units_path else None), *_opt("--hierarchy", hierarchy if units_path else None), *_parents(units_read if units_path else None, hierarchy),
                   *_opt("--units-layer", units_layer if units_path else None),
                   *_opt("--units-encoding", units_encoding if units_path else None),
                   *_opt("--drop-invalid-codes", _drops(units_read) and bool(units_path)),
                   *_opt("--kind-a", kind_a if units_path and kind_a != "fraction" else None),
                   *_opt("--kind-b", kind_b if units_path and kind_b != "fraction" else None), *_opt("--cropland", cropland_path), "--json")
        out.append(CompareResult(r, table, metrics, cmd))
    return out


def binary_on_grid(path, grid: Grid, threshold: float, tmp_path, name: str | None = None):
    """(DataArray on `grid`, threshold to apply to it) for the binary map `path` (value > `threshold`).

    On `grid` already: the map itself and `threshold`. Otherwise the map is binarised on its own grid
    (0/1, 255 for nodata) into `tmp_path`, which is read onto `grid` as categories (mode/nearest), with
    threshold 0; `tmp_path` must exist until the result has been computed."""
    import rasterio

    own = map_grid(path)
    if own.aligned_with(grid):
        return read_map(path, grid, name=name), threshold
    src = read_map(path, own, name=name)
    profile = {"driver": "GTiff", "width": own.width, "height": own.height, "count": 1, "dtype": "uint8", "nodata": 255,
               "crs": own.crs, "transform": own.transform, "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    from irrmap.core.atomic import write_errors

    # a scratch file in the system's temporary folder: a full disk there is one OutputError naming it, not a traceback
    with write_errors(tmp_path), rasterio.open(tmp_path, "w", **profile) as dst:
        for t in own.tiles(1024):
            w = t.window
            v = np.asarray(src.data[int(w.row_off):int(w.row_off + w.height), int(w.col_off):int(w.col_off + w.width)], dtype=np.float64)
            dst.write(np.where(np.isfinite(v), (v > threshold).astype(np.uint8), 255).astype(np.uint8), 1, window=w)
    da = read_raster(tmp_path, grid, kind="categorical", name=name or Path(path).stem)
    return da, 0.0


# ---- report ---------------------------------------------------------------------------------------
def build_report(map_path, *, points_result: PointsResult | None = None, area: tuple | None = None,
                 statistics: StatisticsResult | None = None, comparisons=(), title: str | None = None,
                 map_kind: str = "fraction", threshold: float = 0.0, water=None, treecover=None, run_info=None, diagnostics=None,
                 warnings: list | None = None, constrained: bool = False, figure=None):
    """A Report with a map quicklook and one section per result given; each section ends with its CLI command.
    `water`: an irrmap.evaluation.water_section.WaterFiles, for the water-body layer's section (which names the
    files its numbers come from); `treecover`: an irrmap.evaluation.treecover_section.TreecoverFiles, for the
    tree-cover layer's section. `run_info`: a run_section.RunInfo ('What was mapped'); `diagnostics`: a
    diagnostics_section.Diagnostics; `warnings`: the run's warnings (dicts stage, logger, message) for 'Flags and
    next steps' (the section is left out when None); `constrained`: the map was trained on labels matched to the
    statistics (see statistics_section); `figure`: PNG bytes of the map figure replacing the quicklook."""
    from irrmap.evaluation.report import Report, confusion_png, map_quicklook_png
    from irrmap.evaluation.unpredicted import counts_text

    threshold = 0.0 if threshold is None else threshold
    rep = Report(title or f"Evaluation of {Path(map_path).name}",
                 _summary(points_result, statistics, warnings) + "Rows of every confusion matrix are map classes, columns reference "
                 "classes. Accuracy at the points is design-based when the sampling design is given ([evaluation].stratum_field), with "
                 "error-adjusted areas by the stratified estimators (Olofsson et al. 2014; Stehman 2014). Threshold-derived training "
                 "pixels are not a probability sample and are never used for accuracy here.")
    results: dict = {"map": str(map_path)}
    if run_info is not None:
        from irrmap.evaluation.run_section import run_section

        results["run"] = run_section(rep, run_info)
    m = read_map(map_path)
    sec = rep.section("Map")
    sec.text(f"`{map_path}`: {m.sizes['y']} x {m.sizes['x']} pixels, CRS {m.rio.crs.to_string() if m.rio.crs else 'unknown'}.")
    if figure is not None:
        sec.figure(figure, "map", "The map (majority class of each display block), with admin boundaries.")
    else:
        sec.figure(map_quicklook_png(m, title=Path(map_path).stem, kind=map_kind, threshold=threshold,
                                     **({"legend_label": "irrigated percent of pixel"} if map_kind == "percent" else {})), "map_quicklook",
                   "Quicklook (block means for display).")
    if points_result is not None and points_result.design is not None:
        from irrmap.evaluation.design_section import design_section

        # areas in ha from the sampling frame's pixel area (the unit of the stratum sizes), never the evaluated map's
        results["design_based"] = design_section(rep, points_result.design, points_result.accuracy, CLASS_NAMES,
                                                 points_result.design.design.unit_area_ha, points_result.command,
                                                 areas_in_ha=points_result.design.area_unit == "ha")
    if points_result is not None:
        acc = points_result.accuracy
        sec = rep.section("Accuracy at reference points" + (" (unweighted, as if a simple random sample)" if points_result.design else ""))
        c = points_result.counts
        sec.text(f"{acc.n} points used of {c['n_points']} ({c['n_outside_map']} outside the map, {c['n_missing_label']} without label, "
                 f"{c['n_missing_map_value']} on map nodata, {c['n_no_crop_within_radius']} without a crop pixel within the snap radius; "
                 f"{c['n_snapped']} snapped). Map irrigated where value > {c['threshold']:g}."
                 + (" " + counts_text(c, acc.n) if counts_text(c, acc.n) else "")
                 + (f" {c['n_left_out_same_pixel']} points were left out as later points of a pixel holding an earlier one "
                    "(one point per pixel)." if c.get("n_left_out_same_pixel") else "")
                 + (f" {c['n_points_sharing_pixels']} used points share {c['n_pixels_with_several_points']} map pixels: they are not "
                    "independent samples, so the standard errors below are too small (--one-per-pixel keeps one point per pixel)."
                    if c.get("n_points_sharing_pixels") and "n_left_out_same_pixel" not in c else ""))
        summary = pd.DataFrame({"measure": ["overall accuracy", "kappa", "kappa SE", "kappa 95% CI lower", "kappa 95% CI upper"],
                                "value": [acc.overall_accuracy, acc.kappa, acc.kappa_se, *acc.kappa_ci95]})
        sec.table(summary, "Overall accuracy and Cohen's kappa (delta-method SE).")
        _not_estimable_text(sec, acc.not_estimable(CLASS_NAMES))
        sec.table(acc.table(CLASS_NAMES), "Per class: user's accuracy (map rows), producer's accuracy (reference columns), F1.")
        named = acc.matrix.rename(index=CLASS_NAMES, columns=CLASS_NAMES)
        sec.figure(confusion_png(named, title="Confusion matrix (counts)"), "confusion_points", "Confusion matrix at the reference points.")
        if points_result.groups:
            rows = [{"group": k, "n": v.n, "overall_accuracy": v.overall_accuracy, "kappa": v.kappa,
                     "PA_irrigated": v.producers_accuracy[1], "PA_not_irrigated": v.producers_accuracy[0],
                     "UA_irrigated": v.users_accuracy[1], "UA_not_irrigated": v.users_accuracy[0]}
                    for k, v in points_result.groups.items()]
            sec.table(pd.DataFrame(rows), f"By {points_result.group_by}.")
        sec.command(points_result.command)
        results["points"] = points_result.to_dict()
    if area is not None:
        est, cmd = area
        sec = rep.section("Error-adjusted area and accuracy (stratified estimator)")
        oa_se = "not estimable" if est.overall_accuracy_se != est.overall_accuracy_se else f"{est.overall_accuracy_se:.4f}"
        sec.text(f"Estimator {est.estimator}, {est.n} sample units; overall accuracy {est.overall_accuracy:.4f} "
                 f"(SE {oa_se}). Areas in the unit of the stratum sizes; the area proportions sum to "
                 f"{est.area_proportion.sum():.6g}.")
        sec.table(est.table(), "Per class, with standard errors and 95 % confidence intervals.")
        _not_estimable_text(sec, est.to_dict()["not_estimable"])
        sec.figure(confusion_png(est.error_matrix, title="Estimated proportions of area"), "error_matrix_area",
                   "Error matrix in estimated proportions of area.")
        sec.command(cmd)
        results["area"] = est.to_dict()
    if diagnostics is not None:
        from irrmap.evaluation.diagnostics_section import diagnostics_section

        results["diagnostics"] = diagnostics_section(rep, diagnostics, points_result)
    if statistics is not None:
        from irrmap.evaluation.statistics_section import statistics_section

        results["statistics"] = statistics_section(rep, statistics, constrained)
    for i, cr in enumerate(comparisons):
        comp = cr.comparison
        sec = rep.section(f"Comparison: {comp.names[0]} vs {comp.names[1]}")
        sec.table(pd.DataFrame({"measure": ["overall agreement", "kappa", "quantity disagreement", "allocation disagreement"],
                                "value": [comp.overall_agreement, comp.kappa, comp.quantity_disagreement, comp.allocation_disagreement]}),
                  "Area-weighted; quantity + allocation disagreement = 1 - overall agreement (Pontius & Millones 2011).")
        _not_estimable_text(sec, comp.not_estimable())
        km2 = comp.matrix / 1e6
        sec.figure(confusion_png(km2, title="Agreement matrix (km2)", row_label=comp.names[0], col_label=comp.names[1]),
                   f"agreement_{i + 1}", "Area (km2) in each combination of classes, on map A's grid"
                   + (f"; map B {comp.grids['map_b_on_grid']}." if comp.grids.get("map_b_on_grid") else "."))
        if cr.units is not None:
            sec.table(cr.units.head(50), "Per-unit areas (m2), first 50 units.")
        sec.command(cr.command)
        results.setdefault("comparisons", []).append(cr.to_dict())
    if water is not None:
        from irrmap.evaluation.water_section import water_section

        results["water"] = water_section(rep, water)
    if treecover is not None:
        from irrmap.evaluation.treecover_section import treecover_section

        results["treecover"] = treecover_section(rep, treecover)
    if warnings is not None:
        from irrmap.evaluation.flags_section import findings, flags_section

        results["flags"] = flags_section(rep, warnings, findings(points_result, diagnostics, statistics))
    return rep, results


def _summary(points_result, statistics, warnings) -> str:
    """The report's opening sentences: headline accuracy with its CI, mapped area against statistics, warnings."""
    from irrmap.evaluation.design_section import ci95, headline

    out = []
    if points_result is not None:
        if points_result.design is not None:
            out.append(f"Headline: {headline(points_result.design)}.")
        else:
            a = points_result.accuracy
            lo, hi = ci95(a.overall_accuracy, a.overall_accuracy_se)
            out.append(f"Headline: overall accuracy {a.overall_accuracy:.3f} (95 % CI {lo:.3f}-{hi:.3f}; {a.n} points as a simple random sample).")
    if statistics is not None and statistics.levels:
        lv, df = next(iter(statistics.levels.items()))
        scale = M2_PER_UNIT[statistics.out_unit]
        out.append(f"Mapped irrigated area {df['mapped_m2'].sum() / scale:,.0f} {statistics.out_unit} against {df['statistic_m2'].sum() / scale:,.0f} "
                   f"{statistics.out_unit} in the statistics ({len(df)} {lv} units with both; mapped area = "
                   f"{statistics.basis or area_basis('fraction', False)}).")
    if warnings is not None:
        out.append(f"{len(warnings)} warning(s) in the run (see Flags and next steps).")
    return " ".join(out) + (" " if out else "")


def _not_estimable_text(sec, reasons: dict) -> None:
    """A paragraph naming each measure shown as n/a and why it cannot be estimated."""
    if reasons:
        sec.text("Not estimable (n/a above): " + "; ".join(f"{k}: {why}" for k, why in reasons.items()) + ".")


def write_report(outdir, map_path, *, prune: bool = False, **kwargs) -> dict:
    """Build the report and write OUTDIR/report.md, report.html, figures/*.png, results.json, points_sampled.csv
    (with points) and statistics_LEVEL.csv (with statistics). Returns {name: path (str)} of EVERY file written:
    markdown, html, results, points, statistics_LEVEL and figure_NAME (figures/NAME.png), so a run's manifest
    lists them all and a deleted one makes the stage run again.

    `prune` (irrmap run's evaluation stage, whose folder is its own): remove the files of these names the
    current report does not write (figures/*.png, statistics_*.csv, points_sampled.csv), e.g. of a level,
    comparison or point set dropped from the config, so no stale table or figure is left beside the report."""
    from irrmap.core.atomic import atomic_path, write_text_atomic

    outdir = Path(outdir)
    rep, results = build_report(map_path, **kwargs)
    md, html_path = rep.write(outdir)
    res_path = write_text_atomic(outdir / "results.json", to_json(results) + "\n")
    pr = kwargs.get("points_result")
    paths = {"markdown": str(md), "html": str(html_path), "results": str(res_path)}
    if pr is not None:
        with atomic_path(outdir / "points_sampled.csv") as tmp:
            pr.samples.to_csv(tmp, index=False)
        paths["points"] = str(outdir / "points_sampled.csv")
    st = kwargs.get("statistics")
    if st is not None:
        for lv, df in st.levels.items():
            with atomic_path(outdir / f"statistics_{lv}.csv") as tmp:
                df.to_csv(tmp, index=False)
            paths[f"statistics_{lv}"] = str(outdir / f"statistics_{lv}.csv")
    for fig in getattr(rep, "figure_paths", []):
        paths[f"figure_{Path(fig).stem}"] = str(fig)
    if prune:
        _prune_stale(outdir, {Path(p).resolve() for p in paths.values()})
    return paths


def _prune_stale(outdir: Path, written: set) -> None:
    """Remove OUTDIR/figures/*.png, OUTDIR/statistics_*.csv and OUTDIR/points_sampled.csv not in `written`
    (resolved paths): outputs of the report's own naming that the current run no longer writes."""
    stale = [*outdir.glob("figures/*.png"), *outdir.glob("statistics_*.csv"), *outdir.glob("points_sampled.csv")]
    for f in stale:
        if f.resolve() not in written:
            log.info("removing %s: the evaluation no longer writes it", f)
            f.unlink(missing_ok=True)


def to_json(d: dict) -> str:
    """One JSON object (NaN already mapped to null by the result classes)."""
    return json.dumps(d, indent=2, default=_json_default, allow_nan=False)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if o != o else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


__all__ = ["CLASS_NAMES", "CompareResult", "PointsResult", "StatisticsResult", "area_from_matrix", "area_from_samples",
           "build_report", "compare", "compare_all", "points_accuracy", "read_map", "statistics_agreement", "to_json", "write_report"]
