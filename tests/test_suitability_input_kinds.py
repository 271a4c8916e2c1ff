"""Suitability inputs of the wrong kind (probe E): zone rasters with 9+ digit ids, water masks with 0 declared as
nodata or given as an occurrence 0..100, distances in km, aridity from different step counts, the few-crop rule
on missing inputs, and the percent advice for S. Truth: hand-computed classes and counts, gdal_translate for the
nodata tag, pyproj.Geod for the pixel's ground size, numpy sums for the aridity index."""

from __future__ import annotations

import logging
import shutil
import subprocess

import numpy as np
import pytest
import rasterio
import xarray as xr
from conftest import as_dataarray
from irrmap.suitability import zone_index
from irrmap.suitability.guards import pixel_ground_size
from irrmap.suitability.overlay import weighted_overlay_by_zone
from irrmap.suitability.reclass import FewCropRule, reclassify
from pyproj import Geod

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

GEO = Grid.from_bounds(-112.0, 37.0, -111.99, 37.006, 0.001, "EPSG:4326")  # 6 x 10 pixels of 0.001 deg
UTM = Grid.from_bounds(500_000, 4_000_000, 500_300, 4_000_180, 30.0, "EPSG:32612")  # 6 x 10 pixels of 30 m
BIG_A, BIG_B = 110101001, 10**12 + 7  # a township code, and an id no table of max(id) + 1 entries can hold


def _write(path, values, grid=UTM, *, nodata=None, dtype="float32"):
    write_raster(path, as_dataarray(values, grid), dtype=dtype, nodata=nodata, cog=False)
    return str(path)


def _cli(capsys, *args):
    rc = main(["-q", "suitability", *map(str, args)])
    return rc, capsys.readouterr()


# ---- 4: zone ids of any size ---------------------------------------------------------------------------------
def test_zone_lookup_and_counts_with_large_ids_match_hand_values():
    z = np.array([[0, BIG_A, BIG_A], [BIG_B, BIG_B, 5]], dtype=np.int64)
    got = zone_index.lookup(z, [BIG_B, BIG_A], [2.0, 1.0])
    np.testing.assert_array_equal(got, [[np.nan, 1.0, 1.0], [2.0, 2.0, np.nan]])
    c = zone_index.counts(z[z > 0])
    assert c.to_dict() == {5: 1, BIG_A: 2, BIG_B: 2}


def _factor(values, grid=UTM):
    return as_dataarray(np.asarray(values, np.float32), grid)


def test_reclassify_with_nine_and_thirteen_digit_zone_ids_gives_the_hand_classes():
    # left half unit A, right half unit B; elevation offsets above each unit's minimum (m): <=100 -> 4, <=300 -> 3,
    # <=500 -> 2, else 1 (METHOD.md section 2)
    zones = np.zeros(UTM.shape, np.int64)
    zones[:, :5] = BIG_A
    zones[:, 5:] = BIG_B
    elev = np.full(UTM.shape, 1000.0)
    elev[0, 0], elev[0, 1], elev[0, 2] = 1150.0, 1350.0, 1600.0  # A: min 1000 -> offsets 150, 350, 600
    elev[:, 5:] = 2000.0
    elev[1, 6] = 2090.0  # B: min 2000 -> offset 90
    crop = np.zeros(UTM.shape)
    crop[:, :5] = 1.0  # A: 30 crop pixels; B: 3
    crop[0, 5:8] = 1.0
    flat = _factor(np.zeros(UTM.shape))
    classes, table = reclassify(_factor(elev), flat, flat, _factor(np.full(UTM.shape, 0.5)), as_dataarray(zones, UTM),
                                crop=_factor(crop), few_crop_rule=FewCropRule(min_crop_pixels=5))
    e = classes["elevation"].values
    assert (e[0, 0], e[0, 1], e[0, 2], e[1, 1]) == (3.0, 2.0, 1.0, 4.0)
    assert (e[:, 5:] == 1.0).all()  # B has 3 < 5 crop pixels: class 1 everywhere
    assert table.loc[BIG_A, "elevation_min"] == 1000.0 and table.loc[BIG_B, "elevation_min"] == 2000.0
    assert table["crop_pixels"].to_dict() == {BIG_A: 30, BIG_B: 3}


