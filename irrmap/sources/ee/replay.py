"""A numpy interpreter of serialised Earth Engine graphs (the Cloud API expression JSON that ee.serializer.toJSON
writes): it evaluates the graphs of irrmap.sources.ee.graphs on stand-in images held in memory, so the
server-side computation can be checked against the file source offline, value by value.

Model: an image (RImage) is bands of float64 values with one boolean mask per band, on an irrmap Grid (None for
a constant); a collection is a list of images with a `system:time_start` property (ms since 1970 UTC).
Operators follow the Earth Engine API reference (developers.google.com/earth-engine/apidocs/ee-image-<name>):
binary operators pair bands one to one or broadcast a single band, name outputs after the longer operand (image1
when equal) and mask where either operand is masked; comparisons and and/or give 0/1; divide gives 0 where the
divisor is 0; updateMask keeps a pixel where the mask image is non-zero and unmasked; collection reducers ignore
masked pixels, keep the band names and mask pixels with no valid input (count: number of valid inputs, never
masked); median of an even count is the mean of the two middle values (numpy's); a composite of bilinearly
resampled images is resampled after reducing (exact for sum and mean of equally masked inputs, refused for the
other reducers); reproject warps onto the
lattice of crs + crsTransform with nearest neighbour, or the pending reduceResolution reducer (mean -> GDAL
average, mode -> GDAL mode), or bilinear after resample("bilinear"). unmask fills every masked pixel (the stand-in's
footprint is the whole array). setDefaultProjection, projection and Projection.atScale do not change values. Any other operator
raises InputError naming it.
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import rasterio.warp
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.sources.ee.catalog import CASTS


@dataclass
class RImage:
    """A replayed image: band name -> float64 values and boolean masks (same shapes), its grid (None for a
    constant), properties, and the resampling a later reproject applies."""

    bands: dict[str, np.ndarray]
    masks: dict[str, np.ndarray]
    grid: Grid | None = None
    props: dict = field(default_factory=dict)
    resampling: str = "nearest"

    @classmethod
    def of(cls, bands: dict[str, np.ndarray], grid: Grid | None, *, date: dt.date | str | None = None, nodata=None) -> RImage:
        """An image from raw arrays (NaN or the value `nodata` = masked) and its acquisition date (a date or an
        ISO date string), kept as `system:time_start`."""
        vals = {k: np.asarray(v, dtype=np.float64) for k, v in bands.items()}
        masks = {k: ~np.isnan(v) & (v != nodata if nodata is not None else True) for k, v in vals.items()}
        props = {} if date is None else {"system:time_start": _ms(date)}
        return cls(vals, masks, grid, props)

    def masked(self, band: str) -> np.ndarray:
        """The band's values with NaN where masked."""
        return np.where(self.masks[band], self.bands[band], np.nan)


def _ms(day) -> int:
    """Milliseconds since 1970-01-01 UTC of a date or ISO date string (Earth Engine's system:time_start)."""
    d = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day)[:10])
    return int((dt.datetime(d.year, d.month, d.day, tzinfo=dt.UTC)).timestamp() * 1000)


def replay(graph, sources: dict, grid: Grid) -> RImage:
    """Evaluate serialised graph `graph` (JSON text or its dict) with `sources` (asset id -> RImage for
    Image.load, or a list of RImage for ImageCollection.load); `grid` is the requested grid, whose lattice
    must be the one named by the graph's reproject. Raises InputError for an unknown operator or asset."""
    g = json.loads(graph) if isinstance(graph, str) else graph
    return _Eval(g["values"], sources, grid).value(g["values"][g["result"]], {"args": {}, "memo": {}})


class _Eval:
    def __init__(self, values: dict, sources: dict, grid: Grid):
        self.values, self.sources, self.grid = values, sources, grid

    def value(self, node: dict, env: dict):
        if "constantValue" in node:
            return node["constantValue"]
        if "valueReference" in node:
            ref = node["valueReference"]
            if ref not in env["memo"]:
                env["memo"][ref] = self.value(self.values[ref], env)
            return env["memo"][ref]
        if "argumentReference" in node:
            return env["args"][node["argumentReference"]]
        if "arrayValue" in node:
            return [self.value(v, env) for v in node["arrayValue"]["values"]]
        if "dictionaryValue" in node:
            return {k: self.value(v, env) for k, v in node["dictionaryValue"]["values"].items()}
        if "functionDefinitionValue" in node:
            fd = node["functionDefinitionValue"]
            return lambda *a: self.value(self.values[fd["body"]], {"args": dict(zip(fd["argumentNames"], a)), "memo": {}})
        if "functionInvocationValue" in node:
            fi = node["functionInvocationValue"]
            name = fi.get("functionName")
            if name not in OPS:
                raise InputError(f"the graph uses {name or fi!r}, which the replay does not interpret", "replay",
                                 f"replay supports {', '.join(sorted(OPS))}")
            args = {k: self.value(v, env) for k, v in fi["arguments"].items()}
            return OPS[name](self, **args)
        raise InputError(f"unknown graph node {sorted(node)}", "replay")

    def load(self, id, kind):
        if id not in self.sources:
            raise InputError(f"no stand-in {kind} for asset {id!r}", "replay", "pass it in `sources`")
        return self.sources[id]


