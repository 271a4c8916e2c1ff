"""The N-score median kernel (training/nscore.py) against a brute-force median, window by window, on the cases
where its mechanisms could go wrong: uint16 against int32 codes (the 65,536-code boundary), the column-histogram
coarse level against the pixel-by-pixel one, non-reference pixels spread over 16 bins, clipped windows, inner slices,
ties, even counts, radius 0 and 1, windows without reference pixels."""

from __future__ import annotations

import irrmap.training.nscore as ns
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def _brute(values, ref, radius, inner=None):
    """Median of the finite reference values in each clipped window (mean of the two middle ones, float64, then
    float32); NaN where the window holds none."""
    ok = np.asarray(ref, bool) & np.isfinite(values)
    H, W = values.shape
    rows, cols = inner if inner is not None else (slice(0, H), slice(0, W))
    out = np.full((rows.stop - rows.start, cols.stop - cols.start), np.nan, np.float32)
    for i in range(rows.start, rows.stop):
        for j in range(cols.start, cols.stop):
            win = (slice(max(0, i - radius), i + radius + 1), slice(max(0, j - radius), j + radius + 1))
            w = np.sort(values[win][ok[win]].astype(np.float64))
            if w.size:
                out[i - rows.start, j - cols.start] = np.float32((w[(w.size - 1) // 2] + w[w.size // 2]) / 2.0)
    return out


@pytest.fixture(params=["column histograms", "pixel by pixel"])
def coarse_mode(request, monkeypatch):
    """Run a test with the column-histogram coarse level forced on (any code count) and forced off."""
    monkeypatch.setattr(ns, "_COLH_MAX_BINS", 1 << 30 if request.param == "column histograms" else -1)
    return request.param


def _check(values, ref, radius, inner=None):
    got = ns.median_block(values, ref, radius, inner)
    np.testing.assert_array_equal(got, _brute(values, ref, radius, inner))
    return got


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # the fixture only sets a constant
@given(data=st.data(), h=st.integers(1, 24), w=st.integers(1, 24), radius=st.integers(0, 6),
       levels=st.sampled_from([2, 7, 1000, None]), share=st.sampled_from([0.0, 0.05, 0.5, 1.0]))
def test_kernel_equals_brute_force(coarse_mode, data, h, w, radius, levels, share):
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    values = rng.random((h, w)).astype(np.float32) if levels is None else rng.integers(0, levels, (h, w)).astype(np.float32)
    values[rng.random((h, w)) < 0.1] = np.nan
    ref = rng.random((h, w)) < share
    r0 = data.draw(st.integers(0, h - 1))
    c0 = data.draw(st.integers(0, w - 1))
    inner = (slice(r0, data.draw(st.integers(r0 + 1, h))), slice(c0, data.draw(st.integers(c0 + 1, w))))
    _check(values, ref, radius, inner)
    _check(values, ref, radius)


def test_edge_cases(coarse_mode):
    rng = np.random.default_rng(1)
    v = rng.random((9, 11)).astype(np.float32)
    assert np.isnan(ns.median_block(np.full((9, 11), np.nan, np.float32), np.ones((9, 11), bool), 2)).all()  # all NaN
    assert np.isnan(ns.median_block(v, np.zeros((9, 11), bool), 2)).all()  # no reference pixel
    one = np.zeros((9, 11), bool)
    one[4, 5] = True
    got = _check(v, one, 1)  # one reference pixel: its value in its 3 x 3 neighbourhood, NaN elsewhere
    assert (got[3:6, 4:7] == v[4, 5]).all() and np.isnan(got).sum() == 9 * 11 - 9
    _check(v, rng.random(v.shape) < 0.5, 0)  # radius 0: the value itself where it is a reference pixel
    _check(v, rng.random(v.shape) < 0.5, 30)  # every window clipped on all four sides
    ties = np.round(v * 3).astype(np.float32)  # 4 distinct values: ties and even counts everywhere
    for r in (1, 2, 3):
        _check(ties, rng.random(v.shape) < 0.7, r)
    assert ns.median_block(v, one, 1, (slice(2, 2), slice(0, 11))).shape == (0, 11)  # empty inner slice


def test_runs_of_non_reference_pixels(coarse_mode):
    # long runs of non-reference pixels along rows and columns (their codes cycle over 16 bins) next to windows
    # with only a few reference pixels
    rng = np.random.default_rng(2)
    v = rng.random((40, 45)).astype(np.float32)
    ref = rng.random(v.shape) < 0.9
    ref[5:30, :] = False
    ref[:, 10:35] = False
    ref[17, 20] = ref[18, 22] = True
    _check(v, ref, 4)
    _check(v, ref, 7, (slice(3, 37), slice(2, 41)))


@pytest.mark.parametrize("n_codes", [64447, 64448, 70000])
def test_code_width_boundary(coarse_mode, n_codes):
    # uint16 codes up to 64,447 distinct values (the 16 non-reference bins then end at 65,536), int32 beyond
    want = np.uint16 if n_codes <= 64447 else np.int32
    assert ns._code_dtype(n_codes) == want and ns._code_dtype(n_codes - 1) in (np.uint16, want)
    side = int(np.ceil(np.sqrt(n_codes + 500)))
    rng = np.random.default_rng(n_codes)
    flat = np.concatenate([rng.permutation(n_codes), rng.integers(0, n_codes, side * side - n_codes)]).astype(np.float32)
    v = (flat.reshape(side, side) * np.float32(1e-3)).astype(np.float32)
    ref = np.ones(v.shape, bool)
    ref.flat[n_codes + rng.choice(v.size - n_codes, 300, replace=False)] = False  # repeated values only
    assert np.unique(v[ref]).size == n_codes
    c = side // 2
    for radius in (1, 3):
        _check(v, ref, radius, (slice(c - 6, c + 6), slice(0, 9)))
        _check(v, ref, radius, (slice(side - 5, side), slice(side - 8, side)))
    # the top codes: a window of the largest values
    big = np.argsort(v, axis=None)[-20:]
    i, j = np.unravel_index(big[0], v.shape)
    _check(v, ref, 2, (slice(max(0, i - 2), i + 3), slice(max(0, j - 2), j + 3)))
