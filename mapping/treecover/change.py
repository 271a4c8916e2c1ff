"""Change between two epochs of percent tree canopy cover: change classes, forest/non-forest, per-unit areas.

Inputs are percent cover (0..100; values outside, e.g. MODIS VCF's 200 water and 253 fill, are missing).
Forest is canopy cover above `forest_threshold` percent. The FAO definition uses "canopy cover of more than
10 percent" (FAO 2018, Global Forest Resources Assessment 2020: Terms and Definitions, FRA Working Paper
188); the Kyoto Protocol lets each country choose its minimum between 10 and 30 percent (UNFCCC Decision
11/CP.7, Marrakesh Accords, 2001), and Hansen et al. (2013, Science 342, 850-853) report forest at several
thresholds, 30 % being the one Global Forest Watch shows by default. Default here: 30.

Classes (uint8, nodata 255 where either epoch is missing), with d = `change_threshold` percentage points and
delta = cover_b - cover_a:
  1 non-forest, stable (|delta| < d)    4 forest, stable             7 forest loss: forest -> non-forest
  2 non-forest, cover gain (delta >= d)  5 forest, cover gain          8 forest gain: non-forest -> forest
  3 non-forest, cover loss (delta <= -d) 6 forest, cover loss (degradation)
Classes 1-6 keep their forest status in both epochs; a status change is always 7 or 8, whatever its delta,
so that forest area b - forest area a = area(8) - area(7) in every unit.

Per-unit tables sum true pixel areas (irrmap.core.grid.Grid.pixel_area) over the pixels with data in both
epochs (the compared area), in fixed point (irrmap.core.fixed_sum: the same bytes whatever the chunk size):
mean cover of each epoch (area-weighted), forest area of each epoch, and the area of each class.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import numpy as np
import pandas as pd
import xarray as xr
from irrmap.mapping.treecover.codes import check_code_pair, refuse_code_layer
from irrmap.mapping.treecover.epoch_units import check_epoch_units
from irrmap.mapping.treecover.percent import BYTE_FIX_SCALE, check_percent, refuse_byte_scaled, warn_blended_flags
from irrmap.mapping.treecover.sample import decoded_sample, nodata_values
from rasterio.windows import Window

from irrmap.core import fixed_sum, palettes
from irrmap.core.areas import from_m2, normalise_area_unit
from irrmap.core.atomic import atomic_path
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.layers import data_bands, layer_listing
from irrmap.core.raster_read import open_raster, read_raster
from irrmap.core.raster_write import write_raster
from irrmap.core.relative_path import relative_to_folder

log = logging.getLogger(__name__)

NODATA = 255
CLASSES = {
    1: ("nonforest_stable", "non-forest, stable"),
    2: ("nonforest_cover_gain", "non-forest, cover gain"),
    3: ("nonforest_cover_loss", "non-forest, cover loss"),
    4: ("forest_stable", "forest, stable"),
    5: ("forest_cover_gain", "forest, cover gain"),
    6: ("forest_cover_loss", "forest, cover loss (degradation)"),
    7: ("forest_loss", "forest loss (forest to non-forest)"),
    8: ("forest_gain", "forest gain (non-forest to forest)"),
}
DEFAULT_CHANGE_THRESHOLD = 10.0
DEFAULT_FOREST_THRESHOLD = 30.0


def legend(change_threshold: float = DEFAULT_CHANGE_THRESHOLD, forest_threshold: float = DEFAULT_FOREST_THRESHOLD) -> str:
    """The band description of a change map: every code with its meaning and the thresholds."""
    codes = "; ".join(f"{k} {label}" for k, (_, label) in CLASSES.items())
    return (f"tree-cover change classes: {codes}; {NODATA} no data (forest = canopy cover > {forest_threshold:g} %, "
            f"gain/loss = change of at least {change_threshold:g} percentage points)")


def _check_thresholds(change_threshold: float, forest_threshold: float) -> None:
    if not 0 < change_threshold <= 100:
        raise InputError(f"change threshold {change_threshold:g} is not within (0, 100] percentage points", "--change-threshold",
                         "use e.g. 10")
    if not 0 <= forest_threshold < 100:
        raise InputError(f"forest threshold {forest_threshold:g} is not within [0, 100) percent", "--forest-threshold",
                         "use a canopy cover between 10 and 30 (FAO: 10; default 30)")


def change_classes(a: np.ndarray, b: np.ndarray, *, change_threshold: float = DEFAULT_CHANGE_THRESHOLD,
                   forest_threshold: float = DEFAULT_FOREST_THRESHOLD) -> np.ndarray:
    """uint8 change classes (module docstring) of two percent-cover arrays of one shape; NaN or values
    outside 0..100 in either epoch give NODATA."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        valid = (a >= 0) & (a <= 100) & (b >= 0) & (b <= 100)
        fa, fb = a > forest_threshold, b > forest_threshold
        delta = b - a
        direction = np.where(delta >= change_threshold, 1, np.where(delta <= -change_threshold, 2, 0))
    out = np.where(fa, 4, 1) + direction
    out = np.where(fa & ~fb, 7, np.where(~fa & fb, 8, out))
    return np.where(valid, out, NODATA).astype(np.uint8)


