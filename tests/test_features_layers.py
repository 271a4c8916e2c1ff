"""Files with several layers: the layer is chosen by number or by name, never guessed; values already scaled
are not scaled again silently.

Truth: layers read independently with rasterio, reduced with numpy; hand-made files with band descriptions.
"""

from __future__ import annotations

import glob

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.config import InputRaster
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.training.sscore import feature_rasters
from irrmap.training.timeseries import read_dated_files, read_timeseries

GRID = Grid("EPSG:32651", Affine(250, 0, 500000, 0, -250, 6300000), 3, 4)
LAYERS = ["NDVI", "EVI", "composite_day"]


def _export(path, ndvi, evi, day=200.0):
    """A per-date export of three described layers, as MODIS tools write them."""
    arr = np.stack([np.full(GRID.shape, ndvi, np.float32), np.full(GRID.shape, evi, np.float32), np.full(GRID.shape, day, np.float32)])
    with rasterio.open(path, "w", driver="GTiff", height=3, width=4, count=3, dtype="float32", crs=GRID.crs, transform=GRID.transform) as dst:
        dst.write(arr)
        for i, d in enumerate(LAYERS, start=1):
            dst.set_band_description(i, d)
    return path


@pytest.fixture
def exports(tmp_path):
    for k, (n, e) in enumerate([(0.2, 0.1), (0.7, 0.45), (0.5, 0.3)]):
        _export(tmp_path / f"export_2014-0{k + 1}-01.tif", n, e, 200.0 + k)
    return tmp_path


def test_layer_by_name_or_number(exports):
    ndvi = read_dated_files(exports, band="ndvi").values  # names compare without case
    evi = read_dated_files(exports, band="EVI").values
    np.testing.assert_allclose(ndvi[:, 0, 0], [0.2, 0.7, 0.5], rtol=1e-6)
    np.testing.assert_allclose(evi[:, 0, 0], [0.1, 0.45, 0.3], rtol=1e-6)
    np.testing.assert_array_equal(read_dated_files(exports, band=2).values, evi)
    np.testing.assert_array_equal(read_dated_files(exports, band="2").values, evi)  # as the CLI passes it


def test_multi_layer_files_without_a_choice_are_refused(exports):
    with pytest.raises(InputError, match=r"3 layers \(1 'NDVI', 2 'EVI', 3 'composite_day'\) and none was chosen"):
        read_dated_files(exports)
    with pytest.raises(InputError, match="no layer is named 'NIR'.*'NDVI'"):
        read_dated_files(exports, band="NIR")
    with pytest.raises(InputError, match="layer 4 does not exist"):
        read_dated_files(exports, band=4)


def test_one_multi_layer_file_with_a_date_is_one_date(exports):
    one = sorted(exports.iterdir())[1]
    with pytest.raises(InputError, match="3 layers .* date in its name"):
        read_timeseries(one)
    s = read_timeseries(one, band="EVI")
    assert s.sizes["time"] == 1 and str(s.time.values[0])[:10] == "2014-02-01"
    np.testing.assert_allclose(s.values[0], 0.45, rtol=1e-6)


def test_a_container_of_subdatasets_lists_them(tmp_path):
    import xarray as xr

    ds = xr.Dataset({v: (("lat", "lon"), np.zeros((3, 4), np.float32)) for v in ("ndvi", "evi")},
                    coords={"lat": [40.0, 39.9, 39.8], "lon": [100.0, 100.1, 100.2, 100.3]})
    ds.to_netcdf(tmp_path / "day_2014-01-01.nc")
    with pytest.raises(InputError, match="2 subdatasets .*:ndvi.*:evi"):
        read_dated_files(tmp_path)


def test_inputs_band_accepts_a_name(exports):
    path = sorted(exports.iterdir())[0]
    spec = InputRaster(path=path, band="EVI")
    assert spec.band == "EVI" and InputRaster(path=path).band is None
    np.testing.assert_allclose(read_raster(path, GRID, band=spec.band).values, 0.1, rtol=1e-6)
    with pytest.raises(InputError, match="none was chosen"):
        read_raster(path, GRID).values
    with pytest.raises(Exception, match="numbered from 1"):
        InputRaster(path=path, band=0)


def test_config_series_layer_by_name(exports):
    section = {"ndvi": {"source": str(exports), "band": "NDVI", "preset": "none"}, "evi": {"source": str(exports), "band": 2, "preset": "none"},
               "mixed": False, "window": 3}
    f_crop = read_raster(_export(exports.parent / "crop.tif", 1.0, 1.0), GRID, band=1)
    out = feature_rasters(section, GRID, f_crop=f_crop)
    np.testing.assert_allclose(out["ndvi_max"].values, 0.7, rtol=1e-6)
    np.testing.assert_allclose(out["evi_max"].values, 0.45, rtol=1e-6)


# ---- real data: 23 dates x 7 layers (NDVI, EVI, NIR, red, blue, MIR, composite day), already scaled floats ----
def _mato_grosso(shared_data):
    folder = shared_data / "modis" / "matogrosso_mod13q1"
    files = sorted(glob.glob(str(folder / "MOD13Q1_*.tif")))
    assert len(files) == 23
    return folder, files


def test_mato_grosso_ndvi_maximum_by_layer(shared_data, tmp_path):
    folder, files = _mato_grosso(shared_data)
    with rasterio.open(files[0]) as src:
        assert src.count == 7
    want = np.nanmax(np.stack([rasterio.open(f).read(1) for f in files]), axis=0)  # layer 1 = NDVI
    out = tmp_path / "ndvi_max.tif"
    assert main(["-q", "features", "composite", str(out), str(folder), "--band", "1"]) == 0
    with rasterio.open(out) as src:
        got = src.read(1)
    assert got.shape == (27, 37)
    np.testing.assert_array_equal(got, want)
    assert 0.8 < float(want.max()) <= 1.0


def test_mato_grosso_without_a_layer_is_a_one_line_error(shared_data, tmp_path, capsys):
    folder, _ = _mato_grosso(shared_data)
    assert main(["-q", "features", "composite", str(tmp_path / "x.tif"), str(folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "7 layers" in err and "--band" in err and "MOD13Q1_20110914" in err
    assert not (tmp_path / "x.tif").exists()


def test_mato_grosso_preset_on_scaled_values_is_refused(shared_data, tmp_path, capsys):
    folder, files = _mato_grosso(shared_data)
    assert main(["-q", "features", "composite", str(tmp_path / "p.tif"), str(folder), "--band", "1", "--preset", "mod13q1"]) == 2
    err = capsys.readouterr().err.strip()  # was a warning and a composite of 1e-4 x NDVI (scene stacks are refused alike)
    assert len(err.splitlines()) == 1 and "already look scaled" in err and "--scale 1" in err and "MOD13Q1_20110914" in err
    assert not (tmp_path / "p.tif").exists()
    # the fix the error names gives the right values
    assert main(["-q", "features", "composite", str(tmp_path / "f.tif"), str(folder), "--band", "1", "--preset", "mod13q1", "--scale", "1"]) == 0
    want = np.nanmax(np.stack([rasterio.open(f).read(1) for f in files]), axis=0)
    with rasterio.open(tmp_path / "f.tif") as src:
        np.testing.assert_array_equal(src.read(1), want)
