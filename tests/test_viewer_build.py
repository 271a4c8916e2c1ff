"""The offline viewer (`irrmap view`): the pyramid geometry, the layers it finds in a run's manifest, the
pixels of its tiles, the unit popups and the point colours, all against the values the synthetic run was
built with (tests/viewer_run.py), and a self-contained page."""

from __future__ import annotations

import base64
import io
import json
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from irrmap.core.palettes import IRRIGATED, NOT_IRRIGATED
from irrmap.evaluation.viewer import Frame, write_viewer
from irrmap.evaluation.viewer.tiles import overview_choice
from tests.viewer_run import COLS, ROWS, class_array, embedded_data, make_run


def _decode(b64: str) -> tuple[np.ndarray, list]:
    img = Image.open(io.BytesIO(base64.b64decode(b64)))
    assert img.mode == "P"
    pal = img.getpalette()
    alpha = img.info.get("transparency")  # bytes (one alpha per entry, opaque past its end) or one transparent index
    n = len(pal) // 3
    alphas = [0 if i == alpha else 255 for i in range(n)] if isinstance(alpha, int) else \
        [alpha[i] if alpha is not None and i < len(alpha) else 255 for i in range(n)]
    return np.asarray(img), [(pal[3 * i], pal[3 * i + 1], pal[3 * i + 2], alphas[i]) for i in range(n)]


@pytest.mark.parametrize("shape, max_size, top, levels", [
    ((96, 128), 2048, 1, 0),          # fits one tile: the full resolution is level 0
    ((16384, 16384), 2048, 8, 3),     # 2048 px at the finest level, then 1024, 512, 256
    ((300, 5000), 2048, 4, 3),        # 5000 / 4 = 1250 px; 625, 313, 157
    ((1000, 1000), 256, 4, 0),
])
def test_frame_levels(shape, max_size, top, levels):
    f = Frame.for_shape(*shape, max_size)
    assert (f.top_factor, f.levels) == (top, levels)
    assert max(f.level_shape(f.levels)) <= max_size and max(f.level_shape(0)) <= 256


def test_overview_choice_takes_the_coarsest_fine_enough_level():
    assert overview_choice([2, 4, 8, 16], 8) == 2
    assert overview_choice([2, 4, 8, 16], 11) == 2
    assert overview_choice([2, 4, 8, 16], 1) is None
    assert overview_choice([], 64) is None


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = make_run(tmp_path_factory.mktemp("viewer"))
    res = write_viewer(out)
    return out, res, res.path.read_text(encoding="utf-8")


def test_layers_found_from_the_manifest(run):
    out, res, page = run
    assert res.path == out / "view.html"
    assert res.layers == ["Irrigation map", "Probability of irrigation", "Threshold map sevi", "Water bodies 2020",
                          "Admin units: county", "Admin units: city", "Admin units: province", "Reference points"]  # the water reference (scoring input) is not a layer
    data = embedded_data(page)
    assert [r["id"] for r in data["rasters"]] == ["irrigation", "probability", "threshold_sevi", "water_2020"]
    assert [r["visible"] for r in data["rasters"]] == [True, False, False, False]


def test_class_tile_pixels_and_colours(run):
    _, _, page = run
    data = embedded_data(page)
    irr = data["rasters"][0]
    assert list(irr["tiles"]) == ["0"] and list(irr["tiles"]["0"]) == ["0/0"]  # 64 x 96 fits one tile
    idx, pal = _decode(irr["tiles"]["0"]["0/0"])
    truth = class_array()
    assert idx.shape == (256, 256)
    np.testing.assert_array_equal(idx[:ROWS, :COLS], truth)
    assert (idx[ROWS:, :] == 255).all() and (idx[:, COLS:] == 255).all()  # padding is transparent
    assert pal[1] == IRRIGATED and pal[0] == NOT_IRRIGATED and pal[255][3] == 0
    thr, _ = _decode(data["rasters"][2]["tiles"]["0"]["0/0"])
    # a threshold map's 255 (no statistic / no score) is drawn (index 254); without a cropland raster everywhere
    np.testing.assert_array_equal(thr[:ROWS, :COLS], np.where(truth == 255, 254, 1 - truth))


def test_probability_ramp_is_monotone_and_nodata_transparent(run):
    _, _, page = run
    prob = embedded_data(page)["rasters"][1]
    idx, pal = _decode(prob["tiles"]["0"]["0/0"])
    row = idx[0, :COLS].astype(int)
    assert row[0] == 0 and row[-1] == 253 and (np.diff(row) >= 0).all()  # 0 .. 100 over 0 .. 253 (tiles.RAMP_TOP)
    assert (idx[ROWS - 4:ROWS, :COLS] == 255).all() and pal[255][3] == 0


