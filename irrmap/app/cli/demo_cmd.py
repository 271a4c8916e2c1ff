"""`irrmap demo OUTDIR`: generate the built-in demo region (inputs, config.toml, truth/)."""

from __future__ import annotations

from irrmap.app.cli.value_types import CHUNK, DEMO_YEAR, POSITIVE, SEED
from irrmap.app.demo.spec import DEFAULT_COLS, DEFAULT_ROWS, DEFAULT_SEED, DEFAULT_YEAR


def register(sub, name: str, help_: str) -> None:
    p = sub.add_parser(
        name, help=help_,
        description=help_ + ". Writes OUTDIR/inputs (what the pipeline reads), OUTDIR/truth (what it must not), "
        "and OUTDIR/config.toml for `irrmap run`. The same seed gives byte-identical files.",
    )
    p.add_argument("outdir", help="folder to write (created if missing)")
    p.add_argument("--rows", type=int, default=DEFAULT_ROWS, help=f"grid rows at 0.00225 deg (default {DEFAULT_ROWS})")
    p.add_argument("--cols", type=int, default=DEFAULT_COLS, help=f"grid columns (default {DEFAULT_COLS})")
    p.add_argument("--seed", type=SEED, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    p.add_argument("--year", type=DEMO_YEAR, default=DEFAULT_YEAR, help=f"year of the data (default {DEFAULT_YEAR})")
    p.add_argument("--chunk", type=CHUNK, default=None, help="processing window (pixels); changes speed and memory, not the output")
    p.add_argument("--workers", type=POSITIVE, default=None, help="threads (default: one per core)")
    p.set_defaults(func=_run)


def _run(args) -> int:
    import time

    from irrmap.app.demo import generate_demo
    from irrmap.core.errors import InputError

    if args.rows < 48 or args.cols < 48:
        raise InputError(f"{args.rows} x {args.cols} is too small", "--rows/--cols", "use at least 48 x 48 pixels")
    t0 = time.perf_counter()
    cfg = generate_demo(args.outdir, rows=args.rows, cols=args.cols, seed=args.seed, year=args.year,
                        chunk=args.chunk, workers=args.workers)
    print(f"demo region ({args.rows} x {args.cols} pixels, seed {args.seed}) written in {time.perf_counter() - t0:.1f} s")
    print(f"inputs: {cfg.parent / 'inputs'}\ntruth:  {cfg.parent / 'truth'} (for scoring only)")
    print(f"config: {cfg}\nnext:   irrmap run {cfg}")
    return 0
