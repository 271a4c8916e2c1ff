"""CLI float values checked at the parser: every `type=float` option refuses nan and inf, and scales, sizes,
resolutions, memory budgets and durations refuse 0 and negatives (exit 2 naming the option, no traceback).
Before, `--z-factor 0` wrote slope 0 everywhere, `--cropland-scale 0` was a ZeroDivisionError, `evaluate points
--threshold nan` called every point not irrigated and `--memory-mb nan` a ValueError in tile_size_for."""

from __future__ import annotations

import math

import pytest

from irrmap.app.cli import build_parser, main
from irrmap.core.errors import InputError

MP = ["mapping", "predict", "m.joblib", "--cropland", "c.tif", "--out", "o"]
TT = ["treecover", "trend", "t.tif", "s1.tif", "s2.tif"]
TC = ["treecover", "change", "o", "a.tif", "b.tif"]
TF = ["treecover", "fit", "m", "--reference", "r.tif", "--bands", "b.tif"]
EP = ["evaluate", "points", "map.tif", "pts.gpkg", "--label-field", "label"]
UR = ["units", "rasterize", "u.gpkg", "--code-field", "code", "--out", "z.tif"]
FC = ["features", "composite", "out.tif", "evi.tif"]

CASES = [
    # zero scales: slope 0 everywhere, every pixel in class 1, slope 0, ZeroDivisionError; nan blamed the input
    (["suitability", "slope", "dem.tif", "s.tif", "--z-factor", "0"], "--z-factor"),
    (["suitability", "slope", "dem.tif", "s.tif", "--z-factor", "nan"], "--z-factor"),
    (["suitability", "slope", "dem.tif", "s.tif", "--z-factor", "-0.3048"], "--z-factor"),
    ([*TC, "--scale", "0"], "--scale"),
    ([*TT, "--scale", "0"], "--scale"),
    ([*TT, "--scale", "nan"], "--scale"),
    (["mapping", "filter", "class.tif", "--cropland", "c.tif", "--out", "f", "--cropland-scale", "nan"], "--cropland-scale"),
    (["mapping", "filter", "class.tif", "--cropland", "c.tif", "--out", "f", "--cropland-scale", "0"], "--cropland-scale"),
    ([*MP, "--cropland-scale", "0"], "--cropland-scale"),
    (["mapping", "aggregate", "class.tif", "--out", "a.tif", "--scale", "inf"], "--scale"),
    (["training", "thresholds", "--cropland-scale", "-1"], "--cropland-scale"),
    (["training", "pool", "--cropland-scale", "nan"], "--cropland-scale"),
    ([*FC, "--scale", "0"], "--scale"),
    (["evaluate", "area", "--size-scale", "0"], "--size-scale"),
    # nan thresholds and flag limits: every point not irrigated; 200 water flags fitted as cover
    ([*EP, "--threshold", "nan"], "--threshold"),
    (["evaluate", "report", "map.tif", "--out", "r", "--threshold", "inf"], "--threshold"),
    (["evaluate", "report", "map.tif", "--out", "r", "--compare-threshold", "nan"], "--compare-threshold"),
    (["evaluate", "compare", "a.tif", "b.tif", "--threshold-a", "nan"], "--threshold-a"),
    (["evaluate", "compare", "a.tif", "b.tif", "--threshold-b=-inf"], "--threshold-b"),
    ([*EP, "--aridity-threshold", "nan"], "--aridity-threshold"),
    ([*EP, "--frame-pixel-area", "0"], "--frame-pixel-area"),
    ([*TF, "--reference-valid-max", "nan"], "--reference-valid-max"),
    ([*TF, "--reference-resolution", "nan"], "--reference-resolution"),
    ([*TF, "--cv-blocks", "-5000"], "--cv-blocks"),
    ([*TC, "--change-threshold", "nan"], "--change-threshold"),
    ([*TC, "--forest-threshold", "130"], "--forest-threshold"),
    ([*TC, "--nodata", "nan"], "--nodata"),
    ([*TT, "--valid-range", "-2000", "nan"], "--valid-range"),
    ([*TT, "--unit", "0"], "--unit"),
    # distances, resolutions, memory budgets: OverflowError, "no grid given", "math domain error", ValueError
    (["suitability", "distance", "w.tif", "d.tif", "--max-distance", "inf"], "--max-distance"),
    (["suitability", "distance", "w.tif", "d.tif", "--max-distance", "0"], "--max-distance"),
    (["suitability", "distance", "w.tif", "d.tif", "--threshold", "nan"], "--threshold"),
    (["suitability", "distance", "w.tif", "d.tif", "--water-values", "1", "nan"], "--water-values"),
    (["suitability", "aridity", "ai.tif", "--step-days", "0"], "--step-days"),
    (["suitability", "overlay", "o.tif", "--weights", "0.4", "0.3", "0.2", "nan"], "--weights"),
    (["suitability", "overlay", "o.tif", "--flat-relief", "-100"], "--flat-relief"),
    ([*MP, "--memory-mb", "nan"], "--memory-mb"),
    ([*MP, "--memory-mb", "inf"], "--memory-mb"),
    ([*TT, "--memory-mb", "-5"], "--memory-mb"),
    ([*TT, "--memory-mb", "0"], "--memory-mb"),
    (["treecover", "predict", "o", "m", "--bands", "b.tif", "--memory-mb", "nan"], "--memory-mb"),
    ([*UR, "--resolution", "nan"], "--resolution"),
    ([*UR, "--resolution", "0"], "--resolution"),
    ([*UR, "--bounds", "10", "50", "nan", "51"], "--bounds"),
    ([*FC, "--fill", "-3000", "nan"], "--fill"),
    ([*FC, "--nodata", "inf"], "--nodata"),
    (["features", "index", "gi", "gi.tif", "--max-gi", "0"], "--max-gi"),
    # a demo for year -1 or 20200
    (["demo", "d", "--year", "-1"], "--year"),
    (["demo", "d", "--year", "20200"], "--year"),
    (["demo", "d", "--year", "2010"], "--year"),
]


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Relative outputs land in tmp_path (a command that wrongly accepted its value would write them)."""
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("argv, option", CASES, ids=[f"{a[0]}-{a[1]}-{o}-{a[-1]}" for a, o in CASES])
def test_bad_float_value_is_a_parser_error_naming_the_option(argv, option, capsys):
    with pytest.raises(SystemExit) as e:
        main(["-q", *argv])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {option}:" in err and "fix: give a" in err and "Traceback" not in err, err


@pytest.mark.parametrize("argv, dest, want", [
    (["suitability", "slope", "dem.tif", "s.tif", "--z-factor", "0.3048"], "z_factor", 0.3048),
    ([*EP, "--threshold", "0"], "threshold", 0.0),  # an explicit 0 stays valid ("taken as given")
    ([*EP, "--threshold", "-1"], "threshold", -1.0),  # thresholds are in the map's own unit: any finite value
    ([*TC, "--change-threshold", "0"], "change_threshold", 0.0),
    ([*TC, "--forest-threshold", "100"], "forest_threshold", 100.0),
    ([*FC, "--fill", "-3000", "65531"], "fill", [-3000.0, 65531.0]),
    ([*UR, "--bounds", "-10", "-50", "10.7", "50.6"], "bounds", [-10.0, -50.0, 10.7, 50.6]),
    (["suitability", "overlay", "o.tif", *(x for k in ("zones", "elevation", "slope", "distance", "aridity") for x in (f"--{k}", f"{k}.tif")),
      "--weights", "0", "0.5", "0.5", "0", "--flat-relief", "0"], "weights", [0.0, 0.5, 0.5, 0.0]),
    ([*MP, "--memory-mb", "0.5"], "memory_mb", 0.5),
    (["demo", "d", "--year", "2011"], "year", 2011),
    (["demo", "d", "--year", "2100"], "year", 2100),
])
def test_good_values_still_parse(argv, dest, want):
    assert getattr(build_parser(argv).parse_args(argv), dest) == want


def test_float_arg_bounds_by_hand():
    from argparse import ArgumentTypeError

    from irrmap.app.cli.value_types import float_arg

    half_open = float_arg(0, 1, open_low=True)
    assert half_open("1") == 1.0 and half_open("1e-300") == 1e-300
    for bad in ("0", "-0.0", "1.0000001", "nan", "inf", "-inf"):
        with pytest.raises(ArgumentTypeError):
            half_open(bad)
    with pytest.raises(ValueError):  # not a number: argparse's own "invalid float value: 'x'"
        half_open("x")
    assert float_arg(finite=False)("inf") == math.inf  # opt-out kept for options where inf means "no cap"
    with pytest.raises(ArgumentTypeError, match="not a finite number"):
        float_arg()("nan")


def test_demo_year_bounds_match_the_demo_tree_cover_series():
    """2011 is the first year whose demo series (1995 every 5 years, and the year) reaches the demo config's
    min_years = 5: computed here from the demo's own modules, not copied from value_types."""
    import inspect
    import re
    from argparse import ArgumentTypeError

    from irrmap.app.cli.value_types import DEMO_YEAR
    from irrmap.app.demo import config as demo_config
    from irrmap.app.demo.landsat import EPOCH1_YEAR
    from irrmap.app.demo.treecover import series_years

    min_years = int(re.search(r"min_years = (\d+)", inspect.getsource(demo_config)).group(1))
    first = next(y for y in range(EPOCH1_YEAR + 1, 2100) if len(series_years(EPOCH1_YEAR, y)) >= min_years)
    assert DEMO_YEAR(str(first)) == first
    with pytest.raises(ArgumentTypeError):
        DEMO_YEAR(str(first - 1))


@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -5.0])
def test_tile_and_window_sizes_refuse_bad_budgets_for_api_callers(bad):
    from irrmap.mapping import tile_size_for
    from irrmap.mapping.treecover.trend import window_for

    with pytest.raises(InputError, match="memory_mb"):
        tile_size_for(10, bad)
    with pytest.raises(InputError, match="memory_mb"):
        window_for(10, bad, workers=2)
    assert window_for(10, 512, workers=2) >= 64 and tile_size_for(10, 512) >= 64
