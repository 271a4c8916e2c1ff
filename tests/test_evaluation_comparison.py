"""Map comparison: quantity and allocation disagreement (Pontius & Millones 2011) by hand, area weighting on a
geographic grid, and per-unit areas side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from conftest import as_dataarray
from irrmap.evaluation.comparison import compare_maps, disagreement, unit_areas_side_by_side
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid


@pytest.mark.parametrize(
    "matrix,quantity,allocation",
    [
        # p = [[.3,.1],[.2,.4]]: rows .4/.6, cols .5/.5 -> Q = (.1+.1)/2 = .1; A = (2 min(.1,.2) + 2 min(.2,.1))/2 = .2
        ([[30, 10], [20, 40]], 0.1, 0.2),
        # same margins, errors only in allocation: Q = 0, A = 1 - OA = .15
        ([[10, 5, 0], [0, 20, 5], [5, 0, 55]], 0.0, 0.15),
        # rows .3/.4/.3, cols .2/.4/.4 -> Q = (.1+0+.1)/2 = .1; A = (0 + 2*.1 + 0)/2 = .1; 1 - OA = .2
        ([[20, 10, 0], [0, 30, 10], [0, 0, 30]], 0.1, 0.1),
        # pure quantity: map calls everything class 0
        ([[60, 40], [0, 0]], 0.4, 0.0),
    ],
)
def test_pontius_millones_by_hand(matrix, quantity, allocation):
    d = disagreement(matrix)
    assert d["quantity_disagreement"] == pytest.approx(quantity, abs=1e-12)
    assert d["allocation_disagreement"] == pytest.approx(allocation, abs=1e-12)
    assert d["quantity_disagreement"] + d["allocation_disagreement"] == pytest.approx(1 - d["overall_agreement"], abs=1e-12)


def test_identity_q_plus_a_on_random_matrices():
    rng = np.random.default_rng(11)
    for _ in range(50):
        x = rng.integers(0, 50, (4, 4))
        d = disagreement(x)
        assert d["quantity_disagreement"] + d["allocation_disagreement"] == pytest.approx(1 - np.trace(x) / x.sum(), abs=1e-12)


def test_compare_maps_weights_by_true_area():
    # two rows at very different latitudes: pixel areas differ, so the matrix must not be plain counts
    g = Grid.from_bounds(10.0, 0.0, 12.0, 80.0, (1.0, 40.0), "EPSG:4326")  # 2 rows x 2 cols
    a = np.array([[1.0, 0.0], [0.7, 0.0]], "float32")
    b = np.array([[1.0, 1.0], [0.0, np.nan]], "float32")
    res = compare_maps(as_dataarray(a, g), as_dataarray(b, g))
    area = g.pixel_area()
    m = res.matrix.to_numpy()
    # row 0 (north, small pixels): (1,1) and (0,1); row 1 (south, large): (1,0), (0,nan) missing
    assert m[1, 1] == pytest.approx(area[0, 0])
    assert m[0, 1] == pytest.approx(area[0, 1])
    assert m[1, 0] == pytest.approx(area[1, 0])
    assert m[0, 0] == 0
    assert res.missing_area_m2 == pytest.approx(area[1, 1])
    assert res.quantity_disagreement + res.allocation_disagreement == pytest.approx(1 - res.overall_agreement)


def test_compare_maps_kappa_equals_sklearn_on_equal_area_grid():
    g = Grid.from_bounds(0, 0, 40_000, 30_000, 1000, "EPSG:6933")  # equal-area: every pixel weighs the same
    rng = np.random.default_rng(5)
    a = (rng.random(g.shape) < 0.3).astype("float32")
    b = np.where(rng.random(g.shape) < 0.8, a, 1 - a).astype("float32")
    res = compare_maps(as_dataarray(a, g), as_dataarray(b, g), tile=7)  # odd tile size: tiling must not matter
    assert res.kappa == pytest.approx(cohen_kappa_score(a.ravel(), b.ravel()), abs=1e-9)
    assert res.overall_agreement == pytest.approx(np.mean(a == b), abs=1e-12)
    assert res.matrix.to_numpy().sum() == pytest.approx(g.size * 1e6)


def test_compare_needs_one_grid():
    g1 = Grid.from_bounds(0, 0, 10, 10, 1, "EPSG:4326")
    g2 = Grid.from_bounds(0, 0, 10, 10, 2, "EPSG:4326")
    with pytest.raises(DataError, match="grid"):
        compare_maps(as_dataarray(np.zeros(g1.shape), g1), as_dataarray(np.zeros(g2.shape), g2))


def test_unit_areas_side_by_side():
    df = unit_areas_side_by_side(pd.Series([10.0, 0.0], index=["a", "b"]), pd.Series([15.0, 2.0], index=["a", "b"]), ("x", "y"))
    assert list(df.columns) == ["code", "x_m2", "y_m2", "difference_m2", "ratio"]
    assert df["difference_m2"].tolist() == [5.0, 2.0]
    assert df["ratio"].iloc[0] == 1.5 and np.isnan(df["ratio"].iloc[1])
