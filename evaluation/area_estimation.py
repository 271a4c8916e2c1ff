"""Error-adjusted area and accuracy with standard errors from a stratified random sample.

- `olofsson`: strata are the map classes (Olofsson et al. 2014, Remote Sens. Environ. 148:42-57, eqs. 2-10;
  the PA variance of Olofsson et al. 2013, eq. 7). Input: a count matrix and the mapped size of each class.
- `stehman`: strata differ from the map classes (Stehman 2014, Int. J. Remote Sens. 35:4923-4939, eqs. 2-27),
  one row per sample unit; optional finite population correction (1 - n_h/N_h). It also gives Cohen's kappa of
  the estimated error matrix with its SE by Taylor linearisation under the design (`_kappa_linearised`).
- `sample_size`: total sample size for a target SE of overall accuracy (Olofsson 2014 eq. 13, Cochran 5.25).

Sizes may be pixel counts or areas; estimated areas come back in the same unit. Nothing is dropped: a stratum
(map class) with a size but no sample unit, sample units in a stratum of size 0, or labels outside the classes
raise DataError, so the area proportions always sum to 1. What the sample cannot estimate (any SE when a
stratum holds a single sample unit; UA of a class never mapped in the sample; PA of a class never in the
reference) is NaN, and `AreaEstimate.not_estimable` gives the reason for each.

Small strata: a stratum whose sample proportion correct (for `olofsson` its user's accuracy) is exactly 0 or 1
contributes a variance of 0 (p(1-p)/(n_h-1) = 0), so from a handful of units the SEs and 95 % intervals
understate the uncertainty, down to an SE of 0 and a zero-width interval (2 of 2 correct in each of two strata:
area_se 0). Strata with fewer than confusion.MIN_SAMPLE_SIZE (50) units and such a proportion are logged as a
warning and listed in `AreaEstimate.small_strata`; every SE that is then 0 is listed, with the reason, in
`AreaEstimate.degenerate` (to_dict: 'degenerate_intervals'; its value is kept). `olofsson` also gives the exact
(Clopper-Pearson) 95 % interval of each user's accuracy (`users_accuracy_ci95_exact`): within a stratum = map class, n_ii is binomial(n_i+, UA_i)
under simple random sampling.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irrmap.evaluation.confusion import MIN_SAMPLE_SIZE, Z95, _clean, _exact_intervals, _interval_text
from irrmap.core.errors import DataError
from irrmap.evaluation.margins import drop_total_sizes, matrix_without_margins
from irrmap.evaluation.labels import is_missing, mixed_coding, mixed_coding_fix, word_meaning

log = logging.getLogger(__name__)


@dataclass
class AreaEstimate:
    """Estimates for classes (reference classes = map classes); proportions of the total size, areas in its unit."""

    classes: list
    overall_accuracy: float
    overall_accuracy_se: float
    users_accuracy: pd.Series
    users_accuracy_se: pd.Series
    producers_accuracy: pd.Series
    producers_accuracy_se: pd.Series
    area_proportion: pd.Series
    area_proportion_se: pd.Series
    total: float
    error_matrix: pd.DataFrame  # estimated proportions of area, rows map, columns reference
    n: int
    estimator: str
    not_estimable: dict = field(default_factory=dict)  # {(measure, class or None): reason} for each NaN estimate
    kappa: float = math.nan  # Cohen's kappa of the estimated error matrix (stehman; NaN from olofsson's count matrix)
    kappa_se: float = math.nan  # its linearised SE under the design (see _kappa_linearised)
    # olofsson: exact Clopper-Pearson 95 % interval of each UA (columns lower, upper); None for stehman (UA a ratio)
    users_accuracy_ci95_exact: pd.DataFrame | None = None
    # {stratum: {"n": units, "proportion_correct": 0 or 1}} for strata with fewer than MIN_SAMPLE_SIZE units
    # whose proportion correct (olofsson: the user's accuracy) is exactly 0 or 1: zero variance contribution
    small_strata: dict = field(default_factory=dict)
    # {(measure, class or None): reason} for each SE of 0 that depends on a stratum of fewer than MIN_SAMPLE_SIZE
    # units: a degenerate, zero-width normal-approximation interval (the SE itself is kept)
    degenerate: dict = field(default_factory=dict)

    @property
    def area(self) -> pd.Series:
        return self.area_proportion * self.total

    @property
    def area_se(self) -> pd.Series:
        return self.area_proportion_se * self.total

    def area_ci95(self) -> pd.DataFrame:
        """Lower and upper 95 % bounds of each class area (normal approximation)."""
        return pd.DataFrame({"lower": self.area - Z95 * self.area_se, "upper": self.area + Z95 * self.area_se})

    def table(self, class_names: dict | None = None, area_scale: float = 1.0, area_unit: str = "") -> pd.DataFrame:
        """One row per class: UA, PA (with SE), area proportion, area and its 95 % CI (area / `area_scale`)."""
        ci = self.area_ci95()
        suffix = f"_{area_unit}" if area_unit else ""
        return pd.DataFrame({
            "class": [str((class_names or {}).get(c, c)) for c in self.classes],
            "users_accuracy": self.users_accuracy.values, "users_accuracy_se": self.users_accuracy_se.values,
            "producers_accuracy": self.producers_accuracy.values, "producers_accuracy_se": self.producers_accuracy_se.values,
            "area_proportion": self.area_proportion.values, "area_proportion_se": self.area_proportion_se.values,
            f"area{suffix}": self.area.values / area_scale, f"area_se{suffix}": self.area_se.values / area_scale,
            f"area_ci95_lower{suffix}": ci["lower"].values / area_scale, f"area_ci95_upper{suffix}": ci["upper"].values / area_scale,
        })

    def to_dict(self, class_names: dict | None = None) -> dict:
        """A JSON-able dict: per-class values keyed by class name; NaN becomes None."""
        name = (lambda c: str(class_names.get(c, c))) if class_names else str
        per = lambda s: {name(k): _clean(v) for k, v in s.items()}  # noqa: E731
        ci = self.area_ci95()
        return {
            "estimator": self.estimator, "n": int(self.n), "classes": [name(c) for c in self.classes],
            "overall_accuracy": _clean(self.overall_accuracy), "overall_accuracy_se": _clean(self.overall_accuracy_se),
            "users_accuracy": per(self.users_accuracy), "users_accuracy_se": per(self.users_accuracy_se),
            "producers_accuracy": per(self.producers_accuracy), "producers_accuracy_se": per(self.producers_accuracy_se),
            "area_proportion": per(self.area_proportion), "area_proportion_se": per(self.area_proportion_se),
            "area": per(self.area), "area_se": per(self.area_se),
            "area_ci95": {name(c): [_clean(lo), _clean(hi)] for c, lo, hi in zip(self.classes, ci["lower"], ci["upper"])},
            **({"kappa": _clean(self.kappa), "kappa_se": _clean(self.kappa_se)} if self.estimator.startswith("stehman") else {}),
            "total_size": _clean(self.total),
            "error_matrix": [[_clean(v) for v in row] for row in self.error_matrix.to_numpy().tolist()],
            "error_matrix_orientation": "rows = map class, columns = reference class, cells = estimated proportion of area",
            "not_estimable": {(m if c is None else f"{m}.{name(c)}"): why for (m, c), why in self.not_estimable.items()},
            **({"users_accuracy_ci95_exact": {name(c): [_clean(lo), _clean(hi)] for c, lo, hi in zip(
                self.users_accuracy_ci95_exact.index, self.users_accuracy_ci95_exact["lower"], self.users_accuracy_ci95_exact["upper"])}}
               if self.users_accuracy_ci95_exact is not None else {}),
            "degenerate_intervals": {(m if c is None else f"{m}.{name(c)}"): why for (m, c), why in self.degenerate.items()},
            "small_strata": {str(h): {k: (_clean(v) if isinstance(v, float) else v) for k, v in info.items()}
                             for h, info in self.small_strata.items()},
            "min_sample_units_per_stratum": MIN_SAMPLE_SIZE,
        }


def _div(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b != 0, a / np.where(b != 0, b, 1), np.nan)


def _rows_in_class_order(matrix: pd.DataFrame, classes, mapped_sizes) -> pd.DataFrame:
    """The labelled matrix with rows and columns in the order of `classes` (its own order when None). Its labels name
    its classes: `classes` that are not those labels raise DataError, and so do positional mapped sizes (a list or
    array) when `classes` reorders the rows, since they could be in either order. The matrix was relabelled by
    position: rows [1, 0] with classes [0, 1] gave class 0 the user's accuracy of class 1 (0.80 for 45/50 = 0.90)."""
    labels = list(matrix.index)
    if classes is None or list(classes) == labels:
        return matrix
    classes = list(classes)
    if len(classes) != len(labels) or set(classes) != set(labels):
        raise DataError(f"classes {classes} are not the labels of the matrix's rows {labels}", "classes",
                        "leave classes out (a labelled matrix names its classes) or give its labels")
    if not isinstance(mapped_sizes, (pd.Series, dict)):
        raise DataError(f"the matrix's rows are in the order {labels} but classes are {classes}: positional mapped sizes could "
                        "be in either order", "mapped sizes", "give the sizes keyed by class (a dict or Series: {class: size}), "
                        "or classes in the matrix's row order")
    return matrix.reindex(index=classes, columns=classes)


