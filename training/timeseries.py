"""Read one year of a vegetation-index (or reflectance) time series as a lazy (time, y, x) DataArray.

Three layouts: a folder or list of per-date rasters (GeoTIFF, JPEG2000, anything GDAL reads) whose date is
parsed from the file name with a configurable pattern; one multi-band raster (a band per date); a NetCDF or
Zarr cube with a time dimension (training.cube). Raw values are decoded by irrmap.core.nodata (scale, nodata,
fill values, valid range, signed integers stored unsigned), and MOD13Q1 VI_Quality bit fields can reject dates
pixel by pixel (QARule). Per-date files holding several layers (a MODIS export with NDVI, EVI, reflectances
and the composite day) need the layer chosen, by number or name (`band`); a file with several layers and no
choice is refused (irrmap.core.layers). Decoded values outside the quantity's physical range are set to
missing with one warning (training.physical_range). Nothing is read until the array is computed; each date
is a dask array chunked over space.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import itertools
import os
import re
import warnings
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
import xarray as xr
from rasterio.errors import NotGeoreferencedWarning

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.layers import data_bands, layer_fix, layer_listing, layer_number
from irrmap.core.raster_read import read_raster, read_raster_bands
from irrmap.sources.modis import PRESETS, QARule
from irrmap.training.cube import read_cube
from irrmap.training.physical_range import PHYSICAL_RANGES, screen
from irrmap.training.series_checks import refuse_composite_day, refuse_quality_as_vi, refuse_vi_as_qa
from irrmap.training.series_consistency import refuse_mixed_decoding, warn_other_grids

# tried in this order; "%Y-%j" (year-day of year, as 2020-017: the demo's band descriptions, and MODIS composite
# labels) last, and a day of year is three digits not followed by a fourth ("2020-2021" holds no date)
DEFAULT_DATE_PATTERNS = ("%Y-%m-%d", "A%Y%j", "%Y%m%d", "%Y_%m_%d", "%Y.%m.%d", "%Y-%j")
_DIRECTIVES = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})", "%j": r"(?P<j>\d{3})(?!\d)"}
RASTER_SUFFIXES = (".tif", ".tiff", ".jp2", ".img", ".vrt", ".hdf", ".nc")


# ---- dates ------------------------------------------------------------------------------------------------
def _pattern_regex(pattern: str) -> re.Pattern:
    """A strptime-style pattern (%Y, %m, %d, %j; anything else literal) as a regex searched in a name."""
    parts = re.split(r"(%[YmdjJ])", pattern)
    body = "".join(_DIRECTIVES.get(p, re.escape(p)) for p in parts)
    return re.compile(body)


def parse_date(name: str, pattern: str | None = None) -> dt.date:
    """The date in a file name, found with `pattern` (strptime-style: %Y %m %d %j, e.g. "A%Y%j" for MODIS
    names such as MOD13Q1.A2010129..., "%Y-%m-%d" for ..._2013-09-14.tif) or the first default that matches."""
    stem = Path(name).name
    for pat in ([pattern] if pattern else DEFAULT_DATE_PATTERNS):
        for mt in _pattern_regex(pat).finditer(stem):
            g = mt.groupdict()
            try:
                if g.get("j"):
                    first = dt.date(int(g["Y"]), 1, 1)
                    day = first + dt.timedelta(days=int(g["j"]) - 1)
                    if not 1 <= int(g["j"]) or day.year != first.year:  # day 000, or 366 of a common year, 400 ...
                        continue
                    return day
                return dt.date(int(g["Y"]), int(g["m"]), int(g["d"]))
            except (ValueError, TypeError, KeyError):
                continue
    tried = pattern or ", ".join(DEFAULT_DATE_PATTERNS)
    raise InputError(f"no date matching {tried!r} in the file name", str(name), "pass a date pattern such as 'A%Y%j' or '%Y-%m-%d'")


def dated_files(source, pattern: str | None = None, contains: str | None = None,
                contains_option: str = "the name filter") -> list[tuple[dt.date, Path]]:
    """(date, path) of the rasters in a folder (or a list of files), sorted by date; `contains` keeps only
    names holding that text (e.g. "NDVI" when EVI and NDVI share a folder). `contains_option` names the caller's
    option that sets `contains` (e.g. "--contains"), for the fix of InputError on several files of one date."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        files = sorted(p for p in Path(source).iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
    else:
        files = [Path(f) for f in ([source] if isinstance(source, (str, os.PathLike)) else source)]
        absent = [str(f) for f in files if not f.exists()]
        if absent:
            raise InputError(f"file{'s' if len(absent) > 1 else ''} not found: {', '.join(absent[:5])}", str(absent[0]),
                             "check the path (relative paths in a config are relative to its folder)")
    if contains:
        files = [f for f in files if contains in f.name]
    if not files:
        raise InputError("no raster files found" + (f" whose name holds {contains!r}" if contains else ""), str(source),
                         f"check the folder and {contains_option}")
    out = sorted(((parse_date(f.name, pattern), f) for f in files), key=lambda t: (t[0], t[1].name))
    dates = [d for d, _ in out]
    for (d0, f0), (d1, f1) in itertools.pairwise(out):
        if d0 == d1:
            dup = sorted({d for d in dates if dates.count(d) > 1})
            raise InputError(f"several files share the date(s) {', '.join(map(str, dup))}", f"{f0} and {f1} (both {d0})",
                             f"filter the names ({contains_option} TEXT) so one file per date remains")
    return out


