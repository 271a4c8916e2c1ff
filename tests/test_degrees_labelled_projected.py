"""A raster whose geotransform is in degrees but whose CRS is projected (a common gdal_edit / export slip) is
refused wherever a raster is read (irrmap.core.georef.check_not_degrees_as_projected), as [grid] bounds in degrees
on a projected CRS already were: 0.00225-degree pixels read as metres are 2 mm wide, and `mapping aggregate` gave
0.0016 m2 for a map of ~1.6e7 m2, `grid info` 0.003 m2, both exit 0 (user probe /tmp/probeA, fault 1).
Truth for the control: the same pixels labelled EPSG:4326, summed with pyproj.Geod pixel polygons."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
from pyproj import Geod
from rasterio.transform import Affine

import irrmap
from irrmap.app.cli import main
from irrmap.core.array_input import ArgumentValueError
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

DEG = Affine(0.00225, 0, 104.0, 0, -0.00225, 39.0)  # 250 m pixels in degrees, north China


def _write(path, crs, transform=DEG, value=50, shape=(20, 32)):
    with rasterio.open(path, "w", driver="GTiff", height=shape[0], width=shape[1], count=1, dtype="uint8", crs=crs,
                       transform=transform, nodata=255) as dst:
        dst.write(np.full(shape, value, "uint8"), 1)
    return path


@pytest.mark.parametrize("crs", ["EPSG:3857", "EPSG:32648", "ESRI:102025"])
def test_degree_grid_with_projected_crs_refused_by_the_readers(tmp_path, crs):
    path = _write(tmp_path / "mis.tif", crs)
    for read in (Grid.from_raster, lambda p: read_raster(p, Grid.from_raster(tmp_path / "ok.tif"))):
        _write(tmp_path / "ok.tif", "EPSG:4326")
        with pytest.raises(InputError, match=r"look like degrees of longitude and latitude, but its CRS .* is projected") as err:
            read(path)
        assert "gdal_edit.py -a_srs EPSG:4326" in err.value.fix and str(path) in str(err.value)


def test_cli_commands_exit_2_naming_the_file_and_fix(tmp_path, capsys):
    path = _write(tmp_path / "mis.tif", "EPSG:3857")
    assert main(["grid", "info", str(path)]) == 2
    assert main(["mapping", "aggregate", str(path), "--out", str(tmp_path / "agg.tif")]) == 2
    err = capsys.readouterr().err
    assert err.count("gdal_edit.py -a_srs EPSG:4326") == 2 and "mis.tif" in err
    assert not (tmp_path / "agg.tif").exists()


def test_the_same_pixels_in_degrees_give_the_geodesic_area(tmp_path):  # control: the fix the error gives
    path = _write(tmp_path / "deg.tif", "EPSG:4326")
    assert main(["-q", "mapping", "aggregate", str(path), "--out", str(tmp_path / "agg.tif"), "--factor", "4"]) == 0
    with rasterio.open(tmp_path / "agg.tif") as src:
        got = float(src.read(1, masked=True).sum(dtype=np.float64))
    geod = Geod(ellps="WGS84")
    want = 0.0
    for r in range(20):
        top = 39.0 - 0.00225 * r
        a, _ = geod.polygon_area_perimeter([104.0, 104.00225, 104.00225, 104.0], [top, top, top - 0.00225, top - 0.00225])
        want += abs(a) * 32 * 0.5  # 32 pixels a row, 50 % each
    assert got == pytest.approx(want, rel=1e-6)


def test_api_array_in_degrees_with_projected_crs_refused():
    y = 39.0 - 0.00225 * (np.arange(20) + 0.5)
    x = 104.0 + 0.00225 * (np.arange(32) + 0.5)
    dem = xr.DataArray(np.zeros((20, 32), "float32"), dims=("y", "x"), coords={"y": y, "x": x}).rio.write_crs("EPSG:3857")
    with pytest.raises(ArgumentValueError, match=r"slope\(dem\).*look like degrees"):
        irrmap.slope(dem)
    assert irrmap.slope(dem.rio.write_crs("EPSG:4326")).shape == (20, 32)  # control: the CRS the values are in


def test_small_genuine_projected_grids_pass(tmp_path):  # controls: metre grids near and far from the origin
    for t in (Affine(250, 0, 0, 0, -250, 5000), Affine(0.5, 0, -100, 0, -0.5, 80), Affine(30, 0, 500000, 0, -30, 4300000)):
        path = _write(tmp_path / "m.tif", "EPSG:32648", transform=t)
        assert Grid.from_raster(path).shape == (20, 32)
