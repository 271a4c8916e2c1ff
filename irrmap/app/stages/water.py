"""Stage `water`: the water-body layer from the [water] epochs' scenes, on the grid of the first scene of the first
epoch (not the run's grid):

  water/EPOCH/mask.tif                      the epoch's water mask (irrmap.mapping.water.mask: water, detection,
                                            persistence)
  water/EPOCH/                              its bodies: body_id.tif, water.tif, persistence.tif, bodies.parquet,
                                            bodies.gpkg (irrmap.mapping.water.bodies)
  water/change_A_B/                         change between consecutive epochs A, B (irrmap.mapping.water.change); body
                                            ids stay stable over all epochs: each pair starts from the one before
  water/reference/EPOCH/                    the bodies of [water].reference[EPOCH], by the same rules
  water/summary.json                        per epoch: scenes, clear share, water share of the clear area, unknown
                                            area, bodies and the largest ones with the unknown area along them
  water/score.json, water/score_EPOCH.csv   mapped bodies against the reference ones (irrmap.mapping.water.score)

Named products: `water_class` (the last epoch's water.tif: 1 water, 0 not water, 255 unknown) and
`water_class_EPOCH`. The stage runs before suitability, which takes its distance to water from it with
[suitability] water = "water_class" (read onto the run's grid: the scenes should cover it). They are no
training predictors (irrmap.app.stages.common.predictor_names).
"""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import WATER_PRODUCT, checked_units, provenance
from irrmap.core.atomic import atomic_path, write_text_atomic
from irrmap.core.relative_path import relative_to_folder
from irrmap.core.errors import DataError, gather, raise_all
from irrmap.core.progress import progress_bar

log = logging.getLogger(__name__)


def _folder(ctx: RunContext) -> Path:
    return ctx.outdir / "water"


def _scene_files(path: Path) -> list[Path]:
    """The files a scene is read from: a stack and its sidecar, or every file under a scene folder."""
    from irrmap.sources.stack import is_stack, sidecar

    if is_stack(path):
        return [path, sidecar(path)]
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def _inputs(ctx: RunContext) -> list[Path]:
    sec = ctx.config.water
    files = [f for scenes in sec.epochs.values() for p in scenes for f in _scene_files(ctx.path(p))]
    files += [ctx.path(p) for p in sec.reference.values()]
    if sec.admin_units and ctx.config.units is not None:
        files.append(ctx.path(ctx.config.units.path))
    return files


def _order(ctx: RunContext) -> list[str]:
    """The epoch labels in chronological order of their scenes' acquisition dates (the median date of each
    epoch's scenes, from the metadata: irrmap.sources.scene.acquisition_date), warning once when [water.epochs]
    lists them in another order; change runs from each epoch to the next in this order and the latest epoch
    gives the stage's water product. The given order when a scene's date cannot be read (reading it reports why)."""
    sec = ctx.config.water
    return _chronological(tuple((e, tuple(str(ctx.path(p)) for p in ps)) for e, ps in sec.epochs.items()))


@functools.lru_cache(maxsize=8)
def _chronological(epochs: tuple) -> list[str]:
    from irrmap.mapping.water.mask import epoch_date
    from irrmap.sources.scene import acquisition_date

    given = [e for e, _ in epochs]
    dates = {e: [acquisition_date(p) for p in ps] for e, ps in epochs}
    if any(d is None for ds in dates.values() for d in ds):
        return given
    when = {e: epoch_date(ds) for e, ds in dates.items()}
    order = sorted(given, key=lambda e: (when[e], given.index(e)))
    if order != given:
        log.warning("[water.epochs] lists the epochs as %s, but their scenes were acquired in the order %s (%s); change is computed and "
                    "the latest water product taken in the order of acquisition (fix: list [water.epochs] in chronological order)",
                    ", ".join(given), ", ".join(order), ", ".join(f"{e}: {when[e]}" for e in order))
    return order


def _provides(ctx: RunContext) -> dict[str, Path]:
    epochs = _order(ctx)
    out = {f"{WATER_PRODUCT}_{e}": _folder(ctx) / e / "water.tif" for e in epochs}
    return out | {WATER_PRODUCT: _folder(ctx) / epochs[-1] / "water.tif"}


def report_files(ctx: RunContext):
    """The stage's outputs the evaluation report shows (irrmap.evaluation.water_section.WaterFiles)."""
    from irrmap.evaluation.water_section import WaterFiles

    sec, folder = ctx.config.water, _folder(ctx)
    labels = _order(ctx)
    return WaterFiles(epochs={e: folder / e for e in labels},
                      changes={(a, b): folder / f"change_{a}_{b}" for a, b in zip(labels[:-1], labels[1:])},
                      summary=folder / "summary.json", score=folder / "score.json" if set(sec.reference) & set(labels) else None)