def olofsson(matrix, mapped_sizes, classes=None) -> AreaEstimate:
    """Stratified estimator with strata = map classes from a count matrix (rows map, columns reference) and the
    mapped size (pixels or area) of each map class, in the matrix's row order (or keyed by class).

    A labelled matrix (DataFrame) is read by its labels: `classes` orders it (DataError for classes that are not its
    labels, and for positional sizes when `classes` reorders its rows).

    Raises DataError when a class has a mapped size but no sample unit (its area would be lost), sample units
    but no mapped size, or a size for a class the matrix lacks; the area proportions then always sum to 1.

    A labelled matrix (DataFrame) copied with its margins, as Olofsson et al. (2014) Table 8 prints it, is read
    without them, and so is a total entry of labelled sizes (Series / dict): margins.matrix_without_margins and
    margins.drop_total_sizes check that each is the sum of the others (InputError if not) and log it at INFO."""
    totals = set()
    if isinstance(matrix, pd.DataFrame):
        matrix, totals = matrix_without_margins(matrix, "matrix")
        if list(matrix.columns) != list(matrix.index):
            matrix = matrix.reindex(columns=matrix.index, fill_value=0) if set(matrix.columns) <= set(matrix.index) else None
            if matrix is None:
                raise DataError("matrix rows and columns must be the same classes", "matrix", "use the map classes as reference classes too")
        matrix = _rows_in_class_order(matrix, classes, mapped_sizes)
        classes = list(matrix.index)
        n_ij = matrix.to_numpy(dtype=np.float64)
    else:
        n_ij = np.asarray(matrix, dtype=np.float64)
        classes = list(range(n_ij.shape[0])) if classes is None else list(classes)
    q = n_ij.shape[0]
    if n_ij.shape != (q, q) or len(classes) != q:
        raise DataError(f"matrix shape {n_ij.shape} does not fit {len(classes)} classes", "matrix")
    if not np.isfinite(n_ij).all() or (n_ij < 0).any():
        raise DataError("a count matrix holds non-negative counts only (no empty or negative cells)", "matrix", "fill every cell with a count")
    fractional = ~np.isclose(n_ij, np.round(n_ij), rtol=0, atol=1e-9)
    if fractional.any():
        shown = ", ".join(f"{v:g}" for v in n_ij[fractional][:6])
        raise DataError(f"a count matrix holds whole numbers of sample units, but {int(fractional.sum())} cells are not ({shown}"
                        + ("; the cells sum to 1: proportions" if abs(n_ij.sum() - 1) < 1e-6 else "") + "); the variances of "
                        "Olofsson et al. (2014, eqs. 5-7, 10) need the counts n_ij (n_i - 1 in each denominator)", "matrix",
                        "give the number of sample units in each cell (rows map class, columns reference class), not "
                        "proportions or areas")
    if isinstance(mapped_sizes, (pd.Series, dict)):
        sizes = drop_total_sizes(pd.Series(mapped_sizes, dtype=np.float64), "mapped sizes", "class", totals)
        missing = [c for c in classes if c not in sizes.index]
        if missing:
            raise DataError(f"no mapped size for classes {missing}", "mapped sizes", "give one size per map class")
        extra = [c for c in sizes.index if c not in classes and sizes[c] != 0]
        if extra:
            raise DataError(f"classes {extra[:10]} have a mapped size but no row in the matrix: their area would be lost",
                            "mapped sizes", "add their sample counts to the matrix (every mapped class is a stratum to sample)")
        N_i = sizes.reindex(classes).to_numpy(dtype=np.float64)
    else:
        N_i = np.asarray(mapped_sizes, dtype=np.float64)
    if N_i.shape != (q,) or not np.isfinite(N_i).all() or (N_i < 0).any():
        raise DataError(f"need {q} non-negative mapped sizes, got {N_i.tolist()}", "mapped sizes")
    n_i = n_ij.sum(axis=1)
    unsampled = [c for c, N, n in zip(classes, N_i, n_i) if N > 0 and n == 0]
    if unsampled:
        raise DataError(f"map classes {unsampled[:10]} have a mapped size but no sample unit: their area cannot be estimated",
                        "matrix", "sample every map class with area (Olofsson et al. 2014 suggest 50-100 units per class), "
                        "or merge the class into another before sampling")
    sizeless = [c for c, N, n in zip(classes, N_i, n_i) if N == 0 and n > 0]
    if sizeless:
        raise DataError(f"map classes {sizeless[:10]} have sample units but a mapped size of 0", "mapped sizes",
                        "give the mapped size of every sampled class (strata are the map classes)")
    total = N_i.sum()
    if total <= 0:
        raise DataError("the mapped sizes sum to 0", "mapped sizes", "give the mapped size (pixels or area) of each class")
    W = N_i / total
    frac = np.nan_to_num(_div(n_ij, n_i[:, None]))  # n_ij / n_i+; rows of unmapped, unsampled classes have W = 0
    p = W[:, None] * frac  # eq. 4
    dof = np.where(n_i > 1, n_i - 1, np.nan)
    single = (W > 0) & (n_i == 1)  # a stratum with one unit has no variance estimate
    p_col = p.sum(axis=0)
    # eq. 10: SE of the estimated proportion of area of reference class j
    area_var = np.nansum(W[:, None] ** 2 * frac * (1 - frac) / dof[:, None], axis=0) + (np.nan if single.any() else 0.0)
    diag = np.diag(p)
    ua = _div(diag, p.sum(axis=1))
    pa = _div(diag, p_col)
    oa = float(diag.sum())
    ua_var = ua * (1 - ua) / dof  # eq. 6
    oa_var = float(np.nansum(W**2 * ua * (1 - ua) / dof)) + (np.nan if single.any() else 0.0)  # eq. 5
    # PA variance (Olofsson et al. 2013 eq. 7; 2014 eq. 7): N_.j estimated from the counts
    Nhat_j = (N_i[:, None] / np.where(n_i > 0, n_i, 1)[:, None] * n_ij).sum(axis=0)
    pa_var = np.full(q, np.nan)
    for j in range(q):
        t1 = N_i[j] ** 2 * (1 - pa[j]) ** 2 * ua[j] * (1 - ua[j]) / dof[j] if N_i[j] > 0 else 0.0
        t2 = sum(N_i[i] ** 2 * frac[i, j] * (1 - frac[i, j]) / dof[i] for i in range(q) if i != j and N_i[i] > 0)
        pa_var[j] = (t1 + pa[j] ** 2 * t2) / Nhat_j[j] ** 2 if Nhat_j[j] > 0 else np.nan
    idx = pd.Index(classes)
    S = lambda v, nm: pd.Series(np.asarray(v, dtype=np.float64), index=idx, name=nm)  # noqa: E731
    est = AreaEstimate(
        classes=classes, overall_accuracy=oa, overall_accuracy_se=math.sqrt(oa_var) if oa_var == oa_var else math.nan,
        users_accuracy=S(ua, "users_accuracy"), users_accuracy_se=S(np.sqrt(ua_var), "users_accuracy_se"),
        producers_accuracy=S(pa, "producers_accuracy"), producers_accuracy_se=S(np.sqrt(pa_var), "producers_accuracy_se"),
        area_proportion=S(p_col, "area_proportion"), area_proportion_se=S(np.sqrt(area_var), "area_proportion_se"),
        total=float(total), error_matrix=pd.DataFrame(p, index=pd.Index(classes, name="map"), columns=pd.Index(classes, name="reference")),
        n=int(n_ij.sum()), estimator="olofsson2014",
        users_accuracy_ci95_exact=_exact_intervals(np.diag(n_ij), n_i, idx),
    )
    est.not_estimable = _reasons(est, [c for c, s1 in zip(classes, single) if s1], "stratum (map class)")
    _small_strata(est, classes, n_i, np.diag(frac), W > 0, "stratum (map class)", per_class_ua=True)
    return est


