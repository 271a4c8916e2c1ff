"""`irrmap fetch CONFIG --dry-run` lists the requests before any is made; the [sources.ee] config is validated
with one-line errors; `irrmap run` fetches what is missing first and skips what is fetched."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from tests.ee_recorded import RecordedTransport
from tests.run_config import write_run_config


def _config(tmp_path: Path, ee: str, bounds: str = "[110.0, 31.0, 117.0, 37.0]") -> Path:
    return write_run_config(tmp_path, f"[sources.ee]\n{ee}", bounds=bounds)


def test_dry_run_lists_tiles_requests_and_bytes(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ee", None)  # nothing may be requested: earthengine-api is not even there
    cfg = _config(tmp_path, 'project = "p"\nyear = 2020\ndatasets = ["srtm", "jrc_gsw"]')
    assert main(["fetch", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    # grid 7 deg x 6 deg at 0.0025 deg: 2800 x 2400 px; float32 tiles of at most 2048 px (2048^2 * 4 B = 16.8 MB
    # < 32 MiB): ceil(2400 / 2048) x ceil(2800 / 2048) = 2 x 2 tiles of 1400 x 1200 px; 2800 * 2400 * 4 B = 26.9 MB
    assert "grid 2800 x 2400 px" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith(("srtm", "jrc_gsw"))}
    for name in ("dem", "water"):
        assert "4 (2 x 2, 1400 x 1200 px)" in lines[name] and lines[name].split()[-5:] == ["4", "26.9", "MB", "to", "fetch"]
    assert "total: 8 requests, 53.8 MB uncompressed; still to fetch: 8 requests, 53.8 MB" in out
    assert "not ready:" in out and "irrmap[ee]" in out
    assert not (tmp_path / "out").exists()


def test_dry_run_with_a_region_file_skips_tiles_outside(tmp_path, capsys):
    region = tmp_path / "region.geojson"
    # a triangle in the north-west corner: it touches only the top-left of the 2 x 2 tiles (lon < 113.5, lat > 34)
    region.write_text(json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {}, "geometry": {
        "type": "Polygon", "coordinates": [[[110.1, 36.9], [113.0, 36.9], [110.1, 34.5], [110.1, 36.9]]]}}]}))
    cfg = _config(tmp_path, f'project = "p"\nyear = 2020\ndatasets = ["srtm"]\nregion = "{region.name}"')
    assert main(["fetch", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    # 1 of 4 tiles: 1400 * 1200 * 4 B = 6.72 MB
    assert "total: 1 requests, 6.7 MB uncompressed" in out


@pytest.mark.parametrize("ee, key", [
    ('year = 2020\nstart = "2020-01-01"\nend = "2021-01-01"\ndatasets = ["srtm"]', "give `year` or start/end, not both"),
    ('start = "2020-13-01"\nend = "2021-01-01"\ndatasets = ["srtm"]', "is not a date"),
    ('year = 2020\ndatasets = ["srtmm"]', "unknown dataset(s) ['srtmm']"),
    ('year = 2020\ndatasets = ["srtm"]\nmax_request_bytes = 60000000', "[sources.ee].max_request_bytes"),
    ('year = 2020\ndatasets = ["srtm"]\nregion = [117, 31, 110, 37]', "is not [west, south, east, north]"),
    ('year = 2020\ndatasets = ["srtm"]\nregion = [0, 0, 1, 1]', "the region misses the grid"),
    ('year = 2020\ndatasets = ["srtm"]\nregion = "nowhere.gpkg"', "[sources.ee].region = nowhere.gpkg"),
    ('year = 2020\ndatasets = ["srtm", "nasadem"]', "output 'dem' of dataset 'nasadem' is also produced by another dataset"),
])
def test_config_errors_are_one_line(tmp_path, capsys, ee, key):
    assert main(["fetch", str(_config(tmp_path, ee)), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("irrmap: error:") and "\n" not in err and key in err


def test_config_without_the_section(tmp_path, capsys):
    cfg = tmp_path / "run.toml"
    cfg.write_text('[grid]\ncrs = "EPSG:4326"\nbounds = [110.0, 31.0, 117.0, 37.0]\nresolution = 0.0025\n')
    assert main(["fetch", str(cfg), "--dry-run"]) == 2
    assert "no [sources.ee] section" in capsys.readouterr().err


def test_run_fetches_first_then_skips(tmp_path, monkeypatch):
    """The fetch stage runs before the others and provides its outputs as named products; a second run skips it,
    and `irrmap run --check` needs no credentials once everything is fetched."""
    from irrmap.app.api import check
    from irrmap.app.pipeline import run_pipeline
    from irrmap.app.stages import build_stages
    from irrmap.app.stages import fetch as fetch_stage

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    cfg = _config(tmp_path, 'project = "p"\nyear = 2020\ndatasets = ["jrc_gsw"]\ntile_size = 40',
                  bounds="[110.0, 36.825, 110.225, 37.0]")
    grid = Grid(CRS.from_epsg(4326), Affine(0.0025, 0, 110.0, 0, -0.0025, 37.0), 70, 90)
    truth = {"water": np.linspace(0, 100, 70 * 90, dtype="float32").reshape(70, 90)}
    transports = []

    def recorded(sec, resolve, grid_, start, end):
        transports.append(RecordedTransport(truth, grid))
        return (lambda: transports[-1]), (lambda ds: {o: o for o in ds.outputs}), {"project": sec.project}

    monkeypatch.setitem(sys.modules, "ee", types.ModuleType("ee"))
    with pytest.raises(Exception) as err:  # nothing fetched yet: the check needs credentials
        check(cfg)
    assert "earthengine authenticate" in str(err.value)

    from irrmap.app.context import RunContext
    from irrmap.core.config import load_config
    loaded = load_config(cfg)
    names = [s.name for s in build_stages(RunContext(loaded, loaded.grid(), loaded.output_dir))]
    assert names[0] == "fetch"

    m1 = run_pipeline(cfg, stages=[fetch_stage.stage(connection=recorded)])
    assert m1["stages"]["fetch"] == {**m1["stages"]["fetch"], "status": "ran", "outputs": ["aligned/water.tif"]}
    assert len(transports[0].calls) == 6  # 70 x 90 px in tiles of at most 40: 2 x 3
    m2 = run_pipeline(cfg, stages=[fetch_stage.stage(connection=recorded)])
    assert m2["stages"]["fetch"]["status"] == "skipped (up to date)" and len(transports) == 1
    check(cfg)  # everything fetched: no credentials needed


def test_own_catalogue_entry(tmp_path, capsys):
    cfg = _config(tmp_path, 'year = 2020\ndatasets = ["mydem"]\n[sources.ee.catalog.mydem]\nbase = "nasadem"\noutputs = ["dem30"]')
    assert main(["fetch", str(cfg), "--dry-run"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("mydem"))
    assert line.split()[1] == "dem30"


def test_dry_run_on_a_china_province(shared_data, tmp_path, capsys):
    """Henan (adcode 410000) at 0.0025 deg with the province's county polygons as region."""
    import geopandas as gpd
    from shapely.geometry import box

    province = shared_data / "admin" / "china" / "province_full" / "410000.json"
    cfg = tmp_path / "henan.toml"
    cfg.write_text(f"""
[grid]
crs = "EPSG:4326"
bounds = [110.35, 31.38, 116.66, 36.37]
resolution = 0.0025
[sources.ee]
project = "p"
region = "{province}"
year = 2020
datasets = ["srtm", "mod13q1"]
tile_size = 512
""")
    assert main(["fetch", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr().out
    # 6.31 x 4.99 deg / 0.0025 = 2524 x 1996 px; tiles of <= 512 px: ceil(1996/512) = 4 rows x ceil(2524/512) = 5 cols,
    # the largest 505 x 499 px (columns cut at 0, 504, 1009, 1514, 2019, 2524; rows at 0, 499, 998, 1497, 1996)
    assert "grid 2524 x 1996 px" in out and "20 (4 x 5, 505 x 499 px)" in out
    counties = gpd.read_file(province)
    inside = sum(bool(counties.intersects(box(110.35 + c0 * 0.0025, 36.37 - r1 * 0.0025, 110.35 + c1 * 0.0025, 36.37 - r0 * 0.0025)).any())
                 for r0, r1 in zip([0, 499, 998, 1497], [499, 998, 1497, 1996])
                 for c0, c1 in zip([0, 504, 1009, 1514, 2019], [504, 1009, 1514, 2019, 2524]))
    assert 0 < inside < 20
    dem = next(x for x in out.splitlines() if x.startswith("srtm"))
    assert dem.split()[-5] == str(inside)
    assert f"total: {7 * inside} requests" in out  # 1 srtm output + 6 mod13q1 outputs


def test_bad_own_catalogue_entry_names_its_table(tmp_path, capsys):
    cfg = _config(tmp_path, 'year = 2020\ndatasets = ["mydem"]\n[sources.ee.catalog.mydem]\nbase = "nasadem"\ndtype = "float33"')
    assert main(["fetch", str(cfg), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "sources.ee.catalog.mydem" in err and "dtype" in err and "float33" in err and err.count("\n") == 1
