"""A column that reads two ways is refused whatever the file's separator: "72.770" beside "210" is 72.77 with a
decimal point or 72770 with "." grouping thousands, and an integer needs no quotes in a comma-separated file, so
the comma separator settles nothing there, nor for a column with a comma in a cell ("1,234", quoted either way)
or a column of three-decimal "."-values only ("104.185"). A whole number of 4+ digits written without a mark
("1210") shows that "." groups no thousands. Expected values are the cells' digits read by hand."""

from __future__ import annotations

import pytest

from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics
from irrmap.core.tables import TableFormat

ROWS = [("08009", "72.770"), ("08011", "46.640"), ("19021", "210"), ("19027", "1.010")]  # every "." value has 3 decimals


def _csv(tmp_path, sep):
    path = tmp_path / f"t{ord(sep)}.csv"
    path.write_text(f"code{sep}area\n" + "".join(f"{c}{sep}{v}\n" for c, v in ROWS))
    return path


def _xlsx(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["code", "area"])
    for row in ROWS:
        wb.active.append(list(row))  # text cells, as a portal's export has them
    path = tmp_path / "t.xlsx"
    wb.save(path)
    return path


def _read(path, **fmt):
    return read_statistics(path, code_field="code", area_field="area", area_unit="ha",
                           fmt=TableFormat(options="[statistics]", **fmt)).areas().to_dict()


@pytest.mark.parametrize("make", [lambda p: _csv(p, ","), lambda p: _csv(p, ";"), lambda p: _csv(p, "\t"), _xlsx],
                         ids=["comma", "semicolon", "tab", "xlsx"])
def test_three_decimal_points_beside_whole_numbers_are_ambiguous_in_every_file(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(InputError) as e:
        _read(path)
    msg = str(e.value)
    assert "3 numbers in column 'area' can be read two ways" in msg and "lines 2, 3, 5" in msg
    assert "'72.770' (line 2) is 72770 (decimal ',', thousands '.') or 72.77 (decimal '.')" in msg
    # either option settles it: 72.770 ha = 727,700 m2, or 72,770 ha
    assert _read(path, decimal=".") == {"08009": 72.77e4, "08011": 46.64e4, "19021": 210e4, "19027": 1.01e4}
    assert _read(path, decimal=",") == {"08009": 72770e4, "08011": 46640e4, "19021": 210e4, "19027": 1010e4}


def test_a_comma_in_a_cell_of_a_comma_file_settles_nothing(tmp_path):
    # "1,234" must be quoted in a comma file both as 1234 and as 1.234: the separator settles nothing (README)
    path = tmp_path / "q.csv"
    path.write_text('code,area\n08009,"1,234"\n08011,72.770\n')
    with pytest.raises(InputError, match="2 numbers in column 'area' can be read two ways"):
        _read(path)
    assert _read(path, decimal=".") == {"08009": 1234e4, "08011": 72.77e4}


def test_three_decimals_only_are_ambiguous_in_a_comma_file_too(tmp_path):
    # every value has three decimals: 104.185 or 104,185 in a comma file as in a ";" file
    path = tmp_path / "p.csv"
    path.write_text("code,area\n08009,104.185\n08011,38.125\n")
    with pytest.raises(InputError, match="2 numbers in column 'area' can be read two ways"):
        _read(path)
    assert _read(path, decimal=".") == {"08009": 104.185e4, "08011": 38.125e4}
    # a whole number of 1000 or more would have been grouped: no evidence of "." thousands either
    path.write_text("code,area\n08009,72.770\n08011,1210\n")
    assert _read(path) == {"08009": 72.77e4, "08011": 1210e4}
    # in a ";" file the first column stays ambiguous, as it always was (decimal-comma tables use ";")
    path = tmp_path / "p2.csv"
    path.write_text("code;area\n08009;104.185\n08011;38.125\n")
    with pytest.raises(InputError, match="2 numbers in column 'area' can be read two ways"):
        _read(path)
