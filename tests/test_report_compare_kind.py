"""`evaluate report --map-kind percent ... --compare B --units U` reads map A per unit as --map-kind says (a probe:
exit 2 "map A: values reach 100, more than a fraction of 1", the comparison reading A as fractions whatever
--map-kind). Hand truth: A holds 50 % on 49 pixels and 100 % on 1 of the 50 pixels B maps irrigated, so A's unit
areas sum to 25.5 / 50 = 0.51 of B's (equal-area pixels up to the UTM scale factor's change over 10 rows)."""

import json

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import main


def test_report_compare_reads_map_a_as_its_kind(tmp_path):
    a = np.zeros((10, 10), "float32")
    a[:, :5] = 50
    a[0, 0] = 100
    b = (a > 0).astype("uint8")
    for name, arr in (("A.tif", a), ("B.tif", b)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=10, height=10, count=1, dtype=arr.dtype.name,
                           crs="EPSG:32614", transform=from_origin(500000, 4000000, 250, 250),
                           nodata=255 if arr.dtype == np.uint8 else None) as dst:
            dst.write(arr, 1)
    gpd.GeoDataFrame({"code": ["w", "e"]}, geometry=[box(500000, 3997500, 501250, 4000000), box(501250, 3997500, 502500, 4000000)],
                     crs="EPSG:32614").to_file(tmp_path / "u.gpkg")
    code = main(["-q", "evaluate", "report", str(tmp_path / "A.tif"), "--map-kind", "percent", "--threshold", "0",
                 "--units", str(tmp_path / "u.gpkg"), "--unit-field", "code", "--hierarchy", "none",
                 "--compare", str(tmp_path / "B.tif"), "--out", str(tmp_path / "rep")])
    assert code == 0
    c = json.loads((tmp_path / "rep" / "results.json").read_text())["comparisons"][0]
    u = c["unit_areas"]
    assert u["sum_reference"] / u["sum_mapped"] == pytest.approx(25.5 / 50, rel=1e-4)
    assert c["irrigated_area_a_m2"] == pytest.approx(c["irrigated_area_b_m2"])  # binarised at > 0: the same 50 pixels
