"""Suitability-weighted scores (SEVI, SNDVI, SGI) = S x VI_max, with the flat-unit rule: in units the
suitability stage marked flat (its per-unit table's `flat` column) the N-score replaces S x VI_max, as the
authors did in the North China Plain. Also the feature stage's entry point for `irrmap run`
(`feature_rasters`), which builds every VI predictor and score from a config section."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.core.config import feature_paths
from irrmap.core.errors import ConfigError, DataError, InputError
from irrmap.core.grid import Grid

log = logging.getLogger(__name__)

SCORE_VIS = ("evi", "ndvi", "gi")


def flat_pixels(zones: xr.DataArray, table: pd.DataFrame, column: str = "flat", *, where: str = "suitability table",
                zones_where: str = "zones") -> xr.DataArray:
    """Boolean raster: True on the pixels of units whose `column` is true in the per-unit table (index =
    zone id, as returned by suitability.reclassify). The table must describe `zones`: InputError (at `where`)
    when none of its ids occurs in the raster (`zones_where`; its nodata left out), a warning naming the flat ids
    absent from it otherwise (those units flag no pixel). Computes the zone ids present (one read of `zones`).
    The `column` holds booleans, 0/1, or the words of FLAT_TRUE / FLAT_FALSE (any case; empty = not flat); any other
    value raises InputError naming the column, the value and its zone id (a "no" is not true because it is text)."""
    if column not in table:
        raise InputError(f"the per-unit table has no {column!r} column", where, "run the suitability stage with the flat-unit rule on")
    try:
        table_ids = pd.to_numeric(pd.Index(table.index), errors="raise").to_numpy(dtype=np.int64)
    except (ValueError, TypeError):
        raise InputError(f"the per-unit table's first column (zone id) holds non-integer ids such as {table.index[0]!r}", where,
                         "give the per-unit table written with the zones raster (`irrmap suitability overlay --table`)") from None
    flags = _flags(table[column], column, where)
    _check_ids(zones, table_ids, set(table_ids[flags].tolist()), where, zones_where)
    ids = table.index[flags].to_numpy(dtype=np.int64)
    out = xr.apply_ufunc(np.isin, zones, kwargs={"test_elements": ids}, dask="parallelized", output_dtypes=[bool]) if ids.size else (zones != zones)
    out.name = "flat"
    return _geo(out, zones)


#: the words read as flat / not flat in a per-unit table's flat column (any letter case), as a spreadsheet or a
#: hand-written CSV says them; the booleans pandas reads (True/False) and the numbers 1/0 are taken as they are
FLAT_TRUE = frozenset({"1", "1.0", "true", "t", "yes", "y", "flat"})
FLAT_FALSE = frozenset({"0", "0.0", "false", "f", "no", "n", "not flat", ""})


def _flags(col: pd.Series, column: str, where: str) -> np.ndarray:
    """flat_pixels' reading of the flat column as a bool array (missing = False), refusing values it cannot read."""
    out = np.zeros(len(col), dtype=bool)
    for k, (zone, v) in enumerate(col.items()):
        if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
            continue
        if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, float, np.integer, np.floating)) and v in (0, 1)):
            out[k] = bool(v)
            continue
        word = str(v).strip().lower()
        if word in FLAT_TRUE or word in FLAT_FALSE:
            out[k] = word in FLAT_TRUE
            continue
        raise InputError(f"the {column!r} column holds {v!r} (zone {zone}), which reads as neither flat nor not flat", where,
                         f"write {column} as 1/0, true/false or yes/no in every row")
    return out


