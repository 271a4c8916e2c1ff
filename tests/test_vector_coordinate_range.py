"""Coordinates in a geographic CRS must be degrees (irrmap.core.vectors.check_degrees): every vector file read by
irrmap.core.vectors (units, EE regions) is refused with one line when its bounds leave lon -360..360 / lat -90..90.

Faults found by a new-user probe: a lon/lat-swapped GeoJSON gave units an ellipsoidal area of 0.0 km2 and every check
passing; UTM metres in a file labelled EPSG:4326 ended in GEOSException std::bad_alloc after 20-40 s and 2 GB. And a
GBK DBF whose .cpg says UTF-8 gave "the text fields ... are not None". Truth: hand-made polygons with known bounds,
pyproj.Geod areas of the real Shijiazhuang counties (skipped without /work/shared/data).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon, box

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.units import AdminUnits
from irrmap.core.vectors import read_vector

SJZ = Path("/work/shared/data/admin/china/city_full/130100.json")  # Shijiazhuang counties, field adcode
GEOD = Geod(ellps="WGS84")


def _geojson(path: Path, polygons: dict[str, Polygon], crs_member: bool = True) -> Path:
    """A GeoJSON FeatureCollection written by hand (coordinates exactly as given; no crs member when not
    `crs_member`, which GDAL reads as EPSG:4326 by the GeoJSON specification, RFC 7946)."""
    doc = {"type": "FeatureCollection",
           "features": [{"type": "Feature", "properties": {"adcode": code},
                         "geometry": shapely.geometry.mapping(poly)} for code, poly in polygons.items()]}
    if crs_member:
        doc["crs"] = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    path.write_text(json.dumps(doc))
    return path


def _geod_area_km2(geom) -> float:
    """Ellipsoidal area of a lon/lat (multi)polygon by pyproj.Geod (absolute: ring orientation ignored)."""
    parts = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
    return sum(abs(GEOD.geometry_area_perimeter(shapely.geometry.polygon.orient(p))[0]) for p in parts) / 1e6


def _swap(geom):
    return shapely.transform(geom, lambda c: c[:, ::-1])


# ---- hand-made polygons --------------------------------------------------------------------------------------
def test_swapped_lonlat_units_are_refused(tmp_path):
    # a county-sized square at lon 114-114.5, lat 38-38.5 written lat first: x 38..38.5, y 114..114.5
    path = _geojson(tmp_path / "swapped.json", {"130102": box(38.0, 114.0, 38.5, 114.5)})
    with pytest.raises(InputError) as err:
        AdminUnits.read(path, "adcode")
    msg = str(err.value)
    assert "swapped" in msg and "114.5" in msg and "38.5" in msg and "SwapCoords" in msg and "\n" not in msg


def test_swapped_lonlat_cli_exit_2(tmp_path, capsys):
    path = _geojson(tmp_path / "swapped.json", {"130102": box(38.0, 114.0, 38.5, 114.5)})
    assert main(["units", "info", str(path), "--code-field", "adcode"]) == 2
    assert "swapped" in capsys.readouterr().err


@pytest.mark.parametrize("how", ["geojson_without_crs", "gpkg_labelled_4326"])
def test_projected_metres_labelled_as_degrees_are_refused_quickly(tmp_path, how):
    # a 2 km square of UTM 50N metres (near Shijiazhuang); as "degrees" its edges are 2000 degrees long, which the
    # old code cut into 0.01-degree pieces before measuring
    square = box(300_000, 4_200_000, 302_000, 4_202_000)
    if how == "geojson_without_crs":
        path = _geojson(tmp_path / "utm.json", {"130102": square}, crs_member=False)
    else:
        path = tmp_path / "utm.gpkg"
        gpd.GeoDataFrame({"adcode": ["130102"]}, geometry=[square], crs="EPSG:4326").to_file(path)
    start = time.perf_counter()
    with pytest.raises(InputError) as err:
        AdminUnits.read(path, "adcode")
    assert time.perf_counter() - start < 10
    msg = str(err.value)
    assert "projected" in msg and "4.2e+06" in msg and "ogr2ogr -a_srs" in msg


def test_the_same_metres_in_their_own_crs_are_read(tmp_path):
    # control: the square declared as UTM 50N is read, and its area is the 4 km2 drawn (to the scale error of UTM)
    path = tmp_path / "utm.gpkg"
    gpd.GeoDataFrame({"adcode": ["130102"]}, geometry=[box(300_000, 4_200_000, 302_000, 4_202_000)], crs="EPSG:32650").to_file(path)
    units = AdminUnits.read(path, "adcode")
    assert units.geodesic_areas().sum() / 1e6 == pytest.approx(4.0, rel=2e-3)


def test_longitudes_0_to_360_are_degrees(tmp_path):
    # control: 0..360 longitudes (lon 200-201 = -160..-159) are legitimate; area by pyproj.Geod of the same cell,
    # its edges cut to 0.001 degree so that Geod's geodesic edges follow the parallels drawn (irrmap's reading)
    path = _geojson(tmp_path / "east.json", {"130102": box(200.0, 10.0, 201.0, 11.0)})
    units = AdminUnits.read(path, "adcode")
    truth = _geod_area_km2(box(-160.0, 10.0, -159.0, 11.0).segmentize(0.001))
    assert units.geodesic_areas().sum() / 1e6 == pytest.approx(truth, rel=1e-6)


def test_whole_globe_bounds_are_degrees(tmp_path):
    # control: a layer spanning -180..180 / -90..90 exactly is read
    path = _geojson(tmp_path / "globe.json", {"a": box(-180.0, -90.0, 0.0, 0.0), "b": box(0.0, 0.0, 180.0, 90.0)})
    frame = read_vector(path, None, what="regions", layer_key="--layer")
    assert tuple(frame.total_bounds) == (-180.0, -90.0, 180.0, 90.0)


def test_region_file_is_refused_too(tmp_path):
    # the EE region polygons are read by read_vector: a swapped region is refused the same way
    path = _geojson(tmp_path / "region.json", {"r": box(38.0, 114.0, 38.5, 114.5)})
    with pytest.raises(InputError, match="swapped"):
        read_vector(path, None, what="region polygons", layer_key="[sources.ee].region_layer")


def test_longitudes_beyond_360_are_refused(tmp_path):
    path = _geojson(tmp_path / "far.json", {"130102": box(400.0, 10.0, 401.0, 11.0)})
    with pytest.raises(InputError, match="not lon/lat degrees"):
        AdminUnits.read(path, "adcode")


# ---- real counties ----------------------------------------------------------------------------------------------
needs_data = pytest.mark.skipif(not SJZ.exists(), reason="needs /work/shared/data (Shijiazhuang counties)")


@needs_data
def test_real_counties_area_and_their_swapped_copy(tmp_path):
    truth = gpd.read_file(SJZ)
    area = sum(_geod_area_km2(shapely.make_valid(g)) for g in truth.geometry)
    units = AdminUnits.read(SJZ, "adcode")
    assert units.geodesic_areas().sum() / 1e6 == pytest.approx(area, rel=1e-3)  # control: ~14,065 km2
    swapped = truth.assign(geometry=truth.geometry.map(_swap))
    swapped.to_file(tmp_path / "swapped.json", driver="GeoJSON")
    with pytest.raises(InputError, match="swapped"):
        AdminUnits.read(tmp_path / "swapped.json", "adcode")


@needs_data
def test_real_counties_in_utm_labelled_4326(tmp_path):
    truth = gpd.read_file(SJZ)
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
    utm = truth.assign(geometry=truth.geometry.map(lambda g: shapely.transform(g, lambda c: np.column_stack(to_utm.transform(c[:, 0], c[:, 1])))))
    utm.set_crs("EPSG:4326", allow_override=True).to_file(tmp_path / "utm.gpkg")
    start = time.perf_counter()
    with pytest.raises(InputError, match="projected"):
        AdminUnits.read(tmp_path / "utm.gpkg", "adcode")
    assert time.perf_counter() - start < 10
    # the fix the message names: the same file with its right CRS gives the counties' area
    utm.set_crs("EPSG:32650", allow_override=True).to_file(tmp_path / "utm_ok.gpkg")
    area = sum(_geod_area_km2(shapely.make_valid(g)) for g in truth.geometry)
    assert AdminUnits.read(tmp_path / "utm_ok.gpkg", "adcode").geodesic_areas().sum() / 1e6 == pytest.approx(area, rel=2e-3)


# ---- a .cpg that declares the wrong encoding ----------------------------------------------------------------------
def test_cpg_saying_utf8_over_gbk_text(tmp_path):
    names = ["长安区", "桥西区"]
    gdf = gpd.GeoDataFrame({"name": names}, geometry=[box(114.0, 38.0, 114.1, 38.1), box(114.1, 38.0, 114.2, 38.1)], crs="EPSG:4326")
    shp = tmp_path / "sjz_gbk.shp"
    gdf.to_file(shp, encoding="gbk")
    (tmp_path / "sjz_gbk.cpg").write_text("UTF-8")
    assert "长安区".encode("gbk") in (tmp_path / "sjz_gbk.dbf").read_bytes()  # the DBF holds GBK bytes
    with pytest.raises(InputError) as err:
        AdminUnits.read(shp, "name", hierarchy="none", options={"encoding": "--encoding", "layer": "--layer"})
    msg = str(err.value)
    assert "UTF-8" in msg and ".cpg" in msg and "gbk" in msg and "长安区" in msg and "None" not in msg
    units = AdminUnits.read(shp, "name", hierarchy="none", encoding="gbk")
    assert sorted(units.codes) == sorted(names)


def test_bounds_helper_cases():
    from irrmap.core.vectors import check_degrees

    for bounds in [(-180, -90, 180, 90), (0, -10, 360, 10), (-360, 0, -300, 1)]:
        check_degrees(bounds, "EPSG:4326", "f", "x")  # degrees: nothing raised
    check_degrees((3e5, 4.2e6, 3.1e5, 4.3e6), "EPSG:32650", "f", "x")  # projected CRS: not checked
    check_degrees((3e5, 4.2e6, 3.1e5, 4.3e6), None, "f", "x")  # no CRS: the callers refuse it
    check_degrees((np.nan,) * 4, "EPSG:4326", "f", "x")  # no geometry
    with pytest.raises(InputError, match="swapped"):
        check_degrees((38, 113, 39, 115), "EPSG:4326", "f", "x")
    with pytest.raises(InputError, match="projected"):
        check_degrees((3e5, 4.2e6, 3.1e5, 4.3e6), "EPSG:4326", "f", "x")
