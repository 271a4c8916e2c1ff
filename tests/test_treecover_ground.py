"""Sizes in metres on the ground in the tree-cover layer: spatial CV blocks and --reference-resolution cells on
a geographic grid at high latitude, measured with pyproj.Geod (WGS 84 geodesics), not with the code's own
spacing."""

from __future__ import annotations

import json

import numpy as np
import pytest
from affine import Affine
from pyproj import Geod

from irrmap.core.grid import Grid
from irrmap.mapping.treecover.blocks import ground_blocks
from irrmap.mapping.treecover.predictors import fit_grid
from tests.treecover_synthetic import NAMES, bands_from_cover, block_mean, cover_field, write

GEOD = Geod(ellps="WGS84")
LAT0 = 70.0  # top edge of the test grids (deg N)
RES = 0.00025  # deg: about 9.5 m east-west and 27.8 m north-south at 70 N


def _geo_grid(height, width, res=RES, lon0=25.0, lat0=LAT0) -> Grid:
    return Grid("EPSG:4326", Affine(res, 0, lon0, 0, -res, lat0), height, width)


def test_cv_blocks_are_block_m_on_the_ground_at_70n():
    grid = _geo_grid(600, 2000)
    block_m = 5000.0
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    groups = ground_blocks(grid, rows.ravel(), cols.ravel(), block_m).reshape(grid.shape)
    t = grid.transform
    # east-west: along the middle row, each full block spans block_m of geodesic distance (to a pixel's width)
    r = grid.height // 2
    lat = t.f + t.e * (r + 0.5)
    starts = np.flatnonzero(np.r_[True, groups[r, 1:] != groups[r, :-1]])
    edges = np.r_[starts, grid.width]
    pixel_w = GEOD.inv(t.c, lat, t.c + RES, lat)[2]
    assert pixel_w == pytest.approx(9.581, abs=0.005)  # N(lat) cos(lat) dlon at 69.925 N, by hand
    for c0, c1 in zip(edges[:-2], edges[1:-1]):  # the last block is partial
        width = GEOD.inv(t.c + c0 * RES, lat, t.c + c1 * RES, lat)[2]
        assert abs(width - block_m) <= pixel_w, (c0, c1, width)
    assert len(starts) == len(np.unique(groups[r])) == int(np.ceil(GEOD.inv(t.c, lat, t.c + grid.width * RES, lat)[2] / block_m))
    # north-south: down the first column, each full block spans block_m along the meridian
    col_groups = groups[:, 0]
    starts = np.flatnonzero(np.r_[True, col_groups[1:] != col_groups[:-1]])
    edges = np.r_[starts, grid.height]
    pixel_h = GEOD.inv(t.c, LAT0, t.c, LAT0 - RES)[2]
    assert pixel_h == pytest.approx(27.8, abs=0.1)
    for r0, r1 in zip(edges[:-2], edges[1:-1]):
        height = GEOD.inv(t.c, LAT0 - r0 * RES, t.c, LAT0 - r1 * RES)[2]
        assert abs(height - block_m) <= pixel_h, (r0, r1, height)


def test_cv_blocks_on_utm_are_whole_pixels():
    grid = Grid("EPSG:32636", Affine(30, 0, 500_000, 0, -30, 1_000_020), 64, 96)
    rows, cols = np.mgrid[0:64, 0:96]
    groups = ground_blocks(grid, rows.ravel(), cols.ravel(), 960.0).reshape(grid.shape)
    want = (rows // 32) * 3 + cols // 32  # 960 m = 32 pixels of 30 m
    assert (groups == want).all()


def test_reference_resolution_cells_measure_the_resolution_at_70n(tmp_path):
    bands = _geo_grid(400, 1200)
    ref = write(tmp_path / "ref.tif", np.zeros((40, 120), np.float32), res=RES * 10, origin=(25.0, LAT0), crs="EPSG:4326")
    g = fit_grid(bands, ref, 240.0)
    t = g.transform
    r = g.height // 2
    lat = t.f + t.e * (r + 0.5)
    lon = t.c + t.a * (g.width // 2)
    # the cell at the bands' centre is 240 m by 240 m on the ground (to the change of width across one cell)
    assert GEOD.inv(lon, lat, lon + t.a, lat)[2] == pytest.approx(240.0, rel=2e-3)
    assert GEOD.inv(lon, lat + t.e / 2, lon, lat - t.e / 2)[2] == pytest.approx(240.0, rel=2e-3)
    assert t.a > -t.e * 2.5  # longitude steps about 1 / cos(70) = 2.9 times the latitude steps


def test_fit_on_geographic_grid_holds_out_ground_blocks(tmp_path):
    from irrmap.mapping.treecover.fit import fit_treecover
    from irrmap.mapping.treecover.predictors import open_stack

    h, w = 96, 320
    cover = cover_field((h, w), 3)
    bands = bands_from_cover(cover, 4)
    geo = {"res": RES, "origin": (25.0, LAT0), "crs": "EPSG:4326"}
    paths = [write(tmp_path / f"b_{n}.tif", bands[n], descriptions=[n], **geo) for n in NAMES]
    ref_path = write(tmp_path / "ref.tif", block_mean(cover, 8).astype(np.float32), res=RES * 8, origin=(25.0, LAT0), crs="EPSG:4326")
    block_m = 1000.0
    _, card = fit_treecover(open_stack(paths), ref_path, cv_block_m=block_m, cv_splits=3, max_samples=10_000)
    # the reference grid: 12 x 40 cells of 8 pixels; ground extents by geodesics at the grid's middle latitude
    lat = LAT0 - h / 2 * RES
    east = GEOD.inv(25.0, lat, 25.0 + w * RES, lat)[2]
    south = GEOD.inv(25.0, LAT0, 25.0, LAT0 - h * RES)[2]
    assert card["cv"]["n_blocks"] == int(np.ceil(east / block_m)) * int(np.ceil(south / block_m))
    json.dumps(card)  # serialisable
