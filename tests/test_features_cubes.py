"""NetCDF / Zarr cubes: placed on the grid by their own coordinates and decoded by their CF attributes.

Truth: the cubes are written here with xarray, and each expected pixel is looked up by its coordinates
(the grid pixel centre's longitude/latitude) in the written arrays, or decoded by hand from the CF rules.
"""

from __future__ import annotations


import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.training.cube import read_cube
from irrmap.training.timeseries import read_timeseries

RES = 0.05
GRID = Grid("EPSG:4326", Affine(RES, 0, 100.0, 0, -RES, 40.0), 6, 8)  # 100.0-100.4 E, 39.7-40.0 N
TIMES = np.array(["2010-01-01", "2010-01-17", "2010-02-02"], "datetime64[ns]")


def _cube(path, values, lat, lon, attrs=None, engine=None, dims=("time", "lat", "lon"), coord_attrs=True):
    lat_attrs = {"units": "degrees_north", "standard_name": "latitude"} if coord_attrs else {}
    lon_attrs = {"units": "degrees_east", "standard_name": "longitude"} if coord_attrs else {}
    ds = xr.Dataset({"ndvi": (dims, values, attrs or {})},
                    coords={"time": TIMES[: values.shape[0]], dims[1]: (dims[1], lat, lat_attrs), dims[2]: (dims[2], lon, lon_attrs)})
    if str(path).endswith(".zarr"):
        ds.to_zarr(path, mode="w", consolidated=False)
    else:
        ds.to_netcdf(path, engine=engine)
    return path


def _field(nlat, nlon, seed=0):
    """Distinct NDVI-like values (0 .. 0.143) per (time, lat, lon): every misplacement shows."""
    return (np.random.default_rng(seed).permutation(3 * nlat * nlon).reshape(3, nlat, nlon) / 1000).astype(np.float32)


def _by_coordinates(values, lat, lon, grid):
    """The cube value under each grid pixel centre, found by coordinate lookup (NaN where the cube has none)."""
    out = np.full((values.shape[0], *grid.shape), np.nan, np.float32)
    for r, y in enumerate(grid.y_coords()):
        for c, x in enumerate(grid.x_coords()):
            i, j = np.nonzero(np.isclose(lat, y, atol=RES / 100))[0], np.nonzero(np.isclose(lon, x, atol=RES / 100))[0]
            if i.size and j.size:
                out[:, r, c] = values[:, i[0], j[0]]
    return out


def test_latitude_ascending_is_not_read_upside_down(tmp_path):
    lat = GRID.y_coords()[::-1].copy()  # south to north, as many NetCDF writers store it
    lon = GRID.x_coords()
    vals = _field(lat.size, lon.size)
    path = _cube(tmp_path / "asc.nc", vals, lat, lon)
    got = read_cube(path, "ndvi", GRID).values
    want = _by_coordinates(vals, lat, lon, GRID)
    np.testing.assert_array_equal(got, want)
    assert got[0, 0, 0] == vals[0, -1, 0]  # the grid's top-left pixel is the cube's last (northernmost) row


def test_cube_grid_taken_from_ascending_coordinates(tmp_path):
    lat, lon = GRID.y_coords()[::-1].copy(), GRID.x_coords()
    vals = _field(lat.size, lon.size, seed=1)
    out = read_timeseries(_cube(tmp_path / "own.nc", vals, lat, lon), variable="ndvi")
    assert out.rio.crs.to_epsg() == 4326  # lon/lat axes without grid mapping: WGS 84
    assert out.rio.transform().almost_equals(GRID.transform, 1e-9)
    np.testing.assert_array_equal(out.values, _by_coordinates(vals, lat, lon, GRID))


def test_cube_two_pixels_east_lands_two_columns_east(tmp_path):
    lat, lon = GRID.y_coords(), GRID.x_coords() + 0.1  # 0.1 degree = 2 pixels east of the grid
    vals = _field(lat.size, lon.size, seed=2)
    got = read_cube(_cube(tmp_path / "east.nc", vals, lat, lon), "ndvi", GRID).values
    want = _by_coordinates(vals, lat, lon, GRID)
    assert np.isnan(want[:, :, :2]).all() and not np.isnan(want[:, :, 2:]).any()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got[:, :, 2:], vals[:, :, :-2])


def test_cube_off_the_grid_lattice_is_refused_naming_both_extents(tmp_path):
    lat, lon = GRID.y_coords(), GRID.x_coords() + 0.01  # a fifth of a pixel: no pixel of the cube is a grid pixel
    path = _cube(tmp_path / "off.nc", _field(lat.size, lon.size), lat, lon)
    with pytest.raises(InputError) as err:
        read_cube(path, "ndvi", GRID)
    msg = str(err.value)
    assert "100.01" in msg and "100.41" in msg  # the cube's west and east edges
    assert "(100, 39.7, 100.4, 40)" in msg  # the grid's bounds
    assert str(path) in msg


