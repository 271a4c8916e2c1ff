"""The statistics' year against the image dates, and crop seasons that cross New Year (southern hemisphere).

- `[statistics].year = 2015` with images of 2020 ran silently (a series of one year's span was never matched with
  the year): the run, its --check and the features stage now refuse it (exit 2) naming the dates and the year.
- A season could only be a calendar year: `--year 2014` on Sinop's Sep-Aug crop years mixed two soy seasons in one
  maximum. `--season-start MM-DD` / `[features].season_start` name the season by the year it ends in (FAOSTAT's
  harvest-year convention): 2014 with 09-01 is [2013-09-01, 2014-09-01).

Expected values come from numpy over the dates selected here with datetime comparisons (independent of the
package's season code), and from the written GeoTIFFs read with rasterio.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pytest
import rasterio
from test_pipeline_cli import CONFIG, project  # noqa: F401 - the tiny two-county project and its fixture

from irrmap.app.cli import main
from irrmap.core.errors import ConfigError, InputError
from irrmap.core.grid import Grid

SINOP = Grid.from_bounds(-55.60, -11.90, -55.50, -11.80, 0.0125, "EPSG:4326")  # 8 x 8 pixels at Sinop, Mato Grosso
NORTH = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.0125, "EPSG:4326")  # the tiny project's area (Gansu)


def _modis(first: dt.date, last: dt.date) -> list[dt.date]:
    """MOD13Q1's dates (days 1, 17, ..., 353 of each year) from `first` to `last`."""
    days = (dt.date(y, 1, 1) + dt.timedelta(days=16 * k) for y in range(first.year, last.year + 1) for k in range(23))
    return [d for d in days if first <= d <= last]


def _stack(path, dates, grid=SINOP, seed=0):
    """One multi-band float GeoTIFF (one band per date, band descriptions YYYY-MM-DD: the reader's dates) of random
    values 0.1..0.9 (already decoded), written with rasterio; returns (path, cube)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cube = np.random.default_rng(seed).uniform(0.1, 0.9, (len(dates), *grid.shape)).astype("float32")
    with rasterio.open(path, "w", driver="GTiff", height=grid.shape[0], width=grid.shape[1], count=len(dates),
                       dtype="float32", crs=grid.crs, transform=grid.transform, nodata=float("nan")) as dst:
        dst.write(cube)
        for k, d in enumerate(dates, 1):
            dst.set_band_description(k, d.isoformat())
    return path, cube


def _read(path):
    with rasterio.open(path) as src:
        return src.read(), src.descriptions, src.tags()


def _rc(argv) -> int:
    """The exit status of `irrmap ARGV` (argparse's errors raise SystemExit, irrmap's return the status)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _warnings(caplog, text):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and text in r.getMessage()]


# ---- the season a year names ------------------------------------------------------------------------------------
def test_season_of_a_year_ends_in_that_year():
    from irrmap.core.season import parse_season_start, season_bounds

    assert season_bounds(2014) == (dt.date(2014, 1, 1), dt.date(2015, 1, 1))
    assert season_bounds(2014, (9, 1)) == (dt.date(2013, 9, 1), dt.date(2014, 9, 1))
    assert season_bounds(2020, (3, 1)) == (dt.date(2019, 3, 1), dt.date(2020, 3, 1))  # spans 2020-02-29: 366 days
    assert parse_season_start("09-01") == (9, 1)
    for bad in ("9-1", "13-01", "02-30", "02-29", "0901", ""):
        with pytest.raises(ValueError):
            parse_season_start(bad)


# ---- the CLI: --season-start ------------------------------------------------------------------------------------
def test_cli_season_start_composites_the_crop_year(tmp_path, caplog):
    """MOD13Q1 dates 2013-06-10 .. 2015-01-17. --year 2014 --season-start 09-01 is the max/count of the dates in
    [2013-09-01, 2014-09-01) (numpy); without --season-start, those of calendar 2014 (a control: as before)."""
    dates = _modis(dt.date(2013, 6, 1), dt.date(2015, 1, 20))
    folder, cube = _stack(tmp_path / "evi.tif", dates)
    for extra, lo, hi in ((["--season-start", "09-01"], dt.date(2013, 9, 1), dt.date(2014, 9, 1)),
                          ([], dt.date(2014, 1, 1), dt.date(2015, 1, 1))):
        sel = np.array([lo <= d < hi for d in dates])
        out = tmp_path / f"o{len(extra)}.tif"
        assert main(["-q", "features", "composite", str(out), str(folder), "--year", "2014", "--stat", "max", "--stat", "count",
                     *extra]) == 0
        bands, names, tags = _read(out)
        assert names == ("vi_max", "vi_count") and int(tags["dates"]) == sel.sum()
        np.testing.assert_allclose(bands[0], cube[sel].max(axis=0), rtol=0, atol=0)
        np.testing.assert_array_equal(bands[1], np.full(SINOP.shape, sel.sum()))


