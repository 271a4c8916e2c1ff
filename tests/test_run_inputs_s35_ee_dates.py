"""[sources.ee] dates outside a collection's images are refused offline, at plan time, with the dataset's dates.

Truth: the "Dataset Availability" of the Earth Engine Data Catalog pages (MODIS/061/MOD13Q1 from 2000-02-18,
LANDSAT/LC08/C02/T1_L2 from 2013-03-18, LANDSAT/LT05/C02/T1_L2 to 2012-05-05). Before, `irrmap fetch --dry-run`
planned 12 requests for MOD13Q1 and Landsat 8 in 1999 and exited 0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from irrmap.app.cli import main
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError, IrrmapError
from irrmap.sources.ee.plan import plan_from_config
from tests.run_config import write_run_config


def _config(tmp_path: Path, ee: str) -> Path:
    return write_run_config(tmp_path, f"[sources.ee]\n{ee}")


def _plan(tmp_path, ee):
    loaded = load_config(_config(tmp_path, ee))
    return plan_from_config(loaded, loaded.grid())


@pytest.mark.parametrize("ee, dataset, dates", [
    ('year = 1999\ndatasets = ["mod13q1"]', "mod13q1", "from 2000-02-18 to the present"),
    ('start = "2000-01-01"\nend = "2000-03-01"\ndatasets = ["mod09a1"]', "mod09a1", "from 2000-02-18"),
    ('start = "2013-01-01"\nend = "2013-06-01"\ndatasets = ["landsat8"]', "landsat8", "from 2013-03-18"),
    ('year = 2012\ndatasets = ["landsat5"]', "landsat5", "from 1984-03-16 to 2012-05-05"),
    ('year = 2020\ndatasets = ["landsat9"]', "landsat9", "from 2021-10-31"),
    ('year = 2016\ndatasets = ["sentinel2"]', "sentinel2", "from 2017-03-28"),
])
def test_dates_outside_the_collection_are_refused_with_its_dates(tmp_path, dataset, ee, dates):
    with pytest.raises(ConfigError) as err:
        _plan(tmp_path, ee)
    msg = str(err.value)
    assert f"dataset {dataset!r}" in msg and dates in msg and "[sources.ee].datasets" in msg
    assert not (tmp_path / "out").exists()  # nothing planned on disk


def test_every_refused_dataset_is_named_and_a_covering_one_suggested(tmp_path):
    with pytest.raises(IrrmapError) as err:
        _plan(tmp_path, 'year = 1999\ndatasets = ["mod13q1", "landsat8", "terraclimate_pet"]')
    msg = str(err.value)
    assert "2 problems" in msg and "'mod13q1'" in msg and "'landsat8'" in msg and "terraclimate" not in msg  # TerraClimate: from 1958
    # Landsat 5 (1984-03-16 .. 2012-05-05) covers 1999; Landsat 7 (from 1999-05-28) does not
    assert "or the dataset 'landsat5', which covers them" in msg and "'landsat7'" not in msg


@pytest.mark.parametrize("ee", [
    'year = 2000\ndatasets = ["srtm", "jrc_gsw", "worldcover"]',  # single images: no date filter, no dates to check
    'start = "2000-02-18"\nend = "2001-01-01"\ndatasets = ["mod13q1"]',  # the first day itself
    'start = "2013-03-18"\nend = "2014-01-01"\ndatasets = ["landsat8"]',
    'start = "2012-01-01"\nend = "2012-05-06"\ndatasets = ["landsat5"]',  # end excluded: the last day included
    'year = 2020\ndatasets = ["mod13q1", "mod09a1", "sentinel2", "terraclimate_pet"]',
])
def test_dates_inside_pass(tmp_path, ee):
    plan = _plan(tmp_path, ee)
    assert plan.outputs


def test_own_catalogue_entry_on_a_known_collection_is_held_to_its_dates(tmp_path):
    ee = 'year = 1999\ndatasets = ["myvi"]\n[sources.ee.catalog.myvi]\nbase = "mod13q1"\noutputs = ["ndvi_max"]'
    with pytest.raises(ConfigError, match="2000-02-18"):
        _plan(tmp_path, ee)


def test_fetch_dry_run_exits_2_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ee", None)  # offline: earthengine-api is not even importable
    cfg = _config(tmp_path, 'year = 1999\ndatasets = ["mod13q1", "landsat8"]')
    assert main(["fetch", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "2000-02-18" in err and "2013-03-18" in err and "Traceback" not in err
