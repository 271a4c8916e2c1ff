"""The 7x7 rule on hand-made patterns, the optional filters, and block-wise == whole-array filtering."""

from __future__ import annotations

import numpy as np
import pytest

from irrmap.core.grid import Grid
from irrmap.mapping.filter import filter_map

from conftest import as_dataarray


def _grid(h, w):
    return Grid.from_bounds(100.0, 40.0, 100.0 + w * 0.0025, 40.0 + h * 0.0025, 0.0025, "EPSG:4326")


def run(cls, crop=None, chunks=None, **kw):
    cls = np.asarray(cls, np.uint8)
    crop = np.full(cls.shape, 0.6, np.float32) if crop is None else crop
    g = _grid(*cls.shape)
    c, f = as_dataarray(cls, g), as_dataarray(crop, g)
    if chunks:
        c, f = c.chunk({"y": chunks[0], "x": chunks[1]}), f.chunk({"y": chunks[0], "x": chunks[1]})
    out = filter_map(c, f, **kw)
    return out["class"].values, out["fraction"].values


def test_isolated_pixel_dropped_and_two_vs_three_boundary():
    cls = np.zeros((21, 40), np.uint8)
    cls[10, 5] = 1  # alone: 1 of 49 -> dropped
    cls[10, 15] = cls[10, 16] = 1  # a pair: 2 of 49 each -> both dropped (at most 2)
    cls[10, 25] = cls[10, 26] = cls[11, 25] = 1  # three: 3 of 49 each -> kept
    cls[4, 35] = cls[10, 35] = 1  # 6 rows apart: outside each other's 7x7 window -> both dropped
    out, frac = run(cls)
    assert out[10, 5] == 0 and out[10, 15] == 0 and out[10, 16] == 0
    assert out[10, 25] == out[10, 26] == out[11, 25] == 1
    assert out[4, 35] == 0 and out[10, 35] == 0
    assert frac[10, 25] == 60 and frac[10, 5] == 0
    cls[7, 35] = 1  # (7, 35) sees all three -> kept; (4, 35) and (10, 35) each see only two -> dropped
    out, _ = run(cls)
    assert out[7, 35] == 1 and out[4, 35] == 0 and out[10, 35] == 0


def test_hole_filled_at_47_not_at_46():
    cls = np.zeros((15, 15), np.uint8)
    cls[4:11, 4:11] = 1  # a 7x7 block: only its centre (7, 7) sees all 49
    cls[5, 5] = cls[9, 8] = 0  # two holes: centre sees 47 -> its window is filled
    crop = np.full(cls.shape, 0.4, np.float32)
    crop[9, 8] = 0.9
    out, frac = run(cls, crop)
    assert out[5, 5] == 1 and out[9, 8] == 1
    assert frac[9, 8] == 90 and frac[5, 5] == 40  # filled with f_crop
    assert out[3, 7] == 0  # outside the window: unchanged
    cls[6, 9] = 0  # three holes: 46 -> nothing filled
    out, _ = run(cls, crop)
    assert out[5, 5] == 0 and out[9, 8] == 0 and out[6, 9] == 0


def test_fill_skips_pixels_without_cropland_and_keeps_nodata():
    cls = np.zeros((15, 15), np.uint8)
    cls[4:11, 4:11] = 1
    cls[5, 5] = 0
    cls[6, 6] = 255  # nodata stays nodata
    crop = np.full(cls.shape, 0.5, np.float32)
    crop[5, 5] = 0.0  # no cropland: cannot become irrigated
    out, frac = run(cls, crop)
    assert out[5, 5] == 255 and frac[5, 5] == 0  # no cropland: nodata in the class map (issue 18), 0 % irrigated
    assert out[6, 6] == 255 and frac[6, 6] == 255


def test_majority_and_minimum_mapping_unit():
    cls = np.zeros((20, 20), np.uint8)
    cls[2:4, 2:4] = 1  # 4-pixel patch
    cls[10:14, 10:14] = 1  # 16-pixel patch
    cls[11, 11] = 0  # a hole inside it
    out, _ = run(cls, rule=False, mmu=5)
    assert out[2:4, 2:4].sum() == 0 and out[10:14, 10:14].sum() == 15  # small patch gone, hole kept
    out, _ = run(cls, rule=False, majority_size=3)
    assert out[11, 11] == 1  # 8 of 9 neighbours irrigated
    assert out[10, 10] == 0  # corner: 4 of 9


def test_blockwise_equals_whole_array():
    rng = np.random.default_rng(0)
    from scipy import ndimage

    cls = (ndimage.gaussian_filter(rng.normal(size=(90, 70)), 2) > 0.05).astype(np.uint8)
    cls[rng.random(cls.shape) < 0.05] ^= 1  # speckle: isolated pixels and holes
    crop = np.where(rng.random(cls.shape) < 0.9, rng.uniform(0.1, 1, cls.shape), 0).astype(np.float32)
    cls[crop == 0] = 0
    for kw in ({}, {"majority_size": 3, "mmu": 6}):
        whole, wf = run(cls, crop, **kw)
        tiled, tf = run(cls, crop, chunks=(13, 17), **kw)
        assert np.array_equal(whole, tiled) and np.array_equal(wf, tf), kw
    whole, _ = run(cls, crop)
    assert (whole != cls).sum() > 0  # the rule changed something


def test_bad_window_refused():
    with pytest.raises(Exception, match="odd"):
        run(np.zeros((9, 9), np.uint8), window=6)
