"""Every area a run reports is class 1 x the float cropland fraction x true pixel area, never fraction.tif's percent.

mapping/fraction.tif stores round(100 x f_crop) as uint8: a pixel of f = 0.0625 (4 of 64 sub-pixels) is stored as 6,
one of f = 0.004 as 0 (class 1 with no area). The per-unit table (mapping/irrigated_area_by_unit.csv), the run
report's statistics section and the 1 km product summed that percent: -0.11 % in all on the demo, up to 4 % for
a small unit. They now sum the filtered class map's irrigated pixels x the float cropland
(mapping.aggregate.irrigated_share), the same for all three. Truth: numpy sums of class x cropland x the pixel
areas of pyproj.Geod on a lon/lat grid (tests.geod_truth), by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.mapping.aggregate import aggregate_area, irrigated_share_map
from irrmap.mapping.unit_areas import irrigated_area_by_unit, irrigated_m2_by_unit
from tests.geod_truth import geodesic_row_areas

H, W, RES, X0, Y0 = 4, 4, 0.01, 110.0, 45.0
AREA = geodesic_row_areas(X0, Y0, RES, H)[:, None] * np.ones((1, W))  # m2 per pixel (WGS84 ellipsoid)
# unit 1: the west half, unit 2: the east half; both in one city
ZONES = np.where(np.arange(W)[None, :] < 2, 1, 2).repeat(H, 0).astype(np.int32)
CROP = np.array([[0.0625, 0.0625, 0.004, 0.004],
                 [0.5, 0.33, 0.004, 0.9],
                 [0.995, 0.125, 0.0, np.nan],
                 [0.7, 0.2, 0.3, 0.6]], np.float32)
CLS = np.array([[1, 1, 1, 1],
                [1, 0, 1, 0],
                [1, 1, 255, 255],
                [255, 1, 0, 1]], np.uint8)  # 255: no cropland, or (row 3, col 0) a crop pixel left unpredicted
UNITS = pd.DataFrame({"zone": [1, 2], "code": ["130101", "130102"], "city": ["130100", "130100"], "name": ["A", "B"]})


def _write(path, arr, nodata):
    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype=arr.dtype, crs="EPSG:4326",
                       transform=from_origin(X0, Y0, RES, RES), nodata=nodata) as dst:
        dst.write(arr, 1)
    return path


@pytest.fixture
def run(tmp_path):
    pct = np.where(CLS == 1, np.rint(np.nan_to_num(CROP) * 100), np.where(CLS == 255, 255, 0)).astype(np.uint8)  # as mapping.filter
    return {"zones": _write(tmp_path / "zones.tif", ZONES, 0), "crop": _write(tmp_path / "crop.tif", CROP, None),
            "cls": _write(tmp_path / "class.tif", CLS, 255), "frac": _write(tmp_path / "fraction.tif", pct, 255), "pct": pct}


def _hand_m2() -> np.ndarray:
    """(H, W) m2: class 1 x float cropland x Geod pixel area."""
    return np.where(CLS == 1, np.nan_to_num(CROP.astype(np.float64)), 0.0) * AREA


def _da(arr) -> xr.DataArray:
    g = Grid("EPSG:4326", from_origin(X0, Y0, RES, RES), H, W)
    return xr.DataArray(arr, dims=("y", "x"), coords=g.coords()).rio.write_crs(g.crs).rio.write_transform(g.transform)


def test_unit_table_sums_class_times_float_cropland(run):
    hand = _hand_m2()
    df = irrigated_area_by_unit(run["cls"], run["zones"], UNITS, ["county", "city"], cropland=run["crop"])
    county = df[df["level"] == "county"].set_index("code")["irrigated_area_ha"]
    city = df[df["level"] == "city"].set_index("code")["irrigated_area_ha"]
    assert county["130101"] == pytest.approx(hand[ZONES == 1].sum() / 1e4, rel=1e-8)
    assert county["130102"] == pytest.approx(hand[ZONES == 2].sum() / 1e4, rel=1e-8)
    assert city["130100"] == pytest.approx(hand.sum() / 1e4, rel=1e-8)
    # unit 2's class-1 pixels of f = 0.004 count 0.004 of their area (fraction.tif stores them as 0 %)
    assert hand[0, 2] == pytest.approx(0.004 * AREA[0, 2], rel=1e-6) and run["pct"][0, 2] == 0
    # what the old table summed (fraction.tif / 100) is off by more than 1e-3 in unit 2: the test tells them apart
    old = np.where(run["pct"] == 255, 0, run["pct"] / 100) * AREA
    assert abs(old[ZONES == 2].sum() - hand[ZONES == 2].sum()) / hand[ZONES == 2].sum() > 1e-3
    # the unpredicted crop pixel (class 255, cropland 0.7) is in its own column, not in the mapped area
    unpredicted = df[df["level"] == "county"].set_index("code")["unpredicted_cropland_ha"]
    assert unpredicted["130101"] == pytest.approx(0.7 * AREA[3, 0] / 1e4, rel=1e-6)
    assert unpredicted["130102"] == 0


def test_cropland_as_a_dataarray_gives_the_same_areas(run):
    by_path = irrigated_m2_by_unit(run["cls"], run["crop"], run["zones"], UNITS)
    by_array = irrigated_m2_by_unit(run["cls"], _da(CROP).chunk(2), run["zones"], UNITS)
    np.testing.assert_allclose(by_array.to_numpy(), by_path.to_numpy(), rtol=1e-12)
    assert by_path["130101"] == pytest.approx(_hand_m2()[ZONES == 1].sum(), rel=1e-8)


def test_1km_product_sums_the_same_share(run):
    hand = _hand_m2()
    crop = _da(CROP).chunk(2)
    share = irrigated_share_map(_da(CLS).chunk(2), crop)
    km = aggregate_area(share, 2, scale=1.0, nodata=None, domain=crop.notnull()).values
    expected = hand.reshape(2, 2, 2, 2).sum(axis=(1, 3))  # m2 per 2 x 2 block
    np.testing.assert_allclose(km, expected, rtol=1e-8)
    table = irrigated_m2_by_unit(run["cls"], run["crop"], run["zones"], UNITS)
    assert np.nansum(km) == pytest.approx(table.sum(), rel=1e-8)  # the 1 km product and the table agree


def test_fraction_map_in_place_of_the_class_map_is_refused(run):
    with pytest.raises(InputError, match="class map") as e:
        irrigated_m2_by_unit(run["frac"], run["crop"], run["zones"], UNITS)
    assert "fraction.tif" in str(e.value) and str(run["frac"]) in str(e.value)


def test_percent_cropland_is_refused(run, tmp_path):
    pct_crop = _write(tmp_path / "crop_pct.tif", np.nan_to_num(CROP) * 100, None)
    with pytest.raises(InputError, match="cropland"):  # would give 100 x the area
        irrigated_m2_by_unit(run["cls"], pct_crop, run["zones"], UNITS)
