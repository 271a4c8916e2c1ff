"""`irrmap suitability distance` after the speed work (one-pass write, mask stored chunk by chunk, kernel loaded in a
thread): the file holds scipy's exact Euclidean distance transform, whatever the chunk size, as a tiled DEFLATE
GeoTIFF (--no-cog) or a COG with the same pixels."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from irrmap.app.cli import main


@pytest.fixture(scope="module")
def mask(tmp_path_factory):
    rng = np.random.default_rng(7)
    water = (ndimage.gaussian_filter(rng.normal(size=(700, 900)), 6) > 0.1).astype("uint8")
    water[300:340, 100:180] = 255  # nodata
    path = tmp_path_factory.mktemp("mask") / "water.tif"
    with rasterio.open(path, "w", driver="GTiff", height=700, width=900, count=1, dtype="uint8", crs="EPSG:32650",
                       transform=Affine(30, 0, 400000, 0, -30, 4500000), nodata=255) as dst:
        dst.write(water, 1)
    return path, water


def _scipy_truth(water: np.ndarray) -> np.ndarray:
    """Exact EDT in metres (30 m pixels) to the nearest water pixel; nodata pixels are NaN (and no water)."""
    d = ndimage.distance_transform_edt(water != 1, sampling=30.0).astype("float32")
    d[water == 255] = np.nan
    return d


@pytest.mark.parametrize("options", [["--no-cog"], ["--no-cog", "--chunk", "300"], []])
def test_cli_writes_scipy_exact_distances(tmp_path, mask, options):
    path, water = mask
    out = tmp_path / "d.tif"
    assert main(["-q", "suitability", "distance", str(path), str(out), *options]) == 0
    with rasterio.open(out) as src:
        got = src.read(1)
        assert src.dtypes[0] == "float32" and src.profile["tiled"] and src.compression.name.lower() == "deflate"
        assert src.tags()["units"] == "m" and src.descriptions == ("distance_to_water_m",)
        assert (src.overviews(1) == []) == ("--no-cog" in options)
    np.testing.assert_array_equal(got, _scipy_truth(water))
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
