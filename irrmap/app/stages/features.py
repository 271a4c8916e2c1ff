"""Stage `features`: annual VI composites, N- and S-scores from the [features] series (features/*.tif),
written in two streaming passes (composites, then the scores from the written maxima) so that every
composite is computed once."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pandas as pd

import irrmap
from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import check_raster_on_grid, provenance, read_product, zones_and_codes
from irrmap.app.stages.sampled import check_fraction_input
from irrmap.core.config import feature_paths
from irrmap.core.errors import ConfigError, gather, raise_all
from irrmap.core.raster_write import RasterOutput, write_rasters

PRODUCT_KEYS = {"cropland": "cropland", "natural": "forest_grass", "other": "other_cover"}


def _settings(ctx: RunContext) -> tuple[dict, dict]:
    """The [features] keys for training.sscore.feature_rasters, and the products the stage reads (read_names)."""
    sec = dict(ctx.config.features)
    for k in PRODUCT_KEYS:
        sec.pop(k, None)
    return sec, read_names(ctx)


def read_names(ctx: RunContext) -> dict[str, str | None]:
    """The product each [features] product key reads ({"cropland": ..., "natural": ..., "other": ...}), None for
    one not read; the stage's check requires exactly these (ConfigError for a name no input or stage produces) and
    its run reads exactly these, so `irrmap run --check` passes only when the run can read them.

    - cropland: always read (default "cropland"): the mixed-pixel factor and the N-score reference pixels.
    - natural (forest/grass share, default "forest_grass"): the N-score reference pixels (crop + forest/grass share
      >= reference_min_share, METHOD.md section 1) and the mixed-pixel rule. A name given is required; the default
      is read only when some input or stage produces it, else the reference pixels use the crop share alone.
    - other (urban/water/unused share, default "other_cover"): used only by the mixed-pixel rule, so not read with
      `mixed = false`; otherwise required when given, the default read when produced.
    An empty name ("") reads nothing. With `mixed = true` and no natural or other share the composites are not
    adjusted (training.sscore.composite_rasters logs that warning)."""
    sec = ctx.config.features
    names = {}
    for key, default in PRODUCT_KEYS.items():
        name = sec.get(key, default)
        used = key == "cropland" or key in sec or name in ctx.products
        if key == "other" and not sec.get("mixed", True):
            used = False
        names[key] = name if used and name else None
    return names


def feature_names(ctx: RunContext) -> list[str]:
    """Names of the rasters the features stage writes (mirrors training.sscore.feature_rasters)."""
    sec, _ = _settings(ctx)
    stats = list(dict.fromkeys(["max", *sec.get("stats", [])]))
    vis = [v for v in ("evi", "ndvi") if v in sec]
    if "gi" in sec or ("nir" in sec and "green" in sec):
        vis.append("gi")
    if "ndwi" in sec or ("nir" in sec and "swir" in sec):
        vis.append("ndwi")
    names = [f"{v}_{st}" for v in vis for st in stats]
    if "gi" in vis and "ndwi" in vis:
        names.append("agi")
    scored = [v for v in ("evi", "ndvi", "gi") if v in vis]
    names += [f"n{v}" for v in scored]
    if ctx.config.suitability is not None:
        names += [f"s{v}" for v in scored]
    return names


def run(ctx: RunContext) -> list[Path]:
    """Two streaming passes: the composites (every <vi>_<stat> and agi), then the N- and S-scores from the
    maxima read back from their files. In one pass, each window's 101 x 101 running median recomputed the
    composites of the windows under its halo from every date of every series (up to 9 times each on large
    grids); reading the written maxima back costs a fraction of that. Same values as one pass."""
    from irrmap.training.sscore import SCORE_VIS, composite_rasters, feature_scores

    sec, names = _settings(ctx)
    sec.setdefault("chunks", ctx.config.run.chunk_size)  # [run].chunk_size unless [features] sets its own
    read = lambda key: read_product(ctx, names[key], f"[features].{key}") if names[key] else None  # noqa: E731
    zones, _ = zones_and_codes(ctx)
    s = unit_table = None
    if ctx.config.suitability is not None:
        s = read_product(ctx, "suitability", "[suitability]")
        unit_table = pd.read_csv(ctx.outdir / "suitability" / "units.csv", index_col="zone")
    f_crop, f_natural = read("cropland"), read("natural")
    composites = composite_rasters(sec, ctx.grid, f_crop=f_crop, f_natural=f_natural, f_other=read("other"),
                                   base_dir=ctx.loaded.base, year=run_year(ctx))
    expected = feature_names(ctx)
    _check_names(composites, [n for n in expected if not (n[0] in "ns" and n[1:] in SCORE_VIS)])
    written = _write(ctx, composites, "composites")
    from irrmap.training.series_checks import warn_low_max

    for v in ("evi", "ndvi"):  # a maximum below 0.1 everywhere is no VI (e.g. a composite-day layer, scaled twice)
        if f"{v}_max" in composites:
            warn_low_max(ctx.outdir / "features" / f"{v}_max.tif", 1, f"[features].{v} ({v}_max)")
    vi_max = {v: read_product(ctx, f"{v}_max", "[features]", chunks=int(sec["chunks"])) for v in SCORE_VIS if f"{v}_max" in composites}
    where = {v: f"[features].{v if v in sec or v != 'gi' else 'nir, [features].green'} ({v}_max)" for v in vi_max}  # medians <= 0 counted
    scores = feature_scores(sec, vi_max, f_crop=f_crop, f_natural=f_natural, suitability=s, zones=zones, unit_table=unit_table, where=where)
    _check_names(scores, [n for n in expected if n not in composites])
    written += _write(ctx, scores, "scores")
    with contextlib.suppress(OSError):  # both passes' window folders are gone once their files are written
        (ctx.outdir / "features" / "resume").rmdir()
    return written


def _check_names(rasters: dict, expected: list[str]) -> None:
    if set(rasters) != set(expected):
        raise ConfigError(f"features produced {sorted(rasters)}, expected {sorted(expected)}", "[features]",
                          "report this: the stage's name list is out of step with training.sscore")


def _write(ctx: RunContext, rasters: dict, part: str) -> list[Path]:
    """Write one pass's rasters to features/NAME.tif; windows finished by an interrupted run with the same key
    are kept in features/resume/PART/ and not recomputed. A raster adjusted for mixed pixels (evi_max, ndvi_max,
    gi_max, and agi made of gi_max) also carries the tags training.mixed_pixels.mixed_tags put in its attrs
    (mixed_pixels: the rule and its mixed_upper), which the other files lack."""
    from irrmap.training.mixed_pixels import TAG, UPPER_TAG

    tags = provenance(ctx, "features")
    outputs = [RasterOutput(ctx.outdir / "features" / f"{n}.tif", arr, descriptions=[n], cog=False,
                            tags={**tags, **{k: arr.attrs[k] for k in (TAG, UPPER_TAG) if k in arr.attrs}}) for n, arr in rasters.items()]
    return write_rasters(outputs, desc=f"features ({part})", resume=ctx.outdir / "features" / "resume" / part, resume_key=_resume_key(ctx))


def _resume_key(ctx: RunContext) -> str:
    """What the stage's windows depend on: its config, the run's chunking (not its seed: no random draw), the grid, irrmap's
    version and code digest (irrmap.core.code_digest) and the checksum of every file it reads (the stage
    fingerprint's ingredients): windows computed by other code are not reused."""
    from irrmap.core.code_digest import code_digest

    return json.dumps([ctx.config.features, ctx.config.run.chunk_size, ctx.grid.to_dict(),
                       irrmap.__version__, code_digest(), [ctx.checksum(p) for p in _inputs(ctx)]], sort_keys=True, default=str)


def _inputs(ctx: RunContext) -> list[Path]:
    sec, names = _settings(ctx)
    files = [ctx.products[n] for n in names.values() if n is not None and n in ctx.products]
    for _, p in feature_paths(sec):  # a folder (per-date files, a Zarr store) counts with every file in it
        path = ctx.path(p)
        files += sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path] if path.is_file() else []
    if "zones" in ctx.products:
        files += [ctx.products["zones"], ctx.outdir / "units" / "units.csv"]  # zones_and_codes reads both
    if ctx.config.suitability is not None:
        files += [ctx.products["suitability"], ctx.outdir / "suitability" / "units.csv"]
    return files


