"""The single-purpose commands rerun `irrmap run` stage by stage (README: the run's stages one at a time): given the
run's own inputs and config values, a command that writes a layer the run writes under the same name writes the
same values. Truth: the run's files on a small demo, and for agi numpy by hand from the run's gi_max and ndwi_max
(METHOD.md: AGI = GI x NDWI built from the composites; training.sscore.composite_rasters).

Fault fixed: `features index agi` wrote statistics of GI x NDWI per date ("agi max" = max over dates of GI*NDWI),
not the run's agi = gi_max x ndwi_max with the mixed-pixel-adjusted gi_max; it differed from the run's agi.tif on
most pixels. The other comparisons (composites, N- and S-scores, suitability factors and overlay, zones) are
controls: they matched before the fix too."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from irrmap.app.cli import main
from irrmap.app.demo import generate_demo
from irrmap.app.pipeline import run_pipeline


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A 48 x 64 demo run up to the features stage (the config cut before [training]; features from NIR, green and
    SWIR, plus EVI: the other series only cost time)."""
    folder = tmp_path_factory.mktemp("cli_matches_run")
    generate_demo(folder, rows=48, cols=64, seed=11, workers=2, parts=("rasters", "admin", "statistics"))
    text = (folder / "config.toml").read_text()
    text = text[:text.index("\n[training]")] + "\n"
    text = "\n".join(line for line in text.splitlines() if not line.startswith("ndvi = {")) + "\n"
    (folder / "config.toml").write_text(text)
    run_pipeline(folder / "config.toml")
    return folder


def _read(path, band=1):
    with rasterio.open(path) as src:
        return src.read(band), src.tags(), src.descriptions


def _shares(d):
    a = d / "output" / "aligned"
    return ["--cropland", str(a / "cropland.tif"), "--natural", str(a / "forest_grass.tif"), "--other", str(a / "other_cover.tif")]


def _index(d, index, out, *extra):
    m = d / "inputs" / "modis"
    bands = {"gi": ["--green", str(m / "green.tif")], "ndwi": ["--swir", str(m / "swir1240.tif")],
             "agi": ["--green", str(m / "green.tif"), "--swir", str(m / "swir1240.tif")]}[index]
    return main(["-q", "features", "index", index, str(out), "--nir", str(m / "nir.tif"), *bands, "--preset", "mod09",
                 "--year", "2020", *extra])


def _same(run_file, cli_file):
    run, cli = _read(run_file)[0], _read(cli_file)[0]
    assert run.shape == cli.shape and np.isfinite(run).sum() > 0.9 * run.size
    np.testing.assert_array_equal(cli, run)  # NaN where NaN, every other value equal


def test_index_agi_is_the_runs_agi(demo, tmp_path):
    f = demo / "output" / "features"
    gi_max, ndwi_max = _read(f / "gi_max.tif")[0], _read(f / "ndwi_max.tif")[0]
    by_hand = (gi_max * ndwi_max).astype(np.float32)  # METHOD.md: AGI = GI x NDWI of the composites
    run, run_tags, _ = _read(f / "agi.tif")
    np.testing.assert_allclose(run, by_hand, rtol=1e-6)
    assert _index(demo, "agi", tmp_path / "agi.tif", *_shares(demo)) == 0
    got, tags, desc = _read(tmp_path / "agi.tif")
    assert desc == ("agi",)
    np.testing.assert_array_equal(got, run)  # was the max over dates of GI x NDWI
    assert tags["mixed_pixels"] == run_tags["mixed_pixels"] and tags["mixed_pixels"].startswith("agi from gi_max x cropland")
    assert tags["mixed_upper"] == "0.9"


def test_index_agi_without_shares_is_plain_gi_max_times_ndwi_max(demo, tmp_path):
    assert _index(demo, "gi", tmp_path / "gi.tif") == 0  # plain (unadjusted) gi_max
    assert _index(demo, "ndwi", tmp_path / "ndwi.tif") == 0
    assert _index(demo, "agi", tmp_path / "agi.tif") == 0
    gi, nd = _read(tmp_path / "gi.tif")[0], _read(tmp_path / "ndwi.tif")[0]
    got, tags, _ = _read(tmp_path / "agi.tif")
    np.testing.assert_allclose(got, gi * nd, rtol=1e-6)
    assert "mixed_pixels" not in tags


def test_index_agi_refuses_a_statistic(demo, tmp_path, capsys):
    assert _index(demo, "agi", tmp_path / "agi.tif", "--stat", "median") == 2
    err = capsys.readouterr().err
    assert "--stat" in err and "gi_max x ndwi_max" in err
    assert not (tmp_path / "agi.tif").exists()


def test_controls_features_commands_match_the_run(demo, tmp_path):
    f, a, m = demo / "output" / "features", demo / "output" / "aligned", demo / "inputs" / "modis"
    assert _index(demo, "gi", tmp_path / "gi_max.tif", *_shares(demo)) == 0
    _same(f / "gi_max.tif", tmp_path / "gi_max.tif")
    assert _index(demo, "ndwi", tmp_path / "ndwi_max.tif") == 0
    _same(f / "ndwi_max.tif", tmp_path / "ndwi_max.tif")
    assert main(["-q", "features", "composite", str(tmp_path / "evi_max.tif"), str(m / "evi.tif"), "--preset", "mod13q1",
                 "--qa", str(m / "vi_quality.tif"), "--name", "evi", "--year", "2020", *_shares(demo)]) == 0
    _same(f / "evi_max.tif", tmp_path / "evi_max.tif")
    for vi in ("evi", "gi"):
        assert main(["-q", "features", "nscore", str(f / f"{vi}_max.tif"), str(tmp_path / f"n{vi}.tif"), "--crop",
                     str(a / "cropland.tif"), "--natural", str(a / "forest_grass.tif"), "--window", "101"]) == 0
        _same(f / f"n{vi}.tif", tmp_path / f"n{vi}.tif")
        assert main(["-q", "features", "sscore", str(f / f"{vi}_max.tif"), str(tmp_path / f"s{vi}.tif"), "--suitability",
                     str(demo / "output" / "suitability" / "suitability.tif")]) == 0
        _same(f / f"s{vi}.tif", tmp_path / f"s{vi}.tif")


def test_controls_suitability_commands_match_the_run(demo, tmp_path):
    s, a = demo / "output" / "suitability", demo / "output" / "aligned"
    assert main(["-q", "suitability", "slope", str(a / "dem.tif"), str(tmp_path / "slope.tif"), "--percent"]) == 0
    _same(s / "slope_percent.tif", tmp_path / "slope.tif")
    assert main(["-q", "suitability", "distance", str(a / "water.tif"), str(tmp_path / "dist.tif")]) == 0
    _same(s / "distance_to_water.tif", tmp_path / "dist.tif")
    assert main(["-q", "suitability", "aridity", str(tmp_path / "ai.tif"), "--precip", str(a / "precipitation.tif"),
                 "--pet", str(a / "pet.tif")]) == 0
    _same(s / "aridity_index.tif", tmp_path / "ai.tif")
    assert main(["-q", "suitability", "overlay", str(tmp_path / "s.tif"), "--zones", str(demo / "output" / "units" / "zones.tif"),
                 "--elevation", str(a / "dem.tif"), "--slope", str(s / "slope_percent.tif"), "--distance",
                 str(s / "distance_to_water.tif"), "--aridity", str(s / "aridity_index.tif"), "--crop", str(a / "cropland.tif"),
                 "--weights", "0.25", "0.25", "0.25", "0.25"]) == 0
    _same(s / "suitability.tif", tmp_path / "s.tif")
