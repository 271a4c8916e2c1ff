"""Physical plausibility of the demo region: the properties the pipeline relies on (checks that can fail)."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from irrmap.app.demo import DemoSpec
from rasterio.windows import Window

from irrmap.app.demo.admin import admin_units
from irrmap.app.demo.bundle import window_bundle
from irrmap.app.demo.climate import SECONDS_PER_YEAR, priestley_taylor
from irrmap.app.demo.generate import PATHS
from irrmap.app.demo.hydrology import route
from irrmap.app.demo.statistics import NOISE_CLIP
from irrmap.core.grid import Grid
from irrmap.core.units import AdminUnits

from test_demo_generate import demo  # noqa: F401  (the shared session fixture; tests/ is on sys.path)


def _read(demo, name, band=None):
    with rasterio.open(demo / PATHS[name]) as src:
        return src.read(band) if band else src.read()


def test_rivers_flow_downhill_to_lakes_or_edge():
    spec = DemoSpec(rows=400, cols=520, seed=11)
    hyd = route(spec)
    nr, nc = hyd.shape
    filled, down = hyd.filled.ravel(), hyd.down
    river = np.flatnonzero(hyd.river.ravel())
    assert len(river) > 20 and hyd.lake_id.max() >= 1
    d = down[river]
    assert np.all(filled[d[d >= 0]] < filled[river[d >= 0]])  # every step goes down the routing surface
    basin = hyd.basin.ravel() | (hyd.lake_id.ravel() > 0)
    for start in river:
        i, steps = start, 0
        while down[i] >= 0 and not basin[i]:
            i = down[i]
            steps += 1
            assert steps < nr * nc
        r, c = divmod(i, nc)
        assert basin[i] or r in (0, nr - 1) or c in (0, nc - 1)
    # raw terrain also falls along rivers: the mean elevation drops from source to mouth
    z = hyd.z.ravel()
    assert np.mean(z[d[d >= 0]] <= z[river[d >= 0]] + 4.0) > 0.95


def test_irrigation_follows_suitability(demo):
    truth = _read(demo, "truth_irrigated", 1)
    drivers = _read(demo, "drivers")
    slope, dist, ai = drivers[2], drivers[3], drivers[4]
    land = _read(demo, "water", 1) == 0
    arid = land & (ai <= 0.5)
    assert arid.sum() > 100
    for m in (land, arid):  # irrigated land lies on flat ground near water
        assert np.corrcoef(truth[m], slope[m])[0, 1] < -0.05
        assert np.corrcoef(truth[m], dist[m])[0, 1] < -0.1
    near, far = truth[arid & (dist < 2000)].mean(), truth[arid & (dist > 6000)].mean()
    assert near > 3 * far  # arid: decisive (oases along rivers and lakes)
    share = truth / np.maximum(_read(demo, "fractions", 1), 1e-6)
    crop = _read(demo, "fractions", 1) > 0.2
    assert share[crop & arid].mean() > share[crop & land & (ai > 0.8)].mean()  # arid cropland is mostly irrigated


def test_irrigated_vs_rainfed_evi_separation():
    """Peak EVI of irrigated vs rainfed cropland: a large gap in arid parts, a small one in humid parts."""
    spec = DemoSpec(rows=200, cols=280, seed=42)
    b = window_bundle(spec, route(spec), Window(0, 0, spec.cols, spec.rows))
    evi = b["evi"].astype(float)
    evi[(evi == -3000) | ((b["vi_quality"] & 3) >= 2)] = np.nan
    vmax = np.nanmax(evi, axis=0) / 1e4
    crop, truth, ai = b["fractions"][0], b["truth_irrigated"], b["drivers"][4]
    pure = crop > 0.4
    irr = pure & (truth >= 0.6 * crop)
    rain = pure & (truth <= 0.4 * crop)
    gaps = {}
    for zone, m in (("arid", ai <= 0.5), ("humid", ai > 0.8)):
        a, r = vmax[irr & m], vmax[rain & m]
        assert min(len(a), len(r)) >= 10, f"too few pure crop pixels in the {zone} zone"
        gaps[zone] = np.nanmean(a) - np.nanmean(r)
    print("peak-EVI gap irrigated - rainfed:", gaps)
    assert gaps["arid"] > 0.1
    assert gaps["arid"] > 2 * gaps["humid"] > 0


def test_modis_fill_and_qa(demo):
    evi = _read(demo, "evi")
    ndvi = _read(demo, "ndvi")
    qa = _read(demo, "vi_quality")
    assert evi.shape[0] == 23 and evi.dtype == np.int16 and qa.dtype == np.uint16
    fill = evi == -3000
    assert fill.any() and np.array_equal(fill, ndvi == -3000) and np.array_equal(fill, qa == 65535)
    ok = ~fill
    assert evi[ok].min() >= -2000 and evi[ok].max() <= 10000
    cloudy = ((qa & 3) == 2) & ok
    assert 0.05 < cloudy.mean() < 0.6
    assert np.all((qa[cloudy] >> 10) & 1 == 1)  # mixed-clouds bit with "probably cloudy"
    assert np.all(((qa[ok] >> 11) & 7) >= 1)  # land/water field is land or inland water
    clear = ((qa & 3) == 0) & ok
    assert np.median(evi[cloudy]) < np.median(evi[clear])  # clouds depress VI
    for p in ("nir", "green", "swir1240"):
        r = _read(demo, p)
        assert np.array_equal(r == -28672, fill)
    nir, green = _read(demo, "nir").astype(float), _read(demo, "green").astype(float)
    gi = nir[ok] / green[ok]
    assert np.median(gi) > 1 and np.mean(gi > 15) < 0.01


def test_pet_is_priestley_taylor(demo):
    t, rh, rs, al, pet = (_read(demo, n, 1).astype(float) for n in ("temperature", "humidity", "radiation", "albedo", "pet"))
    np.testing.assert_allclose(priestley_taylor(t, rh, rs, al) * SECONDS_PER_YEAR, pet, rtol=1e-4)
    ai = _read(demo, "precipitation", 1) / pet
    assert ai.min() < 0.3 and ai.max() > 0.6  # arid to humid


def test_statistics_equal_truth_within_noise(demo):
    truth = pd.read_csv(demo / "truth/statistics_truth.csv", dtype={"code": str, "city": str, "province": str})
    county = pd.read_csv(demo / "inputs/statistics/county.csv", dtype={"code": str})
    actual = county[county.variant == "actual"].set_index("code")["irrigated_area"]
    eff = county[county.variant == "effective"].set_index("code")["irrigated_area"]
    t = truth.set_index("code")["truth_irrigated_1000ha"]
    assert truth["missing_in_county_table"].sum() >= 1
    assert len(actual) == len(truth) - truth["missing_in_county_table"].sum()
    rel = (actual - t.reindex(actual.index)) / t.reindex(actual.index)
    assert np.all(np.abs(rel) <= NOISE_CLIP + 1e-3)
    assert np.all(eff >= actual.reindex(eff.index) * 0.95)
    # truth = truth fraction x true pixel area, summed per county
    units = AdminUnits.read(demo / "inputs/admin.gpkg", "code", hierarchy="cn-adcode", layer="counties")
    grid = Grid.from_raster(demo / PATHS["truth_irrigated"])
    zones = units.rasterize(grid).values
    frac = _read(demo, "truth_irrigated", 1).astype(float)
    area = np.bincount(zones.ravel(), weights=(frac * grid.pixel_area()).ravel(), minlength=len(units) + 1)[1:] / 1e7
    np.testing.assert_allclose(area, t.reindex(units.codes.values).values, rtol=1e-6, atol=2e-6)
    # city and province totals include the counties missing from the county table
    city = pd.read_csv(demo / "inputs/statistics/city.csv", dtype={"code": str})
    ca = city[city.variant == "actual"].set_index("code")["irrigated_area"]
    summed = truth.groupby("city")["reported_actual_1000ha"].sum()
    np.testing.assert_allclose(ca.values, summed.reindex(ca.index).values, atol=1e-3)
    prov = pd.read_csv(demo / "inputs/statistics/province.csv", dtype={"code": str})
    assert set(prov["code"]) == set(truth["province"])


def test_admin_hierarchy_default_size():
    layers = admin_units(DemoSpec())
    c, ci, p = layers["counties"], layers["cities"], layers["provinces"]
    assert len(p) >= 3 and len(ci) >= 10 and len(c) >= 40
    assert c["code"].str.fullmatch(r"\d{6}").all() and c["code"].is_unique
    assert (c["city_code"] == c["code"].str[:4] + "00").all()
    assert (c["province_code"] == c["code"].str[:2] + "0000").all()
    assert set(c["city_code"]) == set(ci["code"]) and set(c["province_code"]) == set(p["code"])
    # counties tile the region without overlaps
    region = DemoSpec().grid.bounds
    total = (region[2] - region[0]) * (region[3] - region[1])
    with warnings.catch_warnings():  # planar area in degrees is fine for a coverage check
        warnings.simplefilter("ignore", UserWarning)
        covered = c.geometry.area.sum()
    assert abs(covered - total) < 1e-6 * total


def test_admin_gpkg_reads_with_core(demo):
    units = AdminUnits.read(demo / "inputs/admin.gpkg", "code", hierarchy="cn-adcode", name_field="name", layer="counties")
    assert len(units) >= 12 and set(units.levels) == {"county", "city", "province"}
    for layer in ("cities", "provinces"):
        assert len(gpd.read_file(demo / "inputs/admin.gpkg", layer=layer)) >= 3


def test_reference_points(demo):
    pts = gpd.read_file(demo / "inputs/reference/points.gpkg")
    truth = pd.read_csv(demo / "truth/points_truth.csv")
    assert len(pts) == len(truth) > 30
    assert set(pts["label"]) <= {0, 1} and set(pts["stratum"]) <= {"arid", "humid"}
    assert "true_label" not in pts.columns
    assert 0 < truth["flipped"].mean() < 0.1 or len(truth) < 60
    assert (truth["crop_fraction"] >= 0.3).all()
    agree = (truth["label"] == truth["true_label"]).mean()
    assert agree > 0.9
    assert ((pts["inclusion_prob"] > 0) & (pts["inclusion_prob"] <= 1)).all()


def test_landsat_epochs(demo):
    tifs = sorted((demo / "inputs" / "landsat").glob("*.tif"))
    with rasterio.open(tifs[0]) as a, rasterio.open(tifs[1]) as b:
        assert a.count == b.count == 6 and a.shape == b.shape
        assert a.res[0] == pytest.approx(0.00225 / 8)
        assert not np.array_equal(a.read(4), b.read(4))
    w = sorted((demo / "truth" / "landsat").glob("water_*.tif"))
    t = sorted((demo / "truth" / "landsat").glob("treecover_*.tif"))
    with rasterio.open(t[0]) as t1, rasterio.open(t[1]) as t2:
        c1, c2 = t1.read(1), t2.read(1)
        assert c1.max() <= 100 and c2.max() <= 100 and not np.array_equal(c1, c2)
    with rasterio.open(w[0]) as w1, rasterio.open(w[1]) as w2:
        assert set(np.unique(w1.read(1))) <= {0, 1} and set(np.unique(w2.read(1))) <= {0, 1}
