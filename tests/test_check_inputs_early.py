"""Implausible climate units and what `irrmap run --check` used to miss.

- Precipitation 10x too large (tenths of a millimetre) passed every guard wherever true rain is under 1,500 mm: the
  aridity index became flat (every pixel in the wettest class). A median AI above guards.AI_WET_WARN (3) now warns,
  in `irrmap suitability aridity` (PET rasters and the FAO-56 / Priestley-Taylor inputs), for a given index, and in
  `irrmap run` and its --check. Expected medians are computed here with rasterio and numpy from the files.
- --check said "config OK" for configs the run refused or warned about later: level tables without rows for the
  year, a statistics table read in ha when it is in 1000ha, a percent (0..100) cropland raster. Each now stops (or
  warns in) --check with the run's own message; the errors also stop `irrmap run` before any stage runs.

Broken inputs are made with independent tools (gdal_calc.py scales a raster; pandas rewrites a table).
"""

from __future__ import annotations

import logging
import subprocess

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from irrmap.suitability import guards

from irrmap.app.api import check
from irrmap.app.cli import main
from irrmap.app.demo import generate_demo
from irrmap.app.pipeline import run_pipeline
from irrmap.core.errors import InputError, IrrmapError

SRC = guards.Source("P.tif", lambda f: f"P scale = {f:g}")
PET_SRC = guards.Source("PET.tif", lambda f: f"PET scale = {f:g}")


def _field(value: float) -> xr.DataArray:
    return xr.DataArray(np.full((20, 30), value, np.float32), dims=("y", "x"))


def _wet_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "median aridity index" in r.getMessage() and r.levelno == logging.WARNING]


# ---- the guard itself: hand-computed medians ----------------------------------------------------------------
def test_precipitation_in_tenths_of_mm_warns_with_the_scale_fix(caplog):
    # the demo's climate: 527 mm of rain on 720 mm of PET is AI 0.732 (semi-arid/dry sub-humid); x 10 is 7.32
    with caplog.at_level(logging.WARNING, logger="irrmap.suitability"):
        guards.check_precipitation_pet(_field(5270.0), _field(720.0), SRC, PET_SRC)
    (msg,) = _wet_warnings(caplog)
    assert msg.startswith("P.tif: median aridity index 7.32") and "P scale = 0.1" in msg and "PET scale = 10" in msg
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="irrmap.suitability"):
        for p, pet in ((527.0, 720.0), (2200.0, 1400.0), (3000.0, 1450.0)):  # the demo, the Amazon basin, Borneo: real
            guards.check_precipitation_pet(_field(p), _field(pet), SRC, PET_SRC)
    assert _wet_warnings(caplog) == []


def test_given_aridity_index_10x_too_large_warns(caplog):
    with caplog.at_level(logging.WARNING, logger="irrmap.suitability"):
        guards.check_aridity_index(_field(0.731), SRC)
        assert _wet_warnings(caplog) == []
        guards.check_aridity_index(_field(7.31), SRC)
    (msg,) = _wet_warnings(caplog)
    assert "7.31" in msg and "P scale = 0.1" in msg


# ---- the demo ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, rows=48, cols=64, seed=5, workers=2)
    clim = out / "inputs" / "climate"
    subprocess.run(["gdal_calc.py", "--quiet", "-A", str(clim / "precipitation.tif"), "--outfile", str(out / "p10.tif"),
                    "--calc", "A*10", "--type", "Float32"], check=True)
    # a percent cropland: 100 where the 30 m land cover is class 1 (cropland), written by GDAL's own tool
    subprocess.run(["gdal_calc.py", "--quiet", "-A", str(out / "inputs/landcover_30m.tif"), "--outfile", str(out / "crop_pct.tif"),
                    "--calc", "(A==1)*100", "--type", "Float32", "--NoDataValue=-1"], check=True)
    # a percent forest/grass share: 100 where the land cover is class 2, 3 or 4 (the demo's forest_grass classes)
    subprocess.run(["gdal_calc.py", "--quiet", "-A", str(out / "inputs/landcover_30m.tif"), "--outfile", str(out / "natural_pct.tif"),
                    "--calc", "((A==2)+(A==3)+(A==4))*100", "--type", "Float32", "--NoDataValue=-1"], check=True)
    table = pd.read_csv(out / "inputs/statistics/county.csv", dtype=str)
    assert set(table["year"]) == {"2020"}
    table.assign(year="2015").to_csv(out / "county2015.csv", index=False)
    return out


def _variant(demo, name: str, *edits) -> str:
    """A copy of the demo config with `edits` (old, new) and its own output folder, output_NAME."""
    text = (demo / "config.toml").read_text()
    for old, new in [*edits, ('output_dir = "output"', f'output_dir = "output_{name}"')]:
        assert old in text, old
        text = text.replace(old, new)
    path = demo / f"{name}.toml"
    path.write_text(text)
    return str(path)


def _median(path) -> float:
    with rasterio.open(path) as src:
        a = src.read(1, masked=True).astype(np.float64).filled(np.nan)
    return float(np.nanmedian(a))