# ---- band algebra -----------------------------------------------------------------------------------------
def _pair(a: RImage, b: RImage):
    """(name, band of a, band of b) triples, Earth Engine's pairing rule (module docstring)."""
    na, nb = list(a.bands), list(b.bands)
    if len(na) == len(nb):
        return [(x, x, y) for x, y in zip(na, nb)]
    if len(nb) == 1:
        return [(x, x, nb[0]) for x in na]
    if len(na) == 1:
        return [(y, na[0], y) for y in nb]
    raise InputError(f"bands {na} and {nb} cannot be paired", "replay")


def _binary(fn):
    def op(ev, image1, image2):
        out_v, out_m = {}, {}
        for name, x, y in _pair(image1, image2):
            with np.errstate(divide="ignore", invalid="ignore"):
                out_v[name] = np.asarray(fn(image1.bands[x], image2.bands[y]), dtype=np.float64)
            out_m[name] = image1.masks[x] & image2.masks[y]
        grid = image1.grid or image2.grid
        return RImage(out_v, out_m, grid, dict(image1.props), image1.resampling)
    return op


def _int(v):
    return v.astype(np.int64)


def _cast(dtype):
    def op(ev, value):
        info = np.iinfo(dtype) if np.issubdtype(dtype, np.integer) else None
        conv = {k: (np.clip(v, info.min, info.max).astype(dtype) if info else v.astype(dtype)) for k, v in value.bands.items()}
        return replace(value, bands=conv)
    return op


def _select(ev, input, bandSelectors, newNames=None):
    missing = [b for b in bandSelectors if b not in input.bands]
    if missing:
        raise InputError(f"band(s) {missing} not in the image (has {list(input.bands)})", "replay")
    names = newNames or bandSelectors
    return replace(input, bands={n: input.bands[b] for n, b in zip(names, bandSelectors)},
                   masks={n: input.masks[b] for n, b in zip(names, bandSelectors)})


def _rename(ev, input, names):
    return replace(input, bands=dict(zip(names, input.bands.values())), masks=dict(zip(names, input.masks.values())))


def _update_mask(ev, image, mask):
    m = {name: image.masks[x] & (mask.bands[y] != 0) & mask.masks[y] for name, x, y in _pair(image, mask)}
    return replace(image, masks=m)


def _unmask(ev, input, value=None, sameFootprint=True):
    fill = value if isinstance(value, RImage) else _constant(ev, 0 if value is None else value)
    out = {name: np.where(input.masks[x], input.bands[x], fill.bands[y]) for name, x, y in _pair(input, fill)}
    return replace(input, bands=out, masks={k: np.ones(np.shape(v), bool) for k, v in out.items()})


def _constant(ev, value):
    return RImage({"constant": np.float64(value)}, {"constant": np.bool_(True)})


# ---- collections ------------------------------------------------------------------------------------------
def _date_range(ev, start, end):
    return _ms(start), _ms(end)


def _filter_dates(ev, leftValue, rightField):
    lo, hi = leftValue
    return lambda img: lo <= img.props[rightField] < hi


