"""Stage `treecover`: the tree-cover layer from the [treecover] epochs' bands, on the grid of the first band file
of each epoch (the bands' own resolution, not the run's grid):

  treecover/model/                        model.joblib and model.card.json: fitted on the fit epoch's bands against
                                          [treecover].reference, spatially blocked CV beside a linear baseline
                                          (irrmap.mapping.treecover.fit)
  treecover/EPOCH/cover.tif               percent cover (band 1) and its uncertainty (band 2), uint8, nodata 255
                                          (irrmap.mapping.treecover.predict); for the fit epoch also
                                          cover.check.json (the map averaged back onto the reference grid)
  treecover/change_A_B.tif, .csv          change classes between consecutive epochs A, B and the per-unit table
                                          (the [units] polygons, or one row "all"; irrmap.mapping.treecover.change)
  treecover/trend.tif                     with [treecover.trend]: Theil-Sen slope per year and Mann-Kendall p-value
  treecover/summary.json                  per epoch: mapped area, mean cover and forest area on true pixel areas
  treecover/score.json                    with [treecover].truth: predicted cover against truth cover per epoch

No named products: the maps are on the bands' grid and no predictors of the irrigation model.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import checked_units, provenance, seed_param
from irrmap.core.atomic import write_text_atomic
from irrmap.core.errors import gather, raise_all
from irrmap.core.progress import progress_bar
from irrmap.core.relative_path import relative_to_folder

log = logging.getLogger(__name__)


def _folder(ctx: RunContext) -> Path:
    return ctx.outdir / "treecover"


def fit_epoch(ctx: RunContext) -> str:
    """The epoch the model is fitted on: [treecover].fit_epoch, else the last epoch."""
    sec = ctx.config.treecover
    return sec.fit_epoch or list(sec.epochs)[-1]


def _pairs(ctx: RunContext) -> list[tuple[str, str]]:
    labels = list(ctx.config.treecover.epochs)
    return list(zip(labels[:-1], labels[1:]))


def _uses_units(ctx: RunContext) -> bool:
    return ctx.config.treecover.admin_units and ctx.config.units is not None


def _inputs(ctx: RunContext) -> list[Path]:
    sec = ctx.config.treecover
    files = [ctx.path(sec.reference), *(ctx.path(p) for bands in sec.epochs.values() for p in bands)]
    files += [ctx.path(p) for p in sec.truth.values()] + [ctx.path(p) for p in (sec.trend.series if sec.trend else [])]
    if _uses_units(ctx):
        files.append(ctx.path(ctx.config.units.path))
    return files


def report_files(ctx: RunContext):
    """The stage's outputs the evaluation report shows (irrmap.evaluation.treecover_section.TreecoverFiles)."""
    from irrmap.evaluation.treecover_section import TreecoverFiles

    sec, folder = ctx.config.treecover, _folder(ctx)
    return TreecoverFiles(card=folder / "model" / "model.card.json", epochs={e: folder / e / "cover.tif" for e in sec.epochs},
                          fit_epoch=fit_epoch(ctx), changes={(a, b): folder / f"change_{a}_{b}.tif" for a, b in _pairs(ctx)},
                          summary=folder / "summary.json", score=folder / "score.json" if sec.truth else None,
                          trend=folder / "trend.tif" if sec.trend else None)


def _stack(ctx: RunContext, label: str):
    """The epoch's BandStack; only the fit epoch warns about indices its names leave out (the other epochs take
    the model's names and indices)."""
    from irrmap.mapping.treecover.predictors import open_stack

    sec = ctx.config.treecover
    return open_stack([ctx.path(p) for p in sec.epochs[label]], band_names=sec.band_names, sensor=sec.sensor, percentiles=sec.percentiles,
                      warn_indices=label == fit_epoch(ctx))


