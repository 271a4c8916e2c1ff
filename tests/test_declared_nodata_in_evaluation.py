"""The evaluation and tree-cover functions taking DataArrays honour every nodata the array declares, as the stage
functions do (irrmap.core.array_input): `rioxarray.open_rasterio(path).squeeze("band", drop=True)` without masking
keeps a class map's fill 255 as numbers and says so only in `_FillValue`. `mapped_area_by_unit(kind="binary")`
read only attrs["nodata"], so every 255 pixel counted as irrigated: 671.93 km2 where the demo map holds 125.87.

Truth: pixel counts by numpy on an equal-area grid (EPSG:6933, EASE-Grid 2.0: every 1 km pixel is 1 km2)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import rioxarray
import xarray as xr
from rasterio.transform import from_origin

from irrmap.evaluation.agreement import zonal_mapped_area
from irrmap.evaluation.comparison import compare_maps
from irrmap.evaluation.points import values_at
from irrmap.evaluation.report import quicklook_array
from irrmap.mapping.treecover.change import change_map, unit_sums
from irrmap.core.grid import Grid

H, W = 30, 40


def _classes(seed):
    a = np.random.default_rng(seed).integers(0, 2, size=(H, W)).astype("uint8")
    a[:10, :15] = 255  # the fill: a block with no data
    return a


def _tif(path, arr, nodata=255, **tags):
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=1, dtype=arr.dtype, crs="EPSG:6933",
                       transform=from_origin(1_000_000, 4_000_000, 1000, 1000), nodata=nodata) as dst:
        dst.write(arr, 1)
        if tags:
            dst.update_tags(1, **tags)
    return path


def _unmasked(path):
    da = rioxarray.open_rasterio(path).squeeze("band", drop=True)
    assert da.attrs.get("_FillValue") == 255 and "nodata" not in da.attrs  # what rioxarray gives: the case under test
    return da


def _zones():
    z = np.zeros((H, W), np.int32)
    z[:, :20], z[:, 20:] = 1, 2
    return z


def test_binary_mapped_area_leaves_out_the_fill(tmp_path):
    a = _classes(1)
    m = _unmasked(_tif(tmp_path / "class.tif", a))
    zones = m.copy(data=_zones())
    got = zonal_mapped_area(m, zones, 2, kind="binary", threshold=0.5)
    truth = [0.0] + [float(((a == 1) & (_zones() == k)).sum()) * 1e6 for k in (1, 2)]
    np.testing.assert_allclose(got, truth, rtol=1e-9)
    mapped, missing, whole = zonal_mapped_area(m, zones, 2, kind="binary", threshold=0.5, with_missing=True)
    np.testing.assert_allclose(missing[1:], [150e6, 0.0], rtol=1e-9)  # the 10 x 15 fill block, all in zone 1


def test_fraction_map_with_an_undecoded_scale_and_fill(tmp_path):
    pct = np.random.default_rng(2).integers(0, 101, size=(H, W)).astype("int16")
    pct[5:8, 30:] = -1
    with rasterio.open(_tif(tmp_path / "f.tif", pct, nodata=-1)) as _:
        pass
    da = rioxarray.open_rasterio(tmp_path / "f.tif").squeeze("band", drop=True)
    da.attrs["scale_factor"] = 0.01  # as open_rasterio(mask_and_scale=False) leaves a CF scale in attrs
    got = zonal_mapped_area(da, da.copy(data=_zones()), 2, kind="fraction")
    valid = pct >= 0
    truth = [0.0] + [float((pct * 0.01 * 1e6)[valid & (_zones() == k)].sum()) for k in (1, 2)]
    np.testing.assert_allclose(got, truth, rtol=1e-9)


def test_compare_maps_leaves_out_the_fill(tmp_path):
    a, b = _classes(3), _classes(4)
    b[20:, 30:] = 255
    got = compare_maps(_unmasked(_tif(tmp_path / "a.tif", a)), _unmasked(_tif(tmp_path / "b.tif", b)), threshold_a=0.5,
                       threshold_b=0.5)
    both = (a != 255) & (b != 255)
    assert got.overall_agreement == pytest.approx(float((a == b)[both].mean()), rel=1e-9)


def test_values_at_and_quicklook_leave_out_the_fill(tmp_path):
    a = _classes(5)
    m = _unmasked(_tif(tmp_path / "class.tif", a))
    rows, cols = np.array([0, 9, 10, 29]), np.array([0, 14, 15, 39])
    np.testing.assert_array_equal(values_at(m, rows, cols), np.where(a[rows, cols] == 255, np.nan, a[rows, cols]))
    q = quicklook_array(m)
    np.testing.assert_array_equal(np.isnan(q), a == 255)


def test_tree_cover_change_leaves_out_the_fill(tmp_path):
    rng = np.random.default_rng(6)
    ca, cb = rng.integers(0, 101, size=(H, W)).astype("uint8"), rng.integers(0, 101, size=(H, W)).astype("uint8")
    ca[:4, :] = 0  # stored 0 = no data in this file (declared below): not 0 % cover
    a = _unmasked_nodata(_tif(tmp_path / "a.tif", ca, nodata=0))
    b = _unmasked_nodata(_tif(tmp_path / "b.tif", cb, nodata=None))
    grid = Grid.from_dataarray(a)
    sums = unit_sums(a, b, a.copy(data=_zones()), 2, grid)
    compared = (ca != 0)
    truth = [float((compared & (_zones() == k)).sum()) * 1e6 for k in (1, 2)]
    np.testing.assert_allclose(sums.loc[[1, 2], "compared"], truth, rtol=1e-9)
    change = change_map(a, b).values
    np.testing.assert_array_equal(change[:4] == 255, True)


def _unmasked_nodata(path):
    return rioxarray.open_rasterio(path).squeeze("band", drop=True)


def test_xarray_masked_read_is_unchanged(tmp_path):  # control: a masked read (NaN at the fill) gives the same areas
    a = _classes(7)
    path = _tif(tmp_path / "class.tif", a)
    masked = rioxarray.open_rasterio(path, masked=True).squeeze("band", drop=True)
    assert isinstance(masked, xr.DataArray)
    got = zonal_mapped_area(masked, masked.copy(data=_zones()), 2, kind="binary", threshold=0.5)
    np.testing.assert_allclose(got[1:], [float(((a == 1) & (_zones() == k)).sum()) * 1e6 for k in (1, 2)], rtol=1e-9)
