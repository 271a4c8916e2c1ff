"""The `irrmap` command line: a thin shell that parses arguments, calls stage functions and writes outputs.

Each command group lives in its own module here and exposes `register(subparsers)`; a command is a function
`(args) -> int`. Errors derived from IrrmapError print as one line and exit 2, and so do failures of a
dask.distributed cluster (irrmap.app.cluster_errors.cluster_failure); with -v their traceback comes first and the
exit status stays 2. The global options -v, -q and --overwrite go before or after the command
(irrmap.app.cli.parser.GLOBAL_OPTIONS).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import signal
import sys
import threading

import irrmap
from irrmap.core.errors import IrrmapError
from irrmap.core.progress import set_progress

# (module, help) for each group, in the order shown by `irrmap --help`.
GROUPS = [
    ("demo", "generate the built-in demo region (inputs, config, truth)"),
    ("run", "run the pipeline described by a TOML config"),
    ("fetch", "fetch the [sources.ee] rasters from Earth Engine (--dry-run: list the requests first)"),
    ("grid", "describe grids and pixel areas"),
    ("units", "admin units: hierarchy, rasterized zone grids"),
    ("statistics", "irrigated-area statistics: read, convert, validate"),
    ("suitability", "irrigation suitability: slope, distance to water, aridity, overlay"),
    ("features", "vegetation-index composites and scores"),
    ("training", "statistics-matched thresholds and the training pool"),
    ("models", "fit and inspect classifiers"),
    ("mapping", "predict, filter and aggregate irrigation maps"),
    ("evaluate", "accuracy against points, statistics and other maps; reports"),
    ("treecover", "tree-cover layer: percent canopy cover, per-pixel trend and change between epochs"),
    ("water", "water-body layer: water masks from Landsat / Sentinel-2 scenes, water bodies, change between epochs"),
    ("reconcile", "harmonise statistics tables and re-threshold a finished map to them, province by province"),
    ("view", "write the offline map viewer (one self-contained HTML file) of a finished run"),
]


# third-party loggers held at WARNING unless -vv asks for debugging output
QUIET_LOGGERS = ("pyogrio", "fiona", "rasterio", "numexpr", "distributed", "matplotlib", "PIL", "lightgbm")


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `irrmap` parser. Given the command line `argv`, only the chosen group's module is imported and its
    commands registered (the others are listed by name and help), so a single-purpose command such as
    `irrmap suitability slope` does not pay for importing every group's dependencies. Without `argv`,
    every group is registered in full."""
    from irrmap.app.cli.parser import Parser, set_command_line

    set_command_line(argv)
    parser = Parser(prog="irrmap", description="Map irrigated cropland at 250 m (CIrrMap250 method).", top=True)
    parser.add_argument("--version", action="version", version=f"irrmap {irrmap.__version__}")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    chosen = None if argv is None else next((a for a in argv if not a.startswith("-")), "")
    for name, help_ in GROUPS:
        if chosen is None or name == chosen:
            importlib.import_module(f"irrmap.app.cli.{name}_cmd").register(sub, name, help_)
        else:
            sub.add_parser(name, help=help_, description=help_)
    return parser


#: GDAL's block cache of every command (MB), `[run].gdal_cache_mb`'s default (irrmap.core.config.RunSection). GDAL's own
#: default is 5 % of RAM (1.2 GB here, 12.8 GB on a 256 GB server), which a single-purpose command filled with blocks
#: read once: on 144 Mpx, `suitability aridity` peaked at 1,913 MB with it, 955 MB with 64 (16 Mpx: 694 / 669 MB)
GDAL_CACHE_MB = 64


def cap_gdal_cache() -> None:
    """Cap GDAL's block cache at GDAL_CACHE_MB for this process unless the environment sets GDAL_CACHEMAX (the user's
    value is kept). Through the environment variable, which GDAL reads at its first block read (a number below
    100,000 counts megabytes: GDAL's gcore/gdalrasterblock.cpp), so the CLI needs no rasterio import for it;
    `irrmap run` sets `[run].gdal_cache_mb` over it through rasterio.Env, and cluster workers get theirs."""
    if not os.environ.get("GDAL_CACHEMAX"):
        os.environ["GDAL_CACHEMAX"] = str(GDAL_CACHE_MB)


def _archive_names_whole(args) -> None:
    """Write every archive dataset name among the arguments (/vsizip//abs/b.zip/x.tif, /vsitar/...) in GDAL's brace
    form (/vsizip/{/abs/b.zip}/x.tif: irrmap.core.dataset_names.normalise), which pathlib keeps whole: Path() turned
    '/vsizip//tmp/b.zip' into '/vsizip/tmp/b.zip', a path relative to the current directory, so commands that wrap
    their arguments in Path (water bodies, ...) failed with "does not exist", while GDAL reads the name."""
    from irrmap.core.dataset_names import normalise

    for dest, value in vars(args).items():
        if isinstance(value, str):
            setattr(args, dest, normalise(value))
        elif isinstance(value, list) and any(isinstance(v, str) for v in value):
            setattr(args, dest, [normalise(v) for v in value])