# ---- readers ----------------------------------------------------------------------------------------------
def decode_options(preset: str | None, scale=None, nodata=None, fill_values=(), valid_range=None) -> dict:
    """The decoding keyword arguments of irrmap.core.raster_read.read_raster (scale, nodata, fill_values,
    valid_range, signed): the preset's (irrmap.sources.modis.PRESETS), then the explicit options over them."""
    if preset and preset.lower() not in PRESETS:
        raise InputError(f"unknown decoding preset {preset!r}", "preset", f"use one of {', '.join(PRESETS)}")
    base = dict(PRESETS.get((preset or "none").lower(), {}))
    if scale is not None:
        base["scale"] = scale
    if nodata is not None:
        base["nodata"] = nodata
    if fill_values:
        base["fill_values"] = tuple(fill_values)
    if valid_range is not None:
        base["valid_range"] = tuple(valid_range)
    return base


def _series_of(stack: xr.DataArray, dates, name: str, where, bands=None) -> xr.DataArray:
    """A (band, y, x) read as the (time, y, x) series `name`, screened like `_stack`'s; `bands`: the file's band of
    each date (for the composite-day check)."""
    times = np.array([np.datetime64(d, "D") for d in dates]) if dates is not None else np.arange(stack.sizes["band"])
    out = stack.rename(band="time").assign_coords(time=times)
    out.name = name
    crs, transform = stack.rio.crs, stack.rio.transform(recalc=False)
    if dates is not None and bands is not None:
        _refuse_day_layer(name, where, [(d, Path(where), b) for d, b in zip(dates, bands)], None, None)
    return screen(out, name, f"{name} series {where}").rio.write_crs(crs).rio.write_transform(transform)


def _stack(arrays: list[xr.DataArray], dates, name: str, where, layer=None) -> xr.DataArray:
    """Per-date (y, x) arrays as the series `name`; `layer`: (the files in date order, the layer read, the caller's
    option that chooses it), for the composite-day check."""
    times = np.array([np.datetime64(d, "D") for d in dates]) if dates is not None else np.arange(len(arrays))
    out = xr.concat(arrays, dim=xr.DataArray(times, dims="time", name="time"), coords="minimal", compat="override", join="override")
    out.name = name
    crs, transform = arrays[0].rio.crs, arrays[0].rio.transform(recalc=False)
    if layer is not None and dates is not None:
        files, band, option = layer
        with _opened(files[0]) as src:
            number = layer_number(src, band, str(files[0]), option)
            description, listing = src.descriptions[number - 1], layer_listing(src)
        _refuse_day_layer(name, f"{where} (layer {number})", [(d, f, number) for d, f in zip(dates, files)], description,
                          f"read the VI layer (NDVI or EVI), not the composite day: {layer_fix(option, str(files[0]))}; "
                          f"the layers: {listing}")
    return screen(out, name, f"{name} series {where}").rio.write_crs(crs).rio.write_transform(transform)


