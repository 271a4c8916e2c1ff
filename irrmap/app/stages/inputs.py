"""Stage `inputs.NAME`: align one [inputs.NAME] raster onto the run's grid (aligned/NAME.tif), then check that
the aligned raster is plausible on the grid (irrmap.core.valid_share.check_aligned: no valid pixel stops the run
with the file's and the grid's extents, data lost in alignment stops it, a low valid share warns). Its check (`irrmap
run --check`, and the checks every run starts with) also warns when the file's footprint covers less than 99 % of the
grid (irrmap.core.footprint, through check_raster_on_grid): the warning is in the run's warnings and manifest.json.

Fraction inputs that count classes of the same file, band and decoding (cropland, forest_grass, other_cover of one
30 m land-cover map) are counted in one pass over that file (irrmap.app.stages.shared_fractions): the first of them to
run writes the others' fractions to the run's cache, where their stages find them.

A kind = 'continuous' input that a role reads as a share of the pixel's area (a cropland percent with scale = 0.01:
area_share_roles), or that sets `area_share = true`, is read by the fractions' half-known rule (missing where valid
cells cover less than half of the pixel), since that share is multiplied by the whole pixel's area.
"""

from __future__ import annotations

from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages import shared_fractions
from irrmap.app.stages.common import check_raster_on_grid, checked_units, provenance
from irrmap.core.class_map import NotAClassMap
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import known_share_warning, read_raster
from irrmap.core.raster_write import write_aligned
from irrmap.core.relative_path import relative_to_folder
from irrmap.core.valid_share import check_aligned
from irrmap.suitability.guards import FEET


def area_share_roles(ctx: RunContext) -> dict[str, str]:
    """The products the run reads as shares of the pixel's AREA (multiplied by the whole pixel's area downstream), each
    with the first config key that reads it so: the cropland of [training], [suitability] and [reconcile] (and the
    statistics stage's fallback, an input named cropland), the [features] cropland / natural / other shares, and the
    [evaluation].map with map_kind = 'fraction'."""
    cfg, roles = ctx.config, {}

    def add(name, key):
        if name:
            roles.setdefault(name, key)

    if cfg.training is not None:
        add(cfg.training.cropland, "[training].cropland")
    if cfg.suitability is not None:
        add(cfg.suitability.cropland, "[suitability].cropland")
    if cfg.reconcile is not None:
        add(cfg.reconcile.cropland or getattr(cfg.training, "cropland", None), "[reconcile].cropland")
    if cfg.statistics is not None:
        from irrmap.app.stages.statistics import cropland_product

        add(cropland_product(ctx), "[statistics] cropland")
    if cfg.features is not None:
        from irrmap.app.stages.features import read_names

        for key, name in read_names(ctx).items():
            add(name, f"[features].{key}")
    if cfg.evaluation is not None and cfg.evaluation.map_kind == "fraction":
        add(cfg.evaluation.map, "[evaluation].map")
    return roles


def area_share(ctx: RunContext, name: str) -> bool:
    """Whether [inputs.NAME] is read by the half-known rule of shares of the area (irrmap.core.raster_read,
    `area_share`): its `area_share` key when given, else whether a role reads it as an area share
    (area_share_roles); always for kind = 'fraction' (the reader's own rule), never for 'categorical'."""
    spec = ctx.config.inputs[name]
    if spec.kind != "continuous":
        return spec.kind == "fraction"
    if spec.area_share is not None:
        return spec.area_share
    return name in area_share_roles(ctx)


def read_options(ctx: RunContext, name: str) -> dict:
    """read_raster's keyword arguments for [inputs.NAME] (but the grid, chunks and name)."""
    spec = ctx.config.inputs[name]
    return {"kind": spec.kind, "band": spec.band, "band_option": f"[inputs.{name}].band", "classes": spec.classes, "resampling": spec.resampling, "nodata": spec.nodata,
            "fill_values": spec.fill_values, "scale": spec.scale, "offset": spec.offset, "valid_range": spec.valid_range,
            "area_share": spec.kind == "continuous" and area_share(ctx, name)}


