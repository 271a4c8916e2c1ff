"""`irrmap run`'s default frame pixel area (the run grid's mean pixel area) is checked against the points
(evaluation.design_frame, irrmap.app.stages.report_context.sample_design).

The probe's case: the demo's points (inclusion probabilities of a 0.00225 deg frame, sum(1/pi) = 214,189 frame pixels)
on a 1 km UTM grid gave error-adjusted areas x 20 with no word. Truth here is hand-computed: 48 points drawn at the
centres of a 250 m UTM 48N grid (40 x 40 pixels), stratum A 32 points with pi = 0.1 (N_A = 320 frame pixels, 16
labelled irrigated), stratum B 16 points with pi = 0.5 (N_B = 32, 12 irrigated): the Hajek / Horvitz-Thompson
irrigated area is 320 x 16/32 + 32 x 12/16 = 184 frame pixels, not irrigated 168; in ha times the frame's pixel
area, whose mean over the grid is the pyproj.Geod area of the grid's outline (edges densified) / 1600.
"""

import logging
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from irrmap.evaluation.workflow import points_accuracy
from pyproj import Geod, Transformer
from rasterio.transform import from_origin
from shapely.geometry import Point

from irrmap.app.stages.report_context import sample_design
from irrmap.core.config import EvaluationSection
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid

CRS = "EPSG:32648"
X0, Y0 = 500000.0, 4200000.0  # upper-left corner, UTM 48N (about 105 E, 37.9 N: the demo's region)
FINE, N = 250.0, 40  # the frame: 40 x 40 pixels of 250 m
IRRIGATED_PX, NOT_IRRIGATED_PX = 184.0, 168.0  # hand-computed above


def _geod_ha(left, bottom, right, top) -> float:
    """pyproj.Geod area (ha) of a UTM rectangle, its edges densified to 200 points each."""
    t = np.linspace(0.0, 1.0, 200)
    xs = np.concatenate([left + (right - left) * t, np.full(200, right), right - (right - left) * t, np.full(200, left)])
    ys = np.concatenate([np.full(200, top), top - (top - bottom) * t, np.full(200, bottom), bottom + (top - bottom) * t])
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(xs, ys)
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(lon, lat)[0]) / 1e4


FINE_PIXEL_HA = _geod_ha(X0, Y0 - N * FINE, X0 + N * FINE, Y0) / (N * N)


def _points(tmp_path, res=FINE, n_cells=N, name="pts.gpkg"):
    """48 points at distinct pixel centres of the frame grid (pixel size `res`, n_cells x n_cells from X0, Y0)."""
    cells = np.random.default_rng(7).choice(n_cells * n_cells, 48, replace=False)
    rows = []
    for i, cell in enumerate(cells):
        r, c = divmod(int(cell), n_cells)
        a = i < 32
        rows.append({"label": int(i % 2 == 0) if a else int(i < 44), "zone": "A" if a else "B", "incl": 0.1 if a else 0.5,
                     "geometry": Point(X0 + res * (c + 0.5), Y0 - res * (r + 0.5))})
    path = tmp_path / name
    gpd.GeoDataFrame(rows, crs=CRS).to_file(path)
    return path


def _map(tmp_path, res, n, name):
    """A 0/1 checkerboard map of n x n pixels of `res` m from X0, Y0 (its values do not enter the reference areas)."""
    a = (np.add.outer(np.arange(n), np.arange(n)) % 2).astype(np.uint8)
    path = tmp_path / name
    with rasterio.open(path, "w", driver="GTiff", width=n, height=n, count=1, dtype="uint8", crs=CRS, nodata=255,
                       transform=from_origin(X0, Y0, res, res)) as ds:
        ds.write(a, 1)
    return path


def _ctx(points, res, n, **evaluation):
    """The part of a RunContext sample_design reads: [evaluation] and the run's grid."""
    sec = EvaluationSection(points=points, label_field="label", stratum_field="zone", inclusion_field="incl", **evaluation)
    return SimpleNamespace(config=SimpleNamespace(evaluation=sec), grid=Grid.from_bounds(X0, Y0 - n * res, X0 + n * res, Y0, res, CRS),
                           path=lambda p: Path(p))


def _areas(map_path, pts, design) -> dict:
    return points_accuracy(map_path, pts, "label", threshold=0.5, design=design).to_dict()["design_based"]


