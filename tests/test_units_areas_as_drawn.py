"""Unit areas follow each edge as drawn in the unit file's CRS (a lon/lat edge along its parallel, a UTM edge
straight in UTM), in `units info`, the areas of partly covered units and the burned zones on a projected grid;
units too small for any pixel are warned about; cn-adcode refuses codes outside provinces 11..82 (100000) and
hints when a file holds provinces or prefectures; the beyond-the-grid warning names partly covered units first.

Truth: pyproj.Geod (WGS84) on outlines densified by hand in the file's CRS (numpy, 1e-4 degree or 10 m steps, far
finer than the code's), an equal-area projection's own area for burned pixels, and hand-computed box areas."""

from __future__ import annotations

import logging
import math

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from pyproj import Geod, Transformer
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.coverage import on_grid_areas, unit_areas
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid
from irrmap.core.units import AdminUnits

GEOD = Geod(ellps="WGS84")
COLORADO = (-109.05, 37.0, -102.05, 41.0)  # a lon/lat box whose long edges run along the parallels 37 and 41 N


def _outline(left, bottom, right, top, step):
    """Counter-clockwise outline of a box, each edge cut into pieces of at most `step` (the box's own units)."""
    def edge(x0, y0, x1, y1):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / step))
        t = np.arange(n) / n
        return x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    parts = [edge(left, bottom, right, bottom), edge(right, bottom, right, top), edge(right, top, left, top), edge(left, top, left, bottom)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _drawn_lonlat_m2(b, step=1e-4) -> float:
    return GEOD.polygon_area_perimeter(*_outline(*b, step))[0]


def _units(tmp_path, codes, geoms, crs="EPSG:4326", name="u.gpkg"):
    path = tmp_path / name
    gpd.GeoDataFrame({"code": codes}, geometry=geoms, crs=crs).to_file(path)
    return path


def test_a_lonlat_box_is_measured_along_its_parallels(tmp_path, capsys):
    truth = _drawn_lonlat_m2(COLORADO)
    assert truth / 1e6 == pytest.approx(269_216.89, abs=0.01)  # the geodesics between the 4 corners give 269,154.55
    path = _units(tmp_path, ["08"], [box(*COLORADO)])
    units = AdminUnits.read(path, "code", hierarchy="none")
    assert units.geodesic_areas().iloc[0] == pytest.approx(truth, rel=1e-9)
    assert main(["-q", "units", "info", str(path), "--code-field", "code", "--hierarchy", "none"]) == 0
    assert "total ellipsoidal area 269,216.9 km2" in capsys.readouterr().out


def test_a_utm_square_is_measured_along_its_straight_utm_edges(tmp_path):
    x0, y0 = 350_000.0, 4_000_000.0  # a 300 km square in UTM 14N (EPSG:32614)
    lon, lat = Transformer.from_crs("EPSG:32614", "EPSG:4326", always_xy=True).transform(*_outline(x0, y0, x0 + 3e5, y0 + 3e5, 10.0))
    truth = GEOD.polygon_area_perimeter(lon, lat)[0]
    assert truth / 1e6 == pytest.approx(90_055.40, abs=0.01)  # its 4 corners joined by geodesics: 90,072.04
    units = AdminUnits.read(_units(tmp_path, ["A"], [box(x0, y0, x0 + 3e5, y0 + 3e5)], crs="EPSG:32614"), "code", hierarchy="none")
    assert units.geodesic_areas().iloc[0] == pytest.approx(truth, rel=1e-9)


def test_a_cut_unit_share_uses_the_drawn_outline(tmp_path):
    # the grid keeps the box's western half, -109.05 .. -105.55: both halves measured along the parallels
    units = AdminUnits.read(_units(tmp_path, ["08"], [box(*COLORADO)]), "code", hierarchy="none")
    grid = Grid.from_bounds(-109.1, 36.9, -105.55, 41.1, 0.05, "EPSG:4326")
    full, on, _ = on_grid_areas(units, grid)
    assert full[0] == pytest.approx(_drawn_lonlat_m2(COLORADO), rel=1e-9)
    assert on[0] == pytest.approx(_drawn_lonlat_m2((-109.05, 37.0, -105.55, 41.0)), rel=1e-9)


def test_a_lonlat_box_burned_on_an_albers_grid_follows_its_parallels(tmp_path):
    # EPSG:5070 (CONUS Albers) is equal-area: a 1 km pixel is 1 km2 of ellipsoid. Burning the chords between the
    # reprojected corners gave 268,974 pixels (the chord quadrilateral's 268,973.5 km2), 243 km2 short.
    units = AdminUnits.read(_units(tmp_path, ["08"], [box(*COLORADO)]), "code", hierarchy="none")
    grid = Grid.from_bounds(-1_200_000, 1_500_000, -450_000, 2_100_000, 1000, "EPSG:5070")
    pixels = int((units.rasterize(grid).values == 1).sum())
    assert pixels == pytest.approx(_drawn_lonlat_m2(COLORADO) / 1e6, abs=40)  # centre rule along a 2,200 km outline


SMALL = box(10.601, 50.101, 10.604, 50.104)  # 0.003 x 0.003 deg between the centres of 0.01 deg pixels


def _small_files(tmp_path):
    return _units(tmp_path, ["A", "B"], [box(10.0, 50.0, 10.5, 50.5), SMALL])


def test_a_unit_without_pixels_is_named_by_units_rasterize(tmp_path, caplog):
    path = _small_files(tmp_path)
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "units", "rasterize", str(path), "--code-field", "code", "--hierarchy", "none", "--bounds", "10", "50",
                     "10.7", "50.6", "--resolution", "0.01", "--out", str(tmp_path / "z.tif")]) == 0
    with rasterio.open(tmp_path / "z.tif") as src:
        assert not (src.read(1) == 2).any()  # B really has no pixel
    msg = [r.getMessage() for r in caplog.records if "get no pixel" in r.getMessage()]
    assert len(msg) == 1 and "1 of 2 units" in msg[0] and "A (" not in msg[0]
    km2 = _drawn_lonlat_m2(SMALL.bounds, 1e-5) / 1e6  # 0.0716 km2: 333.6 m x 214.5 m
    assert f"B ({km2:.3g} km2 on the grid" in msg[0] and "--resolution" in msg[0]


