"""A raster whose geotransform differs from the reference grid's only by float noise (an origin 1e-8 m off on a
250 m grid: 4e-11 of a pixel) is on that grid (Grid.aligned_with: pixel edges within 1e-6 of a pixel), and it is
read as the file's own pixels, exactly; a real difference is refused with one line naming the property that
differs, both values, the difference in pixels, short CRS names (never WKT) and the fix (--align).

Truth: rasters built by hand with rasterio and read back with rasterio directly; offsets in pixels computed by hand
from the values written."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from irrmap.app.cli import main
from irrmap.app.cli.input_options import check_on_grid
from irrmap.core.errors import GridError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

RES = 250.0
X0, Y0 = 500000.0, 4300000.0
UTM = "EPSG:32650"
SINU = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"


def _write(path, data, transform, crs=UTM, nodata=None):
    h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype=data.dtype, crs=crs,
                       transform=transform, nodata=nodata) as d:
        d.write(data, 1)
    return str(path)


def _values(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.0, shape).astype(np.float32)


def _file_pixels(path):
    with rasterio.open(path) as src:
        return src.read(1)


def _ref(tmp_path, shape=(8, 8), crs=UTM, x0=X0, y0=Y0, res=RES):
    path = _write(tmp_path / "ref.tif", np.ones(shape, np.uint8), Affine(res, 0, x0, 0, -res, y0), crs=crs)
    return path, Grid.from_raster(path)


@pytest.mark.parametrize("transform", [
    Affine(RES, 0, X0 + 1e-8, 0, -RES, Y0),  # the probe's cropC.tif: origin x 500000.00000001
    Affine(RES, 0, X0 - 1e-8, 0, -RES, Y0),  # below: int() of the offset would give column -1
    Affine(RES, 0, X0, 0, -RES, Y0 - 1e-8),  # origin y
    Affine(RES, 0, X0 - 3e-9, 0, -RES, Y0 + 7e-9),
    Affine(RES * (1 + 1e-13), 0, X0, 0, -RES * (1 - 1e-13), Y0),  # pixel size written with fewer digits
    Affine(RES * (1 + 1e-7), 0, X0, 0, -RES, Y0),  # last edge 8e-7 pixel off across 8 columns: within 1e-6
])
def test_float_noise_is_the_same_grid_and_reads_the_files_pixels(tmp_path, transform):
    _, grid = _ref(tmp_path, shape=(8, 8))
    values = _values((8, 8))
    path = _write(tmp_path / "noisy.tif", values, transform)
    g = check_on_grid(path, grid, "cropland", align=False, reference="class map")  # old code: GridError
    assert g.aligned_with(grid) and grid.aligned_with(g)
    for chunks in (1024, 3):  # one block, and 3 x 3 blocks (sub-grids of the reference read one by one)
        da = read_raster(path, grid, chunks=chunks)
        assert da.attrs["resampling"] == "none"  # a windowed copy, not a warp
        np.testing.assert_array_equal(da.values, _file_pixels(path))  # the file's pixels, bit for bit
        np.testing.assert_array_equal(da.values, values)


def test_cli_aggregate_accepts_noise_and_gives_the_exact_grids_result(tmp_path):
    classes = np.ones((8, 8), np.uint8)
    cls = _write(tmp_path / "class.tif", classes, Affine(RES, 0, X0, 0, -RES, Y0), nodata=255)
    crop = _values((8, 8), seed=3)
    exact = _write(tmp_path / "crop_exact.tif", crop, Affine(RES, 0, X0, 0, -RES, Y0))
    noisy = _write(tmp_path / "crop_noisy.tif", crop, Affine(RES, 0, X0 + 1e-8, 0, -RES, Y0))
    assert main(["mapping", "aggregate", cls, "--cropland", noisy, "--out", str(tmp_path / "noisy_area.tif")]) == 0  # old: exit 2
    assert main(["mapping", "aggregate", cls, "--cropland", exact, "--out", str(tmp_path / "exact_area.tif")]) == 0
    np.testing.assert_array_equal(_file_pixels(tmp_path / "noisy_area.tif"), _file_pixels(tmp_path / "exact_area.tif"))


def _refusal(tmp_path, transform, shape=(8, 8), crs=UTM, ref_kwargs=None):
    ref_path, grid = _ref(tmp_path, **(ref_kwargs or {}))
    path = _write(tmp_path / "other.tif", _values(shape), transform, crs=crs)
    with pytest.raises(GridError) as err:
        check_on_grid(path, grid, "cropland", align=False, reference="class map", reference_path=ref_path)
    msg = str(err.value)
    assert "\n" not in msg and "other.tif" in msg and "ref.tif" in msg and "--align" in msg
    assert "PROJCRS" not in msg and "DATUM" not in msg and "GEOGCRS" not in msg  # never the WKT
    return msg


def test_half_pixel_shift_names_origin_x_both_values_and_pixels(tmp_path):
    msg = _refusal(tmp_path, Affine(RES, 0, X0 + 125.0, 0, -RES, Y0))
    assert "origin x 500125.0 vs 500000.0 (+0.5 pixel)" in msg  # 125 m / 250 m, by hand
    assert "origin y" not in msg and "pixel width" not in msg and "size" not in msg.split("(fix")[0]


def test_origin_y_shift_is_named_with_its_sign(tmp_path):
    msg = _refusal(tmp_path, Affine(RES, 0, X0, 0, -RES, Y0 - 25.0))
    assert "origin y 4299975.0 vs 4300000.0 (-0.1 pixel)" in msg  # 25 m south = -0.1 pixel
    assert "origin x" not in msg


def test_pixel_width_difference_is_named_with_the_drift_across_the_grid(tmp_path):
    msg = _refusal(tmp_path, Affine(250.025, 0, X0, 0, -RES, Y0))
    # 0.025 / 250 = 1e-4 of a pixel; 8 columns -> the edge after them 8e-4 pixel off
    assert "pixel width 250.025 vs 250.0 (+0.0001 of a pixel; the edge after 8 columns is +0.0008 pixel off)" in msg
    assert "origin" not in msg


def test_size_difference_is_named(tmp_path):
    msg = _refusal(tmp_path, Affine(RES, 0, X0, 0, -RES, Y0), shape=(8, 9))
    assert "size 8 x 9 vs 8 x 8 pixels (rows x columns)" in msg


def test_crs_difference_is_named_with_epsg_codes(tmp_path):
    msg = _refusal(tmp_path, Affine(RES, 0, X0, 0, -RES, Y0), crs="EPSG:32651")
    assert "CRS EPSG:32651 vs EPSG:32650" in msg


def test_sinusoidal_grids_give_a_short_message(tmp_path):
    # MODIS sinusoidal has no EPSG code: the old message printed its full WKT twice (~1,150 characters)
    x0, y0, res = 10007554.677, 4447802.079, 463.312716528
    msg = _refusal(tmp_path, Affine(res, 0, x0 + res / 4, 0, -res, y0), crs=SINU,
                   ref_kwargs={"crs": SINU, "x0": x0, "y0": y0, "res": res})
    assert "origin x" in msg and "(+0.25 pixel)" in msg
    a = Grid(SINU, Affine(463.312716528, 0, 0.0, 0, -463.312716528, 0.0), 8, 8)
    b = Grid(SINU.replace("+lon_0=0", "+lon_0=10"), a.transform, 8, 8)
    assert b.mismatch(a) == ["CRS +proj=sinu +lon_0=10 +x_0=0 +y_0=0 +R=6371007.181 +units=m vs "
                             "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m"]  # PROJ strings, no WKT
    assert len(msg) - 2 * len(str(tmp_path)) < 250, msg  # the old message: ~1,150 characters besides the paths


def test_tolerance_is_a_fraction_of_the_pixel_not_map_units():
    deg = Grid("EPSG:4326", Affine(0.00225, 0, 104.0, 0, -0.00225, 39.0), 100, 100)
    noise = Grid("EPSG:4326", Affine(0.00225, 0, 104.0 + 1e-13, 0, -0.00225, 39.0), 100, 100)  # 4e-11 pixel
    shifted = Grid("EPSG:4326", Affine(0.00225, 0, 104.0 + 0.00225 * 1e-5, 0, -0.00225, 39.0), 100, 100)  # 1e-5 pixel
    assert noise.aligned_with(deg)
    assert not shifted.aligned_with(deg)  # 2.25e-8 degree: below rasterio's absolute 1e-5, but 2.5 mm on the ground
    assert shifted.mismatch(deg) == [f"origin x {104.0 + 0.00225 * 1e-5!r} vs 104.0 (+1e-05 pixel)"]


def test_pixel_size_drift_over_a_wide_grid_is_refused():
    # control: relative 1e-9 is float noise for one pixel but moves the last edge of a 10,000-column grid 1e-5 pixel
    a = Grid(UTM, Affine(RES, 0, X0, 0, -RES, Y0), 10, 10000)
    b = Grid(UTM, Affine(RES * (1 + 1e-9), 0, X0, 0, -RES, Y0), 10, 10000)
    assert not b.aligned_with(a) and not a.aligned_with(b)
    assert any(m.startswith("pixel width") and "the edge after 10000 columns is +1e-05 pixel off" in m for m in b.mismatch(a))


def test_dataarrays_with_noisy_coordinates_are_refused_with_the_relabelling_fix():
    """xarray matches pixels by exact coordinate labels: p / e of two arrays whose x differ by 1e-8 is empty. The
    grids are the same, so the refusal says the labels differ and how to copy them; after that the result is p / e."""
    from irrmap.suitability.aridity import aridity_index

    def arr(x0, values):
        t = Affine(RES, 0, x0, 0, -RES, Y0)
        g = Grid(UTM, t, 4, 5)
        return xr.DataArray(values, dims=("y", "x"), coords=g.coords()).rio.write_crs(UTM).rio.write_transform(t)

    p_vals = np.full((4, 5), 800.0, np.float32)
    e_vals = np.linspace(900.0, 1900.0, 20, dtype=np.float32).reshape(4, 5)
    p, e = arr(X0, p_vals), arr(X0 + 1e-8, e_vals)
    assert xr.align(p, e, join="inner")[0].sizes["x"] == 0  # the failure the refusal prevents
    with pytest.raises(GridError) as err:
        aridity_index(p, e, check=False)
    msg = str(err.value)
    assert "x coordinates differ" in msg and "assign_coords" in msg and "\n" not in msg
    ai = aridity_index(p, e.assign_coords(x=p.x, y=p.y), check=False)
    np.testing.assert_allclose(ai.values, p_vals / e_vals, rtol=1e-6)


def _class_and_shifted_cropland(tmp_path):
    """A 0/1 class map on the reference grid and a cropland fraction on a grid half a pixel east, both as read."""
    from irrmap.core.raster_read import read_raster as rr

    cls = _write(tmp_path / "class.tif", np.array([[0, 1] * 4] * 8, np.uint8), Affine(RES, 0, X0, 0, -RES, Y0), nodata=255)
    crop = _write(tmp_path / "crop.tif", _values((8, 8)), Affine(RES, 0, X0 + RES / 2, 0, -RES, Y0))
    return rr(cls, Grid.from_raster(cls), kind="categorical"), rr(crop, Grid.from_raster(crop))


@pytest.mark.parametrize("call", ["filter", "aggregate", "predict"])
def test_library_grid_refusals_name_what_differs(tmp_path, call):
    """The library's own grid checks (not only the CLI's check_on_grid) say which property differs and by how much
    (Grid.mismatch_text), never two Grid reprs with full CRS definitions."""
    from irrmap.core.errors import IrrmapError
    from irrmap.mapping.aggregate import irrigated_share_map
    from irrmap.mapping.filter import filter_map
    from irrmap.mapping.predict import _check_inputs

    classes, cropland = _class_and_shifted_cropland(tmp_path)
    with pytest.raises(IrrmapError) as e:
        if call == "filter":
            filter_map(classes, cropland)
        elif call == "aggregate":
            irrigated_share_map(classes, cropland)
        else:
            _check_inputs(Grid.from_dataarray(classes), classes, {"p": cropland}, None, ["p"])
    msg = str(e.value)
    assert f"origin x {X0 + RES / 2!r} vs {X0!r} (+0.5 pixel)" in msg, msg
    assert "Grid(" not in msg and "PROJCS" not in msg and "PROJCRS" not in msg