def _reducer(kind):
    def op(ev, collection):
        if not collection:
            raise InputError("a reducer received an empty collection", "replay", "check the date range")
        out_v, out_m = {}, {}
        for b in collection[0].bands:
            stack = np.stack([img.masked(b) for img in collection])
            valid = ~np.isnan(stack)
            if kind == "count":
                out_v[b], out_m[b] = valid.sum(0).astype(np.float64), np.ones(stack.shape[1:], bool)
                continue
            n = valid.sum(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN pixels: masked below
                val = {"max": np.nanmax, "median": np.nanmedian, "sum": np.nansum, "mean": np.nanmean}[kind](stack, axis=0)
            out_v[b], out_m[b] = np.where(n > 0, val, 0.0), n > 0
        return RImage(out_v, out_m, collection[0].grid, {}, _inputs_resampling(collection, kind))
    return op


def _inputs_resampling(collection, kind: str) -> str:
    """The resampling the inputs asked for, applied by the replay after reducing: Earth Engine resamples each
    input in the output projection first, which is the same for a linear reducer (sum, mean) of inputs sharing
    one mask, and not for the others (refused)."""
    modes = {img.resampling for img in collection}
    if modes == {"nearest"}:
        return "nearest"
    if len(modes) > 1 or kind not in ("sum", "mean"):
        raise InputError(f"a {kind} of inputs resampled {sorted(modes)} is not replayed exactly", "replay",
                         "resample after compositing, or use a linear reducer (sum, mean)")
    return modes.pop()


# ---- alignment --------------------------------------------------------------------------------------------
_WARP = {"mean": Resampling.average, "mode": Resampling.mode, "bilinear": Resampling.bilinear, "nearest": Resampling.nearest}


def _reproject(ev, image, crs, crsTransform=None, scale=None):
    if crsTransform is None:
        raise InputError("reproject without crsTransform: the lattice is not pinned to the grid", "replay",
                         "give crsTransform (irrmap.sources.ee.graphs aligns with it)")
    target = ev.grid
    t, g = Affine(*crsTransform), target.transform
    cols, rows = (g.c - t.c) / t.a, (g.f - t.f) / t.e
    on_lattice = max(abs(cols - round(cols)), abs(rows - round(rows))) < 1e-6  # whole pixels, up to float rounding
    if not (CRS.from_user_input(crs) == target.crs and (t.a, t.b, t.d, t.e) == (g.a, g.b, g.d, g.e) and on_lattice):
        raise InputError(f"the requested grid {list(g)[:6]} is not on the reproject lattice {crsTransform}", "replay")
    if image.grid is None:
        vals = {k: np.broadcast_to(v, target.shape).astype(np.float64) for k, v in image.bands.items()}
        return RImage(vals, {k: np.ones(target.shape, bool) for k in vals}, target, image.props)
    vals, masks = {}, {}
    for b in image.bands:
        dst = np.full(target.shape, np.nan)
        rasterio.warp.reproject(image.masked(b), dst, src_transform=image.grid.transform, src_crs=image.grid.crs,
                                dst_transform=g, dst_crs=target.crs, resampling=_WARP[image.resampling],
                                src_nodata=np.nan, dst_nodata=np.nan)
        vals[b], masks[b] = np.nan_to_num(dst), ~np.isnan(dst)
    return RImage(vals, masks, target, image.props)


OPS = {
    "ImageCollection.load": lambda ev, id, **_: ev.load(id, "collection"),
    "Image.load": lambda ev, id, **_: ev.load(id, "image"),
    "Collection.filter": lambda ev, collection, filter: [img for img in collection if filter(img)],
    "Filter.dateRangeContains": _filter_dates,
    "DateRange": _date_range,
    "Collection.map": lambda ev, collection, baseAlgorithm, **_: [baseAlgorithm(img) for img in collection],
    "Collection.first": lambda ev, collection: collection[0],
    "Image.select": _select,
    "Image.rename": _rename,
    "Image.constant": _constant,
    "Image.updateMask": _update_mask,
    "Image.unmask": _unmask,
    "Image.add": _binary(np.add),
    "Image.subtract": _binary(np.subtract),
    "Image.multiply": _binary(np.multiply),
    "Image.divide": _binary(lambda a, b: np.where(b != 0, a / np.where(b != 0, b, 1), 0.0)),
    "Image.eq": _binary(lambda a, b: a == b),
    "Image.neq": _binary(lambda a, b: a != b),
    "Image.lt": _binary(lambda a, b: a < b),
    "Image.lte": _binary(lambda a, b: a <= b),
    "Image.gt": _binary(lambda a, b: a > b),
    "Image.gte": _binary(lambda a, b: a >= b),
    "Image.and": _binary(lambda a, b: (a != 0) & (b != 0)),
    "Image.or": _binary(lambda a, b: (a != 0) | (b != 0)),
    "Image.bitwiseAnd": _binary(lambda a, b: _int(a) & _int(b)),
    "Image.rightShift": _binary(lambda a, b: _int(a) >> _int(b)),
    "reduce.max": _reducer("max"),
    "reduce.median": _reducer("median"),
    "reduce.count": _reducer("count"),
    "reduce.sum": _reducer("sum"),
    "reduce.mean": _reducer("mean"),
    "Reducer.mean": lambda ev: "mean",
    "Reducer.mode": lambda ev: "mode",
    "Image.reduceResolution": lambda ev, image, reducer, maxPixels=None, bestEffort=None: replace(image, resampling=reducer),
    "Image.resample": lambda ev, image, mode="bilinear": replace(image, resampling=mode),
    "Image.projection": lambda ev, image: image.grid,
    "Image.setDefaultProjection": lambda ev, image, crs=None, **_: image,
    "Projection": lambda ev, crs, **_: crs,
    "Projection.atScale": lambda ev, projection, meters=None, **_: projection,
    "Image.reproject": _reproject,
    **{f"Image.{m}": _cast(np.dtype(d)) for d, m in CASTS.items()},
}
