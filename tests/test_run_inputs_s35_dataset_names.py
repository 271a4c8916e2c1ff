"""Config paths that are GDAL dataset names (/vsizip/x.zip/a.tif, NETCDF:"f.nc":var) are accepted and read.

Before, load_config refused both as "files not found" (Path.exists() of a name), and pathlib turned
/vsizip//abs/x.zip/a.tif into /vsizip/abs/x.zip/a.tif, which GDAL reads as a relative archive path. Truth: the
values rasterio reads from the plain GeoTIFF the archive and the NetCDF were made from (gdal_translate).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.pipeline import run_pipeline
from irrmap.core import dataset_names
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError


def _tif(path: Path) -> np.ndarray:
    values = np.arange(400, dtype="float32").reshape(20, 20) + 100
    with rasterio.open(path, "w", driver="GTiff", width=20, height=20, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(104.0, 38.0, 0.01, 0.01)) as dst:
        dst.write(values, 1)
    return values


def _config(tmp_path: Path, dem: str, extra: str = "") -> Path:
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""[run]
output_dir = "out"
[grid]
crs = "EPSG:4326"
bounds = [104.0, 37.8, 104.2, 38.0]
resolution = 0.01
[inputs.dem]
path = '{dem}'
{extra}""")
    return cfg


@pytest.fixture()
def archive(tmp_path):
    truth = _tif(tmp_path / "dem.tif")
    with zipfile.ZipFile(tmp_path / "dem.zip", "w") as z:
        z.write(tmp_path / "dem.tif", "inner/dem.tif")
    (tmp_path / "dem.tif").rename(tmp_path / "plain.tif")
    return truth


@pytest.mark.parametrize("name", ["/vsizip//{tmp}/dem.zip/inner/dem.tif", "/vsizip/dem.zip/inner/dem.tif", "/vsizip/{{dem.zip}}/inner/dem.tif"])
def test_zip_names_load_resolve_and_run(tmp_path, archive, name):
    cfg = _config(tmp_path, name.format(tmp=tmp_path))
    loaded = load_config(cfg)
    resolved = loaded.resolve(loaded.config.inputs["dem"].path)
    assert str(resolved) == f"/vsizip/{{{tmp_path}/dem.zip}}/inner/dem.tif"  # absolute, in GDAL's brace form
    with rasterio.open(resolved) as src:
        np.testing.assert_array_equal(src.read(1), archive)
    manifest = run_pipeline(cfg)
    with rasterio.open(tmp_path / "out" / "aligned" / "dem.tif") as src:  # the grid is the file's own: values copied
        np.testing.assert_array_equal(src.read(1), archive)
    assert manifest["status"] == "complete" and str(resolved) in manifest["inputs"]


@pytest.mark.skipif(shutil.which("gdal_translate") is None, reason="needs gdal_translate")
def test_netcdf_subdataset_name_relative_to_the_config(tmp_path, archive):
    subprocess.run(["gdal_translate", "-q", "-of", "netCDF", str(tmp_path / "plain.tif"), str(tmp_path / "dem.nc")], check=True)
    cfg = _config(tmp_path, 'NETCDF:"dem.nc":Band1')
    loaded = load_config(cfg)
    assert str(loaded.resolve(loaded.config.inputs["dem"].path)) == f'NETCDF:"{tmp_path}/dem.nc":Band1'
    run_pipeline(cfg)
    with rasterio.open(tmp_path / "out" / "aligned" / "dem.tif") as src:
        np.testing.assert_allclose(src.read(1), archive)
    state = json.loads((tmp_path / "out" / ".irrmap-state.json").read_text())
    assert "inputs.dem" in state


def test_missing_container_is_still_not_found(tmp_path):
    with pytest.raises(ConfigError, match=r"files not found: \[inputs.dem\].path = /vsizip/\{nothere.zip\}/a.tif"):
        load_config(_config(tmp_path, "/vsizip/nothere.zip/a.tif"))
    with pytest.raises(ConfigError, match=r'\[inputs.dem\].path = NETCDF:"nothere.nc":v'):
        load_config(_config(tmp_path, 'NETCDF:"nothere.nc":v'))


def test_names_and_containers():
    assert dataset_names.is_dataset_name('HDF4_EOS:EOS_GRID:"f.hdf":MODIS_Grid_16DAY_250m_500m_VI:"250m 16 days NDVI"')
    assert not dataset_names.is_dataset_name("C:/data/x.tif") and not dataset_names.is_dataset_name("inputs/dem.tif")
    assert dataset_names.container('HDF4_EOS:EOS_GRID:"f.hdf":grid:band') == Path("f.hdf")
    assert dataset_names.container("/vsitar//d/a.tar.gz/x/b.tif") == Path("/d/a.tar.gz")
    assert dataset_names.container("/vsicurl/https://example.org/a.tif") is None
    assert dataset_names.resolve('HDF4_EOS:EOS_GRID:"f.hdf":grid:band', Path("/base")) == 'HDF4_EOS:EOS_GRID:"/base/f.hdf":grid:band'
