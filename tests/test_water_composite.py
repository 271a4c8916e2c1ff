"""Epoch composite: counts and frequency by hand on small stacks; DEA Waterbodies detection/extent rule
(frequency > threshold, 0.10 and 0.05); JRC permanent/seasonal; unknown below min_clear."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import xarray as xr
from affine import Affine

from irrmap.core.errors import ConfigError, DataError, GridError
from irrmap.mapping.water import PERMANENT, SEASONAL, epoch_composite

U = 255


def maps(*arrays, chunks=None):
    out = []
    for a in arrays:
        a = np.asarray(a, np.uint8)
        m = xr.DataArray(a, dims=("y", "x"), coords={"y": 15.0 + 30 * np.arange(a.shape[0])[::-1],
                                                     "x": 15.0 + 30 * np.arange(a.shape[1])})
        out.append(m.chunk(chunks) if chunks else m)
    return out


# four scenes, 2 x 3 pixels; columns: always water / water in 2 of 3 clear / never clear
STACK = [
    [[1, 1, U], [0, 1, 0]],
    [[1, 0, U], [0, 1, U]],
    [[1, 1, U], [U, 1, 0]],
    [[U, U, U], [0, U, 1]],
]


@pytest.mark.parametrize("chunks", [None, 1])
def test_counts_and_frequency_by_hand(chunks):
    out = epoch_composite(maps(*STACK, chunks=chunks))
    assert isinstance(out.water.data, da.Array) == (chunks is not None)
    assert out.clear_count.dtype == np.uint16 and out.frequency.dtype == np.float32
    np.testing.assert_array_equal(out.clear_count.values, [[3, 3, 0], [3, 3, 3]])
    np.testing.assert_array_equal(out.water_count.values, [[3, 2, 0], [0, 3, 1]])
    np.testing.assert_allclose(out.frequency.values, [[1, 2 / 3, np.nan], [0, 1, 1 / 3]], rtol=1e-6)
    np.testing.assert_array_equal(out.water.values, [[1, 1, U], [0, 1, 1]])
    np.testing.assert_array_equal(out.detection.values, [[1, 1, U], [0, 1, 1]])
    # JRC: permanent = water in every clear observation, seasonal = water in some
    np.testing.assert_array_equal(out.persistence.values, [[PERMANENT, SEASONAL, U], [0, PERMANENT, SEASONAL]])
    assert out.attrs["n_scenes"] == 4


def test_dea_detection_and_extent_thresholds_are_strict():
    """DEA Waterbodies make_polygons.py: `frequency > threshold` with detection 0.1 and extent 0.05."""
    n = 20
    # pixel 0: water 1 of 20 (0.05); 1: 2 of 20 (0.10); 2: 3 of 20 (0.15); 3: 0 of 20
    wet_scenes = [1, 2, 3, 0]
    stack = [[[1 if k < w else 0 for w in wet_scenes]] for k in range(n)]
    out = epoch_composite(maps(*stack))
    np.testing.assert_allclose(out.frequency.values[0], [0.05, 0.10, 0.15, 0.0], rtol=1e-6)
    np.testing.assert_array_equal(out.water.values[0], [0, 1, 1, 0])       # extent: > 0.05
    np.testing.assert_array_equal(out.detection.values[0], [0, 0, 1, 0])   # detection: > 0.10
    # every detection pixel is an extent pixel, whatever the thresholds
    other = epoch_composite(maps(*stack), detection=0.12, extent=0.0)
    assert ((other.detection.values == 1) <= (other.water.values == 1)).all()
    np.testing.assert_array_equal(other.water.values[0], [1, 1, 1, 0])


def test_permanent_parameter_and_min_clear():
    out = epoch_composite(maps(*STACK), permanent=0.6)
    assert out.persistence.values[0, 1] == PERMANENT   # 2/3 >= 0.6
    out = epoch_composite(maps(*STACK), min_clear=3)
    np.testing.assert_array_equal(out.water.values, [[1, 1, U], [0, 1, 1]])
    out = epoch_composite(maps(*STACK), min_clear=4)   # no pixel is clear in all four scenes
    assert (out.water.values == U).all() and (out.detection.values == U).all() and (out.persistence.values == U).all()
    np.testing.assert_array_equal(out.clear_count.values, [[3, 3, 0], [3, 3, 3]])   # counts are still reported


def test_composite_keeps_the_georeferencing():
    crs, transform = "EPSG:32611", Affine(30.0, 0, 0.0, 0, -30.0, 60.0)
    stack = [m.rio.write_crs(crs).rio.write_transform(transform) for m in maps(*STACK)]
    out = epoch_composite(stack)
    for name in out.data_vars:
        assert out[name].rio.crs == crs and out[name].rio.transform() == transform, name


def test_single_scene_epoch_is_the_scene_map():
    scene = [[1, 0, U], [0, 1, 1]]
    out = epoch_composite(maps(scene))
    for name in ("water", "detection"):
        np.testing.assert_array_equal(out[name].values, scene)


def test_bad_parameters_and_inputs_raise():
    with pytest.raises(ConfigError):
        epoch_composite([])
    with pytest.raises(ConfigError):
        epoch_composite(maps(*STACK), detection=0.05, extent=0.10)
    with pytest.raises(ConfigError):
        epoch_composite(maps(*STACK), permanent=0)
    with pytest.raises(ConfigError, match="min_clear"):
        epoch_composite(maps(*STACK), min_clear=5)
    a, b = maps(STACK[0], STACK[1])
    with pytest.raises(GridError):
        epoch_composite([a, b.assign_coords(x=b.x + 30.0)])
    with pytest.raises(DataError, match="value 3"):
        epoch_composite(maps([[1, 3, 0]]))
    lazy = epoch_composite(maps([[1, 3, 0]], chunks=1))   # dask: checked when computed
    with pytest.raises(DataError):
        lazy.water.values
