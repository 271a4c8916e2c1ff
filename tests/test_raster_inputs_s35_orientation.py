"""Rasters stored south-up (positive y pixel size) or east-left (negative x pixel size) are read as the same pixels
north-up, everywhere: read_raster (every kind), the valid-share guards and the grid checks of `irrmap run` and the
CLI. Truth: the north-up array itself (on its own lattice), and GDAL's warper reading the flipped file directly
(rasterio.warp.reproject of the file's band, which is what gdalwarp runs)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.warp import reproject

from irrmap.app.cli.input_options import check_on_grid as cli_check_on_grid
from irrmap.app.stages.common import check_raster_on_grid
from irrmap.core.grid import Grid
from irrmap.core.nodata import decoding_for
from irrmap.core.raster_read import read_raster, read_raster_bands
from irrmap.core.valid_share import (
    band_shares,
    check_aligned,
    coverage,
    extent_text,
    no_overlap,
    source_valid_share,
)

H, W, RES = 40, 60, 30.0
X0, Y0 = 500000.0, 4000000.0
CRS = "EPSG:32633"
ORIENTATIONS = {"south": (True, False), "east": (False, True), "both": (True, True)}


def _flipped_transform(t: Affine, h: int, w: int, fy: bool, fx: bool) -> Affine:
    if fy:
        t = Affine(t.a, 0, t.c, 0, -t.e, t.f + t.e * h)
    if fx:
        t = Affine(-t.a, 0, t.c + t.a * w, 0, t.e, t.f)
    return t


def _write(path, data, transform, crs=CRS, nodata=-9999.0):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[-2], width=data.shape[-1], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """north.tif and its copies stored south-up, east-left and both (same pixels on the ground)."""
    d = tmp_path_factory.mktemp("orient")
    rng = np.random.default_rng(0)
    data = np.floor(rng.random((2, H, W)) * 100).astype(np.float32)  # whole numbers: also a class map (fraction reads)
    data[:, :5, :7] = -9999.0  # missing in the north-west corner
    t = Affine(RES, 0, X0, 0, -RES, Y0)
    out = {"north": _write(d / "north.tif", data, t)}
    for name, (fy, fx) in ORIENTATIONS.items():
        arr = data[:, ::-1] if fy else data
        arr = arr[:, :, ::-1] if fx else arr
        out[name] = _write(d / f"{name}.tif", np.ascontiguousarray(arr), _flipped_transform(t, H, W, fy, fx))
    return out, data


def _gdal(path, grid: Grid, resampling: str) -> np.ndarray:
    """GDAL's warper reading the file itself onto `grid` (NaN where missing)."""
    out = np.full(grid.shape, np.nan, np.float32)
    with rasterio.open(path) as src:
        reproject(rasterio.band(src, 1), out, dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=np.nan,
                  resampling=Resampling[resampling])
    return out


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_same_lattice_reads_the_north_up_pixels(files, name):
    paths, data = files
    g = Grid.from_bounds(X0, Y0 - H * RES, X0 + W * RES, Y0, RES, CRS)
    got = read_raster(paths[name], g, band=1, chunks=16).values
    want = np.where(data[0] == -9999.0, np.nan, data[0])
    np.testing.assert_array_equal(got, want)
    stack = read_raster_bands(paths[name], g, [1, 2], chunks=16).values
    np.testing.assert_array_equal(stack, np.where(data == -9999.0, np.nan, data))


