"""Statistics in the wrong area unit are caught on every path that reads a statistics table: the run's statistics
stage, `irrmap statistics check --cropland`, `irrmap evaluate statistics --cropland`, the reconcile stage's
tables and the library function harmonise().

The demo's county table (1000 ha) is rewritten x10, x100 (then every county reports more than 150 % of its cropland
as irrigated: an error), /10, /15 and /100 (a table k times too small reports at most 1/k of the cropland as
irrigated, so the whole table falls under the documented 10 % bound: a warning) and kept as it is (no finding).
The expected outcome of each factor follows from that arithmetic alone; the test checks the premise (the right
table's irrigated share of cropland is between 15 % and 100 %) from the demo's own truth table and the cropland
fraction times pyproj.Geod pixel areas, independently of the code under test.
"""

from __future__ import annotations

import logging
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod

from irrmap.app.cli import main
from irrmap.app.pipeline import run_pipeline
from irrmap.core.errors import DataError

TOO_LARGE = (10, 100)
TOO_SMALL = (1 / 10, 1 / 15, 1 / 100)
LATER = ("suitability", "features", "training", "models", "mapping", "evaluation", "water", "treecover", "reconcile")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_scale")
    assert main(["-q", "demo", str(out), "--rows", "96", "--cols", "128", "--seed", "5"]) == 0
    county = pd.read_csv(out / "inputs" / "statistics" / "county.csv", dtype=str)
    for factor in (1, *TOO_LARGE, *TOO_SMALL):
        t = county.copy()
        t["irrigated_area"] = [f"{float(v) * factor:.10g}" if v == v else v for v in county["irrigated_area"]]
        t.to_csv(out / "inputs" / "statistics" / f"county_{_name(factor)}.csv", index=False)
    return out


def _name(factor: float) -> str:
    return f"x{factor:g}" if factor >= 1 else f"d{1 / factor:.0f}"


def _config(demo, factor: float) -> str:
    """The demo config reading the table rewritten by `factor` (same output folder: the inputs stage runs once)."""
    text = (demo / "config.toml").read_text()
    for section in LATER:
        text = re.sub(rf"\n\[{re.escape(section)}(\.[^\]]*)?\]\n.*?(?=\n\[|\Z)", "\n", text, flags=re.S)
    text = text.replace('path = "inputs/statistics/county.csv"', f'path = "inputs/statistics/county_{_name(factor)}.csv"')
    path = demo / f"config_{_name(factor)}.toml"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def run_out(demo):
    """The output folder of the inputs, units and statistics stages with the right table."""
    run_pipeline(_config(demo, 1))
    return demo / "output"


def test_premise_the_right_table_irrigates_between_15_and_100_percent_of_the_cropland(demo, run_out):
    stats = pd.read_csv(demo / "inputs" / "statistics" / "county.csv", dtype={"code": str})
    stats = stats[(stats["variant"] == "actual") & (stats["year"] == 2020)]
    with rasterio.open(run_out / "aligned" / "cropland.tif") as src:
        crop, t = np.nan_to_num(src.read(1).astype(float)), src.transform
    with rasterio.open(run_out / "units" / "zones.tif") as src:
        zones = src.read(1)
    geod, ys = Geod(ellps="WGS84"), t.f + t.e * np.arange(crop.shape[0] + 1)
    row_area = np.array([abs(geod.polygon_area_perimeter([0, t.a, t.a, 0], [ys[i], ys[i], ys[i + 1], ys[i + 1]])[0])
                         for i in range(crop.shape[0])])
    codes = pd.read_csv(run_out / "units" / "units.csv", dtype={"code": str}).set_index("code")["zone"]
    joined = stats[stats["code"].isin(codes.index) & stats["irrigated_area"].notna()]
    in_table = np.isin(zones, codes[joined["code"]].to_numpy())
    share = joined["irrigated_area"].sum() * 1e7 / (crop * row_area[:, None] * in_table).sum()
    assert 0.15 < share < 1.0