def _small_strata(est: AreaEstimate, strata: list, n_h, correct_h, live, stratum_word: str, per_class_ua: bool = False) -> None:
    """Set `est.small_strata` to the strata with 2 to MIN_SAMPLE_SIZE - 1 sample units whose proportion correct
    `correct_h` (olofsson: the user's accuracy n_ii/n_i+) is exactly 0 or 1, log a warning naming them, and set
    `est.degenerate` to every SE that is 0 while it depends on a stratum with fewer than MIN_SAMPLE_SIZE units
    (a degenerate, zero-width normal-approximation interval). `per_class_ua`: strata are the map classes, so the
    SE of UA_c depends on stratum c only (olofsson); otherwise every SE depends on every stratum."""
    n_h, correct_h, live = np.asarray(n_h, float), np.asarray(correct_h, float), np.asarray(live, bool)
    small = {h: {"n": int(n), "proportion_correct": float(p)} for h, n, p, ok in zip(strata, n_h, correct_h, live)
             if ok and 2 <= n < MIN_SAMPLE_SIZE and p in (0.0, 1.0)}
    est.small_strata = small
    thin = [h for h, n, ok in zip(strata, n_h, live) if ok and 0 < n < MIN_SAMPLE_SIZE]
    if not thin:
        return
    why = (f"degenerate: the SE is 0 from {stratum_word} sample(s) of fewer than {MIN_SAMPLE_SIZE} units ("
           + ", ".join(f"{h}: {int(n)}" for h, n, ok in zip(strata, n_h, live) if ok and 0 < n < MIN_SAMPLE_SIZE)
           + ") whose proportions are exactly 0 or 1, so the normal-approximation 95 % interval has zero width: "
           "not certainty but too few sample units to estimate a variance (Olofsson et al. 2014: 50-100 per stratum)")
    zero = lambda v: v == 0  # noqa: E731  (NaN is not 0: not-estimable SEs are in est.not_estimable)
    if zero(est.overall_accuracy_se):
        est.degenerate[("overall_accuracy_se", None)] = why
    for c in est.classes:
        for measure in ("area_proportion_se", "producers_accuracy_se", "users_accuracy_se"):
            if measure == "users_accuracy_se" and per_class_ua and c not in thin:
                continue
            if zero(getattr(est, measure)[c]):
                est.degenerate[(measure, c)] = why
    if est.degenerate and not small:
        log.warning("%s: SEs of 0 (zero-width 95 %% intervals) from %s samples of fewer than %d units: %s; not certainty but "
                    "too few sample units to estimate a variance (fix: at least %d units per stratum, Olofsson et al. 2014)",
                    est.estimator, stratum_word, MIN_SAMPLE_SIZE,
                    ", ".join(k if c is None else f"{k}.{c}" for k, c in est.degenerate), MIN_SAMPLE_SIZE)
    if small:
        ci = est.users_accuracy_ci95_exact
        exact = "" if ci is None else ("; exact (Clopper-Pearson) 95 % interval of user's accuracy: " + ", ".join(
            f"{h} {_interval_text(ci.loc[h, 'lower'], ci.loc[h, 'upper'])}" for h in small))
        zeros = [k if c is None else f"{k}.{c}" for k, c in est.degenerate]
        what = "user's accuracy" if per_class_ua else "proportion correct"
        many = len(small) > 1
        log.warning("%s: %s %s hold%s fewer than %d sample units and a %s of exactly 0 or 1, so %s contribute%s no variance "
                    "(p(1-p)/(n-1) = 0): the SEs and 95 %% intervals of overall, user's and producer's accuracy and of the "
                    "areas understate the uncertainty%s%s; fix: sample at least %d units per stratum (Olofsson et al. 2014 "
                    "recommend 50-100), or report the exact interval", est.estimator,
                    stratum_word.replace("stratum", "strata").replace("class)", "classes)") if many else stratum_word,
                    ", ".join(f"{h} ({v['n']} units, {what} {v['proportion_correct']:g})" for h, v in small.items()),
                    "" if many else "s", MIN_SAMPLE_SIZE, what, "they" if many else "it", "" if many else "s", exact,
                    (f"; SEs of 0 (zero-width intervals): {', '.join(map(str, zeros))}" if zeros else ""), MIN_SAMPLE_SIZE)