def test_cube_in_another_crs_or_elsewhere_is_refused(tmp_path):
    lat, lon = GRID.y_coords(), GRID.x_coords()
    far = _cube(tmp_path / "far.nc", _field(lat.size, lon.size), lat + 10, lon)
    with pytest.raises(InputError, match="does not overlap"):
        read_cube(far, "ndvi", GRID)
    utm = Grid("EPSG:32647", Affine(250, 0, 500000, 0, -250, 4400000), 6, 8)
    with pytest.raises(InputError, match="EPSG:32647.*EPSG:4326|EPSG:4326.*EPSG:32647"):
        read_cube(_cube(tmp_path / "geo.nc", _field(lat.size, lon.size), lat, lon), "ndvi", utm)


CF = {"scale_factor": 1e-4, "add_offset": 0.0, "_FillValue": np.int16(-3000), "missing_value": np.int16(-9999),
      "valid_min": np.int16(-2000), "valid_max": np.int16(10000)}


@pytest.mark.parametrize("where", ["nc3", "nc4", "zarr"])
def test_cf_fill_missing_value_and_valid_range_all_mask(tmp_path, where):
    lat, lon = GRID.y_coords(), GRID.x_coords()
    raw = np.full((2, lat.size, lon.size), 5000, np.int16)
    raw[0, 0, :6] = [-3000, -9999, 10001, -2001, -2000, 10000]
    raw[1, 0, :2] = [1234, -150]
    path = {"nc3": tmp_path / "cf.nc", "nc4": tmp_path / "cf4.nc", "zarr": tmp_path / "cf.zarr"}[where]
    attrs = dict(CF)
    encoding_attrs = attrs if where != "zarr" else {k: (v.item() if hasattr(v, "item") else v) for k, v in attrs.items()}
    _cube(path, raw, lat, lon, encoding_attrs, engine={"nc3": "scipy", "nc4": "netcdf4"}.get(where))
    got = read_cube(path, "ndvi", GRID).values
    # hand decoding: fill, missing_value and out-of-range raw values are missing; others x 1e-4
    assert np.isnan(got[0, 0, :4]).all()
    np.testing.assert_allclose(got[0, 0, 4:6], [-0.2, 1.0], rtol=1e-6)
    np.testing.assert_allclose(got[1, 0, :2], [0.1234, -0.015], rtol=1e-6)
    np.testing.assert_allclose(got[0, 1:], 0.5, rtol=1e-6)


def test_overrides_and_signed_preset_on_a_uint16_cube(tmp_path):
    lat, lon = GRID.y_coords(), GRID.x_coords()
    raw = np.full((1, lat.size, lon.size), 4000, np.uint16)
    raw[0, 0, :4] = [65366, 65531, 62536, 65535]  # int16 -170, the 65531 fill, -3000 (fill), -1
    got = read_timeseries(_cube(tmp_path / "u16.nc", raw, lat, lon), GRID, variable="ndvi", preset="mod13q1").values
    np.testing.assert_allclose(got[0, 0, [0, 3]], np.array([-170, -1]) * 1e-4, rtol=1e-6)
    assert np.isnan(got[0, 0, [1, 2]]).all()
    np.testing.assert_allclose(got[0, 1:], 0.4, rtol=1e-6)


def test_preset_on_an_already_scaled_cube_is_refused(tmp_path):
    lat, lon = GRID.y_coords(), GRID.x_coords()
    vals = np.full((2, lat.size, lon.size), 0.6, np.float32)
    path = _cube(tmp_path / "scaled.nc", vals, lat, lon)
    with pytest.raises(InputError, match="already look scaled") as exc:  # was a warning and 0.6e-4 decoded
        read_timeseries(path, GRID, variable="ndvi", preset="mod13q1")
    assert str(path) in str(exc.value) and "leave out --preset" in str(exc.value)


def test_projected_cube_with_grid_mapping(tmp_path):
    utm = Grid("EPSG:32650", Affine(250, 0, 400000, 0, -250, 4200000), 4, 5)
    vals = _field(4, 5, seed=3)
    da = xr.DataArray(vals[:, ::-1], dims=("time", "y", "x"),
                      coords={"time": TIMES, "y": utm.y_coords()[::-1], "x": utm.x_coords()}).rio.write_crs("EPSG:32650")
    da.to_dataset(name="ndvi").to_netcdf(tmp_path / "utm.nc")
    got = read_cube(tmp_path / "utm.nc", "ndvi", utm).values
    np.testing.assert_array_equal(got, vals)  # written south-up, read north-up


def test_cli_composite_of_an_ascending_cube(tmp_path):
    lat, lon = GRID.y_coords()[::-1].copy(), GRID.x_coords()
    vals = _field(lat.size, lon.size, seed=4)
    path = _cube(tmp_path / "c.nc", vals, lat, lon)
    out = tmp_path / "max.tif"
    assert main(["-q", "features", "composite", str(out), str(path), "--band", "ndvi"]) == 0
    with rasterio.open(out) as src:
        got = src.read(1)
        assert src.transform.almost_equals(GRID.transform, 1e-9)
    np.testing.assert_array_equal(got, _by_coordinates(vals, lat, lon, GRID).max(axis=0))
