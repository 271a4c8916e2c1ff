"""The training pool: pixels on which every intermediate map agrees, sampled per unit and class with a seed.

Agreement, among crop pixels: label 1 where all maps say irrigated, 0 where all say not irrigated (any
nodata or disagreement: not in the pool).
Optional erosion drops pool pixels with a pixel of another label (or outside the pool) within `erode` pixels.
Sampling: every pool pixel gets a priority key hashed from (seed, row-major position); per unit and class
the `per_class` pixels with the smallest keys are kept. The sample is therefore the same for any chunking
or tile order, and equal inputs and seed give equal bytes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import dask
import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor this module uses)
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from numba import njit
from scipy.ndimage import binary_erosion

from irrmap.core.array_input import raster_arg, same_grid
from irrmap.core.class_share import MIN_CLASS_SHARE
from irrmap.core.errors import DataError, InputError
from irrmap.core.fill_values import count_infinite, fill_text, undeclared_fill
from irrmap.core.grid import Grid
from irrmap.core.progress import progress_bar
from irrmap.training.split_common import zone_ids
from irrmap.training.thresholds import IRRIGATED, NOT_IRRIGATED, _check_grid

log = logging.getLogger(__name__)

# The pool file's own columns (sample_pool's, to_geodataframe's and the GeoParquet geometry): a predictor of one of
# these names would overwrite them (a predictor named `label` replaces the training labels)
RESERVED_COLUMNS = ("unit", "zone", "label", "row", "col", "lon", "lat", "geometry")


def check_predictor_names(names, where: str = "predictors") -> None:
    """Raise InputError for a predictor name that is empty or one of the pool's own columns (RESERVED_COLUMNS);
    `where` names the setting or option that gave the names."""
    for name in names:
        if not str(name).strip():
            raise InputError("a predictor has an empty name", where, "give every predictor a name (NAME=PATH)")
        if name in RESERVED_COLUMNS:
            raise InputError(f"predictor name {name!r} is one of the pool's own columns ({', '.join(RESERVED_COLUMNS)}) and "
                             "would overwrite it", where, f"give the predictor another name, e.g. {name}_value")


@njit(cache=True)
def _splitmix64(x):
    """SplitMix64 finaliser: a well-mixed 64-bit hash of each position (vectorised by numba)."""
    out = np.empty(x.size, np.uint64)
    for i in range(x.size):
        z = np.uint64(x[i]) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out[i] = z ^ (z >> np.uint64(31))
    return out


def priority_keys(pos: np.ndarray, seed: int) -> np.ndarray:
    """Seeded pseudo-random key per flat position (independent of how pixels are visited)."""
    mixed_seed = _splitmix64(np.array([seed], np.uint64))[0]
    return _splitmix64(pos.astype(np.uint64) ^ mixed_seed)


def agreement(maps: list[np.ndarray]) -> np.ndarray:
    """1 where all maps are 1, 0 where all are 0, 255 elsewhere."""
    stack = np.stack(maps)
    out = np.full(stack.shape[1:], 255, np.uint8)
    out[np.all(stack == IRRIGATED, axis=0)] = IRRIGATED
    out[np.all(stack == NOT_IRRIGATED, axis=0)] = NOT_IRRIGATED
    return out


def _eroded(agree: np.ndarray, erode: int) -> np.ndarray:
    if erode <= 0:
        return agree
    out = np.full_like(agree, 255)
    struct = np.ones((2 * erode + 1, 2 * erode + 1), bool)
    for label in (IRRIGATED, NOT_IRRIGATED):
        keep = binary_erosion(agree == label, structure=struct, border_value=1)
        out[keep] = label
    return out


def _by_group_then_key(key: np.ndarray, grp: np.ndarray) -> np.ndarray:
    """np.lexsort((key, grp)) for distinct keys: the keys' order (distinct keys have one, whatever the sort), then a
    stable sort by group, which NumPy does as a radix sort when the group ids fit 16 bits (zone * 2 + label: up to
    32,767 units). 1 M entries, 5,500 groups: 0.036 s against lexsort's 0.17 s; the same permutation."""
    by_key = np.argsort(key)
    g = grp[by_key]
    if g.size and 0 <= g.min() and g.max() < 1 << 16:
        g = g.astype(np.uint16)
    return by_key[np.argsort(g, kind="stable")]


