"""irrmap.olofsson reads a labelled matrix (DataFrame) by its labels: rows [1, 0] with classes=[0, 1] were relabelled
by position, giving class 0 the user's accuracy of class 1 (0.80 for 45/50 = 0.90) and an area of 0.17 that no
reading of the sizes gives. Truth by hand (Olofsson et al. 2014, eqs. 2 and 9): W = {1: 0.1, 0: 0.9}; area of
reference class 0 = 0.1 x 10/50 + 0.9 x 45/50 = 0.83, of class 1 = 0.1 x 40/50 + 0.9 x 5/50 = 0.17."""

from __future__ import annotations

import pandas as pd
import pytest

import irrmap
from irrmap.core.errors import DataError

M = pd.DataFrame([[40, 10], [5, 45]], index=[1, 0], columns=[1, 0])  # rows map, columns reference


@pytest.mark.parametrize("classes", [None, [0, 1], [1, 0]])
def test_labelled_matrix_is_read_by_its_labels(classes):
    r = irrmap.olofsson(M, {1: 1000, 0: 9000}, classes=classes)
    assert r.users_accuracy[0] == pytest.approx(45 / 50) and r.users_accuracy[1] == pytest.approx(40 / 50)
    assert r.area_proportion[0] == pytest.approx(0.83) and r.area_proportion[1] == pytest.approx(0.17)


def test_positional_sizes_with_reordering_classes_are_refused():
    with pytest.raises(DataError, match="positional mapped sizes"):
        irrmap.olofsson(M, [1000, 9000], classes=[0, 1])
    r = irrmap.olofsson(M, [1000, 9000])  # control: sizes in the matrix's row order (1, then 0)
    assert r.area_proportion[0] == pytest.approx(0.83)


def test_classes_that_are_not_the_labels_are_refused():
    with pytest.raises(DataError, match="not the labels"):
        irrmap.olofsson(M, {1: 1000, 0: 9000}, classes=["irrigated", "not irrigated"])


def test_accuracy_and_disagreement_of_a_matrix_whose_columns_are_in_another_order():
    """Rows [0, 1], columns [1, 0]: by label, agreement is 45 + 40 of 100 (OA 0.85); by position it was 10 + 5."""
    from irrmap.evaluation.comparison import disagreement
    from irrmap.evaluation.confusion import accuracy_from_matrix, kappa_variance

    by_label = pd.DataFrame([[45, 5], [10, 40]], index=[0, 1], columns=[0, 1])
    swapped = by_label[[1, 0]]
    assert accuracy_from_matrix(swapped).overall_accuracy == pytest.approx(0.85)
    assert accuracy_from_matrix(swapped).users_accuracy[0] == pytest.approx(45 / 50)
    assert disagreement(swapped)["overall_agreement"] == pytest.approx(0.85)
    assert kappa_variance(swapped) == pytest.approx(kappa_variance(by_label))
