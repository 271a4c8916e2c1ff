"""Feature stage on real MODIS data (../shared/data; skipped when absent)."""

from __future__ import annotations

import glob

import numpy as np
import pytest
import rasterio

from irrmap.training.composites import annual_statistics
from irrmap.sources.modis import QARule
from irrmap.training.timeseries import read_dated_files


def _raw(folder, contains):
    files = sorted(glob.glob(str(folder / f"*{contains}*")))
    return np.stack([rasterio.open(f).read(1) for f in files])


@pytest.mark.parametrize("vi", ["EVI", "NDVI"])
def test_sinop_tif_annual_max_equals_numpy(shared_data, vi):
    folder = shared_data / "modis" / "sinop_mod13q1_tif"
    series = read_dated_files(folder, contains=vi, scale=1e-4)
    assert series.sizes["time"] == 23
    assert str(series.time.values[0])[:10] == "2013-09-14" and str(series.time.values[-1])[:10] == "2014-08-29"
    got = annual_statistics(series, ["max"]).sel(stat="max").values
    raw = _raw(folder, f"_{vi}_")
    want = (np.nanmax(raw, axis=0).astype(np.float64) * 1e-4).astype(np.float32)
    assert got.shape == (50, 50)
    np.testing.assert_array_equal(got, want)


def test_sinop_jp2_fill_never_reaches_a_statistic(shared_data, caplog):
    folder = shared_data / "modis" / "sinop_mod13q1_jp2"
    stored = _raw(folder, "_NDVI_")
    raw = stored.view(np.int16).astype(np.int64)  # the preset reads the uint16 copy as the int16 it was
    assert (stored == 65531).any(), "the data no longer hold the 65531 fill"
    stats = ["max", "min", "median", "mean", "range"]
    got = annual_statistics(read_dated_files(folder, contains="NDVI", preset="mod13q1"), stats)
    vals = got.values
    assert np.nanmax(vals[:4]) <= 1.0
    # where a date holds 65531 the max is the max of the pixel's other valid dates
    valid = (stored != 65531) & (raw != -3000) & (raw >= -2000) & (raw <= 10000)
    want = np.where(valid.any(0), (np.where(valid, raw, -10**6).max(0) * 1e-4), np.nan).astype(np.float32)
    t, i, j = np.nonzero(stored == 65531)
    np.testing.assert_array_equal(vals[0][i, j], want[i, j])
    np.testing.assert_array_equal(vals[0], want)
    # control: with the scale only (no fill/valid range) the fill would leak as NDVI 6.55; it is screened out
    # as physically impossible, with a warning, so the check above can fail
    with caplog.at_level("WARNING"):
        leak = annual_statistics(read_dated_files(folder, contains="NDVI", scale=1e-4), ["max"]).values
    assert np.nanmax(leak) <= 1.0 and any("physical range" in r.getMessage() for r in caplog.records)


def _hand_reject(q: int) -> bool:
    """The default QARule, decoded by hand from the bit string (bit 0 = rightmost)."""
    b = format(int(q), "016b")
    bit = lambda k: b[15 - k]  # noqa: E731
    modland = int(b[14:16], 2)
    usefulness = int(b[10:14], 2)
    return (q == 65535 or modland not in (0, 1) or usefulness > 12 or bit(10) == "1" or bit(14) == "1" or bit(15) == "1")


def test_mod13q1_qa_rejection_matches_hand_decode(shared_data):
    folder = shared_data / "modis" / "mod13q1_2010_qa"
    kw = dict(contains="NDVI", preset="mod13q1", pattern="A%Y%j")
    plain = read_dated_files(folder, **kw)
    masked = read_dated_files(folder, qa=folder, qa_contains="VI_Quality", qa_rule=QARule(), **kw)
    qa = _raw(folder, "VI_Quality")
    rng = np.random.default_rng(5)
    picks = []
    for t in range(qa.shape[0]):  # a sample of pixels stratified by QA word: rare words are checked too
        for word in np.unique(qa[t]):
            rr, cc = np.nonzero(qa[t] == word)
            k = rng.choice(len(rr), size=min(3, len(rr)), replace=False)
            picks += [(t, rr[x], cc[x]) for x in k]
    picks += [(int(rng.integers(6)), int(rng.integers(1097)), int(rng.integers(1168))) for _ in range(300)]
    t, r, c = (np.array(v) for v in zip(*picks))
    p = plain.values[t, r, c]
    m = masked.values[t, r, c]
    hand = np.array([_hand_reject(q) for q in qa[t, r, c]])
    ok = ~np.isnan(p)  # NDVI itself valid: any NaN in `masked` is the QA's doing
    assert ok.sum() > 200 and hand[ok].any() and (~hand[ok]).any()
    np.testing.assert_array_equal(np.isnan(m[ok]), hand[ok])
    np.testing.assert_array_equal(m[ok & ~hand], p[ok & ~hand])