def _reasons(est: AreaEstimate, single_strata: list, stratum_word: str) -> dict:
    """{(measure, class or None): reason} for every NaN estimate of `est`; `single_strata` hold one sample unit."""
    out = {}
    for c in est.classes:
        if est.users_accuracy[c] != est.users_accuracy[c]:
            out[("users_accuracy", c)] = out[("users_accuracy_se", c)] = f"no sample unit is mapped as {c}"
        if est.producers_accuracy[c] != est.producers_accuracy[c]:
            out[("producers_accuracy", c)] = out[("producers_accuracy_se", c)] = f"no sample unit has reference class {c}"
    if est.kappa != est.kappa and est.estimator.startswith("stehman"):
        m, r = est.error_matrix.sum(axis=1), est.error_matrix.sum(axis=0)
        in_map, in_ref = [c for c in est.classes if m[c] > 0], [c for c in est.classes if r[c] > 0]
        side, only = ("map", in_map) if len(in_map) <= 1 else ("reference", in_ref)
        why = (f"the {side} holds only the class {', '.join(map(str, only))}: kappa is 0 by construction (or 0/0) and its "
               "variance 0, so it is not estimable" if len(only) <= 1 else "chance agreement is 1: kappa is 0/0")
        out[("kappa", None)] = out[("kappa_se", None)] = why
    if single_strata:
        why = f"{stratum_word} {', '.join(map(str, single_strata[:10]))} holds a single sample unit: no variance estimate (needs >= 2)"
        out[("overall_accuracy_se", None)] = why
        for name in ("area_proportion_se", "users_accuracy_se", "producers_accuracy_se"):
            for c in est.classes:
                if getattr(est, name)[c] != getattr(est, name)[c]:
                    out.setdefault((name, c), why)
    return out


