"""Shared argparse value types. `fraction_arg` is the type of every option that is a fraction, share,
frequency, probability or relative tolerance in 0..1: a value outside the range (a percent typed for a
fraction, `--tolerance 10`) is a parser error (exit 2, no traceback) naming the option and the percent reading.
Options whose documented unit is percent (treecover --forest-threshold, --change-threshold) do not use it.
"""

from __future__ import annotations

import argparse
import math

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


def int_arg(low: int | None = None, high: int | None = None, *, why: str = ""):
    """An argparse `type`: the int of the argument text, inside [low, high] (None: unbounded on that side); else
    argparse.ArgumentTypeError, which argparse turns into a parser error naming the option (exit 2, no traceback).
    `why` says where the bound comes from (printed with the fix). Use it for every integer option with a range:
    seeds (>= 0: numpy's generators refuse negative seeds), tile and chunk edges, job counts, folds, windows."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if (low is not None and value < low) or (high is not None and value > high):
            if high is None:
                want = f"at least {low}"
            elif low is None:
                want = f"at most {high}"
            else:
                want = f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"{value} is out of range (fix: give a whole number {want}{'; ' + why if why else ''})")
        return value

    parse.__name__ = "integer"  # argparse names the type in its "invalid integer value" messages
    return parse


#: a seed of numpy.random.default_rng / SeedSequence, which refuse negative integers (config [run].seed: ge=0)
SEED = int_arg(0, why="seeds of numpy's random generators are non-negative")
#: smallest tile edge of `mapping predict --tile-size`: 16 px (the Earth Engine fetch's tile_size ge=16): below it
#: the per-tile overhead (a task, a tile file and its checksum) dominates; 1 px planned 480,000 tiles for 600 x 800
MIN_TILE_SIZE = 16
#: cross-validation folds: 2 or more (a fold needs samples outside it to fit on; config treecover cv_splits ge=2)
CV_SPLITS = int_arg(2, why="cross-validation needs at least 2 folds (one held out, the rest fitted)")

#: a block / tile / chunk edge in pixels: 1 or more (0 divided by zero, a negative edge gave dask's "Empty tuples
#: are not allowed in chunks"); the edge changes speed and memory, not results
CHUNK = int_arg(1, why="a block edge is a positive number of pixels")
#: a count of things that must exist: workers, samples per class, candidate vectors, rows to show
POSITIVE = int_arg(1)
#: a count that may be 0: lines to skip, pixels to erode, a minimum that 0 turns off
NON_NEGATIVE = int_arg(0)


def float_arg(low: float | None = None, high: float | None = None, *, open_low: bool = False, open_high: bool = False,
              finite: bool = True, why: str = ""):
    """An argparse `type`: the float of the argument text, finite (nan, inf and -inf refused unless
    finite=False) and inside [low, high] (None: unbounded on that side; open_low / open_high exclude the
    end); else argparse.ArgumentTypeError, which argparse turns into a parser error naming the option (exit 2,
    no traceback). `why` says where the bound comes from (printed with the fix). Python's float() reads
    "nan" and "inf", and NaN passes every `<` / `>` test, so a range check alone lets them through."""

    def parse(text: str) -> float:
        value = float(text)  # ValueError: argparse's "invalid float value: 'x'" (the shared parser's list-option hint reads it)
        bounded = low is not None or high is not None
        if finite and not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text} is not a finite number (fix: give a number{' ' + _want(low, high, open_low, open_high) if bounded else ''}"
                                             f"{'; ' + why if why else ''})")
        if math.isnan(value) or (low is not None and (value <= low if open_low else value < low)) or (
                high is not None and (value >= high if open_high else value > high)):
            raise argparse.ArgumentTypeError(f"{value:g} is out of range (fix: give a number {_want(low, high, open_low, open_high)}"
                                             f"{'; ' + why if why else ''})")
        return value

    parse.__name__ = "float"  # argparse names the type in its "invalid float value" messages
    return parse


def _want(low, high, open_low, open_high) -> str:
    lo = None if low is None else f"{'above' if open_low else 'at least'} {low:g}"
    hi = None if high is None else f"{'below' if open_high else 'at most'} {high:g}"
    return " and ".join(s for s in (lo, hi) if s) or "that is finite"


#: any finite number: nodata and fill codes, valid ranges, bounds, thresholds whose unit is the map's own
FINITE = float_arg()
#: a scale multiplying stored values (0.0001 for NDVI x 10000, 0.01 for percent): 0 erases every value and a
#: negative one flips signs (`treecover change --scale 0` put every pixel in one class; `mapping filter
#: --cropland-scale 0` divided by zero)
SCALE = float_arg(0, open_low=True, why="a scale multiplies the stored values: 0 would erase them")
#: a length, area or cell size on the ground (metres, ha, CRS units) or a duration (days): 0 is no size at all
SIZE = float_arg(0, open_low=True, why="a size on the ground is positive")
#: a memory budget in MB: sets tile and window edges as sqrt(budget / bytes per pixel), so 0, negative
#: ("math domain error") and inf (OverflowError) budgets are meaningless
MEMORY_MB = float_arg(0, open_low=True, why="a memory budget in MB is positive, e.g. 512")
#: a number that may be 0 but not negative: weights, a relief in metres, an aridity index
NON_NEGATIVE_FLOAT = float_arg(0)
#: a percent or percentage-point threshold (treecover --forest-threshold, --change-threshold): 0..100
PERCENT = float_arg(0, 100, why="the value is in percent (30 for 30 %)")
#: any number above 0 that is not a size: days per step, the decoded value of reflectance 1.0, a flag limit
POSITIVE_FLOAT = float_arg(0, open_low=True)
#: `irrmap demo --year`: 2011 is the first year whose demo tree-cover series (irrmap.app.demo.landsat
#: EPOCH1_YEAR 1995, then every treecover.SERIES_STEP 5 years, and the year itself) has the 5 layers of the demo
#: config's [treecover] min_years = 5, so its trend is not NaN everywhere; 2100 bounds typos (20200)
DEMO_YEAR = int_arg(2011, 2100, why="the demo's tree-cover trend needs 5 series years from 1995; later than 2100 is a typo")
