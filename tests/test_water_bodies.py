"""Body table and body files against independent truth: pyproj.Geod areas and lengths of hand-built
rectangles, hand counts of unknown pixels and zone shares on an equal-area grid, GDAL's rasterizer for the
polygons, scipy for the ids, GDAL / pyogrio / pyarrow for the files."""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Geod
from rasterio.features import rasterize
from scipy import ndimage

from irrmap.core.grid import Grid
from irrmap.core.units import AdminUnits
from irrmap.mapping.water.bodies import SIZE_CLASSES, body_table, bodies_to_files, size_class
from irrmap.mapping.water.labels import label_windowed

GEOD = Geod(ellps="WGS84")
A_WGS84, F_WGS84 = 6378137.0, 1 / 298.257223563
E2 = F_WGS84 * (2 - F_WGS84)
GEO = Grid("EPSG:4326", Affine(0.0005, 0, 20.0, 0, -0.0005, 62.0), 40, 50)
EASE = Grid("EPSG:6933", Affine(100, 0, 1_000_000, 0, -100, 5_000_000), 12, 12)  # cylindrical equal-area: pixels are 1 ha


def _edges(grid, r0, r1, c0, c1):
    t = grid.transform
    return t.c + t.a * c0, t.c + t.a * c1, t.f + t.e * r1, t.f + t.e * r0  # west, east, south, north


def geod_rect_area(grid, r0, r1, c0, c1, k=2000):
    """Geod area of a lon/lat rectangle with densified edges (so the parallels are followed)."""
    west, east, south, north = _edges(grid, r0, r1, c0, c1)
    lons = np.r_[np.linspace(west, east, k), np.full(k, east), np.linspace(east, west, k), np.full(k, west)]
    lats = np.r_[np.full(k, south), np.linspace(south, north, k), np.full(k, north), np.linspace(north, south, k)]
    return abs(GEOD.polygon_area_perimeter(lons, lats)[0])


def parallel_arc(lat_deg, dlon_deg):
    """Length (m) of an arc of a parallel: radius of the parallel N cos(phi), N = a / sqrt(1 - e2 sin2 phi)."""
    phi = np.radians(lat_deg)
    return A_WGS84 * np.cos(phi) / np.sqrt(1 - E2 * np.sin(phi) ** 2) * np.radians(dlon_deg)


def test_rectangle_area_perimeter_centroid_on_a_geographic_grid():
    mask = np.zeros(GEO.shape, np.uint8)
    r0, r1, c0, c1 = 5, 12, 8, 19
    mask[r0:r1, c0:c1] = 1
    table = body_table(label_windowed(mask, tile=6).labels.values, grid=GEO, unknown=mask, tile=9)
    assert len(table) == 1
    row = table.iloc[0]
    assert row["n_pixels"] == (r1 - r0) * (c1 - c0)
    assert row["area_m2"] == pytest.approx(geod_rect_area(GEO, r0, r1, c0, c1), rel=1e-9)
    assert row["area_km2"] == pytest.approx(row["area_m2"] / 1e6, rel=1e-15)
    west, east, south, north = _edges(GEO, r0, r1, c0, c1)
    meridian = GEOD.inv(west, south, west, north)[2]
    by_hand = 2 * meridian + parallel_arc(south, east - west) + parallel_arc(north, east - west)
    assert row["perimeter_m"] == pytest.approx(by_hand, rel=1e-9)
    assert row["shoreline_m"] == pytest.approx(row["perimeter_m"], rel=1e-12)
    # centroid: mid longitude; latitude weighted by each row's Geod area
    rows = np.arange(r0, r1)
    w = np.array([geod_rect_area(GEO, r, r + 1, c0, c1) for r in rows])
    lat_centres = GEO.transform.f + GEO.transform.e * (rows + 0.5)
    assert row["centroid_lon"] == pytest.approx((west + east) / 2, abs=1e-12)
    assert row["centroid_lat"] == pytest.approx((w * lat_centres).sum() / w.sum(), abs=1e-9)
    assert row["unknown_m2"] == 0
    geom = table.geometry.iloc[0]
    assert geom.is_valid and shapely.equals(geom, shapely.box(west, south, east, north))


