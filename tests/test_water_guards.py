"""Water thresholds outside their index's range, NaN, or given to a method that ignores them are refused, in the
library, the CLI and [water]. Truth: the index formulas evaluated by hand at the corners of reflectance 0..1."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import xarray as xr

from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError
from irrmap.mapping.water import indices as ix
from irrmap.mapping.water.classify import classify_scene

GRID = """
[grid]
crs = "EPSG:4326"
bounds = [100.0, 40.0, 100.2, 40.1]
resolution = 0.00225
"""


def test_index_ranges_are_the_extremes_over_reflectance_0_to_1():
    """Every corner of the unit cube of the bands an index uses: min and max of the hand formulas."""
    def corners(n):
        return [np.array(c, dtype=float) for c in itertools.product((0.0, 1.0), repeat=n)]

    nsh = [4 * (g - s1) - (0.25 * n + 2.75 * s2) for g, n, s1, s2 in corners(4)]
    sh = [b + 2.5 * g - 1.5 * (n + s1) - 0.25 * s2 for b, g, n, s1, s2 in corners(5)]
    assert ix.INDEX_RANGE["awei_nsh"] == (min(nsh), max(nsh)) == (-7.0, 4.0)
    assert ix.INDEX_RANGE["awei_sh"] == (min(sh), max(sh)) == (-3.25, 3.5)
    assert ix.INDEX_RANGE["ndwi"] == ix.INDEX_RANGE["mndwi"] == (-1.0, 1.0)


@pytest.mark.parametrize("index, value, ok", [
    ("ndwi", 0.0, True), ("ndwi", -0.99, True), ("ndwi", -1.0, False), ("ndwi", 1.0, False), ("ndwi", -5, False), ("ndwi", 5, False),
    ("mndwi", float("nan"), False), ("mndwi", float("inf"), False), ("awei_nsh", -6.5, True), ("awei_nsh", -7.5, False),
    ("awei_sh", 3.4, True), ("awei_sh", 3.6, False),
])
def test_threshold_problem(index, value, ok):
    assert (ix.threshold_problem(value, index) is None) == ok


class _Scene:
    def __init__(self):
        g = xr.DataArray(np.full((2, 2), 0.1, np.float32), dims=("y", "x"))
        self.bands = {"green": g, "nir": g * 0.5, "swir1": g * 0.5}
        self.quality = xr.DataArray(np.zeros((2, 2), np.uint8), dims=("y", "x"))


def test_classify_scene_refuses_a_threshold_outside_the_range():
    assert int(classify_scene(_Scene(), "ndwi", 0.0).sum()) == 4  # NDWI 1/3 > 0: all water
    for bad in (-5.0, float("nan"), 1.0):
        with pytest.raises(ConfigError, match="threshold"):
            classify_scene(_Scene(), "ndwi", bad)


def run(argv):
    from irrmap.app.cli import main

    return main(["-q", "water", *map(str, argv)])


@pytest.mark.parametrize("extra, message", [
    (["--threshold", "-5"], "outside NDWI's range"),
    (["--threshold", "nan"], "not a finite number"),
    (["--method", "mndwi", "--threshold", "1.5"], "outside MNDWI's range"),
    (["--method", "otsu", "--threshold", "0.2"], "ignored by --method otsu"),
    (["--method", "dswe", "--threshold", "0.2"], "ignored by --method dswe"),
])
def test_cli_refuses_bad_thresholds_before_reading(tmp_path, capsys, extra, message):
    # the scene does not exist: the threshold is refused before any scene is read
    assert run(["mask", tmp_path / "m.tif", tmp_path / "no_scene", *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "--threshold" in err[0], err
    assert not (tmp_path / "m.tif").exists()


@pytest.mark.parametrize("water, message", [
    ("threshold = 5", "outside NDWI's range"),
    ("threshold = nan", "not a finite number"),
    ('method = "awei_nsh"\nthreshold = -8', "outside AWEI_NSH's range"),
    ('method = "otsu"\nthreshold = 0.1', "ignored by method = 'otsu'"),
])
def test_water_section_refuses_bad_thresholds(tmp_path, water, message):
    (tmp_path / "c.toml").write_text(GRID + "[water]\n" + water + '\n[water.epochs]\n2020 = ["a"]\n')
    with pytest.raises(ConfigError, match="threshold") as exc:
        load_config(tmp_path / "c.toml")
    assert message in str(exc.value) and "[water]" in str(exc.value)


def test_water_section_accepts_range_thresholds():
    from irrmap.core.config import WaterSection

    assert WaterSection(epochs={"2020": ["a"]}, method="awei_sh", threshold=-0.5).threshold == -0.5
    assert WaterSection(epochs={"2020": ["a"]}, method="otsu").method == "otsu"


# ---- 5. epochs out of chronological order -------------------------------------------------------------------
def _stack(path, values, date, water_block=False):
    import json

    import rasterio
    from affine import Affine

    bands = [np.full((30, 40), v, np.int16) for v in values]
    if water_block:  # a 10 x 10 lake: the water spectrum (reflectance x 1e4)
        for b, v in zip(bands, (600, 600, 500, 200, 100, 50)):
            b[10:20, 10:20] = v
    with rasterio.open(path, "w", driver="GTiff", width=40, height=30, count=6, dtype="int16", crs="EPSG:32650",
                       transform=Affine(30, 0, 300000, 0, -30, 4200000), nodata=-9999) as dst:
        for i, (b, d) in enumerate(zip(bands, ["blue", "green", "red", "nir", "swir1", "swir2"]), start=1):
            dst.write(b, i)
            dst.set_band_description(i, d)
    path.with_suffix(".json").write_text(json.dumps({"date": date, "sensor": "LC08", "scale": 1e-4, "sun_elevation": 60, "sun_azimuth": 135}))


def test_epochs_out_of_order_are_run_in_acquisition_order(tmp_path, caplog, capsys):
    import logging

    import pandas as pd

    from irrmap.app.pipeline import run_pipeline
    from irrmap.app.stages import water

    land = [500, 800, 600, 3000, 2000, 1000]
    _stack(tmp_path / "late.tif", land, "2020-07-01", water_block=True)
    _stack(tmp_path / "early.tif", land, "2000-07-01")
    (tmp_path / "c.toml").write_text('[run]\noutput_dir = "out"\n[grid]\ncrs = "EPSG:32650"\nbounds = [300000, 4199100, 301200, 4200000]\n'
                                     'resolution = 30\n[water]\nmin_area_m2 = 0\n[water.epochs]\nx = ["late.tif"]\ny = ["early.tif"]\n')
    with caplog.at_level(logging.WARNING):
        run_pipeline(tmp_path / "c.toml", stages=[water.stage()])
    assert "chronological order" in caplog.text and "y: 2000-07-01" in caplog.text
    out = tmp_path / "out" / "water"
    assert (out / "change_y_x").is_dir() and not (out / "change_x_y").exists()
    change = pd.read_csv(out / "change_y_x" / "change.csv")
    assert list(change["status"]) == ["new"]  # the lake appears between 2000 and 2020
    assert water._provides(SimpleCtx(tmp_path))["water_class"] == out / "x" / "water.tif"  # the latest: 2020

    # the masks and bodies carry the dates, so `irrmap water change` refuses epochs given backwards
    import rasterio

    with rasterio.open(out / "x" / "mask.tif") as src:
        assert src.tags()["scene_dates"] == "2020-07-01"
    assert run(["change", tmp_path / "chg", out / "x", out / "y"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "later than epoch B" in err[0]
    assert run(["change", tmp_path / "chg", out / "y", out / "x"]) == 0


class SimpleCtx:
    def __init__(self, base):
        from irrmap.core.config import load_config

        self.config = load_config(base / "c.toml").config
        self.outdir = base / "out"
        self.path = lambda p: base / p


# ---- 6. reference masks on another grid --------------------------------------------------------------------
def _write_mask(path, values, transform, crs="EPSG:32611"):
    import rasterio

    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype="uint8", crs=crs,
                       transform=transform, nodata=255) as dst:
        dst.write(values, 1)
    return path


def _gdal(*args):
    import os
    import subprocess

    subprocess.run([*map(str, args)], check=True, env=os.environ | {"GDAL_PAM_ENABLED": "NO"})


@pytest.fixture
def mask_on_grid(tmp_path):
    from affine import Affine
    from scipy import ndimage

    from irrmap.core.grid import Grid

    rng = np.random.default_rng(6)
    blobs = ndimage.gaussian_filter(rng.random((120, 150)), 3) > 0.52  # lakes of many sizes
    values = blobs.astype(np.uint8)
    values[:5, :5] = 255
    path = _write_mask(tmp_path / "mask.tif", values, Affine(30, 0, 713835, 0, -30, 5292525))
    return path, Grid.from_raster(path), values


def _read(path):
    import rasterio

    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("crs", ["EPSG:4326", "EPSG:3857"])
def test_reference_in_another_crs_is_read_like_gdalwarp_near_with_a_warning(tmp_path, mask_on_grid, caplog, crs):
    import logging

    from irrmap.mapping.water.score import read_reference

    path, grid, _ = mask_on_grid
    other = tmp_path / "other.tif"
    _gdal("gdalwarp", "-q", "-t_srs", crs, "-r", "near", path, other)
    back = tmp_path / "back.tif"
    left, bottom, right, top = grid.bounds
    _gdal("gdalwarp", "-q", "-t_srs", grid.crs.to_string(), "-te", left, bottom, right, top, "-tr", 30, 30, "-r", "near", other, back)
    with caplog.at_level(logging.WARNING):
        got = read_reference(other, grid)  # one chunk: GDAL warps the grid in one go, as gdalwarp does
        np.testing.assert_array_equal(got.values, _read(back))
    assert got.attrs["resampling"] == "nearest" and "resampled onto it by nearest" in caplog.text and "water" in caplog.text
    assert set(np.unique(got.values)) <= {0, 1, 255}  # classes, never blends


def test_reference_on_the_grid_is_copied_silently(mask_on_grid, caplog):
    import logging

    from irrmap.mapping.water.score import read_reference

    path, grid, values = mask_on_grid
    with caplog.at_level(logging.WARNING):
        got = read_reference(path, grid, chunks=64)
    np.testing.assert_array_equal(got.values, values)
    assert got.attrs["resampling"] == "none" and "resampled" not in caplog.text


def test_much_finer_reference_is_aggregated_by_mode_like_gdalwarp(tmp_path, mask_on_grid):
    from irrmap.mapping.water.score import read_reference

    path, grid, values = mask_on_grid
    fine = tmp_path / "fine.tif"
    _gdal("gdalwarp", "-q", "-tr", 10, 10, "-r", "near", path, fine)  # 3 x 3 copies of each pixel
    got = read_reference(fine, grid, chunks=64)
    assert got.attrs["resampling"] == "mode"
    np.testing.assert_array_equal(got.values, values)  # the mode of 9 equal pixels is the pixel


# ---- 7. fixes that point the right way; one source for the default's numbers --------------------------------
def test_min_clear_fix_points_the_right_way(tmp_path, capsys):
    from irrmap.mapping.water.composite import epoch_composite

    m = xr.DataArray(np.zeros((2, 2), np.uint8), dims=("y", "x"))
    with pytest.raises(ConfigError, match=r"fix: raise min_clear to 1"):
        epoch_composite([m, m], min_clear=0)
    with pytest.raises(ConfigError, match=r"fix: lower min_clear to at most 2"):
        epoch_composite([m, m], min_clear=3)


def test_mask_help_quotes_no_stale_agreement_numbers():
    """The measured agreement lives in docs/water.md (from the benchmark); the help points there, quoting none."""
    import json
    import re
    from pathlib import Path

    from irrmap.core.config import WaterSection

    text = WaterSection.model_fields["method"].description
    assert "docs/water.md" in text and not re.search(r"\d+\.\d+ %", text)
    root = Path(__file__).resolve().parents[1]
    bench = {m["method"]: m for m in json.loads((root / "benchmarks" / "results" / "flathead_water.json").read_text())["methods"]}
    docs = (root / "docs" / "water.md").read_text()
    for method in ("ndwi", "mndwi"):  # the docs' table quotes the benchmark's numbers
        assert re.search(rf"\| \**{method} > 0\** \| \**{bench[method]['agreement'] * 100:.1f} %", docs), method
    fixed = {k: m for k, m in bench.items() if not k.startswith("otsu")}
    best = max(fixed.values(), key=lambda m: m["agreement"])["method"]
    assert best == WaterSection.model_fields["method"].default == "ndwi"  # "agree best" of the fixed-rule methods, as the help says
    top = max(m["agreement"] for m in bench.values())  # and Otsu (its 1997 fallback is NDWI > 0) "within half a percentage point"
    assert top - bench["ndwi"]["agreement"] <= 0.005


def test_cli_mask_and_bodies_carry_the_scene_dates_to_change(tmp_path, capsys):
    import rasterio

    land = [500, 800, 600, 3000, 2000, 1000]
    _stack(tmp_path / "late.tif", land, "2020-07-01", water_block=True)
    _stack(tmp_path / "early_a.tif", land, "2000-07-01")
    _stack(tmp_path / "early_b.tif", land, "2000-08-02", water_block=True)
    assert run(["mask", tmp_path / "late_mask.tif", tmp_path / "late.tif"]) == 0
    assert run(["mask", tmp_path / "early_mask.tif", tmp_path / "early_a.tif", tmp_path / "early_b.tif"]) == 0
    with rasterio.open(tmp_path / "early_mask.tif") as src:
        assert src.tags()["scene_dates"] == "2000-07-01;2000-08-02"
    for name in ("late", "early"):
        assert run(["bodies", tmp_path / name, tmp_path / f"{name}_mask.tif", "--min-area-m2", "0"]) == 0
    with rasterio.open(tmp_path / "early" / "body_id.tif") as src:
        assert src.tags()["scene_dates"] == "2000-07-01;2000-08-02"
    capsys.readouterr()
    assert run(["change", tmp_path / "c", tmp_path / "late", tmp_path / "early"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "2020-07-01" in err[0] and "2000-07-01" in err[0] and "earlier epoch's bodies first" in err[0]
    assert run(["change", tmp_path / "c", tmp_path / "early", tmp_path / "late"]) == 0
