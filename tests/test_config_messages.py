"""Config errors of keys that accept several shapes (bounds or a file, a layer number or name, a size or 'units',
fixed-length lists, choices) say what the key accepts and what it got, in one line, never pydantic's internals
(union member tags such as `tuple[float, float, float, float]` or `lax-or-strict[...]`)."""

from __future__ import annotations

import pytest

from irrmap.app.cli import main
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError

GRID = '[grid]\ncrs = "EPSG:4326"\nbounds = [0.0, 0.0, 1.0, 1.0]\nresolution = 0.01\n'
EE = '[sources.ee]\nyear = 2020\ndatasets = ["srtm"]\n'
INTERNALS = ("tuple[", "lax-or-strict", "function-after", "path_validator", "Input should", "literal[", "<class", ".int:", ".str:")


def _message(tmp_path, text: str) -> str:
    (tmp_path / "x.tif").write_bytes(b"")
    cfg = tmp_path / "run.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(cfg)
    msg = str(info.value)
    assert not any(bit in msg for bit in INTERNALS), msg
    return msg


@pytest.mark.parametrize("text, line", [
    # the report: three numbers for a region
    (GRID + EE + "region = [-114.5, 47.4, -113.9]",
     "[sources.ee].region: give 4 numbers [west, south, east, north] in degrees, or a polygon file path; got 3 numbers [-114.5, 47.4, -113.9]"),
    (GRID + EE + "region = [1, 2, 3, 4, 5]",
     "[sources.ee].region: give 4 numbers [west, south, east, north] in degrees, or a polygon file path; got 5 numbers [1, 2, 3, 4, 5]"),
    (GRID + EE + 'region = ["a", "b", "c", "d"]',
     "[sources.ee].region: give 4 numbers [west, south, east, north] in degrees, or a polygon file path; got a list of 4 items ['a', 'b', 'c', 'd']"),
    (GRID + EE + "region = 5",
     "[sources.ee].region: give 4 numbers [west, south, east, north] in degrees, or a polygon file path; got the number 5"),
    # int-or-str band
    (GRID + '[inputs.ndvi]\npath = "x.tif"\nband = 1.5',
     '[inputs.ndvi].band: give a layer number (1, 2, ...) or a layer name (text, e.g. "NDVI"); got the number 1.5'),
    (GRID + '[inputs.ndvi]\npath = "x.tif"\nband = [1, 2]',
     '[inputs.ndvi].band: give a layer number (1, 2, ...) or a layer name (text, e.g. "NDVI"); got 2 numbers [1, 2]'),
    (GRID + '[inputs.ndvi]\npath = "x.tif"\nband = true',
     '[inputs.ndvi].band: band = true: give a layer number (1, 2, ...) or a layer name (text, e.g. "NDVI")'),
    # a fixed-length list that is not a union: 3 numbers used to read "required key is missing"
    ('[grid]\ncrs = "EPSG:4326"\nbounds = [0.0, 0.0, 1.0]\nresolution = 0.01\n',
     "[grid].bounds: give 4 numbers [left, bottom, right, top] in CRS units; got 3 numbers [0.0, 0.0, 1.0]"),
    (GRID + '[inputs.ndvi]\npath = "x.tif"\nvalid_range = [0, 1, 2]',
     "[inputs.ndvi].valid_range: give 2 numbers [min, max]; got 3 numbers [0, 1, 2]"),
    # int-or-'units', with the near choice named
    (GRID + "[models]\ncv_blocks = \"unit\"",
     "[models].cv_blocks: give a block size in pixels (a whole number) or 'units'; got the text 'unit' (did you mean 'units'?)"),
    (GRID + "[models]\ncv_blocks = 2.5",
     "[models].cv_blocks: give a block size in pixels (a whole number) or 'units'; got the number 2.5"),
    # choices and lists
    (GRID + '[inputs.ndvi]\npath = "x.tif"\nkind = "fractions"\nclasses = [1]',
     "[inputs.ndvi].kind: give one of 'continuous', 'categorical', 'fraction'; got the text 'fractions' (did you mean 'fraction'?)"),
    (GRID + '[sources.ee]\nyear = 2020\ndatasets = ["srtm", 3]',
     "[sources.ee].datasets: give a list of texts; got a list of 2 items ['srtm', 3]"),
    (GRID + '[evaluation]\nlabel_map = {a = 2}',
     "[evaluation].label_map: give a table whose values are one of -1, 0, 1; got the table {'a': 2}"),
    ('[grid]\nlike = 5\n', "[grid].like: give a file path; got the number 5"),
])
def test_one_plain_line_per_key(tmp_path, text, line):
    msg = _message(tmp_path, text)
    assert line in msg
    assert msg.count("got ") == line.count("got ")  # one line for the key, not one per accepted shape


def test_a_validators_own_message_is_kept(tmp_path):
    # band 0 is a whole number (the right shape) but no layer: the validator's words, not the shape's
    msg = _message(tmp_path, GRID + '[inputs.ndvi]\npath = "x.tif"\nband = 0')
    assert "[inputs.ndvi].band: band 0: layers are numbered from 1 (or give the layer's name)" in msg


def test_a_sections_own_check_names_the_section(tmp_path):
    # four numbers in the wrong order pass the shape and fail [sources.ee]'s check
    msg = _message(tmp_path, GRID + EE + "region = [3.0, 0.0, 1.0, 1.0]")
    assert "[sources.ee]: region [3.0, 0.0, 1.0, 1.0] is not [west, south, east, north]" in msg
    msg = _message(tmp_path, GRID + '[inputs.c]\npath = "x.tif"\nkind = "fraction"')
    assert "[inputs.c]: kind = 'fraction' needs `classes`" in msg


def test_several_bad_keys_each_get_their_line(tmp_path):
    msg = _message(tmp_path, GRID + EE + 'region = [1, 2, 3]\n[inputs.ndvi]\npath = "x.tif"\nband = 1.5')
    assert msg.count("give ") == 2 and "[sources.ee].region" in msg and "[inputs.ndvi].band" in msg


def test_constraint_messages_are_unchanged(tmp_path):
    # a number of the right type out of its range keeps pydantic's plain sentence
    cfg = tmp_path / "run.toml"
    cfg.write_text('[grid]\ncrs = "EPSG:4326"\nbounds = [0.0, 0.0, 1.0, 1.0]\nresolution = -1.0\n')
    with pytest.raises(ConfigError, match=r"\[grid\]\.resolution: Input should be greater than 0"):
        load_config(cfg)


def test_the_cli_prints_the_region_message_in_one_line(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text(GRID + EE + "region = [-114.5, 47.4, -113.9]")
    assert main(["fetch", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "[sources.ee].region: give 4 numbers" in err and "got 3 numbers" in err
    assert not any(bit in err for bit in INTERNALS)
