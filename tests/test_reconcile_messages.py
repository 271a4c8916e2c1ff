"""`irrmap reconcile` messages: a table's implausible scale is said once (by the table's checks, naming its
[reconcile.tables.NAME] key), subtotal rows of a county table are named as such with the drop_rows fix, and tables
without years name no "year None"."""

from __future__ import annotations

import logging

from irrmap.app.cli import main
from tests.test_reconcile_only_stale import CODES, _project


def test_a_table_in_a_wrong_area_unit_is_warned_about_once(tmp_path, caplog):
    cfg = _project(tmp_path, [0.3] * 4)
    # 0.3 (1000 ha) read as 0.3 ha, in a column whose header names no unit (an 'area_kha' header is refused outright:
    # tests/test_statistics_header_units.py)
    cfg.write_text(cfg.read_text().replace('area_unit = "1000ha"', 'area_unit = "ha"').replace('"area_kha"', '"area"'))
    for table in tmp_path.glob("*.csv"):
        table.write_text(table.read_text().replace("area_kha", "area"))
    assert main(["-q", "run", str(cfg)]) == 0
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "reconcile", str(cfg)]) == 0
    assert caplog.text.count("implausible scale") == 1
    assert "values look 1000x too small: is area_unit '1000ha'?" in caplog.text
    assert "set [reconcile.tables.county].area_unit = '1000ha' if the table is in 1000ha (it is read as ha now)" in caplog.text
    assert "year None" not in caplog.text


def test_subtotal_rows_in_a_county_table_are_named_with_the_fix(tmp_path, capsys):
    cfg = _project(tmp_path, [0.3] * 4)
    (tmp_path / "county.csv").write_text("code,area_kha\n610000,0.6\n" + "".join(f"{c},0.3\n" for c in CODES))
    assert main(["-q", "run", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["-q", "reconcile", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert "1 row carries the province codes of the table's own units (610000 (province)): subtotal row of a county table" in err
    assert "[reconcile.tables.county].drop_rows = ['610000']" in err and err.count("\n") == 1
    cfg.write_text(cfg.read_text().replace('level = "county"\n', "level = \"county\"\ndrop_rows = ['610000']\n"))
    assert main(["-q", "reconcile", str(cfg)]) == 0