def _refuse_day_layer(name: str, where, layers, description, fix) -> None:
    """A VI series that is a MOD13Q1 quality layer (training.series_checks.refuse_quality_as_vi) or composite-day layer
    (refuse_composite_day) is refused, before the physical-range screen, which would call it undecoded (or, once scaled, pass it as a VI of 0.03)."""
    if name.lower() in PHYSICAL_RANGES:
        refuse_quality_as_vi(layers, f"{name} series {where}", fix="read the VI layer (NDVI or EVI), not the quality layer: pass "
                             "the VI_Quality files as the QA (--qa, config qa), and pick the VI files (--contains NDVI) or layer")
        refuse_composite_day(layers, f"{name} series {where}", description=description,
                             fix=fix or "give the VI stack, not the composite day-of-year stack")


@contextlib.contextmanager
def _opened(path):
    """An open rasterio dataset; a file GDAL cannot open (absent, truncated, damaged) is an InputError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a container of subdatasets: layer_number explains
            src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot open raster: {exc}", str(path), "check the file; a truncated or damaged file must be copied again") from None
    with src:
        yield src


def _grid_of(path: Path, band=None, option: str | None = None) -> Grid:
    """The grid of a raster file whose layer `band` exists (irrmap.core.layers; `option` chooses it, for the fix)."""
    with _opened(path) as src:
        layer_number(src, band, str(path), option)
    return Grid.from_raster(path)


def read_dated_files(
    source,
    grid: Grid | None = None,
    *,
    pattern: str | None = None,
    contains: str | None = None,
    band: int | str | None = None,
    preset: str | None = None,
    scale=None,
    nodata=None,
    fill_values=(),
    valid_range=None,
    qa=None,
    qa_rule: QARule | None = QARule(),
    qa_contains: str | None = None,
    qa_band: int | str | None = None,
    chunks: int = 512,
    name: str = "vi",
    band_option: str | None = None,
    qa_band_option: str | None = None,
    contains_option: str = "the name filter",
    qa_contains_option: str = "the QA name filter",
    source_option: str | None = None,
) -> xr.DataArray:
    """Per-date rasters (a folder or a list) as a lazy (time, y, x) float32 DataArray on `grid` (default:
    the grid of the first file). `band`: the layer of each file, a 1-based number or a name (band
    description); files with several layers need it (InputError listing the layers otherwise). `qa`:
    matching VI_Quality rasters (folder or list, paired by date; layer `qa_band`) whose rejected pixels
    become NaN under `qa_rule`. Raises InputError for missing or unreadable files. `band_option` / `qa_band_option`
    name the caller's options that choose `band` / `qa_band` (None: it has none), for the layer errors' fix, and
    `contains_option` / `qa_contains_option` those that filter the names. A VI layer that holds MOD13Q1 composite days
    is refused (InputError; training.series_checks.refuse_composite_day), as is a VI layer that is a quality layer
    (refuse_quality_as_vi) and a QA layer that is a VI (refuse_vi_as_qa). Every file is sampled: dates stored decoded
    among dates stored raw raise InputError naming them (training.series_consistency.refuse_mixed_decoding); a date on
    another CRS or pixel lattice than the first file is resampled with a warning naming it (warn_other_grids). A fill
    value the stored values hold undeclared (MOD13Q1's -3000 read with a bare scale) raises DataError naming it and the
    files that hold it (refuse_undeclared_fill; `source_option`: the caller's option or config table naming the series,
    e.g. --nir or [features].ndvi, for its wording)."""
    files = dated_files(source, pattern, contains, contains_option)
    grid = grid or _grid_of(files[0][1], band, band_option)
    kw = decode_options(preset, scale, nodata, fill_values, valid_range)
    where = files[0][1].parent if len(files) > 1 else files[0][1]
    refuse_mixed_decoding(files, band=band, band_option=band_option, decoding=kw, where=f"{name} series {where}")
    if files:
        with _opened(files[0][1]) as src:
            number = layer_number(src, band, str(files[0][1]), band_option)
        refuse_undeclared_fill([(d, p, number) for d, p in files], kw, _source_where(source_option, name, where), source_option)
    # every date checked for mixed decoding above; the first file's check (read_raster) names a scale applied twice
    arrays = [read_raster(p, grid, kind="continuous", band=band, band_option=band_option, chunks=chunks, warn_scaled=k == 0, **kw) for k, (_, p) in enumerate(files)]
    warn_other_grids(files, [a.attrs.get("resampling") for a in arrays], where=f"{name} series {where}")
    if qa is not None and qa_rule is not None:
        qa_files = dict(dated_files(qa, pattern, qa_contains, qa_contains_option))
        missing = [str(d) for d, _ in files if d not in qa_files]
        if missing:
            raise InputError(f"no QA raster for date(s) {', '.join(missing)}", str(qa), "give one VI_Quality file per VI file, named with the same date")
        masked = []
        for (d, _), arr in zip(files, arrays):
            q = read_raster(qa_files[d], grid, kind="categorical", band=qa_band, band_option=qa_band_option, chunks=chunks)
            _refuse_vi_qa(qa_files[d], q.attrs["band"], qa_band_option)
            masked.append(arr.where(qa_accepts(qa_rule, q)))
        arrays = [m.astype(np.float32).rio.write_crs(grid.crs).rio.write_transform(grid.transform) for m in masked]
    return _stack(arrays, [d for d, _ in files], name, where, ([p for _, p in files], band, band_option))


def _source_where(option: str | None, name: str, where) -> str:
    """The series as its errors name it: the caller's option or config table and the source (`--nir folder`), else
    `name series folder`."""
    return f"{option} {where}" if option else f"{name} series {where}"


def refuse_undeclared_fill(entries, decoding: dict, where: str, option: str | None = None) -> None:
    """DataError (at `where`) when the stored values of a series hold a fill value nobody declared: a FILL_VALUES value
    apart from the other stored values (irrmap.core.fill_values.series_fill), which the decoding (`decoding`:
    read_raster's decoding keywords, a preset merged with the options) would read as data, e.g. MOD13Q1's -3000 read
    with scale 1e-4 as an NDVI of -0.3 that enters the minimum, the mean and the count. `entries`: (label, path, band)
    per date, band a 1-based number. Reads the raw values of the central CHECK_WINDOW x CHECK_WINDOW window of every
    date (training.physical_range; nearly all of a series is read once, by the composite), without the values the
    file or the decoding declares missing. `option`: the caller's option or config table naming the series (`--nir`,
    `[features].ndvi`), which tells the fix's wording (command-line options or config keys); None: command-line options."""
    from irrmap.core.nodata import decoding_for, valid_mask
    from irrmap.training.physical_range import CHECK_WINDOW

    keys = ("nodata", "fill_values", "scale", "offset", "valid_range", "signed")
    samples, names, dec = [], [], None
    by_path: dict = {}
    for label, path, band in entries:
        by_path.setdefault(Path(path), []).append((label, int(band)))
    for path, items in by_path.items():
        try:
            with rasterio.open(path) as src:
                h, w = src.height, src.width
                r0, c0 = max(0, (h - CHECK_WINDOW) // 2), max(0, (w - CHECK_WINDOW) // 2)
                win = rasterio.windows.Window(c0, r0, min(w, CHECK_WINDOW), min(h, CHECK_WINDOW))
                for label, band in items:
                    dec = decoding_for(src, band, **{k: decoding[k] for k in keys if k in decoding})
                    raw = src.read(band, window=win)
                    keep = ~dec.missing(raw, valid_mask(src, band, dec, win))
                    samples.append(dec.values(raw)[keep])
                    names.append((label, path, samples[-1]))
        except (rasterio.errors.RasterioError, OSError):  # unreadable: the reader names it
            return
    if dec is not None:
        _refuse_fill(names, decoding, dec.scale, dec.offset, where, option)


def _cube_fill(path: Path, variable: str, decoding: dict, where: str, option: str | None) -> None:
    """refuse_undeclared_fill for a NetCDF/Zarr cube's `variable` (training.cube): the raw values of its central
    CHECK_WINDOW x CHECK_WINDOW window, every date, without its CF _FillValue / missing_value / valid range and the
    decoding's nodata, fill values and valid range. A variable the cube reader refuses is left to it."""
    from irrmap.core.nodata import Decoding
    from irrmap.training.cube import _variable, open_cube
    from irrmap.training.physical_range import CHECK_WINDOW

    try:
        raw = _variable(open_cube(path), variable, "time", str(path))[0]
    except InputError:
        return
    attrs = raw.attrs
    declared = [float(x) for k in ("_FillValue", "missing_value") if k in attrs for x in np.ravel(attrs[k])]
    valid = decoding.get("valid_range")
    if valid is None and "valid_range" in attrs:
        valid = tuple(float(x) for x in np.ravel(attrs["valid_range"])[:2])
    elif valid is None and ("valid_min" in attrs or "valid_max" in attrs):
        valid = (float(attrs.get("valid_min", -np.inf)), float(attrs.get("valid_max", np.inf)))
    dec = Decoding(nodata=decoding.get("nodata"), fill_values=(*declared, *(decoding.get("fill_values") or ())), valid_range=valid,
                   scale=float(decoding["scale"]) if decoding.get("scale") is not None else float(attrs.get("scale_factor", 1.0)),
                   offset=float(attrs.get("add_offset", 0.0)), signed=bool(decoding.get("signed")))
    h, w = raw.sizes["y"], raw.sizes["x"]
    r0, c0 = max(0, (h - CHECK_WINDOW) // 2), max(0, (w - CHECK_WINDOW) // 2)
    vals = np.asarray(raw.isel(y=slice(r0, r0 + CHECK_WINDOW), x=slice(c0, c0 + CHECK_WINDOW)).values)
    times = [str(t)[:10] for t in np.asarray(raw["time"].values)]
    named = [(t, path, dec.values(v)[~dec.missing(v)]) for t, v in zip(times, vals)]
    _refuse_fill(named, decoding, dec.scale, dec.offset, where, option)


def _refuse_fill(names, decoding: dict, scale: float, offset: float, where: str, option: str | None) -> None:
    """The judgement and the message of refuse_undeclared_fill: `names` (label, path, valid stored values) per date."""
    from irrmap.core.errors import DataError
    from irrmap.core.fill_values import series_fill

    samples = [x for _, _, x in names]
    if not samples:
        return
    found = series_fill(np.concatenate(samples))
    if found is None:
        return
    fill, n, lo, hi = found
    total = sum(x.size for x in samples)
    holders = [f"{label} ({p.name})" if str(label) != p.name else p.name for label, p, x in names if np.any(x == np.float32(fill))]
    shown = ", ".join(holders[:3]) + (f" and {len(holders) - 3} more" if len(holders) > 3 else "")
    side = "below" if fill < lo else "above"
    value = fill * scale + offset
    found_text = (f"{n:,} of {total:,} stored values in a window of the data ({100 * n / total:.1f} %, in {len(holders)} of "
                  f"{len(names)} dates: {shown}) hold {fill:g}, a common fill value far {side} the other stored values "
                  f"({lo:g}..{hi:g}) and not declared as nodata: decoded (scale {scale:g}, offset {offset:g}) it is read as the "
                  f"value {value:g}")
    presets = [k for k, v in PRESETS.items() if fill in v.get("fill_values", ()) and decoding.get("scale") in (None, v["scale"])]
    config = bool(option) and str(option).startswith("[")
    if config:
        table = str(option)
        fix = (f"declare it in {table}: fill_values = [{fill:g}]" + (f' (or preset = "{presets[0]}", which declares it)' if presets else "")
               + f", or gdal_edit.py -a_nodata {fill:g} FILE")
    else:
        fix = (f"declare it: --fill {fill:g}" + (f" (or --preset {presets[0]}, which declares it)" if presets else "")
               + f", or gdal_edit.py -a_nodata {fill:g} FILE")
    raise DataError(found_text, where, fix)


def _refuse_vi_qa(path, band: int, option: str | None) -> None:
    """A VI given as the quality layer is refused (training.series_checks.refuse_vi_as_qa)."""
    refuse_vi_as_qa(path, band, "QA series", fix="give the VI_Quality (bit field) layer as the quality layer and the VI as the "
                    f"series{f' (choose the layer with {option})' if option else ''}; swapped files read NDVI as quality bits")


def qa_accepts(rule: QARule, qa: xr.DataArray):
    """Where a quality raster read onto the grid accepts the pixel: the rule's bit tests, and never where the
    QA pixel itself is missing (outside the QA file, or its declared nodata: `qa.attrs["nodata"]`)."""
    ok = rule.accept(qa.data)
    missing = qa.attrs.get("nodata")
    return ok if missing is None else ok & (qa.data != missing)


def _qa_masked(values: np.ndarray, words: np.ndarray, rule: QARule, missing) -> np.ndarray:
    """One block of read_multiband's masking: `values` (float32 (band, y, x)) where `rule` accepts the quality
    word of `words` (same shape) and the word is not `missing`, else NaN: what da.where(qa_accepts(...)) gives,
    in one pass for uint16 words (the VI_Quality type) through a table of every word's verdict (_word_table)."""
    if words.dtype == np.uint16 and values.dtype == np.float32 and values.shape == words.shape:
        from irrmap.core.scaled_values import kept  # numba, imported when first needed

        table = _word_table(rule, missing)
        flat = kept(np.ascontiguousarray(values).reshape(-1), np.ascontiguousarray(words).reshape(-1), table)
        return flat.reshape(values.shape)
    ok = rule.accept(words)
    if missing is not None:
        ok = ok & (words != missing)
    return np.where(ok, values, np.float32(np.nan))


@functools.lru_cache(maxsize=16)
def _word_table(rule: QARule, missing) -> np.ndarray:
    """bool verdict of every uint16 word (index = word): `rule` accepts it and it is not `missing`."""
    every = np.arange(1 << 16, dtype=np.uint16)
    ok = np.asarray(rule.accept(every), dtype=bool)
    if missing is not None:
        ok = ok & (every != missing)
    return ok


def read_multiband(
    path,
    grid: Grid | None = None,
    *,
    dates=None,
    pattern: str | None = None,
    preset: str | None = None,
    scale=None,
    nodata=None,
    fill_values=(),
    valid_range=None,
    qa=None,
    qa_rule: QARule | None = QARule(),
    chunks: int = 512,
    name: str = "vi",
    source_option: str | None = None,
) -> xr.DataArray:
    """A multi-band raster (one band per date) as (time, y, x), in date order. Dates: `dates`, else parsed from the
    band descriptions with `pattern`, else the band numbers. `qa`: a multi-band VI_Quality raster, paired with the
    VI by date when both carry dates in their band descriptions (its bands may be in another order, or cover more
    dates), else band by band (then it must have as many bands).
    Raises InputError for a date count other than the band count, two bands of one date (in the VI or the QA), a
    VI date the QA stack lacks, or a QA band count other than the VI's when they are paired band by band; DataError
    for an undeclared fill value among the stored values (refuse_undeclared_fill; `source_option`, the caller's option
    or config table naming the series, e.g. FILE or [features].ndvi, names the series in it and words its fix)."""
    grid = grid or _grid_of(Path(path), 1)
    bands, dates, qa_bands = multiband_order(path, dates=dates, pattern=pattern, qa=qa if qa_rule is not None else None)
    kw = decode_options(preset, scale, nodata, fill_values, valid_range)
    labels = [f"band {b} ({d})" for b, d in zip(bands, dates)] if dates is not None else [f"band {b}" for b in bands]
    refuse_mixed_decoding([(lab, path) for lab in labels], bands=bands, decoding=kw, where=f"{name} series {path}")
    refuse_undeclared_fill([(lab, path, b) for lab, b in zip(labels, bands)], kw, _source_where(source_option, name, path), source_option)
    # one task per spatial chunk reads every band (irrmap.core.raster_read)
    stack = read_raster_bands(path, grid, bands, chunks=chunks, **kw)
    if qa_bands is not None:
        _refuse_vi_qa(qa, qa_bands[0], None)
        words = read_raster_bands(qa, grid, qa_bands, kind="categorical", chunks=chunks)
        missing = words.attrs.get("nodata")
        masked = da.map_blocks(_qa_masked, stack.data, words.data, qa_rule, missing, dtype=np.float32,
                               meta=np.empty((0, 0, 0), np.float32))
        stack = stack.copy(data=masked)
    return _series_of(stack, dates, name, path, bands)


def multiband_order(path, *, dates=None, pattern: str | None = None, qa=None) -> tuple[tuple, list | None, tuple | None]:
    """How read_multiband reads a stack, from the files' metadata only (no pixel is read, so `irrmap run --check`
    calls it too): (the VI's band numbers in date order, their dates or None, the QA band paired with each or
    None without `qa`). Raises read_multiband's InputErrors."""
    layers, descs, _ = _layers(path)  # an alpha band is the mask of the dates, not a date (irrmap.core.layers)
    count = len(layers)
    given = dates is not None
    dates = dates if given else _band_dates(descs, pattern)
    bands = layers
    if dates is not None:
        if len(dates) != count:
            raise InputError(f"{len(dates)} dates for {count} bands", str(path), "give one date per band")
        _refuse_shared_dates(dates, path, "the dates given" if given else "band descriptions")
        order = sorted(range(count), key=lambda i: dates[i])  # the series in date order, whatever the band order
        bands, dates = tuple(layers[i] for i in order), [dates[i] for i in order]
    return bands, dates, (None if qa is None else _qa_bands(qa, dates, bands, pattern, path))


def _refuse_shared_dates(dates, path, what: str) -> None:
    """InputError when two bands carry one date: the series would count that date twice (in medians, means, counts)."""
    seen: dict = {}
    for b, d in enumerate(dates, start=1):
        if d in seen:
            raise InputError(f"bands {seen[d]} and {b} share the date {d} ({what})", str(path),
                             "give one band per date (drop the repeated band, e.g. with gdal_translate -b)")
        seen[d] = b


def _qa_bands(qa, dates, bands: tuple, pattern: str | None, vi_path) -> tuple:
    """The QA band of each VI band of `bands` (in that order): by date when the VI has dates and the QA's band
    descriptions hold dates, else the same band number (QA and VI must then have as many bands)."""
    qbands, descs, _ = _layers(qa)
    count = len(qbands)
    qdates = _band_dates(descs, pattern) or _band_dates(descs, None)
    if dates is not None and qdates is not None:
        _refuse_shared_dates(qdates, qa, "band descriptions")
        band_of = {d: qbands[k] for k, d in enumerate(qdates)}
        missing = [d for d in dates if d not in band_of]
        if missing:
            raise InputError(f"the QA stack has no band for {len(missing)} of the {len(dates)} dates of {Path(vi_path).name} "
                             f"({', '.join(map(str, missing[:5]))}{' ...' if len(missing) > 5 else ''})", str(qa),
                             "give the quality stack of the same dates (its band descriptions name them)")
        return tuple(band_of[d] for d in dates)
    n_vi = len(bands)
    if count != n_vi:
        raise InputError(f"{count} QA bands for the {n_vi} bands of {Path(vi_path).name}: they cannot be paired band by band",
                         str(qa), "give the quality stack with one band per VI date, in the same order, or with the dates "
                         "in the band descriptions of both")
    vi_layers = _layers(vi_path)[0]  # paired by position among the data layers (alpha bands are masks, not dates)
    return tuple(qbands[vi_layers.index(b)] for b in bands)


def _layers(path) -> tuple[tuple, tuple, str]:
    """The data layers of a raster file (1-based band numbers, alpha bands left out: irrmap.core.layers.data_bands;
    empty for a container of subdatasets), their descriptions and the listing (layer_listing)."""
    with _opened(path) as src:
        bands = data_bands(src) if src.count else ()
        return bands, tuple(src.descriptions[b - 1] for b in bands), layer_listing(src)


def _band_dates(descs, pattern: str | None):
    """Dates parsed from every band description, or None when some band has none."""
    if not all(descs):
        return None
    try:
        return [parse_date(d, pattern) for d in descs]
    except InputError:
        return None


def read_timeseries(source, grid: Grid | None = None, *, variable: str | None = None, **kwargs) -> xr.DataArray:
    """Dispatch on the layout: a folder or list of files -> read_dated_files; a .nc/.zarr path ->
    training.cube.read_cube (needs `variable`, or a `band` name; `qa` names the QA variable), screened like
    the other layouts; one file with a chosen `band`, or with a single layer -> one date; one file with
    several layers -> read_multiband (one band per date) when the dates are known (`dates`, or dates in the
    band descriptions) or the file name holds none. A multi-layer file with a date in its name and no layer
    chosen is refused: it is one date of an export with several layers, whose layer must be picked."""
    if isinstance(source, (list, tuple)):
        return read_dated_files(source, grid, **kwargs)
    from irrmap.core import dataset_names

    source = dataset_names.normalise(source) if isinstance(source, str) else source  # /vsizip/ names: the brace form
    p = Path(source)
    if p.suffix == ".nc" or str(source).rstrip("/").endswith(".zarr"):
        variable = variable or (kwargs.get("band") if isinstance(kwargs.get("band"), str) else None)
        if not variable:
            raise InputError("a cube needs the variable to read", str(source), f"name the variable with {kwargs.get('band_option') or 'variable'} (e.g. NDVI, or the cube's name)")
        dec = decode_options(kwargs.pop("preset", None), kwargs.pop("scale", None), kwargs.pop("nodata", None),
                             kwargs.pop("fill_values", ()), kwargs.pop("valid_range", None))
        name = kwargs.pop("name", variable)
        option = kwargs.pop("source_option", None)
        for key in ("pattern", "contains", "qa_contains", "band", "qa_band", "dates", "band_option", "qa_band_option",
                    "contains_option", "qa_contains_option"):
            kwargs.pop(key, None)
        _cube_fill(p, variable, dec, f"{option} {p}" if option else f"{name} cube {p}", option)
        out = read_cube(p, variable, grid, decoding=dec, qa_variable=kwargs.pop("qa", None), **kwargs)
        return screen(out, name, f"{name} cube {p}")
    if p.is_dir():
        return read_dated_files(p, grid, **kwargs)
    if not (p.exists() or dataset_names.is_file(p)):
        raise InputError("file not found", str(p), "check the path (relative paths in a config are relative to its folder)")
    layers, descs, listing = _layers(p)
    count = len(layers)
    if count <= 1 or kwargs.get("band") is not None:  # 0: a container of subdatasets, refused with their list
        kwargs.pop("dates", None)
        return read_dated_files([p], grid, **kwargs)
    dated_bands = kwargs.get("dates") is not None or _band_dates(descs, kwargs.get("pattern")) is not None
    if not dated_bands and _has_date(p.name, kwargs.get("pattern")):
        raise InputError(f"one file of {count} layers ({listing}) with a date in its name: one date of a multi-layer export, "
                         "so the layer to read must be chosen", str(p), f"{layer_fix(kwargs.get('band_option'), str(p))}; "
                         "a stack of one band per date needs the dates in the band descriptions")
    for key in ("contains", "qa_contains", "band", "qa_band", "band_option", "qa_band_option", "contains_option", "qa_contains_option"):
        kwargs.pop(key, None)
    return read_multiband(p, grid, **kwargs)


def _has_date(name: str, pattern: str | None) -> bool:
    try:
        parse_date(name, pattern)
        return True
    except InputError:
        return False
