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
from irrmap.core.zonal import zonal_area

M2_PER_HA = 1e4

log = logging.getLogger(__name__)


def irrigated_m2_by_unit(class_path, cropland, zones_path, units: pd.DataFrame, nodata: int = 255) -> pd.Series:
    """The mapped irrigated area (m2) of each finest unit, by code: the sum over the unit's pixels of the class map's
    irrigated pixels (class 1) x the float cropland fraction x true pixel area (irrmap.mapping.aggregate.irrigated_share,
    irrmap.core.zonal.zonal_area: exact per row on geographic grids); class 0 and `nodata` count as 0.

    The one definition of a unit's mapped area: mapping/irrigated_area_by_unit.csv, the run report's statistics
    section (the evaluation stage) and the 1 km product (the same share, mapping.aggregate.irrigated_share_map) all
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
            raise GridError(f"the class map is on {grid_of(src)!r}, not on the zones' grid {zones_grid!r}", str(class_path),
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
            raise GridError(f"the fraction map is on {grid_of(frac)!r}, not on the zones' grid {zones_grid!r}", str(fraction_path),
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
        raise GridError(f"the cropland is on {on!r}, not on the zones' grid {zones_grid!r}",
                        str(getattr(cropland, "name", None) or cropland), "give the maps and the zone raster of one run")
    return lambda w: np.asarray(a[w.toslices()].values, dtype=np.float64)


def irrigated_area_by_unit(class_path, zones_path, units: pd.DataFrame, levels: list[str], statistics: pd.Series | None = None,
                           statistics_level: str | None = None, nodata: int = 255, *, cropland) -> pd.DataFrame:
    """One row per unit and level: level, code, name (finest level only), irrigated_area_ha, unpredicted_cropland_ha
    and, at `statistics_level`, statistic_ha and difference_ha (mapped - statistic); areas in ha (1 ha = 1e4 m2).

    `class_path`: the class map (mapping/class.tif: 1 irrigated, 0 not, `nodata` no cropland or not predicted);
    `cropland` (keyword): the run's cropland fraction (0..1), a path or a DataArray on the same grid; `zones_path`:
    the unit zone raster (0 = no unit) on the same grid; `units`: the units stage's table (columns zone, code, name
    and one column per coarser level, e.g. city, province); `levels`: finest first; `statistics`: area (m2) by code
    at `statistics_level`. Area: `irrigated_m2_by_unit` (class 1 x cropland x true pixel area, not fraction.tif's
    rounded percent). Errors: those of `irrigated_m2_by_unit`.

    unpredicted_cropland_ha gives each unit's cropland that the map leaves unpredicted
    (`unpredicted_cropland_m2_by_unit`): its irrigated_area_ha is then a lower bound, short by up to that much. A
    warning names the units where it exceeds evaluation.agreement.MAX_MISSING_SHARE (1 %) of the unit's mapped
    cropland plus the unpredicted one."""
    finest = units.assign(irrigated_area_ha=irrigated_m2_by_unit(class_path, cropland, zones_path, units, nodata).to_numpy() / M2_PER_HA)
    gap = unpredicted_cropland_m2_by_unit(class_path, cropland, zones_path, units, nodata).to_numpy() / M2_PER_HA
    finest = finest.assign(unpredicted_cropland_ha=gap)
    columns = ["irrigated_area_ha", "unpredicted_cropland_ha"]
    _warn_unpredicted(finest, class_path, cropland, zones_path, units)
    rows = []
    for i, level in enumerate(levels):
        key = "code" if i == 0 else level
        g = finest.groupby(finest[key].astype(str), sort=True)[columns].sum().rename_axis("code").reset_index()
        g.insert(0, "level", level)
        g.insert(2, "name", finest.set_index(finest["code"].astype(str))["name"].reindex(g["code"]).to_numpy() if i == 0 and "name" in finest else "")
        if statistics is not None and level == statistics_level:
            s = statistics.groupby(statistics.index.astype(str)).sum()
            g["statistic_ha"] = s.reindex(g["code"]).to_numpy() / M2_PER_HA
            g["difference_ha"] = g["irrigated_area_ha"] - g["statistic_ha"]
        rows.append(g)
    return pd.concat(rows, ignore_index=True)


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


__all__ = ["irrigated_area_by_unit", "irrigated_m2_by_unit", "unpredicted_cropland_m2_by_unit"]
