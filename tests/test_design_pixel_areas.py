"""Design-based areas on a geographic grid: each stratum's area is the sum of its pixels' true areas, not its pixel
count times one mean pixel area (evaluation.design_areas).

Truth: pyproj.Geod areas of each 0.25 deg pixel (edges densified to follow the parallels), summed over the class's
pixels; hand-computed ratio estimates for strata that are not map classes.
"""

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.design import SampleDesign, design_accuracy
from irrmap.evaluation.workflow import points_accuracy
from pyproj import Geod
from rasterio.transform import from_origin
from shapely.geometry import Point

RES, W, H = 0.25, 8, 240  # 0.25 deg, 8 columns, 70 N to 10 N (probe's geo_map.tif)


def _geod_cell_ha(lat0: float, lat1: float) -> float:
    """Area (ha) of a 0.25 x 0.25 deg cell between two parallels, by pyproj.Geod with edges densified along them."""
    lons = np.linspace(100.0, 100.0 + RES, 200)
    lo = list(lons) + list(lons[::-1])
    la = [lat0] * len(lons) + [lat1] * len(lons)
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lo, la)[0]) / 1e4


def _geod_rows_ha(rows) -> float:
    return sum(_geod_cell_ha(70 - RES * (r + 1), 70 - RES * r) for r in rows) * W


def _map(tmp_path, crs="EPSG:4326", origin=(100.0, 70.0), res=RES):
    """Rows 0-79 class 0 ('north', 70-50 N), 80-159 nodata, 160-239 class 1 ('south', 30-10 N)."""
    a = np.full((H, W), 255, dtype=np.uint8)
    a[:80] = 0
    a[160:] = 1
    path = tmp_path / "geo_map.tif"
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=1, dtype="uint8", crs=crs, nodata=255,
                       transform=from_origin(*origin, res, res)) as ds:
        ds.write(a, 1)
    return path


def _points(tmp_path, crs="EPSG:4326", origin=(100.0, 70.0), res=RES):
    """40 points per stratum at distinct pixel centres, labels = map, inclusion probability 40/640."""
    rows = []
    for name, r0, label in (("north", 0, 0), ("south", 160, 1)):
        for i in range(40):
            r, c = r0 + 2 * i, i % W
            rows.append({"label": label, "stratum": name, "incl": 40 / 640,
                         "geometry": Point(origin[0] + res * (c + 0.5), origin[1] - res * (r + 0.5))})
    path = tmp_path / "geo_pts.gpkg"
    gpd.GeoDataFrame(rows, crs=crs).to_file(path)
    return path


def _mean_pixel_ha(map_path):
    from irrmap.evaluation.workflow import map_grid

    g = map_grid(map_path)
    return g.total_area() / g.size / 1e4


def test_geographic_strata_areas_are_sums_of_true_pixel_areas(tmp_path):
    """The probe's case: the old code gave both classes 640 x 56548.75 ha = 36,191,200 ha."""
    m, p = _map(tmp_path), _points(tmp_path)
    design = SampleDesign("stratum", inclusion_field="incl", unit_area_ha=_mean_pixel_ha(m))
    r = points_accuracy(m, p, "label", design=design)
    d = r.to_dict()["design_based"]
    south, north = _geod_rows_ha(range(160, 240)), _geod_rows_ha(range(80))
    assert d["area_ha"]["irrigated"] == pytest.approx(south, rel=1e-7)
    assert d["area_ha"]["not_irrigated"] == pytest.approx(north, rel=1e-7)
    strata = pd.DataFrame(d["strata"]).set_index("stratum")
    assert strata.loc["south", "weight"] == pytest.approx(south / (south + north), rel=1e-7)  # W_h = A_h / A
    assert d["design"]["area_unit"] == "ha"


def test_equal_area_grid_keeps_pixel_count_times_pixel_area(tmp_path):
    """EPSG:6933 (equal-area): every pixel has one area, so areas stay N_h x frame pixel area, as before."""
    origin, res = (0.0, 7_000_000.0), 25_000.0
    m, p = _map(tmp_path, "EPSG:6933", origin, res), _points(tmp_path, "EPSG:6933", origin, res)
    r = points_accuracy(m, p, "label", design=SampleDesign("stratum", inclusion_field="incl", unit_area_ha=res * res / 1e4))
    d = r.to_dict()["design_based"]
    assert d["design"]["area_unit"] == "frame_pixels"
    assert d["area_ha"]["irrigated"] == pytest.approx(640 * res * res / 1e4, rel=1e-12)
    assert d["area_ha"]["not_irrigated"] == pytest.approx(640 * res * res / 1e4, rel=1e-12)


def test_frame_of_other_pixels_keeps_its_one_pixel_area(tmp_path):
    """A frame pixel area unlike the map's mean (a frame of other pixels) scales the counts, as documented."""
    m, p = _map(tmp_path), _points(tmp_path)
    r = points_accuracy(m, p, "label", design=SampleDesign("stratum", inclusion_field="incl", unit_area_ha=100.0))
    d = r.to_dict()["design_based"]
    assert d["area_ha"]["irrigated"] == pytest.approx(640 * 100.0)


def test_region_strata_use_ratio_estimate_of_mean_pixel_area():
    """Strata that are not map classes: A_h = N_h x sum(a_k/pi_k) / sum(1/pi_k), by hand."""
    from irrmap.evaluation.design_areas import PixelAreas, stratum_areas

    s = pd.DataFrame({"map": [1, 0, 1, 0], "reference": [1, 0, 0, 0], "zone": ["a", "a", "b", "b"], "p": [0.1, 0.2, 0.5, 0.5]})
    a = np.array([10.0, 20.0, 30.0, 50.0])
    sizes = pd.Series({"a": 15.0, "b": 4.0})
    areas, wa = stratum_areas(sizes, s["zone"].to_numpy(), 1 / s["p"].to_numpy(), PixelAreas(a, {}))
    assert areas["a"] == pytest.approx(15 * (10 / 0.1 + 20 / 0.2) / (1 / 0.1 + 1 / 0.2))
    assert areas["b"] == pytest.approx(4 * 40.0)
    np.testing.assert_allclose(wa, a / s["p"].to_numpy())
    d = design_accuracy(s, SampleDesign("zone", inclusion_field="p"), pixel_areas=PixelAreas(a, {}))
    # reference irrigated: stratum a's area-weighted share (10/0.1) / (10/0.1 + 20/0.2) = 0.5, stratum b none
    assert d.estimate.area[1] == pytest.approx(areas["a"] * 0.5)
    assert d.area_unit == "ha"
