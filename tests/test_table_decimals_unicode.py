"""Two faults of the table readers, with hand-computed truth.

1. A column whose every value has exactly three decimals after one "." ("9.000", "8.000", "20.000") reads two
   ways (9 ha or 9,000 ha) and is refused in every file, a comma-separated one included (it was read as 9 ha
   there: 37 ha instead of 37,000 ha, with no warning); the decimal option settles it. Columns that read one
   way (1, 2 or 4+ decimals, "1.5" beside "1.234", "1210" beside "72.770", spreadsheet numbers) keep working.
2. Names equal after Unicode NFC normalisation (NFD 'Sherida\u0301n' from some exports vs NFC 'Sheridán') join.
"""

from __future__ import annotations

import unicodedata

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.code_join import near_matches
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics
from irrmap.core.tables import TableFormat, parse_numbers
from irrmap.core.units import normalise_codes

AMBIG = [("a", "9.000"), ("b", "8.000"), ("c", "20.000")]  # 9 + 8 + 20 = 37 (decimal ".") or 37,000 (decimal ",")
HA = 1e4  # m2 per ha


def _csv(tmp_path, rows, sep=",", name="t.csv"):
    path = tmp_path / name
    path.write_text(f"code{sep}area\n" + "".join(f"{c}{sep}{v}\n" for c, v in rows), encoding="utf-8")
    return path


def _areas(path, **fmt):
    return read_statistics(path, code_field="code", area_field="area", area_unit="ha",
                           fmt=TableFormat(options="[statistics]", **fmt)).areas().to_dict()


@pytest.mark.parametrize("sep", [",", ";", "\t"], ids=["comma", "semicolon", "tab"])
def test_three_decimals_only_are_refused_whatever_the_separator_and_the_decimal_option_settles_them(tmp_path, sep):
    path = _csv(tmp_path, AMBIG, sep)
    with pytest.raises(InputError) as e:
        _areas(path)
    msg = str(e.value)
    assert str(path) in msg and "column 'area'" in msg and "read two ways" in msg and "lines 2, 3, 4" in msg
    assert "'9.000' (line 2) is 9000" in msg and "or 9 (decimal '.')" in msg
    assert '[statistics].decimal = ","' in msg and '[statistics].decimal = "."' in msg and "\n" not in msg
    assert sum(_areas(path, decimal=",").values()) == pytest.approx(37_000 * HA)
    assert sum(_areas(path, decimal=".").values()) == pytest.approx(37 * HA)


def test_a_quoted_comma_beside_three_decimals_in_a_comma_file_is_refused(tmp_path):
    # '1,234' is 1234 (comma thousands) or 1.234 (decimal comma: quoted, as it must be in a comma file)
    path = tmp_path / "q.csv"
    path.write_text('code,area\na,"1,234"\nb,72.770\n')
    with pytest.raises(InputError, match="2 numbers in column 'area' can be read two ways"):
        _areas(path)
    assert _areas(path, decimal=".") == {"a": 1234 * HA, "b": 72.77 * HA}


def test_reader_without_a_decimal_option_refuses_with_a_fix_in_the_file():
    # a reader that offers no option (e.g. reference points CSV): the fix says how to write the numbers
    with pytest.raises(InputError) as e:
        parse_numbers(pd.Series(["-98.125", "-98.250"], index=[2, 3]), column="lon", source="p.csv")
    assert "p.csv" in str(e.value) and "column 'lon'" in str(e.value) and "not exactly three decimals" in str(e.value)


@pytest.mark.parametrize("values, truth", [
    (["9.5", "8.25", "20.1234"], 9.5 + 8.25 + 20.1234),          # 1, 2 and 4 decimals: only a decimal point reads them
    (["1.5", "1.234", "2"], 1.5 + 1.234 + 2),                    # "1.5" cannot group thousands: decimal point
    (["72.770", "1210", "3"], 72.77 + 1210 + 3),                 # "1210" ungrouped: "." groups no thousands here
], ids=["1-2-4-decimals", "mixed-decimals", "ungrouped-thousand"])
@pytest.mark.parametrize("sep", [",", ";"], ids=["comma", "semicolon"])
def test_controls_columns_that_read_one_way(tmp_path, values, truth, sep):
    path = _csv(tmp_path, list(zip("abc", values)), sep)
    assert sum(_areas(path).values()) == pytest.approx(truth * HA)


