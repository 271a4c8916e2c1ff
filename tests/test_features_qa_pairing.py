"""A multi-band VI stack and its multi-band QA stack are paired by date, not by band number (a stack whose bands are
out of date order, or a QA stack of other dates, masked the wrong dates silently); two bands of one date are refused."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.core.errors import InputError
from irrmap.training.timeseries import read_multiband, read_timeseries

DATES = ["2020-01-01", "2020-01-17", "2020-02-02", "2020-02-18"]
T = from_origin(100.0, 40.0, 0.01, 0.01)


def _write(path, data, desc=None, nodata=None):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[1], width=data.shape[2], count=data.shape[0],
                       dtype=data.dtype, crs="EPSG:4326", transform=T, nodata=nodata) as dst:
        dst.write(data)
        for b, d in enumerate(desc or [], start=1):
            dst.set_band_description(b, d)
    return path


def _series(rng):
    """VI x 1e4 (4 dates, 6 x 7) and a QA word per date: 0 (good) or 3 (MODLAND 'not produced': rejected)."""
    vi = rng.integers(1000, 9000, (4, 6, 7)).astype(np.int16)
    qa = np.where(rng.random((4, 6, 7)) < 0.4, 3, 0).astype(np.uint16)
    return vi, qa


def _by_hand(vi, qa):
    return np.where(qa == 0, vi * np.float32(1e-4), np.nan).astype(np.float32)


DOY = ["2020-001", "2020-017", "2020-033", "2020-049"]  # the same dates as year-day of year (the demo's descriptions)


@pytest.mark.parametrize("labels", [[f"EVI_{d}" for d in DATES], DOY])
def test_shuffled_vi_bands_are_masked_by_the_qa_of_their_own_date(tmp_path, labels):
    vi, qa = _series(np.random.default_rng(0))
    perm = [2, 0, 3, 1]  # the VI stack's bands out of date order, each band described by its own date
    _write(tmp_path / "vi.tif", vi[perm], [labels[i] for i in perm])
    _write(tmp_path / "qa.tif", qa, [f"QA_{d}" for d in DATES])
    s = read_multiband(tmp_path / "vi.tif", scale=1e-4, qa=tmp_path / "qa.tif")
    assert [str(t)[:10] for t in s.time.values] == DATES  # the series in date order
    np.testing.assert_allclose(s.compute().values, _by_hand(vi, qa), rtol=1e-6)
    # the same through the dispatcher (what `irrmap features composite` and the features stage call)
    np.testing.assert_allclose(read_timeseries(tmp_path / "vi.tif", scale=1e-4, qa=tmp_path / "qa.tif").compute().values,
                               _by_hand(vi, qa), rtol=1e-6)


def test_qa_stack_of_more_dates_in_another_order(tmp_path):
    vi, qa = _series(np.random.default_rng(1))
    _write(tmp_path / "vi.tif", vi, [f"EVI_{d}" for d in DATES])
    extra = np.full((1, 6, 7), 3, np.uint16)  # a fifth date the VI does not have, first in the file
    _write(tmp_path / "qa.tif", np.concatenate([extra, qa[::-1]]), ["QA_2019-12-16", *[f"QA_{d}" for d in DATES[::-1]]])
    got = read_multiband(tmp_path / "vi.tif", scale=1e-4, qa=tmp_path / "qa.tif").compute().values
    np.testing.assert_allclose(got, _by_hand(vi, qa), rtol=1e-6)


def test_qa_without_dates_is_paired_band_by_band(tmp_path):
    vi, qa = _series(np.random.default_rng(2))
    _write(tmp_path / "vi.tif", vi, [f"EVI_{d}" for d in DATES])
    _write(tmp_path / "qa.tif", qa)
    got = read_multiband(tmp_path / "vi.tif", scale=1e-4, qa=tmp_path / "qa.tif").compute().values
    np.testing.assert_allclose(got, _by_hand(vi, qa), rtol=1e-6)


def test_qa_lacking_a_date_or_a_band_is_refused(tmp_path):
    vi, qa = _series(np.random.default_rng(3))
    _write(tmp_path / "vi.tif", vi, [f"EVI_{d}" for d in DATES])
    _write(tmp_path / "qa3.tif", qa[:3], [f"QA_{d}" for d in DATES[:3]])
    with pytest.raises(InputError, match="no band for 1 of the 4 dates.*2020-02-18") as e:
        read_multiband(tmp_path / "vi.tif", scale=1e-4, qa=tmp_path / "qa3.tif")
    assert e.value.where.endswith("qa3.tif")
    _write(tmp_path / "qa3_nodates.tif", qa[:3])
    with pytest.raises(InputError, match="3 QA bands for the 4 bands"):
        read_multiband(tmp_path / "vi.tif", scale=1e-4, qa=tmp_path / "qa3_nodates.tif")


def test_two_bands_of_one_date_are_refused(tmp_path):
    vi, qa = _series(np.random.default_rng(4))
    dup = np.concatenate([vi, vi[1:2]])
    _write(tmp_path / "vi.tif", dup, [f"EVI_{d}" for d in [*DATES, DATES[1]]])
    with pytest.raises(InputError, match="bands 2 and 5 share the date 2020-01-17"):
        read_multiband(tmp_path / "vi.tif", scale=1e-4)
    _write(tmp_path / "vi4.tif", vi, [f"EVI_{d}" for d in DATES])
    _write(tmp_path / "qa.tif", np.concatenate([qa, qa[:1]]), [f"QA_{d}" for d in [*DATES, DATES[0]]])
    with pytest.raises(InputError, match="bands 1 and 5 share the date 2020-01-01"):
        read_multiband(tmp_path / "vi4.tif", scale=1e-4, qa=tmp_path / "qa.tif")


def test_year_day_of_year_labels():
    from irrmap.training.timeseries import parse_date

    assert [str(parse_date(d)) for d in DOY] == DATES
    assert str(parse_date("EVI_2020-366")) == "2020-12-31"  # a leap year's last day
    for name in ("EVI_2019-366", "ndvi_2020-2021.tif", "x_2020-000"):  # not a day of 2019, a season, day zero
        with pytest.raises(InputError, match="no date matching"):
            parse_date(name)