def _check_ids(zones: xr.DataArray, table_ids: np.ndarray, flat_ids: set, where: str, zones_where: str) -> None:
    """flat_pixels' check that the table's ids are the zones raster's."""
    import dask.array as da

    data = zones.data
    present = np.unique(np.asarray(da.unique(data).compute() if isinstance(data, da.Array) else np.unique(data)))
    nodata = zones.attrs.get("nodata")
    present = present[np.isfinite(present)] if present.dtype.kind == "f" else present
    if nodata is not None:
        present = present[present != nodata]
    shown = lambda ids: ", ".join(map(str, ids[:10])) + (" ..." if len(ids) > 10 else "")
    if not np.isin(table_ids, present).any():
        raise InputError(f"none of the {len(table_ids)} zone ids of the per-unit table ({shown(sorted(table_ids.tolist()))}) occurs "
                         f"in {zones_where} (ids {shown(present.tolist())})", where,
                         "give the per-unit table written for this zones raster (`irrmap suitability overlay --table` on the same zones)")
    missing = sorted(i for i in flat_ids if i not in set(present.tolist()))
    if missing:
        log.warning("%s: %d flat unit(s) of the per-unit table do not occur in %s (ids %s): they flag no pixel; check that the "
                    "table and the zones raster belong together", where, len(missing), zones_where, shown(missing))


def check_suitability(suitability: xr.DataArray, where: str) -> None:
    """Raise DataError when a suitability score S (numpy or dask; NaN = missing) has values outside 0..1: the
    overlay's S = sum w_i class_i / n_i lies in [0.1, 1] with weights summing to 1 (suitability.overlay), so
    larger values are another raster (a class map, a factor such as slope or distance) or S in percent, and
    S x VI_max would then not be on the scale of the N-score that replaces it in flat units."""
    import dask

    lo, hi = (float(v) for v in dask.compute(suitability.min(skipna=True), suitability.max(skipna=True)))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise DataError("the suitability score has no valid pixel on the VI's grid", where,
                        "check the file (gdalinfo -stats), its nodata value and that it covers the VI's area")
    if lo >= 0 and hi <= 1 + 1e-6:
        return
    # S in percent spans 10..100 (S in [0.1, 1]); a maximum of 1..1.5 is another 0..1.5 raster (an aridity index)
    fix = ("percent? give S as a 0..1 score (gdal_calc.py --calc 'A*0.01')" if lo >= 0 and 1.5 < hi <= 100 + 1e-6
           else "give the suitability score S written by `irrmap suitability overlay` (0..1), not a factor or class raster")
    raise DataError(f"the suitability score is not within 0..1: values {lo:g} to {hi:g}", where, fix)


def sscore(suitability: xr.DataArray, vi_max: xr.DataArray, flat: xr.DataArray | None = None, n_score: xr.DataArray | None = None) -> xr.DataArray:
    """S x VI_max (float32, NaN where either is missing); where `flat` is true the N-score is used instead."""
    out = (suitability * vi_max).astype(np.float32)
    if flat is not None:
        if n_score is None:
            raise InputError("flat units need the N-score", "features.sscore", "pass n_score= (training.nscore.nscore)")
        out = xr.where(flat.fillna(False).astype(bool), n_score, out).astype(np.float32)
    out.name = "sscore"
    return _geo(out, vi_max)


def score_rasters(
    vi_max: dict[str, xr.DataArray],
    reference: xr.DataArray,
    *,
    suitability: xr.DataArray | None = None,
    flat: xr.DataArray | None = None,
    window: int = 101,
    where: dict[str, str] | None = None,
) -> dict[str, xr.DataArray]:
    """N-scores ("n" + name) for every VI_max given and, with `suitability`, S-scores ("s" + name). With `where`
    (name -> the VI's file or config key), each VI's pixels left without an N-score by a window median <= 0 are
    counted first (training.nscore.check_positive_median: InputError above 1 %, else a warning)."""
    from irrmap.training.nscore import nscore

    out = {}
    for name, vi in vi_max.items():
        n = nscore(vi, reference, window, where=(where or {}).get(name))
        out[f"n{name}"] = n.rename(f"n{name}")
        if suitability is not None:
            out[f"s{name}"] = sscore(suitability, vi, flat, n).rename(f"s{name}")
    return out