# ---- the run's statistics stage -----------------------------------------------------------------------
def test_run_flags_nothing_in_the_right_unit(run_out):
    assert "implausible scale" not in (run_out / "statistics" / "validation.txt").read_text()


@pytest.mark.parametrize("factor", TOO_SMALL)
def test_run_warns_for_a_table_too_small(demo, run_out, factor):
    run_pipeline(_config(demo, factor))
    text = (run_out / "statistics" / "validation.txt").read_text()
    assert "warning: implausible scale: the table reports" in text and "of its cropland" in text


@pytest.mark.parametrize("factor", TOO_LARGE)
def test_run_stops_for_a_table_too_large(demo, run_out, factor):
    # stopped before any work when a county's statistic exceeds the county (x10, x100 here), else by the scale check
    with pytest.raises(DataError, match="area larger than unit|implausible scale: .* more than 150 %"):
        run_pipeline(_config(demo, factor))


# ---- irrmap statistics check --cropland -----------------------------------------------------------------
def _check_argv(demo, run_out, factor):
    return ["-q", "statistics", "check", str(demo / "inputs" / "statistics" / f"county_{_name(factor)}.csv"), "--units",
            str(demo / "inputs" / "admin.gpkg"), "--units-layer", "counties", "--unit-field", "code", "--code-field", "code",
            "--area-field", "irrigated_area", "--area-unit", "1000ha", "--year-field", "year", "--year", "2020",
            "--variant-field", "variant", "--variant", "actual", "--cropland", str(run_out / "aligned" / "cropland.tif")]


@pytest.mark.parametrize("factor", (1, *TOO_SMALL, *TOO_LARGE))
def test_statistics_check_with_cropland(demo, run_out, factor, capsys):
    status = main(_check_argv(demo, run_out, factor))
    out = capsys.readouterr().out
    if factor == 1:
        assert status == 0 and "implausible scale" not in out
    elif factor < 1:
        assert status == 0 and "warning: implausible scale: the table reports" in out
    else:
        assert status == 1 and "error: implausible scale:" in out and "more than 150 %" in out


# ---- irrmap evaluate statistics --cropland --------------------------------------------------------------
def _evaluate_argv(demo, run_out, factor):
    return ["-q", "evaluate", "statistics", str(run_out / "aligned" / "cropland.tif"), "--units", str(demo / "inputs" / "admin.gpkg"),
            "--units-layer", "counties", "--unit-field", "code", "--stats", str(demo / "inputs" / "statistics" / f"county_{_name(factor)}.csv"),
            "--stats-field", "code", "--area-field", "irrigated_area", "--area-unit", "1000ha", "--year-field", "year", "--year", "2020",
            "--variant-field", "variant", "--variant", "actual", "--levels", "county", "--cropland", str(run_out / "aligned" / "cropland.tif")]


@pytest.mark.parametrize("factor", (1, *TOO_SMALL))
def test_evaluate_statistics_warns_for_a_table_too_small_only(demo, run_out, factor, caplog, capsys):
    with caplog.at_level(logging.WARNING):
        assert main(_evaluate_argv(demo, run_out, factor)) == 0
    flagged = "implausible scale: the table reports" in caplog.text and "county_" in caplog.text
    assert flagged == (factor != 1)


@pytest.mark.parametrize("factor", TOO_LARGE)
def test_evaluate_statistics_stops_for_a_table_too_large(demo, run_out, factor, capsys):
    assert main(_evaluate_argv(demo, run_out, factor)) == 2
    err = capsys.readouterr().err
    assert err.startswith("irrmap: error: ") and "implausible scale" in err and "(fix: " in err


# ---- the reconcile stage's tables and harmonise() -----------------------------------------------------
def _units(demo):
    from irrmap.core.units import AdminUnits

    return AdminUnits.read(demo / "inputs" / "admin.gpkg", "code", layer="counties")


