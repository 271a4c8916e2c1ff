"""A vector file with several layers is never read by silently taking the first one (points, units)."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, box

from irrmap.core.errors import InputError
from irrmap.core.units import AdminUnits
from irrmap.evaluation.points import read_points


@pytest.fixture
def two_layers(tmp_path):
    path = tmp_path / "multi.gpkg"
    old = gpd.GeoDataFrame({"label": [0, 0]}, geometry=[Point(100.1, 40.1), Point(100.2, 40.2)], crs="EPSG:4326")
    new = gpd.GeoDataFrame({"label": [1, 1, 1]}, geometry=[Point(100.1, 40.1), Point(100.2, 40.2), Point(100.3, 40.3)],
                           crs="EPSG:4326")
    old.to_file(path, layer="a_old_points", driver="GPKG")
    new.to_file(path, layer="b_points", driver="GPKG")
    return path


def test_points_from_a_multi_layer_file_must_name_the_layer(two_layers):
    with pytest.raises(InputError) as err:
        read_points(two_layers, "label")
    msg = str(err.value)
    assert "2 layers" in msg and "a_old_points (2 features, Point)" in msg and "b_points (3 features, Point)" in msg
    assert "points_layer" in msg
    assert len(read_points(two_layers, "label", layer="b_points")) == 3


def test_units_from_a_multi_layer_file_must_name_the_layer(tmp_path):
    path = tmp_path / "units.gpkg"
    cells = gpd.GeoDataFrame({"code": ["110101", "110102"]}, geometry=[box(100, 40, 100.1, 40.1), box(100.1, 40, 100.2, 40.1)],
                             crs="EPSG:4326")
    cells.to_file(path, layer="counties", driver="GPKG")
    cells.iloc[:1].to_file(path, layer="outline", driver="GPKG")
    with pytest.raises(InputError, match=r"2 layers: counties \(2 features, Polygon\), outline \(1 features, Polygon\)"):
        AdminUnits.read(path, "code")
    assert len(AdminUnits.read(path, "code", layer="counties")) == 2
