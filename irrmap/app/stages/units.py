"""Stage `units`: rasterize [units] into a zone grid (units/zones.tif) and a table of per-unit areas."""

from __future__ import annotations

import logging
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import provenance
from irrmap.core.atomic import atomic_path
from irrmap.core.raster_write import write_raster
from irrmap.core.units import ZONE_NODATA, read_units_from_config
from irrmap.core.zonal import zonal_area

log = logging.getLogger(__name__)


def run(ctx: RunContext) -> list[Path]:
    units = read_units_from_config(ctx.config.units, ctx.path)
    zones = units.rasterize(ctx.grid, chunks=max(ctx.config.run.chunk_size, 2048))
    zones_path = ctx.outdir / "units" / "zones.tif"
    write_raster(zones_path, zones, nodata=ZONE_NODATA, dtype="int32", descriptions=["zone"], tags=provenance(ctx, "units"))
    table = units.zone_table()
    gridded = zonal_area(zones_path, len(units))
    table["polygon_area_m2"] = units.geodesic_areas().values
    table["grid_area_m2"] = gridded[1:]
    table_path = ctx.outdir / "units" / "units.csv"
    with atomic_path(table_path) as tmp:
        table.to_csv(tmp, index=False)
    log.info("units: %d zones rasterized; %.0f of %.0f km2 of polygons fall on grid pixels", len(units),
             table["grid_area_m2"].sum() / 1e6, table["polygon_area_m2"].sum() / 1e6)
    return [zones_path, table_path]


def stage() -> Stage:
    return Stage("units", run,
                 inputs=lambda ctx: [ctx.path(ctx.config.units.path)],
                 params=lambda ctx: ctx.config.units.model_dump(mode="json"),
                 enabled=lambda ctx: ctx.config.units is not None,
                 provides=lambda ctx: {"zones": ctx.outdir / "units" / "zones.tif"})
