"""A VI series that is not one year of a VI: several years composited as one "annual" maximum, a MOD13Q1
composite-day layer read as the VI, an annual maximum too low to be vegetation; a unit table that does not
describe the zones raster; and fixes naming options the command has (fixE3).

Expected values are hand-computed from the synthetic inputs (the maximum of the chosen year's dates, days of
year from datetime) or read with GDAL (gdalinfo-equivalent rasterio reads of the real MOD13Q1 files)."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid

MG = Path("/work/shared/data/modis/matogrosso_mod13q1")


def _write(path, bands, dtype="float32", nodata=None, descriptions=None):
    bands = np.asarray(bands)
    bands = bands[None] if bands.ndim == 2 else bands
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=dtype, crs="EPSG:4326", transform=from_origin(-56.0, -12.0, 0.01, 0.01), nodata=nodata) as dst:
        dst.write(bands.astype(dtype))
        for k, d in enumerate(descriptions or []):
            dst.set_band_description(k + 1, d)
    return path


def _two_year_folder(tmp_path, shape=(8, 8)):
    """16-day NDVI files of 2019 and 2020; 2019 peaks at 0.8, 2020 at 0.5 (the hand-computed maxima)."""
    folder = tmp_path / "ndvi"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for year, peak in ((2019, 0.8), (2020, 0.5)):
        for k in range(23):
            day = dt.date(year, 1, 1) + dt.timedelta(days=16 * k)
            v = np.full(shape, 0.2 + (peak - 0.2) * np.sin(np.pi * k / 22), np.float32) + rng.uniform(0, 0.001, shape).astype(np.float32)
            _write(folder / f"NDVI_{day:%Y-%m-%d}.tif", v)
    return folder


def _err(capsys):
    err = capsys.readouterr().err.strip()
    assert err.startswith("irrmap: error:") and "(fix:" in err and "Traceback" not in err, err
    return err


# ---- several years composited as one annual maximum ----------------------------------------------------------
def test_cli_refuses_a_series_of_two_years(tmp_path, capsys):
    folder = _two_year_folder(tmp_path)
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder)]) == 2
    err = _err(capsys)
    for part in ("2019-01-01", "2020-12-", "2019: 23", "2020: 23", "--year", "--allow-multiyear"):
        assert part in err, err


def test_cli_year_keeps_that_years_dates(tmp_path):
    folder = _two_year_folder(tmp_path)
    files = sorted(folder.iterdir())
    truth = np.max([rasterio.open(f).read(1) for f in files if "2020-" in f.name], axis=0)  # 2020's own maximum
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder), "--year", "2020", "--stat", "max",
                 "--stat", "count"]) == 0
    with rasterio.open(tmp_path / "o.tif") as src:
        np.testing.assert_allclose(src.read(1), truth, rtol=1e-6)
        assert np.all(src.read(2) == 23)
    assert main(["-q", "features", "composite", str(tmp_path / "all.tif"), str(folder), "--allow-multiyear", "--stat", "count"]) == 0
    with rasterio.open(tmp_path / "all.tif") as src:
        assert np.all(src.read(1) == 46)


def test_multiband_stack_of_two_years(tmp_path, capsys):
    """One band per date, the dates in the band descriptions: 2019 peaks at 0.76, 2020 at 0.46 (hand-set)."""
    values = [0.30, 0.76, 0.25, 0.46]
    _write(tmp_path / "evi.tif", [np.full((6, 6), v) for v in values],
           descriptions=["2019-01-01", "2019-07-01", "2020-01-01", "2020-07-01"])
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(tmp_path / "evi.tif")]) == 2
    assert "2019-01-01 to 2020-07-01" in _err(capsys)
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(tmp_path / "evi.tif"), "--year", "2020"]) == 0
    with rasterio.open(tmp_path / "o.tif") as src:
        np.testing.assert_allclose(src.read(1), 0.46, rtol=1e-6)


def test_run_series_of_two_years_needs_the_run_year(tmp_path):
    from irrmap.training.sscore import composite_rasters

    folder = _two_year_folder(tmp_path)
    grid = Grid.from_raster(next(folder.iterdir()))
    section = {"ndvi": {"source": str(folder), "preset": "none"}, "mixed": False}
    with pytest.raises(InputError, match=r"more than one year.*\[statistics\]\.year|\[statistics\]\.year"):
        composite_rasters(section, grid, f_crop=None, base_dir=tmp_path)
    out = composite_rasters(section, grid, f_crop=None, base_dir=tmp_path, year=2020)
    truth = np.max([rasterio.open(f).read(1) for f in sorted(folder.iterdir()) if "2020-" in f.name], axis=0)
    np.testing.assert_allclose(out["ndvi_max"].values, truth, rtol=1e-6)
    assert float(out["ndvi_max"].max()) < 0.55  # not 2019's 0.8


def test_a_season_across_new_year_is_one_year(tmp_path):
    """2013-09-14 .. 2014-08-29 (349 days, the Sinop layout) is one season, not two years."""
    from irrmap.training.series_checks import one_year
    from irrmap.training.timeseries import read_timeseries

    folder = tmp_path / "season"
    folder.mkdir()
    for k in range(23):
        day = dt.date(2013, 9, 14) + dt.timedelta(days=16 * k)
        _write(folder / f"NDVI_{day:%Y-%m-%d}.tif", np.full((4, 4), 0.5, np.float32))
    s = read_timeseries(folder)
    assert one_year(s, "x", fix="f").sizes["time"] == 23


# ---- a composite-day layer read as the VI ------------------------------------------------------------------
def _ndvi_doy_folder(tmp_path):
    folder = tmp_path / "mod13"
    folder.mkdir()
    for k in range(6):
        day = dt.date(2012, 1, 1) + dt.timedelta(days=16 * k)
        doy = day.timetuple().tm_yday + (np.arange(64).reshape(8, 8) % 16)  # within the 16-day period
        _write(folder / f"MOD13Q1_{day:%Y%m%d}.tif", [np.full((8, 8), 0.7), doy])
    return folder


@pytest.mark.parametrize("decode", [[], ["--preset", "mod13q1"]])
def test_composite_day_layer_is_named(tmp_path, capsys, decode):
    folder = _ndvi_doy_folder(tmp_path)
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder), "--band", "2", *decode]) == 2
    err = _err(capsys)
    assert "composite day of the year" in err and "--band" in err and "--preset" not in err.split("(fix:")[1], err


def test_composite_day_layer_named_by_its_description(tmp_path, capsys):
    folder = tmp_path / "named"
    folder.mkdir()
    for k in range(3):
        day = dt.date(2012, 1, 1) + dt.timedelta(days=16 * k)
        _write(folder / f"MOD13Q1_{day:%Y%m%d}.tif", [np.full((4, 4), 0.7), np.full((4, 4), 0.5)],
               descriptions=["NDVI", "250m 16 days composite day of the year"])
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder), "--band", "2"]) == 2
    assert "composite day of the year" in _err(capsys)


@pytest.mark.skipif(not MG.is_dir(), reason="needs the shared MOD13Q1 Mato Grosso series")
def test_real_mod13q1_day_layer_refused_and_ndvi_read(tmp_path, capsys):
    # layer 7 of the first file holds days 257..272 around 2011-09-14 = day 257 (datetime), whole numbers
    first = min(MG.iterdir())
    with rasterio.open(first) as src:
        layer7 = src.read(7)
    assert np.all(layer7 == np.round(layer7)) and 257 <= layer7.min() and layer7.max() < 257 + 16
    for decode in ([], ["--preset", "mod13q1"]):
        assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(MG), "--band", "7", *decode]) == 2
        assert "composite day of the year" in _err(capsys)
    assert main(["-q", "features", "composite", str(tmp_path / "ndvi.tif"), str(MG), "--band", "1"]) == 0


def test_low_annual_maximum_is_warned(tmp_path, caplog):
    folder = tmp_path / "low"
    folder.mkdir()
    for k in range(3):
        day = dt.date(2012, 1, 1) + dt.timedelta(days=16 * k)
        _write(folder / f"NDVI_{day:%Y%m%d}.tif", np.full((4, 4), 0.03 + 0.001 * k))
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder)]) == 0
    assert any("below 0.1 on every pixel" in r.getMessage() for r in caplog.records)


# ---- a unit table that does not describe the zones raster ---------------------------------------------------
def _sscore_inputs(tmp_path, ids):
    zones = np.repeat(np.array([[11, 12], [13, 14]]), 4, axis=0).repeat(4, axis=1)  # 8 x 8, four units
    _write(tmp_path / "zones.tif", zones, dtype="int32")
    _write(tmp_path / "vi.tif", np.full((8, 8), 0.6))
    _write(tmp_path / "s.tif", np.full((8, 8), 0.5))
    _write(tmp_path / "n.tif", np.full((8, 8), 1.2))
    pd.DataFrame({"zone": ids, "flat": [True, False, True, False]}).to_csv(tmp_path / "units.csv", index=False)
    return ["-q", "features", "sscore", str(tmp_path / "vi.tif"), str(tmp_path / "ss.tif"), "--suitability", str(tmp_path / "s.tif"),
            "--zones", str(tmp_path / "zones.tif"), "--unit-table", str(tmp_path / "units.csv"), "--nscore", str(tmp_path / "n.tif")]


def test_unit_table_of_other_zones_is_refused(tmp_path, capsys):
    assert main(_sscore_inputs(tmp_path, [1, 2, 3, 4])) == 2
    err = _err(capsys)
    assert "units.csv" in err and "zones.tif" in err and "11" in err, err


def test_flat_ids_missing_from_the_zones_are_warned(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        assert main(_sscore_inputs(tmp_path, [11, 12, 99, 14])) == 0  # 99 is flat and absent
    assert any("99" in r.getMessage() and "flat" in r.getMessage() for r in caplog.records)
    with rasterio.open(tmp_path / "ss.tif") as src:
        out = src.read(1)
    # hand-computed: unit 11 flat -> N-score 1.2; the others S x VI = 0.5 x 0.6 = 0.3
    np.testing.assert_allclose(out[:4, :4], 1.2, rtol=1e-6)
    np.testing.assert_allclose(out[4:, :], 0.3, rtol=1e-6)


# ---- fixes that name the caller's options --------------------------------------------------------------------
@pytest.mark.parametrize("cmd", ["nscore", "sscore"])
def test_raw_vi_fix_names_what_the_command_offers(tmp_path, capsys, cmd):
    raw = np.full((8, 8), 6500, np.int16)
    _write(tmp_path / "raw.tif", raw, dtype="int16")
    _write(tmp_path / "ref.tif", np.ones((8, 8)), dtype="uint8")
    _write(tmp_path / "s.tif", np.full((8, 8), 0.5))
    extra = ["--reference", str(tmp_path / "ref.tif"), "--window", "3"] if cmd == "nscore" else ["--suitability", str(tmp_path / "s.tif")]
    assert main(["-q", "features", cmd, str(tmp_path / "raw.tif"), str(tmp_path / "o.tif"), *extra]) == 2
    fix = _err(capsys).split("(fix:")[1]
    assert "gdal_calc.py" in fix and "--scale" not in fix and "features composite --preset mod13q1" in fix, fix


def test_shared_date_fix_names_the_contains_option(tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in ("NDVI_2020-01-01.tif", "EVI_2020-01-01.tif"):
        _write(folder / name, np.full((4, 4), 0.5))
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder)]) == 2
    err = _err(capsys)
    assert "--contains" in err and "contains=" not in err, err
