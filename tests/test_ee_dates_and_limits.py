"""[sources.ee] dates, reduceResolution limits and catalogue options, offline (ee.apitestcase and the replay).

Truth: the Earth Engine Data Catalog pages (IDAHO_EPSCOR/TERRACLIMATE "1958-01-01 - 2024-12-01", cadence 1 month;
COPERNICUS/S2_SR "WARNING: 2017-2018 L2 coverage in the EE collection is not yet global"), a fixed today
(2026-12-02), pyproj counts of the source pixels one grid pixel touches, and hand-computed means.
"""

from __future__ import annotations

import datetime
import json
import logging
import math

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer

from irrmap.app.cli import main
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError, IrrmapError
from irrmap.core.grid import Grid
from irrmap.sources.ee.catalog import CATALOG, check_availability, dataset_from_config
from irrmap.sources.ee.plan import plan_from_config
from tests.ee_offline import offline_ee
from tests.run_config import write_run_config
from tests.test_ee_graphs import _calls  # the invocations of a function in a serialised graph

TODAY = datetime.date(2026, 12, 2)


def check_dates(*args, **kw):
    # imported here, not at the top: without the module the other tests still run
    from irrmap.sources.ee.dates import check_dates as check

    return check(*args, **kw)


def _years(year: int) -> tuple[str, str]:
    return f"{year}-01-01", f"{year + 1}-01-01"


# ---- 1. TerraClimate ends 2024-12 (the month of 2024-12-01) --------------------------------------------------
@pytest.mark.parametrize("start, end", [("2024-07-01", "2025-07-01"), _years(2025), ("2024-12-01", "2025-01-02")])
def test_terraclimate_past_its_last_month_is_refused(start, end):
    for name in ("terraclimate_precipitation", "terraclimate_pet"):
        with pytest.raises(ConfigError) as err:
            check_availability(CATALOG[name], start, end)
        assert "to 2024-12-01 (the month of that date)" in str(err.value) and "2025-01-01 (end excluded)" in err.value.fix


@pytest.mark.parametrize("start, end", [_years(2024), ("2024-12-01", "2025-01-01"), ("1958-01-01", "1959-01-01")])
def test_terraclimate_within_its_months_passes(start, end):
    check_availability(CATALOG["terraclimate_precipitation"], start, end)


def test_terraclimate_half_covered_year_is_not_summed_silently(tmp_path):
    """Before: 2024-07 .. 2025-07 was planned and its sum was that of 6 months."""
    with pytest.raises(ConfigError, match="terraclimate_precipitation"):
        _plan(tmp_path, 'start = "2024-07-01"\nend = "2025-07-01"\ndatasets = ["terraclimate_precipitation"]')


# ---- 2. dates against today -------------------------------------------------------------------------------
def test_a_future_year_is_refused_for_every_dataset():
    for names in (["srtm"], ["mod13q1", "landsat8"]):
        with pytest.raises(ConfigError) as err:
            check_dates([CATALOG[n] for n in names], *_years(2031), today=TODAY)
        assert "2031-01-01, after today (2026-12-02)" in str(err.value) and "year = 2025" in err.value.fix


def test_the_current_year_is_refused_for_composites_only():
    with pytest.raises(IrrmapError) as err:
        check_dates([CATALOG["mod13q1"], CATALOG["srtm"]], *_years(2026), today=TODAY)
    msg = str(err.value)
    assert "ends after today (2026-12-02)" in msg and "'mod13q1'" in msg and "'srtm'" not in msg and "year = 2025" in msg
    check_dates([CATALOG["srtm"], CATALOG["worldcover"]], *_years(2026), today=TODAY)  # single images: dates unused
    check_dates([CATALOG["mod13q1"]], "2026-01-01", "2026-12-02", today=TODAY)  # end excluded: up to yesterday


