"""accuracy() and labels that are not the same set of classes on both sides.

A user sampled a class map at 200 reference points; 10 points fell on the raster's nodata (-9999). accuracy() took
-9999 for a third class, always wrong, and returned OA 0.705 over n=200 with no word (only 255, irrmap's own class
map nodata, is left out). The truth over the 190 valid pairs comes from numpy. Also: numbers against text labels
named "1 and '1'" though neither side held '1'; the message now names examples of each side's labels.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import irrmap
from irrmap.core.errors import DataError

LOGGER = "irrmap.evaluation.confusion"


def _labels():
    rng = np.random.default_rng(0)
    m = rng.integers(0, 2, 200)
    r = np.where(rng.random(200) < 0.8, m, 1 - m)
    mm = m.copy().astype(np.int16)
    mm[:10] = -9999
    return m, r, mm


def _messages(caplog):
    return [rec.getMessage() for rec in caplog.records if rec.levelno >= logging.WARNING]


def test_nodata_code_on_map_side_only_is_warned_about(caplog):
    m, r, mm = _labels()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        a = irrmap.accuracy(mm, r)
    # the result itself is unchanged: -9999 is kept as a class (the user did not say otherwise)
    assert a.n == 200 and a.overall_accuracy == pytest.approx((mm == r).mean())
    said = [t for t in _messages(caplog) if "-9999" in t]
    assert said, _messages(caplog)
    text = said[0]
    assert "map labels only" in text and "10 of 200" in text and "nodata=-9999" in text


def test_nodata_keyword_leaves_the_pairs_out():
    m, r, mm = _labels()
    truth = float((m[10:] == r[10:]).mean())  # numpy over the 190 valid pairs
    assert truth == pytest.approx(0.7421, abs=1e-4)
    a = irrmap.accuracy(mm, r, nodata=-9999)
    assert a.n == 190 and a.overall_accuracy == pytest.approx(truth)
    assert a.classes == [0, 1]
    assert a.extra["dropped"]["nodata"] == 10
    # a list of codes, and a code on the reference side
    b = irrmap.accuracy(r, mm, nodata=[-9999, -1])
    assert b.n == 190 and b.overall_accuracy == pytest.approx(truth)


def test_reference_only_class_is_warned_about(caplog):
    m, r, _ = _labels()
    rr = r.copy()
    rr[-4:] = 2
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        irrmap.accuracy(m, rr)
    text = " ".join(_messages(caplog))
    assert "class 2" in text and "reference labels only" in text and "4 of 200" in text


def test_no_warning_when_every_class_is_on_both_sides(caplog):
    m, r, _ = _labels()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        a = irrmap.accuracy(m, r)
        irrmap.accuracy(m.astype(bool), r.astype(bool))
    assert a.overall_accuracy == pytest.approx((m == r).mean()) and a.n == 200
    assert not _messages(caplog)


def test_mixed_kinds_message_names_each_sides_labels():
    m, r, _ = _labels()
    with pytest.raises(DataError, match="mix kinds") as e:
        irrmap.accuracy(m, np.where(r == 1, "irrigated", "not irrigated"))
    text = str(e.value)
    assert "'1'" not in text  # neither side holds the text '1'
    assert "'irrigated'" in text and "'not irrigated'" in text and "0, 1" in text
