"""`year` without `year_field` means the whole table is of that year (a one-year sheet). A wide table read by its
2020 column with year 2021 asked, or a table whose "year" column holds other years, was read silently as 2021 with
another year's numbers (probe: 3,531,127,000 m2 used where the 2021 column sums to 3,884,239,700). Truth: pandas."""

from __future__ import annotations

import pandas as pd
import pytest

from irrmap.core.errors import DataError
from irrmap.core.statistics import read_statistics
from irrmap.core.statistics.year_check import header_year

ROWS = {"code": ["610101", "610102", "610103"], "2020": [10.5, 20.0, 30.25], "2021": [11.0, 22.5, 33.0]}


def _wide(tmp_path):
    p = tmp_path / "wide.csv"
    pd.DataFrame(ROWS).to_csv(p, index=False)
    return p


def test_wide_table_read_by_another_years_column_is_refused(tmp_path):
    with pytest.raises(DataError) as e:
        read_statistics(_wide(tmp_path), code_field="code", area_field="2020", area_unit="ha", year=2021)
    assert "'2020'" in str(e.value) and "2021" in str(e.value) and "area_field = '2021'" in str(e.value)


def test_wide_table_read_by_the_asked_years_column(tmp_path):  # control: the numbers of that column, in m2
    st = read_statistics(_wide(tmp_path), code_field="code", area_field="2021", area_unit="ha", year=2021)
    assert st.table["area_m2"].tolist() == pytest.approx([v * 1e4 for v in ROWS["2021"]])


def test_year_column_with_other_years_is_refused_and_named(tmp_path):
    p = tmp_path / "long.csv"
    pd.DataFrame({"code": ROWS["code"], "Year": [2020] * 3, "area": ROWS["2020"]}).to_csv(p, index=False)
    with pytest.raises(DataError) as e:
        read_statistics(p, code_field="code", area_field="area", area_unit="ha", year=2019)
    text = str(e.value)
    assert "'Year'" in text and "2020" in text and "year_field = 'Year'" in text
    st = read_statistics(p, code_field="code", area_field="area", area_unit="ha", year=2020)  # control: the same year
    assert st.table["area_m2"].sum() == pytest.approx(sum(ROWS["2020"]) * 1e4)


def test_one_year_table_without_year_column_keeps_its_meaning(tmp_path):  # control: the documented use
    p = tmp_path / "sheet2021.csv"
    pd.DataFrame({"code": ROWS["code"], "irrigated_area": ROWS["2021"]}).to_csv(p, index=False)
    st = read_statistics(p, code_field="code", area_field="irrigated_area", area_unit="ha", year=2021)
    assert st.table["year"].tolist() == [2021.0] * 3


@pytest.mark.parametrize("header,year", [("2020", 2020), ("2020年", 2020), ("area_2021 (ha)", 2021), ("irrigated", None),
                                         ("10^3 ha", None), ("code_120000", None), ("2019-2020", None)])
def test_header_year(header, year):
    assert header_year(header) == year