def test_the_cli_refuses_a_future_year_in_one_line(tmp_path, capsys):
    cfg = write_run_config(tmp_path, '[sources.ee]\nproject = "p"\nyear = 2099\ndatasets = ["srtm"]')
    assert main(["fetch", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "after today" in err and "Traceback" not in err and "fix:" in err


# ---- 3. reduceResolution's maxPixels bounds the source pixels a grid pixel touches -------------------------------
def _touched(out_crs, x0, y0, res, native_crs, native_res) -> int:
    """Source pixels whose cells meet the bounding box, in the source CRS, of one grid pixel (its edges sampled)."""
    t = Transformer.from_crs(out_crs, native_crs, always_xy=True)
    pts = [t.transform(x0 + i * res / 10, y0 - j * res / 10) for i in range(11) for j in range(11) if i in (0, 10) or j in (0, 10)]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    nx = math.floor(max(xs) / native_res) - math.floor(min(xs) / native_res) + 1
    ny = math.floor(max(ys) / native_res) - math.floor(min(ys) / native_res) + 1
    return nx * ny


def _utm_grid(lon, lat, zone, res=250.0, n=100):
    x, y = Transformer.from_crs(4326, f"EPSG:326{zone:02d}", always_xy=True).transform(lon, lat)
    return Grid(f"EPSG:326{zone:02d}", Affine(res, 0, x, 0, -res, y), n, n), x, y


DEGREE_SOURCES = {"srtm": 1 / 3600, "jrc_gsw": 0.00025, "worldcover": 1 / 12000}


@pytest.mark.parametrize("lon, lat, zone", [(-100.9, 38.0, 14), (15.0, 50.0, 33), (25.0, 60.0, 35), (-97.5, 58.0, 14)])
@pytest.mark.parametrize("name", sorted(DEGREE_SOURCES))
def test_max_pixels_covers_degree_sources_away_from_the_equator(name, lon, lat, zone):
    from irrmap.sources.ee.graphs import max_pixels

    grid, x, y = _utm_grid(lon, lat, zone)
    # the grid's poleward pixel: its top-left corner, y at the top edge
    need = _touched(grid.crs, x, y, 250.0, "EPSG:4326", DEGREE_SOURCES[name])
    assert max_pixels(CATALOG[name], grid) >= need
    assert math.ceil((250 / CATALOG[name].native_scale_m + 1) ** 2) < need  # the old bound: too small


def test_max_pixels_on_a_degree_grid_at_55n():
    from irrmap.sources.ee.graphs import max_pixels

    grid = Grid("EPSG:4326", Affine(0.0025, 0, 10.0, 0, -0.0025, 56.0), 400, 400)
    assert max_pixels(CATALOG["worldcover"], grid) >= _touched("EPSG:4326", 10.0, 56.0, 0.0025, "EPSG:4326", 1 / 12000)


@pytest.mark.parametrize("zone", [11, 12, 13, 14, 15, 17])
def test_max_pixels_covers_landsat_scenes_of_other_utm_zones(zone):
    from irrmap.sources.ee.graphs import max_pixels

    grid, x, y = _utm_grid(-100.9, 38.0, 14)
    assert max_pixels(CATALOG["landsat8"], grid) >= _touched(grid.crs, x, y, 250.0, f"EPSG:326{zone:02d}", 30.0)


def test_max_pixels_stays_within_earth_engines_limit():
    from irrmap.sources.ee.graphs import max_pixels

    grid, _, _ = _utm_grid(-100.9, 38.0, 14, res=10_000.0, n=10)
    assert max_pixels(CATALOG["worldcover"], grid) == 65535


# ---- 4. the composites' default projection is the grid's CRS at the native scale ---------------------------------
def _deref(graph, node):
    while "valueReference" in node:
        node = graph["values"][node["valueReference"]]
    return node


@pytest.mark.parametrize("name, scale", [("landsat8", 30.0), ("landsat5", 30.0), ("sentinel2", 10.0)])
def test_default_projection_is_the_grid_crs_not_a_first_scene(name, scale):
    from irrmap.sources.ee.graphs import build_images

    grid, _, _ = _utm_grid(-100.9, 38.0, 14)
    with offline_ee() as ee:
        images = build_images(CATALOG[name], start="2019-01-01", end="2020-01-01", grid=grid)
        graph = json.loads(ee.serializer.toJSON(next(iter(images.values()))))
    assert _calls(graph, "Collection.first") == []  # before: the first scene anywhere on Earth
    [call] = _calls(graph, "Image.setDefaultProjection")
    at = _deref(graph, call["crs"])["functionInvocationValue"]
    assert at["functionName"] == "Projection.atScale" and at["arguments"]["meters"]["constantValue"] == scale
    proj = _deref(graph, at["arguments"]["projection"])["functionInvocationValue"]
    assert proj["functionName"] == "Projection" and proj["arguments"]["crs"]["constantValue"] == "EPSG:32614"


# ---- 5. fill values and valid range of custom entries --------------------------------------------------------
MOD44B = {"collection": "MODIS/061/MOD44B", "bands": ["Percent_Tree_Cover"], "outputs": ["tree_cover"], "reducer": "mean",
          "fill_values": [200, 253], "valid_range": [0, 100]}


def test_fill_values_and_valid_range_are_masked_before_the_mean():
    from irrmap.sources.ee.graphs import build_images
    from irrmap.sources.ee.replay import RImage, replay

    ds = dataset_from_config("vcf", MOD44B)
    assert ds.fill_values == (200, 253) and ds.valid_range == (0, 100)
    grid = Grid("EPSG:32614", Affine(250.0, 0, 500000.0, 0, -250.0, 4300000.0), 2, 2)
    years = [RImage.of({"Percent_Tree_Cover": np.array(v, float)}, grid, date=d) for v, d in
             (([[50, 200], [253, 30]], "2019-03-06"), ([[70, 200], [10, 140]], "2019-06-10"))]
    with offline_ee() as ee:
        img = build_images(ds, start="2019-01-01", end="2020-01-01", grid=grid)["tree_cover"]
        got = replay(json.loads(ee.serializer.toJSON(img)), {"MODIS/061/MOD44B": years}, grid).bands["tree_cover"]
    # hand: (50 + 70) / 2; both 200 (water) -> nodata; 253 (fill) dropped -> 10; 140 (> 100) dropped -> 30
    np.testing.assert_allclose(got, [[60.0, -9999.0], [10.0, 30.0]])


def test_class_share_leaves_fill_pixels_out():
    from irrmap.sources.ee.graphs import build_images
    from irrmap.sources.ee.replay import RImage, replay

    ds = dataset_from_config("crop", {"base": "worldcover", "fill_values": [0]})
    grid = Grid("EPSG:32614", Affine(250.0, 0, 500000.0, 0, -250.0, 4300000.0), 1, 2)
    with offline_ee() as ee:
        img = build_images(ds, start="2021-01-01", end="2022-01-01", grid=grid)["cropland"]
        graph = json.loads(ee.serializer.toJSON(img))
    src = RImage.of({"Map": np.array([[40.0, 0.0]])}, grid)
    got = replay(graph, {"ESA/WorldCover/v200/2021": src}, grid).bands["cropland"]
    np.testing.assert_allclose(got, [[1.0, -9999.0]])  # the fill pixel is no "not cropland"


@pytest.mark.parametrize("key, value, fix", [
    ("scale", "0.01", "write scale = 0.01, without quotes"),
    ("scale", True, "give a TOML number"),
    ("offset", "x", "e.g. offset = 0.0"),
    ("native_scale_m", 0, "(> 0)"),
    ("nodata", "-9999", "write nodata = -9999, without quotes"),
    ("fill_values", ["200"], "fill_values = [200, 253]"),
    ("valid_range", [100, 0], "low <= high"),
    ("valid_range", [0], "valid_range = [0, 100]"),
])
def test_non_numbers_name_the_key_and_how_to_write_it(key, value, fix):
    with pytest.raises(ConfigError) as err:
        dataset_from_config("vcf", {**MOD44B, key: value})
    assert err.value.where == f"sources.ee.catalog.vcf.{key}" and fix in err.value.fix


def test_class_codes_must_be_integers():
    with pytest.raises(ConfigError) as err:
        dataset_from_config("crop", {"base": "worldcover", "classes": ["40"]})
    assert err.value.where == "sources.ee.catalog.crop.classes" and "without quotes" in err.value.fix


def test_request_keys_of_entries_without_the_new_keys_are_unchanged():
    from irrmap.sources.ee.plan import request_key

    grid = Grid("EPSG:32614", Affine(250.0, 0, 500000.0, 0, -250.0, 4300000.0), 2, 2)
    ds = CATALOG["mod13q1"]
    same = dataset_from_config("mod13q1", {"base": "mod13q1", "fill_values": [], "valid_range": None})
    assert request_key(ds, "ndvi_max", "2019-01-01", "2020-01-01", grid, 256, None) == \
        request_key(same, "ndvi_max", "2019-01-01", "2020-01-01", grid, 256, None)
    vcf = dataset_from_config("mod13q1", {"base": "mod13q1", "fill_values": [200]})
    assert request_key(vcf, "ndvi_max", "2019-01-01", "2020-01-01", grid, 256, None) != \
        request_key(ds, "ndvi_max", "2019-01-01", "2020-01-01", grid, 256, None)


# ---- 6. Sentinel-2 L2A before 2019 is warned about -------------------------------------------------------------
def test_sentinel2_2017_2018_warns_that_coverage_is_not_global(caplog):
    with caplog.at_level(logging.WARNING):
        check_dates([CATALOG["sentinel2"]], *_years(2018), today=TODAY)
    assert any("not yet global" in r.getMessage() and "'sentinel2'" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_dates([CATALOG["sentinel2"], CATALOG["landsat8"]], *_years(2019), today=TODAY)
    assert not caplog.records


# ---- 7. a region across the antimeridian ----------------------------------------------------------------------
def _plan(tmp_path, ee):
    loaded = load_config(write_run_config(tmp_path, f"[sources.ee]\n{ee}"))
    return plan_from_config(loaded, loaded.grid())


def test_a_box_past_180_names_the_limit_and_the_polygon_file_fix(tmp_path):
    with pytest.raises(IrrmapError) as err:
        _plan(tmp_path, 'year = 2015\ndatasets = ["srtm"]\nregion = [179.5, -17.5, 180.5, -16.5]')
    msg = str(err.value)
    assert "-180 <= west < east <= 180" in msg and "polygon file" in msg and "[-180, south, east - 360, north]" in msg


def test_the_polygon_file_fix_works_across_the_antimeridian(tmp_path):
    """Two boxes either side of 180 deg on a grid in UTM 60S / 1S's neighbour (EPSG:3832, PDC Mercator): one
    region 1 deg wide (pyproj.Geod: 106.6 km at 17 S)."""
    from pyproj import Geod

    from irrmap.sources.ee.plan import region_geometry

    path = tmp_path / "fiji.geojson"
    boxes = [[[179.5, -17.5], [180, -17.5], [180, -16.5], [179.5, -16.5], [179.5, -17.5]],
             [[-180, -17.5], [-179.5, -17.5], [-179.5, -16.5], [-180, -16.5], [-180, -17.5]]]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [b]}} for b in boxes]}))
    x0, y0 = Transformer.from_crs(4326, 3832, always_xy=True).transform(179.0, -16.0)
    grid = Grid("EPSG:3832", Affine(1000.0, 0, x0, 0, -1000.0, y0), 250, 250)

    class Sec:
        region, region_layer = path, None

    geom = region_geometry(Sec, lambda p: p, grid)
    assert geom.geom_type == "Polygon"  # the two parts meet at 180 deg: one piece
    want = Geod(ellps="WGS84").inv(179.5, -17.0, -179.5, -17.0)[2]
    x, _ = Transformer.from_crs(4326, 3832, always_xy=True).transform([179.5, -179.5], [-17.0, -17.0])
    assert abs((geom.bounds[2] - geom.bounds[0]) - (x[1] - x[0])) < 1.0 and 106_000 < want < 107_000