def _check_units(ctx: RunContext) -> None:
    """Refuse, before anything is fitted, an epoch whose bands are in other units than the fit epoch's
    (irrmap.mapping.treecover.predict.check_band_units on sampled band medians), naming the epoch and the band."""
    from irrmap.mapping.treecover.band_product import check_common_factor, check_level1
    from irrmap.mapping.treecover.predict import band_medians, check_band_units

    sec, fit_label = ctx.config.treecover, fit_epoch(ctx)
    fit_stack = _stack(ctx, fit_label)
    wanted = band_medians(fit_stack)
    for label in sec.epochs:
        if label == fit_label:
            continue
        stack = _stack(ctx, label)
        if len(stack.paths) == len(fit_stack.paths):  # other band counts are refused by the fit's band check
            got, what = band_medians(stack), f"the fit epoch {fit_label}"
            # as treecover predict checks them, but before the fit: Level-1 DN, one band's units, all bands' common factor
            check_level1(stack.paths, stack.labels, got, wanted, fit_stack.paths, what=what)
            check_band_units(stack, got, wanted, what=what, where=f"[treecover.epochs].{label}")
            check_common_factor(stack.paths, stack.labels, got, wanted, what=what)


def _json(path: Path, data) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, default=str, allow_nan=True) + "\n")


def run(ctx: RunContext) -> list[Path]:
    from irrmap.mapping.treecover.fit import fit_treecover, save_treecover
    from irrmap.mapping.treecover.predict import check_path, predict_treecover
    from irrmap.mapping.treecover.summary import cover_summary, truth_scores

    sec, folder = ctx.config.treecover, _folder(ctx)
    chunk, seed, tags = ctx.config.run.chunk_size, ctx.config.run.seed, provenance(ctx, "treecover")
    fit_label = fit_epoch(ctx)
    steps = 1 + len(sec.epochs) + len(_pairs(ctx)) + (1 if sec.trend else 0)
    outputs, summary, scores = [], {}, {}
    _check_units(ctx)  # bands in other units (0..1 against x 1e4) fail now, not as a flat map after the fit
    with progress_bar(total=steps, desc="tree cover", unit="step") as bar:
        model, card = fit_treecover(_stack(ctx, fit_label), ctx.path(sec.reference), resolution_m=sec.reference_resolution,
                                    valid_max=sec.reference_valid_max, model=sec.model, seed=seed, cv_block_m=sec.cv_block_m,
                                    cv_splits=sec.cv_splits, max_samples=sec.max_samples, min_coverage=sec.min_coverage,
                                    n_trees=sec.n_trees, workdir=folder / "model", chunks=chunk)
        card = save_treecover(model, card | {"epoch": fit_label}, folder / "model")
        outputs += [folder / "model" / "model.joblib", folder / "model" / "model.card.json"]
        _log_card(fit_label, card)
        bar.update()
        for label in sec.epochs:
            res = predict_treecover(folder / label / "cover.tif", folder / "model", _stack(ctx, label), memory_mb=sec.memory_mb,
                                    n_jobs=ctx.config.run.workers or None, check=label == fit_label, tags=tags | {"epoch": label})
            outputs.append(res["path"])
            if res["check"] is not None:
                outputs.append(check_path(res["path"]))
            summary[label] = cover_summary(res["path"], forest_threshold=sec.forest_threshold, chunks=chunk)
            if label in sec.truth:
                truth = ctx.path(sec.truth[label])  # stored relative to score.json's folder: the same bytes in any folder
                scores[label] = {"truth": relative_to_folder(truth, folder)} | truth_scores(res["path"], truth, chunks=chunk)
                _log_truth(label, scores[label])
            bar.update()
        outputs += _changes(ctx, folder, bar)
        if sec.trend:
            outputs.append(_trend(ctx, folder / "trend.tif", tags))
            bar.update()
    outputs.append(_json(folder / "summary.json", summary))
    if scores:
        outputs.append(_json(folder / "score.json", scores))
    return [Path(p) for p in outputs]


def _changes(ctx: RunContext, folder: Path, bar) -> list[Path]:
    """Change classes and per-unit tables of consecutive epochs (the [units] polygons on the first epoch's grid)."""
    from irrmap.core.grid import Grid
    from irrmap.mapping.treecover.change import change_to_file, units_as_zones

    sec, chunk = ctx.config.treecover, ctx.config.run.chunk_size
    out = []
    for a, b in _pairs(ctx):
        cover_a = folder / a / "cover.tif"
        zones = units_as_zones(checked_units(ctx), Grid.from_raster(cover_a), chunks=chunk) if _uses_units(ctx) else None
        out += change_to_file(folder / f"change_{a}_{b}.tif", cover_a, folder / b / "cover.tif", change_threshold=sec.change_threshold,
                              forest_threshold=sec.forest_threshold, table=folder / f"change_{a}_{b}.csv", zones=zones,
                              area_unit=sec.area_unit, chunks=chunk)
        bar.update()
    return out


