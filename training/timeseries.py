"""Read one year of a vegetation-index (or reflectance) time series as a lazy (time, y, x) DataArray.

Three layouts: a folder or list of per-date rasters (GeoTIFF, JPEG2000, anything GDAL reads) whose date is
parsed from the file name with a configurable pattern; one multi-band raster (a band per date); a NetCDF or
Zarr cube with a time dimension. Raw values are decoded by irrmap.core.nodata (scale, nodata, fill values, valid
range), and MOD13Q1 VI_Quality bit fields can reject dates pixel by pixel (QARule). Nothing is read until the
array is computed; each date is a dask array chunked over space.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import dask.array as da
import numpy as np
import rasterio
import xarray as xr

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.nodata import Decoding
from irrmap.core.raster_read import read_raster
from irrmap.sources.modis import PRESETS, QARule

DEFAULT_DATE_PATTERNS = ("%Y-%m-%d", "A%Y%j", "%Y%m%d", "%Y_%m_%d", "%Y.%m.%d")
_DIRECTIVES = {"%Y": r"(?P<Y>\d{4})", "%m": r"(?P<m>\d{2})", "%d": r"(?P<d>\d{2})", "%j": r"(?P<j>\d{3})"}
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
                    return dt.date(int(g["Y"]), 1, 1) + dt.timedelta(days=int(g["j"]) - 1)
                return dt.date(int(g["Y"]), int(g["m"]), int(g["d"]))
            except (ValueError, TypeError, KeyError):
                continue
    tried = pattern or ", ".join(DEFAULT_DATE_PATTERNS)
    raise InputError(f"no date matching {tried!r} in the file name", str(name), "pass a date pattern such as 'A%Y%j' or '%Y-%m-%d'")


def dated_files(source, pattern: str | None = None, contains: str | None = None) -> list[tuple[dt.date, Path]]:
    """(date, path) of the rasters in a folder (or a list of files), sorted by date; `contains` keeps only
    names holding that text (e.g. "NDVI" when EVI and NDVI share a folder)."""
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        files = sorted(p for p in Path(source).iterdir() if p.suffix.lower() in RASTER_SUFFIXES)
    else:
        files = [Path(f) for f in ([source] if isinstance(source, (str, os.PathLike)) else source)]
    if contains:
        files = [f for f in files if contains in f.name]
    if not files:
        raise InputError("no raster files found", str(source), "check the folder and the name filter")
    out = sorted(((parse_date(f.name, pattern), f) for f in files), key=lambda t: (t[0], t[1].name))
    dates = [d for d, _ in out]
    if len(set(dates)) != len(dates):
        dup = sorted({d for d in dates if dates.count(d) > 1})
        raise InputError(f"several files share the date(s) {', '.join(map(str, dup))}", str(source), "filter the names (contains=...) so one file per date remains")
    return out


# ---- readers ----------------------------------------------------------------------------------------------
def _decode_kwargs(preset: str | None, scale, nodata, fill_values, valid_range) -> dict:
    base = dict(PRESETS.get((preset or "none").lower(), {}))
    if preset and preset.lower() not in PRESETS:
        raise InputError(f"unknown decoding preset {preset!r}", "preset", f"use one of {', '.join(PRESETS)}")
    if scale is not None:
        base["scale"] = scale
    if nodata is not None:
        base["nodata"] = nodata
    if fill_values:
        base["fill_values"] = tuple(fill_values)
    if valid_range is not None:
        base["valid_range"] = tuple(valid_range)
    return base


def _stack(arrays: list[xr.DataArray], dates, name: str) -> xr.DataArray:
    times = np.array([np.datetime64(d, "D") for d in dates]) if dates is not None else np.arange(len(arrays))
    out = xr.concat(arrays, dim=xr.DataArray(times, dims="time", name="time"), coords="minimal", compat="override", join="override")
    out.name = name
    crs, transform = arrays[0].rio.crs, arrays[0].rio.transform(recalc=False)
    return out.rio.write_crs(crs).rio.write_transform(transform)


def read_dated_files(
    source,
    grid: Grid | None = None,
    *,
    pattern: str | None = None,
    contains: str | None = None,
    band: int = 1,
    preset: str | None = None,
    scale=None,
    nodata=None,
    fill_values=(),
    valid_range=None,
    qa=None,
    qa_rule: QARule | None = QARule(),
    qa_contains: str | None = None,
    chunks: int = 512,
    name: str = "vi",
) -> xr.DataArray:
    """Per-date rasters (a folder or a list) as a lazy (time, y, x) float32 DataArray on `grid` (default:
    the grid of the first file). `qa`: matching VI_Quality rasters (folder or list, paired by date) whose
    rejected pixels become NaN under `qa_rule`."""
    files = dated_files(source, pattern, contains)
    grid = grid or Grid.from_raster(files[0][1])
    kw = _decode_kwargs(preset, scale, nodata, fill_values, valid_range)
    arrays = [read_raster(p, grid, kind="continuous", band=band, chunks=chunks, **kw) for _, p in files]
    if qa is not None and qa_rule is not None:
        qa_files = dict(dated_files(qa, pattern, qa_contains))
        missing = [str(d) for d, _ in files if d not in qa_files]
        if missing:
            raise InputError(f"no QA raster for date(s) {', '.join(missing)}", str(qa), "give one VI_Quality file per VI file, named with the same date")
        masked = []
        for (d, _), arr in zip(files, arrays):
            q = read_raster(qa_files[d], grid, kind="categorical", chunks=chunks)
            masked.append(arr.where(qa_rule.accept(q.data)))
        arrays = [m.astype(np.float32).rio.write_crs(grid.crs).rio.write_transform(grid.transform) for m in masked]
    return _stack(arrays, [d for d, _ in files], name)


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
) -> xr.DataArray:
    """A multi-band raster (one band per date) as (time, y, x). Dates: `dates`, else parsed from the band
    descriptions with `pattern`, else the band numbers. `qa`: a multi-band VI_Quality raster, band by band."""
    with rasterio.open(path) as src:
        count, descs = src.count, src.descriptions
    grid = grid or Grid.from_raster(path)
    if dates is None and all(descs):
        try:
            dates = [parse_date(d, pattern) for d in descs]
        except InputError:
            dates = None
    if dates is not None and len(dates) != count:
        raise InputError(f"{len(dates)} dates for {count} bands", str(path), "give one date per band")
    kw = _decode_kwargs(preset, scale, nodata, fill_values, valid_range)
    arrays = [read_raster(path, grid, band=b, chunks=chunks, **kw) for b in range(1, count + 1)]
    if qa is not None and qa_rule is not None:
        arrays = [a.where(qa_rule.accept(read_raster(qa, grid, band=b, kind="categorical", chunks=chunks).data)).astype(np.float32)
                  .rio.write_crs(grid.crs).rio.write_transform(grid.transform) for b, a in enumerate(arrays, start=1)]
    return _stack(arrays, dates, name)


def read_cube(
    path,
    variable: str,
    grid: Grid | None = None,
    *,
    preset: str | None = None,
    scale=None,
    nodata=None,
    fill_values=(),
    valid_range=None,
    qa_variable: str | None = None,
    qa_rule: QARule | None = QARule(),
    time_dim: str = "time",
    chunks: int = 512,
) -> xr.DataArray:
    """A NetCDF (.nc) or Zarr (.zarr) cube variable with dims (time, y, x) as a decoded float32 DataArray.

    Raw values are decoded by irrmap.core.nodata from the variable's CF attributes (_FillValue, missing_value,
    scale_factor, add_offset, valid_range) unless overridden. The cube must already lie on `grid` (same
    shape); its CRS comes from the cube (rioxarray) or from `grid`."""
    path = os.fspath(path)
    try:
        if path.rstrip("/").endswith(".zarr"):
            ds = xr.open_zarr(path, mask_and_scale=False, decode_times=True)
        else:
            ds = xr.open_dataset(path, mask_and_scale=False, decode_times=True, chunks={})
    except Exception as exc:  # noqa: BLE001 - any backend error becomes an InputError naming the file
        raise InputError(f"cannot open the cube: {exc}", path, "give a NetCDF (.nc) or Zarr (.zarr) path") from None
    if variable not in ds:
        raise InputError(f"no variable {variable!r} (has {', '.join(map(str, ds.data_vars))})", path, "pick an existing variable")
    raw = ds[variable]
    if raw.ndim != 3 or time_dim not in raw.dims:
        raise InputError(f"variable {variable!r} has dims {raw.dims}, expected ({time_dim}, y, x)", path)
    ydim, xdim = [d for d in raw.dims if d != time_dim]
    raw = raw.transpose(time_dim, ydim, xdim).rename({time_dim: "time", ydim: "y", xdim: "x"})
    attrs, enc = raw.attrs, raw.encoding
    fill = attrs.get("_FillValue", enc.get("_FillValue", attrs.get("missing_value")))
    kw = _decode_kwargs(preset, scale, nodata, fill_values, valid_range)
    cf_range = tuple(float(v) for v in np.asarray(attrs["valid_range"]).ravel()[:2]) if "valid_range" in attrs else None
    dec = Decoding(
        nodata=kw.get("nodata", None if fill is None else float(np.asarray(fill).ravel()[0])),
        fill_values=tuple(kw.get("fill_values", ())),
        scale=float(kw.get("scale", attrs.get("scale_factor", 1.0))),
        offset=float(attrs.get("add_offset", 0.0)),
        valid_range=kw.get("valid_range", cf_range),
    )
    data = raw.data if isinstance(raw.data, da.Array) else da.from_array(raw.values, chunks=(1, chunks, chunks))
    data = data.rechunk((1, chunks, chunks))
    values = data.map_blocks(dec.decode, dtype=np.float32)
    if qa_variable is not None and qa_rule is not None:
        q = ds[qa_variable].transpose(time_dim, ydim, xdim).data
        q = (q if isinstance(q, da.Array) else da.from_array(np.asarray(q))).rechunk(values.chunks)
        values = da.where(qa_rule.accept(q), values, np.float32(np.nan))
    out = xr.DataArray(values, dims=("time", "y", "x"), coords={"time": raw["time"].values}, name=variable)
    crs = None
    try:
        crs = ds.rio.crs or raw.rio.crs
    except Exception:  # noqa: BLE001 - cubes without grid mapping
        crs = None
    if grid is not None:
        if (grid.height, grid.width) != out.shape[1:]:
            raise InputError(f"the cube is {out.shape[1:]} but the grid is {grid.shape}", path, "warp the cube onto the run grid first")
        out = out.assign_coords(grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    elif crs is not None:
        out = out.assign_coords(y=raw["y"].values, x=raw["x"].values).rio.write_crs(crs)
    else:
        raise InputError("the cube has no CRS", path, "pass the run grid (grid=...) or add a grid_mapping variable")
    return out


def read_timeseries(source, grid: Grid | None = None, *, variable: str | None = None, **kwargs) -> xr.DataArray:
    """Dispatch on the layout: a folder or list of files -> read_dated_files; a .nc/.zarr path -> read_cube
    (needs `variable`); a single raster with several bands -> read_multiband; one single-band file -> one date."""
    if isinstance(source, (list, tuple)):
        return read_dated_files(source, grid, **kwargs)
    p = Path(source)
    if p.is_dir() and p.suffix != ".zarr":
        return read_dated_files(p, grid, **kwargs)
    if p.suffix in (".nc", ".zarr") or str(source).rstrip("/").endswith(".zarr"):
        if not variable:
            raise InputError("a cube needs the variable to read", str(source), "pass variable='NDVI' (or the cube's name)")
        for key in ("pattern", "contains", "qa_contains"):
            kwargs.pop(key, None)
        qa = kwargs.pop("qa", None)
        return read_cube(p, variable, grid, qa_variable=qa, **kwargs)
    with rasterio.open(p) as src:
        count = src.count
    if count > 1:
        kwargs.pop("contains", None), kwargs.pop("qa_contains", None)
        return read_multiband(p, grid, **kwargs)
    return read_dated_files([p], grid, **kwargs)
