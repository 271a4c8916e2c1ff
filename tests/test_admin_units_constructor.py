"""AdminUnits built from a GeoDataFrame (the constructor) refuses what AdminUnits.read refuses of a file: a code on
more than one row (DataError, read's message, the GeoDataFrame's fix: dissolve) and polygons without a CRS (InputError
naming the table and set_crs, not geopandas' bare "Cannot transform naive geometries"). Truth: pyproj.Geod."""

import geopandas as gpd
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import box

from irrmap import AdminUnits
from irrmap.core.errors import DataError, InputError

CODES = ["610101", "610102", "610201", "610202"]
BOXES = [box(104.0 + 0.1 * i, 38.9, 104.1 + 0.1 * i, 39.0) for i in range(4)]
GEOD = Geod(ellps="WGS84")


def _truth(geom) -> float:
    # edges along parallels are measured along the parallel (irrmap densifies them), so Geod gets them cut finely
    return abs(GEOD.geometry_area_perimeter(shapely.segmentize(geom, 0.001))[0])


def _table(codes=CODES, crs="EPSG:4326"):
    return gpd.GeoDataFrame({"code": list(codes), "name": [f"n{c}" for c in codes]}, geometry=BOXES, crs=crs)


def test_valid_table_areas_are_geod_areas():
    units = AdminUnits(_table(), ("county",))
    areas = units.geodesic_areas()
    assert list(areas.index) == CODES
    for code, geom in zip(CODES, BOXES):
        assert areas[code] == pytest.approx(_truth(geom), rel=1e-6)
    assert units.zone_table()["zone"].tolist() == [1, 2, 3, 4]


def test_duplicate_code_refused_and_dissolve_gives_one_unit():
    t = _table(["610101", "610101", "610201", "610202"])
    with pytest.raises(DataError) as e:
        AdminUnits(t, ("county",))
    msg = str(e.value)
    assert "1 codes appear on more than one polygon (610101: rows 1, 2)" in msg  # AdminUnits.read's message
    assert "table" in msg and "dissolve(by='code', as_index=False)" in msg
    # the fix the message gives: one unit whose area is that of both polygons
    units = AdminUnits(t.dissolve(by="code", as_index=False), ("county",))
    areas = units.geodesic_areas()
    assert areas.index.is_unique and len(units.zone_table()) == 3
    truth = _truth(BOXES[0]) + _truth(BOXES[1])
    assert areas["610101"] == pytest.approx(truth, rel=1e-6)
    assert truth == pytest.approx(_truth(shapely.union(BOXES[0], BOXES[1])), rel=1e-6)


def test_duplicate_codes_at_the_index_of_a_filtered_table_are_counted_from_one():
    t = _table(["a", "b", "a", "b"]).iloc[[3, 2, 1, 0]]
    with pytest.raises(DataError, match=r"2 codes appear on more than one polygon \(a: rows 2, 4; b: rows 1, 3\)"):
        AdminUnits(t, ("unit",))


def test_table_without_crs_is_an_input_error_naming_the_fix():
    t = _table().set_crs(None, allow_override=True)
    with pytest.raises(InputError) as e:
        AdminUnits(t, ("county",))
    msg = str(e.value)
    assert "AdminUnits table" in msg and "no CRS" in msg and "set_crs('EPSG:4326')" in msg
    assert "naive" not in msg


def test_projected_table_areas_are_geod_areas():
    utm = _table().to_crs("EPSG:32648")
    areas = AdminUnits(utm, ("county",)).geodesic_areas()
    for code, geom in zip(CODES, BOXES):
        assert areas[code] == pytest.approx(_truth(geom), rel=1e-4)  # edges drawn straight in UTM, not along parallels
