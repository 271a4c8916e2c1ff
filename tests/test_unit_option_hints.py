"""Hints name options the command has, and point at the cause.

* Every command that reads unit polygons offers the same unit options (irrmap.app.cli.units_options.add_unit_options),
  --drop-invalid-codes included, and the fix of an invalid-code error names only flags of that command's parser.
  The real US county file (/work/shared/data/admin/us) holds New York City as one feature with id 8316766111, ten
  digits and so no FIPS 6-4 county code (SSCCC): with --hierarchy us-fips it must be droppable in every command.
* Table codes that join no unit but match one ignoring case / surrounding whitespace / leading zeros are named so.
* File names with day-month-year dates, which the default date parse reads as the year alone (1 July), get a hint
  naming the --date-pattern that reads them (an error when day-first and month-first are both valid).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import build_parser, main
from irrmap.core import code_join
from irrmap.core.errors import DataError, InputError
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.tables import TableFormat
from irrmap.core.units import AdminUnits, _invalid_codes_fix

US_COUNTIES = Path("/work/shared/data/admin/us/geojson-counties-fips.json")


def _leaf_parsers(parser: argparse.ArgumentParser, path=()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield " ".join(path), parser
    for action in subs:
        for name, p in action.choices.items():
            yield from _leaf_parsers(p, (*path, name))


def _reads_units(p: argparse.ArgumentParser) -> bool:
    return any("--units" in a.option_strings or a.dest == "units" for a in p._actions)


def test_every_command_reading_units_offers_the_options_its_messages_name():
    flags_of = {name: {s for a in p._actions for s in a.option_strings} for name, p in _leaf_parsers(build_parser()) if _reads_units(p)}
    # the commands of the probe's finding, and those that had the option already
    assert {"water bodies", "evaluate statistics", "evaluate points", "evaluate compare", "evaluate report", "treecover change",
            "units info", "units rasterize", "statistics check", "training thresholds", "training pool"} <= set(flags_of)
    for name, p in _leaf_parsers(build_parser()):
        if name not in flags_of:
            continue
        flags = flags_of[name]
        assert "--drop-invalid-codes" in flags, name
        options = p.get_default("unit_options")
        assert options, f"{name}: no unit_options recorded (add_unit_options)"
        for key, flag in options.items():
            assert flag is None or flag in flags, f"{name}: {key} named as {flag}, not an option of the command"
        fix = _invalid_codes_fix(options)
        named = set(re.findall(r"--[a-z][a-z-]*", fix))
        assert named and named <= flags, f"{name}: the fix {fix!r} names {named - flags}"


def _tiny_mask(path: Path, lon: float, lat: float) -> None:
    """A 20 x 20 uint8 water mask (EPSG:4326, 0.001 deg) with a 4 x 4 body of water in the middle, at lon/lat."""
    data = np.zeros((20, 20), np.uint8)
    data[8:12, 8:12] = 1
    with rasterio.open(path, "w", driver="GTiff", dtype="uint8", width=20, height=20, count=1, crs="EPSG:4326", nodata=255,
                       transform=from_origin(lon - 0.01, lat + 0.01, 0.001, 0.001)) as dst:
        dst.write(data, 1)


@pytest.mark.skipif(not US_COUNTIES.exists(), reason="real US county file not present")
def test_water_bodies_drops_the_nyc_feature_of_the_real_us_county_file(tmp_path, capsys, caplog):
    mask = tmp_path / "mask.tif"
    _tiny_mask(mask, -114.31, 48.20)  # Kalispell, Montana: Flathead County, FIPS 30029 (its GEO_ID 0500000US30029)
    args = ["water", "bodies", str(tmp_path / "wb"), str(mask), "--units", str(US_COUNTIES), "--code-field", "id",
            "--hierarchy", "us-fips"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "8316766111" in err and "Traceback" not in err
    assert "add --drop-invalid-codes to drop those polygons" in err
    with caplog.at_level(logging.WARNING):
        assert main([*args, "--drop-invalid-codes"]) == 0
    assert "8316766111" in caplog.text
    bodies = gpd.read_parquet(tmp_path / "wb" / "bodies.parquet")
    assert bodies["admin_code"].tolist() == ["30029"]


def _raster(path: Path, data: np.ndarray) -> None:
    with rasterio.open(path, "w", driver="GTiff", dtype="float32", width=data.shape[1], height=data.shape[0], count=1,
                       crs="EPSG:4326", transform=from_origin(106.0, 38.1, 0.01, 0.01)) as dst:
        dst.write(data.astype(np.float32), 1)


def test_evaluate_compare_drops_invalid_codes_and_says_so_in_its_command(tmp_path, capsys):
    from irrmap.evaluation.workflow import compare

    units = tmp_path / "u.gpkg"  # 64010 has 5 digits: no cn-adcode
    gpd.GeoDataFrame({"code": ["640104", "64010", "640205"]},
                     geometry=[box(106.0, 38.0, 106.1, 38.1), box(106.1, 38.0, 106.2, 38.1), box(106.2, 38.0, 106.3, 38.1)],
                     crs="EPSG:4326").to_file(units)
    _raster(tmp_path / "a.tif", np.ones((10, 30)))
    _raster(tmp_path / "b.tif", np.ones((10, 30)))
    args = ["evaluate", "compare", str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), "--units", str(units), "--unit-field", "code",
            "--json"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "add --drop-invalid-codes" in err and "--unit-field" in err and "--code-field or" not in err
    assert main([*args, "--drop-invalid-codes", "--out", str(tmp_path / "units.csv")]) == 0
    table = pd.read_csv(tmp_path / "units.csv", dtype=str)
    assert sorted(table.iloc[:, 0]) == ["640104", "640205"]
    r = compare(str(tmp_path / "a.tif"), str(tmp_path / "b.tif"), units_path=str(units), unit_field="code",
                units_read={"invalid_codes": "drop", "options": None})
    assert "--drop-invalid-codes" in r.command


# ---- codes that join only loosely ----------------------------------------------------------------------------------

def test_near_matches_name_case_whitespace_and_leading_zeros():
    found = code_join.near_matches(["Sheridan", " 42", "007", "0A1", "teton", "x"], ["sheridan", "42", "7", "A1", "teton", "AB"])
    assert found == [("Sheridan", "sheridan", ["case"]), (" 42", "42", ["surrounding whitespace"]), ("007", "7", ["leading zeros"]),
                     ("0A1", "A1", ["leading zeros"])]
    # a loose form fitting two unit codes stands for neither
    assert code_join.near_matches(["ab"], ["AB", "Ab"]) == []


def test_a_code_differing_in_case_is_named_as_such(tmp_path):
    units_path = tmp_path / "u.gpkg"
    names = ["sheridan", "teton", "lake"]
    gpd.GeoDataFrame({"code": names}, geometry=[box(i, 0, i + 1, 1) for i in range(3)], crs="EPSG:4326").to_file(units_path)
    units = AdminUnits.read(units_path, "code", hierarchy="none")
    (tmp_path / "s.csv").write_text("county,ha\nSheridan,10\nteton,20\nlake,30\n")
    stats = read_statistics(tmp_path / "s.csv", code_field="county", area_field="ha", area_unit="ha", level="unit",
                            fmt=TableFormat(options="--"))
    p = {q.kind: q for q in validate_statistics(stats, units).problems}["code not in boundaries"]
    assert "match a unit code once case is ignored (table 'Sheridan' vs unit 'sheridan')" in p.message
    assert "exactly as the units' codes" in p.fix


# ---- day-month-year file names -------------------------------------------------------------------------------------

def _dated_files(tmp_path, names):
    paths = []
    for n in names:
        path = tmp_path / n
        with rasterio.open(path, "w", driver="GTiff", dtype="float32", width=2, height=2, count=1, crs="EPSG:4326",
                           transform=from_origin(0, 2, 1, 1)) as dst:
            dst.write(np.ones((2, 2), np.float32), 1)
        paths.append(str(path))
    return paths


def test_day_month_year_names_get_the_date_pattern_that_reads_them(tmp_path, caplog):
    from irrmap.mapping.treecover.dates import dated_layers

    paths = _dated_files(tmp_path, ["ndvi_15-01-2005.tif", "ndvi_20-06-2005.tif", "ndvi_15-01-2006.tif"])
    with caplog.at_level(logging.WARNING):
        layers = dated_layers(paths, pattern_option="--date-pattern")
    assert [ly.date.date for ly in layers] == [dt.date(2005, 7, 1)] * 2 + [dt.date(2006, 7, 1)]  # the year alone, as before
    assert "their names hold day-month-year dates (e.g. ndvi_15-01-2005.tif = 15 January 2005 with %d-%m-%Y)" in caplog.text
    assert "give --date-pattern %d-%m-%Y" in caplog.text
    shared = [r.getMessage() for r in caplog.records if "dates are shared" in r.getMessage()]
    assert shared and "the names hold finer dates than the year: give --date-pattern %d-%m-%Y" in shared[0]
    # the pattern named reads them: 15 January 2005 (hand-read from the name)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        layers = dated_layers(paths, pattern="%d-%m-%Y")
    assert [ly.date.date for ly in layers] == [dt.date(2005, 1, 15), dt.date(2005, 6, 20), dt.date(2006, 1, 15)]
    assert not caplog.records
    # without the option (a run's [treecover.trend]), the fix is renaming
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        dated_layers(paths)
    assert "--date-pattern" not in caplog.text and "rename the files with ISO dates" in caplog.text


def test_ambiguous_day_month_names_are_an_error_naming_both_patterns(tmp_path):
    from irrmap.mapping.treecover.dates import dated_layers

    paths = _dated_files(tmp_path, ["ndvi_05-01-2005.tif", "ndvi_02-06-2006.tif"])
    with pytest.raises(InputError) as e:
        dated_layers(paths, pattern_option="--date-pattern")
    text = str(e.value)
    assert "ndvi_05-01-2005.tif" in text
    assert "--date-pattern %d-%m-%Y (day first: 05 January 2005) or --date-pattern %m-%d-%Y (month first: 01 May 2005)" in text


def test_treecover_trend_cli_names_its_own_date_pattern_option(tmp_path, caplog):
    paths = _dated_files(tmp_path, ["ndvi_15-01-2005.tif", "ndvi_15-01-2006.tif"])
    flags = {s for name, p in _leaf_parsers(build_parser()) if name == "treecover trend" for a in p._actions for s in a.option_strings}
    assert "--date-pattern" in flags
    with caplog.at_level(logging.WARNING):
        main(["treecover", "trend", str(tmp_path / "t.tif"), *paths, "--min-years", "2"])
    assert "give --date-pattern %d-%m-%Y" in caplog.text


def test_invalid_code_error_is_a_data_error_without_traceback(tmp_path):
    path = tmp_path / "u.gpkg"
    gpd.GeoDataFrame({"code": ["640104", "64010"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326").to_file(path)
    p = build_parser(["units", "info"])
    args = p.parse_args(["units", "info", str(path), "--code-field", "code"])
    with pytest.raises(DataError) as e:
        AdminUnits.read(args.units, "code", options=args.unit_options)
    assert "add --drop-invalid-codes" in str(e.value) and "--code-field" in str(e.value)


def test_the_runs_evaluation_reads_units_with_the_config_invalid_codes(tmp_path):
    """The evaluation stage re-reads [units] for by-level points and statistics: with [units].invalid_codes = 'drop'
    it drops as the units stage does (it used to stop on the polygons the config says to drop)."""
    from types import SimpleNamespace

    from irrmap.app.stages.evaluation import _units_read
    from irrmap.core.units import UNIT_OPTIONS

    read = _units_read(SimpleNamespace(invalid_codes="drop", parent_fields={}, name_field=None))
    assert read == {"invalid_codes": "drop", "options": UNIT_OPTIONS, "parent_fields": None, "name_field": None}
    path = tmp_path / "u.gpkg"
    gpd.GeoDataFrame({"code": ["640104", "64010"]}, geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326").to_file(path)
    assert AdminUnits.read(path, "code", **read).codes.tolist() == ["640104"]
    assert _units_read(None) is None


def test_the_runs_evaluation_reads_a_fields_hierarchy_as_the_units_stage_does(tmp_path):
    """[units].hierarchy = 'fields' needs [units].parent_fields: the evaluation stage's re-read of the units must pass
    them (and name_field), or it fails on a config every earlier stage accepted. Compared with the units stage's own
    read (read_units_from_config)."""
    from types import SimpleNamespace

    from irrmap.app.stages.evaluation import _units_read
    from irrmap.core.units import read_units_from_config

    path = tmp_path / "f.gpkg"
    gpd.GeoDataFrame({"id": ["a1", "a2", "b1"], "dist": ["A", "A", "B"], "nm": ["x", "y", "z"]},
                     geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1)], crs="EPSG:4326").to_file(path)
    section = SimpleNamespace(path=str(path), code_field="id", hierarchy="fields", parent_fields={"district": "dist"},
                              name_field="nm", layer=None, invalid_codes="error", encoding=None)
    expected = read_units_from_config(section, lambda p: p)
    got = AdminUnits.read(path, "id", hierarchy="fields", **_units_read(section))
    assert got.codes.tolist() == expected.codes.tolist() == ["a1", "a2", "b1"]
    assert got.levels == expected.levels
    for level in expected.levels:
        assert got.level_codes(level).tolist() == expected.level_codes(level).tolist()


def test_a_fields_hierarchy_without_parent_fields_is_a_clear_error(tmp_path):
    """It raised a TypeError from deep inside the read (seen when the evaluation stage dropped parent_fields)."""
    from irrmap.core.errors import InputError

    path = tmp_path / "f.gpkg"
    gpd.GeoDataFrame({"id": ["a1"]}, geometry=[box(0, 0, 1, 1)], crs="EPSG:4326").to_file(path)
    with pytest.raises(InputError, match="parent_fields"):
        AdminUnits.read(path, "id", hierarchy="fields")


def test_a_run_unit_code_differing_in_case_names_the_unit_it_means():
    """[...].per_class_in-style config codes are matched against the units stage's table (units_matching): a code that
    differs only in case or leading zeros names the unit code it stands for."""
    import pandas as pd

    from irrmap.app.stages.common import units_matching
    from irrmap.core.errors import DataError

    table = pd.DataFrame({"zone": [1, 2], "code": ["Sheridan", "Thomas"], "state": ["KS", "KS"], "name": ["a", "b"]})
    assert units_matching(table, "KS", "k").tolist() == [True, True]
    with pytest.raises(DataError, match="'Sheridan' differs only in case") as e:
        units_matching(table, "sheridan", "[training].per_class_in")
    assert e.value.args and "[training].per_class_in" in str(e.value)
    with pytest.raises(DataError) as e:
        units_matching(table, "Nowhere", "k")
    assert "differs" not in str(e.value)


def test_run_trend_reads_its_config_date_pattern_band_and_band_dates(tmp_path, caplog):
    """[treecover.trend] has the keys of `treecover trend`'s --date-pattern, --band and --band-dates, and the run's
    hint names the config key (it used to name no fix but renaming the files)."""
    from types import SimpleNamespace

    from irrmap.app.stages.treecover import _series_layers
    from irrmap.core.config import TreecoverTrend

    paths = _dated_files(tmp_path, ["ndvi_15-01-2005.tif", "ndvi_20-06-2005.tif", "ndvi_15-01-2006.tif"])

    def ctx(**keys):
        return SimpleNamespace(config=SimpleNamespace(treecover=SimpleNamespace(trend=TreecoverTrend(series=paths, **keys))),
                               path=Path)

    with caplog.at_level(logging.WARNING):
        layers = _series_layers(ctx())
    assert [ly.date.date for ly in layers] == [dt.date(2005, 7, 1)] * 2 + [dt.date(2006, 7, 1)]
    assert 'give date_pattern = "%d-%m-%Y" in [treecover.trend]' in caplog.text
    # the key named reads the dates the names hold (hand-read: 15 January 2005, 20 June 2005, 15 January 2006)
    assert [ly.date.date for ly in _series_layers(ctx(date_pattern="%d-%m-%Y"))] == [
        dt.date(2005, 1, 15), dt.date(2005, 6, 20), dt.date(2006, 1, 15)]
    # band_dates override the names, in file order; band picks the layer
    got = _series_layers(ctx(band_dates=["2010-03-01", "2009-03-01", "2011-03-01"], band=1))
    assert [(Path(ly.path).name, ly.date.date) for ly in got] == [
        ("ndvi_20-06-2005.tif", dt.date(2009, 3, 1)), ("ndvi_15-01-2005.tif", dt.date(2010, 3, 1)),
        ("ndvi_15-01-2006.tif", dt.date(2011, 3, 1))]


def test_ambiguous_names_in_a_run_name_both_config_settings(tmp_path):
    from irrmap.mapping.treecover.dates import dated_layers

    paths = _dated_files(tmp_path, ["ndvi_05-01-2005.tif", "ndvi_02-06-2006.tif"])
    with pytest.raises(InputError) as e:
        dated_layers(paths, pattern_option="[treecover.trend].date_pattern")
    assert ('date_pattern = "%d-%m-%Y" in [treecover.trend] (day first: 05 January 2005) or '
            'date_pattern = "%m-%d-%Y" in [treecover.trend] (month first: 01 May 2005)') in str(e.value)