def test_cli_calendar_cut_south_of_the_equator_warns(tmp_path, caplog):
    """A cut at 1 January that drops dates warns south of the equator (the soy season crosses New Year), names
    --season-start; the same dates north of the equator, or with --season-start, give no such warning."""
    dates = _modis(dt.date(2013, 9, 14), dt.date(2014, 12, 31))
    south, _ = _stack(tmp_path / "south.tif", dates)
    north, _ = _stack(tmp_path / "north.tif", dates, NORTH)
    for folder, extra, warned in ((south, [], 1), (north, [], 0), (south, ["--season-start", "09-01"], 0)):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder), "--year", "2014", *extra]) == 0
        got = _warnings(caplog, "south of the equator")
        assert len(got) == warned, (folder, extra, got)
        assert all("--season-start" in m and "09-01" in m for m in got)


def test_cli_season_start_refusals(tmp_path, capsys):
    folder, _ = _stack(tmp_path / "evi.tif", _modis(dt.date(2013, 9, 14), dt.date(2014, 8, 29)))
    for args, words in ((["--year", "2014", "--season-start", "02-30"], ("--season-start", "02-30")),
                        (["--season-start", "09-01"], ("--season-start needs --year",)),
                        (["--year", "2016", "--season-start", "09-01"], ("2015-09-01", "2016-08-31", "2013, 2014"))):
        assert _rc(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder), *args]) == 2, args
        err = capsys.readouterr().err
        assert all(w in err for w in words), (args, err)


def test_cli_explicit_year_with_few_dates_warns(tmp_path, caplog):
    """--year 2020 on 2019-01-01 .. 2020-01-17 keeps the 2 dates of 2020 (as asked) but says they are not a year's."""
    dates = _modis(dt.date(2019, 1, 1), dt.date(2020, 1, 20))
    folder, cube = _stack(tmp_path / "evi.tif", dates, NORTH)
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "features", "composite", str(tmp_path / "o.tif"), str(folder), "--year", "2020"]) == 0
    (msg,) = _warnings(caplog, "fewer than half")
    assert "only 2 of the 25 dates" in msg
    np.testing.assert_array_equal(_read(tmp_path / "o.tif")[0][0], cube[-2:].max(axis=0))


# ---- the run: [statistics].year against the dates --------------------------------------------------------------
def _composite(section, grid, tmp_path, year):
    from irrmap.training.sscore import composite_rasters

    return composite_rasters({"mixed": False, **section}, grid, f_crop=None, base_dir=tmp_path, year=year)


def test_run_refuses_statistics_of_another_year(tmp_path):
    """One year of 2020 images (span <= 366 days) with [statistics].year = 2015: refused, naming 2020 and the key."""
    _stack(tmp_path / "evi.tif", _modis(dt.date(2020, 1, 1), dt.date(2020, 12, 31)), NORTH)
    with pytest.raises(InputError) as exc:
        _composite({"evi": "evi.tif"}, NORTH, tmp_path, 2015)
    msg = str(exc.value)
    assert "none of the 23 dates from 2020-01-01 to 2020-12-18" in msg and "2015" in msg and "[statistics].year" in msg, msg
    assert "year of the images (2020)" in msg and "[features].season_start" in msg


def test_run_one_season_partly_outside_the_year(tmp_path, caplog):
    """A Sep-Aug season (2013-09-14 .. 2014-08-29, 23 dates: 7 of 2013, 16 of 2014): year 2013 holds fewer than half
    (refused); year 2014 holds 16 (warned, composited whole: numpy max of all 23); with season_start 09-01 and
    year 2014 all fall in the season (no warning), and year 2013 is the season before: refused."""
    dates = _modis(dt.date(2013, 9, 14), dt.date(2014, 8, 29))
    assert sum(d.year == 2013 for d in dates) == 7
    _, cube = _stack(tmp_path / "evi.tif", dates)
    with pytest.raises(InputError, match=r"only 7 of the 23 dates .* year 2013"):
        _composite({"evi": "evi.tif"}, SINOP, tmp_path, 2013)
    with caplog.at_level(logging.WARNING):
        out = _composite({"evi": "evi.tif"}, SINOP, tmp_path, 2014)
    (msg,) = _warnings(caplog, "fall outside")
    assert "7 of the 23 dates" in msg and "2013-09-14" in msg and "[features].season_start" in msg
    np.testing.assert_allclose(out["evi_max"].values, cube.max(axis=0), rtol=0, atol=0)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        out = _composite({"evi": "evi.tif", "season_start": "09-01"}, SINOP, tmp_path, 2014)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    np.testing.assert_allclose(out["evi_max"].values, cube.max(axis=0), rtol=0, atol=0)
    with pytest.raises(InputError, match=r"none of the 23 dates .* season 2013 \(2012-09-01 to 2013-08-31\)"):
        _composite({"evi": "evi.tif", "season_start": "09-01"}, SINOP, tmp_path, 2013)


