"""[sources.ee].year names the same crop season as the features stage ([features].season_start).

Before, `year = 2014` fetched 2014-01-01 .. 2015-01-01 whatever the season: with `season_start = "09-01"` (a Sep-Aug
crop year, season 2014 = 2013-09-01 .. 2014-08-31 by the harvest-year convention of irrmap.core.season) the features
stage then kept the 2014 images of Jan-Aug only and the fetch carried four months of the next season. Truth by hand:
the season's first day and the day after its last. The calendar default is the control (the old dates, the old
request keys: tiles fetched before are not fetched again).
"""

from __future__ import annotations

import json

import pytest

from irrmap.core.config import EESource, load_config
from irrmap.core.grid import Grid
from irrmap.sources.ee.catalog import CATALOG
from irrmap.sources.ee.plan import date_range, plan_fetch, plan_from_config
from tests.run_config import write_run_config

GRID = Grid.from_bounds(-56.0, -12.5, -55.5, -12.0, 0.0025, "EPSG:4326")  # Sinop, Mato Grosso
MOD13Q1 = CATALOG["mod13q1"]


def _sec(**kw) -> EESource:
    return EESource(**{"year": 2014, "datasets": ["mod13q1"], **kw})


@pytest.mark.parametrize("season_start, start, end", [
    (None, "2014-01-01", "2015-01-01"),        # control: the calendar year, as before
    ("01-01", "2014-01-01", "2015-01-01"),     # control: the default written out
    ("09-01", "2013-09-01", "2014-09-01"),     # the 2013/14 soy season, harvested in 2014
    ((7, 15), "2013-07-15", "2014-07-15"),
])
def test_year_is_the_season_of_that_name(season_start, start, end):
    assert date_range(_sec(), season_start) == (start, end)


def test_start_and_end_are_kept_as_given():
    assert date_range(_sec(year=None, start="2013-10-01", end="2014-04-01"), "09-01") == ("2013-10-01", "2014-04-01")


def test_plan_takes_the_season_and_its_request_keys(tmp_path):
    paths = {n: tmp_path / f"{n}.tif" for n in MOD13Q1.outputs}
    cal = plan_fetch(_sec(), GRID, paths, [MOD13Q1])
    sep = plan_fetch(_sec(), GRID, paths, [MOD13Q1], season_start="09-01")
    assert (cal.start, cal.end) == ("2014-01-01", "2015-01-01")
    assert (sep.start, sep.end) == ("2013-09-01", "2014-09-01")
    assert cal.outputs[0].key != sep.outputs[0].key  # other images: tiles of the calendar year are not reused


def _units(tmp_path):
    path = tmp_path / "units.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"code": "5107909"},
                                "geometry": {"type": "Polygon", "coordinates": [[[-56, -12.5], [-55.5, -12.5], [-55.5, -12], [-56, -12],
                                                                                 [-56, -12.5]]]}}]}))
    return path


@pytest.mark.parametrize("features, start", [("", "2014-01-01"), ('season_start = "09-01"', "2013-09-01")])
def test_the_run_config_season_reaches_the_fetch(tmp_path, features, start):
    body = (f'[units]\npath = "{_units(tmp_path).name}"\ncode_field = "code"\n'
            f"[features]\n{features}\n"
            '[sources.ee]\nyear = 2014\ndatasets = ["mod13q1"]\n')
    loaded = load_config(write_run_config(tmp_path, body, bounds="[-56.0, -12.5, -55.5, -12.0]"))
    assert plan_from_config(loaded, loaded.grid()).start == start
