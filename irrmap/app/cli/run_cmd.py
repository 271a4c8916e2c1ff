"""`irrmap run CONFIG`: run the pipeline described by a TOML config (resumable; see irrmap.app.pipeline)."""

from __future__ import annotations


def register(sub, name: str, help_: str) -> None:
    p = sub.add_parser(name, help=help_, description=help_ + ". Stages already up to date are skipped; outputs and manifest.json go to [run].output_dir.")
    p.add_argument("config", help="TOML run config (e.g. from `irrmap demo OUTDIR`)")
    what = p.add_mutually_exclusive_group()  # --force --check ran the check alone: --force was dropped silently
    what.add_argument("--force", action="store_true", help="rerun every stage even if up to date")
    what.add_argument("--check", action="store_true",
                   help="check the config, the output folder and every stage's inputs (files, fields, joins, grid overlap, and the "
                        "values the stages would refuse or warn about: climate units, statistics' area unit against the "
                        "cropland, level tables' year filter, cropland fraction), reading inputs on a grid of at most 4e6 "
                        "pixels and computing no product; list all problems (exit 2) or stop")
    p.add_argument("--scheduler", metavar="WHERE",
                   help="run on a dask.distributed cluster instead of [run].scheduler: local-processes:N (N worker processes here) "
                        "or a scheduler address (tcp://host:8786); the outputs are the same bytes")
    p.set_defaults(func=_run)


def _run(args) -> int:
    from irrmap.app.cluster import check_address, named_by, show_tracebacks

    named_by("irrmap run --scheduler" if args.scheduler is not None else None)  # errors name the option the value came from
    show_tracebacks(getattr(args, "verbose", 0) > 0)  # dask.distributed's logged tracebacks: one line each without -v
    if args.scheduler is not None:
        check_address(args.scheduler)  # its syntax first: before the config and its inputs are read ([run].scheduler: load_config)
    from irrmap.app.api import check
    from irrmap.app.pipeline import run_pipeline

    if args.check:
        from irrmap.app.run_warnings import collected_warnings

        with collected_warnings("check", []) as warned:  # the warnings the run would log about its inputs, counted
            found = check(args.config, scheduler=args.scheduler)
        print(f"config OK: {found['config']}\ngrid: {found['grid']!r}\noutputs: {found['output_dir']}\n"
              f"checked: {', '.join(found['stages']) or 'no stage enabled'}"
              + (f"\nwarnings: {len(warned)} (logged above; the run logs them too)" if warned else ""))
        note = last_run_note(found["output_dir"])
        if note:
            print(f"note: {note}")
        return 0
    manifest = run_pipeline(args.config, force=args.force, scheduler=args.scheduler)
    for name, st in manifest["stages"].items():
        print(f"{name:24s} {st['status']:22s} {st['seconds']:8.2f} s" + (f"  ({st['reason']})" if st.get("reason") else ""))  # why it ran
    print(f"outputs and manifest.json in {manifest['output_dir']}")
    from irrmap.app.run_summary import closing_summary

    print("\n".join(closing_summary(manifest)))
    return 0


def last_run_note(outdir) -> str | None:
    """One line about an unfinished earlier run in output folder `outdir` for `irrmap run --check`, else None (no
    earlier run, or it completed).

    Two records tell: manifest.json with a `status` other than "complete" (written by a run that failed or was
    stopped, naming the stage in `error.stage`): "the last run in OUTDIR stopped at stage S (status failed: MESSAGE);
    `irrmap run` resumes it"; and the holder's record (.irrmap.lock, irrmap.core.output_lock.stale_record) that a
    process killed outright (SIGKILL, power loss) left, with the temporaries of that pid still there (counted as
    irrmap.core.atomic.remove_stale_partials, which the next run calls, finds them)."""
    import json
    import os
    from pathlib import Path

    from irrmap.core.atomic import _PARTIAL
    from irrmap.core.output_lock import LOCK_NAME, stale_record

    outdir = Path(outdir)
    killed = stale_record(outdir)
    if killed is not None:
        pid = str(killed.get("pid"))
        left = sorted(str(Path(root, n).relative_to(outdir)) for root, dirs, files in os.walk(outdir)
                      for n in (*dirs, *files) if (m := _PARTIAL.match(n)) and m["pid"] == pid)
        parts = f"; it left {len(left)} temporary file(s) or folder(s), e.g. {left[0]}, which the next run removes" if left else ""
        return (f"the last run in {outdir} (pid {pid}, `{killed.get('command')}`, since {killed.get('started')}) was "
                f"killed before it finished (its {LOCK_NAME} is left){parts}; `irrmap run` resumes it")
    try:
        manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    status = manifest.get("status") if isinstance(manifest, dict) else None
    if status in (None, "complete"):
        return None
    error = manifest.get("error") or {}
    stages = manifest.get("stages") or {}
    stage = error.get("stage") or next((n for n, st in stages.items() if (st or {}).get("status") not in ("ran", "skipped (up to date)")), None)
    message = " ".join(str(error.get("message") or "").split())
    said = f"{status}: {message[:200]}{'...' if len(message) > 200 else ''}" if message else status
    return f"the last run in {outdir} stopped at stage {stage or '(unknown)'} (status {said}); `irrmap run` resumes it"
