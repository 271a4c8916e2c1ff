"""The one range check of every value that is a fraction (a share, frequency, probability or relative
tolerance in 0..1): CLI options (irrmap.app.cli.value_types.fraction_arg) and config keys (irrmap.core.config)
both use it, so a percent typed for a fraction (`--tolerance 10` for 10 %) is refused everywhere with the
same fix ("10 looks like a percent: use 0.10") instead of silently meaning 1000 %.
"""

from __future__ import annotations

import math


def interval(low: float = 0.0, high: float = 1.0, *, low_open: bool = False, high_open: bool = False) -> str:
    """The interval as text, e.g. '[0, 1)'."""
    return f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def inside(value: float, low: float = 0.0, high: float = 1.0, *, low_open: bool = False, high_open: bool = False) -> bool:
    """True when `value` is a finite number inside the interval (NaN and infinities are never inside)."""
    if not math.isfinite(value):
        return False
    above = value > low if low_open else value >= low
    below = value < high if high_open else value <= high
    return above and below


def fraction_problem(value: float, name: str, low: float = 0.0, high: float = 1.0, *, low_open: bool = False,
                     high_open: bool = False) -> tuple[str, str] | None:
    """None when `value` lies inside the interval, else (what, fix) for an error located at `name`: what says
    the value is not a fraction in the interval; fix gives the percent reading (value / 100) when that reading
    lies inside the interval ("10 looks like a percent: use 0.10"), else the interval's bounds."""
    if inside(value, low, high, low_open=low_open, high_open=high_open):
        return None
    span = interval(low, high, low_open=low_open, high_open=high_open)
    what = f"{name} {value:g} is not a fraction in {span}"
    if math.isfinite(value) and value > high and inside(value / 100, low, high, low_open=low_open, high_open=high_open):
        return what, f"{value:g} looks like a percent: use {_decimal(value / 100)}"
    return what, f"give a fraction in {span}, e.g. {_decimal(min(max(0.1, low), high))} for 10 %"


def _decimal(v: float) -> str:
    """v with two decimals when they are exact (0.10), else up to 6 significant digits (0.125)."""
    two = f"{v:.2f}"
    return two if float(two) == round(v, 12) else f"{v:.6g}"
