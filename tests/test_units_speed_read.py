"""Reading many unit files at once (AdminUnits.read) and their geodesic areas, as `irrmap training thresholds`
reads the 362 files of the Chinese counties: every file opened once for its data (and once for its driver), CRSs
converted once per CRS, areas computed once per AdminUnits whatever asks for them. The truth is independent:
pyproj's Transformer and Geod, Python's json module on the GeoJSON text, and hand-set values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyogrio
import pyogrio.raw
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import box, mapping, shape
from shapely.geometry.polygon import orient

import irrmap.core.units as units_mod
from irrmap.core.statistics import read_statistics, scale_problem, validate_statistics
from irrmap.core.units import AdminUnits

GEOD = Geod(ellps="WGS84")
BOXES = {"110101": (116.0, 39.0, 116.2, 39.1), "110102": (116.2, 39.0, 116.4, 39.2), "130102": (114.4, 38.0, 114.6, 38.1)}


def _geojson(path, features, crs="EPSG:4326"):
    """A GeoJSON FeatureCollection (with a named CRS when not EPSG:4326) written by hand, not by the code under test."""
    doc = {"type": "FeatureCollection", "features": [{"type": "Feature", "properties": props, "geometry": mapping(geom)} for props, geom in features]}
    if crs != "EPSG:4326":
        doc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:{crs.replace(':', '::')}"}}
    path.write_text(json.dumps(doc))
    return path


def _geod_area(geom) -> float:
    """Ellipsoidal area by pyproj.Geod of each polygon part wound counter-clockwise, its lon/lat edges as drawn: cut to
    irrmap's documented 0.01 degree step (irrmap.core.polygons.DENSIFY_DEG) by shapely.segmentize."""
    parts = geom.geoms if geom.geom_type == "MultiPolygon" else [geom]
    return sum(GEOD.geometry_area_perimeter(orient(p.segmentize(0.01), 1.0))[0] for p in parts)


def test_files_in_other_crss_come_in_the_first_files_crs(tmp_path):
    to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True)
    merc = {c: shapely.transform(box(*b), lambda xy: np.column_stack(to_merc.transform(xy[:, 0], xy[:, 1]))) for c, b in BOXES.items()}
    files = [_geojson(tmp_path / "a.json", [({"adcode": 110101}, box(*BOXES["110101"]))]),
             _geojson(tmp_path / "b.json", [({"adcode": 110102}, merc["110102"])], crs="EPSG:3857"),
             _geojson(tmp_path / "c.json", [({"adcode": 130102}, box(*BOXES["130102"]))])]
    units = AdminUnits.read(files, "adcode")
    assert units.table.crs.to_epsg() == 4326
    assert units.codes.tolist() == ["110101", "110102", "130102"]  # file order: the zone ids
    for code, b in BOXES.items():
        got = units.table.set_index("code").geometry[code]
        assert got.bounds == pytest.approx(b, abs=1e-9)
        assert units.geodesic_areas()[code] == pytest.approx(_geod_area(box(*b)), rel=1e-9)
    # the projected file first: the others come in its CRS
    first_merc = AdminUnits.read([files[1], files[0]], "adcode")
    assert first_merc.table.crs.to_epsg() == 3857
    assert first_merc.table.geometry.iloc[1].bounds == pytest.approx(merc["110101"].bounds, rel=1e-12)


