"""`irrmap fetch CONFIG [--dry-run]`: fetch the [sources.ee] rasters from Earth Engine (irrmap.sources.ee), or list
the requests a fetch would make."""

from __future__ import annotations


def register(sub, name: str, help_: str) -> None:
    p = sub.add_parser(name, help=help_, description=help_ + ". Finished tiles are kept: run it again to resume after an "
                       "interruption. The rasters go where [inputs] rasters go, so `irrmap run` uses them as they are.")
    p.add_argument("config", help="TOML run config with a [sources.ee] section")
    p.add_argument("--dry-run", action="store_true",
                   help="list the requests (per dataset output: tiles, requests, uncompressed bytes) and a total; request nothing. "
                   "A plan above [sources.ee].max_requests (default 100,000) is refused with the fix, one above a tenth of it warned about")
    p.set_defaults(func=_fetch)


def _readiness(loaded) -> str:
    """One line: whether earthengine-api, readable credentials (irrmap.sources.ee.auth.check_local) and a project are
    there (nothing is sent anywhere)."""
    from irrmap.core.errors import IrrmapError
    from irrmap.sources.ee import auth

    sec = loaded.config.sources.ee
    try:
        auth.require_ee()
        creds = auth.find_credentials(loaded.resolve(sec.credentials) if sec.credentials is not None else None)
        project = auth.resolve_project(sec.project, creds)
        auth.check_local(creds)  # the key loaded as earthengine-api loads it: a damaged key is not "ready"
    except IrrmapError as exc:
        return f"not ready: {exc}"
    return f"ready: project {project}, {creds.describe()}"


def _fetch(args) -> int:
    from irrmap.core.config import load_config
    from irrmap.sources.ee.fetch import fetch_configured
    from irrmap.sources.ee.plan import plan_from_config, plan_text

    loaded = load_config(args.config)
    plan = plan_from_config(loaded, loaded.grid())
    print(plan_text(plan))
    if args.dry_run:
        print(_readiness(loaded))
        return 0
    with _fetch_folder_locked(plan.folder):  # not while a run, another fetch or a command writes there
        paths = fetch_configured(loaded, plan)
    print(f"{len(paths)} raster(s) in {plan.folder} (summary: {plan.folder / 'ee_fetch.json'})")
    return 0


def _fetch_folder_locked(folder):
    """The locks of `irrmap fetch`'s output folder (irrmap.core.output_lock): exclusive on the folder, shared on each
    folder above it, as a command's output folder gets them (irrmap.core.output_paths.command_output_locks). A second
    fetch of the same folder, or an `irrmap run` writing the output folder that holds it (the default
    [sources.ee].output_dir is OUTPUT_DIR/aligned), is refused at once with OutputError (exit 2) naming the holder's
    pid and command; before, both wrote the same tiles and summary and each removed the other's temporaries."""
    import contextlib
    from pathlib import Path

    from irrmap.core.output_lock import folder_shared_lock, output_lock

    stack = contextlib.ExitStack()
    try:
        stack.enter_context(output_lock(folder, None, "[sources.ee].output_dir", tidy=True))
        for parent in sorted(str(p) for p in Path(folder).resolve().parents):
            stack.enter_context(folder_shared_lock(parent, str(folder), "[sources.ee].output_dir"))
    except BaseException:
        stack.close()
        raise
    return stack
