"""`irrmap view RUN_DIR [--out FILE] [--max-size PX]`: the offline map viewer of a finished run.

Writes one self-contained HTML file (default RUN_DIR/view.html, which the report links to) that needs no
internet: Leaflet inlined, the maps as tile pyramids read from the COGs' overviews (never their full
resolution when the map is larger than --max-size), admin units with statistic / mapped area / difference
popups and the reference points coloured by agreement (irrmap.evaluation.viewer; docs/viewer.md). The admin units
and the title come from the config the run used (its sha256 against the manifest's config_sha256; resolved beside
a moved run folder); an edited config gives a note naming the fix (`irrmap run CONFIG` again) instead.

A file the viewer shows (a map, a table it reads) that changed after the run finished (a later `irrmap run` rewrote
it and was interrupted, or it was edited) gives a note in red above the map and a warning on stderr naming it; the
exit status stays 0 (`_changed_since_run`).
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path


def register(sub, name: str, help_: str) -> None:
    p = sub.add_parser(name, help=help_, description=help_ + ". Layers are found from the run's manifest.json; absent ones "
                       "are skipped. The finest tile level is capped at --max-size pixels on the long side (coarser levels "
                       "are read from the rasters' overviews), which bounds the file's size for any map size.")
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="output folder of `irrmap run` (the one with manifest.json), "
                   "or the folder holding it as output/")
    p.add_argument("--out", type=Path, default=None, metavar="FILE", help="HTML file to write (default: RUN_DIR/view.html)")
    p.add_argument("--max-size", type=int, default=2048, metavar="PX",
                   help="finest tile level, in pixels on the map's long side (default 2048; 256-8192)")
    p.set_defaults(func=run)


def run(args) -> int:
    from irrmap.core.errors import ConfigError
    from irrmap.core.output_lock import output_lock
    from irrmap.evaluation.viewer import write_viewer

    if not 256 <= args.max_size <= 8192:
        raise ConfigError(f"--max-size {args.max_size}: give 256 .. 8192 pixels")
    run_dir = next((d for d in (args.run_dir, args.run_dir / "output") if (d / "manifest.json").is_file()), None)
    with output_lock(run_dir, where="RUN_DIR") if run_dir is not None else contextlib.nullcontext():  # not while a run writes there
        res = write_viewer(args.run_dir, args.out, max_size=args.max_size, verify=_changed_since_run)
    for alert in res.alerts:
        print(f"irrmap: warning: {alert}", file=sys.stderr)
    print(f"map viewer: {res.path} ({res.bytes / 1e6:.1f} MB, {res.tiles} tiles/images)")
    print("layers: " + ", ".join(res.layers))
    for note in res.notes[len(res.alerts):]:
        print(f"note: {note}")
    return 0


def _changed_since_run(layers) -> list[str]:
    """Alerts for the files the viewer shows (irrmap.evaluation.viewer.layers.shown_files) that are no longer the ones
    the finished run left: one per file whose digest differs from the one recorded for it, manifest.json's (`inputs`:
    the files later stages read, e.g. mapping/class.tif) or else the run state's (irrmap.app.run_state: each stage's
    digests of its outputs) while the state's record of the stage that wrote it is the manifest's run (same
    fingerprint). A stage a later `irrmap run` reran (another fingerprint) recorded digests of its new outputs: those
    files are that run's. One a later run left interrupted recorded none: its files written after manifest.json may be
    that run's (one alert for the stage). Digests come through the run's DigestCache (a file is not hashed again while
    its identity is the one cached; the cache is not written); manifest.json records no size or time to check first."""
    from irrmap.app.context import input_digest
    from irrmap.app.pipeline import DIGEST_FILE
    from irrmap.app.run_state import load_state
    from irrmap.core.manifest import DigestCache
    from irrmap.evaluation.viewer.layers import shown_files

    out, manifest = layers.run_dir, layers.manifest
    if manifest.get("status") != "complete":
        return []
    recorded = manifest.get("inputs") or {}
    stages = manifest.get("stages") or {}
    writer = {o: name for name, rec in stages.items() if isinstance(rec, dict) for o in rec.get("outputs") or []}
    config = layers.config_path or Path(manifest.get("config") or out / "config.toml")
    state = load_state(out, config.parent)
    cache = DigestCache(out / DIGEST_FILE)
    try:
        finished = os.stat(out / "manifest.json").st_mtime_ns
    except OSError:
        finished = None
    fix = f"rerun `irrmap run {config}` to finish the run, or `irrmap run {config} --check` to see what it would do"
    alerts, maybe = [], {}
    for f in shown_files(layers):
        rel = Path(os.path.relpath(f, out)).as_posix()
        stage = writer.get(rel)
        mine, now = stages.get(stage) or {}, state.get(stage) if stage else None
        now = now if isinstance(now, dict) else {}
        rerun = bool(now) and ("interrupted" in now or now.get("fingerprint") != mine.get("fingerprint"))
        why = None
        try:
            if (want := recorded.get(rel)) is not None:
                if input_digest(str(f), cache.sha256) != want:
                    why = "its sha256 is not the one manifest.json records"
            elif not rerun and (want := (now.get("digests") or {}).get(rel)) is not None:
                if input_digest(str(f), cache.sha256) != want:
                    why = "its sha256 is not the one the run recorded in .irrmap-state.json"
            elif rerun and rel in (now.get("digests") or {}):
                why = f"written by a later `irrmap run` that reran stage {stage} and did not finish"
            elif rerun and finished is not None and f.stat().st_mtime_ns > finished:
                maybe.setdefault(stage, []).append(rel)
        except OSError:
            continue  # unreadable: drawing the layer reports it
        if why:
            if rerun and "later" not in why:
                why += f"; stage {stage} was rerun by a later `irrmap run` that did not finish"
            alerts.append(f"{rel} changed after the run finished ({why}): the view shows it as it is now, not as the run "
                          f"left it; {fix}")
    for stage, rels in maybe.items():
        alerts.append(f"stage {stage} was started again by a later `irrmap run` that did not finish: {', '.join(rels)} "
                      f"(written after manifest.json) may be that run's, not the finished run's; {fix}")
    return alerts