def test_run_cut_keeps_the_season_and_refuses_too_few(tmp_path):
    """Two crop years (2013-09-14 .. 2015-08-29): season_start 09-01 and year 2014 keep [2013-09-01, 2014-09-01)
    (numpy max); a series with only 2 dates of the year ([statistics].year = 2020 on 2019-01 .. 2020-01) is refused."""
    dates = _modis(dt.date(2013, 9, 14), dt.date(2015, 8, 29))
    _, cube = _stack(tmp_path / "evi.tif", dates)
    sel = np.array([dt.date(2013, 9, 1) <= d < dt.date(2014, 9, 1) for d in dates])
    out = _composite({"evi": "evi.tif", "season_start": "09-01", "stats": ["count"]}, SINOP, tmp_path, 2014)
    np.testing.assert_allclose(out["evi_max"].values, cube[sel].max(axis=0), rtol=0, atol=0)
    np.testing.assert_array_equal(out["evi_count"].values, np.full(SINOP.shape, sel.sum()))
    _stack(tmp_path / "few.tif", _modis(dt.date(2019, 1, 1), dt.date(2020, 1, 20)), NORTH)
    with pytest.raises(InputError, match=r"only 2 of the 25 dates .* fewer than half"):
        _composite({"evi": "few.tif"}, NORTH, tmp_path, 2020)


def test_bad_season_start_in_the_config():
    from irrmap.core.config import feature_problems
    from irrmap.training.sscore import season_start_of

    assert feature_problems({"season_start": "09-01"}) == []
    for bad in ("9-1", "02-29", 901):
        (line,) = feature_problems({"season_start": bad})
        assert line.startswith("[features].season_start: give") and "MM-DD" in line
    with pytest.raises(ConfigError, match="season_start"):
        season_start_of({"season_start": "13-01"})


# ---- run --check and the stage fingerprint on the tiny project -----------------------------------------------------
def _with_features(project, year: int):  # noqa: F811
    _stack(project / "evi.tif", _modis(dt.date(2020, 1, 1), dt.date(2020, 12, 31)), NORTH)
    (project / "config.toml").write_text(CONFIG + f"year = {year}\n" + '\n[features]\nevi = "evi.tif"\nmixed = false\n')
    return str(project / "config.toml")


def test_run_check_refuses_statistics_of_another_year(project, capsys):  # noqa: F811
    cfg = _with_features(project, 2015)
    rc = _rc(["-q", "run", "--check", cfg])
    err = capsys.readouterr().err
    assert rc == 2 and "[features].evi" in err and "2020-01-01 to 2020-12-18" in err and "year 2015" in err, err
    assert main(["-q", "run", "--check", _with_features(project, 2020)]) == 0  # control: the images' year


def test_season_start_reruns_the_features_stage(project):  # noqa: F811
    """A Sep-Aug season of images (2019-09-14 .. 2020-08-28) with [statistics].year = 2020: run, then set
    season_start = "09-01": only the features stage reruns (its fingerprint holds [features])."""
    import json

    _stack(project / "evi.tif", _modis(dt.date(2019, 9, 14), dt.date(2020, 8, 31)), NORTH)
    text = CONFIG + 'year = 2020\n\n[features]\nevi = "evi.tif"\nmixed = false\nreference_min_share = 0.3\n'
    (project / "config.toml").write_text(text)
    assert main(["-q", "run", str(project / "config.toml")]) == 0
    (project / "config.toml").write_text(text + 'season_start = "09-01"\n')
    assert main(["-q", "run", str(project / "config.toml")]) == 0
    stages = json.loads((project / "out" / "manifest.json").read_text())["stages"]
    assert {k for k, v in stages.items() if v["status"] == "ran"} == {"features"}, stages


def test_a_series_of_growing_seasons_only_is_cut_to_its_year_not_refused():
    """16-day dates of June-September of 2014 and 2015 (a growing-season-only download) with statistics of 2015: the
    year holds 8 of the 16 dates, all the series has of that season; the rule "fewer than half the ~23 dates a year
    holds at a 16-day cadence" refused it (review of 5ba790f). Truth: the 8 dates of 2015 counted by hand with
    pandas. Control: 3 dates of 2015 beside a full 2014 (23 dates) are still refused (3 < half of 13 a season)."""
    import pandas as pd
    import xarray as xr

    from irrmap.core.errors import InputError
    from irrmap.training.series_checks import one_year

    def series(dates):
        t = pd.to_datetime(list(dates))
        return xr.DataArray(np.zeros((len(t), 2, 2), np.float32), dims=("time", "y", "x"), coords={"time": t})

    grow = [x for y in (2014, 2015) for x in pd.date_range(f"{y}-06-02", f"{y}-09-30", freq="16D")]
    kept = one_year(series(grow), "[features].evi", year=2015, fix="FIX")
    assert [str(d)[:10] for d in kept.time.values] == [str(d)[:10] for d in grow if d.year == 2015]
    assert kept.sizes["time"] == 8
    sparse = list(pd.date_range("2014-01-01", "2014-12-31", freq="16D")) + list(pd.date_range("2015-01-01", "2015-02-05", freq="16D"))
    with pytest.raises(InputError, match="only 3 of the"):
        one_year(series(sparse), "[features].evi", year=2015, fix="FIX")
