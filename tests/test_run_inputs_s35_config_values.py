"""[features] values (a free-form table), suitability weights and class limits, and the 7x7 rule's counts are
validated when the config is loaded, with the key and the allowed values in the message.

Before, `irrmap run --check` passed window = 100 (the N-score needs an odd window), stats = ["medain"],
reference_min_share = 5, mixed = "no" (a non-empty text is true: the adjustment ran), weights = {elevaton = ...},
hole = 60 (a 7x7 window holds 49 pixels: never filled) and aridity_breaks = [0.5, 0.2]; they failed (or ran
wrong) deep in the run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from irrmap.core import config as config_mod
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError

FEATURES = """[features]
evi = { source = "evi.tif", preset = "mod13q1", qa = "qa.tif" }
window = 101
"""


def _config(tmp_path: Path, features: str = FEATURES, extra: str = "") -> Path:
    for name in ("units.gpkg", "evi.tif", "qa.tif", "nir.tif"):
        (tmp_path / name).write_bytes(b"x")  # existence is all load_config checks of these files
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""
[grid]
crs = "EPSG:4326"
bounds = [104.0, 37.65, 104.5, 38.0]
resolution = 0.0025
[units]
path = "units.gpkg"
code_field = "code"
{features}
{extra}
""")
    return cfg


def test_good_features_load(tmp_path):
    features = FEATURES + 'stats = ["median", "std"]\nreference_min_share = 0.5\nmixed = false\nmixed_upper = 0.9\nmax_gi = 15.0\n' \
        'chunks = 512\nstd_ddof = 1\nmin_valid = 3\ndate_pattern = "A%Y%j"\ncropland = "cropland"\n' \
        'nir = { source = ["nir.tif"], band = "NIR", fill_values = [-28672], valid_range = [-100, 16000], scale = 0.0001 }\n' \
        '[features.qa]\nmodland = [0, 1]\n'
    assert load_config(_config(tmp_path, features)).config.features["window"] == 101


@pytest.mark.parametrize("line, key, accepts, got", [
    ("window = 100", "[features].window", "a positive odd whole number of pixels", "the number 100"),
    ('window = "101"', "[features].window", "a positive odd whole number of pixels", "the text '101'"),
    ('stats = ["medain"]', "[features].stats", "max, min, range, median, std, mean, count", "did you mean 'median'?"),
    ("reference_min_share = 5", "[features].reference_min_share", "a share from 0 to 1", "the number 5"),
    ('mixed = "no"', "[features].mixed", "true or false", "the text 'no'"),
    ("mixed_upper = 0", "[features].mixed_upper", "a share above 0, at most 1", "the number 0"),
    ("chunks = 8", "[features].chunks", "from 64 to 16384", "the number 8"),
    ("min_valid = 0", "[features].min_valid", "a whole number of dates from 1", "the number 0"),
    ("std_ddof = 0.5", "[features].std_ddof", "a whole number from 0", "the number 0.5"),
    ("windw = 29", "[features].windw", "unknown key", "did you mean 'window'?"),
    ('ndvi = { source = "evi.tif", preset = "mod13" }', "[features].ndvi.preset", "'mod13q1', 'mod09', 'none'", "did you mean 'mod13q1'?"),
    ('ndvi = { source = "evi.tif", valid_range = [5, 1] }', "[features].ndvi.valid_range", "min <= max", "2 numbers [5, 1]"),
    ('ndvi = { source = "evi.tif", band = 0 }', "[features].ndvi.band", "a layer number (1, 2, ...)", "the number 0"),
    ('ndvi = { source = "evi.tif", qa_contain = "QA" }', "[features].ndvi", "unknown key(s) ['qa_contain']", "did you mean 'qa_contains'?"),
    ('ndvi = { preset = "mod13q1" }', "[features].ndvi.source", "required key is missing", ""),
    ("ndvi = 5", "[features].ndvi", "a path, or a table with `source`", "the number 5"),
])
def test_bad_features_values_are_refused_at_load(tmp_path, line, key, accepts, got):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, FEATURES.replace("window = 101\n", "") + line + "\n"))
    msg = str(err.value)
    assert f"{key}:" in msg and accepts in msg and got in msg, msg


@pytest.mark.parametrize("extra, key, words", [
    ('[suitability]\nprecipitation = "p"\npet = "e"\nweights = { elevaton = 0.25, distance = 0.25, slope = 0.25, aridity = 0.25 }',
     "[suitability].weights", "did you mean 'elevation'?"),
    ('[suitability]\naridity = "ai"\nweights = { elevation = 0, distance = 0, slope = 0, aridity = 0 }',
     "[suitability].weights", "positive sum"),
    ('[suitability]\naridity = "ai"\nweights_in = { "610000" = { elevation = 1, wet = 1 } }', "[suitability].weights_in", "for unit '610000'"),
    ('[suitability]\naridity = "ai"\naridity_breaks = [0.5, 0.2]', "[suitability].aridity_breaks", "increasing order"),
    ('[suitability]\naridity = "ai"\nslope_breaks = [2, 2, 8]', "[suitability].slope_breaks", "increasing order"),
])
def test_suitability_values_are_refused_at_load(tmp_path, extra, key, words):
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, "", extra))
    assert f"{key}:" in str(err.value) and words in str(err.value)


@pytest.mark.parametrize("key, value, limit", [("hole", 50, 49), ("isolated", 49, 48)])
def test_seven_by_seven_counts_are_bounded_by_the_window(tmp_path, key, value, limit):
    # a 7 x 7 window holds 49 pixels: a hole of 50 is never filled, an isolated limit of 49 drops every pixel
    extra = f"[statistics]\npath = \"units.gpkg\"\ncode_field = \"c\"\narea_field = \"a\"\narea_unit = \"ha\"\n[training]\n[models]\n[mapping]\n{key} = {value}"
    with pytest.raises(ConfigError) as err:
        load_config(_config(tmp_path, "", extra))
    assert f"[mapping].{key}:" in str(err.value) and str(limit) in str(err.value)


def test_the_checked_keys_are_those_the_stage_reads():
    from irrmap.suitability.reclass import FACTORS
    from irrmap.training.composites import STATS
    from irrmap.training.sscore import _SERIES_KEYS, _TOP_KEYS

    from irrmap.app.stages.features import PRODUCT_KEYS
    from irrmap.sources.modis import PRESETS

    assert config_mod.FEATURE_STATS == STATS
    assert set(config_mod.FEATURE_PRESETS) == set(PRESETS)
    assert set(config_mod._FEATURE_TOP) | set(config_mod.FEATURE_SERIES) == _TOP_KEYS | set(PRODUCT_KEYS)
    assert set(config_mod._FEATURE_SERIES) == _SERIES_KEYS
    assert config_mod.SUITABILITY_FACTORS == FACTORS