def change_map(a: xr.DataArray, b: xr.DataArray, *, change_threshold: float = DEFAULT_CHANGE_THRESHOLD,
               forest_threshold: float = DEFAULT_FOREST_THRESHOLD) -> xr.DataArray:
    """Lazy uint8 (y, x) change classes of two percent-cover DataArrays on one grid (dask or numpy); a pixel either
    array declares missing (nodata, _FillValue, missing_value: irrmap.core.array_input.decode_declared) is NODATA."""
    from irrmap.core.array_input import decode_declared

    _check_thresholds(change_threshold, forest_threshold)
    a, b = decode_declared(a), decode_declared(b)
    res = da.map_blocks(change_classes, _dask(a), _dask(b), change_threshold=change_threshold, forest_threshold=forest_threshold,
                        dtype=np.uint8, meta=np.empty((0, 0), np.uint8))
    out = xr.DataArray(res, dims=("y", "x"), coords={"y": a.y, "x": a.x}, name="change")
    return out.rio.write_crs(a.rio.crs).rio.write_transform(a.rio.transform(recalc=False))


def _dask(arr: xr.DataArray) -> da.Array:
    return arr.data if isinstance(arr.data, da.Array) else da.from_array(np.asarray(arr.data), chunks=1024)


# ---- per-unit tables ------------------------------------------------------------------------------------
_SUMS = ["area", "compared", "cover_a", "cover_b", "forest_a", "forest_b", *[name for name, _ in CLASSES.values()]]


@dataclass
class Zones:
    """Zone ids (int, 0 or negative = outside every unit) on the epochs' grid, and their table: columns zone,
    code, name; `coverage`: each unit's share on the grid (unit_coverage.units_coverage), None when unknown."""

    raster: xr.DataArray
    table: pd.DataFrame
    coverage: pd.DataFrame | None = None


def _sums_block(zones, a, b, grid: Grid, n_zones: int, change_threshold: float, forest_threshold: float, block_info=None):
    (r0, r1), (c0, c1) = block_info[0]["array-location"]
    area = np.asarray(grid.pixel_area(Window(c0, r0, c1 - c0, r1 - r0)), dtype=np.float64).ravel()
    z = np.asarray(zones).ravel().astype(np.int64)
    z = np.where(z > n_zones, n_zones + 1, np.maximum(z, 0))  # bin n_zones + 1: ids beyond the zone table
    cls = change_classes(a, b, change_threshold=change_threshold, forest_threshold=forest_threshold).ravel()
    av, bv = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    both = cls != NODATA
    weights = [np.ones_like(area), both, np.where(both, av, 0.0), np.where(both, bv, 0.0),
               both & (av > forest_threshold), both & (bv > forest_threshold), *[cls == k for k in CLASSES]]
    out = np.stack([fixed_sum.bincount_parts(z, area * w, n_zones + 2) for w in weights], axis=1)  # (2, sums, zones) int64
    return out[None, None]


