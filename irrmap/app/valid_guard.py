"""The runner's valid-share guard around each stage: a missing value is not a data value.

Before a stage runs, every raster file it reads must open: a truncated or damaged file stops the run with an
InputError naming it. A raster that certainly misses the grid stops it too; the error names the file, both
extents and CRSs, and the fix. After the stage runs, the valid share of each raster it wrote is
logged. The run stops when a product has no valid pixel. It also stops when a product is valid on less than
half of the area where all the irrmap products the stage reads (aligned inputs, zones, features, ...) are
valid: missing water is not land, and a stage must not turn data into missing values. The error lists the
stage's other raster inputs (source files, read with their own decoding) with the share of the grid they
cover. A few products are defined on a narrower domain by design; for these the share is logged and the
reason stated, but there is no loss test (`NARROWER_BY_DESIGN`). A few rasters use their nodata value for
"nothing here", not "missing" (body ids: 0 = no water body); they may have no valid pixel at all (`MAY_BE_EMPTY`).
Source files aligned by `inputs.NAME` are
checked against their own valid share by irrmap.core.valid_share.check_aligned.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.parallelism import task_slots
from irrmap.core.raster_read import open_raster
from irrmap.core.share_text import percent_text
from irrmap.core.valid_share import MOST_LOST, band_shares, coverage, extent_text, no_overlap, shares_within

log = logging.getLogger(__name__)

# raster file types a stage may read (others, such as tables, vectors and models, are not opened here)
RASTER_SUFFIXES = {".tif", ".tiff", ".jp2", ".img", ".vrt", ".hdf", ".h5", ".nc", ".asc", ".bil", ".dem"}
# product name (or name prefix) -> why it is missing where its inputs are valid
NARROWER_BY_DESIGN = {
    "irrigation_probability": "defined on crop pixels only (cropland > 0), 255 elsewhere",
    "irrigated_class": "defined on crop pixels only (cropland > 0), 255 = no cropland",
    "irrigated_class_raw": "defined on crop pixels only (cropland > 0), 255 = no cropland (before the filter)",
    "threshold_": "missing in units without a statistic (the statistics stage lists them)",
}

# product name or file stem -> why its nodata value means "nothing here": an empty raster is a result, not lost data
MAY_BE_EMPTY = {
    "body_id": "0 = no water body (an epoch or reference without bodies)",
    "stable_id": "0 = no water body in the later epoch",
}


def run_guarded(stage: Stage, ctx: RunContext) -> list[Path]:
    """Run `stage` between the overlap check of its raster inputs (`check_input`) and the valid-share check of its outputs."""
    inputs = [Path(p) for p in stage.inputs(ctx)]
    for p in inputs:
        check_input(p, ctx.grid)
    outputs = stage.run(ctx)
    _check_products(stage.name, ctx, [Path(p) for p in outputs], inputs)
    return outputs


def _is_raster(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in RASTER_SUFFIXES


def _grid_of(path: Path) -> Grid | None:
    """The grid of a georeferenced raster file, or None for anything else (tables, vectors, models, folders)."""
    if not _is_raster(path):
        return None
    try:
        return Grid.from_raster(path)
    except Exception:  # not a raster GDAL opens, or not a north-up georeferenced one
        return None


def source_inputs(stage: Stage, ctx: RunContext) -> list[Path]:
    """The files of `stage.inputs(ctx)` that exist before any stage runs: outside the output folder and no named
    product of an enabled stage (`ctx.products`), in the stage's order. These are what `run_guarded` checks at the
    start of the stage that can be checked before any work: the checks before a run (irrmap.app.pipeline.plan_stages,
    so `irrmap run --check` too) pass them to `check_input`, from this one list, so `--check` and the run cannot
    drift apart. [] when `stage.inputs` fails (the stage's own check reports the config's problem)."""
    outdir = ctx.outdir.resolve()
    products = {Path(p).resolve() for p in ctx.products.values()}
    try:
        paths = [ctx.path(p) for p in stage.inputs(ctx)]
    except Exception:  # noqa: BLE001 - the stage's check reports it
        return []
    return [p for p in dict.fromkeys(paths) if p.exists() and not p.resolve().is_relative_to(outdir) and p.resolve() not in products]


def check_input(path: Path, grid: Grid) -> None:
    """InputError when the raster file `path` (a RASTER_SUFFIXES file; anything else is skipped) cannot be opened
    (irrmap.core.raster_read.open_raster: truncated, damaged) or certainly misses `grid`
    (irrmap.core.valid_share.no_overlap); the error is located at the file (the callers relocate it to the config
    keys naming it, irrmap.core.config_keys)."""
    if not _is_raster(path):
        return
    with open_raster(path) as src:  # InputError when GDAL cannot open it (truncated, damaged)
        if src.crs is not None and src.count and no_overlap(src, grid):
            raise InputError(f"does not overlap the grid: the file covers {extent_text(src)}, the grid {extent_text(grid)}",
                             str(path), "use a file that covers the grid, or set [grid] bounds inside the file's extent; check "
                             "the file's CRS (gdalinfo) if the numbers look swapped or in other units")


def _exempt(name: str) -> str | None:
    return next((why for key, why in NARROWER_BY_DESIGN.items() if name == key or (key.endswith("_") and name.startswith(key))), None)


def _check_products(stage_name: str, ctx: RunContext, outputs: list[Path], inputs: list[Path]) -> None:
    rasters = [p for p in outputs if _is_raster(p)]
    if not rasters:
        return
    names = {Path(p).resolve(): n for n, p in ctx.products.items()}
    name = {p: names.get(p.resolve(), p.stem) for p in rasters}
    with ThreadPoolExecutor(max(1, min(len(rasters), task_slots(), os.cpu_count() or 1))) as pool:  # GDAL reads in parallel
        shares = dict(zip(rasters, pool.map(lambda p: min(band_shares(p)), rasters)))
    on_grid = [p for p in rasters if (g := _grid_of(p)) is not None and g.aligned_with(ctx.grid)]
    refs = [p for p in inputs if p not in rasters and p.resolve().is_relative_to(ctx.outdir.resolve())
            and (g := _grid_of(p)) is not None and g.aligned_with(ctx.grid)]
    ref_share, within = shares_within(on_grid, refs, ctx.grid) if refs and on_grid else (None, {})
    log.info("stage %s: valid share of the grid: %s%s", stage_name, ", ".join(f"{name[p]} {percent_text(shares[p], sep='')}" for p in rasters),
             f" (the products it reads are all valid on {percent_text(ref_share, sep='')})" if ref_share is not None else "")
    for p in rasters:
        kept = min(within.get(str(p), (1.0,)))
        why = _exempt(name[p])
        if shares[p] == 0 and name[p] in MAY_BE_EMPTY:
            log.info("stage %s: %s is empty: %s", stage_name, name[p], MAY_BE_EMPTY[name[p]])
        elif why is not None and shares[p] > 0 and kept < MOST_LOST:
            log.info("stage %s: %s is valid on %s of where the products it reads are valid: %s", stage_name, name[p],
                     percent_text(kept, sep=""), why)
        elif shares[p] == 0 or kept < MOST_LOST:
            what = ("has no valid pixel on the grid" if shares[p] == 0 else
                    f"is valid on only {percent_text(kept, sep='')} of the area where the products it reads are valid ({', '.join(str(r) for r in refs)})")
            raise DataError(f"{name[p]} {what}{_sources_text(inputs, refs, ctx.grid)}", str(p),
                            "find the input that is missing there (the valid shares logged for each stage, gdalinfo -stats) and "
                            "check its coverage and nodata values; a missing value must stay missing and data stay data "
                            "(missing water is not land)")


def _sources_text(inputs: list[Path], refs: list[Path], grid: Grid) -> str:
    """'; it also reads a.tif (covers 30.0 % of the grid), ...' for the raster inputs that are not products on the grid."""
    parts = []
    for p in inputs:
        if p not in refs and _grid_of(p) is not None:
            with open_raster(p) as src:
                parts.append(f"{p} (covers {percent_text(coverage(src, grid), sep='')} of the grid)")
    return f"; it also reads {', '.join(parts)}" if parts else ""