def _check(ctx: RunContext) -> None:
    from irrmap.training.sscore import check_section

    sec, names = _settings(ctx)
    checks = [lambda: check_section(sec, ctx.loaded.base)] + [lambda key=key, n=n: ctx.product(n, f"[features].{key}") for key, n in names.items()
              if n is not None]  # exactly the products run reads (read_names)
    # the land-cover shares are 0..1 (a percent forest/grass share made every pixel an N-score reference pixel,
    # silently); the cropland is checked by the training stage, which reads it too
    checks += [lambda n=names[k]: check_fraction_input(ctx, n) for k in ("natural", "other") if names[k] is not None]
    for key, p in feature_paths(sec):  # single raster files (a multi-band series, a QA stack); folders are listed at run time
        path = ctx.path(p)
        if path.is_file() and path.suffix.lower() not in (".nc", ".zarr"):
            checks.append(lambda key=key, path=path: check_raster_on_grid(path, ctx.grid, f"[features].{key}"))
    raise_all(gather(*checks))


def check_values(ctx: RunContext) -> None:
    """The checks the stage's run makes while it builds its composites (training.sscore.composite_rasters, the same
    call), run by `irrmap run --check` on the check grid (irrmap.app.stages.sampled.check_grid) without computing:
    every series' files listed, paired with their QA files and opened, and the scale of a series' first file checked
    against float values that already look scaled (irrmap.core.raster_read.check_scaled_once on a sample of at most
    ~256 x 256 pixels: InputError for a scale below 1, e.g. preset = "mod13q1" on an export already in 0..1). With
    `mixed = true` and no natural or other share (read_names) it logs the run's warning that the mixed-pixel
    adjustment is skipped. Raises the InputError / ConfigError the run would raise in this stage."""
    from irrmap.app.stages.sampled import check_grid
    from irrmap.training.sscore import composite_rasters

    sec, names = _settings(ctx)
    # the mixed-pixel rule's shares are products (checked by _check); with one missing the same call logs the skip
    skipped = bool(sec.get("mixed", True)) and (names["natural"] is None or names["other"] is None)
    composite_rasters({**sec, "mixed": skipped}, check_grid(ctx.grid), f_crop=None, base_dir=ctx.loaded.base, year=run_year(ctx))


def run_year(ctx: RunContext) -> int | None:
    """The year the run maps, when the config says it: [statistics].year (the config has no [run].year). A series
    whose dates span more than a year keeps the dates of this year's season ([features].season_start, default the
    calendar year; irrmap.core.season); without it such a series is refused. A series of one year's span with fewer
    than half of its dates in that season is refused (training.series_checks.one_year)."""
    stats = ctx.config.statistics
    return getattr(stats, "year", None) if stats is not None else None


def _params(ctx: RunContext) -> dict:
    """[features], whether S-scores are written (they are when [suitability] is set: feature_names) and the run's
    year (run_year: it picks the dates of a series spanning several years)."""
    return {"features": ctx.config.features, "s_scores": ctx.config.suitability is not None, "year": run_year(ctx)}


def stage() -> Stage:
    return Stage("features", run, inputs=_inputs, params=_params,
                 enabled=lambda ctx: ctx.config.features is not None, check=_check,
                 provides=lambda ctx: {n: ctx.outdir / "features" / f"{n}.tif" for n in feature_names(ctx)})
