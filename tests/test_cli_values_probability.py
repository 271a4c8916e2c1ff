"""CLI integer values checked at the parser (exit 2 naming the option), CV folds >= 2, probability.tif agreeing
with class.tif at 50, and `mapping filter` reporting what it removed and added (true pixel area x cropland)."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from conftest import as_dataarray
from geod_truth import geodesic_row_areas

from irrmap.app.cli import main
from irrmap.core.grid import Grid


def _exit_code(argv, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    return e.value.code, capsys.readouterr().err


@pytest.mark.parametrize("argv, option", [
    (["models", "fit", "pool.parquet", "--out", "m.joblib", "--cv-splits", "-2"], "--cv-splits"),
    (["models", "fit", "pool.parquet", "--out", "m.joblib", "--cv-splits", "0"], "--cv-splits"),
    (["models", "fit", "pool.parquet", "--out", "m.joblib", "--cv-splits", "1"], "--cv-splits"),
    (["models", "fit", "pool.parquet", "--out", "m.joblib", "--seed", "-1"], "--seed"),
    (["models", "fit", "pool.parquet", "--out", "m.joblib", "--jobs", "-3"], "--jobs"),
    (["training", "pool", "--map", "t.tif", "--cropland", "c.tif", "--units", "u.gpkg", "--unit-field", "code",
      "--out", "p.parquet", "--seed", "-1"], "--seed"),
    (["mapping", "predict", "m.joblib", "--cropland", "c.tif", "--out", "o", "--tile-size", "-5"], "--tile-size"),
    (["mapping", "predict", "m.joblib", "--cropland", "c.tif", "--out", "o", "--tile-size", "1"], "--tile-size"),
    (["mapping", "predict", "m.joblib", "--cropland", "c.tif", "--out", "o", "--jobs", "-1"], "--jobs"),
    (["mapping", "aggregate", "class.tif", "--out", "a.tif", "--factor", "0"], "--factor"),
    # block edges, worker counts and rows: 0 divided by zero, negatives gave dask / GDAL tracebacks (exit 1)
    (["demo", "d", "--workers", "-2"], "--workers"),
    (["demo", "d", "--seed", "-1"], "--seed"),
    (["features", "nscore", "v.tif", "n.tif", "--crop", "c.tif", "--chunk", "0"], "--chunk"),
    (["suitability", "slope", "dem.tif", "s.tif", "--chunk", "-3"], "--chunk"),
    (["suitability", "slope", "dem.tif", "s.tif", "--chunk", "0"], "--chunk"),
    (["statistics", "preview", "s.csv", "--rows", "-1"], "--rows"),
    (["water", "bodies", "m.tif", "--out", "b", "--tile", "0"], "--tile"),
])
def test_out_of_range_integer_is_exit_2_naming_the_option(argv, option, capsys):
    code, err = _exit_code(argv, capsys)
    assert code == 2
    assert option in err and "Traceback" not in err and "out of range" in err


def test_smallest_values_still_parse():
    from irrmap.app.cli import build_parser

    a = build_parser().parse_args(["models", "fit", "p.parquet", "--out", "m.joblib", "--cv-splits", "2", "--seed", "0"])
    assert (a.cv_splits, a.seed) == (2, 0)
    a = build_parser().parse_args(["mapping", "predict", "m.joblib", "--cropland", "c.tif", "--out", "o", "--tile-size", "16"])
    assert a.tile_size == 16


@pytest.mark.parametrize("n", [1, 0, -2])
def test_assign_folds_refuses_fewer_than_two_folds(n):
    from irrmap.models.spatial_cv import assign_folds

    with pytest.raises(ValueError, match="at least 2"):
        assign_folds(np.arange(20), n, 0)


class _FixedProba:
    """A stand-in model: returns the given P(irrigated) for the crop pixels, in order."""

    def __init__(self, p):
        self.p = np.asarray(p, np.float64)

    def positive_proba(self, X, keys=None, n_threads=None):
        assert len(X) == len(self.p)
        return self.p


def test_probability_above_50_exactly_when_class_1():
    from irrmap.mapping.predict import predict_block

    p = [0.501, 0.504, 0.505, 0.5, 0.495, 0.2, 0.996, 0.5049]
    # by hand: class = p > 0.5; percent = round(100 p), class 1 at least 51, class 0 at most 50
    want_cls = [1, 1, 1, 0, 0, 0, 1, 1]
    want_prob = [51, 51, 51, 50, 50, 20, 100, 51]  # old code: 50, 50, 50 (rint(50.5) = 50), 50, 50, 20, 100, 50
    crop = np.full((1, len(p)), 0.7, np.float32)
    out = predict_block(_FixedProba(p), crop, np.zeros((1, 1, len(p)), np.float32))
    assert out[1, 0].tolist() == want_cls
    assert out[0, 0].tolist() == want_prob
    assert ((out[0, 0] > 50) == (out[1, 0] == 1)).all()


def _hand_pattern():
    """Class map 15 x 20 and cropland: one isolated pixel at (2, 17) (1 of 49 -> removed), a 7x7 block at rows
    4..10, cols 4..10 with two holes (5, 5), (9, 8) (47 of 49 at the centre -> both filled)."""
    cls = np.zeros((15, 20), np.uint8)
    cls[4:11, 4:11] = 1
    cls[5, 5] = cls[9, 8] = 0
    cls[2, 17] = 1
    crop = np.full(cls.shape, 0.4, np.float32)
    crop[2, 17], crop[9, 8] = 0.8, 0.9
    return cls, crop


X0, Y0, RES = 100.0, 40.0 + 15 * 0.0025, 0.0025


def _expected_ha():
    rows = geodesic_row_areas(X0, Y0, RES, 15)  # pyproj.Geod, m2 per pixel of each row
    removed = rows[2] * 0.8 / 1e4
    added = (rows[5] * 0.4 + rows[9] * 0.9) / 1e4
    return removed, added


def test_filter_changes_counts_and_true_area():
    from irrmap.mapping.filter import filter_map
    from irrmap.mapping.filter_summary import filter_changes

    cls, crop = _hand_pattern()
    g = Grid.from_bounds(X0, 40.0, X0 + 20 * RES, Y0, RES, "EPSG:4326")
    c, f = as_dataarray(cls, g).chunk({"y": 8, "x": 8}), as_dataarray(crop, g).chunk({"y": 8, "x": 8})
    after = filter_map(c, f)["class"]
    ch = filter_changes(c, after, f, g)
    removed, added = _expected_ha()
    assert (ch["removed_pixels"], ch["added_pixels"]) == (1, 2)
    assert ch["removed_ha"] == pytest.approx(removed, rel=1e-6)
    assert ch["added_ha"] == pytest.approx(added, rel=1e-6)


def test_mapping_filter_cli_prints_removed_and_added(tmp_path, capsys):
    from rasterio.transform import from_origin

    cls, crop = _hand_pattern()
    t = from_origin(X0, Y0, RES, RES)
    for name, arr, nodata in (("class.tif", cls, 255), ("crop.tif", crop, None)):
        with rasterio.open(tmp_path / name, "w", driver="GTiff", height=15, width=20, count=1, dtype=arr.dtype,
                           crs="EPSG:4326", transform=t, nodata=nodata) as dst:
            dst.write(arr, 1)
    assert main(["mapping", "filter", str(tmp_path / "class.tif"), "--cropland", str(tmp_path / "crop.tif"),
                 "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    removed, added = _expected_ha()
    assert f"removed 1 irrigated pixels, {removed:.2f} ha (isolated-pixel rule)" in text
    assert f"added 2 pixels, {added:.2f} ha (hole filling)" in text
