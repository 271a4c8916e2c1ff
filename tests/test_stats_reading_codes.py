"""Reading the codes of a statistics table: codes that lost their leading zero in part of the table (USGS FIPS:
states 01-09 only) are diagnosed as such, with the hierarchy that gives the zero back; empty code cells are
missing codes (never the code ''), wherever codes are read; a column of measured values is never offered as
the field that tells repeated rows apart.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.core import code_join
from irrmap.core.errors import DataError
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.statistics.harmonise import HarmoniseRules, SourceTable, harmonise
from irrmap.core.tables import TableFormat
from irrmap.core.units import AdminUnits, normalise_codes

DATA = Path("/work/shared/data")
USGS = DATA / "statistics" / "usco2015v2.0.csv"
COUNTIES = DATA / "admin" / "us" / "geojson-counties-fips.json"


def _units(tmp_path, codes, field="fips", hierarchy="none"):
    gpd.GeoDataFrame({field: codes}, geometry=[box(i, 0, i + 1, 1) for i in range(len(codes))],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", field, hierarchy=hierarchy)


def _problems(report):
    return {p.kind: p for p in report.problems}


# ---- 3.1 leading zeros lost in part of the table ------------------------------------------------------
@pytest.mark.skipif(not (USGS.exists() and COUNTIES.exists()), reason="needs /work/shared/data (USGS 2015 table, US counties)")
def test_usgs_fips_of_states_01_to_09_are_diagnosed_as_lost_leading_zeros(tmp_path):
    # the file's one polygon with a 10-digit id, 8316766111 (New York City), covers five counties: overlapping units
    # are refused, so it is dropped here as the refusal's own fix says (it joins no table code either way)
    counties = gpd.read_file(COUNTIES)
    counties = counties[counties["id"] != "8316766111"]
    assert len(counties) == 3221
    counties.to_file(tmp_path / "counties.gpkg")
    units = AdminUnits.read(tmp_path / "counties.gpkg", "id", hierarchy="none")
    stats = read_statistics(USGS, code_field="FIPS", area_field="IR-IrTot", area_unit="1000 acres", skip_rows=1, level="unit")
    report = validate_statistics(stats, units)
    assert report.n_joined == 2903  # states 10..78 join as written
    p = _problems(report)["code not in boundaries"]
    assert len(p.rows) == 320
    # 315 of the 320 unjoined codes are Alabama..Connecticut (01..09) without their zero; the other 5 are the 3 Virgin
    # Islands codes and 2 renamed counties
    assert ("likely cause: codes differ only by leading zeros (table '1001', unit '01001'): the table codes lost them in a "
            "numeric column (315 of the 320 table codes that join no unit join once zero-padded to 5 digits; the other "
            "2,903 codes join as written)") in p.message
    assert "different codes" not in p.message
    assert p.fix.startswith("use the hierarchy 'us-fips'")
    assert '[units].hierarchy = "us-fips"' in p.fix and "--hierarchy us-fips" in p.fix

    # the fix it names does fix it: with us-fips every state's codes join (the file's one polygon with a 10-digit id,
    # 8316766111, is no county: dropped)
    fixed_units = AdminUnits.read(COUNTIES, "id", hierarchy="us-fips", invalid_codes="drop")
    fixed = read_statistics(USGS, code_field="FIPS", area_field="IR-IrTot", area_unit="1000 acres", skip_rows=1, level="county",
                            code_pattern=fixed_units.code_pattern("county"))
    fixed_report = validate_statistics(fixed, fixed_units)
    assert fixed_report.n_joined == 3218
    assert len(_problems(fixed_report)["code not in boundaries"].rows) == 5


def test_a_table_where_only_some_codes_lost_their_zero_names_the_cause_and_the_hierarchy(tmp_path):
    units = _units(tmp_path, ["01001", "01003", "08001", "20001", "20003", "31001", "31003", "31005"])
    path = tmp_path / "s.csv"
    # most codes join as written (5 of 8): stripping zeros never beats the exact matches, the old rule stayed silent
    pd.DataFrame({"FIPS": [1001, 1003, 8001, 20001, 20003, 31001, 31003, 31005], "area": [1.0] * 8}).to_csv(path, index=False)
    stats = read_statistics(path, code_field="FIPS", area_field="area", area_unit="1000 acres", level="unit")
    p = _problems(validate_statistics(stats, units))["code not in boundaries"]
    assert p.rows == [2, 3, 4]
    assert ("codes differ only by leading zeros (table '1001', unit '01001'): the table codes lost them in a numeric column "
            "(3 of the 3 table codes that join no unit join once zero-padded to 5 digits; the other 5 codes join as written)") in p.message
    assert "--hierarchy us-fips" in p.fix


def test_codes_that_need_more_than_one_zero_get_the_text_advice_not_a_hierarchy():
    cause, fix = code_join.diagnose(["123", "124", "7001"], ["000123", "000124", "007001", "110000"], joined=1)
    assert "codes differ only by leading zeros (table '123', unit '000123')" in cause
    assert "(3 of the 3 table codes" in cause
    assert "hierarchy" not in fix
    assert fix.endswith("or write them zero-padded to 6 digits")


def test_a_stray_code_that_pads_by_chance_is_not_called_a_lost_zero():
    # 1 of 20 unjoined codes joins once padded: under the notable share (PADDED_SHARE = 10 %), so another cause is given
    table = ["1001"] + [f"9{i:04d}" for i in range(19)]
    cause, _ = code_join.diagnose(table, ["01001", "20001", "20003"], joined=2)
    assert "leading zeros" not in cause


def test_zero_padded_maps_only_unjoined_digit_codes():
    assert code_join.zero_padded(["1001", "01003", "abc", "20001", "8"], ["01001", "01003", "20001", "08"]) == {"1001": "01001", "8": "08"}


# ---- 3.2 empty code cells ------------------------------------------------------------------------------
def test_normalise_codes_reads_empty_and_blank_cells_as_missing():
    got = [None if pd.isna(c) else c for c in normalise_codes(["", "   ", None, np.nan, pd.NA, "610101", 610101.0, " 8001 "])]
    assert got == [None, None, None, None, None, "610101", "610101", "8001"]
    assert normalise_codes(["", "1001"], r"(?:0[1-9]|[1-9]\d)\d{3}").isna().tolist() == [True, False]
    assert normalise_codes(["", "1001"], r"(?:0[1-9]|[1-9]\d)\d{3}")[1] == "01001"


def test_empty_code_cells_are_missing_codes_not_a_duplicate_code(tmp_path):
    units = _units(tmp_path, ["610101", "610102"], field="code")
    path = tmp_path / "emptycode.csv"
    path.write_text("code,area\n610101,1.5\n,2.0\n  ,3.0\n610102,4\n")
    stats = read_statistics(path, code_field="code", area_field="area", area_unit="1000ha", level="unit")
    problems = _problems(validate_statistics(stats, units))
    assert "duplicate code" not in problems
    p = problems["missing code"]
    assert p.severity == "error" and p.rows == [3, 4]
    assert "fill 'code'" in p.fix and "[statistics].drop_rows" in p.fix
    assert not any("0 characters" in q.message for q in problems.values())
    # not strict: the rows without a code are left out, the others kept
    assert stats.areas().to_dict() == {"610101": 1.5e7, "610102": 4e7}
    with pytest.raises(DataError, match=r"missing code: 2 rows have no unit code .*\(lines 3, 4\)"):
        stats.report.raise_for_errors(str(path))


def test_an_excel_subheader_row_without_code_is_a_missing_code(tmp_path):
    path = tmp_path / "county.xlsx"
    pd.DataFrame({"code": ["", "610101", "610102"], "name": ["Province A", "x", "y"], "area": [9.0, 4.0, 5.0]}).to_excel(path, index=False)
    stats = read_statistics(path, code_field="code", area_field="area", area_unit="1000ha", level="unit")
    p = _problems(stats.report)
    assert "duplicate code" not in p
    assert p["missing code"].rows == [2]


def test_polygons_with_a_blank_code_fail_as_missing_codes(tmp_path):
    with pytest.raises(DataError, match="1 polygons have no code"):
        _units(tmp_path, ["610101", "  "], field="code")


def test_harmonise_refuses_a_source_table_row_without_code():
    h = pd.DataFrame({"code": ["1", "2"], "level": ["county", "county"], "parent": [None, None]})
    table = pd.DataFrame({"code": ["1", np.nan], "area_m2": [1.0, 2.0]})
    with pytest.raises(DataError, match="1 rows of source 'census' have no unit code"):
        harmonise([SourceTable("census", "county", None, None, table)], h, rules=HarmoniseRules())


# ---- _duplicate_fix never offers a value column --------------------------------------------------------
def _dup_fix(tmp_path, frame, fmt=None, **kw):
    path = tmp_path / "dup.csv"
    frame.to_csv(path, index=False)
    stats = read_statistics(path, code_field="code", area_field="irrigated_area", area_unit="1000ha", level="unit", fmt=fmt, **kw)
    return _problems(stats.report)["duplicate code"].fix


def test_the_area_and_other_value_columns_are_not_offered_as_variant_field(tmp_path):
    frame = pd.DataFrame({"code": ["610101", "610102", "610201", "610201"], "name": ["a", "b", "c", "c"],
                          "rainfed_area": [1.25, 2.5, 3.75, 4.5], "irrigated_area": [0.1586, 4.277, 23.9, 99.0]})
    fix = _dup_fix(tmp_path, frame)
    assert "irrigated_area" not in fix and "rainfed_area" not in fix
    assert fix == "keep one row per code"


def test_a_real_variant_column_is_offered_in_the_words_of_its_options(tmp_path):
    frame = pd.DataFrame({"code": ["1", "1", "2", "2"], "kind": ["actual", "effective"] * 2, "irrigated_area": [1.0, 2.0, 3.0, 4.0]})
    assert _dup_fix(tmp_path, frame) == ("rows of one code differ in 'kind' ('actual', 'effective'): set [statistics].variant_field = "
                                         "'kind' and [statistics].variant to one of those values")
    assert _dup_fix(tmp_path, frame, TableFormat(options="--")) == (
        "rows of one code differ in 'kind' ('actual', 'effective'): set --variant-field 'kind' and --variant to one of those values")
    # numeric variant labels (1 / 2 throughout the table) are labels, not measured values
    frame["kind"] = [1, 2, 1, 2]
    assert "'kind'" in _dup_fix(tmp_path, frame)
    # an unnamed year column is offered as the year field
    frame = pd.DataFrame({"code": ["1", "1"], "yr": [2019, 2020], "irrigated_area": [1.0, 2.0]})
    assert "[statistics].year_field = 'yr'" in _dup_fix(tmp_path, frame)


def test_state_units_are_not_sent_to_the_county_hierarchy():
    # us-fips reads county polygons (its finest level): for state polygons it would refuse every code
    cause, fix = code_join.diagnose(["1", "2", "4"], ["01", "02", "04", "05"], joined=0)
    assert "codes differ only by leading zeros (table '1', unit '01')" in cause
    assert "us-fips" not in fix and fix.endswith("zero-padded to 2 digits")
