"""The Python API's entry check of raster arguments: one place where a stage function taking DataArrays checks what
it was given and decodes what the array declares, as irrmap.core.raster_read does for files.

Every public array-taking stage function (slope, distance_to_water, aridity_index, reclassify, weighted_overlay,
annual_statistics, split_scores, sample_pool) calls `raster_arg` on each raster argument and `same_grid` on the set:

- Type and layout: an xarray.DataArray with dims (y, x) (a series: (time, y, x)), a CRS and a transform, as
  `rioxarray.open_rasterio(path, masked=True).squeeze("band", drop=True)` or `irrmap.read_raster(path, grid)` give.
  Anything else (a numpy or masked array, (band, y, x), (x, y), no CRS) raises ArgumentTypeError (a TypeError) or
  ArgumentValueError (a ValueError), both irrmap InputErrors, naming the argument, what was expected and the fix.
- Declared nodata (irrmap.core.nodata rule 1): values equal to the array's `_FillValue`, `missing_value` or `nodata`
  attribute (rioxarray's `.rio.write_nodata` writes `_FillValue`), or to an encoded `_FillValue` / `missing_value`
  still present in the data (`.rio.write_nodata(v, encoded=True)` leaves the values as they are), are missing.
  Continuous rasters become float with NaN there (float arrays keep their dtype; integer arrays become float32, as
  read_raster's continuous reads); code rasters (zones, threshold maps) get the function's own missing code.
  An encoded fill is not applied when the encoding also holds a scale or offset: those data were decoded by xarray
  (`mask_and_scale=True`) and are in other units than the fill.
- Undecoded CF scale (`scale_factor`, `add_offset` in attrs, not in encoding, as `open_rasterio(...,
  mask_and_scale=False)` leaves them): values become raw * scale_factor + add_offset (CF conventions 1.10, section
  8.1), as float32 like Decoding.decode.
- An array without any of these attributes is returned as it is (no copy).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import dask.array as da
import numpy as np
import rioxarray  # noqa: F401  (registers the .rio accessor: callers need not import it)
import xarray as xr

from irrmap.core.errors import GridError, InputError
from irrmap.core.nodata import Decoding

#: how to make a DataArray the API takes, said in every type error
EXPECTED = ("an xarray.DataArray with dims ('y', 'x'), a CRS and a transform, e.g. "
            "rioxarray.open_rasterio(path, masked=True).squeeze('band', drop=True) or irrmap.read_raster(path, grid)")
NODATA_ATTRS = ("_FillValue", "missing_value", "nodata")
SCALE_ATTRS = ("scale_factor", "add_offset")


class ArgumentTypeError(InputError, TypeError):
    """An API argument of the wrong type or layout (a numpy array, a (band, y, x) stack); also a TypeError."""


class ArgumentValueError(InputError, ValueError):
    """An API raster argument whose georeference is unusable (no CRS, no transform); also a ValueError."""


def _where(func: str, name: str) -> str:
    return f"{func}({name})"


def _values(v) -> list[float]:
    """The numbers of one nodata attribute (a number, a list of them or None), NaN left out (NaN is missing anyway)."""
    if v is None:
        return []
    out = []
    for x in np.ravel(np.asarray(v, dtype=object)):
        try:
            f = float(x)
        except (TypeError, ValueError):
            continue
        if not math.isnan(f):
            out.append(f)
    return out


def declared(arr: xr.DataArray) -> tuple[tuple[float, ...], float, float]:
    """(missing values, scale, offset) an array declares: module docstring."""
    vals = [v for key in NODATA_ATTRS for v in _values(arr.attrs.get(key))]
    enc = arr.encoding or {}
    if not any(k in enc for k in SCALE_ATTRS):  # values still raw: an encoded fill is in them
        vals += [v for key in ("_FillValue", "missing_value") for v in _values(enc.get(key))]
    scale = float(arr.attrs.get("scale_factor", 1.0) or 1.0)
    offset = float(arr.attrs.get("add_offset", 0.0) or 0.0)
    return tuple(dict.fromkeys(vals)), scale, offset


def decoded_block(arr: xr.DataArray, block) -> np.ndarray:
    """float64 values of `block` (a window of `arr`'s data, any shape) with what `arr` declares applied (module
    docstring): NaN at its `_FillValue` / `missing_value` / `nodata` (attributes, or an encoded fill still in the
    data) and at NaN, and an undecoded CF scale_factor / add_offset applied (CF 1.10 section 8.1). For readers that
    walk a map tile by tile: an array opened with `rioxarray.open_rasterio(path)` (no masking) keeps its fill as
    numbers in the data and says so only in `_FillValue`, which a check of `attrs["nodata"]` alone missed (a class
    map's 255 counted as mapped area)."""
    vals, scale, offset = declared(arr)
    raw = np.asarray(block)
    v = np.array(raw, dtype=np.float64, copy=True)
    if vals:
        v[Decoding(fill_values=vals).missing(raw)] = np.nan  # each fill as stored in the block's type (irrmap.core.nodata)
    if scale != 1.0 or offset != 0.0:
        v = v * scale + offset
    return v


def _decoded_float(block: np.ndarray, dec: Decoding) -> np.ndarray:
    """NaN where `dec` says missing; float blocks keep their dtype (no rounding of float64 data), integer ones and
    scaled ones become float32 (Decoding.decode, read_raster's rule 2)."""
    if dec.scale != 1.0 or dec.offset != 0.0 or block.dtype.kind != "f":
        return dec.decode(np.asarray(block))
    out = np.array(block, copy=True)
    out[dec.missing(out)] = np.nan
    return out


def _coded(block: np.ndarray, dec: Decoding, fill) -> np.ndarray:
    out = np.array(block, copy=True)
    out[dec.missing(out)] = fill
    return out


def decode_declared(arr: xr.DataArray, *, codes_fill=None) -> xr.DataArray:
    """`arr` with its declared nodata (and undecoded scale) applied (module docstring): NaN for continuous data, or
    `codes_fill` (e.g. 0 for zones, 255 for threshold maps) for code rasters, whose scale is never applied.
    The same array when it declares nothing."""
    vals, scale, offset = declared(arr)
    if codes_fill is not None:  # codes are never scaled; a declared value equal to the function's own code is it already
        scale, offset = 1.0, 0.0
        vals = tuple(v for v in vals if v != codes_fill)
    if not vals and scale == 1.0 and offset == 0.0:
        return arr
    dec = Decoding(fill_values=vals, scale=scale, offset=offset)
    data = arr.data
    if codes_fill is not None:
        fn, dtype = (lambda b: _coded(b, dec, codes_fill)), data.dtype
    else:
        dtype = data.dtype if (data.dtype.kind == "f" and scale == 1.0 and offset == 0.0) else np.dtype(np.float32)
        fn = lambda b: _decoded_float(b, dec)  # noqa: E731
    new = data.map_blocks(fn, dtype=dtype) if isinstance(data, da.Array) else fn(np.asarray(data))
    out = arr.copy(data=new)
    for key in NODATA_ATTRS + SCALE_ATTRS:
        out.attrs.pop(key, None)
    out.encoding = {k: v for k, v in (arr.encoding or {}).items() if k not in ("_FillValue", "missing_value") + SCALE_ATTRS}
    return out


def raster_arg(value, name: str, func: str, *, dims: tuple[str, ...] = ("y", "x"), codes_fill=None,
               decode: bool = True, georeferenced: bool = True) -> xr.DataArray:
    """The API raster argument `name` of `func` checked (type, dims, CRS, transform) and decoded (decode_declared,
    unless `decode` is off). `dims` are the dims expected in order (e.g. ('time', 'y', 'x')); a DataArray with the
    same dims in another order is refused with the transpose that fixes it. `georeferenced` off: a missing CRS and
    transform are accepted (a function that needs neither, e.g. per-pixel statistics over time).

    Raises ArgumentTypeError (a TypeError) for a non-DataArray or wrong dims, ArgumentValueError (a ValueError) for
    a missing CRS or transform and for an array that is not north-up (_north_up: y decreasing, x increasing); both
    name `func(name)` and the fix."""
    where = _where(func, name)
    want = "(" + ", ".join(repr(d) for d in dims) + ")"
    expected = EXPECTED.replace("('y', 'x')", want)
    if not isinstance(value, xr.DataArray):
        kind = type(value).__module__ + "." + type(value).__qualname__
        if isinstance(value, np.ma.MaskedArray):
            fix = (f"wrap it with its grid: xr.DataArray(arr.filled(np.nan), dims={want}, coords=grid.coords())"
                   ".rio.write_crs(grid.crs).rio.write_transform(grid.transform) (its mask becomes NaN, i.e. nodata)")
        elif isinstance(value, (np.ndarray, da.Array)):
            fix = (f"wrap it with its grid: xr.DataArray(arr, dims={want}, coords=grid.coords())"
                   ".rio.write_crs(grid.crs).rio.write_transform(grid.transform)")
        elif isinstance(value, (str, bytes)) or hasattr(value, "__fspath__"):
            fix = "read the file first: irrmap.read_raster(path, grid)"
        else:
            fix = "pass one DataArray per raster"
        raise ArgumentTypeError(f"expected {expected}, got {kind}", where, fix)
    if tuple(value.dims) != tuple(dims):
        if set(value.dims) == set(dims):
            fix = f"{name}.transpose({', '.join(repr(d) for d in dims)})"
        else:
            extra = [d for d in value.dims if d not in dims]
            single = [d for d in extra if value.sizes[d] == 1]
            if single and len(value.dims) - len(single) == len(dims) and set(value.dims) - set(single) == set(dims):
                fix = f"{name}.squeeze({', '.join(repr(d) for d in single)}, drop=True)"
            elif {"lat", "lon"} <= set(value.dims) or {"latitude", "longitude"} <= set(value.dims):
                lat, lon = ("lat", "lon") if "lat" in value.dims else ("latitude", "longitude")
                fix = f"{name}.rename({{{lat!r}: 'y', {lon!r}: 'x'}})"
            elif extra:
                fix = f"select one layer of {extra}, e.g. {name}.isel({extra[0]}=0), or rename the dims to {want}"
            else:
                fix = f"give a DataArray with dims {want}"
        raise ArgumentTypeError(f"expected {expected}, got dims {tuple(value.dims)} with shape {tuple(value.shape)}", where, fix)
    if not georeferenced:
        return decode_declared(value, codes_fill=codes_fill) if decode else value
    if value.rio.crs is None:
        raise ArgumentValueError("has no CRS, so its pixels have no place on the ground", where,
                                 f"assign it: {name}.rio.write_crs('EPSG:...') for a DataArray (a file: gdal_edit.py -a_srs EPSG:... FILE)")
    try:
        if value.sizes["y"] < 1 or value.sizes["x"] < 1:
            raise ValueError("empty")
        value.rio.transform(recalc=False)
    except Exception as exc:  # rioxarray raises several types for missing or single coordinates
        raise ArgumentValueError(f"has no usable transform ({exc})", where,
                                 f"give it x and y coordinates or write one: {name}.rio.write_transform(affine)") from None
    _north_up(value, name, where)
    from irrmap.core.georef import check_not_degrees_as_projected

    check_not_degrees_as_projected(value.rio.crs, value.rio.transform(recalc=False), value.sizes["x"], value.sizes["y"], where,
                                   ArgumentValueError)
    return decode_declared(value, codes_fill=codes_fill) if decode else value


def _north_up(arr: xr.DataArray, name: str, where: str) -> None:
    """ArgumentValueError (naming `where`) unless `arr` is north-up: y coordinates decreasing and x increasing (row 0
    the north edge), and a transform with positive x and negative y pixel size and no rotation. rioxarray keeps the
    transform it read when an array is reordered, so a south-up array (e.g. after `.sortby('y')`) kept a north-up
    transform whose origin was its south edge: `predict_to_files` wrote the map with its rows flipped and placed a map
    height south, without a word. An array without x / y coordinates gets rioxarray's identity transform (not
    north-up)."""
    for dim, ascending in (("y", False), ("x", True)):
        if dim not in arr.coords or arr.sizes.get(dim, 0) < 2:
            continue
        step = np.diff(np.asarray(arr[dim].values, np.float64))
        if not (step > 0).all() if ascending else not (step < 0).all():
            way = ("increase (row 0 is the south edge: a south-up array, e.g. after .sortby('y'))" if dim == "y" and (step > 0).all()
                   else "decrease (column 0 is the east edge)" if dim == "x" and (step < 0).all() else "are not sorted")
            raise ArgumentValueError(f"its {dim} coordinates {way}; maps are north-up (y decreasing, x increasing), so its "
                                     f"{'rows' if dim == 'y' else 'columns'} would be flipped and the map misplaced", where,
                                     f"{name}.sortby({dim!r}{'' if ascending else ', ascending=False'})")
    t = arr.rio.transform(recalc=False)
    if not (t.a > 0 and t.e < 0 and t.b == 0 and t.d == 0):
        bare = "x" not in arr.coords or "y" not in arr.coords
        raise ArgumentValueError(f"its transform {tuple(round(v, 9) for v in tuple(t)[:6])} is not north-up (positive x and negative y "
                                 "pixel size, no rotation)" + ("; it has no x / y coordinates, so rioxarray assumed one" if bare else ""),
                                 where, f"give it the grid's coordinates: {name}.assign_coords(x=GRID_ARRAY.x, y=GRID_ARRAY.y)" if bare
                                 else f"give it a north-up grid's coordinates or transform: {name}.rio.write_transform(affine) (e.g. "
                                      "irrmap.read_raster(path, grid) reads a file onto one)")


def _transform(arr: xr.DataArray):
    try:
        return arr.rio.transform(recalc=False)
    except Exception:  # no coordinates and no GeoTransform (rioxarray raises several types): positional only
        return None


def _same_labels(name: str, arr: xr.DataArray, ref_name: str, ref: xr.DataArray, grid, func: str) -> None:
    """GridError when `arr`, on the same grid as `ref` (Grid.aligned_with: float noise in the transform allowed), has
    x or y coordinates that are not exactly `ref`'s: xarray matches pixels by exact coordinate labels, so p / e of two
    such arrays would be an inner join that drops every column or row with a different label (an empty result, without
    a word). The message gives the largest difference in map units and in pixels; the fix copies the labels."""
    for dim, size in (("x", grid.res[0]), ("y", grid.res[1])):
        if dim not in arr.coords or dim not in ref.coords:
            continue
        a, b = np.asarray(arr[dim].values, dtype=np.float64), np.asarray(ref[dim].values, dtype=np.float64)
        if a.shape == b.shape and not np.array_equal(a, b):
            d = float(np.max(np.abs(a - b)))
            raise GridError(f"{name} is on {ref_name}'s grid, but its {dim} coordinates differ from {ref_name}'s by up to {d:.3g} "
                            f"({d / size:.2g} pixel, float noise); xarray matches pixels by exact coordinates and would drop them",
                            _where(func, name), f"give it {ref_name}'s labels: {name}.assign_coords(x={ref_name}.x, y={ref_name}.y)")


def same_grid(arrays: Mapping[str, xr.DataArray], func: str) -> None:
    """Refuse `arrays` (name -> DataArray, None skipped) that are not on one grid: GridError naming the first that
    differs from the first array. Georeferenced arrays are compared by Grid.aligned_with (the check predict_to_files
    and the splitter make: same CRS and shape, pixel edges within 1e-6 pixel, irrmap.core.grid.PIXEL_TOL), and then
    their x / y coordinates must be equal too (`_same_labels`); arrays without a CRS or transform
    (functions that need neither) by what they have (shape, CRS, transform). xarray would otherwise align them by an
    inner join on their coordinates (a shifted raster gives a smaller or empty result without a word)."""
    from irrmap.core.grid import Grid

    items = [(k, v) for k, v in arrays.items() if v is not None]
    ref_name, ref = items[0]
    crs, tr = ref.rio.crs, _transform(ref)
    for k, v in items[1:]:
        other_crs, other_tr = v.rio.crs, _transform(v)
        if None not in (crs, tr, other_crs, other_tr):
            g, grid = Grid.from_dataarray(v), Grid.from_dataarray(ref)
            found = "; ".join(g.mismatch(grid))  # which property differs, both values, by how many pixels
            same = not found
            if same:
                _same_labels(k, v, ref_name, ref, grid, func)
        else:
            shape, ref_shape = (v.sizes["y"], v.sizes["x"]), (ref.sizes["y"], ref.sizes["x"])
            same = (shape == ref_shape and other_crs == crs and (tr is None) == (other_tr is None)
                    and (tr is None or other_tr.almost_equals(tr, 1e-12)))
            found = (f"shape {shape}, CRS {other_crs}, transform {tuple(other_tr)[:6] if other_tr else None} against "
                     f"{ref_shape}, {crs}, {tuple(tr)[:6] if tr else None}")
        if not same:
            raise GridError(f"{k} is on another grid than {ref_name}: {found}", _where(func, k),
                            f"put every raster on one grid: irrmap.read_raster(path, grid), or {k}.rio.reproject_match({ref_name})")