# ---- the stage --------------------------------------------------------------------------------------------
_SERIES_KEYS = {"source", "contains", "pattern", "band", "preset", "scale", "nodata", "fill_values", "valid_range", "qa", "qa_contains",
                "qa_band", "variable"}
_TOP_KEYS = {"evi", "ndvi", "nir", "green", "swir", "gi", "ndwi", "qa", "date_pattern", "stats", "window", "reference_min_share",
             "mixed", "mixed_upper", "max_gi", "chunks", "std_ddof", "min_valid",
             "season_start"}


def series_options(spec, key: str, base: Path) -> dict:
    """The read_timeseries arguments of one [features] series entry (a path, or a table with `source` and
    the keys of _SERIES_KEYS), paths resolved against `base`. Reads no data; raises ConfigError for unknown
    keys, a missing `source` and files or folders that do not exist."""
    if isinstance(spec, str):
        spec = {"source": spec}
    bad = set(spec) - _SERIES_KEYS
    if bad:
        raise ConfigError(f"unknown key(s) {sorted(bad)}", f"[features].{key}", f"use {sorted(_SERIES_KEYS)}")
    if "source" not in spec:
        raise ConfigError("missing 'source' (a folder, a file list, a multi-band raster or a .nc/.zarr cube)", f"[features].{key}.source")
    absent = [(k, p) for k, p in feature_paths({key: spec}) if not _resolve(p, base).exists()]
    if absent:
        raise ConfigError(f"not found: {', '.join(p for _, p in absent[:3])}", f"[features].{absent[0][0]}",
                          f"point it at an existing folder, raster list, multi-band raster or .nc/.zarr cube; relative paths are relative to {base}")
    kw = dict(spec)
    for part in {k.split(".")[1] for k, _ in feature_paths({key: spec})}:
        kw[part] = [_resolve(p, base) for p in kw[part]] if isinstance(kw[part], (list, tuple)) else _resolve(kw[part], base)
    return kw


def check_section(section: dict, base_dir=".") -> None:
    """What `composite_rasters` refuses before reading a pixel, checked without reading data (for `irrmap run
    --check`): unknown [features] keys, unknown keys of a series entry or of [features.qa], a series without
    `source`, series files or folders that do not exist (ConfigError), and a multi-band stack whose band dates or
    QA stack cannot be paired (InputError, timeseries.multiband_order)."""
    from irrmap.sources.modis import qa_rule_from

    bad = set(section) - _TOP_KEYS
    if bad:
        raise ConfigError(f"unknown key(s) {sorted(bad)}", "features", f"use {sorted(_TOP_KEYS)}")
    season_start_of(section)
    qa_rule = qa_rule_from(section.get("qa"))
    for key in ("evi", "ndvi", "nir", "green", "swir", "gi", "ndwi"):
        if key in section:
            kw = series_options(section[key], key, Path(base_dir))
            _check_stack_pairing(kw, section.get("date_pattern"), qa_rule)


def _check_stack_pairing(kw: dict, pattern, qa_rule) -> None:
    """A multi-band stack's dates and its QA stack's pairing, from their metadata (timeseries.multiband_order)."""
    import rasterio

    from irrmap.training.timeseries import multiband_order

    src, qa = kw["source"], kw.get("qa") if qa_rule is not None else None
    if isinstance(src, (list, tuple)) or not Path(src).is_file() or Path(src).suffix.lower() in (".nc", ".zarr") or kw.get("band") is not None:
        return
    if isinstance(qa, (list, tuple)) or qa is not None and not Path(qa).is_file():
        qa = None
    from irrmap.core.layers import data_bands

    try:
        with rasterio.open(src) as f:
            if len(data_bands(f)) < 2:  # an alpha band is the mask of the layer, not a second date
                return
    except rasterio.errors.RasterioIOError:  # an unreadable file: the grid check reports it
        return
    multiband_order(src, dates=kw.get("dates"), pattern=kw.get("pattern", pattern), qa=qa)


