"""Shared argparse value types. `fraction_arg` is the type of every option that is a fraction, share,
frequency, probability or relative tolerance in 0..1: a value outside the range (a percent typed for a
fraction, `--tolerance 10`) is a parser error (exit 2, no traceback) naming the option and the percent reading.
Options whose documented unit is percent (treecover --forest-threshold, --change-threshold) do not use it.
"""

from __future__ import annotations

import argparse

from irrmap.core.fractions import fraction_problem


def fraction_arg(low: float = 0.0, high: float = 1.0, *, low_open: bool = False, high_open: bool = False):
    """An argparse `type`: the float of the argument text, inside [low, high] (ends open when asked); else
    argparse.ArgumentTypeError (argparse prefixes the option name) saying so, with the fix of
    irrmap.core.fractions.fraction_problem."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number (give a fraction such as 0.10)") from None
        problem = fraction_problem(value, "value", low, high, low_open=low_open, high_open=high_open)
        if problem:
            what, fix = problem
            raise argparse.ArgumentTypeError(f"{what.removeprefix('value ')} (fix: {fix})")
        return value

    parse.__name__ = "fraction"  # argparse names the type in its "invalid fraction value" messages
    return parse
