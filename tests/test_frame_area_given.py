"""A GIVEN frame pixel area ([evaluation].frame_pixel_area_ha, `irrmap evaluate points --frame-pixel-area`) is checked
against the points as areas (evaluation.design_frame.check_frame_area): the points on the map stand for sum(1/pi)
frame pixels, which times the given area cannot cover more than the map's grid.

Hand-computed truth (the 48 points of test_design_frame_pixel_area, drawn at the centres of a 40 x 40 grid of 250 m
pixels): sum(1/pi) = 32 / 0.1 + 16 / 0.5 = 352 frame pixels, SE^2 = 32 x 0.9 / 0.01 + 16 x 0.5 / 0.25 = 2912 (SE
53.96); the grid holds 1600 pixels of f ha, f = its pyproj.Geod area / 1600. The refusal bound is
352 x X > 1.01 x 1600 f + 3 x 53.96 x X, i.e. X > 1616 f / 190.1 = 8.50 f: a 1 km frame's area (16 f) or f in m2 is
refused, a 500 m frame's (4 f) cannot be told from a frame covering part of the grid and passes, as f does.
"""

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point

from irrmap.app.stages.report_context import check_design_frame, sample_design
from irrmap.core.errors import DataError
from irrmap.evaluation.design import SampleDesign
from irrmap.evaluation.design_frame import frame_pixels_on_grid
from irrmap.evaluation.workflow import points_accuracy
from tests.test_design_frame_pixel_area import CRS, FINE, FINE_PIXEL_HA, IRRIGATED_PX, N, X0, Y0, _ctx, _map, _points

SE = math.sqrt(32 * 0.9 / 0.01 + 16 * 0.5 / 0.25)
BOUND = 1.01 * 1600 / (352 - 3 * SE)  # in units of f: the largest frame pixel area that passes


def test_hand_bound():
    assert SE == pytest.approx(53.963, abs=1e-3) and BOUND == pytest.approx(8.50, abs=0.01)


@pytest.mark.parametrize("factor", [16.0, 1e4])  # a 1 km frame's pixel area; f typed in m2
def test_run_refuses_a_frame_area_too_large_for_the_points(tmp_path, factor):
    pts = _points(tmp_path)
    ctx = _ctx(pts, FINE, N, frame_pixel_area_ha=factor * FINE_PIXEL_HA)
    for call in (lambda: sample_design(ctx), lambda: check_design_frame(ctx, gpd.read_file(pts))):
        with pytest.raises(DataError) as e:
            call()
        msg = str(e.value)
        assert "[evaluation].frame_pixel_area_ha" in msg and "352 frame pixels" in msg
        assert f"{1600 * FINE_PIXEL_HA / 352:.6g} ha" in msg  # the largest area that fits: grid area / frame pixels


@pytest.mark.parametrize("factor", [1.0, 4.0, 8.4])  # the frame's own area, a 500 m frame's, just under the bound
def test_frame_areas_that_fit_pass_and_are_used(tmp_path, factor):
    pts = _points(tmp_path)
    design = sample_design(_ctx(pts, FINE, N, frame_pixel_area_ha=factor * FINE_PIXEL_HA))
    assert design.unit_area_ha == factor * FINE_PIXEL_HA
    d = points_accuracy(_map(tmp_path, FINE, N, "fine.tif"), pts, "label", threshold=0.5, design=design).to_dict()["design_based"]
    assert d["area_ha"]["irrigated"] == pytest.approx(IRRIGATED_PX * factor * FINE_PIXEL_HA, rel=1e-9)


def test_evaluate_points_refuses_it_too(tmp_path):
    pts = _points(tmp_path)
    design = SampleDesign("zone", "incl", None, 16 * FINE_PIXEL_HA)
    with pytest.raises(DataError) as e:
        points_accuracy(_map(tmp_path, FINE, N, "fine.tif"), pts, "label", threshold=0.5, design=design)
    assert "--frame-pixel-area" in str(e.value) and "352 frame pixels" in str(e.value)


def test_only_points_on_the_map_count(tmp_path):
    """The map covers the top 20 rows of the frame: a frame larger than the map passes with the frame's own area."""
    pts = _points(tmp_path)
    top = _map(tmp_path, FINE, N, "full.tif")
    import rasterio

    with rasterio.open(top) as src:
        prof, a = src.profile, src.read(1)[:20]
    prof.update(height=20)
    half = tmp_path / "top.tif"
    with rasterio.open(half, "w", **prof) as dst:
        dst.write(a, 1)
    design = SampleDesign("zone", "incl", None, FINE_PIXEL_HA)
    points_accuracy(half, pts, "label", threshold=0.5, design=design)  # no error


def test_stratum_sizes_share_on_grid_has_a_binomial_se():
    """Given sizes N_A = 320, N_B = 32 with 3 of 4 A points and 1 of 2 B points on the grid: N = 320 x 0.75 + 32 x 0.5
    = 256, SE^2 = 320^2 x 0.75 x 0.25 / 4 + 32^2 x 0.5 x 0.5 / 2 = 4800 + 128."""
    pts = gpd.GeoDataFrame({"zone": ["A", "A", "A", "A", "B", "B"]},
                           geometry=[Point(X0 + 10, Y0 - 10)] * 6, crs=CRS)
    inside = np.array([True, True, True, False, True, False])
    n, se = frame_pixels_on_grid(pts, SampleDesign("zone", None, {"A": 320, "B": 32}), inside)
    assert n == pytest.approx(256.0) and se == pytest.approx(math.sqrt(4928.0))
    n_all, se_all = frame_pixels_on_grid(pts, SampleDesign("zone", None, {"A": 320, "B": 32}), np.ones(6, bool))
    assert n_all == pytest.approx(352.0) and se_all == 0.0
