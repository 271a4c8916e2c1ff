"""How far a body may extend into unknown pixels (unknown_region_m2) and which of its outline is shoreline
(shoreline_m against known land, unknown_edge_m against unknown pixels or the raster's edge), on hand-built masks
on a UTM grid: 30 m pixels on the central meridian, whose true area is 900 / k0**2 m2 and whose edges are 30 / k0 m
on the ground (k0 = 0.9996), checked against hand counts of pixels and edges, and the exact pixel areas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.mapping.water.bodies import bodies_to_files, body_table
from irrmap.mapping.water.labels import label_windowed
from irrmap.mapping.water.windows import pixel_areas

K0 = 0.9996  # UTM scale factor on the central meridian
PX_M2 = 900 / K0**2  # true area of a 30 m pixel there (to ~1e-7)
EDGE_M = 30 / K0  # ground length of a 30 m pixel edge there
GRID = Grid("EPSG:32633", Affine(30, 0, 500_000 - 1_500, 0, -30, 5_000_000), 100, 100)  # on zone 33's central meridian
LENGTH_COLS = ["perimeter_m", "shoreline_m", "unknown_edge_m"]


def _lake_and_cloud() -> np.ndarray:
    """The prober's case: lake B, 10 x 20 water pixels, a 10 x 20 block of unknown (cloud) pixels beside it, both
    across the 64-pixel tile edges; lake C and D share one cloud; lake E has no unknown pixel near it."""
    m = np.zeros(GRID.shape, np.uint8)
    m[55:65, 40:60] = 1  # lake B
    m[55:65, 60:80] = 255  # cloud beside it: 200 px, only its first column (10 px) touches the lake
    m[10:20, 10:20] = 1  # lake C
    m[10:20, 30:40] = 1  # lake D
    m[5:25, 20:30] = 255  # cloud between C and D: 200 px
    m[25:30, 25] = 255  # its tail, 5 px, touching neither lake: the region is 205 px
    m[80:90, 5:15] = 1  # lake E, far from any unknown pixel
    m[90:95, 80:95] = 255  # a cloud touching nothing
    return m


def _exact_area(mask_of_pixels: np.ndarray) -> float:
    return float(pixel_areas(GRID, Window(0, 0, GRID.width, GRID.height))[mask_of_pixels].sum())


def _table(mask, tile=64, connectivity=8):
    labels = label_windowed(mask, tile=tile, connectivity=connectivity).labels.values
    table = body_table(labels, grid=GRID, unknown=mask, tile=tile, connectivity=connectivity)
    return table, labels


def _row(table, labels, r, c):
    return table.set_index("body_id").loc[int(labels[r, c])]


def test_a_lake_beside_a_cloud_may_extend_into_the_whole_cloud():
    mask = _lake_and_cloud()
    table, labels = _table(mask)
    b = _row(table, labels, 55, 40)
    assert b["n_pixels"] == 200
    cloud = np.zeros(GRID.shape, bool)
    cloud[55:65, 60:80] = True
    assert b["unknown_region_m2"] == pytest.approx(_exact_area(cloud), rel=1e-12)
    assert b["unknown_region_m2"] == pytest.approx(200 * PX_M2, rel=2e-5)  # ~180,144 m2, not the ring's ~9,007
    ring = np.zeros(GRID.shape, bool)
    ring[55:65, 60] = True
    assert b["unknown_m2"] == pytest.approx(_exact_area(ring), rel=1e-12)  # the ring along the lake, unchanged
    # 60 pixel edges around the lake: 10 against the cloud are not shore
    assert b["perimeter_m"] == pytest.approx(60 * EDGE_M, rel=2e-5)
    assert b["shoreline_m"] == pytest.approx(50 * EDGE_M, rel=2e-5)
    assert b["unknown_edge_m"] == pytest.approx(10 * EDGE_M, rel=2e-5)


def test_a_cloud_touching_two_lakes_counts_for_each_and_a_lake_without_unknown_has_none():
    mask = _lake_and_cloud()
    table, labels = _table(mask)
    cloud = np.zeros(GRID.shape, bool)
    cloud[5:25, 20:30] = True
    cloud[25:30, 25] = True
    for r, c in ((10, 10), (10, 30)):  # lakes C and D
        row = _row(table, labels, r, c)
        assert row["unknown_region_m2"] == pytest.approx(_exact_area(cloud), rel=1e-12)  # 205 px each
        assert row["unknown_region_m2"] == pytest.approx(205 * PX_M2, rel=2e-5)
        assert row["shoreline_m"] == pytest.approx(30 * EDGE_M, rel=2e-5)  # 40 edges, 10 against the cloud
        assert row["unknown_edge_m"] == pytest.approx(10 * EDGE_M, rel=2e-5)
    e = _row(table, labels, 80, 5)
    assert e["unknown_region_m2"] == 0 and e["unknown_m2"] == 0 and e["unknown_edge_m"] == 0
    assert e["shoreline_m"] == pytest.approx(e["perimeter_m"], rel=1e-12)
    assert e["shoreline_m"] == pytest.approx(40 * EDGE_M, rel=2e-5)
    # the cloud touching nothing counts for no body
    assert table["unknown_region_m2"].sum() == pytest.approx((200 + 2 * 205) * PX_M2, rel=2e-5)


def test_regions_follow_the_connectivity_of_the_bodies():
    mask = np.zeros(GRID.shape, np.uint8)
    mask[10:20, 10:20] = 1
    mask[20, 20] = 255  # diagonal to the lake's corner (19, 19)
    mask[21, 21:24] = 255  # and, by a corner, 3 more unknown pixels: a region of 4 with 8-connectivity
    table8, lab8 = _table(mask, connectivity=8)
    assert _row(table8, lab8, 10, 10)["unknown_region_m2"] == pytest.approx(4 * PX_M2, rel=2e-5)
    table4, lab4 = _table(mask, connectivity=4)
    assert _row(table4, lab4, 10, 10)["unknown_region_m2"] == 0  # no 4-neighbour of the lake is unknown
    for t in (table8, table4):  # a corner is no edge
        assert t["unknown_edge_m"].iloc[0] == 0 and t["shoreline_m"].iloc[0] == pytest.approx(40 * EDGE_M, rel=2e-5)


def test_edges_on_the_rasters_edge_and_around_unknown_holes_are_not_shore():
    mask = np.zeros(GRID.shape, np.uint8)
    mask[0:5, 0:10] = 1  # in the corner: 15 of its 30 edges on the raster's edge
    mask[40:50, 40:50] = 1
    mask[44:46, 44:46] = 0  # an island: 8 edges of shore
    mask[42, 42] = 255  # an unknown hole: 4 edges, 1 px region
    table, labels = _table(mask)
    corner = _row(table, labels, 0, 0)
    assert corner["shoreline_m"] == pytest.approx(15 * EDGE_M, rel=2e-5)
    assert corner["unknown_edge_m"] == pytest.approx(15 * EDGE_M, rel=2e-5)
    lake = _row(table, labels, 40, 40)
    assert lake["perimeter_m"] == pytest.approx(40 * EDGE_M, rel=2e-5)
    assert lake["shoreline_m"] == pytest.approx((40 + 8) * EDGE_M, rel=2e-5)
    assert lake["unknown_edge_m"] == pytest.approx(4 * EDGE_M, rel=2e-5)
    assert lake["unknown_region_m2"] == pytest.approx(PX_M2, rel=2e-5)


def _write_mask(path, mask):
    with rasterio.open(path, "w", driver="GTiff", width=GRID.width, height=GRID.height, count=1, dtype="uint8",
                       crs=GRID.crs, transform=GRID.transform, nodata=255) as dst:
        dst.write(mask, 1)


def test_the_table_does_not_depend_on_the_tile(tmp_path):
    mask = _lake_and_cloud()
    rng = np.random.default_rng(3)
    mask[(rng.random(GRID.shape) < 0.03) & (mask == 0)] = 255  # speckle: regions across the tile edges too
    _write_mask(tmp_path / "mask.tif", mask)
    tables, parquet = [], []
    for tile in (64, 100):
        out = tmp_path / f"t{tile}"
        assert main(["water", "bodies", str(out), str(tmp_path / "mask.tif"), "--tile", str(tile)]) == 0
        parquet.append((out / "bodies.parquet").read_bytes())
        tables.append(pd.read_parquet(out / "bodies.parquet"))
    assert parquet[0] == parquet[1]  # the same bytes
    pd.testing.assert_frame_equal(tables[0], tables[1], check_exact=True)
    # and bodies_to_files / body_table on tiles of 7 and 33 give the same numbers again
    for tile in (7, 33):
        bodies_to_files(mask, tmp_path / f"b{tile}", grid=GRID, tile=tile)
        other = pd.read_parquet(tmp_path / f"b{tile}" / "bodies.parquet")
        cols = ["area_m2", "unknown_m2", "unknown_region_m2", "shoreline_m", "unknown_edge_m"]
        pd.testing.assert_frame_equal(other[cols], tables[0][cols], check_exact=True)
    # shore plus unknown edge is every ring of the polygon
    t = tables[0]
    assert (t["shoreline_m"] + t["unknown_edge_m"] >= t["perimeter_m"] * (1 - 1e-12)).all()
    assert (t["unknown_region_m2"] >= t["unknown_m2"] * (1 - 1e-12)).all()
