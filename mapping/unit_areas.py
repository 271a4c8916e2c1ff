"""The analyst's summary table: mapped irrigated area per admin unit at every level, beside the statistic of
the units at the statistics' level (mapping/irrigated_area_by_unit.csv)."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import rasterio

from irrmap.core.errors import GridError
from irrmap.core.georef import grid_of, north_up
from irrmap.core.grid import Grid
from irrmap.core.partial_units import OFF_GRID
from irrmap.core.zonal import zonal_area

M2_PER_HA = 1e4

log = logging.getLogger(__name__)


def irrigated_m2_by_unit(class_path, cropland, zones_path, units: pd.DataFrame, nodata: int = 255) -> pd.Series:
    """The mapped irrigated area (m2) of each finest unit, by code: the sum over the unit's pixels of the class map's
    irrigated pixels (class 1) x the float cropland fraction x true pixel area (irrmap.mapping.aggregate.irrigated_share,
    irrmap.core.zonal.zonal_area: exact per row on geographic grids); class 0 and `nodata` count as 0.

    The one definition of a unit's mapped area: mapping/irrigated_area_by_unit.csv, the run report's statistics
    section (the evaluation stage) and the area product (the same share, mapping.aggregate.irrigated_share_map) all
    take it. Not from mapping/fraction.tif: its uint8 round(100 x f_crop) is a rounded display layer, off by up to
    0.5 percentage points a pixel and 0 for f_crop < 0.005 (-0.11 % in all, up to 4 % for a small unit on the demo).

    `class_path`: the class map (mapping/class.tif: 1 irrigated, 0 not, `nodata`), read north-up (a file stored
    south-up is not mirrored onto the zones); `cropland`: the run's cropland fraction (0..1, NaN or its nodata =
    none), a raster path (read as irrmap.core.raster_read reads it) or an xarray.DataArray (y, x); `zones_path`,
    `units`: as for `irrigated_area_by_unit`. GridError when a map is not on the zones' grid; InputError for a class
    map with other values (fraction.tif given instead) or a cropland that is no 0..1 fraction."""
    from irrmap.mapping.aggregate import irrigated_share

    crop_at = _cropland_reader(cropland, zones_path)
    zones_grid = Grid.from_raster(zones_path)
    with rasterio.open(class_path) as opened:
        src = north_up(opened)  # a map stored south-up or east-left: its pixels north-up, as the zones are read
        if not grid_of(src).aligned_with(zones_grid):
            raise GridError(f"the class map is not on the zones' grid: {grid_of(src).mismatch_text(zones_grid)}", str(class_path),
                            "give the class map and the zone raster of one run (or resample the map onto the zones' grid)")
        per_zone = zonal_area(zones_path, int(units["zone"].max()),
                              weights=lambda w: irrigated_share(src.read(1, window=w), crop_at(w), nodata, str(class_path)))
    return pd.Series(per_zone[units["zone"].to_numpy()], index=units["code"].astype(str).to_numpy(), name="mapped_m2")


def unpredicted_cropland_m2_by_unit(fraction_path, cropland, zones_path, units: pd.DataFrame, nodata: int = 255) -> pd.Series:
    """The cropland area (m2) of each finest unit, by code, that the map leaves unpredicted: the sum over the unit's
    pixels where the map (`fraction_path`: class.tif or fraction.tif, which hold `nodata` on the same pixels) holds
    `nodata` and the cropland fraction is above 0, of cropland x true pixel area (irrmap.core.zonal.zonal_area).
    mapping.predict leaves a crop pixel unpredicted (nodata) where a predictor has no value; `irrigated_m2_by_unit`
    counts it as 0, so a unit's mapped area is short by up to this much.

    `cropland`: the cropland fraction (0..1; NaN or its nodata = no cropland), a raster path or an xarray.DataArray
    (y, x), on the zones' grid as the fraction map is (both read north-up; GridError otherwise)."""
    crop_at = _cropland_reader(cropland, zones_path)
    with rasterio.open(fraction_path) as f_open:
        frac = north_up(f_open)
        zones_grid = Grid.from_raster(zones_path)
        if not grid_of(frac).aligned_with(zones_grid):
            raise GridError(f"the fraction map is not on the zones' grid: {grid_of(frac).mismatch_text(zones_grid)}", str(fraction_path),
                            "give the maps and the zone raster of one run")

        def weight(window):
            c = crop_at(window)
            return np.where((frac.read(1, window=window) == nodata) & np.isfinite(c) & (c > 0), c, 0.0)

        per_zone = zonal_area(zones_path, int(units["zone"].max()), weights=weight)
    return pd.Series(per_zone[units["zone"].to_numpy()], index=units["code"].astype(str).to_numpy(), name="unpredicted_m2")