class _Strata:
    """A stratified sample: stratum index per unit, stratum sizes N_h, optional design weights w_k = 1/pi_k of the
    units within their stratum, and the stratified estimators of a total, its variance and a ratio of totals
    (Stehman 2014 eqs. 2-3, 25-27, with each stratum mean the Hajek mean sum_k w_k y_k / sum_k w_k, which is the
    plain mean for equal weights); f_h = n_h/N_h with `fpc`, else 0."""

    def __init__(self, hidx, N_h, fpc: bool = False, weights=None):
        self.hidx, self.N_h = np.asarray(hidx), np.asarray(N_h, dtype=np.float64)
        self.H = len(self.N_h)
        self.N = float(self.N_h.sum())
        self.n_h = np.bincount(self.hidx, minlength=self.H).astype(np.float64)
        self.f_h = (self.n_h / self.N_h) if fpc else np.zeros_like(self.N_h)
        w = np.ones(len(self.hidx)) if weights is None else np.asarray(weights, dtype=np.float64)
        # a_k = w_k / sum of w in k's stratum: the Hajek weights of the stratum mean (1/n_h when weights are equal)
        self.a = w / np.bincount(self.hidx, w, self.H)[self.hidx]

    def mean_var(self, y):
        """Per-stratum (Hajek) mean ybar_h = sum_k a_k y_k and the per-unit variance term s2_h, so that
        var(ybar_h) = s2_h / n_h: s2_h = n_h^2 / (n_h - 1) sum_k a_k^2 (y_k - ybar_h)^2 (the linearised variance of
        the ratio sum w y / sum w, with-replacement form); with equal weights s2_h is the sample variance (ddof 1).
        NaN for n_h < 2."""
        return self._moments(y, y)

    def _moments(self, y, x):
        y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
        my = np.bincount(self.hidx, self.a * y, self.H)
        mx = np.bincount(self.hidx, self.a * x, self.H)
        c = np.bincount(self.hidx, self.a**2 * (y - my[self.hidx]) * (x - mx[self.hidx]), self.H)
        nh = self.n_h
        return my, np.where(nh > 1, nh**2 * c / np.where(nh > 1, nh - 1, 1), np.nan)

    def cov(self, y, x):
        return self._moments(y, x)[1]

    def var_sum(self, terms):
        """sum_h N_h^2 (1 - f_h) term_h / n_h over sampled strata (NaN if any needed term is NaN)."""
        live = self.N_h > 0
        return float(np.sum((self.N_h**2 * (1 - self.f_h) * terms / np.where(self.n_h > 0, self.n_h, 1))[live]))

    def total(self, y):
        """(estimated total sum_h N_h ybar_h, per-stratum sample variances of y)."""
        mean, var = self.mean_var(y)
        return float(np.sum(self.N_h * mean)), var

    def ratio(self, y, x):
        """Ratio estimator R = Y/X with its variance (Stehman 2014 eqs. 26-27)."""
        Y, vy = self.total(y)
        X, vx = self.total(x)
        if X == 0:
            return math.nan, math.nan
        R = Y / X
        return R, self.var_sum(vy + R**2 * vx - 2 * R * self.cov(y, x)) / X**2


def _labelled(m: pd.Series, r: pd.Series) -> np.ndarray:
    """True for the units with both a map and a reference label (labels.is_missing); logs a warning with the count
    and positions of the others, which stehman leaves out."""
    miss_m, miss_r = m.map(is_missing).to_numpy(bool), r.map(is_missing).to_numpy(bool)
    drop = miss_m | miss_r
    if drop.any():
        units = ", ".join(str(i + 1) for i in np.flatnonzero(drop)[:10]) + (", ..." if drop.sum() > 10 else "")
        which = "map or reference" if miss_m.any() and miss_r.any() else ("map" if miss_m.any() else "reference")
        log.warning("samples: %d of %d sample units have no %s label (blank or NA; units %s in table order) and are left out; "
                    "the estimates use the %d labelled units (fix: label them, or remove those rows to silence this warning)",
                    int(drop.sum()), len(drop), which, units, int((~drop).sum()))
    return ~drop


def _check_codings(m: pd.Series, r: pd.Series) -> None:
    """DataError when the map or reference column writes classes both as numeric codes and as irrigated/not words
    (labels.mixed_coding, e.g. 0/1 with 'yes'): the words would become classes of their own."""
    for column, labels in (("map", m), ("reference", r)):
        mixed = mixed_coding(labels.astype(str).tolist())
        if mixed:
            numbers, words = mixed
            n_words = int(labels.astype(str).str.strip().isin(words).sum())
            raise DataError(f"column {column!r} mixes codes {numbers[:10]} with the words {words[:10]} ({n_words} units): each word "
                            "would be a class of its own", "samples", mixed_coding_fix(numbers, words))


def binary_meaning(label) -> int | None:
    """1 / 0 for a label of irrmap's binary vocabulary, read as `irrmap evaluate points` reads it: the codes
    BINARY_CODES ('0', '1') and the words labels.TRUE_WORDS / FALSE_WORDS (irrigated / not irrigated,
    non-irrigated, rainfed, yes / no, ...; any case, surrounding spaces ignored); None for any other label."""
    t = str(label).strip()
    return int(t) if t in BINARY_CODES else word_meaning(t)


def binary_recoding(*columns, what: str = "labels"):
    """The columns (label Series, as text) recoded to '0' / '1' when every non-missing label of all of them is of
    the binary vocabulary (binary_meaning) and one meaning is written in more than one way across them (map
    'not irrigated' against reference 'rainfed', or 0/1 against yes/no): evaluate points reads all these as 0/1,
    so scored as written they would be classes of their own and every unit of them an error. Returns the
    columns unchanged otherwise (one spelling per meaning: the labels already match). Logs the recoding at INFO."""
    labels = {str(v) for col in columns for v in col if not is_missing(v)}
    meaning = {v: binary_meaning(v) for v in labels}
    if not labels or any(m is None for m in meaning.values()):
        return columns
    spellings = {m: sorted(v for v, k in meaning.items() if k == m) for m in (0, 1)}
    if all(len(v) <= 1 for v in spellings.values()):
        return columns
    log.info("%s: read as irrmap evaluate points reads them: %s -> 1 (irrigated), %s -> 0 (not irrigated)", what,
             ", ".join(map(repr, spellings[1])) or "none", ", ".join(map(repr, spellings[0])) or "none")
    return tuple(pd.Series([v if is_missing(v) else str(meaning[str(v)]) for v in col], index=getattr(col, "index", None), dtype=object)
                 for col in columns)


