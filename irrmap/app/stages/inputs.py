"""Stage `inputs.NAME`: align one [inputs.NAME] raster onto the run's grid (aligned/NAME.tif)."""

from __future__ import annotations

from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import provenance
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_raster


def stage(name: str) -> Stage:
    def run(ctx: RunContext) -> list[Path]:
        spec = ctx.config.inputs[name]
        da = read_raster(
            ctx.path(spec.path), ctx.grid, kind=spec.kind, band=spec.band, classes=spec.classes,
            resampling=spec.resampling, nodata=spec.nodata, fill_values=spec.fill_values, scale=spec.scale,
            offset=spec.offset, valid_range=spec.valid_range, chunks=ctx.config.run.chunk_size, name=name,
        )
        out = ctx.outdir / "aligned" / f"{name}.tif"
        tags = provenance(ctx, f"inputs.{name}") | {"source": spec.path, "kind": spec.kind, "resampling": da.attrs["resampling"]}
        write_raster(out, da, nodata=da.attrs.get("nodata"), descriptions=[name], tags=tags)
        return [out]

    return Stage(
        name=f"inputs.{name}",
        run=run,
        inputs=lambda ctx: [ctx.path(ctx.config.inputs[name].path)],
        params=lambda ctx: ctx.config.inputs[name].model_dump(mode="json") | {"chunk": ctx.config.run.chunk_size},
        enabled=lambda ctx: name in ctx.config.inputs,
        provides=lambda ctx: {name: ctx.outdir / "aligned" / f"{name}.tif"},
    )