def _cropland_reader(cropland, zones_path):
    """window -> float64 cropland fraction (NaN where missing) of a path (read as irrmap.core.raster_read reads it:
    its nodata, scale and offset tags decoded) or a DataArray, either on the zones' grid (GridError otherwise)."""
    import xarray as xr

    from irrmap.core.raster_read import read_raster

    zones_grid = Grid.from_raster(zones_path)
    if isinstance(cropland, xr.DataArray):
        a, on = cropland, Grid.from_dataarray(cropland)
    else:
        with rasterio.open(cropland) as opened:
            on = grid_of(north_up(opened))
        a = read_raster(cropland, zones_grid, name="cropland") if on.aligned_with(zones_grid) else None
    if not on.aligned_with(zones_grid):
        raise GridError(f"the cropland is not on the zones' grid: {on.mismatch_text(zones_grid)}",
                        str(getattr(cropland, "name", None) or cropland), "give the maps and the zone raster of one run")
    return lambda w: np.asarray(a[w.toslices()].values, dtype=np.float64)


def irrigated_area_by_unit(class_path, zones_path, units: pd.DataFrame, levels: list[str], statistics: pd.Series | None = None,
                           statistics_level: str | None = None, nodata: int = 255, *, cropland,
                           partial_rows: pd.DataFrame | None = None, listing=None) -> pd.DataFrame:
    """One row per unit and level, columns TABLE_COLUMNS: level, code, name (finest level only), irrigated_area_ha,
    unpredicted_cropland_ha, statistic_ha, coverage, statistic_on_grid_ha, difference_ha; areas in ha (1 ha = 1e4 m2).

    `class_path`: the class map (mapping/class.tif: 1 irrigated, 0 not, `nodata` no cropland or not predicted);
    `cropland` (keyword): the run's cropland fraction (0..1), a path or a DataArray on the same grid; `zones_path`:
    the unit zone raster (0 = no unit) on the same grid; `units`: the units stage's table (columns zone, code, name,
    one column per coarser level, e.g. city, province, and units/units.csv's on_grid_share and partial: without
    them every unit counts as whole); `levels`: finest first; `statistics`: area (m2) by code at `statistics_level`;
    `partial_rows`: the thresholds' treatment of the units cut by the grid (training/partial_units.csv, as
    irrmap.core.partial_units.on_grid_targets returns it: code, used_m2, action), None when there is none;
    `listing`: the file the partial/off-grid warning names. Area: `irrigated_m2_by_unit` (class 1 x cropland x
    true pixel area, not fraction.tif's rounded percent). Errors: those of `irrigated_m2_by_unit`.

    coverage (`unit_coverage`): 'whole', 'partial' (cut by the grid's bounds) or 'off grid' (no pixel of the grid: no
    area on it, or a sliver holding no pixel centre); a coarser unit is whole when all its finest units are, off grid
    when all are, else partial. An off-grid unit's irrigated_area_ha and unpredicted_cropland_ha are empty (unknown,
    not 0), and so are a coarser unit's when all its finest units are off the grid (else the sum over those on it).
    statistic_on_grid_ha: the statistic the run's thresholds used for the part of the unit on the grid
    (`on_grid_statistics`: the statistic for whole units, used_m2 for partial ones scaled by
    irrmap.core.partial_units; empty off the grid and for units left out with [units].partial = 'exclude').
    difference_ha = irrigated_area_ha - statistic_on_grid_ha: comparing a cut unit's mapped area with its whole
    statistic would read the off-grid part as an underestimate (-100 % for a unit wholly off the grid).
    With statistics at the finest level, a coarser unit's statistic_ha is the sum of its finest units' statistics
    only when it is whole and every finest unit has one: a sum missing some units, or the parts off the grid,
    is no statistic of the coarser unit; its statistic_on_grid_ha is the sum of its on-grid finest units' values
    when every one of them has one. A warning names the partial and off-grid units.

    unpredicted_cropland_ha gives each unit's cropland that the map leaves unpredicted
    (`unpredicted_cropland_m2_by_unit`): its irrigated_area_ha is then a lower bound, short by up to that much. A
    warning names the units where it exceeds evaluation.agreement.MAX_MISSING_SHARE (1 %) of the unit's mapped
    cropland plus the unpredicted one."""
    finest = units.assign(irrigated_area_ha=irrigated_m2_by_unit(class_path, cropland, zones_path, units, nodata).to_numpy() / M2_PER_HA)
    gap = unpredicted_cropland_m2_by_unit(class_path, cropland, zones_path, units, nodata).to_numpy() / M2_PER_HA
    finest = finest.assign(unpredicted_cropland_ha=gap, code=finest["code"].astype(str))
    _warn_unpredicted(finest, class_path, cropland, zones_path, units)
    cover = unit_coverage(units, partial_rows)
    at_finest = statistics is not None and statistics_level == levels[0]
    stat = statistics.groupby(statistics.index.astype(str)).sum() if statistics is not None else pd.Series(dtype=float)
    off_grid = cover.reindex(finest["code"]).to_numpy() == OFF_GRID  # no pixel: the mapped area is unknown, not 0
    finest.loc[off_grid, ["irrigated_area_ha", "unpredicted_cropland_ha"]] = np.nan
    finest = finest.assign(coverage=cover.reindex(finest["code"]).to_numpy(),
                           stat=stat.reindex(finest["code"]).to_numpy() if at_finest else np.nan,
                           on=on_grid_statistics(stat, cover, partial_rows).reindex(finest["code"]).to_numpy() if at_finest else np.nan)
    rows = []
    for i, level in enumerate(levels):
        key = finest["code"] if i == 0 else finest[level].astype(str)
        g = finest.groupby(key, sort=True)
        t = g[["irrigated_area_ha", "unpredicted_cropland_ha"]].sum(min_count=1).rename_axis("code").reset_index()
        t.insert(0, "level", level)
        t.insert(2, "name", finest.set_index("code")["name"].reindex(t["code"]).to_numpy() if i == 0 and "name" in finest else "")
        cov = g["coverage"].agg(_coarse_coverage).reindex(t["code"]).to_numpy()
        if at_finest:
            whole_known = ((finest["coverage"] == WHOLE) & finest["stat"].notna()).groupby(key, sort=True).all()
            on = finest[finest["coverage"] != OFF_GRID].groupby(key, sort=True)["on"].agg(lambda v: v.sum() if v.notna().all() else np.nan)
            total = g["stat"].sum(min_count=1).reindex(t["code"]).to_numpy()
            t["statistic_ha"] = (total if i == 0 else np.where(whole_known.reindex(t["code"]).to_numpy(), total, np.nan)) / M2_PER_HA
            t["statistic_on_grid_ha"] = on.reindex(t["code"]).to_numpy(dtype=float) / M2_PER_HA
        elif statistics is not None and level == statistics_level:  # statistics of a coarser level: no thresholds split them
            t["statistic_ha"] = stat.reindex(t["code"]).to_numpy() / M2_PER_HA
            t["statistic_on_grid_ha"] = np.where(cov == WHOLE, t["statistic_ha"], np.nan)
        else:
            t["statistic_ha"] = t["statistic_on_grid_ha"] = np.nan
        t["coverage"] = cov
        t["difference_ha"] = t["irrigated_area_ha"] - t["statistic_on_grid_ha"]
        rows.append(t[TABLE_COLUMNS])
    _warn_cut(finest, listing)
    return pd.concat(rows, ignore_index=True)