def test_areas_sum_to_the_true_pixel_areas_on_a_geographic_grid():
    rng = np.random.default_rng(5)
    mask = (ndimage.uniform_filter(rng.random(GEO.shape), 3) > 0.5).astype(np.uint8)
    labels, n = label_windowed(mask, tile=(11, 13))
    table = body_table(labels.values, grid=GEO, tile=(16))
    assert len(table) == n > 5
    cell = np.array([geod_rect_area(GEO, r, r + 1, 0, 1) for r in range(GEO.height)])  # one pixel of each row
    truth = ((mask == 1).sum(axis=1) * cell).sum()
    assert table["area_m2"].sum() == pytest.approx(truth, rel=1e-8)
    per_body = ndimage.sum_labels(np.broadcast_to(cell[:, None], GEO.shape), labels.values, index=table["body_id"].values)
    np.testing.assert_allclose(table["area_m2"].values, per_body, rtol=1e-8)


def test_perimeter_of_a_rectangle_on_utm_and_shoreline_around_an_island():
    grid = Grid("EPSG:32633", Affine(30, 0, 500_000 - 300, 0, -30, 5_000_000), 30, 30)  # on the central meridian
    mask = np.zeros(grid.shape, np.uint8)
    mask[5:25, 5:15] = 1
    mask[10:12, 8:10] = 0  # an island of 2 x 2 pixels
    row = body_table(label_windowed(mask).labels.values, grid=grid).iloc[0]
    k0 = 0.9996  # UTM scale factor on the central meridian; lengths on the ground = grid lengths / k
    assert row["perimeter_m"] == pytest.approx(2 * (20 + 10) * 30 / k0, rel=2e-5)
    assert row["shoreline_m"] - row["perimeter_m"] == pytest.approx(4 * 2 * 30 / k0, rel=2e-5)
    assert row["area_m2"] == pytest.approx((200 - 4) * 900 / k0**2, rel=2e-5)


def test_size_class_bins_are_left_closed():
    areas = [0.0, 0.00999, 0.01, 0.0999, 0.1, 0.5, 1.0, 9.99, 10.0, 100.0, 999.0, 1000.0, 5e4]
    expected = ["<0.01", "<0.01", "0.01-0.1", "0.01-0.1", "0.1-1", "0.1-1", "1-10", "1-10", "10-100", "100-1000",
                "100-1000", ">1000", ">1000"]
    got = size_class(areas)
    assert list(got.astype(str)) == expected
    assert list(got.categories) == list(SIZE_CLASSES) and got.ordered


def _unknown_case():
    mask = np.zeros(EASE.shape, np.uint8)
    mask[2:5, 2:5] = 1  # body 1
    mask[2:5, 6:9] = 1  # body 2
    mask[1, 1] = 255  # diagonal to body 1
    mask[0, 0] = 255  # two pixels away: touches nothing
    mask[3, 5] = 255  # between both bodies: touches each
    mask[5, 1:6] = 255  # row under body 1; (5, 5) is also diagonal to body 2's (4, 6)
    mask[8:10, 8:10] = 255  # far away
    return mask


@pytest.mark.parametrize("tile", [2, 3, 5, 100])
def test_unknown_area_touching_each_body(tile):
    mask = _unknown_case()
    labels = label_windowed(mask, tile=4).labels.values
    table = body_table(labels, grid=EASE, unknown=mask, tile=tile).set_index("body_id")
    ha = 100.0 * 100.0
    assert table.loc[1, "unknown_m2"] == pytest.approx(7 * ha)  # (1,1), (3,5), (5,1)..(5,5)
    assert table.loc[2, "unknown_m2"] == pytest.approx(2 * ha)  # (3,5), (5,5)
    assert table.loc[1, "area_m2"] == pytest.approx(9 * ha)


def test_admin_unit_holding_most_of_the_body():
    mask = np.zeros(EASE.shape, np.uint8)
    mask[1:3, 3:8] = 1  # 10 pixels: columns 3..5 in zone 1 (6 px), 6..7 in zone 2 (4 px)
    mask[9:11, 9:11] = 1  # in no zone
    zones = np.zeros(EASE.shape, np.int32)
    zones[:8, :6] = 1
    zones[:8, 6:] = 2
    labels = label_windowed(mask).labels.values
    table = body_table(labels, grid=EASE, zones=zones, tile=4).set_index("body_id")
    assert table.loc[1, "zone"] == 1 and table.loc[1, "admin_share"] == pytest.approx(0.6)
    assert table.loc[2, "zone"] == 0 and table.loc[2, "admin_share"] == 0
    # the same with unit polygons (rasterized on the grid by AdminUnits)
    t = EASE.transform
    boxes = [shapely.box(t.c, t.f - 800, t.c + 600, t.f), shapely.box(t.c + 600, t.f - 800, t.c + 1200, t.f)]
    units = AdminUnits(gpd.GeoDataFrame({"code": ["west", "east"], "name": ["West", "East"]}, geometry=boxes, crs=EASE.crs), ("unit",))
    table = body_table(labels, grid=EASE, units=units, tile=4).set_index("body_id")
    assert table.loc[1, "admin_code"] == "west" and table.loc[1, "admin_name"] == "West"
    assert table.loc[1, "admin_share"] == pytest.approx(0.6)
    assert pd.isna(table.loc[2, "admin_code"])