def unit_sums(a: xr.DataArray, b: xr.DataArray, zones: xr.DataArray, n_zones: int, grid: Grid, *,
              change_threshold: float = DEFAULT_CHANGE_THRESHOLD, forest_threshold: float = DEFAULT_FOREST_THRESHOLD) -> pd.DataFrame:
    """Area sums (m2) per zone id 1..n_zones, window by window, in fixed point (irrmap.core.fixed_sum: each pixel's
    term rounded to 2**-32 m2, integer sums, one float at the end), so the table is the same to the byte whatever
    the chunk size or the order of the windows: `area` (every pixel of the zone),
    `compared` (data in both epochs), `cover_a`/`cover_b` (sum of cover x area over the compared pixels),
    `forest_a`/`forest_b` (forest area), and each class's area (CLASSES names). Index: zone id, with
    n_zones + 1 gathering ids above n_zones. Pixels of zone 0, of negative ids or of the zones' own nodata
    marker (attrs["nodata"], `_FillValue`, `missing_value`) are outside every unit; the covers' declared nodata is
    missing (irrmap.core.array_input.decode_declared)."""
    from irrmap.core.array_input import decode_declared

    _check_thresholds(change_threshold, forest_threshold)
    # what each array declares missing (nodata, _FillValue, missing_value; an undecoded scale applied): NaN in the
    # covers, zone 0 in the zones (an array opened by rioxarray without masking keeps its fill as numbers)
    a, b, zones = decode_declared(a), decode_declared(b), decode_declared(zones, codes_fill=0)
    z, aa, bb = _dask(zones), _dask(a), _dask(b)
    aa, bb = aa.rechunk(z.chunks), bb.rechunk(z.chunks)
    parts = da.map_blocks(_sums_block, z, aa, bb, grid, n_zones, change_threshold, forest_threshold, new_axis=[2, 3, 4],
                          chunks=((1,) * len(z.chunks[0]), (1,) * len(z.chunks[1]), (2,), (len(_SUMS),), (n_zones + 2,)), dtype=np.int64,
                          meta=np.empty((0, 0, 0, 0, 0), np.int64))
    whole, fraction = parts.sum(axis=(0, 1), dtype=np.int64).compute()  # integer parts: exact in any order
    sums = fixed_sum.join(whole, fraction)
    return pd.DataFrame(sums[:, 1:].T, columns=_SUMS, index=pd.Index(np.arange(1, n_zones + 2), name="zone"))


def unit_table(sums: pd.DataFrame, zone_table: pd.DataFrame, area_unit: str = "m2") -> pd.DataFrame:
    """The per-unit table from unit_sums: code, name, areas in `area_unit`, mean cover (percent) of each
    epoch and its change (percentage points) over the compared area (NaN where a unit has none)."""
    unit = normalise_area_unit(area_unit)
    zt = zone_table.set_index("zone")
    out = pd.DataFrame({"code": zt["code"].reindex(sums.index).values, "name": zt["name"].reindex(sums.index).values}, index=sums.index)
    compared = sums["compared"].where(sums["compared"] > 0)
    out[f"area_{unit}"] = from_m2(sums["area"], unit)
    out[f"compared_area_{unit}"] = from_m2(sums["compared"], unit)
    out["mean_cover_a"] = sums["cover_a"] / compared
    out["mean_cover_b"] = sums["cover_b"] / compared
    out["mean_cover_change"] = out["mean_cover_b"] - out["mean_cover_a"]
    out[f"forest_area_a_{unit}"] = from_m2(sums["forest_a"], unit)
    out[f"forest_area_b_{unit}"] = from_m2(sums["forest_b"], unit)
    out[f"forest_net_change_{unit}"] = from_m2(sums["forest_b"] - sums["forest_a"], unit)
    for name, _ in CLASSES.values():
        out[f"{name}_{unit}"] = from_m2(sums[name], unit)
    return out.reset_index()


def units_as_zones(units, grid: Grid, *, chunks: int = 1024) -> Zones:
    """Zones of an irrmap.core.units.AdminUnits on `grid` (zone ids and the table's code and name)."""
    from irrmap.mapping.treecover.unit_coverage import units_coverage

    return Zones(units.rasterize(grid, chunks=chunks), units.zone_table()[["zone", "code", "name"]], units_coverage(units, grid))