WHOLE, PARTIAL = "whole", "partial"  # the coverage values beside irrmap.core.partial_units.OFF_GRID ('off grid')
TABLE_COLUMNS = ["level", "code", "name", "irrigated_area_ha", "unpredicted_cropland_ha", "statistic_ha", "coverage",
                 "statistic_on_grid_ha", "difference_ha"]  # mapping/irrigated_area_by_unit.csv; the viewer reads these names


def unit_coverage(units: pd.DataFrame, partial_rows: pd.DataFrame | None = None) -> pd.Series:
    """'whole', 'partial' or 'off grid' by finest unit code, from units/units.csv's partial (on_grid_share below
    irrmap.core.coverage.FULL_SHARE) and on_grid_share (0 = off grid: irrmap.core.coverage.scale_partial's test,
    so the same units as partial_units.csv's action 'off grid', which also marks a unit off grid; grid_area_m2 0, a
    unit no pixel centre falls in, is off grid too). A table without
    these columns (no grid coverage known) gives 'whole' for every unit."""
    codes = units["code"].astype(str).to_numpy()
    out = pd.Series(WHOLE, index=codes, dtype=object)
    if "partial" in units and "on_grid_share" in units:
        part = units["partial"].astype(str).str.lower().isin(["true", "1"]).to_numpy()
        off = units["on_grid_share"].astype(float).to_numpy() <= 0
        out[part] = PARTIAL
        out[part & off] = OFF_GRID
    if "grid_area_m2" in units:  # no pixel centre in the unit (a sliver of it on the grid, or smaller than a pixel):
        # no pixel measures it, as for a unit wholly off the grid (its mapped 0 and statistic 0 read as agreement)
        out[units["grid_area_m2"].astype(float).to_numpy() <= 0] = OFF_GRID
    if partial_rows is not None and len(partial_rows):
        gone = partial_rows.loc[partial_rows["action"] == OFF_GRID, "code"].astype(str)
        out[out.index.isin(gone)] = OFF_GRID
    return out


