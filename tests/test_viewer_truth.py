"""The viewer shows what the run knows, from the run's own config and tables (evaluation/viewer).

Each test builds tests/viewer_run.py's synthetic run, adds what the case needs (a cropland fraction, the unit
table's coverage columns, units/units.csv, a statistics total, a water gap, an edited or moved config), builds the
viewer and checks the page's embedded JSON against hand-computed values and against the rasters read back with
rasterio. Each of them fails on the viewer before the fix (checked on a `git archive` copy of HEAD 5853825).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from irrmap.evaluation.viewer import write_viewer
from PIL import Image
from rasterio.transform import from_origin
from shapely.geometry import box
from viewer_run import (
    CRS,
    RES,
    ROWS,
    WATER_ORIGIN,
    WATER_RES,
    X0,
    Y0,
    _write,
    embedded_data,
    make_run,
)

MAGENTA = [255, 0, 255, 255]  # the report's "no data" colour (evaluation.map_figure.STATES)


def _decode(b64: str):
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    pal = img.getpalette()
    alpha = img.info.get("transparency")
    return np.asarray(img), {i: [*pal[3 * i:3 * i + 3], alpha[i] if isinstance(alpha, bytes) and i < len(alpha) else 255]
                             for i in range(len(pal) // 3)}


def _build(out, tmp_path):
    res = write_viewer(out, tmp_path / "view.html")
    return embedded_data(res.path.read_text(encoding="utf-8")), res


def _popups(data) -> dict:
    return {(u["level"], f["properties"]["code"]): f["properties"] for u in data["units"] for f in u["geojson"]["features"]}


def _with_cropland(out):
    """aligned/cropland.tif: fraction 0.6 in columns 16 .. 79, 0 (no cropland) in the others."""
    crop = np.zeros((ROWS, 96), np.float32)
    crop[:, 16:80] = 0.6
    path = out / "aligned" / "cropland.tif"
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=96, height=ROWS, count=1, dtype="float32", crs=CRS,
                       transform=from_origin(X0, Y0, RES, RES), nodata=float("nan")) as dst:
        dst.write(crop, 1)
    return path


@pytest.fixture
def cut_run(tmp_path):
    """Three counties: 610101 whole, 610201 a quarter on the grid, 610301 off the grid (east of the map)."""
    out = make_run(tmp_path / "run")
    root = out.parent
    w = X0 + 96 * RES
    gpd.GeoDataFrame({"code": ["610101", "610201", "610301"], "name": ["West County", "East County", "Far County"]},
                     geometry=[box(X0, Y0 - ROWS * RES, X0 + 48 * RES, Y0), box(X0 + 48 * RES, Y0 - ROWS * RES, w + 144 * RES, Y0),
                               box(w + 500 * RES, Y0 - ROWS * RES, w + 600 * RES, Y0)], crs=CRS).to_file(
        root / "units.gpkg", layer="counties", driver="GPKG")
    (out / "mapping" / "irrigated_area_by_unit.csv").write_text(
        "level,code,name,irrigated_area_ha,unpredicted_cropland_ha,statistic_ha,coverage,statistic_on_grid_ha,difference_ha\n"
        "county,610101,West County,100.0,12.5,80.0,whole,80.0,20.0\n"
        "county,610201,East County,40.0,0.0,1000.0,partial,50.0,-10.0\n"
        "county,610301,Far County,0.0,0.0,700.0,off grid,,\n", encoding="utf-8")
    (out / "units").mkdir(exist_ok=True)
    (out / "units" / "units.csv").write_text(
        "zone,code,city,province,name,polygon_area_m2,on_grid_area_m2,on_grid_share,partial\n"
        "1,610101,610100,610000,West County,1000,1000,1.0,False\n2,610201,610200,610000,East County,4000,1000,0.25,True\n"
        "3,610301,610300,610000,Far County,2000,0,0.0,True\n", encoding="utf-8")
    return out


def test_cut_units_compare_with_their_part_and_off_grid_units_say_so(cut_run, tmp_path):
    data, res = _build(cut_run, tmp_path)
    pops = _popups(data)
    east = pops[("county", "610201")]
    # hand truth: mapped 40 ha against the 50 ha its part on the grid had: -10 ha, -20.0 % (not 40 / 1000 - 1 = -96 %)
    assert "partly on the grid</i> (25.0% of its area)" in east["popup"]
    assert "statistic for its part on the grid: 50.0 ha" in east["popup"] and "difference: -10.0 ha (-20.0 %)" in east["popup"]
    assert "statistic of the whole unit: 1,000.0 ha, not compared" in east["popup"] and "-96" not in east["popup"]
    far = pops[("county", "610301")]
    assert far["coverage"] == "off grid" and "off the grid: not mapped" in far["popup"] and "%" not in far["popup"]
    assert any("610301" in n and "off the map's grid" in n for n in res.notes)
    assert pops[("county", "610101")]["coverage"] == "whole"
    # the city 610200 (only East County): a quarter on the grid (1000 of 4000 m2 of polygon)
    assert "partly on the grid</i> (25.0% of its area)" in pops[("city", "610200")]["popup"]


def test_older_table_without_coverage_does_not_compare_a_cut_unit_with_its_whole_statistic(cut_run, tmp_path):
    (cut_run / "mapping" / "irrigated_area_by_unit.csv").write_text(
        "level,code,name,irrigated_area_ha,statistic_ha,difference_ha\n"
        "county,610101,West County,100.0,80.0,20.0\ncounty,610201,East County,40.0,1000.0,-960.0\n"
        "county,610301,Far County,0.0,700.0,-700.0\n", encoding="utf-8")
    pops = _popups(_build(cut_run, tmp_path)[0])
    assert "partly on the grid" in pops[("county", "610201")]["popup"] and "-96.0 %" not in pops[("county", "610201")]["popup"]
    assert "run `irrmap run` again" in pops[("county", "610201")]["popup"]
    assert "off the grid" in pops[("county", "610301")]["popup"] and "-100.0 %" not in pops[("county", "610301")]["popup"]
    assert "difference: 20.0 ha (+25.0 %)" in pops[("county", "610101")]["popup"]  # whole units as before


def test_unpredicted_cropland_is_drawn_and_in_the_popup(cut_run, tmp_path):
    crop_path = _with_cropland(cut_run)
    data, _ = _build(cut_run, tmp_path)
    with rasterio.open(cut_run / "mapping" / "class.tif") as src:
        cls = src.read(1)
    with rasterio.open(crop_path) as src:
        crop = src.read(1)
    irr = data["rasters"][0]
    idx, pal = _decode(irr["tiles"]["0"]["0/0"])
    # truth: nodata on cropland -> 254 (magenta, "cropland, not predicted"); nodata off cropland transparent (255)
    want = np.where(cls == 255, np.where(crop > 0, 254, 255), cls)
    np.testing.assert_array_equal(idx[:ROWS, :96], want)
    assert (want == 254).sum() == 4 * 64 and pal[254] == MAGENTA
    assert ["#ff00ff", "cropland, not predicted"] in irr["legend"]
    prob = data["rasters"][1]
    pidx, _ = _decode(prob["tiles"]["0"]["0/0"])
    np.testing.assert_array_equal(pidx[ROWS - 4:ROWS, :96] == 254, crop[ROWS - 4:] > 0)
    assert ["#ff00ff", "cropland, not predicted"] in prob["legend"]
    popup = _popups(data)[("county", "610101")]["popup"]
    assert "cropland not predicted: 12.5 ha" in popup and "lower bound" in popup


def test_threshold_map_has_its_own_legend_and_shows_units_without_a_score(cut_run, tmp_path):
    crop_path = _with_cropland(cut_run)
    data, _ = _build(cut_run, tmp_path)
    with rasterio.open(cut_run / "training" / "threshold_sevi.tif") as src:
        thr = src.read(1)
    with rasterio.open(crop_path) as src:
        crop = src.read(1) > 0
    entry = data["rasters"][2]
    idx, pal = _decode(entry["tiles"]["0"]["0/0"])
    # truth: 1 irrigated; 0 on cropland not irrigated, 0 off cropland transparent; 255 on cropland 254 (no score)
    want = np.where(thr == 255, np.where(crop, 254, 255), np.where(~crop & (thr == 0), 255, thr))
    np.testing.assert_array_equal(idx[:ROWS, :96], want)
    assert (want[:ROWS - 4, :16] == 255).all() and (want[ROWS - 4:, 16:80] == 254).all() and pal[254][3] == 255
    labels = [lbl for _, lbl in entry["legend"]]
    assert "no statistic / no score" in labels and "irrigated" in labels


def test_statistic_of_a_level_from_the_run_statistics_totals(tmp_path):
    out = make_run(tmp_path / "run")
    (out / "evaluation" / "statistics_province.csv").unlink()  # a unit the evaluation left out of its comparison
    (out / "statistics").mkdir()
    (out / "statistics" / "totals_province.csv").write_text("code,area_m2\n610000,1500000.0\n", encoding="utf-8")
    popup = _popups(_build(out, tmp_path)[0])[("province", "610000")]["popup"]
    # 1.5e6 m2 = 150 ha; mapped 100 ha: -50 ha, -33.3 %
    assert "statistic: 150.0 ha" in popup and "statistics/totals_province.csv" in popup and "(-33.3 %)" in popup


def test_water_unknown_is_drawn_and_in_the_legend(tmp_path):
    out = make_run(tmp_path / "run")
    w = np.zeros((200, 300), np.uint8)
    w[50:150, 100:200] = 1
    w[:20, :30] = 255  # cloud: unknown
    _write(out / "water" / "2020" / "water.tif", w, from_origin(*WATER_ORIGIN, WATER_RES, WATER_RES))
    data, _ = _build(out, tmp_path)
    entry = next(r for r in data["rasters"] if r["id"] == "water_2020")
    idx, pal = _decode(entry["image"])
    with rasterio.open(out / "water" / "2020" / "water.tif") as src:
        truth = src.read(1)
    np.testing.assert_array_equal(idx == 254, truth == 255)
    assert pal[254][3] == 255 and pal[0][3] == 0
    assert any("unknown" in lbl for _, lbl in entry["legend"])


def _sealed(out):
    """The manifest's config_sha256, as `irrmap run` records it (sha256 of the config's utf-8 text)."""
    m = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    text = Path(m["config"]).read_text(encoding="utf-8")
    m["config_sha256"] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    (out / "manifest.json").write_text(json.dumps(m), encoding="utf-8")


def test_edited_config_is_not_read_as_the_run_config(tmp_path):
    out = make_run(tmp_path / "run")
    _sealed(out)
    cfg = out.parent / "config.toml"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace('name = "viewer-test"', 'name = "v2"'), encoding="utf-8")
    data, res = _build(out, tmp_path)
    assert data["title"] == "irrmap viewer: output" and data["units"] is None
    assert any("edited after the run" in n and f"irrmap run {cfg}" in n for n in res.notes)


def test_moved_run_reads_its_own_config(tmp_path):
    out = make_run(tmp_path / "run")
    _sealed(out)
    shutil.copytree(out.parent, tmp_path / "moved")
    (out.parent / "config.toml").unlink()  # the original folder's config is gone
    shutil.rmtree(out.parent / "output")
    data, res = _build(tmp_path / "moved" / "output", tmp_path)
    assert data["title"] == "irrmap viewer: viewer-test" and data["units"] is not None, res.notes
    assert {f["properties"]["code"] for f in data["units"][0]["geojson"]["features"]} == {"610101", "610201"}