def _json(path: Path, data) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, default=str))


def run(ctx: RunContext) -> list[Path]:
    import geopandas as gpd

    from irrmap.mapping.water.bodies import bodies_to_files
    from irrmap.mapping.water.change import change_to_files
    from irrmap.mapping.water.mask import epoch_mask, mask_layers, read_scenes, write_mask
    from irrmap.mapping.water.summary import epoch_summary

    sec = ctx.config.water
    folder, chunk = _folder(ctx), ctx.config.run.chunk_size
    units = checked_units(ctx) if sec.admin_units and ctx.config.units is not None else None
    body_rules = {"connectivity": sec.connectivity, "min_area_m2": sec.min_area_m2, "tile": chunk}
    order = _order(ctx)
    raise_all(gather(*_reference_checks(ctx), lambda: _distinct_scenes(ctx)))  # bad inputs fail now, not after every epoch was computed
    # the grid of the first scene of the first epoch as listed (docs), whatever the chronological order
    grid, outputs, summary, scores = read_scenes([ctx.path(next(iter(sec.epochs.values()))[0])], cloud_buffer=sec.cloud_buffer)[0].grid, [], {}, {}
    with progress_bar(total=len(sec.epochs), desc="water epochs", unit="epoch") as bar:
        for label in order:
            paths = sec.epochs[label]
            scenes = read_scenes([ctx.path(p) for p in paths], grid=grid, cloud_buffer=sec.cloud_buffer, where=f"[water].epochs.{label}")
            tags = provenance(ctx, "water") | {"epoch": label, "scene_dates": ";".join(s.date.isoformat() for s in scenes),
                                              "cloud_buffer": str(sec.cloud_buffer)}
            composite = epoch_mask(scenes, method=sec.method, threshold=sec.threshold, index=sec.index, detection=sec.detection,
                                   extent=sec.extent, permanent=sec.permanent, min_clear=sec.min_clear)
            mask = write_mask(folder / label / "mask.tif", composite, scenes=[ctx.path(p) for p in paths], tags=tags)
            layers = mask_layers(mask, chunks=chunk)
            files = bodies_to_files(layers["water"], folder / label, detection=layers["detection"], persistence=layers["persistence"],
                                    units=units, tags=tags, **body_rules)
            outputs += [mask, *files.values()]
            table = gpd.read_parquet(files["bodies_parquet"])
            # relative to summary.json's folder (not to the config's, as written there): the same bytes in any folder
            summary[label] = {"scenes": [relative_to_folder(ctx.path(p), folder) for p in paths], "sensors": [s.sensor for s in scenes],
                              "dates": [s.date.isoformat() for s in scenes], **epoch_summary(files["water"], table, tile=chunk)}
            _log_epoch(label, summary[label])
            if summary[label]["clear_km2"] == 0:
                raise DataError(f"every pixel of epoch {label} is unknown: cloud, shadow, snow or fill in each of its scenes", "[water].epochs",
                                f"add scenes with clear views to epoch {label}, or leave the epoch out")
            if label in sec.reference:
                scores[label], scored = _score(ctx, label, grid, table, files["body_id"], tags, body_rules)
                outputs += scored
            bar.update()
    labels, previous = order, None
    for a, b in zip(labels[:-1], labels[1:]):  # each pair carries the stable ids and next free id of the one before
        outputs += change_to_files(folder / f"change_{a}_{b}", folder / a, folder / b, tolerance=sec.tolerance, previous=previous,
                                   tile=chunk).values()
        previous = folder / f"change_{a}_{b}"
    outputs.append(_json(folder / "summary.json", summary))
    if scores:
        outputs.append(_json(folder / "score.json", scores))
    return [Path(p) for p in outputs]


