"""Guards of the [sources.ee] fetch plan: tiles that only share an edge or a corner with the region are not
requested; a plan beyond [sources.ee].max_requests is refused before any tile is made, naming its size in
human units, the Earth Engine quota and the fixes; sizes read as kB / MB / GB / TB; planning shows progress.

Every expected number is counted by hand in the comments."""

from __future__ import annotations

import json

import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import ConfigError
from irrmap.core.grid import Grid
from irrmap.core.progress import set_progress
from irrmap.core.config import EESource
from irrmap.sources.ee import plan as plan_mod
from irrmap.sources.ee.catalog import CATALOG
from irrmap.sources.ee.plan import _duration, _size, plan_fetch, plan_text, region_geometry

# 0..10 deg at 0.01 deg: 1000 x 1000 px; srtm is float32, tile_size 100 -> 10 x 10 tiles of 1 x 1 deg.
# Tile (row, col) covers lon col .. col + 1 and lat 10 - row - 1 .. 10 - row.
GRID = Grid.from_bounds(0.0, 0.0, 10.0, 10.0, 0.01, "EPSG:4326")
SRTM = CATALOG["srtm"]


def _sec(**kw) -> EESource:
    return EESource(**{"year": 2020, "datasets": ["srtm"], "tile_size": 100, **kw})


def _wanted(tmp_path, region, **kw) -> set[tuple[int, int]]:
    plan = plan_fetch(_sec(**kw), GRID, {n: tmp_path / f"{n}.tif" for n in SRTM.outputs}, [SRTM], region)
    (out,) = plan.outputs
    assert len(out.tiles) == 100
    return {(t.row, t.col) for t in out.wanted}


def _block(rows, cols) -> set[tuple[int, int]]:
    return {(r, c) for r in rows for c in cols}


def test_a_tile_aligned_box_requests_only_its_own_tiles(tmp_path):
    # lon 2..5 = cols 2, 3, 4; lat 3..6 = rows 10-6=4 .. 10-3-1=6: 3 x 3 = 9 tiles (the old test counted the 16
    # tiles around it that share only an edge or a corner: 5 x 5 = 25)
    assert _wanted(tmp_path, box(2.0, 3.0, 5.0, 6.0)) == _block(range(4, 7), range(2, 5))


def test_a_box_inside_one_tile_corner_to_corner(tmp_path):
    # lon 1..2, lat 1..2 is exactly tile (8, 1); its 8 neighbours touch it only
    assert _wanted(tmp_path, box(1.0, 1.0, 2.0, 2.0)) == {(8, 1)}


def test_a_box_across_tile_edges_still_gets_every_tile_it_enters(tmp_path):
    # lon 2.5..4.5 enters cols 2, 3, 4; lat 3.5..5.5 enters rows 10-5.5 -> 4, 5, 10-3.5 -> 6: 9 tiles
    assert _wanted(tmp_path, box(2.5, 3.5, 4.5, 5.5)) == _block(range(4, 7), range(2, 5))
    # a sliver of 0.001 deg (a tenth of a pixel) past an edge does enter the next tile: col 5 joins (rows 4..6)
    assert _wanted(tmp_path, box(2.0, 3.0, 5.001, 6.0)) == _block(range(4, 7), range(2, 6))


def test_the_user_region_of_the_report_on_a_whole_degree_grid(tmp_path):
    # lon -114.5 .. -113.9 on a grid -116..-112 at 0.01 deg (400 x 200 px, lat 47..49) in 100 px tiles:
    # cols are lon -116, -115, -114, -113 .. ; -114.5 .. -113.9 enters cols 1 and 2. Lat 47.4 .. 48: rows are
    # lat 49..48 (row 0) and 48..47 (row 1); the box lies in row 1 and meets row 0 only along lat 48: 2 tiles
    grid = Grid.from_bounds(-116.0, 47.0, -112.0, 49.0, 0.01, "EPSG:4326")
    plan = plan_fetch(_sec(), grid, {n: tmp_path / f"{n}.tif" for n in SRTM.outputs}, [SRTM], box(-114.5, 47.4, -113.9, 48.0))
    assert {(t.row, t.col) for t in plan.outputs[0].wanted} == {(1, 1), (1, 2)}


def test_a_polygon_file_region_on_tile_edges(tmp_path):
    # the region file's polygon is the 3 x 3 block lon 6..9, lat 1..4: rows 6..8, cols 6..8
    path = tmp_path / "region.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[6, 1], [9, 1], [9, 4], [6, 4], [6, 1]]]}}]}))
    sec = _sec(region=path)
    geom = region_geometry(sec, lambda p: p, GRID)
    assert _wanted(tmp_path, geom) == _block(range(6, 9), range(6, 9))


