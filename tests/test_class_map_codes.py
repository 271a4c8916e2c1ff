"""A class map whose valid pixels hold a fill code (255, 254, int8 127; 65535 / -9999 on wider types) while the file
declares another nodata (e.g. 0) is refused, not read as "irrigated" (value > 0): `irrmap evaluate points`,
`evaluate compare` and `evaluate statistics --map-kind binary` all read maps through check_map_values
(evaluation.value_guards.check_fill_codes / check_fills).

Truth by hand: each map is built here with a known number of pixels per value; the points sit on pixel centres
whose stored values are read back with rasterio. Controls (pass on the old code as well): the 0/1/255 map with
nodata 255, a 0/1 map without nodata, irrmap's class map (band description, nodata 255), a 0..100 percent map read
as percent, and the 65535 / -9999 fills already refused by check_fills.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.evaluation.workflow import check_map_values, points_accuracy

W, N, RES = 104.0, 38.4, 0.01
SHAPE = (20, 30)  # 600 pixels
CLASS_DESC = "1 irrigated, 0 cropland not irrigated, 255 no cropland (filtered)"  # mapping/filter.py's legend


def _write(path, data, nodata=None, desc=None):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1, dtype=data.dtype,
                       crs="EPSG:4326", transform=from_origin(W, N, RES, RES), nodata=nodata) as d:
        d.write(data, 1)
        if desc:
            d.set_band_description(1, desc)
    return path


def _map(code=255, dtype=np.uint8):
    """Columns 0-9: 0 (200 px), 10-19: 1 (200 px), 20-24: `code` (100 px), 25-29: 0 (100 px)."""
    v = np.zeros(SHAPE, dtype)
    v[:, 10:20] = 1
    v[:, 20:25] = code
    return v


def _points(path, cols, labels):
    rows = np.arange(len(cols)) % SHAPE[0]
    pd.DataFrame({"lon": W + (np.asarray(cols) + 0.5) * RES, "lat": N - (rows + 0.5) * RES, "label": labels}).to_csv(path, index=False, float_format="%.6f")
    return path


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("code, dtype", [(255, np.uint8), (254, np.uint8), (127, np.int8)])
@pytest.mark.parametrize("nodata", [0, None])
def test_fill_code_on_valid_pixels_is_refused(tmp_path, code, dtype, nodata):
    v = _map(code, dtype)
    p = _write(tmp_path / "m.tif", v, nodata=nodata)
    n_code = int((v == code).sum())
    assert n_code == 100  # by construction: 20 rows x 5 columns
    for kw in ({}, {"kind": "binary"}, {"binarised": True, "what": "map A"}, {"threshold": 0.5, "binarised": True}):
        with pytest.raises(DataError) as e:
            check_map_values(p, **kw)
        msg = str(e.value)
        assert f"{n_code} valid pixels hold {code}" in msg and str(p) in msg, msg
        assert ("declares no nodata value" if nodata is None else f"declares nodata = {nodata}") in msg, msg
        assert f"gdal_edit.py -a_nodata {code} {p}" in e.value.fix


def test_probe_case_points_refused_with_exit_2(tmp_path, capsys):
    """The new-user probe: 0/1/255 map declaring nodata = 0. Old code: exit 0, the 255 points scored as mapped irrigated."""
    v = _map(255)
    p = _write(tmp_path / "m.tif", v, nodata=0)
    cols = [11] * 20 + [12] * 20 + [21] * 20 + [22] * 10 + [5] * 20  # 40 on 1, 30 on 255, 20 on 0; rows i % 20: 90 distinct pixels
    pts = _points(tmp_path / "p.csv", cols, [1] * 40 + [0] * 30 + [0] * 20)
    with rasterio.open(p) as d:  # the points' stored values, read back independently
        vals = [d.read(1)[r, c] for r, c in zip(np.arange(len(cols)) % SHAPE[0], cols)]
    assert vals.count(255) == 30 and vals.count(1) == 40
    with pytest.raises(DataError, match="100 valid pixels hold 255"):
        points_accuracy(p, pts, "label")
    capsys.readouterr()
    assert main(["evaluate", "points", str(p), str(pts), "--label-field", "label"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "255" in err and "nodata = 0" in err and f"gdal_edit.py -a_nodata 255 {p}" in err, err
    # the fix named in the error: declare 255 as nodata; the 0 pixels then count as not irrigated
    with rasterio.open(p, "r+") as d:
        d.nodata = 255
    r = points_accuracy(p, pts, "label")
    m = r.accuracy.matrix.to_numpy()
    assert m.sum() == 60  # 40 on 1 + 20 on 0; the 30 on 255 left out
    assert m[1, 1] == 40 and m[0, 0] == 20 and m[0, 1] == 0 and m[1, 0] == 0


@pytest.mark.parametrize("code, dtype, want", [(65535, np.uint16, "65535"), (-9999, np.int16, "-9999")])
def test_wider_fills_with_nodata_zero_control(tmp_path, code, dtype, want):
    """Control (check_fills already): 65535 / -9999 beside 0/1 with nodata = 0."""
    p = _write(tmp_path / "m.tif", _map(code, dtype), nodata=0)
    with pytest.raises(DataError) as e:
        check_map_values(p, binarised=True)
    assert want in str(e.value) and f"gdal_edit.py -a_nodata {want} {p}" in e.value.fix


def test_legitimate_maps_control(tmp_path):
    """Controls: 0/1 + nodata 255; 0/1 without nodata; irrmap's class map; a 0..100 percent map read as percent."""
    info = check_map_values(_write(tmp_path / "a.tif", _map(255), nodata=255), binarised=True)
    assert info["values"] == [0, 1] and info["n_valid"] == 500
    v01 = _map(0)
    info = check_map_values(_write(tmp_path / "b.tif", v01), kind="binary")
    assert info["values"] == [0, 1] and info["n_valid"] == 600
    info = check_map_values(_write(tmp_path / "c.tif", _map(255), nodata=255, desc=CLASS_DESC), kind="binary")
    assert info["n_valid"] == 500
    pct = (np.arange(600).reshape(SHAPE) % 101).astype(np.uint8)
    pct[:, 25:] = 255
    info = check_map_values(_write(tmp_path / "d.tif", pct, nodata=255), kind="percent")
    assert info["max"] == 100 and info["n_valid"] == 500


def test_nodata_zero_with_only_one_still_refused_control(tmp_path):
    """Control: the 0/1 export with nodata = 0 (no fill code) keeps its own refusal."""
    p = _write(tmp_path / "m.tif", _map(0), nodata=0)
    with pytest.raises(DataError, match="nodata = 0 and its only other value is 1"):
        check_map_values(p, binarised=True)
