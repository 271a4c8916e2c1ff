"""Stage `models`: fit the configured classifier on the training pool (models/model.joblib + model card)."""

from __future__ import annotations

import logging
from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages.common import predictor_names, seed_param
from irrmap.core.errors import ConfigError

log = logging.getLogger(__name__)


def run(ctx: RunContext) -> list[Path]:
    from irrmap.models import card_path, fit_from_pool, read_pool, save_model

    sec = ctx.config.models
    # no reference kept here: fit_from_pool drops the rows its per-class cap leaves out
    model, card = fit_from_pool(read_pool(ctx.outdir / "training" / "pool.parquet"), model=sec.model, scope=sec.scope, features=sec.features, seed=ctx.config.run.seed,
                                cv_blocks=sec.cv_blocks, n_jobs=sec.n_jobs or -1, max_per_class=sec.max_per_class,
                                features_option="[models].features")
    path = ctx.outdir / "models" / "model.joblib"
    card = save_model(model, path, card)
    cv = card.get("cv") or {}
    log.info("model %s (%s): %d of %d pool samples, CV %s", sec.model, sec.scope, card["samples"]["total"], card["samples"]["pool"],
             {k: v for k, v in cv.items() if not isinstance(v, dict)} or cv)
    return [path, card_path(path)]


def _check(ctx: RunContext) -> None:
    from irrmap.models.fit import NON_FEATURES

    pool = ["lon", "lat", *predictor_names(ctx)]  # the columns training.pool writes
    booked = [f for f in ctx.config.models.features or [] if f in NON_FEATURES]
    if booked:  # the label (or a unit/zone id, a pixel row/col) as a predictor leaks the answer
        raise ConfigError(f"{', '.join(map(repr, booked))} {'is a bookkeeping column' if len(booked) == 1 else 'are bookkeeping columns'}"
                          " of the training pool, not a predictor", "[models].features", f"drop it; use some of: {', '.join(pool)}")
    unknown = [f for f in ctx.config.models.features or [] if f not in pool]
    if unknown:
        raise ConfigError(f"{', '.join(map(repr, unknown))} will not be in the training pool", "[models].features", f"use some of: {', '.join(pool)}")


def stage() -> Stage:
    return Stage("models", run, check=_check, inputs=lambda ctx: [ctx.outdir / "training" / "pool.parquet"],
                 params=lambda ctx: ctx.config.models.model_dump(mode="json") | seed_param(ctx, "models"),
                 enabled=lambda ctx: ctx.config.models is not None)
