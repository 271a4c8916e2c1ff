"""A statistics table's area unit is checked once, with the hint of the layer the user called.

`irrmap training thresholds` with a table in 1000 ha declared as ha used to print two scale warnings: the library's
(split_scores: "667x too small: is area_unit 'mu'? ... set targets_by_code = 'mu' ... (it is read as m2 now)", a
wrong factor, unit and option) and the CLI's own (correct: 1000x, --area-unit 1000ha). Now the CLI tells split_scores
it checks the table itself (check_scale=False), and split_scores' own check reads the targets in the unit its caller
declares (its `area_unit` keyword), so its hint names that keyword and the right unit. A unit smaller than a pixel
with a statistic is named as such by `training thresholds` (as `units rasterize` and `run` name it), not only as
"infeasible ... 0 km2 cropland".

Truth: hand-built rasters and tables whose true unit is known by construction (a table written in 1000 ha, or in
ha); the factor 1000 is 1000ha / ha; the tiny unit's box holds no pixel centre by its coordinates.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray

# 0.005 degree pixels: centres at 100.0025 + k * 0.005 and 40.0025 + k * 0.005
GRID = Grid.from_bounds(100.0, 40.0, 100.4, 40.2, 0.005, "EPSG:4326")
CODES = ["650101", "650102", "650103", "650104"]
TINY = "650105"  # x 100.3505..100.352, y 40.1005..40.102: between pixel centres (100.3475 / 100.3525, 40.0975 / 40.1025)


def _boxes():
    return [box(100.0 + 0.075 * i, 40.0, 100.075 + 0.075 * i, 40.2) for i in range(4)]


@pytest.fixture
def d(tmp_path):
    rng = np.random.default_rng(7)
    write_raster(tmp_path / "sevi.tif", as_dataarray(rng.random(GRID.shape).astype(np.float32), GRID), cog=False)
    write_raster(tmp_path / "crop.tif", as_dataarray(np.ones(GRID.shape, np.float32), GRID), cog=False)  # all cropland
    polys = gpd.GeoDataFrame({"code": CODES + [TINY]}, geometry=_boxes() + [box(100.3505, 40.1005, 100.352, 40.102)],
                             crs="EPSG:4326")
    polys.to_file(tmp_path / "u.gpkg")
    # 30 % of each unit's geodesic area (all of it cropland) irrigated, in ha (pyproj's geodesic area: the truth)
    geod = pyproj.Geod(ellps="WGS84")
    irr_ha = 0.3 * np.array([abs(geod.geometry_area_perimeter(g)[0]) / 1e4 for g in _boxes()])
    pd.DataFrame({"county": CODES, "irr": irr_ha / 1000.0}).to_csv(tmp_path / "kha.csv", index=False)  # the table in 1000 ha
    # the tiny unit (about 2 ha) reports 1 ha: feasible as an area, but it has no pixel
    pd.DataFrame({"county": CODES + [TINY], "irr": list(irr_ha) + [1.0]}).to_csv(tmp_path / "ha_tiny.csv", index=False)
    return tmp_path


def _thresholds(d, stats, unit, out="thr"):
    return main(["-q", "training", "thresholds", "--score", str(d / "sevi.tif"), "--cropland", str(d / "crop.tif"),
                 "--units", str(d / "u.gpkg"), "--unit-field", "code", "--stats", str(d / stats), "--stats-field", "county",
                 "--area-field", "irr", "--area-unit", unit, "--out", str(d / out)])


def _lines(caplog, capsys):
    out = capsys.readouterr()
    return [r.getMessage() for r in caplog.records] + (out.out + out.err).splitlines()


def test_cli_table_in_1000ha_declared_ha_gets_one_warning_with_the_cli_hint(d, caplog, capsys):
    with caplog.at_level(logging.WARNING):
        assert _thresholds(d, "kha.csv", "ha") == 0
    lines = _lines(caplog, capsys)
    scale = [m for m in lines if "too small" in m]
    assert len(scale) == 1, scale  # one check, not the library's and the CLI's
    assert "values look 1000x too small: is area_unit '1000ha'?" in scale[0] and "--area-unit 1000ha" in scale[0]
    assert not any("targets_by_code" in m or "'mu'?" in m or "read as m2" in m for m in lines)


def test_control_cli_right_unit_no_scale_warning(d, caplog, capsys):
    """Control (passes on the old code too): the same table declared 1000ha is plausible."""
    with caplog.at_level(logging.WARNING):
        assert _thresholds(d, "kha.csv", "1000ha") == 0
    assert not any("too small" in m or "implausible" in m for m in _lines(caplog, capsys))


def _split_inputs():
    """Four 10 x 10 pixel units of a UTM grid, all cropland, scores random; cropland m2 per unit from the grid."""
    g = Grid.from_bounds(500000.0, 4400000.0, 520000.0, 4405000.0, 500.0, "EPSG:32650")
    z = np.repeat(np.arange(1, 5, dtype="int32"), 10)[None, :].repeat(10, axis=0)
    score = np.random.default_rng(1).random(z.shape, dtype=np.float32)
    return ({"s": as_dataarray(score, g)}, as_dataarray(z, g), as_dataarray(np.ones(z.shape, np.float32), g),
            pd.Series(list("abcd"), index=[1, 2, 3, 4]))


def test_library_hint_names_the_declared_unit_and_its_keyword(tmp_path, caplog):
    from irrmap.training.intermediate_maps import split_scores

    scores, zones, crop, codes = _split_inputs()
    cropland_ha = 100 * 500.0 * 500.0 / 1e4  # 100 pixels of 500 m x 500 m (UTM metres) = 2500 ha
    kha = pd.Series(0.3 * cropland_ha / 1000.0, index=list("abcd"))  # 30 % of it, written in 1000 ha
    with caplog.at_level(logging.WARNING, logger="irrmap"):
        _, table = split_scores(scores, zones, crop, kha, codes, work=tmp_path / "a", area_unit="ha")
    msgs = [r.getMessage() for r in caplog.records if "split_scores" in r.getMessage()]
    assert len(msgs) == 1
    assert "values look 1000x too small: is area_unit '1000ha'?" in msgs[0]
    assert "set area_unit = '1000ha' if the table is in 1000ha (it is read as ha now)" in msgs[0]
    assert "targets_by_code =" not in msgs[0]
    # the targets were converted from the declared unit: 0.75 "ha" = 7,500 m2
    np.testing.assert_allclose(table.drop_duplicates("unit")["target_m2"].to_numpy(), 0.3 * cropland_ha / 1000.0 * 1e4)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="irrmap"):
        split_scores(scores, zones, crop, kha, codes, work=tmp_path / "b", area_unit="ha", check_scale=False)
    assert not [r for r in caplog.records if "split_scores" in r.getMessage()]


def test_library_ha_given_as_m2_names_area_unit_not_targets_by_code(tmp_path, caplog):
    from irrmap.training.intermediate_maps import split_scores

    scores, zones, crop, codes = _split_inputs()
    ha = pd.Series(0.3 * 2500.0, index=list("abcd"))  # 30 % of 2500 ha of cropland, in ha, passed as m2 (the default)
    with caplog.at_level(logging.WARNING, logger="irrmap"):
        split_scores(scores, zones, crop, ha, codes, work=tmp_path / "a")
    msgs = [r.getMessage() for r in caplog.records if "split_scores" in r.getMessage()]
    assert len(msgs) == 1 and "values look 10000x too small: is area_unit 'ha'?" in msgs[0]
    assert "set area_unit = 'ha'" in msgs[0] and "targets_by_code =" not in msgs[0]
    with caplog.at_level(logging.WARNING, logger="irrmap"):  # the same values declared as ha are plausible
        caplog.clear()
        _, table = split_scores(scores, zones, crop, ha, codes, work=tmp_path / "b", area_unit="hectares")
    assert not [r for r in caplog.records if "split_scores" in r.getMessage()]
    assert (table["status"] == "ok").all()


def test_cli_unit_smaller_than_a_pixel_is_named_as_such(d, caplog, capsys):
    with caplog.at_level(logging.WARNING):
        assert _thresholds(d, "ha_tiny.csv", "ha") == 0
    t = pd.read_csv(d / "thr" / "thresholds.csv", dtype={"unit": str}).set_index("unit")
    assert t.loc[TINY, "status"] == "infeasible" and t.loc[TINY, "n_pixels"] == 0
    lines = _lines(caplog, capsys)
    named = [m for m in lines if "get no pixel" in m]
    assert len(named) == 1 and TINY in named[0] and "smaller or thinner than a pixel" in named[0]
    infeasible = [m for m in lines if f"unit {TINY} is infeasible" in m]
    assert len(infeasible) == 1 and "gets no pixel" in infeasible[0] and "--cropland" in infeasible[0]
