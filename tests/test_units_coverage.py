"""Units and the grid: the share of each unit on the grid (pyproj.Geod), units whose grid area is off (overlaps),
the cropland share of a unit cut by the grid's bounds (counted by hand), and scaled or excluded targets."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod
from rasterio.transform import from_origin
from shapely.geometry import Polygon, box

from irrmap.core.coverage import cropland_share, scale_partial, unit_areas
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.raster_write import write_raster
from irrmap.core.units import AdminUnits

GEOD = Geod(ellps="WGS84")


def _box_area(x0, y0, x1, y1, n: int = 1000) -> float:
    """Ellipsoidal area (m2) of a lon/lat box with its edges as drawn (along the parallels and meridians): Geod on
    the outline cut into n pieces per edge."""
    t = np.arange(n) / n
    lons = np.r_[x0 + t * (x1 - x0), np.full(n, x1), x1 - t * (x1 - x0), np.full(n, x0)]
    lats = np.r_[np.full(n, y0), y0 + t * (y1 - y0), np.full(n, y1), y1 - t * (y1 - y0)]
    area, _ = GEOD.polygon_area_perimeter(lons, lats)
    return area


def _units(tmp_path, codes, geoms) -> AdminUnits:
    gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", "code")


def _areas(tmp_path, units, grid) -> pd.DataFrame:
    zones = write_raster(tmp_path / "zones.tif", units.rasterize(grid), nodata=0, dtype="int32", cog=False)
    return unit_areas(units, grid, zones)


def test_share_on_the_grid_of_a_unit_cut_by_its_bounds(tmp_path):
    units = _units(tmp_path, ["130101", "130102"], [box(0, 0, 1, 1), box(1, 0, 2, 1)])
    grid = Grid.from_bounds(0.5, 0.0, 2.0, 1.0, 0.05, "EPSG:4326")
    t = _areas(tmp_path, units, grid)
    assert t.loc["130101", "on_grid_share"] == pytest.approx(_box_area(0.5, 0, 1, 1) / _box_area(0, 0, 1, 1), rel=1e-9)
    assert t.loc["130101", "on_grid_share"] == pytest.approx(0.5, abs=1e-4)
    assert t["partial"].tolist() == [True, False]
    assert t.loc["130102", "on_grid_share"] == 1.0
    # pixel edges fall on the box edges: the grid areas are the boxes'
    assert t.loc["130101", "grid_area_m2"] == pytest.approx(_box_area(0.5, 0, 1, 1), rel=1e-5)
    assert t["area_check"].tolist() == ["ok", "ok"]


def test_unit_whose_pixels_another_unit_takes_is_a_mismatch(tmp_path):
    # the later unit overlaps the eastern half of the first and takes its pixels (AdminUnits.read refuses such files,
    # tests/test_units_overlap.py; units made in code, as here, meet the coverage check only)
    table = gpd.GeoDataFrame({"code": ["130101", "130102"], "city": ["130100"] * 2, "province": ["130000"] * 2,
                              "name": ["130101", "130102"]}, geometry=[box(0, 0, 1, 1), box(0.5, 0, 1, 1)], crs="EPSG:4326")
    units = AdminUnits(table, ("county", "city", "province"), source="in code", hierarchy="cn-adcode")
    grid = Grid.from_bounds(0.0, 0.0, 1.0, 1.0, 0.05, "EPSG:4326")
    t = _areas(tmp_path, units, grid)
    assert t["area_check"].tolist() == ["mismatch", "ok"]
    assert t.loc["130101", "grid_area_m2"] / t.loc["130101", "polygon_area_m2"] == pytest.approx(0.5, abs=1e-4)


def test_self_intersecting_unit_is_repaired_and_not_a_mismatch(tmp_path):
    bowtie = Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])
    units = _units(tmp_path, ["130101"], [bowtie])
    t = _areas(tmp_path, units, Grid.from_bounds(0.0, 0.0, 1.0, 1.0, 0.01, "EPSG:4326"))
    assert t.loc["130101", "area_check"] == "ok"
    assert t.loc["130101", "grid_area_m2"] / t.loc["130101", "polygon_area_m2"] == pytest.approx(1, abs=0.02)


def _landcover(path, left, ncols, crop_cols):
    """A 0.1-degree class raster over `left`.. `left + ncols/10` E, 0..1 N: class 1 (crop) in `crop_cols`, 2 elsewhere."""
    data = np.full((10, ncols), 2, dtype=np.uint8)
    data[:, crop_cols] = 1
    with rasterio.open(path, "w", driver="GTiff", width=ncols, height=10, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(left, 1.0, 0.1, 0.1), nodata=255) as dst:
        dst.write(data, 1)
    return path


def test_cropland_share_of_a_unit_cut_by_the_grid(tmp_path):
    units = _units(tmp_path, ["130101", "130102"], [box(0, 0, 1, 1), box(1, 0, 1.5, 1)])
    grid = Grid.from_bounds(0.5, 0.0, 1.5, 1.0, 0.1, "EPSG:4326")
    # crop in columns 0..6 of the unit (0.0..0.7 E): 5 of them off the grid, 2 on it, all rows alike
    lc = _landcover(tmp_path / "lc.tif", 0.0, 15, list(range(7)))
    share = cropland_share(units, grid, ["130101"], lambda g: read_raster(lc, g, kind="fraction", classes=[1]), tile=4)
    assert share.index.tolist() == ["130101"]
    assert share.loc["130101", "known_share"] == pytest.approx(1.0)
    assert share.loc["130101", "cropland_share"] == pytest.approx(2 / 7, rel=1e-6)
    # a cropland source that covers only the grid cannot give the share: NaN, the caller falls back to area
    lc_grid = _landcover(tmp_path / "lc_grid.tif", 0.5, 10, [0, 1])
    share = cropland_share(units, grid, ["130101"], lambda g: read_raster(lc_grid, g, kind="fraction", classes=[1]))
    assert share.loc["130101", "known_share"] == pytest.approx(0.5, abs=1e-3)
    assert np.isnan(share.loc["130101", "cropland_share"])


def test_partial_targets_are_scaled_or_excluded():
    targets = pd.Series({"A": 100.0, "B": 50.0, "C": 10.0, "E": 7.0})
    # D has no statistic; E lies entirely outside the grid
    cov = pd.DataFrame({"share": [0.25, 0.5, 0.0], "basis": ["cropland", "area", "area"], "area_share": [0.4, 0.5, 0.0]},
                       index=["A", "D", "E"])
    scaled, rows = scale_partial(targets, cov, "scale")
    assert scaled.to_dict() == {"A": 25.0, "B": 50.0, "C": 10.0}
    assert rows.drop(columns="used_m2").to_dict("records") == [
        {"code": "A", "share": 0.25, "basis": "cropland", "target_m2": 100.0, "action": "scaled"},
        {"code": "E", "share": 0.0, "basis": "area", "target_m2": 7.0, "action": "outside the grid"}]
    assert rows["used_m2"].iloc[0] == 25.0 and np.isnan(rows["used_m2"].iloc[1])
    excluded, rows = scale_partial(targets, cov, "exclude")
    assert excluded.to_dict() == {"B": 50.0, "C": 10.0} and rows["action"].tolist() == ["excluded", "outside the grid"]
