"""Raking (iterative proportional fitting) against independent truth: the closed form of a 2 x 2 table (IPF
keeps the seed's odds ratio, so the fitted cell solves a quadratic), the independence table r_i c_j / N that
IPF reaches from a seed of ones, the cross-product ratios of a 3 x 4 table, and margins it must refuse."""

from __future__ import annotations

import math

import numpy as np
import pytest

from irrmap.core.errors import DataError
from irrmap.core.statistics.raking import ConvergenceError, rake


def test_two_by_two_against_the_closed_form():
    # survey [[7, 9], [12, 7]] raked to rows (5, 15) and columns (10, 10): the fitted table is
    # [[a, 5 - a], [10 - a, 5 + a]] with the seed's odds ratio a (5 + a) / ((5 - a)(10 - a)) = 49 / 108,
    # i.e. 59 a^2 + 1275 a - 2450 = 0
    a = (-1275 + math.sqrt(1275**2 + 4 * 59 * 2450)) / (2 * 59)
    fit = rake([[7, 9], [12, 7]], [5, 15], [10, 10], tol=1e-12, max_iter=1000)
    np.testing.assert_allclose(fit.table, [[a, 5 - a], [10 - a, 5 + a]], rtol=1e-10)
    assert fit.max_error <= 1e-12


def test_seed_of_ones_gives_the_independence_table_in_one_iteration():
    rows, cols = np.array([30.0, 20.0, 10.0]), np.array([15.0, 25.0, 12.0, 8.0])
    fit = rake(np.ones((3, 4)), rows, cols)
    np.testing.assert_allclose(fit.table, np.outer(rows, cols) / 60.0, rtol=1e-12)
    assert fit.iterations == 1


def test_margins_met_and_cross_product_ratios_kept():
    rng = np.random.default_rng(1)
    seed = rng.uniform(1, 10, (3, 4))
    rows, cols = np.array([40.0, 35.0, 25.0]), np.array([10.0, 20.0, 30.0, 40.0])
    fit = rake(seed, rows, cols, tol=1e-12, max_iter=500)
    np.testing.assert_allclose(fit.table.sum(axis=1), rows, rtol=1e-12)
    np.testing.assert_allclose(fit.table.sum(axis=0), cols, rtol=1e-12)
    x = fit.table
    assert x[0, 0] * x[1, 2] / (x[0, 2] * x[1, 0]) == pytest.approx(seed[0, 0] * seed[1, 2] / (seed[0, 2] * seed[1, 0]), rel=1e-9)


def test_margins_with_different_totals_are_refused():
    with pytest.raises(ConvergenceError, match=r"the margins disagree: the row totals sum to 100, the column totals to 90"):
        rake(np.ones((2, 2)), [60, 40], [50, 40])


def test_infeasible_zero_pattern_fails_instead_of_looping():
    # a diagonal seed stays diagonal: rows (1, 2) and columns (2, 1) cannot both hold, though both total 3
    with pytest.raises(ConvergenceError, match="no convergence after 50 iterations"):
        rake([[1, 0], [0, 1]], [1, 2], [2, 1], max_iter=50)


def test_positive_total_over_zero_seed_is_refused():
    with pytest.raises(ConvergenceError, match="rows 1 have a positive total but only zeros"):
        rake([[1, 1], [0, 0]], [1, 1], [1, 1])
    with pytest.raises(DataError, match="non-negative"):
        rake([[1, -1], [1, 1]], [1, 1], [1, 1])


def test_published_table_raked_to_harmonised_district_totals_and_the_state_row(tmp_path):
    """Districts x water source from a published .xls (tests/test_tables_published.py writes it with xlwt):
    the district totals moved by harmonising (Anantapur 1000 -> 1100 ha, Chittoor 1000 -> 900 ha) and the
    state row's per-source totals bind together."""
    import pandas as pd
    from test_tables_published import write_xls

    from irrmap.core.statistics.harmonise import HarmoniseRules, rake_categories
    from irrmap.core.tables import TableFormat, parse_numbers, read_table

    df = read_table(write_xls(tmp_path / "t.xls"), TableFormat(header_rows=(3, 4), sheet="2014-15")).set_index("State/District")
    sources = [f"Net Area Irrigated From / {s}" for s in ("Canals", "Tanks", "Wells")]
    cells = pd.DataFrame({s: parse_numbers(df[s], TableFormat(zeros=("-",))).values.to_numpy() for s in sources}, index=df.index)
    seed = cells.loc[["Anantapur", "Chittoor"]]  # [[700, 0, 300], [500, 300, 200]]
    state = cells.loc["ANDHRA PRADESH"]  # 1200, 300, 500
    totals = pd.Series({"Anantapur": 1100.0, "Chittoor": 900.0})
    fit = rake_categories(seed, totals, state, rules=HarmoniseRules(tol=1e-12, max_iter=1000))
    np.testing.assert_allclose(fit.sum(axis=1), totals, rtol=1e-12)
    np.testing.assert_allclose(fit.sum(axis=0), state, rtol=1e-12)
    assert fit.iloc[0, 1] == 0.0  # Anantapur has no tanks ("-"): raking keeps the zero
    x, s0 = fit.to_numpy(), seed.to_numpy()
    assert x[0, 0] * x[1, 2] / (x[0, 2] * x[1, 0]) == pytest.approx(s0[0, 0] * s0[1, 2] / (s0[0, 2] * s0[1, 0]), rel=1e-9)
    # a state row that sums to 2100 ha against districts summing to 2000 ha cannot hold: refused
    with pytest.raises(ConvergenceError, match="the margins disagree"):
        rake_categories(seed, totals, state * 1.05, rules=HarmoniseRules())
