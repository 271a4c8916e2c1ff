"""Final files are DEFLATE at irrmap.core.raster_write.DEFLATE_LEVEL (1): every tile of a tiled GeoTIFF and of a
COG irrmap writes has the compressed size GDAL's own gdal_translate gives the same pixels at that level, and not
the size it gives at GDAL's default level 6.

Truth: gdal_translate (GTiff ZLEVEL, COG LEVEL) and the tiles' sizes GDAL reports (TIFF metadata BLOCK_SIZE_x_y)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
import rasterio
import xarray as xr
from affine import Affine
from scipy.ndimage import gaussian_filter

from irrmap.core.raster_write import DEFLATE_LEVEL, write_raster


def _smooth(shape=(700, 900), seed=3):
    v = gaussian_filter(np.random.default_rng(seed).normal(size=shape), 4).astype("float32") * 1000
    a = xr.DataArray(v, dims=("y", "x"), coords={"y": 4_500_000 - 30 * (np.arange(shape[0]) + 0.5),
                                                 "x": 400_000 + 30 * (np.arange(shape[1]) + 0.5)})
    return a.rio.write_crs("EPSG:32650").rio.write_transform(Affine(30, 0, 400_000, 0, -30, 4_500_000))


def _tile_sizes(path) -> list[int]:
    with rasterio.open(path) as src:
        rows, cols = -(-src.height // src.block_shapes[0][0]), -(-src.width // src.block_shapes[0][1])
        return [src.block_size(1, r, c) for r in range(rows) for c in range(cols)]


@pytest.mark.parametrize("cog", [False, True], ids=["tiled GeoTIFF", "COG"])
def test_tiles_are_gdals_own_at_the_level(tmp_path, cog):
    assert DEFLATE_LEVEL == 1
    ours = write_raster(tmp_path / "ours.tif", _smooth(), cog=cog)

    def gdal(level: int):
        out = tmp_path / f"gdal_{level}.tif"
        opts = (["-of", "COG", "-co", "BLOCKSIZE=512", "-co", "PREDICTOR=YES", "-co", f"LEVEL={level}"] if cog else
                ["-co", "TILED=YES", "-co", "BLOCKXSIZE=512", "-co", "BLOCKYSIZE=512", "-co", "PREDICTOR=3", "-co", f"ZLEVEL={level}"])
        subprocess.run(["gdal_translate", "-q", str(ours), str(out), "-co", "COMPRESS=DEFLATE", *opts], check=True)
        return _tile_sizes(out)

    sizes = _tile_sizes(ours)
    assert sizes == gdal(DEFLATE_LEVEL)
    assert sizes != gdal(6)  # the test tells the levels apart
    with rasterio.open(ours) as src:
        np.testing.assert_array_equal(src.read(1), _smooth().values)