def test_layer_on_another_grid_is_placed_by_its_bounds(run):
    _, _, page = run
    water = embedded_data(page)["rasters"][3]
    # sub-grid origin at column 40, row 10 of the map; 300 x 30 m = 36 map columns, 200 x 30 m = 24 map rows
    assert water["bounds"] == [[-34.0, 40.0], [-10.0, 76.0]]
    idx, pal = _decode(water["image"])
    assert idx.shape == (200, 300) and (idx[50:150, 100:200] == 1).all()
    assert pal[0][3] == 0 and pal[1][3] == 255  # only water is drawn


def test_unit_popups_and_point_agreement(run):
    _, _, page = run
    data = embedded_data(page)
    assert [u["level"] for u in data["units"]] == ["county", "city", "province"]
    assert [u["visible"] for u in data["units"]] == [True, False, False]
    popups = {f["properties"]["code"]: f["properties"]["popup"] for u in data["units"] for f in u["geojson"]["features"]}
    assert set(popups) == {"610101", "610201", "610100", "610200", "610000"}
    assert "statistic: 80.0 ha" in popups["610101"] and "mapped: 100.0 ha" in popups["610101"]
    assert "difference: 20.0 ha (+25.0 %)" in popups["610101"]
    assert "statistic: —" in popups["610201"] and "mapped: 0.0 ha" in popups["610201"]
    assert "East City" in popups["610200"] and "difference: -50.0 ha (-100.0 %)" in popups["610200"]
    # no statistic in the per-unit table: the province's own table (evaluation/statistics_province.csv, m2)
    assert "<b>610000</b>" in popups["610000"] and "statistic: 130.0 ha" in popups["610000"]
    assert "evaluation/statistics_province.csv" in popups["610000"] and "difference: -30.0 ha (-23.1 %)" in popups["610000"]
    county = data["units"][0]["geojson"]["features"][0]
    west = county["geometry"]["coordinates"][0]
    lngs, lats = [p[0] for p in west], [p[1] for p in west]
    assert county["properties"]["code"] == "610101"
    assert (min(lngs), max(lngs), min(lats), max(lats)) == (0, COLS // 2, -ROWS, 0)  # unit edges on the pixel frame
    province = data["units"][2]["geojson"]["features"][0]["geometry"]
    ring = province["coordinates"][0]  # the dissolved province is the whole map
    assert (min(p[0] for p in ring), max(p[0] for p in ring), min(p[1] for p in ring), max(p[1] for p in ring)) == (0, COLS, -ROWS, 0)
    pts = data["points"]
    assert [p[2] for p in pts] == ["agree", "disagree", "not used"]
    # lon/lat of pixel centres (row 10, col 20), ... come back to those centres
    assert [(round(-p[0], 3), round(p[1], 3)) for p in pts] == [(10.5, 20.5), (12.5, 70.5), (62.5, 50.5)]


def test_page_is_self_contained(run):
    _, _, page = run
    assert "L.map(" in page and ".leaflet-pane" in page  # Leaflet's JS and CSS are inlined
    assert not re.search(r"<(script|img|iframe)[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=\"(?!data:)", page)
    assert not re.search(r"url\((['\"]?)(https?:|//|images/)", page)
    assert "sourceMappingURL" not in page


def test_absent_layers_are_skipped(tmp_path):
    out = make_run(tmp_path, water=False, points=False)
    res = write_viewer(out, tmp_path / "v.html")
    assert res.layers == ["Irrigation map", "Probability of irrigation", "Threshold map sevi", "Admin units: county",
                          "Admin units: city", "Admin units: province"]
    assert embedded_data(res.path.read_text())["points"] is None


def test_cli_writes_the_file_and_errors_are_one_line(tmp_path):
    out = make_run(tmp_path)
    cli = [sys.executable, "-m", "irrmap", "view"]
    ok = subprocess.run([*cli, str(tmp_path), "--out", str(tmp_path / "x.html")], capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "x.html").is_file() and "Reference points" in ok.stdout
    bad = subprocess.run([*cli, str(tmp_path / "nothing")], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "manifest.json" in bad.stderr
    (out / "manifest.json").write_text(json.dumps({"stages": {}}))
    empty = subprocess.run([*cli, str(out)], capture_output=True, text=True, timeout=300)
    assert empty.returncode == 2 and "no map" in empty.stderr
