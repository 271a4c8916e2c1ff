"""A water mask whose gaps store 255 without a declared nodata is refused by the default rule (any non-zero pixel is
water), in `irrmap suitability distance` and in `irrmap run`'s suitability stage: the 255 block was read as water and
every distance near it came out too small, exit 0 (evaluate compare, statistics and mapping filter refuse such files
already). A 0/255 mask (water = 255) and the same file with 255 declared nodata are controls. Truth: scipy's exact
Euclidean distance transform on the 0/1 pixels (equal-area UTM pixels), by hand."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin
from scipy import ndimage

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.suitability.distance import check_default_mask, mask_summary

RES = 250.0


def _mask(path, a, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", width=a.shape[1], height=a.shape[0], count=1, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500000, 4000000, RES, RES), nodata=nodata) as d:
        d.write(a, 1)
    return path


def _water():
    a = np.zeros((40, 50), np.uint8)
    a[25:30, 30:45] = 1
    b = a.copy()
    b[:10, :20] = 255  # the gap, stored as 255
    return a, b


def test_cli_refuses_255_beside_the_water_code(tmp_path, capsys):
    _, b = _water()
    p = _mask(tmp_path / "w.tif", b)
    assert main(["-q", "suitability", "distance", str(p), str(tmp_path / "d.tif")]) == 2
    err = capsys.readouterr().err
    assert "hold 255 beside the other non-zero codes" in err and f"gdal_edit.py -a_nodata 255 {p}" in err


def test_declared_255_and_water_values_give_scipy_distances(tmp_path):
    a, b = _water()
    truth = ndimage.distance_transform_edt(a == 0) * RES  # metres to the nearest water pixel centre
    for name, args in (("nd.tif", dict(nodata=255)), ("codes.tif", {})):
        p = _mask(tmp_path / name, b, **args)
        extra = ["--water-values", "1"] if name == "codes.tif" else []
        assert main(["-q", "suitability", "distance", str(p), str(tmp_path / f"d_{name}"), "--no-cog", *extra]) == 0
        with rasterio.open(tmp_path / f"d_{name}") as d:
            got = d.read(1, masked=True)
        keep = b != 255
        assert np.allclose(np.ma.filled(got, np.nan)[keep], truth[keep], atol=0.5)


def test_a_0_255_mask_is_water_at_255(tmp_path):  # control: 255 is the only non-zero code
    a, _ = _water()
    p = _mask(tmp_path / "w255.tif", a * 255)
    assert main(["-q", "suitability", "distance", str(p), str(tmp_path / "d.tif"), "--no-cog"]) == 0
    with rasterio.open(tmp_path / "d.tif") as d:
        assert np.allclose(d.read(1), ndimage.distance_transform_edt(a == 0) * RES, atol=0.5)


@pytest.mark.parametrize("values, refused", [([0, 1, 255], True), ([0, 255], False), ([0, 1, 2], False), ([0, 3, 255], True)])
def test_the_rule_on_the_summary(values, refused):
    import xarray as xr

    a = np.array(values * 4, np.float64).reshape(-1, len(values))
    figures = [np.asarray(f).item() if not isinstance(f, (bool, int)) else f for f in mask_summary(xr.DataArray(a, dims=("y", "x")))]
    call = lambda: check_default_mask(float(figures[0]), bool(figures[1]), "w", minimum=float(figures[2]), codes=int(figures[3]),
                                      fill_255=bool(figures[4]))
    if refused:
        with pytest.raises(DataError, match="hold 255"):
            call()
    else:
        call()
