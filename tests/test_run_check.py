"""`irrmap run --check` checks what `run` checks, without computing: each broken copy of the demo config fails
with its problem named, several problems are listed at once, and `run` stops on the same list before writing.

Broken inputs are made with independent tools (gdal_translate moves a raster; pandas rewrites a table) and
the expected problem is known from how the copy was broken.
"""

from __future__ import annotations

import json
import subprocess
import sys

import geopandas as gpd
import pandas as pd
import pytest
from pyproj import Geod

from irrmap.app.api import check
from irrmap.app.cli import main
from irrmap.app.demo import generate_demo
from irrmap.core.errors import ErrorList, IrrmapError

UNITS = '[units]\npath = "inputs/admin.gpkg"\nlayer = "counties"\ncode_field = "code"'
STATS = 'path = "inputs/statistics/county.csv"'
DEM = '[inputs.dem]\npath = "inputs/dem.tif"'
EVI = 'evi = { source = "inputs/modis/evi.tif", preset = "mod13q1", qa = "inputs/modis/vi_quality.tif" }'


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, rows=48, cols=64, seed=5, workers=2)
    text = (out / "config.toml").read_text()
    assert all(s in text for s in (UNITS, STATS, DEM, EVI, 'area_unit = "1000ha"'))
    # the QA stack without its last date, cut with GDAL's own tool (band descriptions, the dates, are kept)
    subprocess.run(["gdal_translate", "-q", *[a for b in range(1, 23) for a in ("-b", str(b))], str(out / "inputs/modis/vi_quality.tif"),
                    str(out / "inputs/modis/vi_quality_22.tif")], check=True)
    # the DEM moved 20 degrees east with GDAL's own tool: same pixels, no overlap with the grid
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(out / "inputs/dem.tif")], capture_output=True, check=True, text=True).stdout)
    (ulx, uly), (lrx, lry) = info["cornerCoordinates"]["upperLeft"], info["cornerCoordinates"]["lowerRight"]
    subprocess.run(["gdal_translate", "-q", "-a_ullr", str(ulx + 20), str(uly), str(lrx + 20), str(lry),
                    str(out / "inputs/dem.tif"), str(out / "inputs/dem_far.tif")], check=True)
    # the statistics with codes of provinces the demo does not have (6Pxxxx -> 9Pxxxx): no row joins a unit
    table = pd.read_csv(out / "inputs/statistics/county.csv", dtype=str)
    assert table["code"].str.startswith("6").all()
    table.assign(code="9" + table["code"].str[1:]).to_csv(out / "inputs/statistics/county_other.csv", index=False)
    # the same table written in ha while the config says 1000ha: every area 1000 times too large
    ha = table.assign(irrigated_area=(table["irrigated_area"].astype(float) * 1000).round(3))
    ha.to_csv(out / "inputs/statistics/county_ha.csv", index=False)
    # ... which makes counties report more irrigated area than their whole area (pyproj.Geod on the polygons)
    units = gpd.read_file(out / "inputs/admin.gpkg", layer="counties").to_crs("EPSG:4326")
    area = {c: abs(Geod(ellps="WGS84").geometry_area_perimeter(g)[0]) for c, g in zip(units["code"].astype(str), units.geometry)}
    assert (ha["irrigated_area"] * 1e7 > ha["code"].map(area)).any()  # 1000 ha = 1e7 m2
    return out


def _variant(demo, name: str, *edits) -> str:
    text = (demo / "config.toml").read_text()
    for old, new in edits:
        assert old in text
        text = text.replace(old, new)
    (demo / f"{name}.toml").write_text(text)
    return str(demo / f"{name}.toml")


BROKEN = {
    "wrong code field": ((UNITS, UNITS.replace('"code"', '"adcode"')), "field 'adcode' not found"),
    "missing input file": ((DEM, DEM.replace("dem.tif", "dem_gone.tif")), "files not found: [inputs.dem].path = inputs/dem_gone.tif"),
    "input off the grid": ((DEM, DEM.replace("dem.tif", "dem_far.tif")), "[inputs.dem].path = {demo}/inputs/dem_far.tif: the raster's pixels do not overlap the grid"),
    "statistics join no unit": ((STATS, STATS.replace("county.csv", "county_other.csv")), "no join"),
    "table in ha declared 1000ha": ((STATS, STATS.replace("county.csv", "county_ha.csv")), "area larger than unit"),
    "unknown series key": ((EVI, EVI.replace("qa =", "qa_file =")), "[features].evi: unknown key(s) ['qa_file']"),
    "QA stack lacking a date": ((EVI, EVI.replace("vi_quality.tif", "vi_quality_22.tif")), "the QA stack has no band for 1 of the 23 dates"),
}


def test_the_demo_config_passes(demo, capsys):
    assert main(["run", "--check", str(demo / "config.toml")]) == 0
    out = capsys.readouterr().out
    assert "config OK" in out and "checked: inputs.dem" in out and "evaluation" in out
    found = check(demo / "config.toml")
    assert found["stages"][-1] == "evaluation" and found["grid"].shape == (48, 64)
    assert not (demo / "output").exists()  # checking writes nothing


@pytest.mark.parametrize("case", list(BROKEN))
def test_check_fails_on_each_broken_config(demo, capsys, case):
    edit, expected = BROKEN[case]
    cfg = _variant(demo, case.replace(" ", "_"), edit)
    assert main(["run", "--check", cfg]) == 2
    err = capsys.readouterr().err
    assert err.startswith("irrmap: error: ") and "Traceback" not in err
    assert expected.format(demo=demo) in err


def test_two_problems_are_listed_together_and_stop_the_run(demo, capsys):
    cfg = _variant(demo, "two_problems", (UNITS, UNITS.replace('"code"', '"adcode"')), (DEM, DEM.replace("dem.tif", "dem_far.tif")))
    assert main(["run", "--check", cfg]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0] == f"irrmap: error: {cfg}: 2 problems:"
    assert any("do not overlap the grid" in line and "dem_far.tif" in line for line in err[1:])
    assert any("field 'adcode' not found" in line for line in err[1:])
    assert len(err) == 3 and all(line.startswith("  - ") for line in err[1:])
    with pytest.raises(ErrorList) as exc:
        check(cfg)
    assert len(exc.value.errors) == 2 and all(isinstance(e, IrrmapError) for e in exc.value.errors)
    # `run` stops on the same list before any stage runs: nothing is written
    assert main(["-q", "run", cfg]) == 2
    assert capsys.readouterr().err.strip().splitlines() == err
    assert not (demo / "output").exists()


def test_a_missing_dask_distributed_is_found_with_the_rest(demo, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed (the test extra installs it)
    cfg = _variant(demo, "scheduler", ("[run]\n", '[run]\nscheduler = "tcp://127.0.0.1:8786"\n'), (UNITS, UNITS.replace('"code"', '"adcode"')))
    assert main(["run", "--check", cfg]) == 2
    err = capsys.readouterr().err
    assert "2 problems:" in err and "[run].scheduler: dask.distributed is not installed" in err and "field 'adcode' not found" in err