def _stored_dtype(source) -> str | None:
    """The stored data type of a series' first raster (a file, a folder of files or a list), or None when it
    cannot be told without reading (cubes, unreadable files: their own reader reports those)."""
    import rasterio

    from irrmap.training.timeseries import RASTER_SUFFIXES

    first = source[0] if isinstance(source, (list, tuple)) and source else source
    path = Path(first)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
        path = files[0] if files else path
    try:
        with rasterio.open(path) as src:
            return src.dtypes[0]
    except Exception:  # noqa: BLE001 - not a GDAL raster (e.g. a cube): no default decided here
        return None


def default_preset(key: str, source) -> str | None:
    """The decoding preset a [features] series gets when the config names none: MOD13Q1 for evi/ndvi and
    MOD09 for nir/green/swir, but only for integer-stored files (the products' own encoding, x 1e-4). Float
    files hold values already scaled (exports from Earth Engine, sits, dtwSat): scaling them again would
    give maxima of 1e-4 (issue 12.12), so they get no preset."""
    preset = "mod13q1" if key in ("evi", "ndvi") else ("mod09" if key in ("nir", "green", "swir") else None)
    dtype = _stored_dtype(source) if preset else None
    if preset and dtype is not None and np.issubdtype(np.dtype(dtype), np.floating):
        log.info("[features].%s: %s values are taken as already scaled (no %s preset); set preset to force it", key, dtype, preset)
        return None
    return preset


def season_start_of(section: dict) -> tuple[int, int] | None:
    """(month, day) of [features].season_start (irrmap.core.season; None when unset: the calendar year). Raises
    ConfigError for a value that is not MM-DD."""
    from irrmap.core.season import parse_season_start

    if section.get("season_start") is None:
        return None
    try:
        return parse_season_start(section["season_start"])
    except ValueError as exc:
        raise ConfigError(str(exc), "[features].season_start", 'write the season\'s first day as "MM-DD", e.g. "09-01"') from None


def _series(spec, key: str, grid: Grid, base: Path, defaults: dict, qa_rule, chunks: int, year: int | None = None) -> xr.DataArray:
    """One [features] series, cut to the dates of the season `year` names ([features].season_start: the calendar
    year by default) when they span over a year (refused without `year`); a series of one year's span is refused
    when fewer than half of its dates fall in that season (series_checks.one_year)."""
    from irrmap.training.series_checks import one_year
    from irrmap.training.timeseries import read_timeseries

    kw = series_options(spec, key, base)
    src = kw.pop("source")
    kw.setdefault("pattern", defaults.get("date_pattern"))
    if "preset" not in kw:
        kw["preset"] = default_preset(key, src)
    if kw.get("qa") is not None:
        kw["qa_rule"] = qa_rule
    if kw.get("variable") is None:
        kw.pop("variable", None)
    series = read_timeseries(src, grid, chunks=chunks, name=key, band_option=f"[features].{key}.band",
                             contains_option=f"[features].{key}.contains", qa_contains_option=f"[features].{key}.qa_contains",
                             source_option=f"[features].{key}", **kw)
    return one_year(series, f"[features].{key} ({src if not isinstance(src, (list, tuple)) else src[0]})", year=year,
                    fix="set [statistics].year to the year mapped (its dates are then kept), or give one year's files",
                    season_start=season_start_of(defaults), year_option="[statistics].year", season_option="[features].season_start")


def _resolve(p, base: Path) -> Path:
    p = Path(p)
    return p if p.is_absolute() else base / p