def zones_from_raster(path, table_path, grid: Grid, *, chunks: int = 1024) -> Zones:
    """Zones of a zone raster (`irrmap units rasterize`; 0 = outside) with its zone -> code table (default:
    the CSV beside the raster; columns zone, code and optionally name). Raises InputError for a missing table
    or column, or zone ids that are not whole numbers."""
    from irrmap.core.tables import read_table

    table_path = Path(table_path) if table_path else Path(path).with_suffix(".csv")
    table = read_table(table_path, what="zone table", require=("zone", "code"))
    try:
        zone = table["zone"].astype(int)
    except ValueError:
        raise InputError("the zone column holds values that are not whole numbers", str(table_path), "give the zone ids 1..N") from None
    out = pd.DataFrame({"zone": zone.values, "code": table["code"].values,
                        "name": (table["name"] if "name" in table.columns else table["code"]).values})
    raster = read_raster(path, grid, kind="categorical", chunks=chunks, name="zone")
    return Zones(raster, out)


#: band 1's description in `irrmap treecover predict` maps (mapping.treecover.predict.DESCRIPTIONS[0]); band 2 is
#: the uncertainty
PREDICTED_COVER = "tree canopy cover, percent"


def check_cover_layers(path, role: str) -> None:
    """Percent cover is band 1 of `path`: the file's only layer (an alpha band aside), or the cover band of an
    `irrmap treecover predict` map (band 1 described PREDICTED_COVER, band 2 its uncertainty). InputError (naming
    `role`, the file and its layers) for any other file of several layers, e.g. two epochs stacked as bands, whose
    band 1 would be read silently."""
    with open_raster(path) as src:
        bands = data_bands(src)
        if len(bands) <= 1 or (src.descriptions[0] or "").strip().casefold() == PREDICTED_COVER:
            return
        listing = layer_listing(src)
    raise InputError(f"{role} has {len(bands)} layers ({listing}); an epoch is one percent-cover layer", os.fspath(path),
                     f"extract the epoch's cover layer: gdal_translate -b N {Path(path).name} cover.tif, and give cover.tif")


def stored_percent_range(path, scale=None, band: int = 1) -> tuple[float, float] | None:
    """The stored values of band `band` of `path` that decode to 0..100 % (value x scale + offset, with `scale`
    or else the file's own scale, and the file's offset), as read_raster's `valid_range` (which applies to the
    stored values, before any resampling); None for a zero scale."""
    from irrmap.core.raster_read import open_raster

    with open_raster(path) as src:
        file_scale = (src.scales[band - 1] if src.scales else 1.0) or 1.0
        offset = (src.offsets[band - 1] if src.offsets else 0.0) or 0.0
    s = float(scale) if scale is not None else float(file_scale)
    if s == 0 or not np.isfinite(s):
        return None
    lo, hi = sorted(((0.0 - offset) / s, (100.0 - offset) / s))
    slack = 1e-9 * (hi - lo)  # rounding of the division; values just outside are masked by change_map's 0..100 test anyway
    return (lo - slack, hi + slack)


def _percent_warnings(path, scale, nodata, role: str = "the epoch") -> np.ndarray:
    """The decoded sample of an epoch, after refusing a code layer (loss years, classes; InputError,
    irrmap.mapping.treecover.codes) and an epoch whose decimated sample holds fractions 0..1 rather than percent (DataError,
    irrmap.mapping.treecover.percent.check_percent; unless `scale` was given, which states the decoding), and warn
    when it holds values outside 0..100 (they are missing), MODIS VCF flags blended with cover by resampling
    among them, or class codes (irrmap.mapping.treecover.codes.class_codes; then no --nodata is suggested)."""
    if scale is None:
        vals = check_percent(path, role=role, scale=scale, nodata=nodata,
                             fix="pass --scale 100 (both epochs must then be fractions), or give both epochs in percent 0..100",
                             byte_fix=BYTE_FIX_SCALE)
    else:
        refuse_code_layer(path, role=role)
        vals = decoded_sample(path, scale=scale, nodata=nodata)
        refuse_byte_scaled(path, vals, role=role, fix=BYTE_FIX_SCALE)  # percent stored 0..255, --scale not decoding it
    if vals.size == 0:
        return vals
    classes = warn_blended_flags(path, vals, role=role)  # True: class codes, warned about as such
    outside = np.unique(vals[(vals < 0) | (vals > 100)])
    if outside.size and classes:
        log.warning("%s: values outside 0..100 %% (%s) are taken as missing; they look like land-cover class codes (warned above), which no "
                    "--nodata makes into percent cover", path, ", ".join(f"{v:g}" for v in outside[:6]))
    elif outside.size:
        log.warning("%s: values outside 0..100 %% (%s) are taken as missing (MODIS VCF: 200 water, 253 fill) (fix: if they are "
                    "cover, decode them to percent with --scale; if they are flags, %s)",
                    path, ", ".join(f"{v:g}" for v in outside[:6]), _nodata_fix(path, nodata, scale, outside))
    inside = vals[(vals >= 0) & (vals <= 100)]
    if scale is not None and inside.size and 0 < inside.max() <= 1.0:
        log.warning("%s: every value lies within 0..1 after --scale %g: fractions, not percent? They are read as percent (at most 1 %% "
                    "cover) (fix: pass --scale 100 for fractions)", path, scale)
    return vals


