"""Windowed water-body labelling against scipy.ndimage.label on the whole array (the independent truth):
random masks, hypothesis masks and tilings, bodies crossing tile edges and corners, 4 and 8 connectivity,
every input kind, and the minimum-area and detection filters against Geod areas and scipy."""

from __future__ import annotations

import hashlib

import dask
import dask.array as da
import numpy as np
import pytest
import rasterio
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod
from scipy import ndimage

from irrmap.core.errors import GridError, InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.mapping.water.labels import label_windowed
from conftest import as_dataarray

EIGHT = np.ones((3, 3), bool)


def scipy_labels(mask, connectivity=8):
    return ndimage.label(np.asarray(mask) == 1, structure=EIGHT if connectivity == 8 else None)


def assert_same_as_scipy(mask, connectivity, tile):
    ref, n = scipy_labels(mask, connectivity)
    labels, got_n = label_windowed(mask, connectivity=connectivity, tile=tile)
    got = labels.values
    assert got_n == n
    assert got.dtype == np.uint32
    # identical numbering (scipy numbers by first pixel in row-major order, as label_windowed does) ...
    np.testing.assert_array_equal(got, ref)
    # ... which implies the same partition; check it directly too (renumbering-free comparison)
    pairs = np.unique(np.stack([got.ravel(), ref.ravel()]), axis=1)
    assert len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@pytest.mark.parametrize("connectivity", [4, 8])
@pytest.mark.parametrize("tile", [3, 16, (5, 13), (40, 7), 1000])
def test_random_masks_equal_scipy(connectivity, tile):
    rng = np.random.default_rng(tile if np.isscalar(tile) else sum(tile))
    for density in (0.2, 0.45, 0.6, 0.9):
        mask = (rng.random((57, 83)) < density).astype(np.uint8)
        mask[rng.random(mask.shape) < 0.05] = 255  # unknown is not water
        assert_same_as_scipy(mask, connectivity, tile)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(1, 30), w=st.integers(1, 30), density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1),
       th=st.integers(1, 12), tw=st.integers(1, 12), connectivity=st.sampled_from([4, 8]))
def test_hypothesis_masks_and_tilings(h, w, density, seed, th, tw, connectivity):
    mask = np.random.default_rng(seed).random((h, w)) < density
    assert_same_as_scipy(mask, connectivity, (th, tw))


def test_diagonal_chain_through_tile_corners():
    """A body made only of diagonal steps crosses a tile corner at every step: one body with 8-connectivity;
    with 4, one per pixel except the 2 x 2 block where the diagonals cross (40 pixels -> 37 bodies)."""
    mask = np.zeros((20, 20), np.uint8)
    idx = np.arange(20)
    mask[idx, idx] = 1
    mask[idx[::-1], idx] = 1  # the anti-diagonal crosses the other tile corners
    for tile in (1, 2, 5, 7):
        assert_same_as_scipy(mask, 8, tile)
        assert_same_as_scipy(mask, 4, tile)
    assert label_windowed(mask, tile=5).n == 1
    assert label_windowed(mask, connectivity=4, tile=5).n == 37


def test_spiral_crossing_tile_edges_many_times():
    """A spiral joins its tile pieces only through a chain of unions across several tiles."""
    n = 41
    mask = np.zeros((n, n), np.uint8)
    top, left, bottom, right = 0, 0, n - 1, n - 1
    while top <= bottom and left <= right:
        mask[top, left:right + 1] = 1
        mask[top:bottom + 1, right] = 1
        if top + 2 <= bottom:
            mask[bottom, left:right + 1] = 1
        if left + 2 <= right:
            mask[top + 2:bottom + 1, left] = 1
        top, left, bottom, right = top + 2, left + 2, bottom - 2, right - 2
    for tile in (4, 6, 9):
        assert_same_as_scipy(mask, 8, tile)
        assert_same_as_scipy(mask, 4, tile)


def test_empty_and_full_masks():
    assert label_windowed(np.zeros((9, 11), np.uint8), tile=4).n == 0
    full = np.ones((9, 11), np.uint8)
    labels, n = label_windowed(full, tile=4)
    assert n == 1 and (labels.values == 1).all()


def test_input_kinds_give_the_same_labels(tmp_path):
    rng = np.random.default_rng(7)
    mask = np.where(rng.random((64, 96)) < 0.5, 1, 0).astype(np.uint8)
    mask[rng.random(mask.shape) < 0.1] = 255
    grid = Grid("EPSG:32633", Affine(30, 0, 400000, 0, -30, 5000000), 64, 96)
    path = tmp_path / "mask.tif"
    with rasterio.open(path, "w", driver="GTiff", height=64, width=96, count=1, dtype="uint8", crs=grid.crs,
                       transform=grid.transform, nodata=255) as dst:
        dst.write(mask, 1)
    ref, n = scipy_labels(mask)
    dask_backed = as_dataarray(mask, grid).chunk({"y": 10, "x": 33})
    for source in (path, str(path), dask_backed, as_dataarray(mask, grid), da.from_array(mask, chunks=17)):
        labels, got_n = label_windowed(source, tile=(20, 30))
        assert got_n == n
        np.testing.assert_array_equal(labels.values, ref)
    labels = label_windowed(path, tile=32).labels
    assert Grid.from_dataarray(labels).aligned_with(grid)
    assert labels.attrs["nodata"] == 0 and labels.attrs["n_bodies"] == n