def composite_rasters(
    section: dict,
    grid: Grid,
    *,
    f_crop: xr.DataArray,
    f_natural: xr.DataArray | None = None,
    f_other: xr.DataArray | None = None,
    base_dir=".",
    year: int | None = None,
) -> dict[str, xr.DataArray]:
    """The per-pixel part of `feature_rasters`: <vi>_<stat> composites of the `[features]` series (the maxima
    of EVI, NDVI and GI adjusted for mixed pixels with f_natural and f_other) and agi = gi_max x ndwi_max
    (*open*: the authors' order is unpublished). Lazy (dask) (y, x) float32 DataArrays on `grid`; the adjusted
    maxima, and agi made of an adjusted gi_max, carry the GeoTIFF tags of training.mixed_pixels.mixed_tags in their
    attrs (the stage writes them). Raises
    ConfigError for unknown keys, a bad season_start or no vegetation input, InputError for a series whose dates span
    more than a year when `year` (the run's: [statistics].year) is None; with `year`, such a series keeps the dates
    of the season `year` names ([features].season_start "MM-DD", default "01-01": the calendar year; a season is
    named by the year it ends in, irrmap.core.season), and a series of one year's span is refused when fewer than
    half of its dates fall in that season (training.series_checks.one_year)."""
    from irrmap.training.composites import annual_statistics
    from irrmap.training.indices import agi, green_index, ndwi_gao
    from irrmap.training.mixed_pixels import TAG, UPPER_TAG, adjust_mixed, mixed_tags
    from irrmap.training.physical_range import screen
    from irrmap.sources.modis import qa_rule_from

    bad = set(section) - _TOP_KEYS
    if bad:
        raise ConfigError(f"unknown key(s) {sorted(bad)}", "features", f"use {sorted(_TOP_KEYS)}")
    base = Path(base_dir)
    if season_start_of(section) is not None and year is None:
        log.warning("[features].season_start is set but the run has no year ([statistics].year): no dates are cut to a season")
    chunks = int(section.get("chunks", 512))
    qa_rule = qa_rule_from(section.get("qa"))
    stats = list(dict.fromkeys(["max"] + list(section.get("stats", []))))
    ddof, min_valid = int(section.get("std_ddof", 0)), int(section.get("min_valid", 1))

    def composite(series, name):
        st = annual_statistics(series, stats, ddof=ddof, min_valid=min_valid, chunks=chunks,
                               allow_multiyear=True)  # one_year above applied the series rule
        return {f"{name}_{s}": _geo(st.sel(stat=s, drop=True).rename(f"{name}_{s}"), st) for s in stats}

    out: dict[str, xr.DataArray] = {}
    for vi in ("evi", "ndvi"):
        if vi in section:
            out.update(composite(_series(section[vi], vi, grid, base, section, qa_rule, chunks, year), vi))
    nir = _series(section["nir"], "nir", grid, base, section, None, chunks, year) if "nir" in section else None
    if "gi" in section:
        out.update(composite(_series(section["gi"], "gi", grid, base, section, None, chunks, year), "gi"))
    elif nir is not None and "green" in section:
        green = _series(section["green"], "green", grid, base, section, None, chunks, year)
        _paired(nir, green, "green")  # one grid already (`grid`); same dates and scale, never an inner join
        out.update(composite(screen(green_index(nir, green, float(section.get("max_gi", 15.0))), "gi", "GI of [features].nir"), "gi"))
    if "ndwi" in section:
        out.update(composite(_series(section["ndwi"], "ndwi", grid, base, section, None, chunks, year), "ndwi"))
    elif nir is not None and "swir" in section:
        swir = _series(section["swir"], "swir", grid, base, section, None, chunks, year)
        _paired(nir, swir, "swir")
        out.update(composite(screen(ndwi_gao(nir, swir), "ndwi", "NDWI of [features].nir"), "ndwi"))
    if not out:
        raise ConfigError("no vegetation input", "features", "give at least one of evi, ndvi, gi (or nir + green), ndwi (or nir + swir)")
    if section.get("mixed", True):
        if f_natural is not None and f_other is not None:
            for name in [n for n in out if n.endswith("_max") and n[:-4] in SCORE_VIS]:
                out[name] = adjust_mixed(out[name], f_crop, f_natural, f_other, float(section.get("mixed_upper", 0.9))).rename(name)
        else:
            log.warning("features: mixed-pixel adjustment skipped (needs forest/grass and urban/water/unused shares)")
    if "gi_max" in out and "ndwi_max" in out:
        out["agi"] = agi(out["gi_max"], out["ndwi_max"]).rename("agi")
        if TAG in out["gi_max"].attrs:  # made of the adjusted gi_max: tagged so too
            out["agi"].attrs.update(mixed_tags("agi", float(out["gi_max"].attrs[UPPER_TAG]), of="gi_max"))
    return out