@pytest.mark.parametrize("factor", (1, *TOO_SMALL, *TOO_LARGE))
def test_reconcile_tables_check_the_scale(demo, run_out, factor, caplog):
    from irrmap.app.stages.reconcile import source_tables
    from irrmap.core.config import StatisticsSection
    from irrmap.evaluation.workflow import cropland_by_unit

    units = _units(demo)
    sec = StatisticsSection(path=demo / "inputs" / "statistics" / f"county_{_name(factor)}.csv", code_field="code",
                            area_field="irrigated_area", area_unit="1000ha", year_field="year", year=2020, variant_field="variant",
                            variant="actual", level="county", strict=factor < 1)
    ctx = SimpleNamespace(config=SimpleNamespace(reconcile=SimpleNamespace(tables={"county": sec})), path=lambda p: p)
    with caplog.at_level(logging.WARNING):
        source_tables(ctx, units, cropland_by_unit(run_out / "aligned" / "cropland.tif", units))
    assert ("implausible scale" in caplog.text) == (factor != 1)
    assert ("less than 10 %" in caplog.text) == (factor < 1) and ("more than 150 %" in caplog.text) == (factor > 1)


@pytest.mark.parametrize("factor", (1, *TOO_SMALL, *TOO_LARGE))
def test_harmonise_checks_the_scale_of_every_table(demo, run_out, factor, caplog):
    from irrmap.core.statistics import read_statistics
    from irrmap.core.statistics.harmonise import HarmoniseRules, SourceTable, harmonise, hierarchy_of
    from irrmap.evaluation.workflow import cropland_by_unit

    units = _units(demo)
    stats = read_statistics(demo / "inputs" / "statistics" / f"county_{_name(factor)}.csv", code_field="code", area_field="irrigated_area",
                            area_unit="1000ha", year_field="year", year=2020, variant_field="variant", variant="actual")
    table = stats.table.dropna(subset=["area_m2"])[["code", "area_m2", "year"]]
    with caplog.at_level(logging.WARNING, logger="irrmap.core.statistics.harmonise"):
        harmonise([SourceTable("county", "county", None, "actual", table, "1000ha")], hierarchy_of(units), rules=HarmoniseRules(),
                  cropland_m2=cropland_by_unit(run_out / "aligned" / "cropland.tif", units), unit_area_m2=units.geodesic_areas())
    found = [r.getMessage() for r in caplog.records if "implausible scale" in r.getMessage()]
    assert bool(found) == (factor != 1)
    if found:
        assert "source 'county' (2020)" in found[0] and "(fix: " in found[0]
        assert ("more than 150 %" in found[0]) == (factor > 1) and ("less than 10 %" in found[0]) == (factor < 1)


def test_units_partly_off_the_cropland_grid_are_left_out(demo, run_out, tmp_path, capsys):
    """A cropland raster of the central quarter of the region (gdal_translate -srcwin) holds only part of most counties'
    cropland; compared with their whole statistics the table would look too large (313 % of the cropland on this demo
    before). Units with less than 90 % of their area on the grid are left out, so the right table passes."""
    import shutil
    import subprocess

    if shutil.which("gdal_translate") is None:
        pytest.skip("gdal_translate (gdal-bin) is not installed")
    with rasterio.open(run_out / "aligned" / "cropland.tif") as src:
        width, height = src.width, src.height
    strip = tmp_path / "strip.tif"
    window = [width // 4, height // 4, width // 2, height // 2]
    subprocess.run(["gdal_translate", "-q", "-srcwin", *map(str, window), str(run_out / "aligned" / "cropland.tif"), str(strip)], check=True)
    argv = _check_argv(demo, run_out, 1)
    argv[argv.index("--cropland") + 1] = str(strip)
    assert main(argv) == 0
    assert "implausible scale" not in capsys.readouterr().out