@pytest.mark.parametrize("name", list(ORIENTATIONS))
@pytest.mark.parametrize("grid,resampling", [
    # a third of a pixel off (at exactly half a pixel GDAL's own bilinear keeps or drops a pixel next to nodata
    # depending on the storage order: its north-up and south-up results differ there)
    (Grid.from_bounds(X0 + 40, Y0 - H * RES + 40, X0 + W * RES - 40, Y0 - 40, RES, CRS), "bilinear"),
    (Grid.from_bounds(X0, Y0 - H * RES, X0 + W * RES, Y0, 90.0, CRS), "average"),  # 3 x 3 coarser
])
def test_resampled_read_matches_gdal_on_the_flipped_file(files, name, grid, resampling):
    paths, _ = files
    got = read_raster(paths[name], grid, band=1, chunks=1024)
    assert got.attrs["resampling"] == resampling
    want = _gdal(paths[name], grid, resampling)
    np.testing.assert_array_equal(np.isnan(got.values), np.isnan(want))
    np.testing.assert_allclose(got.values, want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_every_kind_and_a_geographic_grid_read_as_the_north_up_file(files, name):
    paths, _ = files
    geo = Grid.from_bounds(15.0, 36.125, 15.019, 36.134, 0.0003, "EPSG:4326")
    np.testing.assert_array_equal(read_raster(paths[name], geo, band=1, chunks=16).values, read_raster(paths["north"], geo, band=1, chunks=16).values)
    coarse = Grid.from_bounds(X0, Y0 - H * RES, X0 + W * RES, Y0, 90.0, CRS)
    for kw in ({"kind": "categorical"}, {"kind": "fraction", "classes": list(range(50))}):
        np.testing.assert_array_equal(read_raster(paths[name], coarse, band=1, chunks=8, **kw).values,
                                      read_raster(paths["north"], coarse, band=1, chunks=8, **kw).values)


@pytest.mark.parametrize("name", list(ORIENTATIONS))
def test_guards_place_a_flipped_file_where_it_lies(files, name, tmp_path):
    paths, _ = files
    g = Grid.from_bounds(X0, Y0 - H * RES, X0 + W * RES, Y0, RES, CRS)
    with rasterio.open(paths[name]) as src:
        assert not no_overlap(src, g)
        assert coverage(src, g) == 1.0
        assert extent_text(src) == extent_text(g)  # ordered: left < right, bottom < top
        valid = 1.0 - (5 * 7) / (H * W)  # hand count: the 5 x 7 missing corner
        assert source_valid_share(src, g, 1, decoding_for(src, 1)) == pytest.approx(valid)
    assert band_shares(paths[name]) == pytest.approx((valid, valid))
    check_raster_on_grid(paths[name], g, "[inputs.x].path")  # raised "do not overlap the grid" before
    aligned = tmp_path / "aligned.tif"
    _write(aligned, read_raster(paths[name], g, band=1).values[None].astype(np.float32), g.transform, nodata=np.nan)
    assert check_aligned(aligned, paths[name], g, key="[inputs.x]") == pytest.approx(valid)
    # a CLI reference grid: the flipped file has the north-up grid it is read on
    assert cli_check_on_grid(paths[name], g, "predictor x", align=False).aligned_with(g)


def test_band_shares_weigh_the_rows_of_a_south_up_geographic_file(tmp_path):
    """Row areas grow toward the equator: a south-up file measured without reorienting weighs the wrong rows."""
    h, w, res = 30, 4, 1.0
    data = np.ones((1, h, w), np.float32)
    data[0, :10] = np.nan  # the northernmost 10 rows (60..50 N) are missing
    t = Affine(res, 0, 0.0, 0, -res, 60.0)
    north = _write(tmp_path / "n.tif", data, t, crs="EPSG:4326", nodata=np.nan)
    south = _write(tmp_path / "s.tif", np.ascontiguousarray(data[:, ::-1]), _flipped_transform(t, h, w, True, False),
                   crs="EPSG:4326", nodata=np.nan)
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    lon = np.linspace(0.0, 1.0, 201)  # edges densified along the parallels (a 4-point polygon has geodesic edges)

    def band(lat):
        return abs(geod.polygon_area_perimeter(np.r_[lon, lon[::-1]], np.r_[np.full(201, lat - 1.0), np.full(201, float(lat))])[0])

    rows = [band(lat) for lat in range(60, 30, -1)]
    want = sum(rows[10:]) / sum(rows)
    assert band_shares(north)[0] == pytest.approx(want, rel=1e-7)
    assert band_shares(south)[0] == pytest.approx(want, rel=1e-7)
