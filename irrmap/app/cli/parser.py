"""The argument parser class of every `irrmap` command: argparse's, with one hint added to its errors.

An option taking a list (`--qa FILE...`, `--units FILE...`) takes every value up to the next option, so when it
comes before the positional arguments it also takes them, and argparse then says only "the following arguments
are required: OUT, FILE". The hint names the list option that took them and the two fixes.
"""

from __future__ import annotations

import argparse
import re

_argv: list[str] = []  # the command line being parsed (set by irrmap.app.cli.build_parser)


def set_command_line(argv: list[str] | None) -> None:
    _argv[:] = list(argv or [])


class Parser(argparse.ArgumentParser):
    """argparse.ArgumentParser whose "arguments are required" error names a list option that took the
    positional arguments as its values. Subparsers are made of the same class (argparse's default)."""

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
