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


def check(config) -> dict:
    """Validate a config and its inputs without computing anything; the Python form of `irrmap run --check`.

    Returns a dict with the config path, the grid (``Grid``) and the output folder. Raises
    ``irrmap.IrrmapError`` naming the key and the fix for the first problem found.
    """
    from irrmap.core.config import load_config

    loaded = load_config(Path(config))
    return {"config": loaded.path, "grid": loaded.grid(), "output_dir": loaded.output_dir}