def test_the_units_stage_table_warns_the_same_way(tmp_path, caplog):
    units = AdminUnits.read(_small_files(tmp_path), "code", hierarchy="none")
    grid = Grid.from_bounds(10.0, 50.0, 10.7, 50.6, 0.01, "EPSG:4326")
    from irrmap.core.raster_write import write_raster

    write_raster(tmp_path / "zones.tif", units.rasterize(grid), nodata=0, dtype="int32")
    with caplog.at_level(logging.WARNING):
        table = unit_areas(units, grid, tmp_path / "zones.tif")
    assert table.loc["B", "grid_area_m2"] == 0 and table.loc["B", "on_grid_area_m2"] > 0
    msg = [r.getMessage() for r in caplog.records if "get no pixel" in r.getMessage()]
    assert len(msg) == 1 and msg[0].startswith("units: 1 of 2 units") and "B (" in msg[0] and "[grid].resolution" in msg[0]


@pytest.mark.parametrize("code", ["100000", "830101", "990101", "100101"])
def test_cn_adcode_refuses_codes_outside_provinces_11_to_82(tmp_path, capsys, code):
    path = _units(tmp_path, ["110101", code], [box(116.0, 40.0, 116.1, 40.1), box(116.1, 40.0, 116.2, 40.1)])
    with pytest.raises(DataError, match=code):
        AdminUnits.read(path, "code")
    assert main(["-q", "units", "info", str(path), "--code-field", "code"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and code in err and "--drop-invalid-codes" in err and "11..82" in err and "Traceback" not in err
    assert ("China as a whole" in err) == (code == "100000")
    assert AdminUnits.read(path, "code", invalid_codes="drop").codes.tolist() == ["110101"]


@pytest.mark.parametrize(("codes", "level"), [(["110000", "120000"], "province"), (["110100", "110200"], "city")])
def test_a_file_of_provinces_or_prefectures_is_hinted(tmp_path, caplog, codes, level):
    path = _units(tmp_path, codes, [box(116.0, 40.0, 116.1, 40.1), box(116.1, 40.0, 116.2, 40.1)])
    with caplog.at_level(logging.WARNING):
        AdminUnits.read(path, "code")
    msg = [r.getMessage() for r in caplog.records if "ends in" in r.getMessage()]
    assert len(msg) == 1 and f"at {level} level" in msg[0] and str(path) in msg[0] and "county file" in msg[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        AdminUnits.read(_units(tmp_path, ["110000", "110101"], [box(116.0, 40.0, 116.1, 40.1), box(116.1, 40.0, 116.2, 40.1)],
                               name="mixed.gpkg"), "code")
    assert not [r for r in caplog.records if "ends in" in r.getMessage()]


def test_the_beyond_grid_warning_names_partly_covered_units_first(tmp_path, caplog):
    off = [box(120.0 + i, 30.0, 120.5 + i, 30.5) for i in range(3)]  # first in the file, wholly off the grid
    path = _units(tmp_path, ["130101", "130102", "130103", "130104"], [*off, box(100.0, 40.0, 100.4, 40.2)])
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "units", "rasterize", str(path), "--code-field", "code", "--bounds", "100.0", "40.0", "100.2", "40.2",
                     "--resolution", "0.01", "--out", str(tmp_path / "z.tif")]) == 0
    msg = next(r.getMessage() for r in caplog.records if "reach beyond the grid" in r.getMessage())
    assert "4 of 4 units" in msg and "1 partly on it: 130104 (" in msg and "3 wholly off it" in msg
    assert msg.index("130104") < msg.index("130101")
    half = _drawn_lonlat_m2((100.0, 40.0, 100.2, 40.2)) / _drawn_lonlat_m2((100.0, 40.0, 100.4, 40.2))  # 50.0 %
    assert f"130104 ({100 * half:.3g} % of its" in msg
