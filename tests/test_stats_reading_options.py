"""Options of a statistics table: the variant filter ignores surrounding spaces as it ignores case, and every
error about an option names it where the user set it: [statistics], [reconcile.tables.X] or the command-line
flag.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.stages.reconcile import source_tables
from irrmap.core.config import StatisticsSection
from irrmap.core.errors import DataError, InputError
from irrmap.core.statistics import read_statistics, scale_problem, validate_statistics
from irrmap.core.tables import TableFormat
from irrmap.core.units import AdminUnits

SECTION = "[reconcile.tables.province_actual]"


@pytest.fixture
def table(tmp_path):
    path = tmp_path / "province.csv"
    pd.DataFrame({"code": ["130000", "130000", "140000", "140000"], "year": [2020] * 4,
                  "variant": ["actual", "effective"] * 2, "irrigated_area": [10.0, 8.0, 20.0, 16.0]}).to_csv(path, index=False)
    return path


@pytest.fixture
def units(tmp_path):
    codes = ["130101", "130102", "140101"]
    gpd.GeoDataFrame({"code": codes}, geometry=[box(110 + i, 35, 111 + i, 36) for i in range(3)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", "code")


def _read(path, fmt=None, **kw):
    args = dict(code_field="code", area_field="irrigated_area", area_unit="1000ha", year_field="year", year=2020,
                variant_field="variant", level="province")
    args.update(kw)
    return read_statistics(path, fmt=fmt, **args)


@pytest.mark.parametrize("variant", ["Actual ", " actual", "  ACTUAL  ", "actual"])
def test_the_variant_filter_ignores_case_and_surrounding_spaces(table, variant):
    stats = _read(table, variant=variant)
    assert stats.table["code"].tolist() == ["130000", "140000"]
    assert stats.table["area_m2"].tolist() == [1e8, 2e8]
    assert not stats.report.problems


def test_a_table_variant_with_spaces_matches_too(tmp_path):
    path = tmp_path / "s.xlsx"  # Excel keeps what was typed
    pd.DataFrame({"code": ["130000"], "variant": ["Actual "], "irrigated_area": [1.0]}).to_excel(path, index=False)
    stats = read_statistics(path, code_field="code", area_field="irrigated_area", area_unit="1000ha", variant_field="variant",
                            variant="actual", level="province")
    assert stats.table["area_m2"].tolist() == [1e7]


@pytest.mark.parametrize("fmt, key", [(None, "[statistics].variant"), (TableFormat(options=SECTION), f"{SECTION}.variant"),
                                      (TableFormat(options="--"), "--variant")])
def test_no_rows_after_the_filter_names_the_option_where_it_is_set(table, fmt, key):
    with pytest.raises(DataError) as e:
        _read(table, fmt, variant="gross")
    msg = str(e.value)
    assert "no rows left after the year/variant filter (year 2020, variant 'gross'; year values: '2020'; variant values: 'actual', 'effective')" in msg
    assert f"set {key.replace('variant', 'year')} and {key} to values of the table" in msg
    if fmt is not None and fmt.options == SECTION:
        assert msg.startswith(f"{SECTION} {table}: ")
        assert "[statistics]" not in msg


@pytest.mark.parametrize("fmt, where", [(None, "[statistics].level"), (TableFormat(options=SECTION), f"{SECTION}.level"),
                                        (TableFormat(options="--"), "--level / --stats-level")])
def test_an_unknown_level_names_the_option_where_it_is_set(table, units, fmt, where):
    stats = _read(table, fmt, variant="actual", level="provinces")
    for check in (validate_statistics, scale_problem):
        with pytest.raises(DataError) as e:
            check(stats, units)
        assert str(e.value).startswith(f"{where}: unknown admin level 'provinces' of the statistics table {table}")
        assert "use one of the units' levels: county, city, province" in str(e.value)


def test_a_duplicate_code_names_the_variant_option_of_its_section(table):
    stats = _read(table, TableFormat(options=SECTION))  # no variant filter: each province twice
    fix = {p.kind: p for p in stats.report.problems}["duplicate code"].fix
    assert fix.startswith(f"set {SECTION}.variant to one of the values of 'variant' ('actual', 'effective')")
    with pytest.raises(DataError, match=r"\(fix: set \[reconcile\.tables\.province_actual\]\.variant"):
        stats.report.raise_for_errors(SECTION)


def test_several_errors_name_the_strict_key_of_their_section(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("code,irrigated_area\n130000,1\n130000,2\n,3\n140000,-1\n")
    stats = read_statistics(path, code_field="code", area_field="irrigated_area", area_unit="1000ha", level="province",
                            fmt=TableFormat(options=SECTION))
    with pytest.raises(DataError, match=r"set \[reconcile\.tables\.province_actual\]\.strict = false"):
        stats.report.raise_for_errors(SECTION)
    cli = read_statistics(path, code_field="code", area_field="irrigated_area", area_unit="1000ha", level="province",
                          fmt=TableFormat(options="--"))
    with pytest.raises(DataError) as e:
        cli.report.raise_for_errors(str(path))
    assert "strict" not in str(e.value) and "[statistics]" not in str(e.value)


def test_reconcile_names_the_table_section_for_a_wrong_variant_and_level(table, units):
    """The reconcile stage's own reading (source_tables): "Actual " matches, "gross" and level "provinces" name the section."""
    def ctx(code_field="code", **kw):
        sec = StatisticsSection(path=table, code_field=code_field, area_field="irrigated_area", area_unit="1000 hectares",
                                year_field="year", variant_field="variant", **kw)
        return SimpleNamespace(config=SimpleNamespace(reconcile=SimpleNamespace(tables={"province_actual": sec})), path=Path)

    [got] = source_tables(ctx(variant="Actual ", level="province"), units)
    assert got.table["area_m2"].tolist() == [1e8, 2e8]
    with pytest.raises(DataError, match=r"^\[reconcile\.tables\.province_actual\] .*no rows left.*set \[reconcile\.tables\.province_actual\]\.year"):
        source_tables(ctx(variant="gross", level="province"), units)
    with pytest.raises(DataError, match=r"^\[reconcile\.tables\.province_actual\]\.level: unknown admin level 'provinces'"):
        source_tables(ctx(variant="actual", level="provinces"), units)
    with pytest.raises(InputError, match=r"column 'adcode' not found in the statistics table of \[reconcile\.tables\.province_actual\]"):
        source_tables(ctx(code_field="adcode", variant="actual", level="province"), units)