def _series_layers(ctx: RunContext):
    """The dated layers of [treecover.trend].series, read with its date_pattern, band and band_dates."""
    from irrmap.mapping.treecover.dates import dated_layers

    t = ctx.config.treecover.trend
    return dated_layers([ctx.path(p) for p in t.series], band=t.band, band_dates=t.band_dates, pattern=t.date_pattern,
                        pattern_option="[treecover.trend].date_pattern")


def _trend(ctx: RunContext, out: Path, tags: dict) -> Path:
    from irrmap.mapping.treecover.trend import trend_to_file

    t = ctx.config.treecover.trend
    layers = _series_layers(ctx)
    path = trend_to_file(out, layers, min_years=t.min_years, annual=t.annual, scale=t.scale, nodata=t.nodata, harmonise=t.harmonise,
                         preset=t.preset, valid_range=t.valid_range)
    log.info("tree-cover trend of %d layers %s .. %s -> %s", len(layers), layers[0].date.date, layers[-1].date.date, path)
    return path


def _log_card(label: str, card: dict) -> None:
    m, b = card["cv"]["model"], card["cv"]["baseline"]
    log.info("tree cover fitted on epoch %s (%d cells, %s): held-out R2 %.3f RMSE %.2f bias %+.2f; linear baseline R2 %.3f RMSE %.2f; "
             "reference >= 80 %%: %.1f %%", label, card["samples"]["used"], card["cv"]["held_out"], m["r2"], m["rmse"], m["bias"],
             b["r2"], b["rmse"], 100 * card["reference"]["share_ge_80"])


def _log_truth(label: str, s: dict) -> None:
    log.info("tree cover %s against truth %s: R2 %.3f RMSE %.2f bias %+.2f (n=%d)", label, s["truth"], s["r2"], s["rmse"], s["bias"], s["n"])


def _check(ctx: RunContext) -> None:
    from irrmap.mapping.treecover.codes import refuse_code_layer

    sec = ctx.config.treecover
    checks = [lambda label=label: _stack(ctx, label) for label in sec.epochs]
    checks.append(lambda: _check_units(ctx))
    # a code layer (loss years, a class map by its colour table or values) as the reference or a truth: refused before any fit
    checks += [lambda p=p, r=r: refuse_code_layer(ctx.path(p), role=r)
               for p, r in [(sec.reference, "[treecover].reference"), *((t, f"[treecover].truth.{k}") for k, t in sec.truth.items())]]
    if sec.trend:
        checks.append(lambda: _check_series(ctx))
    if _uses_units(ctx):
        checks.append(lambda: checked_units(ctx))
    raise_all(gather(*checks))


def _check_series(ctx: RunContext) -> None:
    """The series is dated, and holds at least [treecover.trend].min_years calendar years (else every pixel of
    the trend would be NaN), and no file of it is a code layer (a class map: irrmap.mapping.treecover.codes)."""
    from irrmap.mapping.treecover.codes import refuse_code_layer
    from irrmap.mapping.treecover.trend import _check_times

    t = ctx.config.treecover.trend
    layers = _series_layers(ctx)
    firsts: dict = {}
    for layer in layers:
        firsts.setdefault(str(layer.path), layer.band)  # each file's first layer, in series order
    for path, band in firsts.items():
        refuse_code_layer(path, role="[treecover.trend].series", band=band)  # class codes have no trend
    _check_times([layer.date.decimal_year for layer in layers], [layer.date.year for layer in layers], t.min_years)


def _units_params(ctx: RunContext):
    return ctx.config.units.model_dump(mode="json") if _uses_units(ctx) else None


def stage() -> Stage:
    return Stage(
        "treecover", run,
        inputs=_inputs,
        params=lambda ctx: ctx.config.treecover.model_dump(mode="json") | {"chunk": ctx.config.run.chunk_size, "units": _units_params(ctx)}
        | seed_param(ctx, "treecover"),
        enabled=lambda ctx: ctx.config.treecover is not None,
        check=_check,
    )
