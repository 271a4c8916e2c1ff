"""NetCDF and Zarr cubes (time, y, x): decoded by xarray's CF conventions, placed on the grid by their coordinates.

Decoding (xarray `decode_cf`): `_FillValue` and `missing_value` (each may list several values; all are
missing), `scale_factor`, `add_offset` and `_Unsigned`. xarray leaves `valid_range` / `valid_min` /
`valid_max` alone; CF gives them in the stored (packed) type, so they are applied to the stored values by
irrmap.core.nodata, together with the caller's extra nodata and fill values. A caller's `scale` replaces
`scale_factor`, a preset's `signed` sets `_Unsigned = "false"`.

Geolocation: the spatial dimensions are found from the coordinates' CF attributes (`axis`, `standard_name`,
`units` degrees_east/degrees_north) or names (x/lon/longitude, y/lat/latitude); the coordinates must be
evenly spaced (pixel centres). The CRS comes from the cube's grid mapping (rioxarray); a cube without one
whose axes are longitude/latitude is taken as WGS 84 (EPSG:4326, CF's reading of plain lat/lon). The cube
is turned north-up (latitude ascending is flipped, not read upside down) and then cut and padded onto the
grid when its pixels fall on the grid's lattice (same CRS and pixel size, offset by whole pixels; cells
the cube does not cover are NaN). Anything else raises InputError naming both extents.
"""

from __future__ import annotations

import logging
import os
import warnings

import dask.array as da
import numpy as np
import xarray as xr
from affine import Affine
from rasterio.crs import CRS

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.nodata import Decoding
from irrmap.core.raster_read import check_scaled_once

log = logging.getLogger(__name__)

_X = {"names": ("x", "lon", "long", "longitude"), "standard": ("longitude", "projection_x_coordinate", "grid_longitude"),
      "units": ("degrees_east", "degree_east", "degrees_e", "degree_e")}
_Y = {"names": ("y", "lat", "latitude"), "standard": ("latitude", "projection_y_coordinate", "grid_latitude"),
      "units": ("degrees_north", "degree_north", "degrees_n", "degree_n")}
LATTICE_TOL = 0.01  # pixels: coordinates off an even spacing, or a grid offset off whole pixels, by more are refused


