"""Confusion matrix, OA, kappa (with its delta-method SE), UA/PA/F1 against scikit-learn, the published Congalton
(1991) example and a hand computation of the kappa variance."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score, precision_score, recall_score
from sklearn.metrics import confusion_matrix as sk_confusion

from irrmap.evaluation.confusion import accuracy, accuracy_by_group, accuracy_from_matrix, confusion_matrix, kappa_variance
from irrmap.core.errors import DataError

# Congalton (1991, Remote Sens. Environ. 37:35-46) Table 1, rows = classification (map), columns = reference.
# Published: OA 0.74 (= 321/434 = 0.7396), KHAT 0.65 (0.6535 per issue 8's oracle list); user's accuracies
# D 0.57, C 0.81, BA 0.74, SB 0.87, producer's D 0.87, C 0.79, BA 0.74, SB 0.64 (the same values are asserted
# by boothmanrylan/accuracyAssessmentTools tests/test_congalton.py).
CONGALTON = np.array([[65, 4, 22, 24], [6, 81, 5, 8], [0, 11, 85, 19], [4, 7, 3, 90]])


@pytest.mark.parametrize("seed,q", [(0, 2), (1, 3), (2, 5)])
def test_against_sklearn_on_random_labels(seed, q):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, q, 500)
    # a map that is right 70 % of the time, so the measures are far from trivial values
    mp = np.where(rng.random(500) < 0.7, ref, rng.integers(0, q, 500))
    acc = accuracy(mp, ref, classes=list(range(q)))
    # sklearn: rows = y_true (reference), so ours (rows = map) is its transpose
    np.testing.assert_array_equal(acc.matrix.to_numpy(), sk_confusion(ref, mp, labels=list(range(q))).T)
    assert acc.kappa == pytest.approx(cohen_kappa_score(ref, mp), abs=1e-12)
    assert acc.overall_accuracy == pytest.approx(np.mean(ref == mp), abs=1e-12)
    labels = list(range(q))
    np.testing.assert_allclose(acc.users_accuracy.values, precision_score(ref, mp, labels=labels, average=None), atol=1e-12)
    np.testing.assert_allclose(acc.producers_accuracy.values, recall_score(ref, mp, labels=labels, average=None), atol=1e-12)
    np.testing.assert_allclose(acc.f1.values, f1_score(ref, mp, labels=labels, average=None), atol=1e-12)


def test_congalton_1991_table1():
    acc = accuracy_from_matrix(CONGALTON)
    assert acc.n == 434
    assert acc.overall_accuracy == pytest.approx(0.7396, abs=5e-5)
    assert acc.kappa == pytest.approx(0.6535, abs=5e-5)
    np.testing.assert_allclose(acc.users_accuracy.values, [0.57, 0.81, 0.74, 0.87], atol=0.005)
    np.testing.assert_allclose(acc.producers_accuracy.values, [0.87, 0.79, 0.74, 0.64], atol=0.005)


def _kappa_var_by_hand(x):
    """Congalton & Green (2009) delta-method variance, written out term by term with loops (independent of
    the vectorised implementation)."""
    x = [[float(v) for v in row] for row in x]
    q = len(x)
    n = sum(sum(r) for r in x)
    row = [sum(x[i]) for i in range(q)]
    col = [sum(x[i][j] for i in range(q)) for j in range(q)]
    t1 = sum(x[i][i] for i in range(q)) / n
    t2 = sum(row[i] * col[i] for i in range(q)) / n**2
    t3 = sum(x[i][i] * (row[i] + col[i]) for i in range(q)) / n**2
    t4 = sum(x[i][j] * (row[j] + col[i]) ** 2 for i in range(q) for j in range(q)) / n**3
    a = t1 * (1 - t1) / (1 - t2) ** 2
    b = 2 * (1 - t1) * (2 * t1 * t2 - t3) / (1 - t2) ** 3
    c = (1 - t1) ** 2 * (t4 - 4 * t2**2) / (1 - t2) ** 4
    return (a + b + c) / n


def test_kappa_variance_matches_hand_computation():
    assert kappa_variance(CONGALTON) == pytest.approx(_kappa_var_by_hand(CONGALTON), rel=1e-12)
    asym = np.array([[30, 2, 9], [5, 12, 1], [0, 7, 41]])
    assert kappa_variance(asym) == pytest.approx(_kappa_var_by_hand(asym), rel=1e-12)
    acc = accuracy_from_matrix(CONGALTON)
    assert acc.kappa_se == pytest.approx(math.sqrt(_kappa_var_by_hand(CONGALTON)), rel=1e-12)
    lo, hi = acc.kappa_ci95
    assert lo == pytest.approx(acc.kappa - 1.959964 * acc.kappa_se, abs=1e-6)
    assert hi == pytest.approx(acc.kappa + 1.959964 * acc.kappa_se, abs=1e-6)


def test_kappa_se_matches_multinomial_simulation():
    """The delta-method SE is the large-sample SD of kappa: check it against 4000 multinomial resamples."""
    p = CONGALTON / CONGALTON.sum()
    rng = np.random.default_rng(7)
    draws = rng.multinomial(434, p.ravel(), size=4000).reshape(-1, 4, 4).astype(float)
    n = draws.sum(axis=(1, 2))
    po = np.trace(draws, axis1=1, axis2=2) / n
    pe = np.einsum("ki,ki->k", draws.sum(axis=2), draws.sum(axis=1)) / n**2
    sd = np.std((po - pe) / (1 - pe), ddof=1)
    assert accuracy_from_matrix(CONGALTON).kappa_se == pytest.approx(sd, rel=0.06)


def test_undefined_measures_are_nan_and_labels_checked():
    acc = accuracy([0, 0, 1], [0, 0, 0], classes=[0, 1])
    assert math.isnan(acc.producers_accuracy[1])  # no reference pixel of class 1
    assert acc.users_accuracy[1] == 0.0
    d = acc.to_dict()
    assert d["producers_accuracy"]["1"] is None  # NaN -> JSON null
    with pytest.raises(DataError, match="not one of the classes"):
        confusion_matrix([0, 2], [0, 1], classes=[0, 1])


def test_by_group_splits_and_sums():
    rng = np.random.default_rng(3)
    ref = rng.integers(0, 2, 200)
    mp = np.where(rng.random(200) < 0.8, ref, 1 - ref)
    groups = np.where(np.arange(200) < 120, "arid", "humid")
    out = accuracy_by_group(mp, ref, groups, classes=[0, 1])
    assert set(out) == {"all", "arid", "humid"}
    np.testing.assert_array_equal(out["arid"].matrix.to_numpy() + out["humid"].matrix.to_numpy(), out["all"].matrix.to_numpy())
    assert out["arid"].n == 120
    assert out["arid"].kappa == pytest.approx(cohen_kappa_score(ref[:120], mp[:120]))
