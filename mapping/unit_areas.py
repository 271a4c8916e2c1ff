"""The analyst's summary table: mapped irrigated area per admin unit at every level, beside the statistic of
the units at the statistics' level (mapping/irrigated_area_by_unit.csv)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import rasterio

from irrmap.core.errors import GridError
from irrmap.core.georef import grid_of, north_up
from irrmap.core.grid import Grid
from irrmap.core.zonal import zonal_area

M2_PER_HA = 1e4


def irrigated_m2_by_unit(fraction_path, zones_path, units: pd.DataFrame, nodata: int = 255) -> pd.Series:
    """The mapped irrigated area (m2) of each finest unit, by code: the sum over the unit's pixels of fraction / 100 x
    true pixel area (irrmap.core.zonal.zonal_area), `nodata` counting as 0. The fraction map is read north-up (a
    file stored south-up is not mirrored onto the zones); GridError when it is not on the zones' grid. The one definition of a unit's mapped
    area: mapping/irrigated_area_by_unit.csv and the run report's statistics section both take it (the 1 km product
    sums the same fraction map). Arguments as for `irrigated_area_by_unit`."""
    zones_grid = Grid.from_raster(zones_path)
    with rasterio.open(fraction_path) as opened:
        src = north_up(opened)  # a map stored south-up or east-left: its pixels north-up, as the zones are read
        if not grid_of(src).aligned_with(zones_grid):
            raise GridError(f"the fraction map is on {grid_of(src)!r}, not on the zones' grid {zones_grid!r}", str(fraction_path),
                            "give the fraction map and the zone raster of one run (or resample the map onto the zones' grid)")

        def weight(window):
            v = src.read(1, window=window).astype(np.float64)
            return np.where(v == nodata, 0.0, v / 100.0)

        per_zone = zonal_area(zones_path, int(units["zone"].max()), weights=weight)
    return pd.Series(per_zone[units["zone"].to_numpy()], index=units["code"].astype(str).to_numpy(), name="mapped_m2")


def irrigated_area_by_unit(fraction_path, zones_path, units: pd.DataFrame, levels: list[str], statistics: pd.Series | None = None,
                           statistics_level: str | None = None, nodata: int = 255) -> pd.DataFrame:
    """One row per unit and level: level, code, name (finest level only), irrigated_area_ha and, at
    `statistics_level`, statistic_ha and difference_ha (mapped - statistic).

    `fraction_path`: the irrigated-fraction map in percent of the pixel (mapping/fraction.tif; `nodata` counts
    as 0); `zones_path`: the unit zone raster (0 = no unit) on the same grid; `units`: the units stage's table
    (columns zone, code, name and one column per coarser level, e.g. city, province); `levels`: finest first;
    `statistics`: area (m2) by code at `statistics_level`. Area: `irrigated_m2_by_unit`."""
    finest = units.assign(irrigated_area_ha=irrigated_m2_by_unit(fraction_path, zones_path, units, nodata).to_numpy() / M2_PER_HA)
    rows = []
    for i, level in enumerate(levels):
        key = "code" if i == 0 else level
        g = finest.groupby(finest[key].astype(str), sort=True)["irrigated_area_ha"].sum().rename_axis("code").reset_index()
        g.insert(0, "level", level)
        g.insert(2, "name", finest.set_index(finest["code"].astype(str))["name"].reindex(g["code"]).to_numpy() if i == 0 and "name" in finest else "")
        if statistics is not None and level == statistics_level:
            s = statistics.groupby(statistics.index.astype(str)).sum()
            g["statistic_ha"] = s.reindex(g["code"]).to_numpy() / M2_PER_HA
            g["difference_ha"] = g["irrigated_area_ha"] - g["statistic_ha"]
        rows.append(g)
    return pd.concat(rows, ignore_index=True)


__all__ = ["irrigated_area_by_unit", "irrigated_m2_by_unit"]