#: Seconds the worker threads of an interrupted command get to finish the task they are running (a window, a GDAL
#: copy) before the process ends without them (_end_process). A thread can be stuck for good after a stop: Python raises
#: KeyboardInterrupt between two bytecodes of the main thread, also inside `threading.Condition.__enter__` just after
#: it took the lock of a queue.Queue, a Future or a Semaphore (dask's scheduler loop, ThreadPoolExecutor.submit), and
#: that lock is then never released; the worker that puts its result there waits on it forever, and the interpreter's
#: exit, which joins every non-daemon thread, with it. Project choice: a dask task or a window write takes well under
#: this on the grids irrmap writes in windows.
STOP_GRACE_SECONDS = 5.0
STOP_MESSAGE = "finished outputs are kept, partial ones were removed; run the same command again to resume"
_ended: dict = {}  # the stop main() reported: {"code": 130 | 143} (read by _end_process)


def main(argv: list[str] | None = None) -> int:
    """Run the command of `argv` (default sys.argv[1:]) and return its exit status (a stop: the message, 130 or
    143). The process goes on: scripts and tests call it in-process. The `irrmap` program is `program`."""
    _ended.clear()
    try:
        return _main(argv)
    except KeyboardInterrupt as exc:  # a stop while _main was handling another exception, or just as it returned
        return _report_stop(exc)


def program(argv: list[str] | None = None) -> None:
    """The `irrmap` command (console script, `python -m irrmap`): main(argv), then the end of the process
    (_end_process, never returns), so that no worker thread left stuck by a Ctrl-C keeps it alive and a stop that
    comes after the command finished is reported like any other (the message, exit 130 or 143)."""
    code = 1
    try:
        code = main(argv)
        _end_process(code, stopped=bool(_ended))
    except KeyboardInterrupt as exc:  # a stop before _end_process had taken over the signals
        _end_process(code if _ended else _report_stop(exc), stopped=True)


def _report_stop(exc: KeyboardInterrupt) -> int:
    """Print the stop message (Ctrl-C: interrupted, exit 130; SIGTERM: exit 143) and return the exit status."""
    how = "terminated by SIGTERM" if isinstance(exc, Terminated) else "interrupted"
    print(f"irrmap: {how}; {STOP_MESSAGE}", file=sys.stderr)
    _ended["code"] = code = 143 if isinstance(exc, Terminated) else 130
    return code


def _main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    from irrmap.app.cli.parser import merge_global_options

    args = merge_global_options(parser.parse_args(argv))  # -v/-q/--overwrite before or after the command
    _archive_names_whole(args)
    if args.quiet and args.verbose:  # -q dropped -v silently: say which one is meant (argparse's usage error, exit 2)
        parser.error("-q/--quiet and -v/--verbose contradict each other (warnings only, or more logging); give one")
    level = logging.WARNING if args.quiet else (logging.DEBUG if args.verbose > 1 else logging.INFO)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    for chatty in QUIET_LOGGERS:  # third-party INFO lines ("Created 12 records") are not irrmap's to report
        logging.getLogger(chatty).setLevel(logging.WARNING if level >= logging.INFO else level)
    set_progress(False if args.quiet else None)
    func = getattr(args, "func", None)
    if func is None:
        # a group without a command: show that group's help
        target = getattr(args, "group_parser", parser)
        target.print_help()
        return 0 if args.group is None else 2
    from irrmap.app.cli.library_warnings import library_warnings_logged

    cap_gdal_cache()
    try:
        from irrmap.app.cli.input_vrts import refuse_vrts_with_missing_sources
        from irrmap.core.output_paths import command_output_locks, command_outputs, refuse_out_over_any_input

        # no library warning prints its source line; written files are checked against the arguments (command_outputs)
        with _sigterm_as_interrupt(), library_warnings_logged(args.verbose), command_outputs(args, argv, args.overwrite):
            refuse_out_over_any_input(args, argv)  # no command writes its --out over one of its inputs
            refuse_vrts_with_missing_sources(args, argv)  # nor reads a VRT whose source is missing (a traceback at the first read)
            with command_output_locks(args, argv):  # nor an output another process is writing (irrmap.core.output_lock)
                code = int(func(args) or 0)
            sys.stdout.flush()  # a reader that stopped early breaks the pipe here, not at the interpreter's exit
            return code
    except BrokenPipeError:  # output piped into a reader that stopped (`| head`): exit quietly, as the shell expects
        _quiet_stdout()
        return 141  # 128 + SIGPIPE
    except IrrmapError as exc:
        return _user_error(exc, args.verbose)
    except Exception as exc:  # a dask.distributed cluster that failed outside a stage (e.g. while closing): one line too
        from irrmap.app.cluster_errors import cluster_failure

        failure = cluster_failure(exc)  # None for anything but the cluster's own errors: those keep their traceback
        if failure is None:
            raise
        return _user_error(failure, args.verbose)
    except KeyboardInterrupt as exc:  # Ctrl-C (exit 130) or SIGTERM (exit 143 = 128 + 15, as the shell reports it)
        return _report_stop(exc)