def test_cli_aridity_warns_for_precipitation_x10_with_pet_and_with_fao56_inputs(demo, caplog):
    clim = demo / "inputs" / "climate"
    ai_true = _median(clim / "precipitation.tif") / _median(clim / "pet.tif")  # medians read with rasterio
    assert 0.3 < ai_true < 3 < 10 * ai_true
    meteo = ["--temperature", str(clim / "temperature.tif"), "--humidity", str(clim / "humidity.tif"),
             "--radiation", str(clim / "radiation.tif"), "--step-days", "365"]
    for pet in (["--pet", str(clim / "pet.tif")], meteo):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert main(["suitability", "aridity", str(demo / "ai.tif"), "--precip", str(clim / "precipitation.tif"), *pet]) == 0
        assert _wet_warnings(caplog) == []
        with caplog.at_level(logging.WARNING):
            assert main(["suitability", "aridity", str(demo / "ai10.tif"), "--precip", str(demo / "p10.tif"), *pet]) == 0
        (msg,) = _wet_warnings(caplog)
        assert msg.startswith(f"--precip {demo / 'p10.tif'}: median aridity index") and "'A*0.1'" in msg
        assert _median(demo / "ai10.tif") == pytest.approx(10 * _median(demo / "ai.tif"), rel=1e-5)  # AI 10x: flat
        assert _median(demo / "ai10.tif") > guards.AI_WET_WARN


def test_run_check_warns_for_precipitation_x10_as_the_suitability_stage_does(demo, caplog, capsys):
    cfg = _variant(demo, "p10", ('path = "inputs/climate/precipitation.tif"', f'path = "{demo / "p10.tif"}"'))
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--check", cfg]) == 0
    (msg,) = _wet_warnings(caplog)
    assert msg.startswith(f"[inputs.precipitation].path = {demo / 'p10.tif'}: median aridity index")
    assert "set scale = 0.1 in [inputs.precipitation]" in msg
    out = capsys.readouterr().out
    assert "config OK" in out and "warnings: " in out


def test_level_table_without_rows_for_the_year_stops_check_and_run(demo):
    cfg = _variant(demo, "y2015", ('path = "inputs/statistics/county.csv"\ncode_field', 'path = "county2015.csv"\ncode_field'),
                   ("year = 2020", "year = 2015"))
    with pytest.raises(IrrmapError) as checked:
        check(cfg)
    text = str(checked.value)
    for table in ("city.csv", "province.csv"):
        assert f"{table}: no rows left after the year/variant filter (year 2015" in text
    with pytest.raises(IrrmapError) as ran:  # the run stops on the same list, before any stage runs
        run_pipeline(cfg)
    assert str(ran.value) == text
    assert not (demo / "output_y2015" / "aligned").exists()


def test_statistics_in_wrong_area_unit_warns_in_check_as_the_run(demo, caplog):
    cfg = _variant(demo, "ha", ('area_unit = "1000ha"\nyear_field = "year"\nyear = 2020', 'area_unit = "ha"\nyear_field = "year"\nyear = 2020'))
    with caplog.at_level(logging.WARNING):
        check(cfg)
    checked = [r.getMessage() for r in caplog.records if "implausible scale" in r.getMessage()]
    assert len(checked) == 1 and "1000x too small" in checked[0] and "area_unit = '1000ha'" in checked[0]
    # the run's statistics stage (with the cropland and units it aligns first) logs the same warning
    from irrmap.app.stages import inputs, statistics, units

    manifest = run_pipeline(cfg, stages=[inputs.stage("cropland"), units.stage(), statistics.stage()])
    ran = [w["message"] for w in manifest["warnings"] if "implausible scale" in w["message"]]
    assert ran == checked


@pytest.mark.parametrize(("product", "classes", "percent_file"), [
    ("cropland", "[1]", "crop_pct.tif"), ("forest_grass", "[2, 3, 4]", "natural_pct.tif"), ("other_cover", "[5, 7, 8]", "natural_pct.tif")])
def test_percent_share_stops_check_and_run_before_any_stage(demo, product, classes, percent_file):
    """A percent (0..100) cropland, forest/grass or other share is refused before any stage: a percent forest/grass
    share made every pixel pass the N-score reference test (crop + forest/grass share >= 0.5), silently."""
    cfg = _variant(demo, f"pct_{product}", (f'[inputs.{product}]\npath = "inputs/landcover_30m.tif"\nkind = "fraction"\nclasses = {classes}',
                                            f'[inputs.{product}]\npath = "{demo / percent_file}"'))
    with rasterio.open(demo / percent_file) as src:  # what the file holds, read with rasterio
        assert float(src.read(1, masked=True).max()) == 100.0
    with pytest.raises(InputError) as checked:
        check(cfg)
    msg = str(checked.value)
    assert msg.startswith(f"[inputs.{product}].path = {demo / percent_file}: the [inputs.{product}] fraction is not within "
                          "0..1 (values from 0 to ") and "these look like percent" in msg and "scale = 0.01" in msg
    with pytest.raises(InputError) as ran:  # the run stops with the same error before any stage runs
        run_pipeline(cfg)
    assert str(ran.value) == msg and not (demo / f"output_pct_{product}" / "aligned").exists()


def test_check_still_passes_the_demo(demo, caplog):
    with caplog.at_level(logging.WARNING):
        found = check(demo / "config.toml")
    assert "suitability" in found["stages"] and _wet_warnings(caplog) == []
    assert not [r for r in caplog.records if "implausible scale" in r.getMessage()]

