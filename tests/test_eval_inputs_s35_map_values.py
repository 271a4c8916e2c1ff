"""The map checks of `irrmap evaluate` read values as irrmap's raster reader does (scale/offset, mask band, nodata).

Truth: values written here by hand - stored 0 / 80 with a GDAL scale of 0.01 are the fractions 0 / 0.8 (GDAL's own
unscaling, checked with rasterio's `scales`); pixels under a GDAL internal mask (checked with `read_masks`) are
missing data, whatever value they store. The points lie at known pixel centres, so the confusion matrix is counted
by hand from the map written.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.workflow import check_map_values, map_values, points_accuracy
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import DataError

W, N, RES = 100.0, 40.0, 0.01
SHAPE = (10, 10)
COLS = (1, 3, 6, 8)  # 4 points per row; columns >= 5 are irrigated on every map below


def _profile(dtype="uint8", nodata=None):
    return {"driver": "GTiff", "width": SHAPE[1], "height": SHAPE[0], "count": 1, "dtype": dtype, "crs": "EPSG:4326",
            "transform": from_origin(W, N, RES, RES), "nodata": nodata}


def _points(path):
    rows = [(W + (c + 0.5) * RES, N - (r + 0.5) * RES, int(c >= 5)) for r in range(SHAPE[0]) for c in COLS]
    pd.DataFrame(rows, columns=["lon", "lat", "label"]).to_csv(path, index=False)
    return path


def _percent_scaled(path):
    v = np.zeros(SHAPE, np.uint8)
    v[:, 5:] = 80  # stored 80 x scale 0.01 = 0.8 irrigated fraction
    with rasterio.open(path, "w", **_profile()) as d:
        d.write(v, 1)
        d.scales, d.offsets = (0.01,), (0.0,)
    with rasterio.open(path) as d:
        assert d.scales == (0.01,)  # GDAL keeps the tag
    return path


def _class_masked(path, nodata=None):
    c = np.zeros(SHAPE, np.uint8)
    c[:, 5:] = 1
    c[:2, :] = 255  # rows 0-1 store 255, hidden by the mask
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **_profile(nodata=nodata)) as d:
        d.write(c, 1)
        if nodata is None:
            d.write_mask(np.where(c == 255, 0, 255).astype(np.uint8))
    with rasterio.open(path) as d:  # GDAL's own mask: the internal mask band, or the nodata value
        assert (d.read_masks(1) == 0).sum() == 20
    return path


def test_scaled_percent_map_values_are_read_after_scale(tmp_path):
    p = _percent_scaled(tmp_path / "pct.tif")
    info = map_values(p)
    assert info["max"] == pytest.approx(0.8, rel=1e-6) and info["raw_max"] == 80
    assert info["scale"] == 0.01
    # before: the check saw 80 and let --threshold 50 through; read_map gave 0.8, so no point was mapped irrigated (OA 0.5)
    pts = _points(tmp_path / "p.csv")
    with pytest.raises(DataError) as e:
        points_accuracy(p, pts, "label", threshold=50)
    assert "0.8" in str(e.value) and "0.01" in str(e.value) and "after its scale" in e.value.fix
    assert main(["evaluate", "points", str(p), str(pts), "--label-field", "label", "--threshold", "50"]) == 2
    # before: refused without a threshold as a class map coded 0/80; read as fractions 0 / 0.8 it is scored
    r = points_accuracy(p, pts, "label")
    assert r.accuracy.matrix.to_numpy().tolist() == [[20, 0], [0, 20]]
    r = points_accuracy(p, pts, "label", threshold=0.5)
    assert r.accuracy.matrix.to_numpy().tolist() == [[20, 0], [0, 20]]
    assert r.samples["value"].max() == pytest.approx(0.8, rel=1e-6)


def test_scaled_map_declared_percent_is_refused(tmp_path):
    p = _percent_scaled(tmp_path / "pct.tif")
    with pytest.raises(DataError, match="divided by 100 twice"):
        check_map_values(p, kind="percent")
    check_map_values(p, kind="fraction")  # 0..0.8 as a fraction is fine


@pytest.mark.parametrize("nodata", [None, 255])
def test_class_map_with_mask_or_nodata_over_255_is_scored(tmp_path, capsys, nodata):
    p = _class_masked(tmp_path / "cls.tif", nodata)
    info = map_values(p)
    assert info["values"] == [0, 1] and info["n_255"] == 0 and info["n_valid"] == 80
    pts = _points(tmp_path / "p.csv")
    # before (mask): "20 pixels hold 255 but the file declares no nodata value" - refused
    assert main(["evaluate", "points", str(p), str(pts), "--label-field", "label", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["n_missing_map_value"] == 8  # rows 0-1, 4 points each
    assert d["confusion_matrix"] == [[16, 0], [0, 16]]


def test_unmasked_255_without_nodata_is_still_refused(tmp_path):
    c = np.zeros(SHAPE, np.uint8)
    c[:2, :] = 255
    with rasterio.open(tmp_path / "m.tif", "w", **_profile()) as d:
        d.write(c, 1)
    with pytest.raises(DataError, match="hold 255"):
        check_map_values(tmp_path / "m.tif")
