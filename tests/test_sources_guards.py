"""Readers refuse metadata that contradicts the files, unscaled reflectance and bands on different grids.
Truth: the real Flathead scenes in /work/shared/data (copied to tmp, GDAL_PAM_ENABLED=NO), gdalwarp/gdal_translate
for the odd grids, hand-written scaled integers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import InputError
from irrmap.sources import read_scene
from irrmap.sources.landsat import file_identity
from irrmap.sources.scene import REFLECTANCE_MAX, check_reflectance_scale

LC8, LT5 = "flathead_lc8_20150604", "flathead_lt5_19970602"


@pytest.fixture(scope="module", autouse=True)
def _pam_off():
    """No .aux.xml written beside the scenes while this module runs (was set at import: for the whole session)."""
    saved = os.environ.get("GDAL_PAM_ENABLED")
    os.environ["GDAL_PAM_ENABLED"] = "NO"
    yield
    if saved is None:
        os.environ.pop("GDAL_PAM_ENABLED", None)
    else:
        os.environ["GDAL_PAM_ENABLED"] = saved


def copy_scene(shared_data, name, dest):
    shutil.copytree(shared_data / "landsat" / name, dest)
    return dest


# ---- 1. metadata of another scene --------------------------------------------------------------------
def test_file_identity_parses_both_id_forms():
    assert file_identity("LC08_L1TP_041027_20150604_20170226_01_T1_B5.TIF")[:2] == ("LC08", "041027")
    assert str(file_identity("LC08_L1TP_041027_20150604_20170226_01_T1_B5.TIF")[2]) == "2015-06-04"
    # LT5 041/027, 1997 day 153 = 2 June 1997
    assert file_identity("LT50410271997153PAC02_B1.TIF")[0] == "LT05" and str(file_identity("LT50410271997153PAC02_B1.TIF")[2]) == "1997-06-02"
    assert file_identity("scene_B1.TIF") is None


def test_tm_mtl_beside_oli_bands_is_refused(shared_data, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    for p in (shared_data / "landsat" / LC8).glob("*_B*.TIF"):
        shutil.copy(p, folder)
    shutil.copy(next((shared_data / "landsat" / LT5).glob("*_MTL.txt")), folder)
    with pytest.raises(InputError, match=r"LC08.*LT05.*one scene per folder"):
        read_scene(folder)
    from irrmap.app.cli import main

    assert main(["-q", "water", "mask", str(tmp_path / "m.tif"), str(folder)]) == 2  # exit 2, nothing written
    assert not (tmp_path / "m.tif").exists()


def test_same_sensor_other_date_mtl_is_refused(shared_data, tmp_path):
    """An LT05 band file of another date (its name not listed in the MTL) beside the scene's own MTL."""
    folder = copy_scene(shared_data, LT5, tmp_path / "lt5")
    b3 = folder / "LT50410271997153PAC02_B3.TIF"
    b3.rename(folder / "LT50410271998156PAC02_B3.TIF")  # same path/row, 5 June 1998
    with pytest.raises(InputError, match=r"LT50410271998156PAC02_B3.TIF is of LT05 path/row 041027 of 1998-06-05"):
        read_scene(folder)


def test_own_scene_and_renamed_files_are_read(shared_data, tmp_path):
    folder = copy_scene(shared_data, LC8, tmp_path / "lc8")
    assert read_scene(folder).sensor == "LC08"
    # names without a Landsat id cannot be checked and are read through the MTL's band numbers as before
    plain = tmp_path / "plain"
    plain.mkdir()
    for p in folder.glob("*.TIF"):
        shutil.copy(p, plain / p.name.replace("LC08_L1TP_041027_20150604_20170226_01_T1", "x"))
    shutil.copy(next(folder.glob("*_MTL.txt")), plain)
    assert read_scene(plain).sensor == "LC08"