def test_overlay_by_zone_with_large_ids_uses_each_units_weights():
    ones = xr.DataArray(np.ones((1, 2), np.float32), dims=("y", "x"), coords={"y": [0.5], "x": [0.5, 1.5]}, attrs={"n_classes": 4})
    fours = ones.copy(data=np.full((1, 2), 4, np.float32))
    classes = {"elevation": ones, "distance": fours, "slope": ones, "aridity": ones}
    zones = ones.copy(data=np.array([[BIG_A, BIG_B]], np.int64))
    w = {"elevation": 0.25, "distance": 0.25, "slope": 0.25, "aridity": 0.25}
    s = weighted_overlay_by_zone(classes, w, zones, {BIG_B: {"elevation": 0, "distance": 1, "slope": 0, "aridity": 0}})
    # A: 0.25 * (1 + 4 + 1 + 1) / 4 = 0.4375; B: 1 * 4 / 4 = 1
    np.testing.assert_allclose(s.values, [[0.4375, 1.0]], rtol=1e-6)


# ---- 11a: the few-crop rule leaves missing inputs missing ---------------------------------------------------
def test_few_crop_rule_keeps_a_dem_void_nan():
    zones = np.ones(UTM.shape, np.int64)
    elev = np.full(UTM.shape, 1000.0)
    elev[2, 3] = np.nan  # a DEM void
    slope = np.zeros(UTM.shape)
    slope[2, 3] = np.nan
    flat = _factor(np.zeros(UTM.shape))
    classes, _ = reclassify(_factor(elev), _factor(slope), flat, _factor(np.full(UTM.shape, 0.5)), as_dataarray(zones, UTM),
                            crop=flat, few_crop_rule=FewCropRule())
    for name in ("elevation", "slope"):
        c = classes[name].values
        assert np.isnan(c[2, 3]) and np.nansum(c) == c.size - 1  # class 1 elsewhere in the unit of 0 crop pixels
    assert (classes["distance"].values == 1).all()


# ---- 2 and 11b: water masks the default rule cannot read ----------------------------------------------------
@pytest.mark.skipif(shutil.which("gdal_translate") is None, reason="gdal_translate not installed")
def test_distance_refuses_a_mask_with_zero_declared_nodata(tmp_path, capsys):
    w = np.zeros(UTM.shape, np.uint8)
    w[:, 4] = 1
    ok = _write(tmp_path / "water.tif", w, dtype="uint8", nodata=255)
    nd0 = str(tmp_path / "water_nd0.tif")
    subprocess.run(["gdal_translate", "-q", "-a_nodata", "0", ok, nd0], check=True)
    rc, out = _cli(capsys, "distance", nd0, tmp_path / "d.tif")
    assert rc == 2 and "no land pixel" in out.err and f"gdal_edit.py -unsetnodata {nd0}" in out.err and "nodata value is 0" in out.err
    assert "Traceback" not in out.err and not (tmp_path / "d.tif").exists()
    rc, out = _cli(capsys, "distance", ok, tmp_path / "d.tif")
    assert rc == 0 and "(6 water pixels)" in out.out


