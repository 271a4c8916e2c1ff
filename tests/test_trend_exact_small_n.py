"""Mann-Kendall p-values of `treecover trend` are exact for short series without ties (n <= EXACT_MAX_N): the
normal approximation gave p values no order of n values can reach (n = 3, S = 3: 0.296, where the smallest
attainable two-sided p is 2/3! = 0.333; user probe /tmp/probeU, F5). Truth: scipy.stats.kendalltau(method='exact')
(Kendall's tau between time and value is the Mann-Kendall test: same S), and a count over all n! orders."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import kendalltau

from irrmap.mapping.treecover.trend import EXACT_MAX_N, trend_block


def _p(values, times=None):
    values = np.asarray(values, np.float32)
    times = np.arange(values.size) + 2001.5 if times is None else np.asarray(times, float)
    return float(trend_block(values[:, None, None], times, min_years=2)[1, 0, 0])


def test_three_years_rising_gets_the_attainable_p():
    # all 3! orders: S = 3 only for the sorted one, S = -3 for the reversed: P(|S| >= 3) = 2/6
    s_of = [sum(np.sign(b - a) for a, b in itertools.combinations(order, 2)) for order in itertools.permutations(range(3))]
    assert sum(abs(s) >= 3 for s in s_of) / math.factorial(3) == pytest.approx(1 / 3)
    assert _p([0.2, 0.5, 0.7]) == pytest.approx(1 / 3, rel=1e-6)  # the normal approximation said 0.296
    assert _p([0.2, 0.7]) == 1.0  # two points: no p below 1 exists


@pytest.mark.parametrize("n", range(3, EXACT_MAX_N + 1))
def test_exact_p_equals_scipys_exact_kendall(n):
    rng = np.random.default_rng(n)
    t = np.arange(n) + 2001.5
    for _ in range(6):
        y = rng.permutation(n).astype(np.float32) / n  # distinct values: no ties
        assert _p(y) == pytest.approx(kendalltau(t, y, method="exact").pvalue, rel=1e-6, abs=1e-9)


def test_smallest_p_of_four_years_cannot_reach_5_percent():
    assert _p([0.1, 0.2, 0.3, 0.4]) == pytest.approx(2 / math.factorial(4), rel=1e-6)  # 0.083
    assert _p([0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(2 / math.factorial(5), rel=1e-6)  # 0.0167


def test_ties_and_long_series_keep_the_normal_approximation():  # controls
    y = [0.1, 0.3, 0.3, 0.5, 0.4, 0.6]  # one tie: Var S = [6*5*17 - 2*1*9] / 18 = 27.333; S = 13 concordant - 1 discordant = 12
    z = (12 - 1) / math.sqrt((6 * 5 * 17 - 2 * 1 * 9) / 18)
    assert _p(y) == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-6)
    n = EXACT_MAX_N + 2
    y = np.random.default_rng(1).permutation(n).astype(np.float32)
    s = sum(np.sign(y[b] - y[a]) for a, b in itertools.combinations(range(n), 2))
    z = (abs(s) - 1) / math.sqrt(n * (n - 1) * (2 * n + 5) / 18)
    assert _p(y) == pytest.approx(math.erfc(z / math.sqrt(2)), rel=1e-6)
