"""`irrmap features composite|index --cropland --natural --other [--mixed-upper]`: the run's mixed-pixel adjustment
([features] mixed, on by default) from the command line. Without it a command-by-command rerun of the demo differed from
the run's evi_max on a fifth of the pixels. Truth: the run's own files (the chain must give its values) and numpy by hand
(VI x cropland where 0 < cropland < upper and forest/grass >= urban/water/unused, missing shares = 0: METHOD.md
section 1, docs/features.md). The adjusted files (run and CLI) carry a mixed_pixels tag; the others do not."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from irrmap.app.cli import main
from irrmap.app.demo import generate_demo
from irrmap.app.pipeline import run_pipeline


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 48 x 80 demo run up to the features stage (the config cut before [training])."""
    folder = tmp_path_factory.mktemp("mixed_cli")
    generate_demo(folder, rows=48, cols=80, seed=7, workers=2, parts=("rasters", "admin", "statistics"))
    text = (folder / "config.toml").read_text()
    (folder / "config.toml").write_text(text[:text.index("\n[training]")] + "\n")
    run_pipeline(folder / "config.toml")
    return folder


def _shares(d):
    a = d / "output" / "aligned"
    return ["--cropland", str(a / "cropland.tif"), "--natural", str(a / "forest_grass.tif"), "--other", str(a / "other_cover.tif")]


def _evi(d, out, *extra):
    m = d / "inputs" / "modis"
    return main(["-q", "features", "composite", str(out), str(m / "evi.tif"), "--preset", "mod13q1", "--qa",
                 str(m / "vi_quality.tif"), "--name", "evi", "--year", "2020", *extra])


def _read(path, band=1):
    with rasterio.open(path) as src:
        return src.read(band), src.tags(), src.descriptions


def _by_hand(vi, d, upper=0.9):
    a = d / "output" / "aligned"
    crop = _read(a / "cropland.tif")[0].astype(np.float64)
    nat = np.nan_to_num(_read(a / "forest_grass.tif")[0].astype(np.float64), nan=0.0)
    other = np.nan_to_num(_read(a / "other_cover.tif")[0].astype(np.float64), nan=0.0)
    mixed = (crop > 0) & (crop < upper) & (nat >= other)  # NaN crop compares False: unchanged
    return np.where(mixed, vi.astype(np.float32) * crop.astype(np.float32), vi).astype(np.float32), mixed


def test_cli_chain_gives_the_runs_evi_max(demo, tmp_path):
    run = _read(demo / "output" / "features" / "evi_max.tif")[0]
    assert _evi(demo, tmp_path / "evi.tif", *_shares(demo)) == 0
    got, tags, desc = _read(tmp_path / "evi.tif")
    np.testing.assert_array_equal(got, run)  # NaN where NaN, every other value equal
    assert desc == ("evi_max",)
    assert "0 < cropland < 0.9" in tags["mixed_pixels"] and tags["mixed_upper"] == "0.9"
    assert tags["mixed_cropland"].endswith("cropland.tif")


def test_run_and_cli_adjustment_equals_numpy_by_hand(demo, tmp_path):
    assert _evi(demo, tmp_path / "plain.tif") == 0  # control: the unadjusted maximum, no tag
    plain, plain_tags, _ = _read(tmp_path / "plain.tif")
    assert "mixed_pixels" not in plain_tags
    want, mixed = _by_hand(plain, demo)
    assert mixed.sum() > 50 and np.nanmax(np.abs(want - plain)) > 0.05  # the demo has mixed pixels that matter
    np.testing.assert_array_equal(_read(demo / "output" / "features" / "evi_max.tif")[0], want)
    assert _evi(demo, tmp_path / "adj.tif", *_shares(demo), "--mixed-upper", "0.5", "--stat", "median", "--stat", "max") == 0
    median, tags, desc = _read(tmp_path / "adj.tif", 1)
    assert desc == ("evi_median", "evi_max") and tags["mixed_upper"] == "0.5" and "< 0.5 " in tags["mixed_pixels"]
    np.testing.assert_array_equal(_read(tmp_path / "adj.tif", 2)[0], _by_hand(plain, demo, 0.5)[0])
    assert _evi(demo, tmp_path / "median.tif", "--stat", "median") == 0
    np.testing.assert_array_equal(median, _read(tmp_path / "median.tif")[0])  # the other statistics are not adjusted


def test_index_gi_gives_the_runs_gi_max(demo, tmp_path):
    m = demo / "inputs" / "modis"
    assert main(["-q", "features", "index", "gi", str(tmp_path / "gi.tif"), "--nir", str(m / "nir.tif"), "--green",
                 str(m / "green.tif"), "--preset", "mod09", "--year", "2020", *_shares(demo)]) == 0
    got, tags, _ = _read(tmp_path / "gi.tif")
    np.testing.assert_array_equal(got, _read(demo / "output" / "features" / "gi_max.tif")[0])
    assert tags["mixed_pixels"].startswith("gi_max x cropland share")


def test_run_tags_only_the_adjusted_outputs(demo):
    f = demo / "output" / "features"
    for name in ("evi_max", "ndvi_max", "gi_max"):
        tags = _read(f / f"{name}.tif")[1]
        assert tags["mixed_pixels"].startswith(f"{name} x cropland share where 0 < cropland < 0.9 ") and tags["mixed_upper"] == "0.9"
    assert _read(f / "agi.tif")[1]["mixed_pixels"].startswith("agi from gi_max x cropland share")
    for name in ("ndwi_max", "nevi", "sevi"):  # not adjusted (ndwi) or computed from the adjusted files (scores)
        assert "mixed_pixels" not in _read(f / f"{name}.tif")[1]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--cropland", "C"], "--natural and --other missing"),
    (["--mixed-upper", "0.8"], "--mixed-upper without the shares"),
    (["SHARES", "--stat", "median"], "no --stat max"),
    (["SHARES", "--name", "ndwi"], "not NDWI"),
])
def test_incomplete_or_misapplied_options_are_refused(demo, tmp_path, capsys, extra, needle):
    extra = [a for x in extra for a in (_shares(demo) if x == "SHARES" else [str(demo / "output/aligned/cropland.tif")] if x == "C" else [x])]
    assert _evi(demo, tmp_path / "x.tif", *extra) == 2  # a second --name replaces the first (argparse)
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "x.tif").exists()


def test_percent_share_is_refused(demo, tmp_path, capsys):
    src = demo / "output" / "aligned" / "cropland.tif"
    with rasterio.open(src) as s:
        profile, data = s.profile, s.read(1)
    with rasterio.open(tmp_path / "pct.tif", "w", **profile) as dst:
        dst.write(data * 100, 1)
    args = _shares(demo)
    args[1] = str(tmp_path / "pct.tif")
    assert _evi(demo, tmp_path / "x.tif", *args) == 2
    err = capsys.readouterr().err
    assert "--cropland" in err and "pct.tif" in err and "0..1" in err
    assert not (tmp_path / "x.tif").exists()
