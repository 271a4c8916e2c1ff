"""Units not wholly on the grid in `irrmap treecover change`'s per-unit table (coverage column, on-grid share, NaN
areas off the grid, a warning), and the report's findings on units without a statistic (their mapped area and its
share of the map) and on units cut by the grid (counted as units/units.csv's coverage column counts them).
Expectations by hand: a unit box halved by the grid's east edge between two parallels has exactly half its
ellipsoidal area on the grid (the area between two parallels is proportional to the longitude span)."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.flags_section import findings
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import main


def _cover(path, value):
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(10.0, 40.2, 0.01, 0.01), nodata=-1) as dst:
        dst.write(np.full((1, 20, 20), value, np.float32))
    return path


def test_treecover_change_table_marks_units_off_and_partly_off_the_grid(tmp_path, caplog):
    a, b = _cover(tmp_path / "a.tif", 50.0), _cover(tmp_path / "b.tif", 70.0)  # grid: lon 10..10.2, lat 40..40.2
    units = gpd.GeoDataFrame({"code": ["inside", "half", "beyond"]}, crs="EPSG:4326",
                             geometry=[box(10.05, 40.05, 10.1, 40.1), box(10.15, 40.05, 10.25, 40.1), box(10.5, 40.5, 10.6, 40.6)])
    units.to_file(tmp_path / "u.gpkg", driver="GPKG")
    table = tmp_path / "t.csv"
    with caplog.at_level(logging.WARNING):
        assert main(["treecover", "change", str(tmp_path / "c.tif"), str(a), str(b), "--units", str(tmp_path / "u.gpkg"),
                     "--code-field", "code", "--table", str(table)]) == 0
    t = pd.read_csv(table, dtype={"code": str}).set_index("code")
    assert t["coverage"].to_dict() == {"inside": "whole", "half": "partial", "beyond": "off grid"}
    assert t.loc["inside", "on_grid_share"] == pytest.approx(1.0, abs=1e-6)
    assert t.loc["half", "on_grid_share"] == pytest.approx(0.5, rel=1e-4)  # 0.05 of 0.10 degrees of longitude
    assert t.loc["beyond", "on_grid_share"] == 0.0
    for col in ("area_m2", "compared_area_m2", "forest_area_a_m2", "forest_area_b_m2", "forest_net_change_m2", "mean_cover_a"):
        assert np.isnan(t.loc["beyond", col]), col  # not mapped, not "0 m2 of forest"
        assert np.isfinite(t.loc["half", col]) and np.isfinite(t.loc["inside", col])
    msg = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "partly outside" in r.getMessage())
    assert "half 50 %" in msg and "beyond" in msg and str(table) in msg


def _stats(left_out, n=8, rb=0.3):
    return SimpleNamespace(metrics={"county": {"n": n, "relative_bias": rb}}, left_out=left_out, out_unit="ha")


def test_units_without_statistic_give_their_mapped_area_and_rank_by_its_share():
    # 10 units, 2 without a statistic holding 300 + 100 ha of a 1,000 ha map: 40 % of the map, above a 30 % bias
    lo = {"units_without_statistic": ["u9", "u10"], "mapped_m2_without_statistic": {"u9": 3e6, "u10": 1e6}, "mapped_m2_total": 1e7}
    found = findings(statistics=_stats(lo))
    assert "400 ha, is 40.0% of the mapped 1,000 ha" in found[0]
    assert "u9, u10" in found[0] and "+30%" in found[1]


def test_grid_coverage_finding_counts_as_the_unit_table_does():
    share = {"a": 1.0, "b": 0.0, "c": 0.5, "d": 0.995, "e": 1 - 1e-7, "f": 0.0}  # e is whole (irrmap.core.coverage.FULL_SHARE)
    lo = {"units_without_mapped_area": {"b": "the unit lies wholly off the map's grid: the map does not cover it",
                                        "c": "only 50.0 % of the unit's area lies on the map's grid (the map ends inside it)"},
          "units_without_statistic": ["f"], "on_grid_share": share}
    text = next(f for f in findings(statistics=_stats(lo, n=3, rb=0.0)) if "not wholly on the grid" in f)
    assert text.startswith("4 of 6 units (67%) are not wholly on the grid")
    assert "2 off grid, 2 partial" in text
    assert "Of the 3 with a statistic (1 off grid, 2 partial), 2 are left out of the comparison with statistics (b, c)" in text
    assert "1 with less than 1% of their area off the grid are compared on their mapped part (d)" in text
    assert "1 have no statistic (f)" in text
