"""`irrmap reconcile` on a grid that cuts most of a table's units: the scale check of each table compares whole-unit
statistics with whole-unit cropland only (units wholly on the grid, irrmap.core.plausibility.whole_units_only), at every
level, so a right table passes and a table 1000x too large on the whole units is still refused.

The tiny project: cropland fraction 0.001 everywhere on the grid; three counties 0.1 x 0.3 deg wholly on it (city
610100) and three counties 0.1 x 0.6 deg below them (city 610200) with one pixel row (1/60 of their area) on it. The
right table reports 60 % of each county's whole cropland: 0.6 x 0.001 x its geodesic area (pyproj.Geod), in 1000 ha.
The old check compared those whole-unit values with on-grid cropland: 0.6 x (3 + 6) / (3 + 6/60) = 174 % of the
cropland in all (over 150 %: refused, "is area_unit ...?"), though no unit was wrong."""

from __future__ import annotations


import numpy as np
import pytest
from pyproj import Geod

from irrmap.app.cli import main
from reconcile_project import table_section, write_box_units, write_inputs, write_reconcile_config

LEFT, TOP, RES = 100.0, 40.0, 0.01
ROWS, COLS = 31, 30  # the grid: 100.0..100.3 E, 39.69..40.0 N; the lower counties reach 39.1 N
CROP = 0.001
TOP_ROW = {f"61010{i + 1}": (LEFT + 0.1 * i, TOP - 0.3, LEFT + 0.1 * (i + 1), TOP) for i in range(3)}
LOW_ROW = {f"61020{i + 1}": (LEFT + 0.1 * i, TOP - 0.9, LEFT + 0.1 * (i + 1), TOP - 0.3) for i in range(3)}
BOXES = {**TOP_ROW, **LOW_ROW}


def _geod_area(box) -> float:
    w, s, e, n = box
    return abs(Geod(ellps="WGS84").polygon_area_perimeter([w, e, e, w], [s, s, n, n])[0])


def _project(folder, factor: float = 1.0):
    """The project with the county table at `factor` x the right values (1000 ha) and the city table (their sums)."""
    write_inputs(folder, {"cropland": np.full((ROWS, COLS), CROP),
                          "probability": np.random.default_rng(1).uniform(0, 1, (ROWS, COLS))}, LEFT, TOP, RES)
    write_box_units(folder, BOXES)
    kha = {c: factor * 0.6 * CROP * _geod_area(b) / 1e7 for c, b in BOXES.items()}  # 1000 ha = 1e7 m2
    (folder / "county.csv").write_text("code,area_kha\n" + "".join(f"{c},{v!r}\n" for c, v in kha.items()))
    cities = {"610100": sum(kha[c] for c in TOP_ROW), "610200": sum(kha[c] for c in LOW_ROW)}
    (folder / "city.csv").write_text("code,area_kha\n" + "".join(f"{c},{v!r}\n" for c, v in cities.items()))
    tables = "\n".join(table_section(lv) for lv in ("county", "city"))
    return write_reconcile_config(folder, LEFT, TOP, COLS, ROWS, RES, tables=tables, statistics=True)


def test_the_project_cuts_the_lower_counties_to_a_sixtieth():
    # the premise of the old failure, from Geod: on the grid the lower counties have 1/60 of their area (and cropland)
    share = [_geod_area((w, TOP - ROWS * RES, e, s + 0.6)) / _geod_area((w, s, e, s + 0.6)) for w, s, e, _ in LOW_ROW.values()]
    assert share == pytest.approx([1 / 60] * 3, rel=0.01)
    whole = sum(_geod_area(b) for b in BOXES.values())
    on_grid = sum(_geod_area(b) for b in TOP_ROW.values()) + sum(a * s for a, s in zip((_geod_area(b) for b in LOW_ROW.values()), share))
    assert 0.6 * whole / on_grid > 1.5  # what the old check saw: the right table above 150 % of the cropland


def test_right_table_on_a_cut_grid_passes_the_scale_check(tmp_path, capsys, caplog):
    cfg = _project(tmp_path)
    assert main(["-q", "run", str(cfg)]) == 0  # the run's statistics stage: the cut counties are left out of its scale check
    capsys.readouterr()
    assert main(["-q", "reconcile", str(cfg)]) == 0, capsys.readouterr().err  # old code: exit 2, "implausible scale"
    assert "implausible scale" not in caplog.text
    # the city table: one city wholly on the grid, too few to judge its area unit against cropland; said, no unit suggested
    assert "only 1 of its 2 city units lie wholly on the grid" in caplog.text
    assert "is area_unit" not in caplog.text


def test_table_1000x_too_large_on_the_whole_units_is_still_refused(tmp_path, capsys):
    cfg = _project(tmp_path)
    assert main(["-q", "run", str(cfg)]) == 0
    _project(tmp_path, factor=1000.0)  # the same counties in ha, read as 1000 ha: 60 % x 1000 of their cropland
    capsys.readouterr()
    assert main(["-q", "reconcile", str(cfg)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "[reconcile.tables.county]" in err[0] and "implausible scale" in err[0]
    assert "3 of 3 units report more than 150 % of their cropland" in err[0] and "is area_unit 'ha'?" in err[0]


def test_training_thresholds_on_a_cropland_raster_that_cuts_units(tmp_path, capsys):
    """`irrmap training thresholds`: the --cropland raster defines the grid and cuts the lower counties; the same scale
    check (whole units only) passes the right table (old code: exit 2, "is area_unit '10000mu'?") and refuses it 1000x."""
    _project(tmp_path)
    args = ["-q", "training", "thresholds", "--score", str(tmp_path / "probability.tif"), "--cropland", str(tmp_path / "cropland.tif"),
            "--units", str(tmp_path / "units.geojson"), "--unit-field", "code", "--stats", str(tmp_path / "county.csv"),
            "--stats-field", "code", "--area-field", "area_kha", "--area-unit", "1000ha"]
    assert main(args + ["--out", str(tmp_path / "right")]) == 0, capsys.readouterr().err
    _project(tmp_path, factor=1000.0)
    capsys.readouterr()
    assert main(args + ["--out", str(tmp_path / "wrong")]) == 2
    err = capsys.readouterr().err
    assert "3 of 3 units report more than 150 % of their cropland" in err and "is area_unit 'ha'?" in err
