"""Bad time-series inputs give one-line errors (file, cause, fix, exit 2), never a traceback or a silent
partial read: a missing [features] source, a truncated MODIS GeoTIFF (header or pixels cut), a truncated
NetCDF cube, an absent file on the command line."""

from __future__ import annotations

import glob

import numpy as np
import pytest
import rasterio
import xarray as xr

from irrmap.app.cli import main
from irrmap.core.errors import ConfigError
from irrmap.training.sscore import series_options


def _one_line_error(capsys, *names):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("irrmap: error:") and "(fix:" in err, err
    assert "Traceback" not in err
    for n in names:
        assert n in err, err
    return err


def test_missing_features_source_names_the_key(tmp_path):
    with pytest.raises(ConfigError) as err:
        series_options({"source": "modis/", "contains": "NDVI"}, "ndvi", tmp_path)
    assert err.value.where == "[features].ndvi.source" and "modis/" in str(err.value)
    (tmp_path / "modis").mkdir()
    with pytest.raises(ConfigError, match=r"\[features\].ndvi.qa"):
        series_options({"source": "modis/", "qa": "qa_missing/"}, "ndvi", tmp_path)


def test_cube_qa_is_a_variable_not_a_path(tmp_path):
    ds = xr.Dataset({"ndvi": (("time", "y", "x"), np.zeros((1, 2, 2), np.float32))})
    ds.to_netcdf(tmp_path / "cube.nc")
    kw = series_options({"source": "cube.nc", "qa": "VI_Quality"}, "ndvi", tmp_path)
    assert kw["qa"] == "VI_Quality" and kw["source"] == tmp_path / "cube.nc"


@pytest.fixture
def modis_tile(shared_data, tmp_path):
    """A tiled copy of a real MOD13Q1 NDVI date (1097 x 1168, int16), written by GDAL in tmp_path."""
    src_path = shared_data / "modis" / "mod13q1_2010_qa" / "MOD13Q1.A2010129.250m_16_days_NDVI.tif"
    with rasterio.open(src_path) as src:
        profile, data = src.profile, src.read()
    profile.update(driver="GTiff", tiled=True, blockxsize=256, blockysize=256, compress="deflate")
    full = tmp_path / "full" / "MOD13Q1.A2010129.NDVI.tif"
    full.parent.mkdir()
    with rasterio.open(full, "w", **profile) as dst:
        dst.write(data)
    return full


def test_truncated_modis_pixels_are_a_one_line_error(modis_tile, tmp_path, capsys):
    cut = tmp_path / "MOD13Q1.A2010129.cut.tif"
    cut.write_bytes(modis_tile.read_bytes()[: modis_tile.stat().st_size // 2])  # header intact, tiles missing
    assert main(["-q", "features", "composite", "--preset", "mod13q1", str(tmp_path / "o.tif"), str(cut)]) == 2
    err = _one_line_error(capsys, str(cut))
    assert "truncated" in err
    assert not (tmp_path / "o.tif").exists()


def test_truncated_modis_header_is_a_one_line_error(shared_data, tmp_path, capsys):
    src = shared_data / "modis" / "mod13q1_2010_qa" / "MOD13Q1.A2010129.250m_16_days_NDVI.tif"
    cut = tmp_path / "MOD13Q1.A2010129.NDVI.tif"
    cut.write_bytes(src.read_bytes()[:600_000])  # this file keeps its directory at the end: the cut loses it
    assert main(["-q", "features", "composite", "--preset", "mod13q1", str(tmp_path / "o.tif"), str(cut)]) == 2
    _one_line_error(capsys, str(cut), "truncated")


def test_one_truncated_date_in_a_folder(shared_data, modis_tile, tmp_path, capsys):
    folder = tmp_path / "series"
    folder.mkdir()
    good = sorted(glob.glob(str(shared_data / "modis" / "mod13q1_2010_qa" / "*NDVI.tif")))[1:3]
    for g in good:
        (folder / g.split("/")[-1]).symlink_to(g)
    cut = folder / "MOD13Q1.A2010129.250m_16_days_NDVI.tif"
    cut.write_bytes(modis_tile.read_bytes()[: modis_tile.stat().st_size // 2])
    assert main(["-q", "features", "composite", "--preset", "mod13q1", "--date-pattern", "A%Y%j", str(tmp_path / "o.tif"), str(folder)]) == 2
    _one_line_error(capsys, str(cut))


def test_truncated_classic_netcdf_cube_is_refused(tmp_path, capsys):
    ds = xr.Dataset({"ndvi": (("time", "lat", "lon"), np.full((4, 60, 80), 0.5, np.float32))},
                    coords={"time": np.arange(4).astype("datetime64[D]"), "lat": 40 - 0.05 * (np.arange(60) + 0.5),
                            "lon": 100 + 0.05 * (np.arange(80) + 0.5)})
    full = tmp_path / "full.nc"
    ds.to_netcdf(full, engine="scipy")  # classic NetCDF: netCDF-C would read the lost bytes as data
    cut = tmp_path / "cut.nc"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(cut), "--band", "ndvi"]) == 2
    _one_line_error(capsys, str(cut), "truncated")
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(full), "--band", "ndvi"]) == 0


def test_absent_file_on_the_command_line(tmp_path, capsys):
    missing = tmp_path / "NDVI_2014-01-01.tif"
    assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(missing)]) == 2
    _one_line_error(capsys, str(missing), "not found")


def test_config_check_takes_a_cube_qa_as_a_variable(tmp_path):
    from irrmap.core.config import load_config

    xr.Dataset({"ndvi": (("time", "y", "x"), np.zeros((1, 2, 2), np.float32))}).to_netcdf(tmp_path / "cube.nc")
    (tmp_path / "units.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    text = ('[grid]\ncrs = "EPSG:4326"\nbounds = [100, 30, 101, 31]\nresolution = 0.5\n'
            '[units]\npath = "units.geojson"\ncode_field = "code"\n'
            '[features]\nndvi = {{ source = "{src}", variable = "ndvi", qa = "VI_Quality" }}\n')
    (tmp_path / "ok.toml").write_text(text.format(src="cube.nc"))
    assert load_config(tmp_path / "ok.toml").config.features["ndvi"]["qa"] == "VI_Quality"
    (tmp_path / "bad.toml").write_text(text.format(src="absent.nc"))
    with pytest.raises(ConfigError, match=r"\[features\].ndvi.source = absent.nc") as err:
        load_config(tmp_path / "bad.toml")
    assert "VI_Quality" not in str(err.value)
