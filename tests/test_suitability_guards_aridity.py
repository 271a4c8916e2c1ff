"""D2: the aridity index refuses climate rasters in the wrong unit (mm/day PET, tenths of a mm, Kelvin, annual means
read as one day), in the CLI and in `irrmap run`, and still accepts real extreme climates (hyper-arid AI < 0.03,
very wet AI > 3). Truth: hand-computed Priestley-Taylor PET (METHOD.md formula worked out here in numpy) and
plain ratios of constant fields."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import rasterio
from conftest import as_dataarray
from test_pipeline_cli import CONFIG, SUITABILITY, project  # noqa: F401  (the tiny two-county project)

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.suitability import guards

GRID = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.01, "EPSG:4326")  # 10 x 20
SRC = guards.Source("test", lambda f: f"scale = {f:g}")


def _field(value, lo=None, hi=None):
    """A 10 x 20 field from lo to hi (median = their mean), or constant `value`."""
    if lo is None:
        a = np.full(GRID.shape, value, np.float32)
    else:
        a = np.linspace(lo, hi, GRID.size, dtype=np.float32).reshape(GRID.shape)
    return as_dataarray(a, GRID)


def _write(path, value, **kw):
    write_raster(path, _field(value, **kw), cog=False)
    return str(path)


# ---- the guards on arrays ---------------------------------------------------------------------------------
def test_temperature_in_kelvin_or_undeclared_nodata_is_refused():
    guards.check_temperature(_field(None, lo=-45.0, hi=42.0), SRC)  # real extremes of per-step means pass
    with pytest.raises(InputError, match=r"subtract 273\.15"):
        guards.check_temperature(_field(None, lo=262.9, hi=288.2), SRC)  # the demo + 273.15 (the tester's temp_K.tif)
    with pytest.raises(InputError, match="Kelvin x 10"):
        guards.check_temperature(_field(None, lo=2629.0, hi=2882.0), SRC)  # China 5 km temperature: K x 10
    t = _field(None, lo=5.0, hi=25.0)
    t.values[0, 0] = -9999.0  # undeclared fill value
    with pytest.raises(InputError, match="nodata"):
        guards.check_temperature(t, SRC)


def test_humidity_radiation_albedo_units():
    guards.check_humidity(_field(None, lo=20.0, hi=95.0), SRC)
    with pytest.raises(InputError, match="fraction.*scale = 100"):
        guards.check_humidity(_field(None, lo=0.2, hi=0.95), SRC)
    guards.check_radiation(_field(None, lo=80.0, hi=320.0), SRC)
    with pytest.raises(InputError, match="solar constant"):
        guards.check_radiation(_field(None, lo=1.5e7, hi=2.5e7), SRC)  # J m-2 accumulations
    with pytest.raises(InputError, match="scale = 0.01"):
        guards.check_albedo(_field(None, lo=15.0, hi=30.0), SRC)


@pytest.mark.parametrize("p, pet", [
    (2.0, 2500.0),      # eastern Sahara oases (Kharga, Kufra): AI 0.0008, hyper-arid
    (30.0, 1200.0),     # Taklamakan / Peruvian coast: AI 0.025 < 0.03
    (527.0, 720.0),     # the demo: AI 0.73
    (8000.0, 1000.0),   # Choco / Meghalaya: AI 8, very wet
    (6000.0, 400.0),    # Fiordland-like: AI 15
])
def test_real_climates_pass(p, pet):
    ps, es = guards.check_precipitation_pet(_field(p), _field(pet), SRC, SRC)
    assert ps.median == pytest.approx(p) and es.median == pytest.approx(pet)


def test_wrong_units_of_precipitation_or_pet_are_refused_naming_the_raster():
    p_src = guards.Source("P.tif", lambda f: f"P scale = {f:g}")
    e_src = guards.Source("PET.tif", lambda f: f"PET scale = {f:g}")
    with pytest.raises(InputError, match=r"PET\.tif: PET median 1\.97.*PET scale = 365"):  # PET in mm/day
        guards.check_precipitation_pet(_field(527.0), _field(720.0 / 365), p_src, e_src)
    with pytest.raises(InputError, match=r"PET\.tif: .*PET scale = 0\.1"):  # PET in tenths of a mm
        guards.check_precipitation_pet(_field(527.0), _field(7200.0), p_src, e_src)
    with pytest.raises(InputError, match=r"P\.tif: precipitation median 2e\+04.*P scale = 0\.1"):  # wet region, 0.1 mm
        guards.check_precipitation_pet(_field(20000.0), _field(1500.0), p_src, e_src)
    with pytest.raises(InputError, match=r"P\.tif: .*different units.*P scale = 0\.1"):  # AI 40: P in 0.1 mm
        guards.check_precipitation_pet(_field(12000.0), _field(300.0), p_src, e_src)
    p = _field(None, lo=100.0, hi=900.0)
    p.values[0, :3] = -9999.0
    with pytest.raises(InputError, match="negative precipitation.*nodata = -9999"):
        guards.check_precipitation_pet(p, _field(720.0), p_src, e_src)
    with pytest.raises(InputError, match="no valid pixel"):
        guards.check_precipitation_pet(_field(np.nan), _field(720.0), p_src, e_src)


def test_precipitation_as_daily_rate_warns_naming_the_factor(caplog):
    # P in mm/day against PET in mm/year cannot be told from a hyper-arid desert by values alone: a warning
    with caplog.at_level(logging.WARNING, logger="irrmap.suitability"):
        guards.check_precipitation_pet(_field(527.0 / 365), _field(720.0), SRC, SRC)
    assert "daily rate" in caplog.text and "scale = 365" in caplog.text and "hyper-arid" in caplog.text


def test_given_aridity_index_bounds():
    for ai in (0.0005, 0.01, 0.73, 5.0, 15.0):
        guards.check_aridity_index(_field(ai), SRC)
    with pytest.raises(InputError, match=r"scale = 0\.0001.*Trabucco"):
        guards.check_aridity_index(_field(7300.0), SRC)  # Global-AI stored x 10,000
    with pytest.raises(InputError, match="negative aridity"):
        guards.check_aridity_index(_field(-1.0), SRC)


def test_unit_tags_of_precipitation_and_pet(tmp_path):
    p, e = _write(tmp_path / "p.tif", 1.4), _write(tmp_path / "e.tif", 720.0)
    with rasterio.open(p, "r+") as dst:
        dst.update_tags(units="mm/day")
    with rasterio.open(e, "r+") as dst:
        dst.update_tags(units="mm/yr")
    p_src, e_src = guards.Source("P", lambda f: f"scale = {f:g}"), guards.Source("E", lambda f: f"scale = {f:g}")
    with pytest.raises(InputError, match="rate per day.*scale = 365"):
        guards.check_climate_tags(p, e, p_src, e_src)
    guards.check_climate_tags(p, e, p_src, e_src, p_scaled=True)  # an explicit scale converts it
    with pytest.raises(InputError, match=r"\['mm/day'\] but PET in \['mm/yr'\]"):
        guards.check_climate_tags([p], [e], p_src, e_src, annual=False)  # CLI steps: only a mismatch is refused


# ---- the CLI -----------------------------------------------------------------------------------------------
def _pt_by_hand(t, rh, rs, albedo, seconds):
    es = 0.6108 * math.exp(17.27 * t / (t + 237.3))
    d = 4098 * es / (t + 237.3) ** 2
    rn = (1 - albedo) * rs + ((1 - 0.26 * math.exp(-7.77e-4 * t * t)) - 0.97) * 5.670374419e-8 * (t + 273.15) ** 4
    return max((2.33 - 0.014 * rh) * d / (d + 0.066) * rn / (2.501e6 - 2361 * t) * seconds, 0.0)


def test_cli_annual_means_need_step_days_and_kelvin_is_refused(tmp_path, capsys):
    p = _write(tmp_path / "p.tif", 500.0)
    t = _write(tmp_path / "t.tif", 12.0)
    rh = _write(tmp_path / "rh.tif", 55.0)
    rs = _write(tmp_path / "rs.tif", 180.0)
    out = tmp_path / "ai.tif"
    base = ["-q", "suitability", "aridity", str(out), "--precip", p, "--temperature", t, "--humidity", rh, "--radiation", rs]
    assert main(base) == 2  # one annual step read as one day: AI 365x too large before the fix
    err = capsys.readouterr().err
    assert "PET median" in err and "--step-days 365" in err and not out.exists()
    assert main(base + ["--step-days", "365"]) == 0
    want = 500.0 / _pt_by_hand(12.0, 55.0, 180.0, 0.23, 365 * 86400.0)
    with rasterio.open(out) as src:
        np.testing.assert_allclose(src.read(1), want, rtol=1e-5)
        assert src.tags()["units"] == "1"
    k = _write(tmp_path / "k.tif", 12.0 + 273.15)
    out.unlink()
    assert main(["-q", "suitability", "aridity", str(out), "--precip", p, "--temperature", k, "--humidity", rh,
                 "--radiation", rs, "--step-days", "365"]) == 2
    err = capsys.readouterr().err
    assert f"--temperature {k}" in err and "subtract 273.15" in err and not out.exists()


def test_cli_pet_rasters_in_mm_per_day_are_refused(tmp_path, capsys):
    p = _write(tmp_path / "p.tif", None, lo=300.0, hi=700.0)
    pet = _write(tmp_path / "pet.tif", 900.0 / 365)
    assert main(["-q", "suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", p, "--pet", pet]) == 2
    err = capsys.readouterr().err
    assert f"--pet {pet}" in err and "'A*365'" in err
    good = _write(tmp_path / "pet_ok.tif", 900.0)
    assert main(["-q", "suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", p, "--pet", good]) == 0
    with rasterio.open(tmp_path / "ai.tif") as src:
        np.testing.assert_allclose(src.read(1), _field(None, lo=300.0, hi=700.0).values / 900.0, rtol=1e-6)


# ---- irrmap run --------------------------------------------------------------------------------------------
def _climate(project, p, pet, p_units=None):  # noqa: F811
    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    water = np.zeros(g.shape, "uint8")
    water[20, :] = 1
    write_raster(project / "water.tif", as_dataarray(water, g), dtype="uint8", nodata=255, cog=False)
    for name, value in (("precip", p), ("pet", pet)):
        write_raster(project / f"{name}.tif", as_dataarray(np.full(g.shape, value, "float32"), g), cog=False)
    if p_units:
        with rasterio.open(project / "precip.tif", "r+") as dst:
            dst.update_tags(units=p_units)


def _run(project, capsys, text, check=False):  # noqa: F811
    (project / "run.toml").write_text(text)
    rc = main(["-q", "run", *(["--check"] if check else []), str(project / "run.toml")])
    return rc, capsys.readouterr().err


def test_run_refuses_pet_in_mm_per_day_then_runs_with_scale(project, capsys):  # noqa: F811
    _climate(project, 300.0, 1000.0 / 365)
    rc, err = _run(project, capsys, CONFIG + SUITABILITY)
    assert rc == 2 and "[inputs.pet].path = pet.tif" in err and "set scale = 365 in [inputs.pet]" in err, err
    assert not (project / "out" / "suitability" / "aridity_index.tif").exists()
    fixed = (CONFIG + SUITABILITY).replace('path = "pet.tif"', 'path = "pet.tif"\nscale = 365')
    rc, err = _run(project, capsys, fixed)
    assert rc == 0, err
    with rasterio.open(project / "out" / "suitability" / "aridity_index.tif") as src:
        assert np.nanmedian(src.read(1)) == pytest.approx(0.3, rel=1e-5)  # 300 / (1000 / 365 * 365)


def test_run_refuses_tenths_of_mm_precipitation(project, capsys):  # noqa: F811
    _climate(project, 30000.0, 1000.0)  # 3,000 mm in 0.1 mm
    rc, err = _run(project, capsys, CONFIG + SUITABILITY)
    assert rc == 2 and "[inputs.precip]" in err and "set scale = 0.1 in [inputs.precip]" in err, err


def test_run_check_refuses_precipitation_tagged_per_day(project, capsys):  # noqa: F811
    _climate(project, 300.0 / 365, 1000.0, p_units="mm/day")
    rc, err = _run(project, capsys, CONFIG + SUITABILITY, check=True)
    assert rc == 2 and "'mm/day'" in err and "set scale = 365 in [inputs.precip]" in err, err


def test_run_hyper_arid_climate_is_not_refused(project, capsys):  # noqa: F811
    _climate(project, 3.0, 2400.0)  # AI 0.00125 (Kharga-like): runs, with a warning naming the mm/day case
    rc, err = _run(project, capsys, CONFIG + SUITABILITY)
    assert rc == 0, err
    with rasterio.open(project / "out" / "suitability" / "aridity_index.tif") as src:
        assert np.nanmedian(src.read(1)) == pytest.approx(3.0 / 2400.0, rel=1e-5)