#: most flag values a --nodata fix lists; more distinct values outside 0..100 are no flag codes (blends, or another scale)
MAX_FLAGS = 8


def _nodata_fix(path, nodata, scale, outside: np.ndarray) -> str:
    """The command-line fix that declares the flags `outside` (decoded values outside 0..100 % in the sample of `path`)
    missing: `--nodata` with every value already missing (the given --nodata values, else the file's own nodata, which
    --nodata replaces) and the flags as stored (decoded / `scale`), e.g. "--nodata 200 253"."""
    from irrmap.core.raster_read import open_raster

    first, fills = nodata_values(nodata)
    with open_raster(path) as src:
        own = src.nodatavals[0]
        file_scale = (src.scales[0] if src.scales else 1.0) or 1.0
        offset = (src.offsets[0] if src.offsets else 0.0) or 0.0
    if first is not None:
        declared = [first, *fills]
    else:
        declared = [float(own)] if own is not None and np.isfinite(own) else []
    s = float(scale) if scale else float(file_scale)
    stored = [(float(v) - offset) / s for v in outside]
    if len(stored) > MAX_FLAGS:
        return (f"declare each flag value with --nodata (several values allowed: --nodata V1 V2 ...; {len(stored)} distinct values "
                "found in the sample, more than flag codes usually are)")
    values = list(dict.fromkeys(f"{v:g}" for v in declared + stored))
    return f"declare them missing: pass --nodata {' '.join(values)} (the values given to --nodata replace the files' own nodata)"


def _warn_unlisted(sums: pd.DataFrame, zone_table: pd.DataFrame, area_unit: str) -> None:
    """Warn about pixels whose zone id the zone table lacks: they belong to no row of the table."""
    unlisted = sums.loc[~sums.index.isin(zone_table["zone"]) & (sums["area"] > 0)]
    if len(unlisted):
        unit = normalise_area_unit(area_unit)
        log.warning("%.6g %s of the grid carry zone ids that the zone table lacks (%s) and are left out of the table (fix: give the "
                    "zone table written with the zone raster by `irrmap units rasterize`)", from_m2(unlisted["area"].sum(), unit), unit,
                    ", ".join(str(z) if z <= int(zone_table["zone"].max()) else f"above {int(zone_table['zone'].max())}"
                              for z in unlisted.index[:6]))


#: resampling of epoch B onto A's grid (--resampling). Nearest (the default) keeps every value one of B's own, so
#: the thresholds classify B's pixels; bilinear blends neighbours across the forest threshold (the Gewata VCF
#: warped to EPSG:4326 and read back bilinearly turned a net forest change of -4.6 km2 into +12.9 km2); average
#: is the aggregate for a B much finer than A
RESAMPLING = ("nearest", "average", "bilinear")


def _check_resampling(resampling) -> str:
    method = resampling or "nearest"
    if method not in RESAMPLING:
        raise InputError(f"unknown resampling {method!r}", "--resampling", f"use one of {', '.join(RESAMPLING)} (default nearest)")
    return method


