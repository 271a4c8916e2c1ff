"""Guards of `irrmap mapping predict|filter|aggregate` against silently wrong inputs (probe report items 1.1-1.7, 2).

Each test builds its inputs on disk, runs the command through the CLI entry point, and checks either the refusal
(exit 2, naming the file) or the result against an independent computation (numpy by hand, pyproj.Geod)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.mapping.predict import FeatureGuard, predict_block, zone_keys_for
from irrmap.models import fit_from_pool, save_model
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from tests.geod_truth import geodesic_row_areas

H, W, RES, X0, Y0 = 40, 60, 0.01, 100.0, 41.0


def _write(path, arr, nodata=None, transform=None, description=None):
    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=arr.dtype,
                       crs="EPSG:4326", transform=transform or from_origin(X0, Y0, RES, RES), nodata=nodata) as dst:
        dst.write(arr, 1)
        if description:
            dst.set_band_description(1, description)
    return str(path)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


# ---- a county model with two units whose signal is opposite ---------------------------------------------------
def _world():
    rng = np.random.default_rng(5)
    evi = rng.uniform(0.05, 0.7, (H, W)).astype(np.float32)
    zones = np.where(np.arange(W) < W // 2, 1, 2)[None].repeat(H, 0).astype(np.int32)
    # unit 650101 (zone 1): irrigated where EVI is high; unit 650102 (zone 2): irrigated where EVI is low
    label = np.where(zones == 1, evi > 0.4, evi < 0.3).astype(np.uint8)
    crop = np.full((H, W), 0.8, np.float32)
    return evi, zones, label, crop


@pytest.fixture(scope="module")
def county(tmp_path_factory):
    d = tmp_path_factory.mktemp("county")
    evi, zones, label, crop = _world()
    rows, cols = np.nonzero(np.ones((H, W), bool))
    pool = pd.DataFrame({"unit": np.where(zones[rows, cols] == 1, "650101", "650102"), "zone": zones[rows, cols],
                         "label": label[rows, cols], "row": rows, "col": cols, "evi": evi[rows, cols]})
    model, card = fit_from_pool(pool, model="rf", scope="county", features=["evi"], seed=0, cv_blocks=None)
    save_model(model, d / "m.joblib", card)
    files = {"model": str(d / "m.joblib"), "evi": _write(d / "evi.tif", evi), "crop": _write(d / "crop.tif", crop),
             "zones": _write(d / "zones.tif", zones, nodata=0)}
    pd.DataFrame({"zone": [1, 2], "code": ["650101", "650102"]}).to_csv(d / "zones.csv", index=False)
    # the same units rasterized in the other order: ids swapped, with the lookup `units rasterize` writes
    (d / "rev").mkdir()
    files["zones_rev"] = _write(d / "rev" / "zones.tif", np.where(zones == 1, 2, 1).astype(np.int32), nodata=0)
    pd.DataFrame({"zone": [1, 2], "code": ["650102", "650101"]}).to_csv(d / "rev" / "zones.csv", index=False)
    (d / "x100").mkdir()
    files["zones_x100"] = _write(d / "x100" / "zones.tif", (zones + 100).astype(np.int32), nodata=0)
    return d, files, model, evi, zones


def _predict(files, out, zones_key="zones", extra=()):
    return main(["-q", "mapping", "predict", files["model"], "--cropland", files["crop"], "--predictor", f"evi={files['evi']}",
                 "--zones", files[zones_key], "--out", str(out), *extra])


def test_zone_raster_numbered_otherwise_joins_on_codes(county, tmp_path):
    d, files, model, evi, zones = county
    assert _predict(files, tmp_path / "fwd") == 0
    assert _predict(files, tmp_path / "rev", "zones_rev") == 0
    fwd, rev = _read(tmp_path / "fwd" / "class.tif"), _read(tmp_path / "rev" / "class.tif")
    np.testing.assert_array_equal(fwd, rev)
    # independent truth: each half predicted with its own unit's forest, by scikit-learn directly
    X = evi.reshape(-1, 1)
    truth = np.where(zones.ravel() == 1, model.models_["650101"].predict_proba(X)[:, 1],
                     model.models_["650102"].predict_proba(X)[:, 1]) > 0.5
    np.testing.assert_array_equal(fwd.ravel(), truth.astype(np.uint8))


def test_unknown_zone_ids_without_lookup_refused(county, tmp_path, capsys):
    d, files, *_ = county
    assert _predict(files, tmp_path / "x", "zones_x100") == 2
    err = capsys.readouterr().err
    assert "x100/zones.tif" in err and "not the model's training zones" in err and "--zone-table" in err
    assert not (tmp_path / "x" / "class.tif").exists()


def test_lookup_with_foreign_codes_or_stale_ids_refused(county, tmp_path, capsys):
    d, files, *_ = county
    pd.DataFrame({"zone": [1, 2], "code": ["110101", "110102"]}).to_csv(tmp_path / "other.csv", index=False)
    assert _predict(files, tmp_path / "a", extra=["--zone-table", str(tmp_path / "other.csv")]) == 2
    assert "none of the 2 units" in capsys.readouterr().err
    pd.DataFrame({"zone": [1], "code": ["650101"]}).to_csv(tmp_path / "stale.csv", index=False)
    assert _predict(files, tmp_path / "b", extra=["--zone-table", str(tmp_path / "stale.csv")]) == 2
    assert "not in the lookup" in capsys.readouterr().err


def test_zone_keys_for_warns_with_counts_for_units_without_model(county, caplog):
    _, _, model, *_ = county
    lookup = pd.DataFrame({"zone": [1, 2, 3], "code": ["650101", "650102", "650199"]})
    with caplog.at_level("WARNING"):
        keys = zone_keys_for(model, np.array([1, 2, 3]), lookup, "z.tif", "z.csv")
    assert keys == {1: "650101", 2: "650102", 3: "650199"}
    assert "1 of 3 units" in caplog.text and "650199" in caplog.text
    assert zone_keys_for(model, np.array([0, 1, 2]), None, "z.tif") is None  # the model's own ids: its own table


def test_predict_refuses_inputs_off_the_grid_unless_align(county, tmp_path, capsys):
    d, files, *_ = county
    shifted = dict(files, evi=_write(tmp_path / "evi_shift.tif", _read(files["evi"]),
                                     transform=from_origin(X0 + RES / 2, Y0 - RES / 2, RES, RES)))
    assert _predict(shifted, tmp_path / "p") == 2
    err = capsys.readouterr().err
    assert "evi_shift.tif" in err and "--align" in err and not (tmp_path / "p" / "class.tif").exists()
    assert _predict(shifted, tmp_path / "p2", extra=["--align"]) == 0


def test_predict_out_unwritable_is_one_line_output_error(county, tmp_path, capsys):
    d, files, *_ = county
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    assert _predict(files, blocker / "sub") == 2
    err = capsys.readouterr().err
    assert err.startswith("irrmap: error:") and "Traceback" not in err and "is a file" in err


# ---- predictors: missing values and scale --------------------------------------------------------------------
def test_missing_predictor_on_crop_gives_nodata_unless_trained_with_missing(county):
    _, _, model, evi, zones = county
    e = evi.copy()
    e[5:10, 5:40] = np.nan
    crop = np.full((H, W), 0.8, np.float32)
    crop[5:7, 5:10] = 0  # no cropland: class 255 (no cropland), fraction 0, not the missing-predictor nodata
    out = predict_block(model, crop, e[None], zones, None, guard=FeatureGuard(["evi"]))
    hole = np.isnan(e) & (crop > 0)
    assert (out[:, hole] == 255).all()
    assert (out[1][np.isnan(e) & (crop == 0)] == 255).all() and (out[2][np.isnan(e) & (crop == 0)] == 0).all()
    # elsewhere as without the guard
    plain = predict_block(model, crop, e[None], zones, None)
    np.testing.assert_array_equal(out[:, ~hole], plain[:, ~hole])
    # a model whose pool had missing values predicts them (the trees route NaN)
    trained = predict_block(model, crop, e[None], zones, None, guard=FeatureGuard(["evi"], {"evi": {"missing": 12}}))
    np.testing.assert_array_equal(trained, plain)


def test_predictor_on_another_scale_refused_when_card_has_ranges(county, tmp_path, capsys):
    d, files, model, evi, zones = county
    card = json.loads((d / "m.card.json").read_text())
    card["feature_ranges"] = {"evi": {"min": float(evi.min()), "max": float(evi.max()), "median": float(np.median(evi)),
                                      "missing": 0}}
    save_model(model, tmp_path / "m.joblib", card)
    files = dict(files, model=str(tmp_path / "m.joblib"), evi=_write(tmp_path / "evi_x1e4.tif", evi * 1e4))
    assert _predict(files, tmp_path / "p") == 2
    err = capsys.readouterr().err
    assert "predictor evi has median" in err and "training pool's range" in err
    # the same file on the training scale passes
    files["evi"] = _write(tmp_path / "evi.tif", evi)
    assert _predict(files, tmp_path / "ok") == 0


# ---- filter --------------------------------------------------------------------------------------------------
def _filter(cls_path, crop_path, out, *extra):
    return main(["-q", "mapping", "filter", cls_path, "--cropland", crop_path, "--out", str(out), "--no-rule", *extra])


def _class_world():
    rng = np.random.default_rng(2)
    cls = (rng.random((H, W)) < 0.5).astype(np.uint8)
    crop = rng.uniform(0.05, 1, (H, W)).astype(np.float32)
    return cls, crop


@pytest.mark.parametrize("dtype,nodata", [("float32", float("nan")), ("int16", -1), ("uint8", 255), ("uint8", 7)])
def test_filter_keeps_declared_nodata(tmp_path, dtype, nodata):
    cls, crop = _class_world()
    c = cls.astype(dtype)
    c[10:20, 10:30] = nodata
    out = tmp_path / "f"
    assert _filter(_write(tmp_path / "c.tif", c, nodata=nodata), _write(tmp_path / "crop.tif", crop), out) == 0
    got_cls, got_frac = _read(out / "class.tif"), _read(out / "fraction.tif")
    block = np.zeros((H, W), bool)
    block[10:20, 10:30] = True
    assert (got_cls[block] == 255).all() and (got_frac[block] == 255).all()
    # numpy by hand elsewhere: class as given, fraction = rint(100 f) where irrigated
    np.testing.assert_array_equal(got_cls[~block], cls[~block])
    np.testing.assert_array_equal(got_frac[~block], np.where(cls == 1, np.rint(crop * 100), 0)[~block].astype(np.uint8))


def test_filter_refuses_percent_cropland_like_predict(tmp_path, capsys):
    cls, crop = _class_world()
    c = _write(tmp_path / "c.tif", cls, nodata=255)
    pct = _write(tmp_path / "crop_pct.tif", np.rint(crop * 100).astype(np.uint8))
    assert _filter(c, pct, tmp_path / "f") == 2
    err = capsys.readouterr().err
    assert "crop_pct.tif" in err and "--cropland-scale 0.01" in err and not (tmp_path / "f" / "fraction.tif").exists()
    assert _filter(c, pct, tmp_path / "ok", "--cropland-scale", "0.01") == 0
    frac = _read(tmp_path / "ok" / "fraction.tif")
    assert frac.max() <= 100


def test_filter_refuses_values_other_than_0_1_nodata(tmp_path, capsys):
    cls, crop = _class_world()
    prob = np.where(cls == 1, 80, 20).astype(np.uint8)  # a probability map without irrmap's band description
    assert _filter(_write(tmp_path / "p.tif", prob, nodata=255), _write(tmp_path / "crop.tif", crop), tmp_path / "f") == 2
    assert "values other than 0, 1" in capsys.readouterr().err
    desc = _write(tmp_path / "pd.tif", cls, nodata=255, description="P(irrigated) x 100 (crop pixels)")
    assert _filter(desc, str(tmp_path / "crop.tif"), tmp_path / "g") == 2


def test_filter_refuses_cropland_off_the_class_grid(tmp_path, capsys):
    cls, crop = _class_world()
    c = _write(tmp_path / "c.tif", cls, nodata=255)
    shifted = _write(tmp_path / "crop_shift.tif", crop, transform=from_origin(X0 + RES / 2, Y0, RES, RES))
    assert _filter(c, shifted, tmp_path / "f") == 2
    assert "crop_shift.tif" in capsys.readouterr().err
    assert _filter(c, shifted, tmp_path / "g", "--align") == 0


# ---- aggregate -----------------------------------------------------------------------------------------------
def _geod_row_area():
    return geodesic_row_areas(X0, Y0, RES, H)


def _aggregate(path, out, *extra):
    return main(["-q", "mapping", "aggregate", path, "--out", str(out), "--factor", "4", *extra])


def test_aggregate_scale_option_and_0_1_fraction(tmp_path, capsys):
    rng = np.random.default_rng(3)
    frac = rng.uniform(0, 1, (H, W)).astype(np.float32)
    f = _write(tmp_path / "frac01.tif", frac)
    assert _aggregate(f, tmp_path / "a.tif") == 2  # a 0..1 float map is not percent
    assert "--scale 1" in capsys.readouterr().err
    assert _aggregate(f, tmp_path / "a.tif", "--scale", "1") == 0
    want = (frac * _geod_row_area()[:, None]).reshape(H // 4, 4, W // 4, 4).sum(axis=(1, 3))
    got = _read(tmp_path / "a.tif")
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_aggregate_refuses_class_probability_and_over_100(tmp_path, capsys):
    cls, _ = _class_world()
    for name, arr, desc in [("cls.tif", cls, None), ("cls_desc.tif", cls, "1 irrigated, 0 not irrigated"),
                            ("prob.tif", (cls * 60).astype(np.uint8), "P(irrigated) x 100 (crop pixels)"),
                            ("big.tif", np.full((H, W), 130, np.uint8), None)]:
        p = _write(tmp_path / name, arr, nodata=255, description=desc)
        assert _aggregate(p, tmp_path / f"o_{name}") == 2, name
        assert name in capsys.readouterr().err
        assert not (tmp_path / f"o_{name}").exists()
    # an explicit scale still refuses fractions above 1 (130 x 0.01)
    assert _aggregate(str(tmp_path / "big.tif"), tmp_path / "o2.tif", "--scale", "0.01") == 2
    # a real percent map passes unchanged
    pct = np.where(cls == 1, 55, 0).astype(np.uint8)
    assert _aggregate(_write(tmp_path / "pct.tif", pct, nodata=255), tmp_path / "ok.tif") == 0
    want = (pct / 100.0 * _geod_row_area()[:, None]).reshape(H // 4, 4, W // 4, 4).sum(axis=(1, 3))
    np.testing.assert_allclose(_read(tmp_path / "ok.tif"), want, rtol=1e-5)


def test_check_cropland_fraction_shared_by_predict_block():
    with pytest.raises(InputError, match="cropland-scale 0.01"):
        predict_block(None, np.full((2, 2), 55, np.float32), np.zeros((0, 2, 2), np.float32))
    with pytest.raises(InputError, match="nodata"):
        predict_block(None, np.full((2, 2), -1, np.float32), np.zeros((0, 2, 2), np.float32))
