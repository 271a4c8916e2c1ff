"""Value checks of the rasters `irrmap evaluate` reads, so a number it reports is never computed from values that are
not what the map or option claims: undeclared fill values (negative, the integer type's largest value), values
outside the kind's domain (a 0..1 fraction above 1, a percent above 100), a weight or cropland raster that is not a
0..1 fraction (percent), and a threshold in fraction units on a 0..100 map.

Every check works on `info` = evaluation.workflow.map_values(path) (values as irrmap reads them: the file's
scale/offset applied, its nodata, mask and alpha pixels left out) and raises irrmap.core.errors.DataError naming
the file, the value and the caller's own option in the fix (`irrmap evaluate` flags, or the [evaluation] keys of a run).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from irrmap.core.errors import DataError

log = logging.getLogger(__name__)

#: a percent map is integer-valued up to 100 (mapping/fraction.tif, probability.tif 'P(irrigated) x 100'); counts
#: (years or days irrigated, class codes) stay at or below workflow.COUNT_MAX = 31, so an integer map whose largest
#: value lies in (PERCENT_MIN_MAX, 100] reads as percent
PERCENT_MIN_MAX = 31
#: band-description words that say the values are percent (irrmap writes 'P(irrigated) x 100' and '..., percent')
PERCENT_WORDS = ("percent", "x 100", "× 100", "*100", "* 100", "%")


def _scaled(info: dict) -> bool:
    return info.get("scale", 1.0) != 1.0 or info.get("offset", 0.0) != 0.0


def integer_top(dtype) -> int | None:
    """The largest value of an integer raster type (65535 for uint16), None for a float type."""
    dt = np.dtype(dtype)
    return int(np.iinfo(dt).max) if np.issubdtype(dt, np.integer) else None


def check_fills(info: dict, path, what: str = "map", option: str | None = None) -> None:
    """Refuse undeclared fill values a reader would score as data: any valid value below 0 (a map, weight or cropland
    of irrmap holds no negative value; -9999 and -3.4e38 are the usual undeclared fills) and, on an integer band
    wider than 8 bit, valid pixels storing the type's largest value (65535 for uint16) when every other stored value
    is below half of it (8-bit 255, 254 and int8 127 are check_fill_codes'). `option` names the file's option in the message
    (e.g. '--weight'). Raises DataError (file, value, fix: declare the fill as nodata with gdal_edit.py)."""
    src = f"{what} {path}" + (f" ({option})" if option else "")
    if info.get("n_valid") and info["min"] < 0:
        low = info["min"]
        raise DataError(f"valid pixels hold {low:g} (below 0): an undeclared fill value would be read as data (a negative "
                        "fraction, percent, class or weight)", src,
                        f"declare the fill as nodata (gdal_edit.py -a_nodata {low:g} {path}), or mask the negative pixels")
    tf = info.get("top_fill")
    if not tf:
        return
    top = tf["value"]
    if tf["max_other"] < top / 2:
        raise DataError(f"{tf['n']} pixels store {top} (the largest {info['dtype']} value) while the others stay at or below "
                        f"{tf['max_other']:g}, and the file declares {'no nodata' if info['nodata'] is None else 'nodata = ' + format(info['nodata'], 'g')}: "
                        "an undeclared fill value would be read as data", src, f"declare it as nodata: gdal_edit.py -a_nodata {top} {path}")


#: stored codes that mark fill, no data or no cropland on an integer class/percent map (8-bit 255 and 254, int8 127),
#: never one of its classes (0/1, class codes, counts) or a percent (at most CLASS_VALUE_MAX); wider types' largest
#: values (65535, 32767) and negative fills (-9999) are check_fills' rule
CLASS_FILL_CODES = (255, 254, 127)
#: the largest value of a map's classes, counts or percentages: a fill code above every other value up to this one
#: is a fill (a 0..100 percent map holds nothing above 100)
CLASS_VALUE_MAX = 100


def _count_stored(path, value) -> int:
    """Valid pixels (not nodata, masked or alpha-transparent, as irrmap.core.nodata decodes them) of band 1 of `path`
    storing `value`, read block by block."""
    import rasterio

    from irrmap.core.nodata import decoding_for, valid_mask

    n = 0
    with rasterio.open(path) as src:
        dec = decoding_for(src, 1)
        for _, w in src.block_windows(1):
            raw = src.read(1, window=w)
            ok = ~dec.missing(raw, valid_mask(src, 1, dec, w))
            n += int((raw[ok] == value).sum())
    return n


def check_fill_codes(info: dict, path, what: str = "map") -> None:
    """Refuse a map whose valid (not declared nodata) pixels store a fill code (CLASS_FILL_CODES: 255, 254, 127) above
    every other stored value, those all at most CLASS_VALUE_MAX (0/1 classes, class codes, counts, a 0..100 percent):
    whatever nodata the file declares (none, or another value such as 0), those pixels would be read as data - as
    irrigated at value > threshold, as 255 % or a class. `info`: map_values(path) ("n_255" / "max_below_255" for 255 on
    any band, "values", the distinct stored values of an unscaled integer band, for the others). Shapes: none (scalars
    of `info`). Raises DataError naming the file, the code, its valid pixel count and the declared nodata, with the fix
    `gdal_edit.py -a_nodata CODE FILE`."""
    if not info.get("n_valid"):
        return
    vals = info.get("values")
    found = None  # (code, valid pixels storing it, largest other stored value)
    if info.get("n_255") and info.get("max_below_255", -np.inf) <= CLASS_VALUE_MAX:
        found = (255, int(info["n_255"]), info["max_below_255"])
    elif vals:
        codes = [c for c in CLASS_FILL_CODES if c != 127 or str(info.get("dtype")) == "int8"]  # 127: int8's top only
        others = [v for v in vals if v not in codes]
        top = max(others) if others else -np.inf
        code = next((c for c in codes if c in vals and c > top), None)
        if code is not None and top <= CLASS_VALUE_MAX:
            found = (code, _count_stored(path, code), top)
    if found is None:
        return
    code, n, top = found
    nd = info.get("nodata")
    declared = "declares no nodata value" if nd is None else f"declares nodata = {nd:g}, not {code}"
    rest = f"every other value is at most {top:g}" if np.isfinite(top) else "it holds no other value"
    also = (f" (its {nd:g} pixels then count as data: first give {code} to pixels that really lack data)" if nd is not None else "")
    raise DataError(f"{n} valid pixels hold {code} but the file {declared}: they would be read as data (counted as irrigated at "
                    f"value > threshold) while {rest}", f"{what} {path}",
                    f"declare {code} as nodata: gdal_edit.py -a_nodata {code} {path}{also}")


def check_kind_domain(info: dict, path, kind: str, what: str = "map", kind_option: str | None = "--map-kind",
                      threshold_option: str | None = "--threshold") -> None:
    """Refuse a map read as areas outside its kind's domain: kind "fraction" above 1, "percent" above 100 ("binary"
    has no upper bound). `kind_option` names the caller's option choosing the kind (None: the caller has none, e.g.
    `evaluate report --compare`): the fix offers only what that caller can do. Raises DataError."""
    if not info.get("n_valid") or kind == "binary":
        return
    top, limit = info["max"], (1.0 if kind == "fraction" else 100.0)
    if top <= limit + 1e-6:
        return
    looks_pct = kind == "fraction" and top <= 100.0
    if kind_option is None:
        fix = (f"rescale it to 0..1 (declare the scale: gdal_edit.py -scale 0.01 {path})" if looks_pct
               else f"rescale it to 0..1 or declare its fill as nodata (gdal_edit.py -a_nodata VALUE {path})")
    elif kind_option.startswith("--map-kind") or kind_option.endswith("map_kind"):
        fix = (f"{kind_option} percent for a 0..100 map, or {kind_option} binary with {threshold_option} T for a class or probability map"
               if kind == "fraction" else f"{kind_option} binary with {threshold_option} T for class codes, or declare its fill as "
               f"nodata (gdal_edit.py -a_nodata VALUE {path})")
    else:  # evaluate compare: --kind-a/--kind-b know fraction and binary only
        fix = (f"{kind_option} binary with {threshold_option} T (e.g. 50 for a 0..100 map), or rescale it to 0..1 "
               f"(gdal_edit.py -scale 0.01 {path})")
    raise DataError(f"values reach {top:g}, more than a {'fraction of 1' if kind == 'fraction' else 'percent of 100'}"
                    f" (read as {kind}): its areas would be {top / limit:.3g}x too large", f"{what} {path}", fix)


def check_fraction_raster(info: dict, path, what: str, option: str) -> None:
    """Refuse a weight or cropland raster that is not a 0..1 fraction: undeclared fills (check_fills) and values above
    1 (a 0..100 percent raster would multiply every area by up to 100). Raises DataError naming `option`."""
    check_fills(info, path, what, option)
    if info.get("n_valid") and info["max"] > 1.0 + 1e-6:
        top = info["max"]
        fix = (f"give it as a 0..1 fraction: declare the percent scale (gdal_edit.py -scale 0.01 {path}) or divide it "
               f"(gdal_calc.py -A {path} --calc=\"A/100.0\" --type=Float32 --outfile=FRACTION.tif)" if top <= 100.0
               else f"give a 0..1 fraction raster as {option}, or declare its fill value as nodata (gdal_edit.py -a_nodata VALUE {path})")
        raise DataError(f"values reach {top:g}: {option} must be a 0..1 fraction (a unit's mapped area can never exceed its area)",
                        f"{what} {path} ({option})", fix)


def is_percent_map(info: dict, kind: str = "fraction") -> bool:
    """True for a map in 0..100 units: declared kind "percent", a band description saying percent ('x 100', '%'),
    or an unscaled integer band whose largest valid value lies in (PERCENT_MIN_MAX, 100]."""
    if kind == "percent":
        return True
    desc = str(info.get("description") or "").lower()
    if any(w in desc for w in PERCENT_WORDS):
        return True
    integer = integer_top(info["dtype"]) is not None and not _scaled(info)
    return bool(integer and info.get("n_valid") and PERCENT_MIN_MAX < info["max"] <= 100.0)


def check_threshold_units(info: dict, path, threshold, kind: str = "fraction", what: str = "map", option: str = "--threshold") -> None:
    """Refuse a threshold in fraction units (0 < T < 1) on a 0..100 map (is_percent_map): value > 0.5 there counts every
    pixel of 1 % or more as irrigated. Raises DataError whose fix gives the threshold x 100 under `option`."""
    if threshold is None or not 0 < float(threshold) < 1 or not info.get("n_valid") or not is_percent_map(info, kind):
        return
    t = float(threshold)
    desc = f", band description {info['description']!r}" if info.get("description") else ""
    sep = " " if option.startswith("--") else " = "
    raise DataError(f"the threshold {t:g} is in fraction units but the {what} is a 0..100 percent map (values up to {info['max']:g}{desc}): "
                    f"value > {t:g} would count every pixel of 1 % or more as irrigated", f"{what} {path}",
                    f"give the threshold in the map's own units: {option}{sep}{t * 100:g}")


#: frame pixel areas given in the wrong unit, as factors of the map's mean pixel area in ha: m2 (x 1e4) and acres
#: (1 ha = 2.47105 acres, NIST SP 811); the pixel side in m is checked apart (sqrt of the area in m2)
FRAME_UNIT_FACTORS = {"m2 (not ha)": 1e4, "acres (not ha)": 2.47105}
FRAME_UNIT_RTOL = 0.02  # the map's mean true pixel area differs from its nominal one by the projection's scale error


def check_frame_unit(unit_area_ha: float | None, map_ha: float, source: str, map_name: str = "map") -> None:
    """Refuse a frame pixel area (--frame-pixel-area / [evaluation].frame_pixel_area_ha, ha) that is the map's mean pixel
    area `map_ha` (ha) given in another unit (FRAME_UNIT_FACTORS) or its pixel side in m: every design-based area
    would be that factor too large. Raises DataError with the map's pixel area in ha as the fix."""
    if not unit_area_ha or not map_ha or map_ha <= 0:
        return
    cands = dict(FRAME_UNIT_FACTORS) | {"the pixel side in m (not an area in ha)": float(np.sqrt(map_ha * 1e4)) / map_ha}
    for unit, factor in cands.items():
        if abs(unit_area_ha / (map_ha * factor) - 1.0) <= FRAME_UNIT_RTOL:
            raise DataError(f"the frame pixel area {unit_area_ha:g} ha is the map {map_name}'s pixel area ({map_ha:.6g} ha) in {unit}: "
                            f"every design-based area would be {unit_area_ha / map_ha:.4g}x too large",
                            f"{source}: --frame-pixel-area ([evaluation].frame_pixel_area_ha)",
                            f"give it in ha: --frame-pixel-area {map_ha:.6g} (or leave it out when the frame is the map's grid)")