def _score(ctx: RunContext, label: str, grid, table, body_ids: Path, tags: dict, body_rules: dict) -> tuple[dict, list[Path]]:
    """The bodies of [water].reference[label], read onto `grid` and labelled by the same rules, matched to the
    epoch's bodies (`table`, `body_ids`): the scores and the files written."""
    import geopandas as gpd

    from irrmap.mapping.water.bodies import bodies_to_files
    from irrmap.mapping.water.score import body_scores, match_iou, read_reference

    sec, chunk = ctx.config.water, ctx.config.run.chunk_size
    source = sec.reference[label]
    reference = read_reference(ctx.path(source), grid, chunks=chunk, where=_reference_where(ctx, label))  # nearest / mode, warned
    ref_dir = _folder(ctx) / "reference" / label
    files = bodies_to_files(reference, ref_dir, tags=tags | {"reference": relative_to_folder(ctx.path(source), ref_dir)}, **body_rules)
    ref_table = gpd.read_parquet(files["bodies_parquet"])
    pairs = match_iou(ref_table, files["body_id"], table, body_ids, iou=sec.iou, tile=chunk)
    scores = {"reference": relative_to_folder(ctx.path(source), _folder(ctx)), **body_scores(ref_table, table, pairs, iou=sec.iou)}
    _log_score(label, scores)
    return scores, [*files.values(), _csv(pairs, _folder(ctx) / f"score_{label}.csv")]


def _csv(df, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


def _log_epoch(label: str, s: dict) -> None:
    share = "n/a" if s["water_share_of_clear"] is None else f"{s['water_share_of_clear']:.1%}"
    big = ", ".join(f"{b['area_km2']:.3g} km2 (+{b['unknown_km2']:.3g} km2 unknown along it)" for b in s["largest"][:3])
    log.info("water %s: clear %.1f%% of %.6g km2, water %s of the clear area, %d bodies; largest: %s", label, 100 * s["clear_share"],
             s["area_km2"], share, s["n_bodies"], big or "none")


def _log_score(label: str, s: dict) -> None:
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    e = s["area_error"]
    log.info("water %s against %s: %d reference / %d mapped bodies, %d matched at IoU >= %g: precision %s, recall %s; area error of "
             "matched bodies: mean |error| %s %%, total %s %%", label, s["reference"], s["n_reference"], s["n_mapped"], s["n_matched"],
             s["iou_threshold"], fmt(s["precision"]), fmt(s["recall"]), fmt(e["mean_abs_pct"]), fmt(e["total_pct"]))


def _reference_where(ctx: RunContext, label: str) -> str:
    return f"[water].reference.{label} ({ctx.path(ctx.config.water.reference[label])})"


def _reference_checks(ctx: RunContext) -> list:
    """One cheap check per [water].reference file (irrmap.mapping.water.score.check_reference: it opens, its
    water band holds 0 / 1 / 255 / nodata only on a decimated read), each error naming [water].reference."""
    from irrmap.core.errors import IrrmapError
    from irrmap.mapping.water.score import check_reference

    def one(label):
        where = _reference_where(ctx, label)
        try:
            check_reference(ctx.path(ctx.config.water.reference[label]), where=where)
        except IrrmapError as exc:
            if exc.where == where:
                raise
            what = f"{exc.where}: {exc.what}" if exc.where and exc.where not in where else exc.what
            raise type(exc)(what, where, exc.fix or "give a readable water mask as [water].reference") from exc

    return [lambda label=label: one(label) for label in ctx.config.water.reference]


def _distinct_scenes(ctx: RunContext) -> None:
    """InputError when one acquisition is listed twice in [water.epochs], within an epoch or across two
    (irrmap.mapping.water.mask.check_distinct_scenes): within one it would be weighed twice, across two the
    change between them would compare a scene with itself."""
    from irrmap.mapping.water.mask import check_distinct_scenes

    listed = [(e, p) for e, scenes in ctx.config.water.epochs.items() for p in scenes]
    check_distinct_scenes([ctx.path(p) for _, p in listed], "[water].epochs", labels=[f"{e}: {p}" for e, p in listed])


def _check(ctx: RunContext) -> None:
    from irrmap.sources import read_scene

    sec = ctx.config.water
    checks = [lambda p=p: read_scene(ctx.path(p)) for scenes in sec.epochs.values() for p in scenes]
    checks.append(lambda: _distinct_scenes(ctx))
    checks += _reference_checks(ctx)
    if sec.admin_units and ctx.config.units is not None:
        checks.append(lambda: checked_units(ctx))
    raise_all(gather(*checks))


def _units_params(ctx: RunContext):
    uses = ctx.config.water.admin_units and ctx.config.units is not None
    return ctx.config.units.model_dump(mode="json") if uses else None


def stage() -> Stage:
    return Stage(
        "water", run,
        inputs=_inputs,
        params=lambda ctx: ctx.config.water.model_dump(mode="json") | {"chunk": ctx.config.run.chunk_size, "units": _units_params(ctx)},
        enabled=lambda ctx: ctx.config.water is not None,
        provides=_provides,
        check=_check,
    )