def _off_lattice(src, grid: Grid) -> str | None:
    """How raster `src` (open) is off `grid`'s lattice ("CRS ...", "pixel size ...", "origin ... pixels off"), or None
    when it is on it: one CRS (equal, or the same EPSG code / definition string), one pixel size, origins whole pixels
    apart."""
    a, b = grid.crs, src.crs
    if b is None or not (a == b or a.to_string() == b.to_string() or (a.to_epsg() is not None and a.to_epsg() == b.to_epsg())):
        return f"CRS {b.to_string() if b else 'none'} against {a.to_string()}"
    s, g = src.transform, grid.transform
    if not (np.isclose(s.a, g.a, rtol=1e-9) and np.isclose(s.e, g.e, rtol=1e-9)):
        return f"pixel size {abs(s.a):.6g} x {abs(s.e):.6g} against {abs(g.a):.6g} x {abs(g.e):.6g}"
    col, row = (g.c - s.c) / s.a, (g.f - s.f) / s.e
    if abs(col - round(col)) > 1e-6 or abs(row - round(row)) > 1e-6:
        return f"origin {col - round(col):+.3g}, {row - round(row):+.3g} pixels off"
    return None


def _warn_off_lattice(epoch_b, grid: Grid, method: str, default: bool) -> None:
    """Warn that EPOCH_B is resampled onto EPOCH_A's grid (another CRS, pixel size or origin), naming the method."""
    with open_raster(epoch_b) as src:
        how = _off_lattice(src, grid)
    if how is None:  # the same lattice, its CRS only spelt differently: nearest neighbour copies the pixels
        return
    log.warning("EPOCH_B %s is not on EPOCH_A's grid (%s): it is resampled onto it by %s%s, so their pixels are not compared one to "
                "one (fix: warp it onto EPOCH_A's grid yourself, gdalwarp -r near -t_srs %s -tr %g %g -te <EPOCH_A's bounds>, or "
                "give epochs on one grid)", epoch_b, how, method,
                " (the default; --resampling average when EPOCH_B is much finer than EPOCH_A)" if default else "",
                grid.crs.to_string(), abs(grid.transform.a), abs(grid.transform.e))


