"""The stages `irrmap run` knows, in run order: one module per stage, each a short recipe that reads named
products, calls stage-package functions and writes outputs.

    fetch -> inputs.NAME -> units -> statistics -> water -> treecover -> suitability -> features -> training.thresholds
    -> training.pool -> models -> mapping -> evaluation

(water runs before suitability, which can take its distance to water from the water layer; treecover needs
only [units], and the evaluation report shows it.)

Each module exposes `stage()` (or `stages()`) returning `irrmap.app.context.Stage` records. The runner
(irrmap.app.pipeline) imports this list; nothing here imports the runner.
"""

from __future__ import annotations

from irrmap.app.context import RunContext, Stage
from irrmap.app.stages import evaluation, features, fetch, inputs, mapping, models, statistics, suitability, training, treecover, units, water


def check_values(ctx: RunContext, plan: list[Stage]) -> None:
    """The value checks of the planned stages on their input rasters and tables that `irrmap run --check` adds to
    the stages' own checks (which `irrmap run` runs too): the statistics' whole validation against the cropland
    (statistics.check_values), the climate inputs' plausibility (suitability.check_values), on inputs read onto
    the check grid (irrmap.app.stages.sampled), and the [features] series' files and scale (features.check_values:
    the composites' graph built on the check grid, not computed). The same functions the stages call, so --check
    logs the warnings and raises the errors the run gives later; all errors at once (irrmap.core.errors.gather)."""
    from irrmap.core.config_keys import name_keys
    from irrmap.core.errors import gather, raise_all

    by_stage = {"statistics": statistics.check_values, "suitability": suitability.check_values, "features": features.check_values}
    found = gather(*(lambda n=s.name: _keyed(by_stage[n], ctx, n) for s in plan if s.name in by_stage))
    raise_all(name_keys(found, ctx.loaded), str(ctx.loaded.path))  # a file's problem names its config keys (irrmap.core.config_keys)


def _keyed(check, ctx: RunContext, stage: str) -> None:
    from irrmap.core.config_keys import keys_named

    with keys_named(ctx.loaded, stage):
        check(ctx)


def build_stages(ctx: RunContext) -> list[Stage]:
    """The stage list for this config, in run order."""
    return [fetch.stage(), *(inputs.stage(n) for n in ctx.config.inputs), units.stage(), statistics.stage(), water.stage(),
            treecover.stage(), suitability.stage(), features.stage(), *training.stages(), models.stage(), mapping.stage(), evaluation.stage()]


__all__ = ["build_stages", "check_values"]
