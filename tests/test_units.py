"""Admin units: hierarchy from codes, rasterization (hand cases, tile invariance, all Chinese counties)."""

from __future__ import annotations

import glob

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.core.errors import DataError
from irrmap.core.grid import Grid
from irrmap.core.units import SCHEMES, AdminUnits, normalise_codes


def _write_units(tmp_path, codes, boxes, name="units.gpkg"):
    gdf = gpd.GeoDataFrame({"code": codes}, geometry=[box(*b) for b in boxes], crs="EPSG:4326")
    path = tmp_path / name
    gdf.to_file(path)
    return path


def test_codes_are_normalised():
    fips, adcode = SCHEMES["us-fips"]["county"], SCHEMES["cn-adcode"]["county"]
    assert normalise_codes([1001, 1001.0, "1001", " 01001 "], fips).tolist() == ["01001"] * 4
    assert normalise_codes([130102], adcode).tolist() == ["130102"]
    assert normalise_codes([99], adcode).tolist() == ["99"]  # not padded into a fake valid code


def test_adcode_and_fips_hierarchy(tmp_path):
    p = _write_units(tmp_path, [130102, 130203, 140105], [(0, 0, 1, 1), (1, 0, 2, 1), (2, 0, 3, 1)])
    u = AdminUnits.read(p, "code", hierarchy="cn-adcode")
    assert u.levels == ("county", "city", "province")
    assert u.level_codes("city").tolist() == ["130100", "130200", "140100"]
    assert u.level_codes("province").tolist() == ["130000", "130000", "140000"]
    agg = u.aggregate(pd.Series([1.0, 2.0, np.nan], index=u.codes.values), "province")
    assert agg["130000"] == 3.0 and np.isnan(agg["140000"])
    p2 = _write_units(tmp_path, ["01001", "01003", "56045"], [(0, 0, 1, 1), (1, 0, 2, 1), (2, 0, 3, 1)], "us.gpkg")
    us = AdminUnits.read(p2, "code", hierarchy="us-fips")
    assert us.level_codes("state").tolist() == ["01", "01", "56"]


def test_parent_fields_hierarchy(tmp_path):
    gdf = gpd.GeoDataFrame({"id": ["a", "b"], "dist": ["D1", "D2"], "reg": ["R", "R"]},
                           geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1)], crs="EPSG:4326")
    gdf.to_file(tmp_path / "f.gpkg")
    u = AdminUnits.read(tmp_path / "f.gpkg", "id", hierarchy="fields", parent_fields={"district": "dist", "region": "reg"})
    assert u.levels == ("unit", "district", "region")
    assert u.level_codes("region").tolist() == ["R", "R"]


def test_bad_codes_are_named(tmp_path):
    p = _write_units(tmp_path, [130102, 130103, 99], [(0, 0, 1, 1), (1, 0, 2, 1), (2, 0, 3, 1)])
    with pytest.raises(DataError, match=r"1 codes are not 6-digit cn-adcode codes \(e.g. 99; rows 3\)"):
        AdminUnits.read(p, "code")
    assert AdminUnits.read(p, "code", hierarchy="none").codes.tolist() == ["130102", "130103", "99"]
    p = _write_units(tmp_path, [130102, 130102], [(0, 0, 1, 1), (1, 0, 2, 1)], "dup.gpkg")
    with pytest.raises(DataError, match=r"130102: rows 1, 2"):
        AdminUnits.read(p, "code")
    with pytest.raises(Exception, match="field 'adcode' not found"):
        AdminUnits.read(p, "adcode")


def test_drop_invalid_codes(tmp_path):
    p = _write_units(tmp_path, [130102, 99, 130103], [(0, 0, 1, 1), (1, 0, 2, 1), (2, 0, 3, 1)])
    u = AdminUnits.read(p, "code", invalid_codes="drop")
    assert u.codes.tolist() == ["130102", "130103"]


def test_rasterize_hand_case_and_tile_invariance(tmp_path):
    # two units: left square and right rectangle on a 0.1 deg grid of 4 x 6 pixels
    p = _write_units(tmp_path, [110101, 110102], [(0.0, 0.0, 0.2, 0.4), (0.2, 0.1, 0.5, 0.4)])
    grid = Grid.from_bounds(0.0, 0.0, 0.6, 0.4, 0.1, "EPSG:4326")
    u = AdminUnits.read(p, "code")
    zones = u.rasterize(grid, chunks=3).values
    expected = np.array([[1, 1, 2, 2, 2, 0],
                         [1, 1, 2, 2, 2, 0],
                         [1, 1, 2, 2, 2, 0],
                         [1, 1, 0, 0, 0, 0]])
    assert np.array_equal(zones, expected)
    assert np.array_equal(u.rasterize(grid, chunks=1000).values, zones)
    table = u.zone_table()
    assert table["zone"].tolist() == [1, 2] and table["code"].tolist() == ["110101", "110102"]


def _china_units(shared_data):
    files = sorted(glob.glob(str(shared_data / "admin" / "china" / "city_full" / "*.json")))
    return AdminUnits.read(files, "adcode", name_field="name")


def test_all_chinese_counties_on_a_province_grid(shared_data):
    u = _china_units(shared_data)
    assert len(u) == 2764
    # 34 provincial units less the 4 municipalities, Hong Kong, Macau and Taiwan (no city_full file)
    assert u.level_codes("province").nunique() == 27
    hebei = Grid.from_bounds(113.4, 36.0, 119.9, 42.7, 0.00225, "EPSG:4326")
    zones = u.rasterize(hebei, chunks=1024).values
    ids, counts = np.unique(zones[zones > 0], return_counts=True)
    codes = u.codes.values[ids - 1]
    hebei_codes = set(u.codes[u.level_codes("province") == "130000"])
    assert hebei_codes <= set(codes), "every Hebei county gets pixels"
    # gridded area of each Hebei county vs its ellipsoidal polygon area
    area = pd.Series(np.bincount(zones.ravel(), weights=np.asarray(hebei.pixel_area(), float).ravel())[ids], index=codes)
    poly = u.geodesic_areas()
    inner = [c for c in hebei_codes if poly[c] > 500 * 45_000]  # counties of > 500 pixels
    rel = (area[inner] / poly[inner] - 1).abs()
    assert rel.median() < 0.005 and rel.max() < 0.03
    assert abs(area[list(hebei_codes)].sum() / poly[list(hebei_codes)].sum() - 1) < 0.002


@pytest.mark.slow
def test_all_chinese_counties_on_the_china_grid(shared_data, tmp_path):
    import rasterio

    from irrmap.core.raster_write import write_raster
    from irrmap.core.zonal import zonal_area

    u = _china_units(shared_data)
    china = Grid.from_bounds(73.0, 18.0, 135.0, 54.0, 0.00225, "EPSG:4326")
    assert china.size > 440e6
    out = write_raster(tmp_path / "zones.tif", u.rasterize(china, chunks=2048), nodata=0, dtype="int32", cog=False)
    area = zonal_area(out, len(u))
    with rasterio.open(out) as src:
        assert src.shape == china.shape
    on_grid = np.flatnonzero(area[1:] > 0)
    poly = u.geodesic_areas().values
    missing = sorted(set(range(len(u))) - set(on_grid))
    # only units entirely south of 18 N (the South China Sea islands of Sansha, 460300) may be missing
    assert all(u.codes.iloc[i].startswith("4603") for i in missing), u.codes.iloc[missing].tolist()
    inside = u.table.geometry.bounds["miny"].values >= 18.0
    assert abs(area[1:][inside].sum() / poly[inside].sum() - 1) < 0.002
