"""`irrmap reconcile CONFIG [--by LEVEL] [--only CODE ...]`: harmonise the [reconcile] statistics tables and
re-threshold the finished run's map to them, one resumable job per province (or unit of LEVEL) and year, through
dask (threads, or the dask.distributed cluster of [run].scheduler); outputs in OUTPUT/reconcile/ (docs/reconcile.md)."""

from __future__ import annotations


def register(sub, name: str, help_: str) -> None:
    p = sub.add_parser(name, help=help_, description=help_ + ". Works on the output of a finished `irrmap run CONFIG`; a killed "
                       "command resumes with the jobs not yet done.")
    p.add_argument("config", help="TOML run config with a [reconcile] section")
    p.add_argument("--by", metavar="LEVEL", help="level of the independent jobs, e.g. province or state (default [reconcile].by, "
                   "else the coarsest level of [units])")
    p.add_argument("--only", nargs="+", metavar="CODE", help="run only these units of the --by level; the maps and tables are "
                   "made of every job done so far (earlier jobs of the other units are kept), so they still cover the whole run")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from irrmap.app.context import RunContext
    from irrmap.app.pipeline import dask_scheduler
    from irrmap.app.stages.distinct import check_distinct_roles
    from irrmap.app.stages.reconcile import reconcile
    from irrmap.core.config import load_config
    from irrmap.core.output_lock import output_lock

    loaded = load_config(args.config)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    check_distinct_roles(ctx)  # e.g. two [reconcile.tables] reading the same rows of one file
    from irrmap.core.config_keys import keys_named

    with output_lock(loaded.output_dir), dask_scheduler(loaded.config), keys_named(loaded):  # not while a run or another reconcile writes there
        paths = reconcile(ctx, by=args.by, only=args.only)
    for name, p in paths.items():
        print(f"{name:24s} {p}")
    return 0