def _kappa_linearised(st: _Strata, cells: np.ndarray, mm, rr, classes) -> tuple[float, float]:
    """Cohen's kappa of the estimated error matrix `cells` (proportions p_ij, rows map) and its variance by
    Taylor linearisation under the stratified design (Särndal, Swensson & Wretman 1992, sec. 5.5).

    kappa = (Po - Pe) / (1 - Pe), Po = sum_i p_ii, Pe = sum_i p_i+ p_+i. A unit with map class a and reference
    class b has the linearised value u = ([a = b] - Pe_ab (1 - kappa)) / (1 - Pe) with Pe_ab = p_+a + p_b+
    (the derivative of Pe with respect to p_ab); var(kappa) = var(sum_h N_h ubar_h / N). Under simple random
    sampling this equals the delta-method variance of Bishop, Fienberg & Holland (1975) times n / (n - 1)."""
    rows, cols = cells.sum(axis=1), cells.sum(axis=0)
    po, pe = float(np.trace(cells)), float(rows @ cols)
    if pe >= 1 or int((rows > 0).sum()) <= 1 or int((cols > 0).sum()) <= 1:  # one class in the map or the reference:
        return math.nan, math.nan  # kappa is 0 by construction (Po = Pe) with a variance of 0, not an estimate
    kappa = (po - pe) / (1 - pe)
    pos = {c: i for i, c in enumerate(classes)}
    a = np.array([pos[v] for v in mm])
    b = np.array([pos[v] for v in rr])
    u = ((a == b).astype(float) - (cols[a] + rows[b]) * (1 - kappa)) / (1 - pe)
    return kappa, st.var_sum(st.mean_var(u)[1]) / st.N**2


