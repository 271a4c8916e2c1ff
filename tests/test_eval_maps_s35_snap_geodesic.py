"""Points snapped to the nearest crop pixel on a geographic grid: the nearest pixel and the distance reported
(samples 'snap_distance_m', counts 'max_snap_distance_m') are geodesic metres on the WGS84 ellipsoid.

Truth: pyproj.Geod(ellps="WGS84").inv between the point and the pixel centre, computed here from the coordinates
written; and a hand check, 0.0022 deg of longitude at 65 N is about 0.0022 x 111,320 x cos(65 deg) = 103.5 m on a
sphere (degrees times 111 km would say 245 m).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.workflow import points_accuracy
from pyproj import Geod
from rasterio.transform import from_origin

W, N, RES = 20.0, 65.02, 0.004  # 10 x 10 pixels around 65 N: 0.004 deg is about 188 m east-west, 445 m north-south


def _write(path, v):
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="uint8", crs="EPSG:4326",
                       transform=from_origin(W, N, RES, RES)) as d:
        d.write(v.astype(np.uint8), 1)
    return path


def test_snap_distance_is_geodesic(tmp_path):
    crop = np.zeros((10, 10))
    crop[5, 6] = 1  # east neighbour of the point's pixel (5, 5): nearer on the ground
    crop[4, 5] = 1  # north neighbour: nearer in degrees (0.004 deg lat vs 0.0058 deg lon) but 445 m vs 271 m
    _write(tmp_path / "crop.tif", crop)
    _write(tmp_path / "map.tif", crop)
    cx6, cy5 = W + 6.5 * RES, N - 5.5 * RES  # centre of pixel (5, 6)
    lon, lat = cx6 - 0.0058, cy5  # inside pixel (5, 5)
    assert int((lon - W) / RES) == 5
    pd.DataFrame({"lon": [lon, cx6 - 0.0022], "lat": [lat, lat], "label": [1, 1]}).to_csv(tmp_path / "p.csv", index=False)
    r = points_accuracy(tmp_path / "map.tif", tmp_path / "p.csv", "label", cropland_path=tmp_path / "crop.tif", snap_radius=1)
    s = r.samples
    assert s["col"].tolist() == [6, 6] and s["row"].tolist() == [5, 5]  # both on the east pixel
    g = Geod(ellps="WGS84")
    truth = [g.inv(x, lat, cx6, cy5)[2] for x in (lon, cx6 - 0.0022)]
    assert s["snap_distance_m"].tolist() == pytest.approx(truth, abs=0.01)
    assert truth[1] == pytest.approx(0.0022 * 111_320 * math.cos(math.radians(lat)), rel=0.01)  # ~103 m, not 245
    assert r.counts["max_snap_distance_m"] == pytest.approx(truth[0], abs=0.01)  # the snapped one: 0.0058 deg, ~272 m
    assert r.counts["max_snap_distance_m"] < 300
