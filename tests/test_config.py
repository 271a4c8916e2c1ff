"""Run config: validation messages name the key and the fix; the README's reference is generated from the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from irrmap.core.config import config_reference, load_config
from irrmap.core.errors import ConfigError

GOOD = """
[run]
name = "t"
output_dir = "out"
seed = 7

[grid]
crs = "EPSG:4326"
bounds = [100.0, 39.0, 100.5, 39.5]
resolution = 0.00225

[inputs.dem]
path = "dem.tif"
"""


def _write(tmp_path, text):
    (tmp_path / "dem.tif").write_bytes(b"")
    p = tmp_path / "c.toml"
    p.write_text(text)
    return p


def test_good_config_resolves_paths(tmp_path):
    loaded = load_config(_write(tmp_path, GOOD))
    assert loaded.output_dir == (tmp_path / "out").resolve()
    assert loaded.grid().shape == (223, 223)
    assert loaded.config.run.seed == 7 and len(loaded.sha256) == 64


@pytest.mark.parametrize("edit, message", [
    (("resolution = 0.00225", "resolutoin = 0.00225"), r"\[grid\]\.resolutoin: unknown key \(did you mean 'resolution'\?\)"),
    (("resolution = 0.00225", "resolution = -1.0"), r"\[grid\]\.resolution: Input should be greater than 0"),
    (("bounds = [100.0, 39.0, 100.5, 39.5]", "bounds = [101.0, 39.0, 100.5, 39.5]"), r"left < right"),
    (('path = "dem.tif"', 'path = "nope.tif"'), r"\[inputs\.dem\]\.path = nope\.tif"),
    (('path = "dem.tif"', 'path = "dem.tif"\nkind = "fraction"'), r"needs `classes`"),
    (("seed = 7", "seed = 7\nthreads = 3"), r"\[run\]\.threads: unknown key"),
    (("[run]", "[runn]"), r"runn: unknown key \(did you mean 'run'\?\)"),
    (("seed = 7", 'seed = "x"'), r"\[run\]\.seed"),
])
def test_bad_configs_name_the_key(tmp_path, edit, message):
    with pytest.raises(ConfigError, match=message):
        load_config(_write(tmp_path, GOOD.replace(*edit)))


def test_statistics_needs_units_and_known_area_unit(tmp_path):
    text = GOOD + '\n[statistics]\npath = "dem.tif"\ncode_field = "c"\narea_field = "a"\narea_unit = "furlongs"\n'
    with pytest.raises(ConfigError, match=r"\[statistics\]\.area_unit: unknown area unit 'furlongs'"):
        load_config(_write(tmp_path, text))
    with pytest.raises(ConfigError, match=r"\[statistics\] needs \[units\]"):
        load_config(_write(tmp_path, text.replace("furlongs", "ha")))


def test_invalid_toml_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[run\n"))


def test_readme_holds_the_generated_reference():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    assert config_reference() in readme, "regenerate the README's config reference: python -m irrmap.app.docs"