def stehman(strata, map_labels, ref_labels, stratum_sizes, *, classes=None, fpc: bool = False, weights=None) -> AreaEstimate:
    """Stratified estimator when the strata are not the map classes (Stehman 2014); one entry per sample unit.

    Units whose map or reference label is missing (blank, NA, NaN, ...: labels.MISSING_MARKERS) are left out with
    a warning giving their count (each stratum is then estimated from its labelled units); a column writing
    classes both as codes and as irrigated/not words (0/1 with 'yes') raises DataError (labels.mixed_coding).
    Without `classes`, map and reference labels wholly of the binary vocabulary are read as '0'/'1' when one
    meaning is written two ways (map 'not irrigated', reference 'rainfed'; binary_recoding), and so are the
    stratum labels of `strata` and `stratum_sizes` (DataError if two sizes then name one stratum);
    check_label_sets then refuses label sets coded differently.

    `weights`: each unit's design weight 1/pi_k when units within a stratum were drawn with unequal
    probabilities; each stratum mean is then the Hajek mean sum_k y_k/pi_k / sum_k 1/pi_k (with its linearised
    variance), so with N_h = sum_k 1/pi_k every estimate is the Hajek estimator sum_k y_k/pi_k / sum_k 1/pi_k.
    None: equal weights within each stratum (stratified random sampling).

    `stratum_sizes` maps each stratum to its size N_h (pixels or area); every sampled stratum needs a size > 0,
    and an entry labelled as a total (total, sum, all, ...: margins.is_total_label) that is the sum of the others
    is left out (InputError if it is not the sum);
    and unsampled strata with a size are an error (their area would be lost), as are map or reference labels
    outside `classes`. `fpc` applies (1 - n_h/N_h) to the variances (meaningful when N_h counts sample units,
    i.e. pixels).
    """
    s = pd.Series(np.asarray(strata, dtype=object)).astype(str)
    m = pd.Series(np.asarray(map_labels, dtype=object))
    r = pd.Series(np.asarray(ref_labels, dtype=object))
    if not (len(s) == len(m) == len(r)):
        raise DataError(f"{len(s)} strata, {len(m)} map and {len(r)} reference labels", "samples", "give one of each per sample unit")
    keep = _labelled(m, r)
    if not keep.all():
        s, m, r = (v[keep].reset_index(drop=True) for v in (s, m, r))
        if weights is not None and np.ndim(weights) == 1 and len(weights) == len(keep):
            weights = np.asarray(weights, dtype=np.float64)[keep]
    if len(s) == 0:
        raise DataError("no sample units" + ("" if keep.all() else " with both a map and a reference label"), "samples",
                        "give one row per sample unit with its stratum, map and reference label")
    _check_codings(m, r)
    if classes is None:
        m, r = binary_recoding(m, r, what="samples: map and reference labels")
    sizes = pd.Series(stratum_sizes, dtype=np.float64)
    sizes.index = sizes.index.map(str)
    sizes = drop_total_sizes(sizes, "strata sizes", "stratum")
    keys = sizes.index
    if classes is None:  # (callers that give the classes, e.g. design.design_accuracy, key their strata themselves)
        s, keys = binary_recoding(s, pd.Series(list(sizes.index), dtype=object), what="samples and strata sizes: stratum labels")
    if list(keys) != list(sizes.index):
        if pd.Index(keys).duplicated().any():
            raise DataError(f"the strata sizes name one stratum twice: {list(sizes.index)[:10]} read as {list(keys)[:10]} (binary labels, "
                            "as evaluate points reads them)", "strata sizes", "give one size per stratum")
        sizes.index = pd.Index(list(keys))
    unknown = sorted(set(s) - set(sizes.index))
    if unknown:
        raise DataError(f"strata {unknown[:10]} have no size", "strata sizes", "add a row (stratum, size) for each")
    empty = [h for h in sizes.index if h not in set(s) and sizes[h] > 0]
    if empty:
        raise DataError(f"strata {empty[:10]} have a size but no sample units", "samples",
                        "sample every stratum (their area cannot be estimated otherwise)")
    if not np.isfinite(sizes.to_numpy()).all() or (sizes < 0).any():
        raise DataError(f"stratum sizes must be non-negative numbers, got {sizes.to_dict()}", "strata sizes")
    sizeless = sorted(h for h in set(s) if sizes[h] == 0)
    if sizeless:
        raise DataError(f"strata {sizeless[:10]} have sample units but a size of 0", "strata sizes",
                        "give the size (pixels or area) of every sampled stratum")
    if fpc:
        n_h = s.value_counts()
        small = [(h, sizes[h], int(n_h[h])) for h in n_h.index if sizes[h] < n_h[h]]
        if small:
            raise DataError("with the finite population correction the sizes count sample units, but strata "
                            + ", ".join(f"{h} (size {v:g}, {n} units)" for h, v, n in small[:10]) + " hold more units than their size",
                            "strata sizes", "give each stratum's size in pixels (all pixels it holds), or leave out --fpc when sizes are areas")
    if classes is None:
        check_label_sets(m.tolist(), r.tolist())
        classes = sorted(set(m.tolist()) | set(r.tolist()), key=str)
    classes = list(classes)
    outside = sorted(set(m.tolist()) - set(classes), key=str), sorted(set(r.tolist()) - set(classes), key=str)
    if outside[0] or outside[1]:
        raise DataError(f"labels outside the classes {classes}: map {outside[0][:10]}, reference {outside[1][:10]} "
                        "(their area would be dropped)", "samples", "add them to the classes or recode them")
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (len(s),) or not np.isfinite(weights).all() or (weights <= 0).any():
            raise DataError(f"need one positive design weight (1/pi) per sample unit, got {len(weights)} for {len(s)} units",
                            "weights", "give every sample unit its inclusion probability in (0, 1]")
    strata_order = list(sizes.index)
    st = _Strata(s.map({h: i for i, h in enumerate(strata_order)}).to_numpy(), sizes.to_numpy(), fpc, weights)
    N, n_h = st.N, st.n_h
    total_est, var_sum, ratio = st.total, st.var_sum, st.ratio

    mm, rr = m.to_numpy(), r.to_numpy()
    correct = (mm == rr).astype(float)
    oa_total, oa_v = total_est(correct)
    oa, oa_var = oa_total / N, var_sum(oa_v) / N**2
    prop, prop_se, ua, ua_se, pa, pa_se = ([] for _ in range(6))
    for c in classes:
        yk = (rr == c).astype(float)
        t, v = total_est(yk)
        prop.append(t / N)
        prop_se.append(math.sqrt(var_sum(v)) / N)
        u, uv = ratio(correct * (mm == c), (mm == c).astype(float))
        ua.append(u)
        ua_se.append(math.sqrt(uv) if uv == uv and uv >= 0 else math.nan)
        pr, pv = ratio(correct * (rr == c), yk)
        pa.append(pr)
        pa_se.append(math.sqrt(pv) if pv == pv and pv >= 0 else math.nan)
    cells = np.array([[total_est(((mm == a) & (rr == b)).astype(float))[0] / N for b in classes] for a in classes])
    kappa, kappa_var = _kappa_linearised(st, cells, mm, rr, classes)
    idx = pd.Index(classes)
    S = lambda v, nm: pd.Series(np.asarray(v, dtype=np.float64), index=idx, name=nm)  # noqa: E731
    est = AreaEstimate(
        classes=classes, overall_accuracy=oa, overall_accuracy_se=math.sqrt(oa_var) if oa_var == oa_var else math.nan,
        users_accuracy=S(ua, "users_accuracy"), users_accuracy_se=S(ua_se, "users_accuracy_se"),
        producers_accuracy=S(pa, "producers_accuracy"), producers_accuracy_se=S(pa_se, "producers_accuracy_se"),
        area_proportion=S(prop, "area_proportion"), area_proportion_se=S(prop_se, "area_proportion_se"),
        total=float(N), error_matrix=pd.DataFrame(cells, index=pd.Index(classes, name="map"), columns=pd.Index(classes, name="reference")),
        n=int(len(s)), estimator="stehman2014" + ("+hajek" if weights is not None else "") + ("+fpc" if fpc else ""),
        kappa=kappa, kappa_se=math.sqrt(kappa_var) if kappa_var == kappa_var and kappa_var >= 0 else math.nan,
    )
    est.not_estimable = _reasons(est, [h for h, k in zip(strata_order, n_h) if k == 1], "stratum")
    _small_strata(est, strata_order, n_h, st.mean_var(correct)[0], sizes.to_numpy() > 0, "stratum")
    return est


#: irrmap's binary coding of map and reference labels (0 = not irrigated, 1 = irrigated; evaluation.workflow.CLASSES)
BINARY_CODES = frozenset({"0", "1"})


