"""Stage `fetch`: the [sources.ee] rasters fetched from Earth Engine onto the run's grid before any other stage
(irrmap.sources.ee.fetch). Outputs already fetched with the same request are kept, so a run whose rasters are all
there needs neither earthengine-api nor credentials. Each output is a named product, like an [inputs.NAME] raster."""

from __future__ import annotations

from pathlib import Path

from irrmap.app.context import RunContext, Stage
from irrmap.sources.ee.fetch import fetch_configured
from irrmap.sources.ee.plan import is_done, output_paths, plan_from_config, resolve_datasets


def _section(ctx: RunContext):
    return ctx.config.sources.ee


def stage(connection=None) -> Stage:
    """The fetch stage; `connection` replaces irrmap.sources.ee.fetch.connect (tests pass a recorded transport)."""
    def run(ctx: RunContext) -> list[Path]:
        return fetch_configured(ctx.loaded, plan_from_config(ctx.loaded, ctx.grid), connection)

    def check(ctx: RunContext) -> None:
        from irrmap.sources.ee import auth

        plan = plan_from_config(ctx.loaded, ctx.grid)  # datasets known, names unique, region readable and on the grid
        if connection is None and not all(is_done(o) for o in plan.outputs):
            sec = _section(ctx)
            auth.require_ee()
            creds = auth.find_credentials(ctx.path(sec.credentials) if sec.credentials is not None else None)
            auth.resolve_project(sec.project, creds)
            auth.check_local(creds)  # a damaged key or credentials file: refused before any stage runs

    def inputs(ctx: RunContext) -> list[Path]:
        region = _section(ctx).region
        return [ctx.path(region)] if isinstance(region, Path) else []

    return Stage(
        name="fetch",
        run=run,
        inputs=inputs,
        params=lambda ctx: _section(ctx).model_dump(mode="json", exclude={"credentials"}),
        enabled=lambda ctx: ctx.config.sources is not None and ctx.config.sources.ee is not None,
        provides=lambda ctx: output_paths(ctx.loaded, resolve_datasets(_section(ctx))),
        check=check,
    )