@njit(cache=True)
def _quota_smallest(key, grp, quota_of_grp):
    """chosen[i]: key[i] is among the quota_of_grp[grp[i]] smallest keys of its group (keys distinct). O(n): the
    keys of each group over its quota are gathered (a counting sort by group) and partitioned at the quota, not
    sorted; groups within their quota keep every entry."""
    n_groups = quota_of_grp.size
    start = np.zeros(n_groups + 1, np.int64)
    for i in range(key.size):
        start[grp[i] + 1] += 1
    for g in range(n_groups):
        start[g + 1] += start[g]
    # state per group: 0 keeps none (quota 0), 1 keeps all (within quota), 2 keeps keys <= limit
    state = np.zeros(n_groups, np.int8)
    for g in range(n_groups):
        m = start[g + 1] - start[g]
        state[g] = 1 if m <= quota_of_grp[g] else (2 if quota_of_grp[g] > 0 else 0)
    fill = start[:-1].copy()
    buf = np.empty(key.size, np.uint64)
    for i in range(key.size):
        g = grp[i]
        if state[g] == 2:
            buf[fill[g]] = key[i]
            fill[g] += 1
    limit = np.zeros(n_groups, np.uint64)
    for g in range(n_groups):
        if state[g] == 2:
            q = quota_of_grp[g]
            limit[g] = np.partition(buf[start[g]:start[g + 1]], q - 1)[q - 1]
    chosen = np.empty(key.size, np.bool_)
    for i in range(key.size):
        g = grp[i]
        chosen[i] = state[g] == 1 or (state[g] == 2 and key[i] <= limit[g])
    return chosen


def _first_by_group(pos, key, grp, quota):
    """The entries (in position order) whose key is among the quota[grp // 2] smallest of their group. Keys are
    distinct, so keeping these strip by strip selects what one pass over the whole grid would: the client
    holds the sample, not the pool. The same entries as ranking a sort by (group, key) (_by_group_then_key), in
    linear time: 900,000 entries in 1,202 groups of quota 200, 0.118 -> 0.029 CPU-s."""
    chosen = np.flatnonzero(_quota_smallest(key, grp.astype(np.int64, copy=False), np.repeat(np.asarray(quota, np.int64), 2)))
    return pos[chosen], key[chosen], grp[chosen]


