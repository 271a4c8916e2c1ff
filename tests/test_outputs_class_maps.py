"""Analyst-facing outputs of the mapping stage, checked with GDAL's own tools and hand-computed values:
the class map separates "no cropland" (nodata) from "cropland, not irrigated" (0) and carries a colour table
(gdalinfo -json), the 1 km area product is float32, and the per-unit area table sums class 1 x cropland by hand."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from irrmap.core import palettes
from irrmap.core.grid import Grid
from irrmap.mapping.aggregate import aggregate_to_file
from irrmap.mapping.filter import filter_to_files
from irrmap.mapping.unit_areas import irrigated_area_by_unit

GRID = Grid.from_bounds(500_000, 4_000_000, 500_000 + 12 * 100, 4_000_000 + 8 * 100, 100, "EPSG:32648")
# true ground area of a 100 m UTM pixel on the central meridian (easting 500 km): the map area over the areal
# scale k0^2, k0 = 0.9996 (Snyder 1987, Map Projections - A Working Manual, p. 57); 1.2 km off it k changes by 2e-8
PIXEL_M2 = 100 * 100 / 0.9996**2


def _da(values):
    return xr.DataArray(values, dims=("y", "x"), coords=GRID.coords()).rio.write_crs(GRID.crs).rio.write_transform(GRID.transform)


def _gdalinfo(path) -> dict:
    return json.loads(subprocess.run(["gdalinfo", "-json", str(path)], check=True, capture_output=True, text=True).stdout)


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    out = tmp_path_factory.mktemp("class_maps")
    cls = np.zeros(GRID.shape, np.uint8)
    cls[2:6, 3:9] = 1  # a 4 x 6 irrigated block (dense enough to survive the 7x7 rule)
    crop = np.full(GRID.shape, 0.5, np.float32)
    crop[:, 0] = 0.0  # a column without cropland
    crop[0, 11] = np.nan  # cropland unknown
    paths = filter_to_files(_da(cls), _da(crop), out, cog=True)
    return out, paths, cls, crop


def test_class_map_no_cropland_is_nodata_not_zero(maps):
    _, paths, _, crop = maps
    with rasterio.open(paths["class"]) as src:
        got = src.read(1)
        assert src.nodata == 255 and src.dtypes[0] == "uint8"
    no_crop = ~(np.nan_to_num(crop) > 0)
    assert (got[no_crop] == 255).all()
    crop_px = ~no_crop
    assert set(np.unique(got[crop_px])) == {0, 1}
    assert got[3, 5] == 1 and got[7, 5] == 0  # inside the block; cropland outside it


def test_class_map_carries_the_irrigation_colour_table(maps):
    _, paths, _, _ = maps
    band = _gdalinfo(paths["class"])["bands"][0]
    assert band["colorInterpretation"] == "Palette"
    entries = band["colorTable"]["entries"]
    assert entries[0][:3] == list(palettes.NOT_IRRIGATED[:3]) and entries[1][:3] == list(palettes.IRRIGATED[:3])
    assert "colorTable" not in _gdalinfo(paths["fraction"])["bands"][0]  # a percent map, not classes


def test_area_product_is_float32_with_the_hand_sum(maps, tmp_path):
    _, paths, _, _ = maps
    with rasterio.open(paths["fraction"]) as src:
        frac = src.read(1).astype(float)
        fraction = _da(src.read(1))
    out = aggregate_to_file(fraction, tmp_path / "km.tif", factor=4)
    assert _gdalinfo(out)["bands"][0]["type"] == "Float32"
    with rasterio.open(out) as src:
        km = src.read(1).astype(float)
    expected = np.where(frac == 255, 0, frac / 100 * PIXEL_M2).reshape(2, 4, 3, 4).sum(axis=(1, 3))  # m2 per 4x4 block
    np.testing.assert_allclose(km, expected, rtol=1e-6)


def test_area_per_unit_and_level(tmp_path):
    # two counties (left / right half) in one city; irrigated (class 1) with cropland 0.5 on 6 pixels of county 1, 1.0 on 2 of county 2
    zones = np.zeros(GRID.shape, np.int32)
    zones[:, :6], zones[:, 6:] = 1, 2
    cls = np.zeros(GRID.shape, np.uint8)
    crop = np.zeros(GRID.shape, np.float32)
    cls[0, :6], crop[0, :6] = 1, 0.5
    cls[1, 6:8], crop[1, 6:8] = 1, 1.0
    cls[7, 11] = 255  # nodata counts as 0
    for name, arr, nd in (("zones.tif", zones, 0), ("class.tif", cls, 255), ("crop.tif", crop, None)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=12, height=8, count=1, dtype=arr.dtype, crs=GRID.crs,
                           transform=from_origin(500_000, 4_000_800, 100, 100), nodata=nd) as dst:
            dst.write(arr, 1)
    units = pd.DataFrame({"zone": [1, 2], "code": ["110101", "110102"], "city": ["110100", "110100"], "name": ["A", "B"]})
    stats = pd.Series({"110101": 40_000.0, "110102": 10_000.0})  # m2
    df = irrigated_area_by_unit(tmp_path / "class.tif", tmp_path / "zones.tif", units, ["county", "city"], stats, "county",
                                cropland=tmp_path / "crop.tif")
    county = df[df["level"] == "county"].set_index("code")
    ha = PIXEL_M2 / 1e4
    assert county.loc["110101", "irrigated_area_ha"] == pytest.approx(6 * 0.5 * ha, rel=1e-7)
    assert county.loc["110102", "irrigated_area_ha"] == pytest.approx(2 * ha, rel=1e-7)
    assert county.loc["110101", "statistic_ha"] == 4.0
    assert county.loc["110101", "difference_ha"] == pytest.approx(3 * ha - 4.0, rel=1e-6)
    assert county.loc["110101", "name"] == "A"
    city = df[df["level"] == "city"].set_index("code")
    assert city.loc["110100", "irrigated_area_ha"] == pytest.approx(5 * ha, rel=1e-7)
    # both counties are whole (no on_grid_share: no cut) and both have a statistic: the city's is their sum (4 + 1 ha);
    # before, every coarser level was left empty (a city with a cut county or one without a statistic still is)
    assert city.loc["110100", "statistic_ha"] == pytest.approx(5.0)
    assert city.loc["110100", "coverage"] == "whole" and city.loc["110100", "statistic_on_grid_ha"] == pytest.approx(5.0)
