"""The --label-map example that a refusal of unmapped labels suggests works when applied as written: for a 1..5
scale (Zambia smallholder boxes: 1 = no irrigation .. 5 = irrigated) the example mapped only 1 and 5, so applying
it was refused again for 2..4. Truth: applying the suggested flags to the same labels raises nothing and gives 0 for
the lowest code, 1 for the highest and -1 (left out) between, counted by hand."""

import shlex

import numpy as np
import pytest
from irrmap.evaluation.points import binary_labels

from irrmap.core.errors import DataError


def _suggested_map(labels):
    with pytest.raises(DataError) as e:
        binary_labels(labels)
    words = shlex.split(e.value.fix.split("e.g. ", 1)[1].split(" if ", 1)[0])
    pairs = [words[i + 1] for i, w in enumerate(words) if w == "--label-map"]
    return {k: int(v) for k, v in (p.rsplit("=", 1) for p in pairs)}


def test_scale_of_five_hint_applies():
    labels = [1, 2, 3, 4, 5, 5, 1, 3]
    out = binary_labels(labels, label_map=_suggested_map(labels))
    assert out.tolist() == [0, -1, -1, -1, 1, 1, 0, -1]


def test_two_codes_hint_control():
    labels = [1, 2, 2, 1]
    out = binary_labels(labels, label_map=_suggested_map(labels))
    assert np.array_equal(out, [0, 1, 1, 0])
