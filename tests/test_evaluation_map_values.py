"""Map values are checked like labels (0/1 + declared nodata); irrmap's class map counts 255 (no cropland) as 0 ha."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.workflow import check_map_values, statistics_agreement
from pyproj import Geod
from shapely.geometry import box

from irrmap.core.errors import DataError

W, N, RES = 104.0, 38.4, 0.01
SHAPE = (40, 60)
COUNTIES = {"610101": (0, 30, 0, 20), "610102": (30, 60, 0, 20), "610201": (0, 30, 20, 40), "610202": (30, 60, 20, 40)}
CLASS_DESC = "1 irrigated, 0 cropland not irrigated, 255 no cropland (filtered)"


def _write(path, data, nodata=None, desc=None):
    """A one-band GeoTIFF of `data` on the 0.01 deg lon/lat lattice anchored at (W, N); `desc` its band description."""
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype, crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(W, N, RES, RES), nodata=nodata) as d:
        d.write(data, 1)
        if desc:
            d.set_band_description(1, desc)
    return path


def _class_map():
    rng = np.random.default_rng(1)
    v = (rng.random(SHAPE) < 0.3).astype(np.uint8)
    v[rng.random(SHAPE) < 0.4] = 255
    return v


def test_one_two_coding_refused_unless_threshold(tmp_path):
    v = np.where(_class_map() == 1, 2, 1).astype(np.uint8)
    p = _write(tmp_path / "m12.tif", v, nodata=0)
    with pytest.raises(DataError, match="values 1, 2"):
        check_map_values(p)
    with pytest.raises(DataError, match="values 1, 2"):
        check_map_values(p, kind="binary")
    check_map_values(p, threshold=1)  # explicit: value > 1 = irrigated


def test_255_without_nodata_refused_with_fix(tmp_path):
    p = _write(tmp_path / "c.tif", _class_map())
    with pytest.raises(DataError) as e:
        check_map_values(p)
    assert "gdal_edit.py -a_nodata 255" in e.value.fix
    check_map_values(_write(tmp_path / "ok.tif", _class_map(), nodata=255))  # declared: accepted


def test_fraction_percent_map_accepted(tmp_path):
    v = (np.random.default_rng(2).random(SHAPE) * 100).astype(np.uint8)
    check_map_values(_write(tmp_path / "f.tif", v, nodata=255))


def _units_and_stats(tmp_path):
    geoms = [{"code": c, "geometry": box(W + c0 * RES, N - r1 * RES, W + c1 * RES, N - r0 * RES)} for c, (c0, c1, r0, r1) in COUNTIES.items()]
    gpd.GeoDataFrame(geoms, crs="EPSG:4326").to_file(tmp_path / "units.geojson")
    pd.DataFrame({"code": list(COUNTIES), "irrigated_area": [100.0, 200.0, 300.0, 400.0]}).to_csv(tmp_path / "s.csv", index=False)
    return tmp_path / "units.geojson", tmp_path / "s.csv"


def test_class_map_no_cropland_is_zero_area(tmp_path):
    v = _class_map()
    p = _write(tmp_path / "class.tif", v, nodata=255, desc=CLASS_DESC)
    units, stats = _units_and_stats(tmp_path)
    ones = _write(tmp_path / "ones.tif", np.ones(SHAPE, np.float32))  # class.tif's areas need a cropland weight (here 1)
    r = statistics_agreement(p, units, "code", stats, "code", "irrigated_area", "ha", map_kind="binary", levels=["county"],
                             weight_path=ones)
    geod = Geod(ellps="WGS84")
    row_area = np.array([abs(geod.polygon_area_perimeter([W, W + RES, W + RES, W], [N - (i + 1) * RES] * 2 + [N - i * RES] * 2)[0])
                         for i in range(SHAPE[0])])
    for code, (c0, c1, r0, r1) in COUNTIES.items():
        expect = float(((v[r0:r1, c0:c1] == 1) * row_area[r0:r1, None]).sum())
        assert r.mapped[code] == pytest.approx(expect, rel=1e-6)


def test_binary_map_all_nodata_names_the_cause(tmp_path):
    v = np.full(SHAPE, 255, np.uint8)
    v[:2, :2] = 1
    p = _write(tmp_path / "b.tif", v, nodata=255)  # not irrmap's class map: nodata is missing data
    units, stats = _units_and_stats(tmp_path)
    with pytest.raises(DataError, match="no unit has a mapped area: .*610101: the map has no data"):
        statistics_agreement(p, units, "code", stats, "code", "irrigated_area", "ha", map_kind="binary", levels=["county"])


def test_percent_map_with_whole_pixels_only_accepted(tmp_path):
    v = np.where(_class_map() == 1, 100, 0).astype(np.uint8)
    check_map_values(_write(tmp_path / "p.tif", v, nodata=255))