def test_a_region_sharing_only_the_grids_edge_misses_the_grid():
    # lon 10..11 touches the grid (lon 0..10) along its east edge only: nothing of it is on the grid
    with pytest.raises(ConfigError, match="the region misses the grid"):
        region_geometry(_sec(region=(10.0, 0.0, 11.0, 10.0)), lambda p: p, GRID)
    # and a corner only
    with pytest.raises(ConfigError, match="the region misses the grid"):
        region_geometry(_sec(region=(10.0, 10.0, 11.0, 11.0)), lambda p: p, GRID)


def test_the_planet_at_25_m_is_refused_before_any_tile_is_made(tmp_path, monkeypatch):
    # The report's plan: [-180, -60, 180, 80] at 0.00025 deg = 1,440,000 x 560,000 px. sentinel2 (6 outputs) and
    # worldcover (1 output) are float32: side min(2048, isqrt(33,554,432 / 4) = 2896) = 2048, so
    # ceil(560,000 / 2048) = 274 x ceil(1,440,000 / 2048) = 704 = 192,896 tiles per output, x 7 = 1,350,272
    # requests; 1,440,000 * 560,000 * 4 B * 7 = 22,579,200,000,000 B = 22.6 TB; at 100 requests/s 13,502.72 s =
    # 3 h 45 min. The coarsest fix: at 0.00093 deg the grid is ceil(360 / 0.00093) = 387,097 x 150,538 px, 74 x 190
    # = 14,060 tiles x 7 = 98,420 <= 100,000; at 0.00092 it is 391,305 x 152,174 px, 75 x 192 x 7 = 100,800.
    def no_tiles(*a, **k):
        raise AssertionError("tiles were made for a refused plan")

    monkeypatch.setattr(plan_mod, "plan_tiles", no_tiles)
    grid = Grid.from_bounds(-180.0, -60.0, 180.0, 80.0, 0.00025, "EPSG:4326")
    ds = [CATALOG["sentinel2"], CATALOG["worldcover"]]
    sec = EESource(year=2020, datasets=["sentinel2", "worldcover"])
    with pytest.raises(ConfigError) as info:
        plan_fetch(sec, grid, {n: tmp_path / f"{n}.tif" for d in ds for n in d.outputs}, ds, None)
    msg = str(info.value)
    for part in ("1,350,272 requests", "(22.6 TB uncompressed)", "1,440,000 x 560,000 px", "max_requests = 100,000",
                 "100 requests/s", "40 concurrent", "at least 3 h 45 min", "about 0.00093 instead of 0.00025",
                 "smaller [sources.ee].region", "fewer [sources.ee].datasets (now sentinel2, worldcover)", "raise [sources.ee].max_requests"):
        assert part in msg, part
    assert "\n" not in msg


def test_the_cli_refuses_it_in_one_line(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[grid]\ncrs = "EPSG:4326"\nbounds = [-180, -60, 180, 80]\nresolution = 0.00025\n'
                   '[sources.ee]\nproject = "p"\nyear = 2020\ndatasets = ["sentinel2", "worldcover"]\n')
    assert main(["fetch", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("irrmap: error:") and "\n" not in err and "22.6 TB" in err and "22,579,200" not in err


def test_the_limit_is_the_users_and_a_tenth_of_it_warns(tmp_path):
    # the whole 10 x 10 grid: 100 requests
    paths = {n: tmp_path / f"{n}.tif" for n in SRTM.outputs}
    with pytest.raises(ConfigError, match="needs 100 requests"):
        plan_fetch(_sec(max_requests=99), GRID, paths, [SRTM], None)
    warned = plan_text(plan_fetch(_sec(max_requests=100), GRID, paths, [SRTM], None))  # 100 > 100 / 10
    assert "warning: 100 requests are more than a tenth of max_requests = 100" in warned
    assert "at least 1 s of requests" in warned  # 100 requests / 100 per s
    quiet = plan_text(plan_fetch(_sec(max_requests=1000), GRID, paths, [SRTM], None))  # 100 = 1000 / 10: no warning
    assert "warning" not in quiet
    # 1000 x 1000 px x 4 B = 4,000,000 B
    assert "total: 100 requests, 4.0 MB uncompressed" in quiet


@pytest.mark.parametrize("n, text", [
    (0, "0 B"), (999, "999 B"), (1000, "1.0 kB"), (999_949, "999.9 kB"), (999_950, "1.0 MB"), (53_760_000, "53.8 MB"),
    (1_500_000_000, "1.5 GB"), (22_579_200_000_000, "22.6 TB"), (1_234_000_000_000_000, "1,234.0 TB"),
])
def test_sizes_read_in_decimal_units(n, text):
    assert _size(n) == text


@pytest.mark.parametrize("s, text", [(45, "45 s"), (1000, "16 min"), (13_502.72, "3 h 45 min"), (187_200, "2 d 4 h")])
def test_durations(s, text):
    assert _duration(s) == text


def test_planning_shows_progress(tmp_path, capsys):
    set_progress(True)
    try:
        plan_fetch(_sec(), GRID, {n: tmp_path / f"{n}.tif" for n in SRTM.outputs}, [SRTM], None)
    finally:
        set_progress(None)
    assert "planning tiles" in capsys.readouterr().err
