"""Units whose parent codes sit in their own fields (hierarchy 'fields', [units].parent_fields of a run) on the
command line: --hierarchy fields --parent-field LEVEL=FIELD for every command that reads units, and the
"Reproduce with" command of `evaluate statistics` / `evaluate compare` written with those flags, so that it runs and
gives the same figures (it was refused by argparse: 'fields' was no --hierarchy choice).

Truth: city totals are the plain sums of their counties' numpy-counted irrigated pixels times pyproj.Geod pixel areas."""

from __future__ import annotations

import json
import shlex

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.evaluation.workflow import statistics_agreement
from tests.test_evaluation_map_values import N, RES, W, _write

SHAPE = (8, 12)
#: county -> (first column, last column + 1, parent city)
COUNTIES = {"A1": (0, 4, "CA"), "A2": (4, 8, "CA"), "B1": (8, 12, "CB")}


def _pixel_area(row: int) -> float:
    geod = Geod(ellps="WGS84")
    return abs(geod.polygon_area_perimeter([W, W + RES, W + RES, W], [N - (row + 1) * RES] * 2 + [N - row * RES] * 2)[0])


@pytest.fixture()
def case(tmp_path):
    m = np.zeros(SHAPE, np.float32)
    m[:3, :] = 1.0  # rows 0-2 irrigated everywhere (a 0/1 map read as fractions: whole pixels)
    m[5, 1] = 1.0
    _write(tmp_path / "map.tif", m)
    gpd.GeoDataFrame([{"code": c, "city": p, "geometry": box(W + c0 * RES, N - SHAPE[0] * RES, W + c1 * RES, N)}
                      for c, (c0, c1, p) in COUNTIES.items()], crs="EPSG:4326").to_file(tmp_path / "units.geojson")
    pd.DataFrame({"code": list(COUNTIES), "irrigated_area": [3.0, 2.0, 4.0]}).to_csv(tmp_path / "s.csv", index=False)
    area = np.array([_pixel_area(r) for r in range(SHAPE[0])])[:, None] * np.ones(SHAPE)
    mapped = {c: float((m[:, c0:c1] * area[:, c0:c1]).sum()) for c, (c0, c1, _) in COUNTIES.items()}
    return tmp_path, mapped


def _stats_cmd(d, *extra):
    return ["-q", "evaluate", "statistics", str(d / "map.tif"), "--units", str(d / "units.geojson"), "--unit-field", "code",
            "--stats", str(d / "s.csv"), "--stats-field", "code", "--area-field", "irrigated_area", "--area-unit", "ha",
            "--map-kind", "fraction", *extra]


def test_statistics_by_parent_field_city_totals_and_reproduce_line(case, capsys):
    """As a run evaluates ([units].parent_fields, passed as AdminUnits.read's parent_fields): city totals are the sums
    of their counties, and the "Reproduce with" command carries --hierarchy fields --parent-field city=city and runs."""
    d, mapped = case
    res = statistics_agreement(d / "map.tif", d / "units.geojson", "code", d / "s.csv", "code", "irrigated_area", "ha",
                               hierarchy="fields", units_read={"parent_fields": {"city": "city"}})
    city = res.levels["city"].set_index("code")
    assert sorted(city.index) == ["CA", "CB"]
    assert city.loc["CA", "mapped_m2"] == pytest.approx(mapped["A1"] + mapped["A2"], rel=1e-9)
    assert city.loc["CB", "mapped_m2"] == pytest.approx(mapped["B1"], rel=1e-9)
    assert city.loc["CA", "statistic_m2"] == pytest.approx(5e4) and city.loc["CB", "statistic_m2"] == pytest.approx(4e4)
    cmd = shlex.split(res.command)
    assert cmd[:3] == ["irrmap", "evaluate", "statistics"]
    assert "--parent-field" in cmd and cmd[cmd.index("--parent-field") + 1] == "city=city"
    capsys.readouterr()
    assert main(["-q", *cmd[1:]]) == 0  # the reproducing command runs (argparse refused 'fields') ...
    out = json.loads(capsys.readouterr().out)
    assert out["levels"]["city"]["n"] == 2  # ... and pairs the same two cities
    assert out["levels"]["city"]["rmse"] == pytest.approx(res.metrics["city"]["rmse"] / 1e4, rel=1e-9)  # m2 -> ha


@pytest.mark.parametrize("flags, message", [
    (["--hierarchy", "fields"], "--parent-field"),
    (["--parent-field", "city=city"], "--hierarchy fields"),
    (["--hierarchy", "fields", "--parent-field", "city=city", "--parent-field", "city=code"], "given twice"),
])
def test_parent_field_misuse_is_one_line_exit_2(case, capsys, flags, message):
    d, _ = case
    assert main(_stats_cmd(d, *flags)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_units_info_counts_parent_levels(case, capsys):
    d, _ = case
    assert main(["units", "info", str(d / "units.geojson"), "--code-field", "code", "--hierarchy", "fields",
                 "--parent-field", "city=city"]) == 0
    out = capsys.readouterr().out
    assert "city            2 codes" in out and "unit            3 codes" in out
