"""Config paths with ~ and environment variables.

A probe set output_dir = "~/runs/x": `irrmap run --check` said "config OK, outputs: <config dir>/~/runs/x" and the run
made a folder literally named '~' beside the config (one `rm -rf ~` away from deleting the home folder); an input
"~/dem.tif" was "not found" with no word on why. TOML expands nothing, so irrmap now expands ~ and $NAME / ${NAME}
as a shell does (truth: the paths built by hand from the patched environment) and refuses an unset variable.
"""

from __future__ import annotations

import pytest

from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError

CONFIG = """
[run]
name = "t"
output_dir = "{out}"

[grid]
crs = "EPSG:4326"
bounds = [100.0, 39.0, 100.5, 39.5]
resolution = 0.00225

[inputs.dem]
path = "{dem}"
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    h = tmp_path / "home"
    (h / "data").mkdir(parents=True)
    (h / "data" / "dem.tif").write_bytes(b"")
    monkeypatch.setenv("HOME", str(h))
    monkeypatch.setenv("IRRMAP_TEST_RUNS", str(tmp_path / "runs"))
    return h


def _load(tmp_path, out, dem):
    cfg = tmp_path / "proj" / "c.toml"
    cfg.parent.mkdir(exist_ok=True)
    cfg.write_text(CONFIG.format(out=out, dem=dem))
    return load_config(cfg)


@pytest.mark.parametrize("dem", ["~/data/dem.tif", "$HOME/data/dem.tif", "${HOME}/data/dem.tif"])
def test_home_and_variables_are_expanded(tmp_path, home, dem):
    loaded = _load(tmp_path, "$IRRMAP_TEST_RUNS/x", dem)
    assert loaded.output_dir == (tmp_path / "runs" / "x").resolve()  # old: <config dir>/$IRRMAP_TEST_RUNS/x
    assert loaded.resolve(loaded.config.inputs["dem"].path) == (home / "data" / "dem.tif").resolve()


def test_tilde_output_dir_is_the_home_folder(tmp_path, home):
    loaded = _load(tmp_path, "~/runs/x", "~/data/dem.tif")
    assert loaded.output_dir == (home / "runs" / "x").resolve()  # old: <config dir>/~/runs/x
    assert "~" not in str(loaded.output_dir)


def test_unset_variable_is_refused_by_name(tmp_path, home, monkeypatch):
    monkeypatch.delenv("IRRMAP_UNSET_DIR", raising=False)
    with pytest.raises(ConfigError, match=r"\$IRRMAP_UNSET_DIR.*not set"):
        _load(tmp_path, "out", "$IRRMAP_UNSET_DIR/dem.tif")


def test_plain_relative_paths_unchanged(tmp_path, home):
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "dem.tif").write_bytes(b"")
    loaded = _load(tmp_path, "out", "dem.tif")
    assert loaded.output_dir == (tmp_path / "proj" / "out").resolve()
