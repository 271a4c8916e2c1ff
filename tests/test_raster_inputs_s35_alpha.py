"""An alpha band (GDAL colour interpretation Alpha) is the mask of the other bands, not a layer of values: it is
neither counted nor chosen as a layer, it masks what is read, and it gets no valid share of its own. Truth: the
alpha array written (hand counts of its transparent pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.enums import ColorInterp

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.valid_share import band_shares, shares_within

H, W = 40, 60
T = Affine(30.0, 0, 500000.0, 0, -30.0, 4000000.0)
GRID = Grid.from_bounds(500000.0, 4000000.0 - H * 30, 500000.0 + W * 30, 4000000.0, 30.0, "EPSG:32633")


def _with_alpha(path, n_data: int):
    """n_data uint8 bands plus an alpha band that is transparent (0) on the western 20 columns."""
    alpha = np.full((H, W), 255, np.uint8)
    alpha[:, :20] = 0
    vals = (np.arange(H * W).reshape(H, W) % 50).astype(np.uint8)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=n_data + 1, dtype="uint8", crs="EPSG:32633",
                       transform=T) as dst:
        for b in range(1, n_data + 1):
            dst.write(vals + b, b)
        dst.write(alpha, n_data + 1)
        dst.colorinterp = [ColorInterp.gray] * n_data + [ColorInterp.alpha] if n_data == 1 else \
            [ColorInterp.red, ColorInterp.green, ColorInterp.blue][:n_data] + [ColorInterp.alpha]
    return path, vals, alpha


def test_grey_plus_alpha_is_one_layer_masked_by_the_alpha(tmp_path):
    path, vals, alpha = _with_alpha(tmp_path / "ga.tif", 1)
    got = read_raster(path, GRID).values  # no band chosen: the one layer (was refused as "2 layers")
    want = np.where(alpha == 0, np.nan, vals + 1.0)
    np.testing.assert_array_equal(got, want)
    assert band_shares(path) == pytest.approx((40 / 60,))  # one share: the alpha band is no band of values
    with pytest.raises(InputError, match="band 2 is the alpha band"):
        read_raster(path, GRID, band=2)


def test_rgba_lists_three_layers(tmp_path):
    path, _, _ = _with_alpha(tmp_path / "rgba.tif", 3)
    with pytest.raises(InputError, match=r"3 layers \(1, 2, 3 \(no names\)\)"):
        read_raster(path, GRID)
    assert band_shares(path) == pytest.approx((40 / 60,) * 3)


def test_a_reference_with_alpha_is_valid_only_where_opaque(tmp_path):
    ref, _, _ = _with_alpha(tmp_path / "ref.tif", 1)
    prod = tmp_path / "prod.tif"
    with rasterio.open(prod, "w", driver="GTiff", height=H, width=W, count=1, dtype="float32", crs="EPSG:32633",
                       transform=T, nodata=np.nan) as dst:
        p = np.ones((H, W), np.float32)
        p[:, 20:30] = np.nan  # missing on 10 of the 40 opaque columns
        dst.write(p, 1)
    area, within = shares_within([prod], [ref], GRID)
    assert area == pytest.approx(40 / 60)  # the alpha band counted as a band made the reference valid everywhere
    assert within[str(prod)] == pytest.approx((30 / 40,))


def test_a_dated_stack_with_alpha_has_one_layer_per_date(tmp_path):
    """Tree-cover series: three dated bands plus an alpha band are three layers, not four (the alpha band has no date)."""
    from irrmap.mapping.treecover.dates import dated_layers

    path, _, _ = _with_alpha(tmp_path / "series.tif", 3)
    with rasterio.open(path, "r+") as dst:
        dst.descriptions = ("2001", "2005", "2010", None)
    layers = dated_layers([path])
    assert [lay.band for lay in layers] == [1, 2, 3]
    assert len(dated_layers([path], band_dates=["2001", "2005", "2010"])) == 3  # one date per data layer