def test_sentinel2_band_of_another_date_is_refused(tmp_path):
    from test_sources_sentinel2 import make_product  # tests/ is on sys.path

    folder = make_product(tmp_path / "p", "L1C", "04.00")
    b04 = next(folder.rglob("T11UQP_20220605T181921_B04.jp2"))
    b04.rename(b04.with_name("T11UQP_20220610T181921_B04.jp2"))
    with pytest.raises(InputError, match=r"B04.jp2 is of tile T11UQP sensed 20220610.*20220605"):
        read_scene(folder)
    other_tile = make_product(tmp_path / "q", "L1C", "04.00")
    b02 = next(other_tile.rglob("T11UQP_20220605T181921_B02.jp2"))
    b02.rename(b02.with_name("T12UUU_20220605T181921_B02.jp2"))
    with pytest.raises(InputError, match=r"tile T12UUU"):
        read_scene(other_tile)


# ---- 2. unscaled reflectance -------------------------------------------------------------------------
def write_stack(path, values, sidecar):
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[2], height=values.shape[1], count=6, dtype="int16",
                       crs="EPSG:32650", transform=Affine(30, 0, 300000, 0, -30, 4200000), nodata=-9999) as dst:
        for i, name in enumerate(("blue", "green", "red", "nir", "swir1", "swir2"), start=1):
            dst.write(values[i - 1], i)
            dst.set_band_description(i, name)
    path.with_suffix(".json").write_text(json.dumps(sidecar))
    return path


def test_stack_without_scale_is_refused_naming_the_fix(tmp_path):
    dn = np.random.default_rng(4).integers(300, 4000, (6, 8, 8)).astype(np.int16)  # reflectance x 1e4
    path = write_stack(tmp_path / "s.tif", dn, {"date": "2020-07-01", "sensor": "LC08"})
    with pytest.raises(InputError, match=r'median of .*set "scale".*s\.json.*0\.0001'):
        read_scene(path)
    path = write_stack(tmp_path / "s.tif", dn, {"date": "2020-07-01", "sensor": "LC08", "scale": 1e-4})
    scene = read_scene(path)
    np.testing.assert_allclose(scene.bands["nir"].values, dn[3] * 1e-4, rtol=1e-6)


def test_reflectance_check_lets_bright_clouds_pass_and_catches_x1e4():
    import xarray as xr

    # 0.2 median with 30 % bright cloud tops at 1.3 (TOA above 1 happens at low sun): reflectance
    ok = np.where(np.arange(100) < 30, 1.3, 0.2).reshape(10, 10).astype(np.float32)
    check_reflectance_scale({"green": xr.DataArray(ok, dims=("y", "x"))}, "scene")
    bad = xr.DataArray((ok * 1e4).astype(np.float32), dims=("y", "x"))
    with pytest.raises(InputError, match=r"green reflectance has a median of 2000"):
        check_reflectance_scale({"green": bad}, "scene")
    assert REFLECTANCE_MAX == 1.6


# ---- 3. bands on different grids ---------------------------------------------------------------------
@pytest.mark.parametrize("gdal", [["gdalwarp", "-q", "-tr", "60", "60", "-r", "average"],
                                  ["gdal_translate", "-q", "-srcwin", "0", "0", "600", "600"]])
def test_landsat_band_on_another_grid_is_refused(shared_data, tmp_path, gdal):
    folder = copy_scene(shared_data, LC8, tmp_path / "lc8")
    b5 = next(folder.glob("*_B5.TIF"))
    subprocess.run([*gdal, str(b5), str(tmp_path / "b5.tif")], check=True)
    shutil.move(tmp_path / "b5.tif", b5)
    with pytest.raises(InputError, match=r"B5 \(.*_B5.TIF\) is not on the grid of B2"):
        read_scene(folder)


def test_sentinel2_cropped_band_is_refused_mixed_resolutions_are_read(tmp_path):
    from test_sources_sentinel2 import make_product, write_band

    folder = make_product(tmp_path / "p", "L1C", "04.00")
    assert read_scene(folder).grid.res == (10.0, 10.0)  # 10 m and 20 m bands of one tile: by design
    b11 = next(folder.rglob("*_B11.jp2"))
    with rasterio.open(b11) as src:
        data = src.read(1)
    b11.unlink()
    write_band(b11, data[:-2, :-2], 20)  # cropped by two 20 m pixels
    with pytest.raises(InputError, match=r"band B11 .* is not on the tile grid of B02"):
        read_scene(folder)