def _may_enter(key, grp, quota, cand_key, cand_grp, n_groups: int) -> np.ndarray:
    """Which candidates may still be chosen: those of a group (zone * 2 + label) that holds fewer than its quota
    of kept entries, or that key below the largest key it keeps (keys are distinct, so a candidate above it
    is never among the quota smallest). The rest need not be sorted."""
    if not key.size:
        return np.ones(cand_key.size, bool)
    top = np.zeros(n_groups, np.uint64)
    np.maximum.at(top, grp, key)
    full = np.bincount(grp, minlength=n_groups) >= quota[np.arange(n_groups) // 2]
    return ~full[cand_grp] | (cand_key < top[cand_grp])


def sample_pool(maps: list[xr.DataArray], zones: xr.DataArray, cropland: xr.DataArray, *, per_class: int = 200, per_class_by_zone: np.ndarray | None = None,
                seed: int = 0, erode: int = 0, strip_rows: int = 512) -> pd.DataFrame:
    """Seeded stratified sample of the agreement pool among crop pixels (cropland > 0): columns zone, label,
    row, col (sorted by position).

    `per_class_by_zone` (length N+1) overrides `per_class` per zone id (e.g. more samples in some provinces).
    `maps`: a list of threshold maps (1 / 0 / 255, as split_scores returns; a dict's values are taken). Every raster
    is a DataArray (y, x) with a CRS on one grid (GridError otherwise); declared nodata is missing (maps: 255, zones:
    0, cropland: NaN; irrmap.core.array_input).
    """
    func = "sample_pool"
    if isinstance(maps, dict):
        maps = list(maps.values())
    if isinstance(maps, xr.DataArray) or not isinstance(maps, (list, tuple)):
        raise InputError(f"maps must be a list of threshold-map DataArrays, got {type(maps).__name__}", f"{func}(maps)",
                         "pass a list, e.g. list(maps.values()) of what split_scores returns")
    if not maps:
        raise InputError("no intermediate maps given", "maps", "pass the threshold maps (at least one)")
    maps = [raster_arg(m, f"maps[{i}]", func, codes_fill=255) for i, m in enumerate(maps)]
    zones = raster_arg(zones, "zones", func, codes_fill=0)
    cropland = raster_arg(cropland, "cropland", func)
    same_grid({"zones": zones, "cropland": cropland, **{f"maps[{i}]": m for i, m in enumerate(maps)}}, func)
    if erode < 0:  # a negative erosion would read halo rows inside the strip and sample a shifted window
        raise InputError(f"erode is {erode}", "erode", "give 0 (no erosion) or a positive number of pixels")
    grid = Grid.from_dataarray(zones)
    for i, m in enumerate(maps):
        _check_grid(f"map {i + 1}", m, grid)
    _check_grid("cropland", cropland, grid)
    n_units = int(zones.max().compute())
    quota = np.full(n_units + 1, per_class, np.int64) if per_class_by_zone is None else np.asarray(per_class_by_zone, np.int64)
    if quota.ndim != 1 or quota.size < n_units + 1:  # longer is fine: units of the table without a pixel on the grid
        raise InputError(f"per_class_by_zone has {quota.size} entries for zone ids 0..{n_units}", "per_class_by_zone",
                         "give one quota per zone id 0..N (index 0 is unused)")
    if quota.size and quota.min() < 0:
        raise InputError(f"a quota of {int(quota.min())} samples per class", "per_class", "give 0 or more samples per unit and class")
    pos, key, grp = np.empty(0, np.int64), np.empty(0, np.uint64), np.empty(0, np.int64)
    with progress_bar(total=grid.height, desc="training pool", unit="row") as bar:
        for r0 in range(0, grid.height, strip_rows):
            r1 = min(grid.height, r0 + strip_rows)
            h0, h1 = max(0, r0 - erode), min(grid.height, r1 + erode)  # halo rows for the erosion
            *mblocks, zb, fb = dask.compute(*(m.data[h0:h1] for m in maps), zones.data[h0:h1], cropland.data[h0:h1])
            agree = agreement([np.asarray(b) for b in mblocks])
            agree[~(np.asarray(fb) > 0)] = 255  # only crop pixels train
            agree = _eroded(agree, erode)[r0 - h0: r0 - h0 + (r1 - r0)]
            z = np.asarray(zb)[r0 - h0: r0 - h0 + (r1 - r0)]
            idx = np.flatnonzero((agree != 255) & (z > 0))
            strip_pos = idx + r0 * grid.width
            strip_key, strip_grp = priority_keys(strip_pos, seed), zone_ids(z.ravel()[idx], n_units, np.int64) * 2 + agree.ravel()[idx]
            # a candidate keyed above its group's quota-th smallest key so far can never be chosen: not sorted
            fits = _may_enter(key, grp, quota, strip_key, strip_grp, 2 * (n_units + 1))
            pos, key, grp = _first_by_group(np.concatenate([pos, strip_pos[fits]]), np.concatenate([key, strip_key[fits]]),
                                            np.concatenate([grp, strip_grp[fits]]), quota)
            bar.update(r1 - r0)
    return pd.DataFrame({"zone": (grp // 2).astype(np.int32), "label": (grp % 2).astype(np.uint8),
                         "row": (pos // grid.width).astype(np.int64), "col": (pos % grid.width).astype(np.int64)})


def attach_predictors(samples: pd.DataFrame, predictors: dict[str, xr.DataArray], grid: Grid, strip_rows: int = 512) -> pd.DataFrame:
    """Add one column per predictor (float32) with its value at each sample pixel. A dask predictor is read one
    task per chunk that holds samples, each returning only its samples' values; the pick tasks of every
    predictor form one graph computed at once (_picked), so no strip of the grid is assembled, both cores stay
    busy across predictors and the client builds no delayed object per chunk (16x demo, 26 predictors,
    244,060 samples: this step 5.3 -> 4.2 CPU-s, the client's graph building and tokenizing of one compute per
    predictor gone). An in-memory predictor is indexed directly; `strip_rows` is kept for callers and no longer
    matters.
    Raises InputError (check_sampled_values) for a predictor whose samples hold +inf/-inf or an undeclared fill value:
    the pool's one missing value is NaN (a declared nodata)."""
    check_predictor_names(predictors)
    taken = [n for n in predictors if n in samples.columns]
    if taken:
        raise InputError(f"predictor {taken[0]!r} is already a column of the samples", "predictors", "give the predictor another name")
    out = samples.copy()
    rows = samples["row"].to_numpy()
    cols = samples["col"].to_numpy()
    by_chunk: dict[tuple, tuple] = {}  # chunk layout -> (samples of each chunk, their indices in chunk order)
    lazy, values = {}, {}
    token = tokenize(rows, cols)  # the pick tasks' names: the same samples, the same tasks
    for name, arr in predictors.items():
        _check_grid(name, arr, grid)
        data = arr.data
        if isinstance(data, da.Array):
            if data.chunks not in by_chunk:
                chunks = _samples_by_chunk(rows, cols, data.chunks)
                by_chunk[data.chunks] = chunks, np.concatenate([idx for _, idx, _, _ in chunks]) if chunks else np.empty(0, np.int64)
            if by_chunk[data.chunks][0]:
                lazy[name] = _picked(data, by_chunk[data.chunks][0], token)
        elif len(samples):
            values[name] = np.asarray(data)[rows, cols]
    computed = dict(zip(lazy, dask.compute(*lazy.values(), optimize_graph=False))) if lazy else {}
    # (not optimised: fusing each read with its pick cost the client 0.5 CPU-s at 16x; _picked culls the graph itself)
    for name, arr in predictors.items():
        vals = np.full(len(samples), np.nan, np.float32)
        if name in computed:
            vals[by_chunk[arr.data.chunks][1]] = computed[name]
        elif name in values:
            vals[:] = values[name]
        check_sampled_values(name, vals, str(arr.attrs.get("source", name)))
        out[name] = vals
    return out


def check_sampled_values(name: str, vals: np.ndarray, source: str) -> None:
    """InputError naming the predictor's file `source`, the value and the count when its samples `vals` (n,, float32)
    hold +inf/-inf (prediction reads them as missing, so a model must not learn them) or a common fill value far
    outside the rest of its values (irrmap.core.fill_values.undeclared_fill: the rule `models fit` and prediction
    apply too): a nodata the file does not declare. NaN (a declared nodata) is the pool's missing value and passes."""
    n_inf = count_infinite(vals)
    if n_inf:
        raise InputError(f"{n_inf:,} of {len(vals):,} samples of predictor {name} are infinite (+inf/-inf, e.g. a ratio whose "
                         "denominator is 0)", source,
                         "write the predictor with nodata where it is undefined (e.g. gdal_calc.py --calc with "
                         "--NoDataValue, or numpy.where(den == 0, nan, num / den)) so those pixels are read as missing")
    found = undeclared_fill(vals)
    if found:
        fill, n, lo, hi = found
        raise InputError(fill_text(name, fill, n, len(vals), lo, hi), source,
                         f"declare it as the file's nodata (gdal_edit.py -a_nodata {fill:g} {source}) so those pixels are read "
                         "as missing, then build the pool again")


def _picked(data: da.Array, chunks: list[tuple], token: str) -> da.Array:
    """1-D dask array of `data`'s values at the samples of `chunks` (_samples_by_chunk's non-empty list; `token`
    names the samples), chunk after chunk: one _pick task per chunk, on that chunk's task of `data` (no delayed
    object per chunk, nothing tokenized per task)."""
    keys = data.__dask_keys__()
    name = f"pick-{data.name}-{token}"
    layer = {(name, k): (_pick, keys[i][j], r, c) for k, ((i, j), _, r, c) in enumerate(chunks)}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[data]).cull(set(layer))  # no read of a chunk without samples
    return da.Array(graph, name, (tuple(len(idx) for _, idx, _, _ in chunks),), dtype=data.dtype)


def _samples_by_chunk(rows: np.ndarray, cols: np.ndarray, chunks: tuple) -> list[tuple]:
    """((i, j), sample indices, rows and columns within the chunk) for every chunk (i, j) of a 2-D dask
    array's `chunks` that holds samples."""
    r_edges, c_edges = np.cumsum((0,) + tuple(chunks[0])), np.cumsum((0,) + tuple(chunks[1]))
    ci = np.searchsorted(r_edges, rows, side="right") - 1
    cj = np.searchsorted(c_edges, cols, side="right") - 1
    cell = ci * len(chunks[1]) + cj
    order = np.argsort(cell, kind="stable")
    cuts = np.flatnonzero(np.diff(cell[order])) + 1
    out = []
    for idx in np.split(order, cuts) if order.size else []:
        i, j = int(ci[idx[0]]), int(cj[idx[0]])
        out.append(((i, j), idx, rows[idx] - r_edges[i], cols[idx] - c_edges[j]))
    return out


def _pick(block, r: np.ndarray, c: np.ndarray) -> np.ndarray:
    """The values of a chunk at its rows `r` and columns `c` (the chunk itself is dropped by the task)."""
    return np.asarray(block)[r, c]



@dataclass(frozen=True)
class PoolAdvice:
    """What `check_pool_balance` tells the user to check, in the caller's words: config keys for `irrmap run`,
    options for `irrmap training pool`."""

    where: str  # where the empty-pool error points
    empty_fix: str  # the fix of the empty-pool error
    balance_fix: str  # the "Fix:" of the warning about a rare class


RUN_ADVICE = PoolAdvice(
    "training.pool",
    "check statistics/validation.txt (statistics that join no unit, or all zero), the cropland product and [training].scores",
    "check [statistics].area_unit against the table (statistics/validation.txt has the scale check) and the cropland product")


def check_pool_balance(labels: np.ndarray, zones: np.ndarray, advice: PoolAdvice = RUN_ADVICE) -> None:
    """DataError for an empty pool; a warning naming the counts and the likely cause when one class (1 irrigated,
    0 not) is under MIN_CLASS_SHARE of the pool. `zones` holds each sample's unit zone id. The one check of
    `irrmap run` (stage training.pool) and `irrmap training pool`; `advice` words its fixes for the caller."""
    labels, zones = np.asarray(labels), np.asarray(zones)
    n1, n0 = int((labels == 1).sum()), int((labels == 0).sum())
    if n0 + n1 == 0:
        raise DataError("the training pool is empty: no crop pixel where every threshold map agrees", advice.where, advice.empty_fix)
    rare = 1 if n1 < n0 else 0
    if min(n0, n1) >= MIN_CLASS_SHARE * (n0 + n1):
        return
    units = np.unique(zones)
    without = len(units) - len(np.unique(zones[labels == rare]))
    cause = ("statistics small for the units' cropland: an area unit too small (e.g. 'ha' for a table in 1000 ha) or a "
             "cropland product far larger than the real cropland" if rare == 1 else
             "statistics large for the units' cropland: an area unit too large (e.g. 'ha' for a table in mu) or a "
             "cropland product far smaller than the real cropland")
    log.warning("training pool: %d irrigated and %d not-irrigated samples (%.2g %% %s; %d of %d units gave none); likely cause: %s. "
                "Fix: %s", n1, n0, 100 * min(n0, n1) / (n0 + n1), "irrigated" if rare == 1 else "not irrigated",
                without, len(units), cause, advice.balance_fix)


POOL_ROW_GROUP = 1 << 17  # samples per row group of the pool file: at most this many points exist at once


def write_pool(samples: pd.DataFrame, grid: Grid, path, zone_codes: pd.Series | None = None, rows_per_group: int = POOL_ROW_GROUP) -> None:
    """Write the samples as GeoParquet (to_geodataframe's columns and points, read back by
    geopandas.read_parquet), row group by row group: the points and the Arrow copy of one group exist at a time,
    not of the whole pool (on the 64x demo's 947,406 samples, whole-frame GeoDataFrame.to_parquet added about
    440 MB to the stage's peak). The schema and its `geo` metadata are those GeoDataFrame.to_parquet writes
    (taken from its output for the first sample), with the bounding box of every point."""
    import io
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    if len(samples) == 0:
        to_geodataframe(samples, grid, zone_codes).to_parquet(path, index=False)
        return
    x, y = _pixel_centres(samples, grid)
    head = io.BytesIO()
    to_geodataframe(samples.iloc[:1], grid, zone_codes).to_parquet(head, index=False)
    schema = pq.read_schema(pa.BufferReader(head.getvalue()))
    geo = json.loads(schema.metadata[b"geo"])
    geo["columns"][geo["primary_column"]]["bbox"] = [float(x.min()), float(y.min()), float(x.max()), float(y.max())]
    schema = schema.with_metadata({**schema.metadata, b"geo": json.dumps(geo).encode()})
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, len(samples), rows_per_group):
            writer.write_table(_arrow_part(samples.iloc[start:start + rows_per_group], grid, zone_codes, schema))


_POINT_WKB = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])  # 21 bytes, unpadded


def _arrow_part(part: pd.DataFrame, grid: Grid, zone_codes: pd.Series | None, schema):
    """The Arrow table to_geodataframe(part).to_arrow(geometry_encoding="WKB") cast to `schema` gives, built from
    the columns: the points as little-endian ISO WKB written straight from x, y (what shapely writes for a 2-D
    point) instead of one shapely object per sample (16x demo, 244,060 samples: write_pool 1.05 -> 0.55 CPU-s)."""
    import json

    import pyarrow as pa
    from pyproj import Transformer

    x, y = _pixel_centres(part, grid)
    lon, lat = (x, y) if grid.is_geographic else Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    wkb = np.empty(len(part), _POINT_WKB)
    wkb["order"], wkb["type"], wkb["x"], wkb["y"] = 1, 1, x, y
    offsets = np.arange(0, (len(part) + 1) * _POINT_WKB.itemsize, _POINT_WKB.itemsize, dtype=np.int32)
    points = pa.Array.from_buffers(pa.binary(), len(part), [None, pa.py_buffer(offsets), pa.py_buffer(wkb.tobytes())])
    # pandas' conversion rules (from_pandas: NaN is null, as GeoDataFrame.to_arrow converts the columns)
    columns = {} if zone_codes is None else {"unit": pa.array(zone_codes.reindex(part["zone"]).values, from_pandas=True)}
    columns |= {"lon": pa.array(np.asarray(lon, np.float64), from_pandas=True), "lat": pa.array(np.asarray(lat, np.float64), from_pandas=True)}
    columns |= {c: pa.array(part[c].to_numpy(), from_pandas=True) for c in part.columns}
    columns[json.loads(schema.metadata[b"geo"])["primary_column"]] = points
    return pa.table(columns).cast(schema)


def _pixel_centres(samples: pd.DataFrame, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """x, y (grid CRS) of the samples' pixel centres."""
    x = grid.transform.c + grid.transform.a * (samples["col"].to_numpy() + 0.5)
    y = grid.transform.f + grid.transform.e * (samples["row"].to_numpy() + 0.5)
    return x, y


def to_geodataframe(samples: pd.DataFrame, grid: Grid, zone_codes: pd.Series | None = None) -> gpd.GeoDataFrame:
    """Samples as points at pixel centres in the grid's CRS, with unit codes and lon/lat columns (EPSG:4326,
    degrees; the same PROJ transformation GeoSeries.to_crs applies, on the coordinate arrays, so no second set of
    point objects is built). The frame shares the sample columns (copy-on-write), so the caller keeps no copy."""
    from pyproj import Transformer

    x, y = _pixel_centres(samples, grid)
    lon, lat = (x, y) if grid.is_geographic else Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(x, y)
    gdf = gpd.GeoDataFrame(samples, geometry=gpd.points_from_xy(x, y), crs=grid.crs)
    gdf.insert(0, "lat", np.asarray(lat, np.float64))
    gdf.insert(0, "lon", np.asarray(lon, np.float64))
    if zone_codes is not None:
        gdf.insert(0, "unit", zone_codes.reindex(samples["zone"]).values)
    return gdf
