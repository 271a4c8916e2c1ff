"""The argument parser class of every `irrmap` command: argparse's, with one hint added to its errors.

An option taking a list (`--qa FILE...`, `--units FILE...`) takes every value up to the next option, so when it
comes before the positional arguments it also takes them, and argparse then says only "the following arguments
are required: OUT, FILE". The hint names the list option that took them and the two fixes.

The global options (-v, -q, --overwrite: GLOBAL_OPTIONS) are accepted before and after the command.
"""

from __future__ import annotations

import argparse
import re

_argv: list[str] = []  # the command line being parsed (set by irrmap.app.cli.build_parser)


def set_command_line(argv: list[str] | None) -> None:
    _argv[:] = list(argv or [])


# the options of the `irrmap` command itself, accepted before the command (`irrmap -q demo OUT`) and after it (`irrmap
# demo OUT -q`, listed in every command's --help): dest -> (flags, argparse keywords, help)
GLOBAL_OPTIONS = {
    "verbose": (("-v", "--verbose"), {"action": "count"}, "more logging; tracebacks on errors (-vv: debugging output)"),
    "quiet": (("-q", "--quiet"), {"action": "store_true"}, "no progress bars, warnings only"),
    "overwrite": (("--overwrite",), {"action": "store_true"},
                  "replace an existing output file even when it is not of the kind written (e.g. a CSV where a GeoTIFF "
                  "goes); without it such a file is refused (exit 2). Outputs of an earlier run are replaced either way"),
}
SUB_PREFIX = "sub_"  # dest prefix of the global options given after a command (merged by irrmap.app.cli.main)


def add_global_options(parser: argparse.ArgumentParser, top: bool) -> None:
    """Add GLOBAL_OPTIONS to `parser`: with their defaults on the top-level parser; on a command's parser under
    SUB_PREFIX dests without defaults (argparse.SUPPRESS), so a command's parser does not reset what was given before
    the command, and main adds both (-v before and after count together)."""
    group = parser.add_argument_group("global options" if top else "global options (also accepted before the command)")
    for dest, (flags, kw, help_) in GLOBAL_OPTIONS.items():
        if top:
            group.add_argument(*flags, dest=dest, default=0 if kw["action"] == "count" else False, help=help_, **kw)
        else:
            group.add_argument(*flags, dest=SUB_PREFIX + dest, default=argparse.SUPPRESS, help=help_, **kw)


def merge_global_options(args: argparse.Namespace) -> argparse.Namespace:
    """Fold the global options given after the command into args.verbose (counts add), args.quiet, args.overwrite."""
    for dest, (_flags, kw, _help) in GLOBAL_OPTIONS.items():
        after = vars(args).pop(SUB_PREFIX + dest, None)
        if after:
            setattr(args, dest, getattr(args, dest) + after if kw["action"] == "count" else True)
    return args


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose "arguments are required" error names a list option that took the
    positional arguments as its values. Subparsers are made of the same class (argparse's default); each gets
    GLOBAL_OPTIONS (`top=True`: the `irrmap` parser itself, with their defaults)."""

    def __init__(self, *args, top: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        add_global_options(self, top)

    def error(self, message: str):
        if "arguments are required" in message:
            hint = greedy_list_hint(self, _argv)
            if hint:
                message = f"{message}; {hint}"
        else:  # "argument --fill: invalid float value: 'out.tif'": a typed list took a positional argument
            m = re.match(r"argument (--[\w-]+).*: invalid .* value", message)
            action = next((a for a in self._actions if m and m.group(1) in a.option_strings), None)
            if action is not None and action.nargs in ("+", "*"):
                message = (f"{message}; {m.group(1)} is a list option, which takes every value up to the next option; "
                           f"fix: give it after the positional arguments, or end its list with --")
        super().error(message)


def _is_value(token: str) -> bool:
    if not token.startswith("-") or token == "-":
        return True
    try:  # a negative number is a value
        float(token)
        return True
    except ValueError:
        return False


def greedy_list_hint(parser: argparse.ArgumentParser, argv: list[str]) -> str | None:
    """The hint for a list option of `parser` (nargs + or *) given with two or more values in `argv`, else None."""
    lists = {s: a for a in parser._actions if a.nargs in ("+", "*") for s in a.option_strings}
    for i, token in enumerate(argv):
        if token == "--":
            return None
        if token not in lists:
            continue
        values = []
        for t in argv[i + 1:]:
            if not _is_value(t) or t == "--":
                break
            values.append(t)
        if len(values) >= 2:
            shown = " ".join(values[:3]) + (" ..." if len(values) > 3 else "")
            return (f"{token} took every value after it as its list ({shown}), the positional arguments too; fix: give {token} "
                    f"after the positional arguments, or end its list with --")
    return None
