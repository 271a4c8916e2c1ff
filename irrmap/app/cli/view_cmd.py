"""`irrmap view RUN_DIR [--out FILE] [--max-size PX]`: the offline map viewer of a finished run.

Writes one self-contained HTML file (default RUN_DIR/view.html, which the report links to) that needs no
internet: Leaflet inlined, the maps as tile pyramids read from the COGs' overviews (never their full
resolution when the map is larger than --max-size), admin units with statistic / mapped area / difference
popups and the reference points coloured by agreement (irrmap.evaluation.viewer; docs/viewer.md). The admin units
and the title come from the config the run used (its sha256 against the manifest's config_sha256; resolved beside
a moved run folder); an edited config gives a note naming the fix (`irrmap run CONFIG` again) instead.
"""

from __future__ import annotations

import contextlib
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
        res = write_viewer(args.run_dir, args.out, max_size=args.max_size)
    print(f"map viewer: {res.path} ({res.bytes / 1e6:.1f} MB, {res.tiles} tiles/images)")
    print("layers: " + ", ".join(res.layers))
    for note in res.notes:
        print(f"note: {note}")
    return 0