def read_input(ctx: RunContext, name: str, grid: Grid):
    """[inputs.NAME] read lazily onto `grid` (the run's grid, or another on its lattice) as the config says.
    Raises what read_raster raises; a kind = 'fraction' input whose file holds no class codes
    (irrmap.core.class_map) as an InputError located at `[inputs.NAME].path = PATH`."""
    spec = ctx.config.inputs[name]
    try:
        return read_raster(ctx.path(spec.path), grid, **read_options(ctx, name), chunks=ctx.config.run.chunk_size, name=name)
    except NotAClassMap as exc:
        raise InputError(exc.what, f"[inputs.{name}].path = {spec.path}", exc.fix) from None


# linear units GDAL reports for a band (gdalinfo "Unit Type") that are feet, not metres


def check_unit_type(path: Path, band: int, scale, key: str) -> None:
    """Refuse a band whose unit type is feet when no `scale` converts it: slopes would be 3.28x too steep
    and metre breaks (elevation, distance) would be applied to feet. Factors: NIST SP 811 (international
    foot 0.3048 m; US survey foot 1200/3937 m)."""
    import rasterio

    with rasterio.open(path) as src:
        unit = (src.units[band - 1] or "").strip()
    factor = FEET.get(unit.lower())
    if factor is not None and scale is None:
        raise InputError(f"band {band} is in {unit!r} (its unit type), not metres", key,
                         f"set scale = {factor:.10g} to read it in metres")


def _units(ctx: RunContext):
    """The run's [units] (checked_units, read once per context) for the footprint warning's share of their area, or None
    without [units] or when they cannot be read (the units stage's check reports that)."""
    if ctx.config.units is None:
        return None
    try:
        return checked_units(ctx)
    except Exception:  # noqa: BLE001 - reported by the units check
        return None


def stage(name: str) -> Stage:
    def run(ctx: RunContext) -> list[Path]:
        spec = ctx.config.inputs[name]
        da = read_input(ctx, name, ctx.grid)
        out = ctx.outdir / "aligned" / f"{name}.tif"
        source = relative_to_folder(ctx.path(spec.path), out.parent)  # not as in the config: the same bytes in any folder
        tags = provenance(ctx, f"inputs.{name}") | {"source": source, "kind": spec.kind, "resampling": da.attrs["resampling"]}
        check_unit_type(ctx.path(spec.path), da.attrs["band"], spec.scale, f"[inputs.{name}]")
        with shared_fractions.pass_for(ctx, name, da) as data:  # the values, counted with its siblings' when it has any
            write_aligned(out, data, name=name, tags=tags)
        if area_share(ctx, name):  # pixels less than half covered by valid source cells were set missing: say how many
            known_share_warning(ctx.path(spec.path), da.attrs["band"], spec.classes, ctx.grid, f"[inputs.{name}]",
                                shown=str(spec.path))
        check_aligned(out, ctx.path(spec.path), ctx.grid, key=f"[inputs.{name}]", band=da.attrs["band"], nodata=spec.nodata,
                      fill_values=spec.fill_values, valid_range=spec.valid_range)
        return [out]

    def check(ctx: RunContext) -> None:
        spec = ctx.config.inputs[name]
        da = read_input(ctx, name, ctx.grid)  # opens the file: format, band, CRS, nodata and scale settings
        check_unit_type(ctx.path(spec.path), da.attrs["band"], spec.scale, f"[inputs.{name}]")
        check_raster_on_grid(ctx.path(ctx.config.inputs[name].path), ctx.grid, f"[inputs.{name}].path", units=_units(ctx))

    return Stage(
        name=f"inputs.{name}",
        run=run,
        inputs=lambda ctx: [ctx.path(ctx.config.inputs[name].path)],
        params=lambda ctx: ctx.config.inputs[name].model_dump(mode="json") | {"chunk": ctx.config.run.chunk_size,
                                                                              "area_share": area_share(ctx, name)},
        enabled=lambda ctx: name in ctx.config.inputs,
        provides=lambda ctx: {name: ctx.outdir / "aligned" / f"{name}.tif"},
        check=check,
    )