def test_a_geojson_file_is_opened_once_for_its_data_and_once_for_its_driver(tmp_path, monkeypatch):
    files = [_geojson(tmp_path / f"{c}.json", [({"adcode": int(c)}, box(*b))]) for c, b in BOXES.items()]
    calls = {"list_layers": 0, "read_info": 0, "read": 0}

    def counted(module, name):
        func = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] += 1
            return func(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    counted(pyogrio, "list_layers")
    counted(pyogrio, "read_info")
    counted(pyogrio.raw, "read")
    units = AdminUnits.read(files, "adcode")
    assert len(units) == 3
    assert calls == {"list_layers": 0, "read_info": 3, "read": 3}


def test_a_geopackage_without_a_layer_still_lists_its_layers(tmp_path):
    import geopandas as gpd

    from irrmap.core.errors import InputError

    frame = gpd.GeoDataFrame({"adcode": [110101]}, geometry=[box(*BOXES["110101"])], crs="EPSG:4326")
    frame.to_file(tmp_path / "u.gpkg", layer="counties")
    frame.to_file(tmp_path / "u.gpkg", layer="outline")
    with pytest.raises(InputError, match=r"2 layers: counties \(1 features, Polygon\), outline") as exc:
        AdminUnits.read(tmp_path / "u.gpkg", "adcode")
    assert "--units-layer" in str(exc.value)
    assert AdminUnits.read(tmp_path / "u.gpkg", "adcode", layer="outline").codes.tolist() == ["110101"]


def test_areas_are_computed_once_for_the_statistics_check(tmp_path, monkeypatch):
    files = [_geojson(tmp_path / "u.json", [({"adcode": int(c)}, box(*b)) for c, b in BOXES.items()])]
    units = AdminUnits.read(files, "adcode")
    runs = []
    original = units_mod.geodesic_areas
    monkeypatch.setattr(units_mod, "geodesic_areas", lambda geoms: runs.append(len(geoms)) or original(geoms))
    truth = {c: _geod_area(box(*b)) for c, b in BOXES.items()}
    (tmp_path / "s.csv").write_text("code,ha\n110101,100\n110102,200\n130102,50\n")
    stats = read_statistics(tmp_path / "s.csv", code_field="code", area_field="ha", area_unit="ha", level="county",
                            code_pattern=units.code_pattern("county"))
    report = validate_statistics(stats, units)
    assert not report.errors
    scale_problem(stats, units, pd.Series({c: a / 2 for c, a in truth.items()}))  # as `training thresholds` does after the split
    province = units.geodesic_areas("province")
    assert runs == [3]
    area = units.geodesic_areas()
    assert area.to_dict() == pytest.approx(truth, rel=1e-9)
    assert province.to_dict() == pytest.approx({"110000": truth["110101"] + truth["110102"], "130000": truth["130102"]}, rel=1e-9)
    area.iloc[0] = -1.0  # a caller's change to the returned series does not reach the next caller
    assert units.geodesic_areas().iloc[0] == pytest.approx(truth["110101"], rel=1e-9)
    assert runs == [3]


def test_china_counties_read_as_their_geojson_says(shared_data):
    files = sorted((shared_data / "admin" / "china" / "city_full").glob("*.json"))
    assert len(files) == 362
    units = AdminUnits.read(files, "adcode", name_field="name")
    codes, names, geoms = [], [], []
    for f in files:
        for feat in json.loads(f.read_text(encoding="utf-8"))["features"]:
            codes.append(str(feat["properties"]["adcode"]))
            names.append(feat["properties"]["name"])
            geoms.append(shape(feat["geometry"]))
    assert len(units) == len(codes) == 2764
    assert units.codes.tolist() == codes and units.table["name"].tolist() == names
    assert units.table.crs.to_epsg() == 4326
    valid = np.flatnonzero(shapely.is_valid(np.array(geoms, dtype=object)))
    assert len(valid) > 2500  # the repaired ones have other areas by design
    area = units.geodesic_areas().to_numpy()
    np.testing.assert_allclose(area[valid], [_geod_area(geoms[i]) for i in valid], rtol=1e-9)
    # the provinces' areas are the sums of their counties'
    prov = units.geodesic_areas("province")
    by_hand = pd.Series(area, index=[c[:2] + "0000" for c in codes]).groupby(level=0).sum()
    np.testing.assert_allclose(prov.reindex(by_hand.index).to_numpy(), by_hand.to_numpy(), rtol=1e-12)


def test_areas_have_the_bits_of_pyproj_geometry_area_perimeter():
    import geopandas as gpd

    from irrmap.core.units import geodesic_areas

    ring = [(100.0, 30.0), (101.5, 30.2), (101.0, 31.7), (100.2, 31.1)]
    hole = [(100.5, 30.5), (100.8, 30.6), (100.6, 30.9)]
    shapes = [shapely.Polygon(ring, [hole]), shapely.MultiPolygon([shapely.Polygon(ring, [hole]), box(102, 30, 102.3, 30.4)]),
              box(-70.0, -40.0, -69.0, -39.5), shapely.Polygon()]
    # Geod on the outlines cut to the documented 0.01 degree step (edges as drawn), wound counter-clockwise
    truth = [GEOD.geometry_area_perimeter(shapely.orient_polygons(shapely.segmentize(g, 0.01)))[0] if not g.is_empty else 0.0
             for g in shapes]
    got = geodesic_areas(gpd.GeoSeries(shapes, crs="EPSG:4326"))
    assert got.tolist() == truth and np.array_equal(got.view(np.int64), np.array(truth).view(np.int64))
    assert got[1] > got[0] > 0
