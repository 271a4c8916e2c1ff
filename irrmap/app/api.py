"""The Python entry points behind `irrmap.run` and `irrmap.check`: what `irrmap run CONFIG` does, callable."""

from __future__ import annotations

from pathlib import Path


def run(config, *, force: bool = False) -> dict:
    """Run the pipeline described by a TOML config, resumably; the Python form of `irrmap run CONFIG`.

    Parameters
    ----------
    config : str or Path
        A run config (TOML; e.g. the one `irrmap demo OUTDIR` writes). Relative paths in it resolve against
        its folder. Inputs may be on any CRS: each is aligned onto the config's [grid] (geographic or
        projected; areas are true ellipsoidal square metres either way).
    force : bool
        Rerun every stage even when its fingerprint (config, grid, input checksums) is unchanged.

    Returns
    -------
    dict
        The run manifest also written to ``<output_dir>/manifest.json``: per stage its status ("ran" or
        "skipped (up to date)"), seconds and output paths (relative to ``output_dir``); config hash,
        seed, package versions and input checksums.

    Raises
    ------
    irrmap.IrrmapError
        (ConfigError, InputError, DataError, GridError) for a bad config, an unreadable or implausible
        input, or data that cannot be mapped; the message names the file, the field and the fix.
    """
    from irrmap.app.pipeline import run_pipeline

    return run_pipeline(Path(config), force=force)


def check(config, scheduler: str | None = None) -> dict:
    """Check a config and everything `run` would check before any work, without computing or writing; the
    Python form of `irrmap run --check`.

    Checked: the config (keys, values, files named exist, UTF-8), the grid (resolution in the CRS's units), the
    output folder (a writable folder with free space), the scheduler (`scheduler`, as `irrmap run --scheduler`,
    else [run].scheduler: an address is connected to, at most 10 s, and its workers counted), and every enabled
    stage's own checks: input rasters open and overlap the grid, unit and point files hold the named fields and overlap the grid, the
    statistics table has its columns, joins the units and passes validation (when strict), product names and
    unit codes in the config exist; the level tables of [evaluation] keep rows after the year/variant filter; a
    cropland input that is no 0..1 fraction is refused. Then the value checks the stages run later on their inputs
    (irrmap.app.stages.check_values, on inputs read onto a grid of at most 4e6 pixels): the statistics' scale
    against the cropland (a wrong area_unit warns) and the climate rasters' units (errors; a median aridity index
    above 3 warns). Warnings are logged (logger irrmap.*), as the run logs them.

    Returns
    -------
    dict
        ``config`` (Path), ``grid`` (Grid), ``output_dir`` (Path) and ``stages`` (names, in run order).

    Raises
    ------
    irrmap.IrrmapError
        The one problem found, or an ``ErrorList`` (its ``errors`` attribute) listing all of them.
    """
    from irrmap.app.context import RunContext
    from irrmap.app.pipeline import plan_stages
    from irrmap.app.stages import check_values
    from irrmap.core.config import load_config

    if scheduler is not None:
        from irrmap.app.cluster import check_address

        check_address(scheduler)  # its syntax first, before the config's inputs are read
    loaded = load_config(Path(config))
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    plan = plan_stages(ctx, scheduler=scheduler, reach=True)  # a scheduler address is connected to, its workers counted
    check_values(ctx, plan)  # what the stages would refuse or warn about in their inputs' values, read on a coarse grid
    return {"config": loaded.path, "grid": ctx.grid, "output_dir": ctx.outdir, "stages": [s.name for s in plan]}