def test_same_bytes_whatever_the_tiling_and_threads(tmp_path):
    rng = np.random.default_rng(3)
    mask = (ndimage.uniform_filter(rng.random((300, 257)), 4) > 0.5).astype(np.uint8)
    grid = Grid("EPSG:32633", Affine(30, 0, 400000, 0, -30, 5000000), 300, 257)
    digests = set()
    for i, (tile, scheduler) in enumerate(((7, "threads"), (64, "threads"), ((100, 33), "synchronous"), (4096, "threads"))):
        with dask.config.set(scheduler=scheduler):
            labels = label_windowed(as_dataarray(mask, grid), tile=tile).labels
            path = write_raster(tmp_path / f"ids_{i}.tif", labels, nodata=0, dtype="uint32")
        digests.add(hashlib.sha256(path.read_bytes()).hexdigest())
    assert len(digests) == 1


def _geod_rectangle_area(grid: Grid, r0, r1, c0, c1) -> float:
    """pyproj.Geod area of the lon/lat rectangle of rows r0:r1, cols c0:c1, edges densified so the parallels
    are followed (Geod joins vertices by geodesics)."""
    t = grid.transform
    west, east = t.c + t.a * c0, t.c + t.a * c1
    north, south = t.f + t.e * r0, t.f + t.e * r1
    k = 2000
    lons = np.r_[np.linspace(west, east, k), np.full(k, east), np.linspace(east, west, k), np.full(k, west)]
    lats = np.r_[np.full(k, south), np.linspace(south, north, k), np.full(k, north), np.linspace(north, south, k)]
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    return abs(area)


def test_min_area_uses_true_areas_on_a_geographic_grid():
    grid = Grid("EPSG:4326", Affine(0.0005, 0, 20.0, 0, -0.0005, 62.0), 40, 40)
    mask = np.zeros(grid.shape, np.uint8)
    mask[2:5, 2:6] = 1  # 3 x 4 pixels near 62 N
    mask[30:32, 30:37] = 1  # 2 x 7 pixels further south (bigger pixels)
    a1 = _geod_rectangle_area(grid, 2, 5, 2, 6)
    a2 = _geod_rectangle_area(grid, 30, 32, 30, 37)
    assert a1 < a2
    lo, hi = a1 * (1 - 1e-6), a1 * (1 + 1e-6)
    assert label_windowed(mask, grid=grid, min_area_m2=lo, tile=7).n == 2
    labels, n = label_windowed(mask, grid=grid, min_area_m2=hi, tile=7)
    assert n == 1 and labels.values[30, 30] == 1 and labels.values[2, 2] == 0
    assert label_windowed(mask, grid=grid, min_area_m2=a2 * (1 + 1e-6), tile=7).n == 0


def test_detection_rule_keeps_extent_bodies_with_a_detection_pixel():
    rng = np.random.default_rng(11)
    extent = (ndimage.uniform_filter(rng.random((60, 70)), 5) > 0.5).astype(np.uint8)
    detection = ((rng.random(extent.shape) < 0.01) & (extent == 1)).astype(np.uint8)
    ref, n = scipy_labels(extent)
    keep = np.unique(ref[detection == 1])
    keep = keep[keep > 0]
    assert 0 < len(keep) < n  # the case tests something
    expected, _ = ndimage.label(np.isin(ref, keep), structure=EIGHT)
    labels, got_n = label_windowed(extent, detection=detection, tile=(13, 17))
    assert got_n == len(keep)
    np.testing.assert_array_equal(labels.values, expected)


def test_errors():
    mask = np.ones((5, 5), np.uint8)
    with pytest.raises(InputError, match="connectivity"):
        label_windowed(mask, connectivity=6)
    with pytest.raises(InputError, match="tile"):
        label_windowed(mask, tile=0)
    with pytest.raises(InputError, match="grid"):
        label_windowed(mask, min_area_m2=3125)
    grid = Grid("EPSG:4326", Affine(0.1, 0, 0, 0, -0.1, 0), 5, 5)
    other = Grid("EPSG:4326", Affine(0.1, 0, 1, 0, -0.1, 0), 5, 5)
    with pytest.raises(GridError):
        label_windowed(as_dataarray(mask, grid), detection=as_dataarray(mask, other))
    with pytest.raises(GridError):
        label_windowed(mask, detection=np.ones((4, 5), np.uint8))


@pytest.mark.realdata
@pytest.mark.parametrize("connectivity", [4, 8])
def test_jrc_occurrence_windowed_equals_scipy(shared_data, connectivity):
    """Real water: JRC GSW occurrence (Guyana coast, 0.00025 deg; 255 = no data) at >= 90 %, labelled window
    by window (16 bodies with 8-connectivity, 27 with 4)."""
    path = shared_data / "water" / "occurrence_60W_10Nv1_4_2021.tif"
    with rasterio.open(path) as src:
        occ = src.read(1)
    mask = np.where(occ == 255, 255, occ >= 90).astype(np.uint8)
    ref, n = scipy_labels(mask, connectivity)
    assert n > 10
    grid = Grid.from_raster(path)
    labels, got_n = label_windowed(as_dataarray(mask, grid), connectivity=connectivity, tile=(60, 100))
    assert got_n == n
    np.testing.assert_array_equal(labels.values, ref)
