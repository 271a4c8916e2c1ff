"""`irrmap mapping predict` against predictors that would give a silently wrong map: an undeclared fill value
(-9999) on a few crop pixels, and one file given for two predictor names; and predictors named in another
order than the model card's (taken by name).

Each CLI test fits a tiny two-feature model, writes its inputs with rasterio and runs the command through the CLI
entry point; the expected map is the one predicted from the correct inputs (the same command), the refusal exit 2."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.mapping.predict import FeatureGuard
from irrmap.models import fit_from_pool, save_model
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import InputError

H, W = 32, 48


def _write(path, arr, nodata=None):
    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype=arr.dtype, crs="EPSG:4326",
                       transform=from_origin(100.0, 41.0, 0.01, 0.01), nodata=nodata) as dst:
        dst.write(arr, 1)
    return str(path)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("s35pred")
    rng = np.random.default_rng(3)
    evi = rng.uniform(0.05, 0.7, (H, W)).astype(np.float32)
    dem = rng.uniform(200.0, 1500.0, (H, W)).astype(np.float32)
    label = ((evi > 0.4) & (dem < 1000)).astype(np.uint8)
    rows, cols = np.nonzero(np.ones((H, W), bool))
    pool = pd.DataFrame({"unit": "650101", "zone": 1, "label": label[rows, cols], "row": rows, "col": cols,
                         "evi": evi[rows, cols], "dem": dem[rows, cols]})
    model, card = fit_from_pool(pool, model="rf", scope="global", features=["evi", "dem"], seed=0, cv_blocks=None)
    save_model(model, d / "m.joblib", card)
    files = {"model": str(d / "m.joblib"), "evi": _write(d / "evi.tif", evi), "dem": _write(d / "dem.tif", dem),
             "crop": _write(d / "crop.tif", np.full((H, W), 0.5, np.float32))}
    bad = dem.copy()
    bad[::9, ::7] = -9999.0  # 24 pixels (1.6 %): the median of the tile does not move
    files["dem_fill"] = _write(d / "dem_fill.tif", bad)
    files["dem_fill_declared"] = _write(d / "dem_fill_declared.tif", bad, nodata=-9999.0)
    return d, files


def _predict(files, out, predictors):
    args = []
    for name, key in predictors:
        args += ["--predictor", f"{name}={files[key]}"]
    return main(["-q", "mapping", "predict", files["model"], "--cropland", files["crop"], *args, "--out", str(out), "--jobs", "1"])


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


def test_undeclared_fill_value_in_a_predictor_is_refused(world, tmp_path, capsys):
    _, files = world
    assert _predict(files, tmp_path / "bad", [("evi", "evi"), ("dem", "dem_fill")]) == 2  # old code: exit 0, -9999 m taken as elevation
    err = capsys.readouterr().err
    assert "dem" in err and "-9999" in err and "nodata" in err and "Traceback" not in err


def test_declared_fill_value_gives_nodata_pixels_only(world, tmp_path):
    _, files = world
    assert _predict(files, tmp_path / "good", [("evi", "evi"), ("dem", "dem")]) == 0
    assert _predict(files, tmp_path / "decl", [("evi", "evi"), ("dem", "dem_fill_declared")]) == 0
    good, decl = _read(tmp_path / "good" / "class.tif"), _read(tmp_path / "decl" / "class.tif")
    hole = np.zeros((H, W), bool)
    hole[::9, ::7] = True
    assert (decl[hole] == 255).all()  # the declared fill: no class (the pool never missed dem)
    np.testing.assert_array_equal(decl[~hole], good[~hole])


def test_feature_guard_refuses_common_fill_values_outside_the_range_only():
    ranges = {"dem": {"min": 25.0, "max": 3719.0, "missing": 0}, "ndvi": {"min": -0.2, "max": 0.9, "missing": 0}}
    g = FeatureGuard(["dem", "ndvi"], ranges)
    X = np.column_stack([np.linspace(100, 3000, 1000), np.linspace(0.0, 0.8, 1000)]).astype(np.float32)
    assert g.check(X).all()
    X[::50, 1] = -3000.0  # MODIS VI fill (x 1e4 products): 20 of 1000 rows, median unchanged
    with pytest.raises(InputError, match="-3000"):
        g.check(X)
    # a value outside the range that is no fill value is left to the median check (a real extrapolation)
    X[::50, 1] = 1.5
    assert g.check(X).all()


def test_one_file_for_two_predictors_is_refused(world, tmp_path, capsys):
    d, files = world
    # evi given the dem file: old code predicted a map from dem twice without a word
    assert _predict(files, tmp_path / "same", [("evi", "dem"), ("dem", "dem")]) == 2
    err = capsys.readouterr().err
    assert "same data" in err and "evi" in err and "Traceback" not in err
    copy = d / "dem_copy.tif"
    copy.write_bytes((d / "dem.tif").read_bytes())
    files = {**files, "copy": str(copy)}
    assert _predict(files, tmp_path / "copy", [("evi", "copy"), ("dem", "dem")]) == 2
    assert "identical bytes" in capsys.readouterr().err


def test_predictors_are_taken_by_name_in_any_order(world, tmp_path):
    _, files = world
    assert _predict(files, tmp_path / "a", [("evi", "evi"), ("dem", "dem")]) == 0
    assert _predict(files, tmp_path / "b", [("dem", "dem"), ("evi", "evi")]) == 0  # old code: refused (exit 2)
    np.testing.assert_array_equal(_read(tmp_path / "a" / "class.tif"), _read(tmp_path / "b" / "class.tif"))


def test_model_of_another_region_refused_when_it_takes_lon_lat():
    from irrmap.mapping.predict import check_model_region
    from rasterio.crs import CRS

    from irrmap.core.grid import Grid

    card = {"feature_ranges": {"lon": {"min": 104.0, "max": 105.8}, "lat": {"min": 37.65, "max": 39.0}}}
    here = Grid(CRS.from_epsg(4326), from_origin(104.5, 38.5, 0.01, 0.01), 50, 50)  # inside the pool's box
    there = Grid(CRS.from_epsg(4326), from_origin(124.5, 38.5, 0.01, 0.01), 50, 50)  # 20 degrees east
    check_model_region(here, card, ["lon", "lat", "evi"])
    check_model_region(there, card, ["evi"])  # no lon/lat predictor: the region is not part of the model
    with pytest.raises(InputError, match="lon 104..105.8"):
        check_model_region(there, card, ["lon", "lat", "evi"], where="m.joblib")
    # a projected grid (UTM 48N) over the pool's region passes; the same grid 2000 km north does not
    utm = CRS.from_epsg(32648)
    check_model_region(Grid(utm, from_origin(550000, 4260000, 250, 250), 40, 40), card, ["lon", "lat"])
    with pytest.raises(InputError, match="lat"):
        check_model_region(Grid(utm, from_origin(500000, 6260000, 250, 250), 40, 40), card, ["lon", "lat"])


def test_zone_lookup_with_lost_leading_zeros_joins_the_right_units(tmp_path):
    """US FIPS county codes 01001 and 56045; the lookup CSV was saved with a numeric code column (1001). Old code:
    unit 1001 got no model of its own (global fallback, the other unit's signal mixed in) with only a warning."""
    rng = np.random.default_rng(7)
    evi = rng.uniform(0.05, 0.7, (H, W)).astype(np.float32)
    zones = np.where(np.arange(W) < W // 2, 1, 2)[None].repeat(H, 0).astype(np.int32)
    label = np.where(zones == 1, evi > 0.4, evi < 0.3).astype(np.uint8)  # opposite signals in the two counties
    rows, cols = np.nonzero(np.ones((H, W), bool))
    pool = pd.DataFrame({"unit": np.where(zones[rows, cols] == 1, "01001", "56045"), "zone": zones[rows, cols],
                         "label": label[rows, cols], "row": rows, "col": cols, "evi": evi[rows, cols]})
    model, card = fit_from_pool(pool, model="rf", scope="county", features=["evi"], seed=0, cv_blocks=None)
    save_model(model, tmp_path / "m.joblib", card)
    crop = _write(tmp_path / "crop.tif", np.full((H, W), 0.5, np.float32))
    ev = _write(tmp_path / "evi.tif", evi)
    z = _write(tmp_path / "zones.tif", zones, nodata=0)
    pd.DataFrame({"zone": [1, 2], "code": ["01001", "56045"]}).to_csv(tmp_path / "good.csv", index=False)
    pd.DataFrame({"zone": [1, 2], "code": [1001, 56045]}).to_csv(tmp_path / "numeric.csv", index=False)

    def run(table, out):
        return main(["-q", "mapping", "predict", str(tmp_path / "m.joblib"), "--cropland", crop, "--predictor", f"evi={ev}",
                     "--zones", z, "--zone-table", str(tmp_path / table), "--out", str(tmp_path / out), "--jobs", "1"])

    assert run("good.csv", "good") == 0
    assert run("numeric.csv", "numeric") == 0
    good, numeric = _read(tmp_path / "good" / "class.tif"), _read(tmp_path / "numeric" / "class.tif")
    np.testing.assert_array_equal(numeric, good)
    # truth: the county model learned its own unit's rule (irrigated where EVI > 0.4 in 01001)
    left = zones == 1
    assert (good[left] == (evi[left] > 0.4)).mean() > 0.9


def test_all_nodata_predictor_or_cropland_is_refused_not_mapped_as_nodata(world, tmp_path, capsys):
    """Old code: exit 0 with class.tif nodata (255) on every pixel (a warning at most)."""
    d, files = world
    files = {**files, "dem_empty": _write(d / "dem_empty.tif", np.full((H, W), -9999.0, np.float32), nodata=-9999.0),
             "crop_empty": _write(d / "crop_empty.tif", np.full((H, W), np.nan, np.float32))}
    assert _predict(files, tmp_path / "a", [("evi", "evi"), ("dem", "dem_empty")]) == 2
    err = capsys.readouterr().err
    assert "dem has no valid value" in err and "Traceback" not in err
    assert not (tmp_path / "a" / "class.tif").exists()
    assert _predict({**files, "crop": files["crop_empty"]}, tmp_path / "b", [("evi", "evi"), ("dem", "dem")]) == 2
    assert "no valid pixel" in capsys.readouterr().err