def open_cube(path) -> xr.Dataset:
    """The dataset of a NetCDF (.nc) or Zarr (.zarr) path, lazily (dask), values as stored (no masking or
    scaling yet), times decoded, grid-mapping variables as coordinates."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise InputError("file not found", path, "check the path (relative paths are relative to the config's folder)")
    engine = "zarr" if path.rstrip("/").endswith(".zarr") else _netcdf_engine(path)
    try:
        return xr.open_dataset(path, engine=engine, mask_and_scale=False, decode_times=True, decode_coords="all", chunks={})
    except Exception as exc:  # noqa: BLE001 - any backend error (truncated file, wrong format) names the file
        raise InputError(f"cannot open the cube: {exc}", path,
                         "give an intact NetCDF (.nc) or Zarr (.zarr) cube; a truncated or damaged file must be copied again") from None


def _netcdf_engine(path: str) -> str | None:
    """scipy for classic NetCDF (CDF-1/CDF-2): its reader checks each variable against the file's length, so a
    truncated file fails on opening, where netCDF-C reads the missing bytes as data. None (xarray's choice)
    for NetCDF-4/HDF5, whose library detects truncation itself, and for CDF-5."""
    with open(path, "rb") as f:
        magic = f.read(4)
    return "scipy" if magic in (b"CDF\x01", b"CDF\x02") else None


def read_cube(
    path,
    variable: str,
    grid: Grid | None = None,
    *,
    decoding: dict | None = None,
    qa_variable: str | None = None,
    qa_rule=None,
    time_dim: str = "time",
    chunks: int = 512,
) -> xr.DataArray:
    """Variable `variable` of a cube as a lazy float32 (time, y, x) DataArray on `grid` (default: the cube's
    own grid), NaN where missing; see the module docstring for the rules.

    `decoding`: overrides in stored units, keys scale, nodata, fill_values, valid_range, signed (a preset
    merged with explicit options, training.timeseries.decode_options). `qa_variable`: a VI_Quality variable
    of the same cube whose words `qa_rule` (irrmap.sources.modis.QARule) must accept. Raises InputError for
    a missing variable, dims other than (time, y, x) in any order, uneven coordinates, a cube without CRS
    (and no grid), or pixels that do not fall on the grid's lattice (the message names both extents).
    """
    path = os.fspath(path)
    ds = open_cube(path)
    raw, lonlat = _variable(ds, variable, time_dim, path)
    values = _decode(raw, dict(decoding or {}), chunks, path)
    if qa_variable is not None and qa_rule is not None:
        q = _variable(ds, qa_variable, time_dim, path)[0]
        values = values.where(qa_rule.accept(q.data.rechunk(values.data.chunks)))
    own = _own_grid(raw, lonlat, grid, path)
    values = values.assign_coords(y=raw["y"], x=raw["x"])
    values = values.isel(y=slice(None, None, -1) if _step(raw["y"]) > 0 else slice(None),
                         x=slice(None, None, -1) if _step(raw["x"]) < 0 else slice(None))
    out = _onto(values, own, grid or own, path)
    out.name = variable
    return out.rio.write_crs((grid or own).crs).rio.write_transform((grid or own).transform)


def _variable(ds: xr.Dataset, variable: str, time_dim: str, path: str) -> tuple[xr.DataArray, bool]:
    """The stored variable with dims renamed (time, y, x) and 1-D y/x coordinates, and whether its axes are
    longitude/latitude (CF units or standard names, or the names lon/lat)."""
    if variable not in ds:
        raise InputError(f"no variable {variable!r} (has {', '.join(map(str, ds.data_vars))})", path, "pick an existing variable")
    v = ds[variable]
    if v.ndim != 3 or time_dim not in v.dims:
        raise InputError(f"variable {variable!r} has dims {v.dims}, expected {time_dim} and two spatial dims", path,
                         "give a (time, y, x) variable (time_dim names the time dimension)")
    others = [d for d in v.dims if d != time_dim]
    axes = {d: _axis(v, d) for d in others}
    ydim = next((d for d in others if axes[d] == "Y"), None)
    xdim = next((d for d in others if axes[d] == "X"), None)
    if ydim is None or xdim is None or ydim == xdim:
        raise InputError(f"cannot tell the x and y dimensions among {others}", path,
                         "name them x/y or lon/lat, or give their coordinates CF attributes (axis, standard_name or units)")
    for d in (ydim, xdim):
        if d not in v.coords:
            raise InputError(f"dimension {d!r} has no coordinate values", path, "the cube must carry pixel-centre coordinates")
    lonlat = _is_degrees(v, xdim, _X) and _is_degrees(v, ydim, _Y)
    return v.transpose(time_dim, ydim, xdim).rename({time_dim: "time", ydim: "y", xdim: "x"}), lonlat


def _axis(v: xr.DataArray, dim: str) -> str | None:
    attrs = v.coords[dim].attrs if dim in v.coords else {}
    if str(attrs.get("axis", "")).upper() in ("X", "Y"):
        return str(attrs["axis"]).upper()
    for axis, spec in (("X", _X), ("Y", _Y)):
        if str(attrs.get("standard_name", "")).lower() in spec["standard"] or str(attrs.get("units", "")).lower() in spec["units"]:
            return axis
    for axis, spec in (("X", _X), ("Y", _Y)):
        if dim.lower() in spec["names"]:
            return axis
    return None


def _decode(raw: xr.DataArray, kw: dict, chunks: int, path: str) -> xr.DataArray:
    """Float32 values with NaN for missing: xarray's CF decoding plus valid range and extra fill values."""
    attrs = dict(raw.attrs)
    if kw.get("scale") is not None:
        attrs["scale_factor"] = float(kw["scale"])
    if kw.get("signed") and raw.dtype.kind == "u":
        attrs["_Unsigned"] = "false"
    valid = kw.get("valid_range")
    if valid is None and "valid_range" in attrs:
        valid = tuple(float(x) for x in np.ravel(attrs["valid_range"])[:2])
    elif valid is None and ("valid_min" in attrs or "valid_max" in attrs):
        valid = (float(attrs.get("valid_min", -np.inf)), float(attrs.get("valid_max", np.inf)))
    dec = Decoding(nodata=kw.get("nodata"), fill_values=tuple(kw.get("fill_values") or ()), scale=float(attrs.get("scale_factor", 1.0)),
                   valid_range=valid, signed=str(attrs.get("_Unsigned", "")).lower() == "false")
    data = raw.data.rechunk((1, chunks, chunks))
    _warn_if_scaled(raw, dec, kw, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", xr.SerializationWarning)  # "multiple fill values": all of them are missing, as wanted
        decoded = xr.decode_cf(xr.Dataset({"v": (raw.dims, data, attrs)}), decode_times=False, decode_coords=False)["v"].data
    missing = data.map_blocks(dec.missing, dtype=bool)
    values = da.where(missing, np.float32(np.nan), decoded.astype(np.float32))
    return xr.DataArray(values, dims=raw.dims, coords={"time": raw["time"].values})


def _warn_if_scaled(raw: xr.DataArray, dec: Decoding, kw: dict, path: str) -> None:
    """A caller's scale applied to float values that already look scaled (checked on the first date): refused for a scale
    below 1, warned about above (irrmap.core.raster_read.check_scaled_once, the one check of every reader)."""
    if kw.get("scale") is None:
        return
    step = max(1, max(raw.sizes["y"], raw.sizes["x"]) // 256)
    sample = np.asarray(raw.isel(time=0, y=slice(None, None, step), x=slice(None, None, step)).values)
    check_scaled_once(sample, dec, path, fix="drop the scale, the file is already scaled: --scale 1 / scale = 1, or leave out --preset / preset")


def _step(coord: xr.DataArray) -> float:
    c = np.asarray(coord.values, dtype=np.float64)
    return float((c[-1] - c[0]) / (c.size - 1)) if c.size > 1 else 0.0


def _spacing(coord: xr.DataArray, fallback: float | None, what: str, path: str) -> float:
    """The pixel size along one axis (positive), from evenly spaced centre coordinates."""
    c = np.asarray(coord.values, dtype=np.float64)
    if c.size == 1:
        if fallback is None:
            raise InputError(f"one pixel along {what}: its size is unknown", path, "pass the run grid")
        return abs(fallback)
    step = _step(coord)
    off = np.abs(c - (c[0] + step * np.arange(c.size))).max()
    if step == 0 or off > LATTICE_TOL * abs(step):
        raise InputError(f"the {what} coordinates are not evenly spaced (off by up to {off:.4g})", path,
                         "regrid the cube onto a regular grid first")
    return abs(step)


def _own_grid(raw: xr.DataArray, lonlat: bool, grid: Grid | None, path: str) -> Grid:
    """The cube's own north-up grid: CRS from its grid mapping (else lon/lat -> EPSG:4326), pixel corner
    transform from the centre coordinates."""
    crs = None
    try:
        crs = raw.rio.crs
    except Exception:  # noqa: BLE001 - rioxarray raises for odd grid-mapping attributes; treated as none
        crs = None
    if crs is None and lonlat:
        crs = CRS.from_epsg(4326)
        log.info("%s: no grid mapping; longitude/latitude coordinates taken as WGS 84 (EPSG:4326)", path)
    if crs is None and grid is not None:
        crs = grid.crs
        log.warning("%s: the cube declares no CRS; its coordinates are taken in the grid's CRS %s "
                    "(fix: add a CF grid_mapping variable, e.g. with rioxarray's write_crs)", path, grid.crs.to_string())
    if crs is None:
        raise InputError("the cube has no CRS", path, "add a CF grid_mapping variable, or pass the run grid")
    dx = _spacing(raw["x"], grid.res[0] if grid else None, "x", path)
    dy = _spacing(raw["y"], grid.res[1] if grid else None, "y", path)
    x = np.asarray(raw["x"].values, dtype=np.float64)
    y = np.asarray(raw["y"].values, dtype=np.float64)
    return Grid(crs, Affine(dx, 0.0, x.min() - dx / 2, 0.0, -dy, y.max() + dy / 2), y.size, x.size)


def _is_degrees(v: xr.DataArray, dim: str, spec: dict) -> bool:
    attrs = v.coords[dim].attrs
    return (str(attrs.get("units", "")).lower() in spec["units"] or str(attrs.get("standard_name", "")).lower() == spec["standard"][0]
            or dim.lower() in spec["names"][1:])


def describe(grid: Grid) -> str:
    """CRS, bounds and pixel size of a grid, for messages."""
    l, b, r, t = grid.bounds
    return f"{grid.crs.to_string()} bounds ({l:.10g}, {b:.10g}, {r:.10g}, {t:.10g}), pixel {grid.res[0]:.6g} x {grid.res[1]:.6g}"


def _onto(values: xr.DataArray, own: Grid, grid: Grid, path: str) -> xr.DataArray:
    """North-up cube values (on `own`) cut and NaN-padded onto `grid`; InputError unless the lattices match."""
    col = (grid.transform.c - own.transform.c) / grid.res[0]  # cube column under the grid's first column
    row = (own.transform.f - grid.transform.f) / grid.res[1]  # cube row under the grid's first row
    same = own.crs == grid.crs and np.allclose(own.res, grid.res, rtol=1e-4)
    if not (same and abs(col - round(col)) <= LATTICE_TOL and abs(row - round(row)) <= LATTICE_TOL):
        shift = f"; the grid starts {col:.4g} cube pixels east and {row:.4g} south of the cube's corner" if same else ""
        raise InputError(f"the cube's pixels do not fall on the grid's: cube {describe(own)}; grid {describe(grid)}{shift}", path,
                         "warp the cube onto the run grid first (gdalwarp or rioxarray reproject_match), or take the grid from the cube")
    c0, r0 = round(col), round(row)
    ys = slice(max(r0, 0), min(r0 + grid.height, own.height))
    xs = slice(max(c0, 0), min(c0 + grid.width, own.width))
    if ys.stop <= ys.start or xs.stop <= xs.start:
        raise InputError(f"the cube does not overlap the grid: cube {describe(own)}; grid {describe(grid)}", path,
                         "use a cube that covers the grid, or a grid inside the cube")
    sub = values.isel(y=ys, x=xs)
    top, left = max(-r0, 0), max(-c0, 0)
    sub = sub.pad(y=(top, grid.height - top - sub.sizes["y"]), x=(left, grid.width - left - sub.sizes["x"]), constant_values=np.nan)
    return sub.assign_coords(grid.coords()).astype(np.float32)
