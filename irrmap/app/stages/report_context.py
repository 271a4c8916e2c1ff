"""What the evaluation stage tells the report about the run: the sampling design of the reference points,
'What was mapped' (evaluation.run_section.RunInfo) and the model diagnostics (evaluation.diagnostics_section)."""

from __future__ import annotations

from pathlib import Path

import irrmap
from irrmap.app.context import RunContext


def sample_design(ctx: RunContext, points=None):
    """The [evaluation] sampling design (evaluation.design.SampleDesign), or None without stratum_field. The frame's
    pixel area (ha) is [evaluation].frame_pixel_area_ha, else the mean true pixel area of the run's grid (Grid.total_area
    / size): the sample taken to be drawn on the run's grid, which evaluation.design_frame checks with the points
    (`points`: the configured points as stage evaluation.configured_points reads them; read here when None). Raises
    DataError when the points on the grid stand for more frame pixels than the grid has (check_frame_total), or, with
    a given frame pixel area, for more than the grid's area (check_frame_area); logs a
    warning (into the report's findings) when they lie off its pixel centres (centre_basis). The design's
    unit_area_from says which area was used and why, for the report's area table."""
    from irrmap.evaluation import design_frame
    from irrmap.evaluation.design import SampleDesign

    sec = ctx.config.evaluation
    if not sec.stratum_field:
        return None
    if sec.frame_pixel_area_ha:
        design = SampleDesign(sec.stratum_field, sec.inclusion_field, sec.stratum_sizes, sec.frame_pixel_area_ha,
                              f"{design_frame.FRAME_KEY} (given)")
        pts, source = _design_points(ctx, points)
        design_frame.check_frame_area(pts, design, ctx.grid, source)
        return design
    design = SampleDesign(sec.stratum_field, sec.inclusion_field, sec.stratum_sizes)
    pts, source = _design_points(ctx, points)
    design_frame.check_frame_total(pts, design, ctx.grid, source)
    basis = design_frame.centre_basis(pts, ctx.grid, source)
    area = ctx.grid.total_area() / ctx.grid.size / 1e4  # default: the run's grid is the frame
    return SampleDesign(sec.stratum_field, sec.inclusion_field, sec.stratum_sizes, area, basis)


def check_design_frame(ctx: RunContext, points) -> None:
    """Before the run (`irrmap run --check`): refuse points that stand for more frame pixels than the run's grid has
    (without [evaluation].frame_pixel_area_ha: evaluation.design_frame.check_frame_total), or, with it, for more than
    the grid's area (check_frame_area); `points`: the configured points."""
    from irrmap.evaluation.design import SampleDesign
    from irrmap.evaluation.design_frame import check_frame_area, check_frame_total

    sec = ctx.config.evaluation
    if not sec.stratum_field or not (sec.inclusion_field or sec.stratum_sizes):
        return
    if sec.stratum_field not in points.columns or (sec.inclusion_field and sec.inclusion_field not in points.columns):
        return  # named by the field checks
    design = SampleDesign(sec.stratum_field, sec.inclusion_field, sec.stratum_sizes, sec.frame_pixel_area_ha)
    source = f"[evaluation].points = {ctx.path(sec.points)}"
    if sec.frame_pixel_area_ha:
        check_frame_area(points, design, ctx.grid, source)
    else:
        check_frame_total(points, design, ctx.grid, source)


def _design_points(ctx: RunContext, points):
    """(the configured points, their file for messages)."""
    from irrmap.app.stages.evaluation import configured_points

    sec = ctx.config.evaluation
    return (configured_points(ctx)[0] if points is None else points), f"[evaluation].points = {ctx.path(sec.points)}"


def method_lines(ctx: RunContext) -> list[str]:
    """One sentence per configured step of the CIrrMap250 method, with its main settings."""
    c = ctx.config
    out = []
    if c.suitability is not None:
        out.append("Suitability overlay of " + ", ".join(f"{k} ({v:g})" for k, v in c.suitability.weights.items()) + ".")
    if c.features is not None:
        out.append("MODIS vegetation-index composites and their n/s-scores.")
    if c.training is not None:
        out.append(f"Per-unit thresholds of {', '.join(c.training.scores)} matched to the {c.statistics.level if c.statistics else ''} "
                   f"statistics; a training pool of up to {c.training.per_class} pixels per unit and class where the threshold maps agree.")
    if c.models is not None:
        out.append(f"Classifier {c.models.model} ({c.models.scope} scope), spatially blocked CV with {c.models.cv_blocks}-pixel blocks.")
    if c.mapping is not None:
        out.append("Windowed prediction on crop pixels" + (f", 7x7 filter (isolated <= {c.mapping.isolated}, holes >= {c.mapping.hole})"
                                                          if c.mapping.filter else "")
                   + f", {c.mapping.aggregate_factor}x{c.mapping.aggregate_factor} aggregation to the area product.")
    return out