def test_stack_sidecar_of_another_scene_is_refused(tmp_path):
    dn = np.full((6, 4, 4), 1500, np.int16)
    name = "LC08_L2SP_041027_20200701_20200712_02_T1.tif"
    path = write_stack(tmp_path / name, dn, {"date": "2020-07-01", "sensor": "LC08", "scale": 1e-4})
    assert read_scene(path).date.isoformat() == "2020-07-01"
    write_stack(tmp_path / name, dn, {"date": "1997-06-02", "sensor": "LT05", "scale": 1e-4})
    with pytest.raises(InputError, match=r"file name LC08_L2SP.* is of LC08 on 2020-07-01, but .*json says LT05 on 1997-06-02"):
        read_scene(path)
    other = write_stack(tmp_path / "s.tif", dn, {"date": "2020-07-01", "sensor": "LC08", "scale": 1e-4,
                                                  "scene_id": "LT50410271997153PAC02"})
    with pytest.raises(InputError, match=r"scene_id LT50410271997153PAC02"):
        read_scene(other)


# ---- class rasters (QA) read onto another scene's grid: nearest at about 1:1, mode only when much finer ---------
def test_quality_band_onto_a_grid_in_another_zone_is_read_like_gdalwarp_near(shared_data, tmp_path):
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.sources.scene import categorical_resampling

    bqa = next((shared_data / "landsat" / LC8).glob("*_BQA.TIF"))
    own = Grid.from_raster(bqa)
    # the scene's footprint in the next UTM zone at 31 m: slightly coarser, where raster_read alone would take a 2 x 2 mode
    from rasterio.warp import transform_bounds

    left, bottom, right, top = transform_bounds(own.crs, "EPSG:32612", *own.bounds)
    left, top = np.floor(left / 30) * 30, np.ceil(top / 30) * 30
    grid = Grid.from_bounds(left, top - 300 * 31, left + 300 * 31, top, 31, "EPSG:32612")
    assert categorical_resampling(bqa, grid) == "nearest"
    coarse = Grid.from_bounds(left, top - 100 * 90, left + 100 * 90, top, 90, "EPSG:32612")
    assert categorical_resampling(bqa, coarse) == "mode"
    out = tmp_path / "near.tif"
    l, b, r, t = grid.bounds
    subprocess.run(["gdalwarp", "-q", "-t_srs", "EPSG:32612", "-te", str(l), str(b), str(r), str(t), "-tr", "31", "31", "-r", "near",
                    "-dstnodata", "65535", str(bqa), str(out)], check=True, env=os.environ | {"GDAL_PAM_ENABLED": "NO"})
    got = read_raster(bqa, grid, kind="categorical", resampling=categorical_resampling(bqa, grid), chunks=4096).values
    with rasterio.open(out) as src:
        expected = src.read(1)
    inside = expected != 65535
    assert inside.mean() > 0.5
    np.testing.assert_array_equal(got[inside], expected[inside])


def test_sentinel2_band_coarser_than_native_is_read_with_a_warning(tmp_path, caplog):
    import logging

    from test_sources_sentinel2 import make_product, write_band

    folder = make_product(tmp_path / "p", "L1C", "04.00")
    b03 = next(folder.rglob("*_B03.jp2"))
    with rasterio.open(b03) as src:
        data = src.read(1)
    b03.unlink()
    write_band(b03.with_name(b03.name.replace("_B03", "_B03_20m")), data[::2, ::2], 20)  # the tile's 400 m at 20 m
    with caplog.at_level(logging.WARNING):
        scene = read_scene(folder)
    assert scene.grid.res == (10.0, 10.0) and "B03 is read from a 20 m file, coarser than its native 10 m" in caplog.text