def on_grid_statistics(statistics: pd.Series, coverage: pd.Series, partial_rows: pd.DataFrame | None = None) -> pd.Series:
    """The statistic (m2) by finest unit code for the part of each unit on the grid, as the run's thresholds took it:
    the statistic for whole units; for partial ones partial_rows' used_m2 (irrmap.core.partial_units.on_grid_targets:
    scaled by the unit's share on the grid; NaN when excluded, or with no row in `partial_rows`); NaN off the grid
    and where there is no statistic. `coverage`: unit_coverage's Series."""
    stat = statistics.groupby(statistics.index.astype(str)).sum().reindex(coverage.index).astype(float)
    out = stat.where(coverage == WHOLE)
    if partial_rows is not None and len(partial_rows):
        used = pd.to_numeric(partial_rows.set_index(partial_rows["code"].astype(str))["used_m2"], errors="coerce")
        part = coverage.index[(coverage == PARTIAL).to_numpy()]
        out[part] = used.reindex(part).to_numpy()
    return out


def _coarse_coverage(values: pd.Series) -> str:
    return WHOLE if (values == WHOLE).all() else OFF_GRID if (values == OFF_GRID).all() else PARTIAL


def _warn_cut(finest: pd.DataFrame, listing) -> None:
    """Warn (the project's log.warning, collected into the report's flags) naming the finest units cut by the grid
    or off it: their mapped area covers only their part on the grid."""
    cut = finest[finest["coverage"] != WHOLE]
    if cut.empty:
        return
    items = [f"{c} {v}" for c, v in zip(cut["code"], cut["coverage"])]
    more = f", ... ({len(items) - 8} more)" if len(items) > 8 else ""
    log.warning("%s: %d units are not wholly on the grid (%s%s): their irrigated_area_ha covers only their part on the grid; "
                "difference_ha compares it with statistic_on_grid_ha (the statistic the thresholds used for that part; "
                "empty off the grid and for excluded units), not with the whole unit's statistic_ha. Fix: widen [grid] "
                "bounds to cover whole units; the column coverage marks them", listing or "irrigated_area_by_unit",
                len(cut), ", ".join(items[:8]), more)


def _warn_unpredicted(finest: pd.DataFrame, fraction_path, cropland, zones_path, units: pd.DataFrame) -> None:
    """Warn (the project's log.warning, collected into the report's flags) when a unit's unpredicted cropland exceeds
    MAX_MISSING_SHARE of its cropland."""
    from irrmap.evaluation.agreement import MAX_MISSING_SHARE

    gap = finest["unpredicted_cropland_ha"].to_numpy()
    if not (gap > 0).any():
        return
    crop_at = _cropland_reader(cropland, zones_path)
    crop_m2 = zonal_area(zones_path, int(units["zone"].max()), weights=lambda w: np.nan_to_num(crop_at(w)))
    cropland_ha = crop_m2[units["zone"].to_numpy()] / M2_PER_HA
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(cropland_ha > 0, gap / np.where(cropland_ha > 0, cropland_ha, 1), 0.0)
    bad = np.flatnonzero(share > MAX_MISSING_SHARE)
    if bad.size:
        codes = units["code"].astype(str).to_numpy()
        worst = sorted(bad, key=lambda i: -share[i])[:5]
        log.warning("%s: %d unit(s) have more than %.0f %% of their cropland unpredicted (a predictor has no value there), so their "
                    "irrigated_area_ha is a lower bound: %s (%.1f ha of cropland unpredicted in all). Fix: fill the predictor's "
                    "gaps and map again; the column unpredicted_cropland_ha gives each unit's gap", fraction_path, bad.size,
                    100 * MAX_MISSING_SHARE, ", ".join(f"{codes[i]} {100 * share[i]:.1f} %" for i in worst), float(gap.sum()))


__all__ = ["TABLE_COLUMNS", "irrigated_area_by_unit", "irrigated_m2_by_unit", "on_grid_statistics", "unit_coverage",
           "unpredicted_cropland_m2_by_unit"]