def _shown(path: str, ctx: RunContext) -> str:
    """A path relative to the config's folder when it lies inside it."""
    base = Path(ctx.loaded.path).parent
    return str(Path(path).relative_to(base)) if Path(path).is_relative_to(base) else path


def run_outputs(ctx: RunContext) -> list[tuple[str, str]]:
    """(what, path relative to the output folder) of the files the report links, each only when a stage of this
    config writes it, never because a file of an earlier run with another config is still on disk (those are
    manifest.json's `stale_outputs`, irrmap.app.pipeline): the mapping stage's maps and table when [mapping] is
    set; the map viewer, written when the run ends after a mapping or threshold stage ([mapping] or [training],
    irrmap.app.pipeline._write_viewer); the manifest, always written when the run ends. The area product is named by
    its true cell size on the run's grid (irrmap.core.aggregate_size.aggregate_label: "irrigated area at about 4 km
    (4 x 1 km pixels)" on a 1 km grid), not by its file name's 1 km."""
    c = ctx.config
    out = []
    if c.mapping is not None:
        out += [("class map", "mapping/class.tif"), ("area per unit (CSV)", "mapping/irrigated_area_by_unit.csv"),
                (_area_label(ctx), "mapping/irrigated_area_1km.tif")]
    if c.mapping is not None or c.training is not None:
        out.append(("map viewer", "view.html"))
    return [*out, ("manifest", "manifest.json")]


def _area_label(ctx: RunContext) -> str:
    from irrmap.core.aggregate_size import aggregate_label

    return aggregate_label(ctx.grid, ctx.config.mapping.aggregate_factor)


def run_info(ctx: RunContext):
    """The RunInfo of this run: config, grid, year ([statistics].year), input checksums so far, model card."""
    from irrmap.evaluation.run_section import RunInfo

    g = ctx.grid
    card_file = ctx.outdir / "models" / "model.card.json"
    card = None
    if ctx.config.models is not None and card_file.exists():
        from irrmap.models import read_card

        card = read_card(ctx.outdir / "models" / "model.joblib")
    outputs = {what: Path("..") / rel for what, rel in run_outputs(ctx)}
    return RunInfo(
        name=ctx.config.run.name, config_path=str(ctx.loaded.path), config_text=Path(ctx.loaded.path).read_text(encoding="utf-8"),
        grid={"crs": g.crs.to_string(), "shape": g.shape, "resolution": g.res, "bounds": g.bounds, "area_km2": g.total_area() / 1e6},
        year=ctx.config.statistics.year if ctx.config.statistics is not None else None,
        inputs={_shown(p, ctx): c for p, c in sorted(ctx.checksums.items()) if not Path(p).is_relative_to(ctx.outdir)},
        model_card=card, method=method_lines(ctx), outputs={k: v.as_posix() for k, v in outputs.items()},
        software=f"irrmap {irrmap.__version__}")


def map_figure(ctx: RunContext, map_path, name: str) -> bytes:
    """The report's map figure (evaluation.map_figure) of the evaluated class map, with the run's cropland and
    the admin boundaries of the finest and the coarsest level."""
    from irrmap.app.stages.common import checked_units
    from irrmap.evaluation.map_figure import map_figure_png
    from irrmap.evaluation.workflow import read_map

    sec = ctx.config.evaluation
    crop_name = ctx.config.training.cropland if ctx.config.training else "cropland"
    cls = read_map(map_path, name=name)
    crop = read_map(ctx.products[crop_name], name="cropland") if crop_name in ctx.products else None
    boundaries = []
    if ctx.config.units is not None:
        units = checked_units(ctx)
        table = units.table
        boundaries.append(table)
        if len(units.levels) > 1:
            top = units.levels[-1]
            boundaries.append(table.assign(_top=units.level_codes(top).to_numpy()).dissolve("_top"))
    return map_figure_png(cls, title=f"{ctx.config.run.name}: {name}", cropland=crop, boundaries=boundaries, threshold=sec.threshold)


def diagnostics(ctx: RunContext, points_kw: dict | None):
    """Diagnostics: the model card, predictor importance and, with reference points (`points_kw`: the
    keyword arguments of workflow.points_accuracy but the map), each threshold map's accuracy at them."""
    from irrmap.evaluation.diagnostics_section import Diagnostics, feature_importance
    from irrmap.evaluation.workflow import points_accuracy

    card = importance = None
    if ctx.config.models is not None and (ctx.outdir / "models" / "model.joblib").exists():
        from irrmap.models import load_model

        model, card = load_model(ctx.outdir / "models" / "model.joblib")
        importance = feature_importance(model)
    thresholds = {}
    if points_kw is not None and ctx.config.training is not None:
        for s in ctx.config.training.scores:
            name = f"threshold_{s}"
            if name in ctx.products:
                thresholds[f"threshold map {s}"] = points_accuracy(ctx.products[name], **points_kw)
    return Diagnostics(card, importance, thresholds)


__all__ = ["check_design_frame", "diagnostics", "map_figure", "method_lines", "run_info", "run_outputs", "sample_design"]