def test_polygons_rasterize_back_to_the_labels_whatever_the_tiling():
    rng = np.random.default_rng(9)
    mask = (ndimage.uniform_filter(rng.random((45, 60)), 3) > 0.52).astype(np.uint8)
    mask[rng.random(mask.shape) < 0.03] = 255
    grid = Grid("EPSG:32633", Affine(30, 0, 400_000, 0, -30, 5_000_000), 45, 60)
    labels = label_windowed(mask, tile=16).labels.values
    tables = [body_table(labels, grid=grid, unknown=mask, tile=t) for t in (7, 16, 100)]
    for table in tables:
        assert table.geometry.is_valid.all()
        assert (table.geometry.geom_type == "MultiPolygon").all()
        burned = rasterize(zip(table.geometry, table["body_id"]), out_shape=grid.shape, transform=grid.transform, dtype="int32")
        np.testing.assert_array_equal(burned, labels)  # GDAL's burn of the polygons is the label raster
    cols = ["n_pixels", "area_m2", "perimeter_m", "shoreline_m", "centroid_lon", "centroid_lat", "unknown_m2"]
    for other in tables[1:]:
        np.testing.assert_allclose(other[cols].to_numpy(float), tables[0][cols].to_numpy(float), rtol=1e-9, atol=1e-9)
        assert all(shapely.equals(other.geometry.values, tables[0].geometry.values))


def test_bodies_to_files(tmp_path, caplog):
    grid = Grid("EPSG:32633", Affine(30, 0, 400_000, 0, -30, 5_000_000), 40, 50)
    rng = np.random.default_rng(2)
    mask = np.zeros(grid.shape, np.uint8)
    mask[2, 2:5] = 1  # 3 pixels, ~2,702 m2: below DEA's 3,125 m2
    mask[6, 2:6] = 1  # 4 pixels, ~3,603 m2: kept
    mask[10:40, 10:50] = (ndimage.uniform_filter(rng.random((30, 40)), 3) > 0.5).astype(np.uint8)
    mask[rng.random(mask.shape) < 0.02] = 255
    with caplog.at_level(logging.INFO):
        paths = bodies_to_files(mask, tmp_path, grid=grid, tile=16)
    ref, _ = ndimage.label(mask == 1, structure=np.ones((3, 3)))
    sizes = np.bincount(ref.ravel())
    expected, n = ndimage.label(np.isin(ref, np.flatnonzero(sizes >= 4)[1:]), structure=np.ones((3, 3)))
    with rasterio.open(paths["body_id"]) as src:
        assert src.dtypes[0] == "uint32" and src.nodata == 0
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.tags()["n_bodies"] == str(n)
        np.testing.assert_array_equal(src.read(1), expected)
    with rasterio.open(paths["water"]) as src:
        np.testing.assert_array_equal(src.read(1), mask)
        assert src.nodata == 255
    assert b"geo" in pq.read_schema(paths["bodies_parquet"]).metadata  # GeoParquet metadata
    parquet = gpd.read_parquet(paths["bodies_parquet"])
    gpkg = pyogrio.read_dataframe(paths["bodies_gpkg"], layer="bodies")
    assert len(parquet) == len(gpkg) == n
    assert parquet.crs == grid.crs and gpkg.crs == grid.crs
    np.testing.assert_array_equal(parquet["body_id"], np.arange(1, n + 1))
    np.testing.assert_allclose(gpkg["area_m2"], parquet["area_m2"])
    assert set(parquet["size_class"]) <= set(SIZE_CLASSES)
    assert parquet["area_m2"].min() >= 3125
    assert any(f"{n} bodies" in r.getMessage() for r in caplog.records)