def test_points_drawn_on_the_run_grid_default_area(tmp_path, caplog):
    pts = _points(tmp_path)
    with caplog.at_level(logging.WARNING):
        design = sample_design(_ctx(pts, FINE, N))
    assert design.unit_area_ha == pytest.approx(FINE_PIXEL_HA, rel=1e-6)
    assert "pixel centres" in design.unit_area_from and "though" not in design.unit_area_from
    assert not [r for r in caplog.records if "frame_pixel_area_ha" in r.getMessage()]
    d = _areas(_map(tmp_path, FINE, N, "fine.tif"), pts, design)
    assert d["area_ha"]["irrigated"] == pytest.approx(IRRIGATED_PX * FINE_PIXEL_HA, rel=1e-6)
    assert d["area_ha"]["not_irrigated"] == pytest.approx(NOT_IRRIGATED_PX * FINE_PIXEL_HA, rel=1e-6)
    assert d["design"]["frame_pixel_area_from"] == design.unit_area_from


def test_four_times_coarser_grid_is_refused(tmp_path):
    """10 x 10 pixels of 1 km: the points stand for 352 frame pixels (SE 54), more than the grid's 100; the old
    code took 352 x 100 ha."""
    pts = _points(tmp_path)
    with pytest.raises(DataError) as e:
        sample_design(_ctx(pts, 4 * FINE, N // 4))
    msg = str(e.value)
    assert "[evaluation].frame_pixel_area_ha" in msg and "352 frame pixels" in msg and "100 pixels" in msg
    coarse_grid_ha = _geod_ha(X0, Y0 - N * FINE, X0 + N * FINE, Y0)
    assert f"{coarse_grid_ha / 352:.6g} ha" in msg  # at most grid area / frame pixels


def test_four_times_coarser_larger_grid_warns_and_given_area_is_used(tmp_path, caplog):
    """40 x 40 pixels of 1 km (1600 > 352 pixels: not refused): the points lie off its pixel centres (fine centres
    sit 0.125 / 0.375 px off a coarse centre), so a warning; with the frame's pixel area given, the hand-computed areas."""
    pts = _points(tmp_path)
    with caplog.at_level(logging.WARNING):
        design = sample_design(_ctx(pts, 4 * FINE, N))
    warned = [r.getMessage() for r in caplog.records if "[evaluation].frame_pixel_area_ha" in r.getMessage()]
    assert warned and "48 of the 48 points" in warned[0] and "off its pixel centres" in warned[0]
    assert "off its pixel centres" in design.unit_area_from
    coarse_map = _map(tmp_path, 4 * FINE, N, "coarse.tif")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        given = sample_design(_ctx(pts, 4 * FINE, N, frame_pixel_area_ha=FINE_PIXEL_HA))
    assert not [r for r in caplog.records if "frame_pixel_area_ha" in r.getMessage()]
    assert given.unit_area_ha == FINE_PIXEL_HA and given.unit_area_from.startswith("[evaluation].frame_pixel_area_ha")
    d = _areas(coarse_map, pts, given)
    assert d["area_ha"]["irrigated"] == pytest.approx(IRRIGATED_PX * FINE_PIXEL_HA, rel=1e-9)
    assert d["area_ha"]["not_irrigated"] == pytest.approx(NOT_IRRIGATED_PX * FINE_PIXEL_HA, rel=1e-9)


def test_points_of_a_three_times_coarser_frame_at_run_grid_centres_warn(tmp_path, caplog):
    """A 750 m frame aligned with a 250 m run grid: its centres are centres of the run grid, every third row and
    column; the default would take 1/9 of the frame's pixel area."""
    pts = _points(tmp_path, res=3 * FINE, n_cells=N // 2, name="pts750.gpkg")
    with caplog.at_level(logging.WARNING):
        design = sample_design(_ctx(pts, FINE, 3 * N // 2))
    warned = [r.getMessage() for r in caplog.records if "[evaluation].frame_pixel_area_ha" in r.getMessage()]
    assert warned and "one row in 3 and one column in 3" in warned[0] and "9 times too small" in warned[0]
    assert "one row in 3" in design.unit_area_from


def test_report_area_table_names_the_frame_pixel_area(tmp_path):
    from irrmap.evaluation.design_section import design_section
    from irrmap.evaluation.report import Report
    from irrmap.evaluation.workflow import CLASS_NAMES

    pts = _points(tmp_path)
    design = sample_design(_ctx(pts, FINE, N))
    r = points_accuracy(_map(tmp_path, FINE, N, "fine.tif"), pts, "label", threshold=0.5, design=design)
    rep = Report("t")
    design_section(rep, r.design, r.accuracy, CLASS_NAMES, design.unit_area_ha, "cmd")
    text = rep.to_markdown()[0]
    assert f"frame pixel area {FINE_PIXEL_HA:.6g} ha: default: the mean pixel area of the run's grid, the points sitting at its pixel centres" in text
