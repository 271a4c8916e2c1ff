"""A list option (nargs +) given before the positional arguments takes them as its values; the usage error says
which option took them and how to fix it, for every command (the parser class is shared by all)."""

from __future__ import annotations

import pytest

from irrmap.app.cli import main


@pytest.mark.parametrize("argv, option", [  # untyped lists: "arguments are required"; typed: "invalid float value"
    (["features", "composite", "--qa", "qa.tif", "out.tif", "evi.tif"], "--qa"),
    (["features", "composite", "--fill", "-3000", "65531", "out.tif", "evi.tif"], "--fill"),
    (["suitability", "aridity", "--precip", "p.tif", "out.tif"], "--precip"),
])
def test_list_option_that_took_the_positionals_is_named(argv, option, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"{option} took every value after it as its list" in err or f"{option} is a list option" in err
    assert "end its list with --" in err


def test_no_hint_when_the_list_was_not_the_cause(capsys):
    with pytest.raises(SystemExit):
        main(["features", "composite", "--qa", "qa.tif"])  # one value: the positionals are simply missing
    err = capsys.readouterr().err
    assert "the following arguments are required: OUT, FILE" in err and "took every value" not in err


def test_a_list_ended_with_double_dash_leaves_the_positionals(tmp_path, capsys):
    # the parse succeeds (the command then fails on the missing files, exit 2, not a usage error)
    code = main(["features", "composite", "--qa", str(tmp_path / "qa.tif"), "--", str(tmp_path / "o.tif"), str(tmp_path / "evi.tif")])
    assert code == 2 and "arguments are required" not in capsys.readouterr().err


@pytest.mark.parametrize("option, items", [("--label-map", ["2=1", "2=0"]), ("--stratum-size", ["arid=10", "arid=20"])])
def test_a_repeated_key_of_a_key_value_option_is_refused(tmp_path, capsys, option, items):
    # a dict kept the last of two VALUE=LABEL (or STRATUM=PIXELS) items without a word
    argv = ["evaluate", "points", str(tmp_path / "m.tif"), str(tmp_path / "p.csv"), "--label-field", "label", "--stratum-field", "s"]
    for it in items:
        argv += [option, it]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "is given twice" in err and option in err