def _paired(nir: xr.DataArray, other: xr.DataArray, key: str) -> None:
    """training.band_pairs.check_pair for [features].nir and [features].<key>: same dates (InputError naming the dates
    one lacks), same scale, no undeclared fill (DataError)."""
    from irrmap.training.band_pairs import check_pair

    check_pair(nir, "[features].nir", other, f"[features].{key}",
               f"give [features].{key} files for the dates of [features].nir (MOD09Q1 and MOD09A1 are 8-day composites of the "
               "same days), or drop the extra files")


def feature_scores(
    section: dict,
    vi_max: dict[str, xr.DataArray],
    *,
    f_crop: xr.DataArray,
    f_natural: xr.DataArray | None = None,
    suitability: xr.DataArray | None = None,
    zones: xr.DataArray | None = None,
    unit_table: pd.DataFrame | None = None,
    where: dict[str, str] | None = None,
) -> dict[str, xr.DataArray]:
    """The neighbourhood part of `feature_rasters`: N-scores and, with `suitability`, S-scores of the
    maxima `vi_max` ({"evi": evi_max, ...}, as composite_rasters gives them or read back from its files)
    over the `window` of the `[features]` section; the reference pixels have a crop plus forest/grass share
    of at least `reference_min_share`; the flat-unit rule uses `unit_table`'s `flat` column with `zones`.
    `where` (VI name -> its file or config key): the N-score's count of medians <= 0 (score_rasters)."""
    from irrmap.training.nscore import reference_mask

    flat = (flat_pixels(zones, unit_table, where="suitability/units.csv", zones_where="the units stage's zones")
            if (zones is not None and unit_table is not None and "flat" in unit_table) else None)
    reference = reference_mask(f_crop, f_natural, float(section.get("reference_min_share", 0.5)))
    return score_rasters(vi_max, reference, suitability=suitability, flat=flat, window=int(section.get("window", 101)), where=where)


def feature_rasters(
    section: dict,
    grid: Grid,
    *,
    f_crop: xr.DataArray,
    f_natural: xr.DataArray | None = None,
    f_other: xr.DataArray | None = None,
    suitability: xr.DataArray | None = None,
    zones: xr.DataArray | None = None,
    unit_table: pd.DataFrame | None = None,
    base_dir=".",
) -> dict[str, xr.DataArray]:
    """Every VI predictor and score named in METHOD.md from a `[features]` config section (see
    docs/features.md): evi_max, ndvi_max, gi_max, ndwi_max, agi, nevi, nndvi, ngi and, with `suitability`,
    sevi, sndvi, sgi; plus <vi>_<stat> for extra `stats`. Lazy (dask) DataArrays on `grid`, float32:
    composite_rasters, then feature_scores on its maxima (one graph: a window's scores recompute the
    composites under its halo; `irrmap run` writes the composites first and scores their files)."""
    out = composite_rasters(section, grid, f_crop=f_crop, f_natural=f_natural, f_other=f_other, base_dir=base_dir)
    vi_max = {v: out[f"{v}_max"] for v in SCORE_VIS if f"{v}_max" in out}
    out.update(feature_scores(section, vi_max, f_crop=f_crop, f_natural=f_natural, suitability=suitability, zones=zones,
                              unit_table=unit_table))
    return out


def _geo(out: xr.DataArray, ref: xr.DataArray) -> xr.DataArray:
    if ref.rio.crs is not None:
        out = out.rio.write_crs(ref.rio.crs).rio.write_transform(ref.rio.transform(recalc=False))
    return out