#: irrmap's class map legend, as mapping/filter.py writes it into class.tif's band description ("1 irrigated, 0 cropland
#: not irrigated, 255 no cropland (filtered)"): either phrase marks a map whose 1 means "irrigated pixel", not a fraction
CLASS_MAP_WORDS = ("255 no cropland", "0 cropland not irrigated")
#: the run's cropland fraction raster (irrmap's aligned/cropland.tif), named in the class map's fix
RUN_CROPLAND = "OUTPUT/aligned/cropland.tif"


def is_class_map(info: dict) -> bool:
    """True for irrmap's class map (mapping/class.tif): a band description holding its legend (CLASS_MAP_WORDS).
    Its 1 marks an irrigated pixel, whose irrigated area is its cropland fraction of the pixel, not the whole pixel."""
    desc = str(info.get("description") or "").lower()
    return any(w in desc for w in CLASS_MAP_WORDS)


def is_zero_one(info: dict) -> bool:
    """True for a map whose valid values are exactly 0 and 1 (info["few_values"] of workflow.map_values): a class
    map, whose 1 read as a fraction counts the whole pixel."""
    few = info.get("few_values")
    return bool(info.get("n_valid")) and few is not None and set(few) == {0.0, 1.0}


def check_class_map_areas(info: dict, path, kind: str, weighted: bool, what: str = "map",
                          kind_option: str = "--map-kind", weight_option: str = "--weight") -> None:
    """Refuse irrmap's class map (is_class_map) summed into AREAS without a weight (any `kind`), or read as "percent":
    its 1 would count the whole pixel (kind fraction / binary) or 1 % of it, while irrmap's irrigated area of a pixel is
    its cropland fraction (CIrrMap250, mapping/irrigated_area_by_unit.csv). Raises DataError whose fix gives the run's
    cropland as the weight (RUN_CROPLAND)."""
    if not is_class_map(info) or (weighted and kind != "percent"):
        return
    counted = "1 % of each irrigated pixel" if kind == "percent" else "the whole area of each irrigated pixel"
    run_crop = Path(path).parent.parent / "aligned" / "cropland.tif"  # class.tif is OUTPUT/mapping/class.tif in a run
    crop = str(run_crop) if Path(path).parent.name == "mapping" and run_crop.exists() else RUN_CROPLAND
    frac = Path(path).parent / "fraction.tif"
    frac = str(frac) if Path(path).parent.name == "mapping" and frac.exists() else "OUTPUT/mapping/fraction.tif"
    raise DataError(f"this is irrmap's class map (band description {info.get('description')!r}): a pixel holding 1 is irrigated "
                    f"cropland, so read as {kind}{' without a weight' if not weighted else ''} its areas count {counted}, not its "
                    "cropland fraction (the run's irrigated_area_by_unit.csv)", f"{what} {path}",
                    f"{kind_option} binary {weight_option} {crop} (the run's 0..1 cropland fraction), or evaluate "
                    f"{frac} with --map-kind percent")


def warn_zero_one_fraction(info: dict, path, kind: str, weighted: bool, what: str = "map") -> bool:
    """Log a warning (the project's log.warning mechanism, collected into the report's flags) for a 0/1 map (is_zero_one)
    read as "fraction" without a weight: it is a class map, whose every 1 counts the whole pixel area. True when warned."""
    if kind != "fraction" or weighted or not is_zero_one(info):
        return False
    log.warning("%s %s holds only 0 and 1 and is read as fractions (--map-kind fraction): it is a class map, so each pixel "
                "holding 1 counts with its whole area; fix: give its cropland fraction as the weight (--map-kind binary "
                "--weight CROPLAND.tif), or evaluate a 0..1 irrigated fraction map", what, path)
    return True


__all__ = ["CLASS_FILL_CODES", "CLASS_MAP_WORDS", "CLASS_VALUE_MAX", "RUN_CROPLAND", "check_class_map_areas", "check_fill_codes", "check_fills", "check_fraction_raster", "check_frame_unit", "check_kind_domain", "check_threshold_units",
           "integer_top", "is_class_map", "is_percent_map", "is_zero_one", "warn_zero_one_fraction"]
