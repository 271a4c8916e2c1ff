"""An alpha band in a VI time series is the mask of the dates, not a date: a one-date grey + alpha file was refused as
"2 layers (1 (no names))" by `irrmap features composite`, and a stack of dated bands plus an alpha band read the
alpha as one more date (its 0/65535 values scaled x 1e-4 are out of the VI's range) or refused "4 dates for 5
bands". Truth: the arrays written (hand-scaled x 1e-4, NaN where the alpha is 0)."""

from __future__ import annotations

import numpy as np
import rasterio
from affine import Affine
from irrmap.training.timeseries import multiband_order, read_timeseries
from rasterio.enums import ColorInterp

from irrmap.app.cli import main

H, W = 6, 8
T = Affine(231.656358, 0, -6089550.68, 0, -231.656358, -1332950.72)
CRS = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs"
DATES = ("2012-01-17", "2012-01-01", "2012-02-02", "2012-02-18")  # band order is not date order


def _write(path, data: np.ndarray, descriptions=None):
    """uint16 bands `data` (n, H, W) scaled 1e-4 plus an alpha band transparent on the first two rows."""
    alpha = np.full((H, W), 65535, np.uint16)
    alpha[:2] = 0
    n = data.shape[0]
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=n + 1, dtype="uint16", crs=CRS, transform=T,
                       photometric="minisblack") as dst:
        dst.colorinterp = [ColorInterp.gray] + [ColorInterp.undefined] * (n - 1) + [ColorInterp.alpha]
        dst.write(data, list(range(1, n + 1)))
        dst.write(alpha, n + 1)
        dst.scales = (1e-4,) * (n + 1)
        for b, d in enumerate(descriptions or (), start=1):
            dst.set_band_description(b, d)
    return alpha


def _raw(n):
    return np.random.default_rng(3).integers(1000, 9000, (n, H, W)).astype(np.uint16)


def test_one_date_with_alpha_is_one_layer(tmp_path):
    raw = _raw(1)
    path = tmp_path / "EVI_2012-01-01.tif"
    alpha = _write(path, raw)
    out = tmp_path / "max.tif"
    assert main(["features", "composite", "--stat", "max", "--stat", "count", str(out), str(path)]) == 0  # was exit 2
    with rasterio.open(out) as src:
        got_max, got_count = src.read(1), src.read(2)
    np.testing.assert_allclose(got_max, np.where(alpha == 0, np.nan, raw[0] * 1e-4), rtol=1e-6)
    np.testing.assert_array_equal(got_count, (alpha != 0).astype(np.float32))


def test_dated_stack_with_alpha_reads_only_its_dates(tmp_path):
    raw = _raw(4)
    path = tmp_path / "evi_stack.tif"
    alpha = _write(path, raw, DATES)
    bands, dates, _ = multiband_order(path)
    assert bands == (2, 1, 3, 4) and [str(d) for d in dates] == sorted(DATES)  # the alpha (band 5) is no date
    series = read_timeseries(str(path), None)
    assert series.sizes["time"] == 4  # was 5: the alpha read as a fifth date
    # where the alpha is opaque the dates are the bands in date order (whether GDAL applies an alpha band of a
    # 5-band file as a mask is irrmap.core.nodata's rule, not checked here)
    np.testing.assert_allclose(series.values[:, alpha != 0], (raw[[1, 0, 2, 3]] * 1e-4)[:, alpha != 0], rtol=1e-6)


def test_stack_with_alpha_and_dates_given(tmp_path):
    """Dates given for the data bands (config `dates`): 4 dates for 4 data bands, not "4 dates for 5 bands"."""
    raw = _raw(4)
    path = tmp_path / "evi_stack.tif"
    _write(path, raw)
    bands, dates, _ = multiband_order(path, dates=list(DATES))
    assert bands == (2, 1, 3, 4) and len(dates) == 4