def test_distance_refuses_an_occurrence_by_the_default_rule_and_thresholds_it(tmp_path, capsys):
    occ = (np.arange(UTM.size).reshape(UTM.shape) * 100 // (UTM.size - 1)).astype(np.uint8)  # 0..100, 59 non-zero values
    path = _write(tmp_path / "occ.tif", occ, dtype="uint8", nodata=255)
    rc, out = _cli(capsys, "distance", path, tmp_path / "d.tif")
    assert rc == 2 and "distinct non-zero values" in out.err and "--threshold 50" in out.err
    rc, out = _cli(capsys, "distance", "--threshold", "50", path, tmp_path / "d.tif")
    assert rc == 0 and f"({int((occ >= 50).sum())} water pixels)" in out.out  # 30 pixels at >= 50 %


def test_distance_accepts_a_class_layer_with_few_codes(tmp_path, capsys):
    seas = np.zeros(UTM.shape, np.uint8)
    seas[0, :] = np.arange(1, 11)  # JRC seasonality-like: 1..12 months of water
    seas[1, :2] = (11, 12)
    rc, out = _cli(capsys, "distance", _write(tmp_path / "seas.tif", seas, dtype="uint8", nodata=255), tmp_path / "d.tif")
    assert rc == 0 and "(12 water pixels)" in out.out


# ---- 7: distance in km ---------------------------------------------------------------------------------------
def test_pixel_ground_size_is_the_geodesic_step_between_centres():
    g = Geod(ellps="WGS84")
    x0, y_top = GEO.transform.c, GEO.transform.f
    lats = [y_top - 0.0005, y_top - 0.001 * GEO.shape[0] + 0.0005]  # top and bottom row centres
    east = min(g.inv(x0 + 0.0005, lat, x0 + 0.0015, lat)[2] for lat in lats)
    north = g.inv(x0 + 0.0005, lats[0], x0 + 0.0005, lats[0] - 0.001)[2]
    assert pixel_ground_size(as_dataarray(np.zeros(GEO.shape, np.float32), GEO)) == pytest.approx(min(east, north), rel=1e-4)


def test_overlay_refuses_a_distance_in_km(tmp_path, capsys):
    zones = _write(tmp_path / "z.tif", np.ones(UTM.shape, np.int32), dtype="int32")
    dist_m = np.abs(np.arange(UTM.shape[1]) - 4)[None, :].repeat(UTM.shape[0], 0) * 30.0  # metres to column 4
    common = ["--zones", zones, "--elevation", _write(tmp_path / "e.tif", np.full(UTM.shape, 1000.0)),
              "--slope", _write(tmp_path / "s.tif", np.ones(UTM.shape)), "--aridity", _write(tmp_path / "a.tif", np.full(UTM.shape, 0.5))]
    km = _write(tmp_path / "km.tif", dist_m / 1000.0)
    rc, out = _cli(capsys, "overlay", tmp_path / "S.tif", *common, "--distance", km)
    assert rc == 2 and "below one pixel's ground size" in out.err and "'A*1000'" in out.err and km in out.err
    rc, out = _cli(capsys, "overlay", tmp_path / "S.tif", *common, "--distance", _write(tmp_path / "m.tif", dist_m))
    assert rc == 0, out.err


# ---- 8: aridity from different step counts -------------------------------------------------------------------
def test_aridity_refuses_three_months_of_rain_against_a_year_of_pet(tmp_path, capsys):
    p = [_write(tmp_path / f"p{i}.tif", np.full(UTM.shape, 50.0)) for i in range(12)]
    pet = _write(tmp_path / "pet.tif", np.full(UTM.shape, 1000.0))
    rc, out = _cli(capsys, "aridity", tmp_path / "ai3.tif", "--precip", *p[:3], "--pet", pet)
    assert rc == 2 and "3 precipitation step(s)" in out.err and "1 PET step(s)" in out.err and not (tmp_path / "ai3.tif").exists()


def test_aridity_takes_twelve_months_against_one_annual_total_and_logs_it(tmp_path, capsys, caplog):
    rain = [np.full(UTM.shape, 10.0 * (i + 1)) for i in range(12)]  # 10 + 20 + ... + 120 = 780 mm
    p = [_write(tmp_path / f"p{i}.tif", r) for i, r in enumerate(rain)]
    pet = _write(tmp_path / "pet.tif", np.full(UTM.shape, 1000.0))
    with caplog.at_level(logging.INFO, logger="irrmap.suitability"):
        rc, out = _cli(capsys, "aridity", tmp_path / "ai.tif", "--precip", *p, "--pet", pet)
    assert rc == 0, out.err
    assert any("taken as an annual total" in r.getMessage() for r in caplog.records)
    with rasterio.open(tmp_path / "ai.tif") as src:
        np.testing.assert_allclose(src.read(1), np.sum(rain, axis=0) / 1000.0, rtol=1e-6)  # 0.78


# ---- 9c: the percent advice only for values that look like percent -------------------------------------------
def test_percent_advice_only_for_percent_like_scores():
    from irrmap.training.sscore import check_suitability

    ai_like = xr.DataArray(np.linspace(0.05, 1.2, 12, dtype=np.float32).reshape(3, 4), dims=("y", "x"))
    with pytest.raises(DataError) as e:
        check_suitability(ai_like, "--suitability ai.tif")
    assert "percent?" not in str(e.value) and "not a factor" in str(e.value)
    with pytest.raises(DataError) as e:
        check_suitability(ai_like * 80, "--suitability s_pct.tif")
    assert "percent?" in str(e.value)
