"""Raking (iterative proportional fitting, IPF; RAS in economics): scale a non-negative seed table so that
its rows sum to one set of totals and its columns to another, keeping the seed's cross-product ratios
(Deming & Stephan 1940; the fitted table is P @ seed @ Q with P, Q diagonal).

IPF is known to loop forever, or to stop at its iteration cap looking converged, when the margins cannot
both hold: totals that disagree, or zeros in the seed that no scaling can fill. `rake` checks both before it
starts and checks the margins after it stops: it returns only a table whose margins hold within `tol`, and
raises ConvergenceError (a DataError) otherwise, naming the cause.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from irrmap.core.errors import DataError


class ConvergenceError(DataError):
    """Margins that cannot be met: totals that disagree, seed zeros that no scaling can fill, or no
    convergence within the iteration cap."""


@dataclass
class RakeResult:
    """The fitted table (same shape as the seed, same units as the totals), the iterations used (one
    iteration = a row and a column scaling) and the largest relative margin error left."""

    table: np.ndarray
    iterations: int
    max_error: float


def rake(seed, row_totals, col_totals, *, max_iter: int = 100, tol: float = 1e-9, where: str = "raking") -> RakeResult:
    """Fit `seed` (2-D, >= 0) to `row_totals` (seed.shape[0]) and `col_totals` (seed.shape[1]), any one unit
    (e.g. m2), by alternately scaling rows and columns until every margin is within `tol` (relative to its
    total; absolute for zero totals).

    Raises DataError for negative or non-finite input or mismatched shapes; ConvergenceError when the row
    and column totals differ by more than `tol` (relative), when a positive total has only zeros in the seed
    to scale, or when `max_iter` iterations leave a margin error above `tol` (zero patterns that make the
    margins infeasible).
    """
    x = np.array(seed, dtype=float)
    r = np.asarray(row_totals, dtype=float)
    c = np.asarray(col_totals, dtype=float)
    if x.ndim != 2 or r.shape != (x.shape[0],) or c.shape != (x.shape[1],):
        raise DataError(f"seed {x.shape} does not match {r.shape[0] if r.ndim else '?'} row and {c.shape[0] if c.ndim else '?'} column totals",
                        where, "give one row total per seed row and one column total per seed column")
    if not (np.isfinite(x).all() and np.isfinite(r).all() and np.isfinite(c).all()) or (x < 0).any() or (r < 0).any() or (c < 0).any():
        raise DataError("the seed and totals must be finite and non-negative", where, "fill missing cells (0 for none) and check signs")
    total = max(r.sum(), c.sum())
    if abs(r.sum() - c.sum()) > tol * total:
        raise ConvergenceError(f"the margins disagree: the row totals sum to {r.sum():.10g}, the column totals to {c.sum():.10g} "
                               f"({(r.sum() - c.sum()) / total:+.3%}); no table has both", where,
                               "make one margin binding and scale the other to it, or correct the table whose total is wrong")
    for name, totals, seeds in (("row", r, x.sum(axis=1)), ("column", c, x.sum(axis=0))):
        empty = np.flatnonzero((totals > 0) & (seeds == 0))
        if len(empty):
            raise ConvergenceError(f"{name}s {', '.join(map(str, empty[:10]))} have a positive total but only zeros in the seed", where,
                                   f"give those {name}s a non-zero seed (a prior) or set their totals to 0")
    error = np.inf
    for it in range(1, max_iter + 1):
        x *= _ratio(r, x.sum(axis=1))[:, None]
        x *= _ratio(c, x.sum(axis=0))[None, :]
        error = max(_error(x.sum(axis=1), r), _error(x.sum(axis=0), c))
        if error <= tol:
            return RakeResult(x, it, error)
    raise ConvergenceError(f"no convergence after {max_iter} iterations: a margin is still {error:.3g} (relative) off; zeros in the "
                           "seed make the two margins infeasible together", where,
                           "check which cells the seed leaves at zero, or make one margin binding instead of both")


def _ratio(target: np.ndarray, current: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(current > 0, target / current, 0.0)


def _error(got: np.ndarray, want: np.ndarray) -> float:
    scale = np.where(want > 0, want, 1.0)
    return float(np.max(np.abs(got - want) / scale)) if len(want) else 0.0


__all__ = ["ConvergenceError", "RakeResult", "rake"]
