"""Design-based areas at points whose sampling design contradicts the map: inclusion probabilities in percent
and swapped stratum sizes. Map: 100 x 100 pixels of 30 m (UTM 11N), class 1 in the first 30 columns (3,000 px),
class 0 elsewhere (7,000 px); 50 points stratified by map class (30 on class 1, 20 on class 0, inclusion
probabilities 30/3000 and 20/7000), labels with 7 omission-free errors in class 1 and 2 in class 0.

Hand-computed Olofsson et al. (2014) values for the matrix (rows map, columns reference) [[18, 2], [7, 23]]
with W = (0.7, 0.3): p = [[0.63, 0.07], [0.07, 0.23]], OA = 0.86, kappa = (0.86 - 0.58) / (1 - 0.58) = 0.6667
(pe = 0.7 * 0.7 + 0.3 * 0.3 = 0.58), area of class 1 = 0.30 * 10,000 px = 3,000 px = 270 ha at 0.09 ha per
pixel, SE(p_.1) = sqrt(0.7^2 * (2/20)(18/20)/19 + 0.3^2 * (23/30)(7/30)/29) = 0.05369 -> 48.3 ha."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest

from irrmap.app.cli import main

#: Olofsson (2014) eq. 10 standard error of the area proportion of class 1, by hand (see the module docstring)
SE_P1 = math.sqrt(0.7**2 * (2 / 20) * (18 / 20) / 19 + 0.3**2 * (23 / 30) * (7 / 30) / 29)


@pytest.fixture()
def design_case(tmp_path):
    import geopandas as gpd
    import rasterio
    from rasterio.transform import from_origin
    from shapely.geometry import Point

    m = np.zeros((100, 100), np.uint8)
    m[:, :30] = 1
    t = from_origin(500000, 5000000, 30, 30)
    with rasterio.open(tmp_path / "map.tif", "w", driver="GTiff", width=100, height=100, count=1, dtype="uint8",
                       crs="EPSG:32611", transform=t, nodata=255) as d:
        d.write(m, 1)
    rows = []
    # class 1: 30 points in distinct pixels, 7 of them reference 0; class 0: 20 points, 2 of them reference 1
    for cls, n, wrong, col0 in ((1, 30, 7, 0), (0, 20, 2, 40)):
        for k in range(n):
            r, c = 3 * k + 1, col0 + (k % 20)
            x, y = t * (c + 0.5, r + 0.5)
            rows.append({"geometry": Point(x, y), "label": 1 - cls if k < wrong else cls, "stratum": cls,
                         "incl": n / (3000 if cls == 1 else 7000)})
    g = gpd.GeoDataFrame(rows, crs="EPSG:32611")
    g.to_file(tmp_path / "pts.gpkg")
    g.assign(incl=g["incl"] * 100).to_file(tmp_path / "pts_pct.gpkg")  # percent, all <= 1 here (1.0 and 0.286)
    g.assign(incl=g["incl"] * 10000).to_file(tmp_path / "pts_pct_big.gpkg")  # > 1: impossible
    return tmp_path


def _run(d, *extra, points="pts.gpkg"):
    return main(["-q", "evaluate", "points", str(d / "map.tif"), str(d / points), "--label-field", "label",
                 "--stratum-field", "stratum", *extra, "--json"])


def test_right_design_matches_olofsson(design_case, capsys):
    assert _run(design_case, "--inclusion-field", "incl", "--frame-pixel-area", "0.09") == 0
    db = json.loads(capsys.readouterr().out)["design_based"]
    assert db["overall_accuracy"] == pytest.approx(0.86)
    assert db["kappa"] == pytest.approx((0.86 - 0.58) / (1 - 0.58))
    assert db["area_ha"]["irrigated"] == pytest.approx(270.0)
    assert db["area_se_ha"]["irrigated"] == pytest.approx(SE_P1 * 10000 * 0.09, rel=1e-6)


def test_text_shows_area_se_digits(design_case, capsys):
    assert main(["-q", "evaluate", "points", str(design_case / "map.tif"), str(design_case / "pts.gpkg"), "--label-field", "label",
                 "--stratum-field", "stratum", "--inclusion-field", "incl", "--frame-pixel-area", "0.0009"]) == 0
    out = capsys.readouterr().out
    # 3,000 px x 0.0009 ha = 2.70 ha, SE 0.05369 x 10,000 x 0.0009 = 0.483 ha: not rounded to "3 (SE 0)"
    assert f"irrigated 2.70 (SE {SE_P1 * 9:.3f})" in out, out


def test_percent_inclusion_probabilities_above_1_refused(design_case, capsys):
    assert _run(design_case, "--inclusion-field", "incl", points="pts_pct_big.gpkg") == 2
    err = capsys.readouterr().err
    assert "'incl'" in err and "not in (0, 1]" in err and "divided by 100" in err and "Traceback" not in err


def test_percent_inclusion_probabilities_warned(design_case, caplog):
    with caplog.at_level(logging.WARNING):
        assert _run(design_case, "--inclusion-field", "incl", "--frame-pixel-area", "0.09", points="pts_pct.gpkg") == 0
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "sum(1/pi)" in r.getMessage()]
    # sum(1/pi) = 30 and 70 against 3,000 and 7,000 pixels: 1/100 of them, the percent reading
    assert len(warned) == 2 and all("look like percent" in w for w in warned), warned
    assert any("3,000" in w and "= 30," in w for w in warned) and any("7,000" in w and "= 70," in w for w in warned), warned


def test_swapped_stratum_sizes_refused_with_frame_pixel_area(design_case, capsys):
    """--frame-pixel-area 0.09 is the map's own 30 m pixel (its ellipsoidal area differs by < 0.1 %)."""
    assert _run(design_case, "--stratum-size", "1=7000", "--stratum-size", "0=3000", "--frame-pixel-area", "0.09") == 2
    assert "swapped" in capsys.readouterr().err


def test_swapped_stratum_sizes_refused(design_case, capsys):
    assert _run(design_case, "--stratum-size", "1=7000", "--stratum-size", "0=3000") == 2
    err = capsys.readouterr().err
    assert "7,000" in err and "3,000" in err and "swapped" in err and "Traceback" not in err


def test_right_stratum_sizes_match_olofsson(design_case, capsys, caplog):
    with caplog.at_level(logging.WARNING):
        assert _run(design_case, "--stratum-size", "1=3000", "--stratum-size", "0=7000") == 0
    db = json.loads(capsys.readouterr().out)["design_based"]
    assert db["overall_accuracy"] == pytest.approx(0.86)
    assert db["kappa"] == pytest.approx((0.86 - 0.58) / (1 - 0.58))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "stratum" in r.getMessage()]


def test_strata_of_another_kind_not_checked():
    """Strata that are not the map classes (a stratum's points on both classes) are left alone."""
    import pandas as pd
    from irrmap.evaluation.design import SampleDesign
    from irrmap.evaluation.design_checks import check_strata_on_map, map_class_strata

    s = pd.DataFrame({"map": [0, 1, 0, 1], "reference": [0, 1, 1, 1], "zone": ["a", "a", "b", "b"]})
    d = SampleDesign("zone", stratum_sizes={"a": 9e9, "b": 1})
    assert map_class_strata(s, d) is None
    check_strata_on_map(s, d, {0: 10, 1: 10})  # no error
