"""`irrmap mapping filter` (and the other readers of a 0/1 irrigation class map): pixels without cropland and a
declared nodata that is a class code (probe R, findings F1 and F2).

F1: a class-1 pixel where the cropland is 0 or NaN is no crop: written 255, counted in no majority or rule window,
and warned about (the class map and the cropland do not match). F2: a class map declaring nodata 0 (or 1) is refused
(exit 2, naming the file, the value and the gdal_edit.py fix) by `mapping filter`, `mapping aggregate --cropland` and
`training pool --map`, as `irrmap evaluate` refuses a 0/1 map with nodata 0.
Truth: hand-computed small maps, and a scipy.ndimage reference of the majority filter."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

RES = 250.0


def _write(path, arr, nodata=None):
    arr = np.asarray(arr)
    with rasterio.open(path, "w", driver="GTiff", height=arr.shape[0], width=arr.shape[1], count=1, dtype=arr.dtype,
                       crs="EPSG:32650", transform=from_origin(500000.0, 4000000.0, RES, RES), nodata=nodata) as dst:
        dst.write(arr, 1)
    return str(path)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


def _filter(cls, crop, out, *extra):
    return main(["mapping", "filter", cls, "--cropland", crop, "--out", str(out), *extra])


def _majority_reference(cls: np.ndarray, crop: np.ndarray, k: int) -> np.ndarray:
    """Filtered class map by scipy: crop = cropland > 0 (finite); a crop pixel is 1 when more than half of the crop
    pixels of its k x k window (zero outside the map) are class 1, else 0; every other pixel 255."""
    is_crop = np.isfinite(crop) & (crop > 0)
    ones = np.ones((k, k))
    n_irr = ndimage.correlate(((cls == 1) & is_crop).astype(float), ones, mode="constant", cval=0)
    n_crop = ndimage.correlate(is_crop.astype(float), ones, mode="constant", cval=0)
    return np.where(is_crop, (2 * n_irr > n_crop).astype(np.uint8), 255).astype(np.uint8)


# ---- F1: class 1 where there is no cropland ------------------------------------------------------------------------
def test_class_one_on_no_cropland_is_255_and_not_in_the_majority(tmp_path, capsys, caplog):
    # 7x7: top 4 rows class 1 with cropland 0, but the centre (3, 3) class 0 with cropland 0.8; rows 4..6 class 0, 0.8
    cls = np.zeros((7, 7), np.uint8)
    cls[:4] = 1
    cls[3, 3] = 0
    crop = np.full((7, 7), 0.8, np.float32)
    crop[:4] = 0.0
    crop[3, 3] = 0.8
    c, f = _write(tmp_path / "class2.tif", cls, nodata=255), _write(tmp_path / "crop2.tif", crop)
    with caplog.at_level(logging.WARNING):
        assert _filter(c, f, tmp_path / "f", "--no-rule", "--majority", "7") == 0
    got = _read(tmp_path / "f" / "class.tif")
    # by hand: the centre's window holds 22 crop pixels (itself + rows 4..6), all class 0 -> stays 0
    want = np.zeros((7, 7), np.uint8)
    want[:4] = 255
    want[3, 3] = 0
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(got, _majority_reference(cls, crop, 7))
    np.testing.assert_array_equal(_read(tmp_path / "f" / "fraction.tif"), np.zeros((7, 7), np.uint8))  # 0 = no cropland
    out = capsys.readouterr().out
    assert "removed 0 irrigated pixels" in out and "added 0 pixels" in out  # the 27 no-crop pixels were never crop
    warn = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert "27 of its 27 irrigated" in warn and "100.0 %" in warn and "class2.tif" in warn


def test_class_one_patch_on_no_cropland_with_the_rule(tmp_path, caplog):
    # 9x9 class 0 on cropland 0.5, with a 5x5 class-1 patch on cropland 0 (probe's min/class.tif): all 25 are 255
    cls = np.zeros((9, 9), np.uint8)
    cls[2:7, 2:7] = 1
    crop = np.full((9, 9), 0.5, np.float32)
    crop[2:7, 2:7] = 0.0
    with caplog.at_level(logging.WARNING):
        assert _filter(_write(tmp_path / "c.tif", cls, nodata=255), _write(tmp_path / "crop.tif", crop), tmp_path / "f") == 0
    want = np.zeros((9, 9), np.uint8)
    want[2:7, 2:7] = 255
    np.testing.assert_array_equal(_read(tmp_path / "f" / "class.tif"), want)
    assert any("25 of its 25 irrigated" in r.getMessage() for r in caplog.records)


def test_nan_cropland_is_no_crop_and_majority_matches_scipy(tmp_path, caplog):
    rng = np.random.default_rng(46)
    h, w = 40, 53
    cls = (rng.random((h, w)) < 0.45).astype(np.uint8)
    crop = rng.uniform(0.05, 1.0, (h, w)).astype(np.float32)
    nocrop = rng.random((h, w)) < 0.3
    crop[nocrop & (rng.random((h, w)) < 0.5)] = 0.0
    crop[nocrop & ~(crop == 0)] = np.nan
    with caplog.at_level(logging.WARNING):
        assert _filter(_write(tmp_path / "c.tif", cls, nodata=255), _write(tmp_path / "crop.tif", crop), tmp_path / "f",
                       "--no-rule", "--majority", "5") == 0
    np.testing.assert_array_equal(_read(tmp_path / "f" / "class.tif"), _majority_reference(cls, crop, 5))
    n, n1 = int(((cls == 1) & nocrop).sum()), int((cls == 1).sum())
    assert any(f"{n} of its {n1} irrigated" in r.getMessage() for r in caplog.records)


def test_matching_maps_give_no_warning(tmp_path, caplog):
    """Control (passes on the old code too): a class map with 255 wherever the cropland is 0 warns about nothing."""
    cls = np.zeros((9, 9), np.uint8)
    cls[4, 4] = 1
    cls[0, :] = 255
    crop = np.full((9, 9), 0.5, np.float32)
    crop[0, :] = 0.0
    with caplog.at_level(logging.WARNING):
        assert _filter(_write(tmp_path / "c.tif", cls, nodata=255), _write(tmp_path / "crop.tif", crop), tmp_path / "f") == 0
    want = np.zeros((9, 9), np.uint8)
    want[0, :] = 255  # the isolated pixel (1 of 49 irrigated) is removed
    np.testing.assert_array_equal(_read(tmp_path / "f" / "class.tif"), want)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "cropland" in r.getMessage()]


# ---- F2: a declared nodata equal to a class code ----------------------------------------------------------------
def _single_one():
    cls = np.zeros((7, 7), np.uint8)
    cls[3, 3] = 1
    return cls, np.full((7, 7), 0.6, np.float32)


@pytest.mark.parametrize("nodata", [0, 1])
def test_filter_refuses_nodata_that_is_a_class(tmp_path, capsys, nodata):
    cls, crop = _single_one()
    c = _write(tmp_path / "cls_nd.tif", cls, nodata=nodata)
    assert _filter(c, _write(tmp_path / "crop.tif", crop), tmp_path / "f", "--no-rule", "--majority", "7") == 2
    err = capsys.readouterr().err
    assert "cls_nd.tif" in err and f"nodata = {nodata}" in err and "-unsetnodata" in err and "-a_nodata 255" in err
    assert not (tmp_path / "f" / "class.tif").exists()


def test_filter_with_nodata_255_removes_the_single_pixel(tmp_path):
    """Control (passes on the old code too): the same map declared nodata 255: the lone 1 is removed, all 49 are 0."""
    cls, crop = _single_one()
    assert _filter(_write(tmp_path / "c.tif", cls, nodata=255), _write(tmp_path / "crop.tif", crop), tmp_path / "f",
                   "--no-rule", "--majority", "7") == 0
    np.testing.assert_array_equal(_read(tmp_path / "f" / "class.tif"), np.zeros((7, 7), np.uint8))


@pytest.mark.parametrize("nodata", [0, 1])
def test_aggregate_refuses_nodata_that_is_a_class(tmp_path, capsys, nodata):
    cls, crop = _single_one()
    c = _write(tmp_path / "cls_nd.tif", cls, nodata=nodata)
    rc = main(["mapping", "aggregate", c, "--cropland", _write(tmp_path / "crop.tif", crop), "--out", str(tmp_path / "a.tif")])
    err = capsys.readouterr().err
    assert rc == 2 and "cls_nd.tif" in err and f"nodata = {nodata}" in err and "-unsetnodata" in err
    assert not (tmp_path / "a.tif").exists()


@pytest.mark.parametrize("nodata,refused", [(0, True), (1, True), (1.0, True), (255, False), (7, False), (np.nan, False)])
def test_check_class_nodata_on_a_read(tmp_path, nodata, refused):
    """The shared check (training pool --map calls it too) on the read irrmap makes of the file."""
    from irrmap.mapping.filter import check_class_nodata

    cls, _ = _single_one()
    arr = cls.astype(np.float32) if isinstance(nodata, float) else cls
    p = _write(tmp_path / "m.tif", arr, nodata=nodata)
    da = read_raster(p, Grid.from_raster(p), kind="categorical")
    if refused:
        with pytest.raises(InputError, match="nodata = 1|nodata = 0") as e:
            check_class_nodata(da)
        assert "m.tif" in str(e.value)
    else:
        check_class_nodata(da)