def _flush_stdio() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # closed, a pipe whose reader stopped, or none
            pass


def _end_process(code: int, *, stopped: bool) -> None:
    """End the process with exit status `code` (never returns), as the interpreter's exit would but for two things.

    * After a stop (`stopped`: main() printed the message), the worker threads get STOP_GRACE_SECONDS to finish what
      they are running (the interpreter's exit joins every non-daemon thread: dask's pool, ThreadPoolExecutors); one
      that has not finished by then is not waited for: this process's temporaries (irrmap.core.atomic's
      `.NAME.PID.partial`) are removed and the process ends with os._exit. The temporaries are removed on a stop in
      any case: no later run could resume from them.
    * A Ctrl-C or SIGTERM that comes while the process ends (the command had finished, its outputs are complete)
      prints the message and ends it with 130 or 143 (128 + the signal), no longer a traceback, a silent death by
      SIGINT (Python gives signals back to the system at its finalization) or an exit of 0. A second stop ends the
      process at once.

    The interpreter's finalization (garbage collection and teardown of every module: about 0.7 s after
    `suitability slope` on 1800 x 2400 pixels) is skipped: threads are joined and atexit handlers run (logging,
    dask's pool, multiprocessing) as the interpreter does first, then stdout and stderr are flushed."""
    import atexit

    from irrmap.core.atomic import remove_own_partials

    state = {"code": code, "stopped": stopped}
    finished = threading.Event()

    def force_end() -> None:
        remove_own_partials()
        _flush_stdio()
        os._exit(state["code"])

    def deadline() -> None:
        if not finished.wait(STOP_GRACE_SECONDS):
            force_end()

    def arm() -> None:
        threading.Thread(target=deadline, name="irrmap-stop-deadline", daemon=True).start()

    def on_stop(signum, frame) -> None:
        if state["stopped"]:  # a second stop: no more waiting
            force_end()
        state["stopped"], state["code"] = True, 143 if signum == signal.SIGTERM else 130
        how = "terminated by SIGTERM" if signum == signal.SIGTERM else "interrupted"
        with contextlib.suppress(OSError):  # no print() here: the handler may run within a write to sys.stderr
            os.write(2, f"irrmap: {how}; {STOP_MESSAGE}\n".encode())
        arm()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGTERM, on_stop)
    if stopped:
        arm()
    _flush_stdio()
    try:
        shutdown = getattr(threading, "_shutdown", None)  # what the interpreter's exit runs first: threading's atexit
        if shutdown is not None:  # callbacks (ThreadPoolExecutor's), then a join of every non-daemon thread
            shutdown()
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001 - the process ends with the command's status whatever a handler raised
        pass
    finished.set()
    if state["stopped"]:
        remove_own_partials()
    _flush_stdio()
    os._exit(state["code"])


def _user_error(exc: BaseException, verbose: int) -> int:
    """Exit status 2 for an error of the user's input or setup (IrrmapError, a failed cluster), with or without -v:
    the one-line message on stderr, after the traceback (of the exception being handled) when -v was given."""
    if verbose:
        import traceback

        traceback.print_exc(file=sys.stderr)
    print(f"irrmap: error: {exc}", file=sys.stderr)
    return 2


def _quiet_stdout() -> None:
    """After a BrokenPipeError: point stdout at devnull so that the interpreter's final flush of the closed pipe
    raises no second error (the recipe of the Python docs, 'Note on SIGPIPE')."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (captured in tests)
        pass


class Terminated(KeyboardInterrupt):
    """SIGTERM (sent by job schedulers, `timeout` and `kill`) raised in the main thread, so that a command
    stops as on Ctrl-C: atomic writes delete their partial files and `irrmap run` records the stop."""

    def __init__(self):
        super().__init__("terminated by SIGTERM")


def _raise_terminated(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """Within the block, SIGTERM raises Terminated (only the main thread may install signal handlers). A stop
    (SIGTERM or Ctrl-C) that native code swallowed, as a ctypes callback does while numba compiles, is recorded and
    raised again by `irrmap run` after the next task of a local dask computation or before the next stage
    (irrmap.core.interrupts)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    from irrmap.core.interrupts import watch_swallowed

    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        with watch_swallowed():
            yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def add_group(sub, name: str, help_: str) -> argparse._SubParsersAction:
    """Add a command group and return its sub-command registry."""
    group = sub.add_parser(name, help=help_, description=help_)
    group.set_defaults(group_parser=group)
    return group.add_subparsers(dest="command", metavar="COMMAND")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