def test_control_xlsx_numbers_are_numbers(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.append(["code", "area"])
    for c, v in [("a", 9.0), ("b", 8.0), ("c", 20.0)]:
        wb.active.append([c, v])  # real numeric cells (shown as 9.000 by a number format): no text to read two ways
        wb.active.cell(wb.active.max_row, 2).number_format = "0.000"
    path = tmp_path / "t.xlsx"
    wb.save(path)
    assert sum(_areas(path).values()) == pytest.approx(37 * HA)


# ---- Unicode normalisation ----------------------------------------------------------------------------
NFC = ["Sheridán", "Nüll Geo", "Bùffer"]
NFD = [unicodedata.normalize("NFD", n) for n in NFC]


def test_codes_equal_after_nfc_are_one_code_and_others_differ():
    assert NFD[0] != NFC[0] and len(NFD[0]) == len(NFC[0]) + 1
    assert normalise_codes(NFD).tolist() == NFC
    assert normalise_codes(["Sheridan", "SHERIDÁN"]).tolist() == ["Sheridan", "SHERIDÁN"]  # no accent / case: still differ
    assert near_matches([NFD[0].lower()], [NFC[0]]) == [(NFD[0].lower(), NFC[0], ["case"])]


RES = 30.0
COUNTS = {"Sheridán": 10, "Nüll Geo": 20, "Bùffer": 30}  # map pixels = 1 in each 10 x 10 unit: 0.09 ha each


def _scene(tmp_path):
    data = np.zeros((10, 30), np.uint8)
    for k, n in enumerate(COUNTS.values()):
        block = data[:, 10 * k:10 * (k + 1)]
        block.flat[:n] = 1
    x0, y0 = 500_000.0, 4_300_000.0
    tif = tmp_path / "m.tif"
    with rasterio.open(tif, "w", driver="GTiff", width=30, height=10, count=1, dtype="uint8", crs="EPSG:32614",
                       transform=from_origin(x0, y0, RES, RES), nodata=255) as dst:
        dst.write(data, 1)
    rows = [{"name": n, "geometry": box(x0 + 10 * k * RES, y0 - 10 * RES, x0 + 10 * (k + 1) * RES, y0)} for k, n in enumerate(COUNTS)]
    gpd.GeoDataFrame(rows, crs="EPSG:32614").to_file(tmp_path / "u.gpkg")
    return str(tif), str(tmp_path / "u.gpkg")


def _run(tmp_path, tif, units, names, capsys):
    stats = tmp_path / "s.csv"
    stats.write_text("name,area\n" + "".join(f"{n},{a}\n" for n, a in zip(names, (5, 4, 8))), encoding="utf-8")
    rc = main(["evaluate", "statistics", tif, "--units", units, "--unit-field", "name", "--hierarchy", "none", "--stats", str(stats),
               "--stats-field", "name", "--area-field", "area", "--area-unit", "ha", "--map-kind", "binary"])
    return rc, capsys.readouterr().out


def test_nfd_table_joins_nfc_units_and_gives_the_nfc_numbers(tmp_path, capsys):
    tif, units = _scene(tmp_path)
    rc_nfc, out_nfc = _run(tmp_path, tif, units, NFC, capsys)
    rc_nfd, out_nfd = _run(tmp_path, tif, units, NFD, capsys)
    assert rc_nfc == 0 and rc_nfd == 0
    assert "n=3" in out_nfd and "sum_reference=17 " in out_nfd  # 5 + 4 + 8 ha (units of 9 ha)
    assert "sum_mapped=5.4" in out_nfd  # 60 pixels x 0.09 ha = 5.4 ha
    assert out_nfd == out_nfc
