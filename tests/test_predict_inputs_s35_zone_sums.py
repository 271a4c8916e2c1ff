"""Per-unit sums of `irrmap run` (mapping/irrigated_area_by_unit.csv: mapping.unit_areas) and of `irrmap reconcile`
(mapping.reconcile.zone_sums) over rasters stored south-up, with GDAL scale tags, or on another scale.

The zones split the grid into a top (zone 1) and a bottom (zone 2) half; the layers are non-zero in the top half
only, so a layer read mirrored gives its sum to the wrong zone. Truth: pixel areas from pyproj.Geod."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from irrmap.mapping.reconcile.zone_sums import RunRasters, zone_sums
from irrmap.mapping.unit_areas import irrigated_m2_by_unit
from rasterio.transform import from_origin

from irrmap.core.errors import DataError, GridError
from tests.geod_truth import geodesic_row_areas

H, W, RES, X0, Y0 = 6, 5, 0.01, 100.0, 41.0
TOP = np.arange(H)[:, None].repeat(W, 1) < H // 2


def _write(path, arr, *, south_up=False, nodata=None, scale=None, transform=None):
    arr = np.asarray(arr)
    t = transform or from_origin(X0, Y0, RES, RES)
    if south_up:  # the same pixels stored bottom row first, with a positive y pixel size
        t, arr = Affine(t.a, 0, t.c, 0, -t.e, t.f + t.e * H), arr[::-1]
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype=arr.dtype, crs="EPSG:4326",
                       transform=t, nodata=nodata) as dst:
        dst.write(arr, 1)
        if scale is not None:
            dst.scales = (scale,)
    return path


def _pixel_area():
    return geodesic_row_areas(X0, Y0, RES, H)


@pytest.fixture
def files(tmp_path):
    zones = np.where(TOP, 1, 2).astype(np.int32)
    return {"zones": _write(tmp_path / "zones.tif", zones, nodata=0)}


def test_unit_areas_read_a_south_up_class_map_north_up(files, tmp_path):
    cls = np.where(TOP, 1, 0).astype(np.uint8)  # irrigated in zone 1 (cropland 1), nothing in zone 2
    crop = _write(tmp_path / "crop.tif", np.ones((H, W), np.float32))
    units = pd.DataFrame({"zone": [1, 2], "code": ["650101", "650102"]})
    truth = _pixel_area()[: H // 2].sum() * W
    for south_up in (False, True):
        path = _write(tmp_path / f"class_{south_up}.tif", cls, south_up=south_up, nodata=255)
        got = irrigated_m2_by_unit(path, crop, files["zones"], units)
        # old code, south-up: zone 1 got 0 and zone 2 the whole area (the map read mirrored)
        assert got["650101"] == pytest.approx(truth, rel=1e-3)
        assert got["650102"] == 0


def test_unit_areas_refuse_a_class_map_off_the_zones_grid(files, tmp_path):
    path = _write(tmp_path / "shifted.tif", np.zeros((H, W), np.uint8), transform=from_origin(X0 + RES, Y0, RES, RES))
    crop = _write(tmp_path / "crop.tif", np.ones((H, W), np.float32))
    with pytest.raises(GridError):  # old code: summed the shifted map against the zones without a word
        irrigated_m2_by_unit(path, crop, files["zones"], pd.DataFrame({"zone": [1, 2], "code": ["a", "b"]}))


def test_zone_sums_read_south_up_and_scale_tagged_rasters(files, tmp_path):
    crop = np.where(TOP, 0.5, 0.0).astype(np.float32)
    prob = np.where(TOP, 80, 0).astype(np.uint8)  # P x 100
    area = _pixel_area()[: H // 2].sum() * W
    ref = RunRasters(files["zones"], _write(tmp_path / "p.tif", prob, nodata=255), _write(tmp_path / "c.tif", crop))
    # cropland stored south-up, and as percent with a GDAL scale tag of 0.01 (value x 0.01 = fraction)
    flipped = RunRasters(files["zones"], _write(tmp_path / "p_su.tif", prob, south_up=True, nodata=255),
                         _write(tmp_path / "c_su.tif", crop, south_up=True))
    tagged = RunRasters(files["zones"], ref.probability,
                        _write(tmp_path / "c_pct.tif", np.rint(crop * 100).astype(np.uint8), scale=0.01, nodata=255))
    for r in (ref, flipped, tagged):  # old code: GridError for the south-up files, percent read as 50 for the tagged one
        s = zone_sums(r, 2).set_index("zone")
        assert s.loc[1, "cropland_m2"] == pytest.approx(0.5 * area, rel=1e-3)
        assert s.loc[1, "expected_m2"] == pytest.approx(0.8 * 0.5 * area, rel=1e-3)
        assert s.loc[2, "cropland_m2"] == 0
        assert (s.loc[1, "row0"], s.loc[1, "row1"]) == (0, H // 2)


def test_zone_sums_refuse_percent_cropland_and_a_wrong_probability_scale(files, tmp_path):
    prob = _write(tmp_path / "p.tif", np.where(TOP, 80, 0).astype(np.uint8), nodata=255)
    pct = _write(tmp_path / "c_pct.tif", np.where(TOP, 50, 0).astype(np.uint8), nodata=255)
    with pytest.raises(DataError, match="cropland"):  # old code: 100x the cropland area, silently
        zone_sums(RunRasters(files["zones"], prob, pct), 2)
    crop = _write(tmp_path / "c.tif", np.where(TOP, 0.5, 0.0).astype(np.float32))
    with pytest.raises(DataError, match="probability_scale"):  # P x 100 read with scale 1: P up to 80
        zone_sums(RunRasters(files["zones"], prob, crop, probability_scale=1.0), 2)
