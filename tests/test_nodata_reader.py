"""Missing is only what a file declares (issue 12.2): every reader path keeps every stored value as data.

The truths are hand counts and GDAL's own tools and masks: gdalwarp for resampling, GDAL's mask band for which
pixels a file declares missing.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.warp import transform_bounds

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.nodata import Decoding, as_stored, class_marker
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray

UTM = "EPSG:32648"


def _write(path, values, transform, crs=UTM, nodata=None, **extra):
    with rasterio.open(path, "w", driver="GTiff", height=values.shape[0], width=values.shape[1], count=1,
                       dtype=values.dtype.name, crs=crs, transform=transform, nodata=nodata, **extra) as dst:
        dst.write(values, 1)
    return path


@pytest.fixture
def water_mask_8x(tmp_path):
    """A 64 x 64 untagged 0/1 water mask at 10 m: 3 water pixels in every 8 x 8 block."""
    fine = np.zeros((64, 64), np.uint8)
    fine[::8, 0::8] = fine[::8, 1::8] = fine[::8, 2::8] = 1
    assert all(fine[r:r + 8, c:c + 8].sum() == 3 for r in range(0, 64, 8) for c in range(0, 64, 8))
    return _write(tmp_path / "water.tif", fine, Affine(10, 0, 500_000, 0, -10, 4_000_000))


def test_untagged_water_mask_read_8x_coarser(water_mask_8x, tmp_path):
    coarse = Grid.from_bounds(500_000, 4_000_000 - 640, 500_640, 4_000_000, 80, UTM)  # 8 x 8, each 8 x 8 fine pixels
    mode = read_raster(water_mask_8x, coarse, kind="categorical")
    assert mode.attrs["resampling"] == "mode"
    assert (mode.values == 0).all()  # 61 of 64 land pixels in every cell: no water
    frac = read_raster(water_mask_8x, coarse, kind="fraction", classes=[1]).values
    np.testing.assert_allclose(frac, 3 / 64)
    mean = read_raster(water_mask_8x, coarse, kind="continuous").values
    np.testing.assert_allclose(mean, 3 / 64, rtol=1e-6)
    # GDAL's own mode resampling of the same file agrees
    out = tmp_path / "gdal_mode.tif"
    subprocess.run(["gdalwarp", "-q", "-r", "mode", "-tr", "80", "80", "-te", "500000", "3999360", "500640", "4000000",
                    str(water_mask_8x), str(out)], check=True)
    with rasterio.open(out) as src:
        assert np.array_equal(src.read(1), mode.values)


def test_untagged_mask_keeps_class_0_and_marks_only_off_file_pixels(water_mask_8x):
    # same lattice, grid 8 pixels larger on every side: a plain windowed copy
    grid = Grid.from_bounds(500_000 - 80, 4_000_000 - 720, 500_720, 4_000_080, 10, UTM)
    cat = read_raster(water_mask_8x, grid, kind="categorical", chunks=24)
    with rasterio.open(water_mask_8x) as src:
        raw = src.read(1)
    assert cat.dtype == np.int16 and cat.attrs["nodata"] == -32768  # wider type: no uint8 value is the marker
    v = cat.values
    assert np.array_equal(v[8:72, 8:72], raw)  # class 0 stays 0
    off = np.ones(v.shape, bool)
    off[8:72, 8:72] = False
    assert (v[off] == -32768).all()
    cont = read_raster(water_mask_8x, grid, chunks=24).values
    assert np.array_equal(cont[8:72, 8:72], raw.astype("float32")) and np.isnan(cont[off]).all()


def test_untagged_mask_warped_to_another_crs_keeps_class_0(water_mask_8x, tmp_path):
    with rasterio.open(water_mask_8x) as src:
        geo = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
    grid = Grid.from_bounds(*geo, 0.0001, "EPSG:4326")
    cat = read_raster(water_mask_8x, grid, kind="categorical")
    # GDAL's nearest neighbour of the untagged file, with 255 for pixels off the file, is the truth
    out = tmp_path / "gdal_near.tif"
    subprocess.run(["gdalwarp", "-q", "-r", "near", "-t_srs", "EPSG:4326", "-tr", "0.0001", "0.0001", "-te", *map(str, grid.bounds),
                    "-dstnodata", "255", str(water_mask_8x), str(out)], check=True)
    with rasterio.open(out) as src:
        truth = src.read(1)
    v = cat.values
    inside = truth != 255
    assert (v[inside] == 0).sum() > 0.9 * inside.sum()  # land is land
    agree = (v[inside] == truth[inside]).mean()
    assert agree > 0.99, agree  # GDAL's approximate transformer may pick a neighbour on a few pixels
    assert np.isin(v[~inside], [-32768, 0, 1]).all() and (v[~inside] == -32768).mean() > 0.9


@pytest.mark.parametrize("dtype,wider", [("uint8", "int16"), ("int8", "int16"), ("uint16", "int32"), ("int16", "int32"),
                                         ("uint32", "int64"), ("int32", "int64")])
def test_every_integer_type_keeps_its_whole_range_as_data(tmp_path, dtype, wider):
    info = np.iinfo(dtype)
    vals = np.array([[info.min, 0, 1, info.max]] * 4, dtype=dtype)
    p = _write(tmp_path / "c.tif", vals, Affine(10, 0, 0, 0, -10, 40))
    grid = Grid.from_bounds(-10, 0, 40, 40, 10, UTM)  # one column west of the file
    for g in (grid, Grid.from_bounds(-10, 0, 40, 40, 5, UTM)):  # copied, and refined (nearest, warped)
        cat = read_raster(p, g, kind="categorical")
        assert cat.dtype == np.dtype(wider) and cat.attrs["nodata"] == np.iinfo(wider).min
        f = round(10 / g.res[0])
        v = cat.values
        assert (v[:, :f] == np.iinfo(wider).min).all()
        assert np.array_equal(v[::f, f::f], vals.astype(wider))


def test_64_bit_class_raster_without_nodata_asks_for_one(tmp_path):
    p = _write(tmp_path / "c64.tif", np.zeros((4, 4), "int64"), Affine(10, 0, 0, 0, -10, 40))
    with pytest.raises(InputError, match="no free value") as e:
        read_raster(p, Grid.from_bounds(0, 0, 40, 40, 10, UTM), kind="categorical")
    assert "c64.tif" in str(e.value) and "nodata" in e.value.fix


def test_declared_fill_value_is_the_marker_and_the_type_stays(tmp_path):
    vals = np.array([[0, 7, 65535, 3]], "uint16")
    p = _write(tmp_path / "qa.tif", vals, Affine(10, 0, 0, 0, -10, 10))
    cat = read_raster(p, Grid.from_bounds(0, 0, 50, 10, 10, UTM), kind="categorical", fill_values=[65535])
    assert cat.dtype == np.uint16 and cat.attrs["nodata"] == 65535
    assert cat.values.tolist() == [[0, 7, 65535, 3, 65535]]


def test_written_class_maps_and_zones_round_trip(tmp_path):
    grid = Grid.from_bounds(100.0, 40.0, 100.04, 40.02, 0.005, "EPSG:4326")  # 4 x 8
    cls = np.array([[0, 1, 255, 0, 1, 1, 0, 255]] * 4, "uint8")
    zones = np.array([[0, 1, 1, 2, 2, 0, 3, 3]] * 4, "int32")
    cp = write_raster(tmp_path / "class.tif", as_dataarray(cls, grid), dtype="uint8", nodata=255)
    zp = write_raster(tmp_path / "zones.tif", as_dataarray(zones, grid), dtype="int32", nodata=0)
    c = read_raster(cp, grid, kind="categorical")
    assert c.dtype == np.uint8 and c.attrs["nodata"] == 255 and np.array_equal(c.values, cls)
    f = read_raster(cp, grid).values
    assert np.array_equal(np.isnan(f), cls == 255) and np.array_equal(f[cls != 255], cls[cls != 255])
    z = read_raster(zp, grid, kind="categorical")
    assert z.dtype == np.int32 and z.attrs["nodata"] == 0 and np.array_equal(z.values, zones)
    # written again from what was read, then read: the same pixels and the same nodata tag
    again = write_raster(tmp_path / "class2.tif", c, dtype="uint8", nodata=c.attrs["nodata"])
    with rasterio.open(again) as src:
        assert src.nodata == 255 and np.array_equal(src.read(1), cls)
    # warped onto a finer grid (nearest): every fine pixel takes its coarse pixel's value, 255 included
    fine = Grid.from_bounds(100.0, 40.0, 100.04, 40.02, 0.0025, "EPSG:4326")
    assert np.array_equal(read_raster(cp, fine, kind="categorical").values, np.repeat(np.repeat(cls, 2, 0), 2, 1))


def test_nodata_override_replaces_the_file_tag(tmp_path):
    # a mask wrongly tagged 0: the config's nodata = 255 makes 0 (land) data again
    vals = np.array([[0, 1, 0, 0]], "uint8")
    p = _write(tmp_path / "w.tif", vals, Affine(10, 0, 0, 0, -10, 10), nodata=0)
    grid = Grid.from_bounds(0, 0, 40, 10, 10, UTM)
    assert read_raster(p, grid, kind="categorical").values.tolist() == [[0, 1, 0, 0]]  # 0 is the marker here
    assert np.isnan(read_raster(p, grid).values[0, [0, 2, 3]]).all()
    over = read_raster(p, grid, kind="categorical", nodata=255)
    assert over.attrs["nodata"] == 255 and over.values.tolist() == [[0, 1, 0, 0]]
    assert read_raster(p, grid, nodata=255).values.tolist() == [[0.0, 1.0, 0.0, 0.0]]


def test_mask_band_is_honoured_on_every_path(tmp_path):
    vals = np.array([[5, 0, 7, 0], [1, 1, 1, 1]], "uint8")
    mask = np.array([[255, 255, 0, 0], [255, 255, 255, 255]], "uint8")
    p = tmp_path / "masked.tif"
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True):
        with rasterio.open(p, "w", driver="GTiff", height=2, width=4, count=1, dtype="uint8", crs=UTM,
                           transform=Affine(10, 0, 0, 0, -10, 20)) as dst:
            dst.write(vals, 1)
            dst.write_mask(mask)
    with rasterio.open(p) as src:
        assert src.nodata is None and np.array_equal(src.read_masks(1), mask)
    grid = Grid.from_bounds(0, 0, 40, 20, 10, UTM)
    cont = read_raster(p, grid).values
    assert np.array_equal(np.isnan(cont), mask == 0) and cont[0, 1] == 0.0
    cat = read_raster(p, grid, kind="categorical")
    assert np.array_equal(cat.values == cat.attrs["nodata"], mask == 0) and cat.values[0, 1] == 0
    frac = read_raster(p, grid, kind="fraction", classes=[7]).values
    assert np.isnan(frac[0, 2]) and frac[0, 0] == 0.0
    warped = read_raster(p, Grid.from_bounds(0, 0, 40, 20, 5, UTM)).values  # refined: bilinear through GDAL
    out = tmp_path / "gdal_bilinear.tif"
    subprocess.run(["gdalwarp", "-q", "-r", "bilinear", "-tr", "5", "5", "-te", "0", "0", "40", "20", "-dstnodata", "nan",
                    "-ot", "Float32", str(p), str(out)], check=True)
    with rasterio.open(out) as src:
        truth = src.read(1)
    assert np.isnan(warped[0:2, 4:8]).all() and np.nanmax(warped) <= 5  # the masked 7 never leaks
    np.testing.assert_allclose(warped, truth, rtol=1e-6)


def test_decoding_helpers():
    assert as_stored(-3.4e38, "float32") == np.float32(-3.4e38)
    assert as_stored(255.0, "uint8") == 255 and as_stored(-9999, "uint8") is None and as_stored(0.5, "int16") is None
    assert as_stored(float("nan"), "float32") is None
    assert Decoding(nodata=-9999).missing(np.array([0, 255], "uint8")).tolist() == [False, False]
    assert class_marker("uint8", Decoding()) == (np.dtype("int16"), -32768)
    assert class_marker("uint8", Decoding(nodata=255)) == (np.dtype("uint8"), 255)
    assert class_marker("uint8", Decoding(nodata=-9999)) == (np.dtype("int16"), -32768)  # cannot occur in uint8
    assert class_marker("uint16", Decoding(fill_values=(65535,))) == (np.dtype("uint16"), 65535)
    dt, m = class_marker("float32", Decoding())
    assert dt == np.float32 and np.isnan(m)
    assert class_marker("int64", Decoding()) is None


@pytest.mark.parametrize("keep", [0.5, 0.02])
def test_truncated_geotiff_is_one_input_error(tmp_path, keep):
    grid = Grid.from_bounds(100.0, 40.0, 102.0, 41.0, 0.002, "EPSG:4326")  # 500 x 1000: several blocks
    vals = np.random.default_rng(3).normal(1000, 200, grid.shape).astype("float32")
    p = write_raster(tmp_path / "dem.tif", as_dataarray(vals, grid), cog=False)
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(int(size * keep))
    with pytest.raises(InputError) as e:
        read_raster(p, grid).values
    assert e.value.where == str(p) and "truncated" in e.value.fix
