"""Rasters irrmap cannot place on a grid are refused with one message naming the file and the fix (exit 2): a CRS
without a datum (an engineering LOCAL_CS), georeferencing by ground control points only, a container of
subdatasets (netCDF) whose exact subdataset names must be given."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from rasterio.control import GroundControlPoint
from rasterio.crs import CRS

from irrmap.app.cli import main
from irrmap.app.cli.input_options import check_on_grid as cli_check_on_grid
from irrmap.app.stages.common import check_raster_on_grid
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

H, W = 8, 12
T = Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0)
GRID = Grid.from_bounds(500000.0, 4000000.0 - H * 30, 500000.0 + W * 30, 4000000.0, 30.0, "EPSG:32633")
LOCAL = 'LOCAL_CS["site grid",LOCAL_DATUM["site",0],UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]'


def _percent(path, **kw):
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype="uint8", nodata=255, **kw) as dst:
        dst.write(np.full((1, H, W), 40, np.uint8))
    return path


def test_a_crs_without_datum_exits_2_naming_the_file(tmp_path, capsys):
    path = _percent(tmp_path / "site.tif", crs=CRS.from_wkt(LOCAL), transform=T)
    for call in (lambda: read_raster(path, GRID), lambda: check_raster_on_grid(path, GRID, "[inputs.dem].path"),
                 lambda: cli_check_on_grid(path, GRID, "predictor x", align=True)):
        with pytest.raises(InputError, match="site.tif.*has no datum.*gdal_edit.py -a_srs"):
            call()
    assert main(["-q", "mapping", "aggregate", str(path), "--out", str(tmp_path / "a.tif")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "site.tif" in err and "no datum" in err and "Traceback" not in err


def test_gcps_only_says_to_warp_with_gdalwarp(tmp_path):
    path = _percent(tmp_path / "gcps.tif")
    gcps = [GroundControlPoint(0, 0, 500000, 4000000), GroundControlPoint(0, W, 500360, 4000000),
            GroundControlPoint(H, 0, 500000, 3999760), GroundControlPoint(H, W, 500360, 3999760)]
    with rasterio.open(path, "r+") as dst:
        dst.gcps = (gcps, CRS.from_epsg(32633))
    for call in (lambda: read_raster(path, GRID), lambda: check_raster_on_grid(path, GRID, "[inputs.dem].path"),
                 lambda: cli_check_on_grid(path, GRID, "predictor x", align=True)):
        with pytest.raises(InputError, match=r"gcps.tif.*4 ground control points.*gdalwarp -t_srs EPSG:32633"):
            call()


def test_a_container_gives_the_exact_subdataset_names(tmp_path):
    path = tmp_path / "two.nc"
    xr.Dataset({v: (("y", "x"), np.zeros((H, W), np.float32)) for v in ("ndvi", "evi")}).to_netcdf(path)
    with rasterio.open(path) as src:  # GDAL's own names (gdalinfo's SUBDATASET_n_NAME)
        names = [v for k, v in src.tags(ns="SUBDATASETS").items() if k.endswith("_NAME")]
    assert names == [f'NETCDF:"{path}":ndvi', f'NETCDF:"{path}":evi']
    for call in (lambda: read_raster(path, GRID), lambda: check_raster_on_grid(path, GRID, "[inputs.ndvi].path")):
        with pytest.raises(InputError) as err:
            call()
        msg = str(err.value)
        assert all(n in msg for n in names) and "gdal_translate" in msg and "2 subdatasets" in msg
