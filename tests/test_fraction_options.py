"""Every option and config key that is a fraction in 0..1 refuses a percent typed for it (`--tolerance 10`)
with the percent reading as the fix, through the one shared check (irrmap.core.fractions); a percent
tolerance used to put a 93 %-clouded body of Flathead Lake into the water-change totals."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from irrmap.app.cli import main

# (command line up to the option, option, its range end that 10 / 100 must respect): listed explicitly
CLI_FRACTIONS = [
    (["water", "mask", "o.tif", "scene"], "--detection"),
    (["water", "mask", "o.tif", "scene"], "--extent"),
    (["water", "mask", "o.tif", "scene"], "--permanent"),
    (["water", "change", "out", "a", "b"], "--tolerance"),
    (["features", "nscore", "vi.tif", "out.tif"], "--min-share"),
    (["treecover", "fit", "model", "--bands", "bands.tif", "--reference", "vcf.tif"], "--min-coverage"),
    (["evaluate", "points", "map.tif", "pts.gpkg", "--label-field", "label"], "--min-crop-fraction"),
    (["evaluate", "sample-size", "--mapped", "m.csv", "--expected-ua", "u.csv"], "--target-se"),
]


@pytest.mark.parametrize("argv, option", CLI_FRACTIONS, ids=[f"{a[0]}-{a[1]}{o}" for a, o in CLI_FRACTIONS])
def test_cli_fraction_option_refuses_percent(argv, option, capsys):
    with pytest.raises(SystemExit) as exc:
        main([*argv, option, "10"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert option in err and "10 looks like a percent: use 0.10" in err, err
    assert "Traceback" not in err


@pytest.mark.parametrize("argv, option", CLI_FRACTIONS, ids=[f"{a[0]}-{a[1]}{o}" for a, o in CLI_FRACTIONS])
def test_cli_fraction_option_takes_a_fraction(argv, option):
    from irrmap.app.cli import build_parser

    args = build_parser([*argv, option, "0.5"]).parse_args([*argv, option, "0.5"])
    assert getattr(args, option.lstrip("-").replace("-", "_")) == 0.5


def test_percent_options_keep_their_percent_unit():
    """treecover change's thresholds are documented in percent: 10 stays valid there."""
    from irrmap.app.cli import build_parser

    argv = ["treecover", "change", "out", "a.tif", "b.tif", "--change-threshold", "10", "--forest-threshold", "30"]
    args = build_parser(argv).parse_args(argv)
    assert (args.change_threshold, args.forest_threshold) == (10.0, 30.0)


# config keys that are fractions: (section model, key, its interval's text)
def _config_fractions():
    from irrmap.core.config import ReconcileSection, TreecoverSection, WaterSection

    return [(WaterSection, k, span) for k, span in (("detection", "[0, 1)"), ("extent", "[0, 1)"), ("permanent", "(0, 1]"),
                                                      ("tolerance", "[0, 1]"), ("iou", "(0, 1]"))] + [
        (ReconcileSection, "tolerance", "[0, 1]"), (TreecoverSection, "min_coverage", "(0, 1]")]


@pytest.mark.parametrize("i", range(7))
def test_config_fraction_key_refuses_percent(i):
    from pydantic import BaseModel, ValidationError

    from irrmap.core.config import explain_errors

    model, key, span = _config_fractions()[i]
    assert issubclass(model, BaseModel)
    with pytest.raises(ValidationError) as exc:
        model.model_validate({key: 10})  # other required keys missing too: only this key's line is checked
    lines = [ln for ln in explain_errors(exc.value.errors()) if ln.startswith(key + ":")]
    assert lines == [f"{key}: 10 is not a fraction in {span} (fix: 10 looks like a percent: use 0.10)"], lines


def test_features_share_keys_name_the_percent_reading():
    from irrmap.core.config import feature_problems

    lines = feature_problems({"reference_min_share": 50, "mixed_upper": 90})
    assert any("reference_min_share" in ln and "50 looks like a percent: use 0.50" in ln for ln in lines), lines
    assert any("mixed_upper" in ln and "90 looks like a percent: use 0.90" in ln for ln in lines), lines


def test_fraction_problem_hand_cases():
    from irrmap.core.fractions import fraction_problem

    assert fraction_problem(0.1, "x") is None and fraction_problem(1.0, "x") is None and fraction_problem(0.0, "x") is None
    assert fraction_problem(1.0, "x", high_open=True)[1] == "give a fraction in [0, 1), e.g. 0.10 for 10 %"
    assert fraction_problem(12.5, "x")[1] == "12.5 looks like a percent: use 0.125"
    assert fraction_problem(float("nan"), "x")[0] == "x nan is not a fraction in [0, 1]"
    assert "percent" not in fraction_problem(250, "x")[1]  # 2.5 is no fraction either
    assert "percent" not in fraction_problem(-5, "x")[1]


def test_library_tolerance_refuses_percent():
    import pandas as pd
    from irrmap.mapping.water.change import match_bodies

    from irrmap.core.errors import InputError

    t = pd.DataFrame({"body_id": [1], "area_m2": [1.0]})
    with pytest.raises(InputError, match="10 looks like a percent: use 0.10"):
        match_bodies(t, None, t, None, tolerance=10)


FLATHEAD = Path("/work/shared/data/landsat")


@pytest.mark.skipif(not (FLATHEAD / "flathead_lt5_19970602").is_dir(), reason="Flathead Landsat scenes not present")
def test_water_change_on_flathead_refuses_percent_tolerance(tmp_path):
    """The probe's run: masks and bodies of 1997 and 2015, then `water change --tolerance 10` exits 2 naming the
    percent reading, with no output folder written (it used to report Polson Bay as merged and +911 %)."""
    exe = [sys.executable, "-m", "irrmap", "-q"]
    for e in ("lt5_19970602", "lc8_20150604"):
        subprocess.run([*exe, "water", "mask", str(tmp_path / f"m_{e}.tif"), str(FLATHEAD / f"flathead_{e}")], check=True)
        subprocess.run([*exe, "water", "bodies", str(tmp_path / f"b_{e}"), str(tmp_path / f"m_{e}.tif")], check=True)
    out = tmp_path / "c"
    r = subprocess.run([*exe, "water", "change", str(out), str(tmp_path / "b_lt5_19970602"), str(tmp_path / "b_lc8_20150604"),
                        "--tolerance", "10"], check=False, capture_output=True, text=True)
    assert r.returncode == 2, r.stderr
    assert "--tolerance" in r.stderr and "10 looks like a percent: use 0.10" in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()
    ok = subprocess.run([*exe, "water", "change", str(out), str(tmp_path / "b_lt5_19970602"), str(tmp_path / "b_lc8_20150604"),
                         "--tolerance", "0.10"], check=False, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    shutil.rmtree(out)