def check_label_sets(map_labels, ref_labels, where: str = "samples") -> None:
    """DataError when the map and reference labels cannot be the same classes written alike: no label in common
    (e.g. 1/2 against irrigated/rainfed, or 1 against 1.0 unnormalised), or labels that differ only by letter
    case (Irrigated against irrigated), or each column holding a label the other never does while either column
    is irrigation-coded: coded as BINARY_CODES, or holding a word of the binary vocabulary (labels.TRUE_WORDS /
    FALSE_WORDS). Reference coded 1/2 against a 0/1 map, or map irrigated / 'not irrigated' against reference
    irrigated / 'rain-fed', would score every unit of those classes as an error, so OA is silently wrong; the
    message names the labels found in each column and the recoding. (Columns written wholly in the binary
    vocabulary are read as 0/1 before this check, see binary_recoding.) Multi-class labels outside that
    vocabulary that each hold a class the other lacks only log a WARNING naming both sets: in a small sample a
    class may be mapped in no unit with that reference class and vice versa (e.g. map 1/2 against reference 2/3)."""
    m, r = {str(v) for v in map_labels}, {str(v) for v in ref_labels}
    if not m or not r:
        return
    fold = lambda labels: {v.casefold() for v in labels}  # noqa: E731
    case_only = sorted({v for v in m ^ r if v.casefold() in (fold(m) & fold(r))})
    if case_only:
        raise DataError(f"map and reference labels differ only by letter case: {case_only[:10]} (map {sorted(m)[:10]}, reference "
                        f"{sorted(r)[:10]})", where, "write each class the same way in the map and reference columns")
    if not m & r:
        raise DataError(f"the map and reference labels share no class: map {sorted(m)[:10]}, reference {sorted(r)[:10]}; every "
                        "sample unit would count as an error", where,
                        "write the classes the same way in both columns (the same codes or words for each class)")
    only_m, only_r = sorted(m - r), sorted(r - m)
    if not (only_m and only_r):
        return
    from collections import Counter

    found = lambda labels: ", ".join(f"{k!r} ({n:,})" for k, n in sorted(Counter(map(str, labels)).items())[:20])  # noqa: E731
    words = sorted(v for v in m | r if word_meaning(v) is not None)
    if m <= BINARY_CODES or r <= BINARY_CODES or words:
        from irrmap.evaluation.labels import guess_meaning

        odd = [v for v in only_m + only_r if binary_meaning(v) is None]
        guess = {v: guess_meaning(v) for v in odd}
        how = ("recode them to 0 / 1 in both columns (irrmap reads 0/1, irrigated / not irrigated, rainfed, yes / no alike), "
               "e.g. " + ", ".join(f"{v!r} -> {g}" for v, g in guess.items() if g in (0, 1))
               if odd and all(g in (0, 1) for g in guess.values()) else
               "recode the reference column to the map's class codes (e.g. 2 -> 0 when 2 means not irrigated), so the same "
               "class has the same code in both columns")
        raise DataError(f"the map and reference columns are coded differently: column 'reference' holds {only_r[:10]}, which no "
                        f"sample unit is mapped as, and column 'map' holds {only_m[:10]}, which no reference label is (values found: "
                        f"map {found(map_labels)}; reference {found(ref_labels)}); scored as they are, every unit of those classes "
                        "would count as an error (e.g. reference 1 = irrigated / 2 = not against a 0/1 map)", where, how)
    log.warning("%s: column 'map' holds %s, which no reference label is, and column 'reference' holds %s, which no unit is "
                "mapped as (values found: map %s; reference %s); scored as written (fine when those classes are merely "
                "absent from one column of the sample; fix: recode one column if they are one class written two ways)",
                where, only_m[:10], only_r[:10], found(map_labels), found(ref_labels))


def sample_size(expected_users_accuracy, weights, target_oa_se: float = 0.01) -> int:
    """Total sample size n = (sum_i W_i S_i / S(O))^2 with S_i = sqrt(U_i (1 - U_i)) (Olofsson 2014 eq. 13),
    rounded up; `weights` are the mapped area proportions W_i (normalised here). Raises DataError when n < 2
    (accuracies of 0 or 1 carry no variance, so no sample size follows from them)."""
    U = np.asarray(expected_users_accuracy, dtype=np.float64)
    W = np.asarray(weights, dtype=np.float64)
    if U.shape != W.shape or np.any((U < 0) | (U > 1)) or np.any(W < 0) or W.sum() <= 0:
        raise DataError("need one expected user's accuracy in [0, 1] and one non-negative weight per class", "sample size")
    if target_oa_se <= 0:
        raise DataError(f"target SE must be positive, got {target_oa_se}", "target_oa_se")
    W = W / W.sum()
    n = int(math.ceil((np.sum(W * np.sqrt(U * (1 - U))) / target_oa_se) ** 2 - 1e-9))
    if n < 2:
        raise DataError(f"the expected accuracies {U.tolist()} give a sample size of {n}: no variance could be estimated",
                        "sample size", "conjecture user's accuracies strictly between 0 and 1 (e.g. 0.9, not 1), or lower the target SE")
    return n


def allocate(n: int, weights, minimum: int = 0) -> np.ndarray:
    """Split n sample units over strata in proportion to `weights`, raising small strata to `minimum` (taken
    from the largest strata); largest-remainder rounding, so the parts sum to n. Raises DataError when a stratum
    with weight > 0 would get fewer than 2 units (no variance estimate; with 0, no area estimate)."""
    W = np.asarray(weights, dtype=np.float64)
    if W.ndim != 1 or not np.isfinite(W).all() or (W < 0).any() or W.sum() <= 0:
        raise DataError(f"allocation weights must be non-negative with a positive sum, got {W.tolist()}", "allocation")
    W = W / W.sum()
    if minimum * len(W) > n:
        raise DataError(f"{len(W)} strata x minimum {minimum} exceeds n = {n}", "allocation", "lower the minimum or raise n")
    fixed = np.zeros(len(W), bool)
    alloc = W * n
    for _ in range(len(W)):
        low = (~fixed) & (alloc < minimum)
        if not low.any():
            break
        fixed |= low
        rest = n - minimum * fixed.sum()
        alloc = np.where(fixed, minimum, W / W[~fixed].sum() * rest)
    out = np.floor(alloc).astype(int)
    order = np.argsort(-(alloc - out), kind="stable")
    out[order[: n - out.sum()]] += 1
    thin = np.flatnonzero((W > 0) & (out < 2))
    if thin.size:
        raise DataError(f"strata {thin.tolist()[:10]} get {out[thin].tolist()[:10]} sample units: with fewer than 2 their "
                        "variance (with 0 their area) cannot be estimated", "allocation",
                        "raise the minimum per stratum (--minimum; Olofsson et al. 2014 suggest 50-100) or n")
    return out


__all__ = ["AreaEstimate", "allocate", "binary_meaning", "binary_recoding", "check_label_sets", "olofsson", "sample_size", "stehman"]