def change_to_file(out, epoch_a, epoch_b, *, change_threshold: float = DEFAULT_CHANGE_THRESHOLD,
                   forest_threshold: float = DEFAULT_FOREST_THRESHOLD, scale=None, nodata=None, table=None, zones: Zones | None = None,
                   area_unit: str = "m2", chunks: int = 1024, resampling: str | None = None) -> list[Path]:
    """Write OUT (uint8 change classes COG, nodata 255, legend in the band description) from band 1 of two
    percent-cover rasters (the second read onto the first's grid; `irrmap treecover predict` maps carry the
    cover in band 1 and its uncertainty in band 2) and, with `table`, a per-unit CSV (unit_table, with coverage and
    on_grid_share: unit_coverage.mark_coverage, NaN areas off the grid; one row "all" for the whole grid when `zones` is None). Returns the written paths. Raises InputError for a missing
    epoch or one that is a code layer, not cover (Hansen GFC lossyear, a class map: irrmap.mapping.treecover.codes),
    DataError for fractions (irrmap.mapping.treecover.percent), InputError for epochs in different units or a `scale` that
    leaves almost every pixel missing (check_epoch_units) and an unknown `resampling`. `resampling`: how epoch B is read
    onto A's grid when it is not on A's lattice (RESAMPLING; default nearest, with a warning naming it; recorded in the
    tag epoch_b_resampling, "none" for a plain copy). `nodata`: one stored value or several (MODIS VCF 200 water and 253
    fill: (200, 253)), all missing in both epochs, replacing the files' own nodata. Tags epoch_a/epoch_b: the epochs' paths relative to OUT's folder
    (irrmap.core.relative_path)."""
    _check_thresholds(change_threshold, forest_threshold)
    normalise_area_unit(area_unit)
    from irrmap.core import dataset_names

    epoch_a, epoch_b = dataset_names.normalise(epoch_a), dataset_names.normalise(epoch_b)  # /vsizip/ names kept whole
    for name, p in (("EPOCH_A", epoch_a), ("EPOCH_B", epoch_b)):
        if not dataset_names.is_file(p):
            raise InputError(f"{name} not found", os.fspath(p), "give a percent tree-cover raster (e.g. `irrmap treecover predict` output)")
    for role, p in (("EPOCH_A", epoch_a), ("EPOCH_B", epoch_b)):
        check_cover_layers(p, role)
    check_epoch_units((("EPOCH_A", epoch_a), ("EPOCH_B", epoch_b)), scale, nodata)
    grid = Grid.from_raster(epoch_a)
    from irrmap.core.footprint import warn_partial_footprint

    # epoch B covering part of A: the change map is nodata elsewhere and forest_area_a counts only the overlap, while
    # the table's coverage said 'whole' (it is the units' coverage of A's grid)
    warn_partial_footprint(epoch_b, grid, f"EPOCH_B {epoch_b}", grid_name="EPOCH_A's grid",
                           fix="give epochs of the same area (crop EPOCH_A to EPOCH_B: gdal_translate -projwin); the change "
                               "and every area of the table cover only their overlap (compared_area_m2)")
    samples = {os.fspath(p): (role, _percent_warnings(p, scale, nodata, role)) for role, p in (("EPOCH_A", epoch_a), ("EPOCH_B", epoch_b))}
    check_code_pair(samples)  # loss years 0..23 beside cover up to 100
    # values outside 0..100 % (MODIS VCF 200 water, 253 fill) are masked on each file's own grid, before epoch B
    # is resampled onto A's grid: averaged with the flags they would pass for cover (0.75 x 50 + 0.25 x 200 = 87.5)
    # the units were decided per epoch above (check_epoch_units): read_raster's own "already scaled" warning would misjudge them
    first, fills = nodata_values(nodata)  # several --nodata values (MODIS VCF 200 253): the first replaces the files' nodata
    a = read_raster(epoch_a, grid, band=1, chunks=chunks, scale=scale, nodata=first, fill_values=fills,
                    valid_range=stored_percent_range(epoch_a, scale), warn_scaled=False, name="cover_a")
    method = _check_resampling(resampling)
    b = read_raster(epoch_b, grid, band=1, chunks=chunks, scale=scale, nodata=first, fill_values=fills,
                    valid_range=stored_percent_range(epoch_b, scale), warn_scaled=False, resampling=method, name="cover_b")
    if b.attrs["resampling"] != "none":
        _warn_off_lattice(epoch_b, grid, method, resampling is None)
    classes = change_map(a, b, change_threshold=change_threshold, forest_threshold=forest_threshold)
    here = Path(out).parent  # the epochs named relative to OUT's folder: the same bytes for the same run in another folder
    tags = {"stage": "treecover change", "epoch_a": relative_to_folder(epoch_a, here), "epoch_b": relative_to_folder(epoch_b, here),
            "epoch_b_resampling": b.attrs["resampling"],
            "change_threshold_pp": change_threshold, "forest_threshold_percent": forest_threshold,
            "legend": "; ".join(f"{k}={name}" for k, (name, _) in CLASSES.items()) + f"; {NODATA}=nodata"}
    paths = [write_raster(out, classes, dtype="uint8", nodata=NODATA, descriptions=[legend(change_threshold, forest_threshold)], tags=tags,
                          colours=palettes.TREECOVER_CHANGE)]
    if table:
        if zones is None:
            ones = xr.DataArray(da.ones(grid.shape, dtype=np.int32, chunks=chunks), dims=("y", "x"))
            zones = Zones(ones, pd.DataFrame({"zone": [1], "code": ["all"], "name": ["all"]}))
        n_zones = int(zones.table["zone"].max()) if len(zones.table) else 0
        sums = unit_sums(a, b, zones.raster, n_zones, grid, change_threshold=change_threshold, forest_threshold=forest_threshold)
        _warn_unlisted(sums, zones.table, area_unit)
        result = unit_table(sums, zones.table, area_unit)
        result = result[result["zone"].isin(zones.table["zone"])]
        from irrmap.mapping.treecover.unit_coverage import mark_coverage

        result = mark_coverage(result, zones.coverage, listing=table)  # columns coverage, on_grid_share; NaN off the grid
        with atomic_path(Path(table)) as tmp:
            result.to_csv(tmp, index=False)
        paths.append(Path(table))
    return paths
