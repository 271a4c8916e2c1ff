"""Confusion matrix and the accuracy measures read from it: OA, Cohen's kappa with its standard error and
95 % interval, user's and producer's accuracy and F1 per class, and the exact (Clopper-Pearson) 95 % interval of
OA, UA and PA beside the normal-approximation ones.

Small samples: the normal-approximation SE of a proportion p from n units, sqrt(p(1-p)/(n-1)), is 0 when p is
exactly 0 or 1, and so is the delta-method SE of kappa when OA is 1; the 95 % interval then has zero width, a
false certainty (3 of 3 points correct gives OA 1 with SE 0, while the exact interval is [0.292, 1]). Such an SE
from fewer than MIN_SAMPLE_SIZE units is logged as a warning and listed by `Accuracy.degenerate()` (JSON:
`degenerate_intervals`) as a degenerate interval, with the exact interval in the reason; the numbers themselves are not changed.

Orientation everywhere in `evaluation`: rows are the MAP class, columns the REFERENCE class (Congalton &
Green 2009; Olofsson et al. 2014). These measures treat the sample as a simple random sample; for a
stratified sample use `evaluation.area_estimation`, which weights by the strata.
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irrmap.core.errors import DataError

Z95 = 1.959963984540054  # standard normal quantile for a two-sided 95 % interval
# the nodata value of irrmap's class maps (mapping/class.tif, mapping.predict and mapping.filter: 255 = no cropland
# or not predicted): a label of a pixel without a class, not a third class
NODATA_LABEL = 255
log = logging.getLogger(__name__)

#: Sample size below which a normal-approximation SE of 0 (a proportion of exactly 0 or 1) is reported as a
#: degenerate interval. Source: the rule of thumb of at least 50 sample units per map class (Congalton & Green
#: 2009, Assessing the Accuracy of Remotely Sensed Data, 2nd ed., ch. 5, sample size) which Olofsson et al. (2014,
#: Remote Sens. Environ. 148:42-57, sec. 5.1.2, sample allocation) take up as 50-100 sample units per stratum
#: (map class). The Wald interval p +- z sqrt(p(1-p)/n) has zero width at p = 0 or 1 for any n (Brown, Cai &
#: DasGupta 2001, Statist. Sci. 16:101-133); below this size the exact interval is wide enough (3 of 3 correct:
#: [0.292, 1]; 49 of 49: [0.927, 1]) that a zero width misstates the precision.
MIN_SAMPLE_SIZE = 50


def clopper_pearson(k, n, confidence_level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper & Pearson 1934, Biometrika 26:404-413) interval of the binomial proportion k/n, by
    scipy.stats.binomtest(k, n).proportion_ci(confidence_level, method='exact'). (NaN, NaN) when n is 0 or when k
    and n are not whole numbers (a weighted matrix: the interval needs counts). For k = n it is
    [(alpha/2)^(1/n), 1], alpha = 1 - confidence_level."""
    k, n = float(k), float(n)
    if not (n > 0 and 0 <= k <= n and k.is_integer() and n.is_integer()):
        return math.nan, math.nan
    from scipy.stats import binomtest

    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence_level, method="exact")
    return float(ci.low), float(ci.high)


def _exact_intervals(num, den, index) -> pd.DataFrame:
    """Clopper-Pearson 95 % bounds (columns lower, upper) of num/den per class."""
    bounds = [clopper_pearson(k, m) for k, m in zip(np.asarray(num, float), np.asarray(den, float))]
    return pd.DataFrame(bounds if bounds else np.empty((0, 2)), index=index, columns=["lower", "upper"], dtype=np.float64)


def _interval_text(lo: float, hi: float) -> str:
    return f"[{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else "not computable (weighted counts)"


def _labels(values, side: str):
    """(1-D array of labels, mask of missing ones) of one side: a numpy masked array's mask, None and NaN (pd.isna)
    are missing. DataError for labels that are not one per sample (0-D or 2-D and more)."""
    mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else None
    a = np.asarray(values.data if isinstance(values, np.ma.MaskedArray) else
                   values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else values)
    if a.ndim != 1:
        raise DataError(f"the {side} labels are {a.ndim}-D (shape {a.shape}); labels are one per sample (1-D)", f"{side} labels",
                        "pass one label per sample: sample the map at the reference points, or flatten both arrays "
                        "(.ravel()) when they are co-registered rasters")
    missing = np.asarray(pd.isna(a), bool) if a.dtype.kind in "fcOUSmM" else np.zeros(a.shape, bool)
    if mask is not None:
        missing = missing | mask.reshape(a.shape)
    return a, missing, (mask.reshape(a.shape) if mask is not None else np.zeros(a.shape, bool))


def _kind(v) -> str:
    if isinstance(v, (str, np.str_)):
        return "text"
    if isinstance(v, (numbers.Number, np.bool_, np.number)):
        return "numbers"
    return type(v).__name__


def _nodata_values(nodata) -> list:
    """`nodata` (None, one label, or a list/tuple/set/array of labels) as a list of labels."""
    if nodata is None:
        return []
    if isinstance(nodata, (str, bytes, numbers.Number, np.generic)):
        return [nodata.item() if isinstance(nodata, np.generic) else nodata]
    return [v.item() if isinstance(v, np.generic) else v for v in np.asarray(nodata, dtype=object).ravel().tolist()]


def _equals_label(a: np.ndarray, v) -> np.ndarray:
    """Mask of the elements of label array `a` equal to label `v` of the same kind (a number never equals text,
    and True/False are not the numbers 1/0 here)."""
    kind_v = _kind(v)
    if isinstance(v, (bool, np.bool_)):
        return (a == v) if a.dtype.kind == "b" else np.array([isinstance(x, (bool, np.bool_)) and x == v for x in a.tolist()], bool) \
            if a.dtype.kind == "O" else np.zeros(a.shape, bool)
    if a.dtype.kind in "iuf" and kind_v == "numbers":
        return np.asarray(a == v, bool)
    if a.dtype.kind in "US" and kind_v == "text":
        return np.asarray(a == v, bool)
    if a.dtype.kind == "O":
        return np.array([_kind(x) == kind_v and not isinstance(x, (bool, np.bool_)) and x == v for x in a.tolist()], bool)
    return np.zeros(a.shape, bool)


def paired_labels(map_labels, ref_labels, classes=None, *extra, nodata=None):
    """(map labels, reference labels, [each array of `extra` on the same rows], dropped) of the pairs that hold two labels.

    nodata: a label, or a list of labels, that marks a sample without a class on either side (e.g. -9999, the nodata
    of the raster the map labels were sampled from): those pairs are left out too (counted in dropped["nodata"],
    present only when `nodata` is given), even when `classes` lists the value.

    Pairing: two pandas Series are paired by their index (the reference is reordered to the map's index when both
    hold the same labels in another order); DataError when the indexes differ or repeat. Anything else is paired
    by position. Dropped, and counted in `dropped` ({"masked", "missing", "nodata_255"}: pairs left out for each
    reason, first reason counted): pairs where either side is masked (numpy masked array), missing (None, NaN, NA)
    or, unless `classes` lists it, NODATA_LABEL (255, the nodata of irrmap's class maps: a pixel without a class,
    which kept as a label would be a third class and lower kappa). DataError for labels that are not 1-D, sides of
    different length, or numbers on one side and text on the other (1 never equals "1")."""
    if isinstance(map_labels, pd.Series) and isinstance(ref_labels, pd.Series) and not map_labels.index.equals(ref_labels.index):
        mi, ri = map_labels.index, ref_labels.index
        if mi.has_duplicates or ri.has_duplicates:
            raise DataError("the map and reference Series have different indexes, and one repeats index labels, so they cannot "
                            "be paired by index", "labels", "give both Series the same index (the sample id), or pass arrays "
                            "(.to_numpy()) to pair them by position")
        only_map, only_ref = mi.difference(ri), ri.difference(mi)
        if len(only_map) or len(only_ref):
            raise DataError(f"the map and reference Series have different indexes: {len(only_map)} map labels have no reference "
                            f"with their index (e.g. {list(only_map[:3])}), {len(only_ref)} references no map label (e.g. "
                            f"{list(only_ref[:3])}); Series are paired by index", "labels",
                            "index both by the sample id, or pass arrays (.to_numpy()) to pair them by position")
        ref_labels = ref_labels.reindex(mi)
    m, m_missing, m_masked = _labels(map_labels, "map")
    r, r_missing, r_masked = _labels(ref_labels, "reference")
    if m.shape != r.shape:
        raise DataError(f"{m.size} map labels but {r.size} reference labels", "labels", "pass one map and one reference label per sample")
    extra = [None if e is None else np.asarray(e) for e in extra]
    masked = m_masked | r_masked
    missing = (m_missing | r_missing) & ~masked
    is255 = np.zeros(m.shape, bool)
    if classes is None or not any(_kind(c) == "numbers" and c == NODATA_LABEL for c in classes):
        for a in (m, r):
            if a.dtype.kind in "iuf":
                is255 |= a == NODATA_LABEL
            elif a.dtype.kind == "O":
                is255 |= np.array([_kind(v) == "numbers" and not isinstance(v, (bool, np.bool_)) and v == NODATA_LABEL
                                   for v in a.tolist()], bool)
        is255 &= ~(masked | missing)
    given = np.zeros(m.shape, bool)
    for v in _nodata_values(nodata):
        for a in (m, r):
            given |= _equals_label(a, v)
    given &= ~(masked | missing | is255)
    drop = masked | missing | is255 | given
    dropped = {"masked": int(masked.sum()), "missing": int(missing.sum()), "nodata_255": int(is255.sum())}
    if nodata is not None:
        dropped["nodata"] = int(given.sum())
    if drop.any():
        keep = ~drop
        m, r = m[keep], r[keep]
        extra = [None if e is None else e[keep] for e in extra]
        log.warning("accuracy: %d of %d sample pairs left out (%s)", int(drop.sum()), drop.size,
                    ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in dropped.items() if v))
    kinds = {side: {_kind(v) for v in set(a.tolist())} if a.dtype.kind == "O" else
             ({"text"} if a.dtype.kind in "US" else {"numbers"} if a.dtype.kind in "biuf" else {a.dtype.name})
             for side, a in (("map", m), ("reference", r)) if a.size}
    found = set().union(*kinds.values()) if kinds else set()
    if len(found) > 1:
        raise _mixed_kinds_error(m, r, kinds)
    return m, r, extra, dropped


def _examples(a: np.ndarray, k: int = 3) -> list:
    """Up to `k` distinct labels of `a` (sorted when they sort), for messages."""
    seen = list(dict.fromkeys(a.tolist()))
    try:
        seen = sorted(seen)
    except TypeError:
        pass
    return seen[:k]


def _mixed_kinds_error(m: np.ndarray, r: np.ndarray, kinds: dict) -> DataError:
    """The DataError for labels of different kinds (numbers on one side, text on the other), naming examples of
    each side's labels (as they are), and a fix that fits them."""
    def said(side, a):
        ex = _examples(a)
        more = ", ..." if len(set(a.tolist())) > len(ex) else ""
        if not a.size:
            return f"no {side} labels"
        return f"{side} labels are {' and '.join(sorted(kinds.get(side, ())))} (e.g. {', '.join(repr(v) for v in ex)}{more})"

    text_side = next((side for side, k in kinds.items() if k == {"text"}), None)
    if text_side is not None:
        a = m if text_side == "map" else r
        values = list(dict.fromkeys(a.tolist()))

        def is_number(t):
            try:
                float(t)
                return True
            except (TypeError, ValueError):
                return False

        var = "map" if text_side == "map" else "ref"
        if all(is_number(v) for v in values):
            fix = f"the {text_side} labels are numbers written as text: convert them, e.g. {var}.astype(int)"
        else:
            codes = ", ".join(f"{v!r}: CODE" for v in values[:4]) + (", ..." if len(values) > 4 else "")
            fix = (f"recode the {text_side} labels to the other side's class codes, e.g. pd.Series({var}).map({{{codes}}}), "
                   "or the other side to the same names")
    else:
        fix = "recode both sides to one kind, e.g. map.astype(int) and ref.astype(int), or both to text"
    return DataError(f"labels mix kinds: {said('map', m)}, {said('reference', r)}; a number never equals a text label", "labels",
                     fix)


def _warn_one_sided(m: np.ndarray, r: np.ndarray) -> list:
    """Warn about every class that occurs in the map labels only or in the reference labels only (a nodata code such
    as -9999 kept as a label does: it becomes a class that is always wrong and lowers every measure). Returns the
    [(class, count, side)] warned about; nothing for a matrix where every class occurs on both sides."""
    out = []
    in_m, in_r = pd.Series(m.tolist(), dtype=object).value_counts(), pd.Series(r.tolist(), dtype=object).value_counts()
    for side, other, counts, others in (("map", "reference", in_m, in_r), ("reference", "map", in_r, in_m)):
        for c, k in counts.items():
            if c not in others.index:
                out.append((c, int(k), side))
                log.warning("accuracy: class %r occurs in the %s labels only (%d of %d pairs), never in the %s labels; if %r "
                            "is a nodata code (no class), those pairs count as wrong and lower every measure: pass "
                            "nodata=%r (or drop those points); if it is a real class, pass classes=[...] listing it to "
                            "confirm", c, side, int(k), m.size, other, c, c)
    return out


def confusion_matrix(map_labels, ref_labels, classes=None, weights=None, nodata=None) -> pd.DataFrame:
    """Counts (or summed `weights`) of every (map, reference) pair; rows map class, columns reference class.

    `classes` fixes the order and includes classes that never occur; labels outside it raise DataError. Labels are
    paired and cleaned by paired_labels: Series by index, masked / missing / 255 / `nodata` pairs left out.
    """
    m, r, (weights,), _ = paired_labels(map_labels, ref_labels, classes, weights, nodata=nodata)
    if classes is None:
        classes = sorted(set(m.tolist()) | set(r.tolist()))
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    try:
        mi = np.array([index[v] for v in m.tolist()], dtype=np.int64)
        ri = np.array([index[v] for v in r.tolist()], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"label {exc.args[0]!r} is not one of the classes {classes}", "labels", f"add it to the classes, recode it, or, if it marks a sample without a class (nodata), "
                        f"pass nodata={exc.args[0]!r} to leave those pairs out") from None
    q = len(classes)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    counts = np.bincount(mi * q + ri, weights=w, minlength=q * q).reshape(q, q)
    return pd.DataFrame(counts, index=pd.Index(classes, name="map"), columns=pd.Index(classes, name="reference"))


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def columns_as_rows(matrix):
    """A labelled count matrix (DataFrame) with its columns in the order of its rows when they hold the same labels in
    another order; anything else as it is. The diagonal (agreement) is read by position, so a matrix built with rows
    [0, 1] and columns [1, 0] (e.g. from two value_counts or a crosstab of differently sorted labels) counted each
    class's disagreement as agreement."""
    if isinstance(matrix, pd.DataFrame) and list(matrix.columns) != list(matrix.index) \
            and len(matrix.columns) == len(matrix.index) and set(matrix.columns) == set(matrix.index):
        return matrix.reindex(columns=matrix.index)
    return matrix


def kappa_variance(matrix) -> float:
    """Large-sample (delta-method) variance of Cohen's kappa under multinomial sampling.

    The formula of Bishop, Fienberg & Holland (1975) as given by Congalton & Green (2009, eq. 5.x):
    var = 1/n [t1(1-t1)/(1-t2)^2 + 2(1-t1)(2 t1 t2 - t3)/(1-t2)^3 + (1-t1)^2 (t4 - 4 t2^2)/(1-t2)^4] with
    t1 = sum n_ii / n, t2 = sum n_i+ n_+i / n^2, t3 = sum n_ii (n_i+ + n_+i) / n^2,
    t4 = sum_ij n_ij (n_j+ + n_+i)^2 / n^3.
    """
    x = np.asarray(columns_as_rows(matrix), dtype=np.float64)
    n = x.sum()
    if n <= 0:
        return math.nan
    rows, cols = x.sum(axis=1), x.sum(axis=0)
    t1 = np.trace(x) / n
    t2 = float(rows @ cols) / n**2
    t3 = float(np.diag(x) @ (rows + cols)) / n**2
    t4 = float((x * (rows[None, :] + cols[:, None]) ** 2).sum()) / n**3
    if t2 >= 1:
        return math.nan
    return float((t1 * (1 - t1) / (1 - t2) ** 2 + 2 * (1 - t1) * (2 * t1 * t2 - t3) / (1 - t2) ** 3
                  + (1 - t1) ** 2 * (t4 - 4 * t2**2) / (1 - t2) ** 4) / n)


@dataclass
class Accuracy:
    """Accuracy measures of one confusion matrix (rows map, columns reference); NaN where a measure cannot be
    estimated, with the reason in `not_estimable()` (never a silent default). Kappa, its SE and interval are
    not estimable when the map or the reference holds a single class (kappa would be 0 with SE 0 whatever
    the agreement).

    Beside the normal-approximation intervals, `overall_accuracy_ci95_exact` and the per-class
    `users_accuracy_ci95_exact` / `producers_accuracy_ci95_exact` (columns lower, upper) are the exact
    Clopper-Pearson 95 % intervals (`clopper_pearson`; NaN for weighted, non-integer counts). An SE of 0 from
    fewer than MIN_SAMPLE_SIZE units (OA exactly 0 or 1) is a degenerate interval: `degenerate()` names it with the
    reason (to_dict: 'degenerate_intervals'; the value stays 0) and accuracy_from_matrix logs a warning."""

    matrix: pd.DataFrame
    n: int
    overall_accuracy: float
    overall_accuracy_se: float
    kappa: float
    kappa_se: float
    kappa_ci95: tuple[float, float]  # normal approximation, clipped to kappa's range [-1, 1]; NaN when kappa is undefined
    users_accuracy: pd.Series
    producers_accuracy: pd.Series
    f1: pd.Series
    extra: dict = field(default_factory=dict)
    # normal approximation OA +- Z95 SE, clipped to [0, 1]
    overall_accuracy_ci95: tuple[float, float] = (math.nan, math.nan)
    # exact Clopper-Pearson 95 % interval of OA (clopper_pearson)
    overall_accuracy_ci95_exact: tuple[float, float] = (math.nan, math.nan)
    users_accuracy_ci95_exact: pd.DataFrame | None = None  # per class, columns lower, upper (Clopper-Pearson)
    producers_accuracy_ci95_exact: pd.DataFrame | None = None

    @property
    def classes(self) -> list:
        return list(self.matrix.index)

    def degenerate(self) -> dict[str, str]:
        """{measure: reason} for every SE (and its interval) that is 0 only because a proportion is exactly 0 or 1
        in a sample of fewer than MIN_SAMPLE_SIZE units: the normal-approximation interval then has zero width.
        The reason gives the exact Clopper-Pearson 95 % interval of OA. Empty otherwise."""
        if not self.n < MIN_SAMPLE_SIZE:
            return {}
        out = {}
        oa = self.overall_accuracy
        lo, hi = self.overall_accuracy_ci95_exact
        exact = f"the exact (Clopper-Pearson) 95 % interval of overall accuracy is {_interval_text(lo, hi)}"
        if oa in (0.0, 1.0) and self.overall_accuracy_se == 0:
            out["overall_accuracy_se"] = (
                f"degenerate: overall accuracy is exactly {oa:g} from {self.n} sample units (fewer than {MIN_SAMPLE_SIZE}), so "
                f"its normal-approximation SE sqrt(p(1-p)/(n-1)) is 0 and the interval has zero width; {exact}")
        if oa in (0.0, 1.0) and self.kappa == self.kappa and self.kappa_se == self.kappa_se and self.kappa_se <= 1e-12:
            why = (f"degenerate: kappa is {self.kappa:g} with a delta-method SE of 0 from {self.n} sample units (fewer than "
                   f"{MIN_SAMPLE_SIZE}; overall accuracy {oa:g}), so its normal-approximation interval has zero width; {exact}")
            out.update(kappa_se=why, kappa_ci95=why)
        return out

    def not_estimable(self, class_names: dict | None = None) -> dict[str, str]:
        """{measure: reason} for every measure that is NaN; per-class measures are keyed 'users_accuracy.CLASS'.
        (An SE of 0 from too small a sample is a number, not NaN: see `degenerate`.)"""
        name = (lambda c: str(class_names.get(c, c))) if class_names else str
        x = self.matrix.to_numpy(dtype=np.float64)
        out = {}
        if self.n < 2:
            out["overall_accuracy_se"] = f"{self.n} sample unit: a variance needs at least 2"
        if self.kappa != self.kappa:
            present = [name(c) for c, r, k in zip(self.classes, x.sum(axis=1), x.sum(axis=0)) if r + k > 0]
            in_map = [name(c) for c, r in zip(self.classes, x.sum(axis=1)) if r > 0]
            in_ref = [name(c) for c, k in zip(self.classes, x.sum(axis=0)) if k > 0]
            if len(present) == 1:
                why = f"map and reference hold only the class {', '.join(present)}: chance agreement is 1 and kappa is 0/0"
            elif len(in_map) == 1 or len(in_ref) == 1:
                side, only = ("map", in_map[0]) if len(in_map) == 1 else ("reference", in_ref[0])
                why = (f"the {side} holds only the class {only}: chance agreement then equals observed agreement, so kappa is 0 "
                       "whatever the accuracy and its delta-method variance collapses to 0")
            else:
                why = "chance agreement is 1: kappa is 0/0"
            out.update(kappa=why, kappa_se=why, kappa_ci95=why)
        elif self.kappa_se != self.kappa_se:
            why = "the delta-method variance of kappa is not a non-negative number for this matrix"
            out.update(kappa_se=why, kappa_ci95=why)
        for c, r, k in zip(self.classes, x.sum(axis=1), x.sum(axis=0)):
            if r == 0:
                out[f"users_accuracy.{name(c)}"] = f"no sample unit is mapped as {name(c)}"
            if k == 0:
                out[f"producers_accuracy.{name(c)}"] = f"no sample unit has reference class {name(c)}"
            if r + k == 0:
                out[f"f1.{name(c)}"] = f"{name(c)} occurs in neither the map nor the reference labels"
        return out

    def to_dict(self, class_names: dict | None = None) -> dict:
        """A JSON-able dict (NaN becomes None, and `not_estimable` says why); per-class values keyed by class name."""
        name = (lambda c: str(class_names.get(c, c))) if class_names else str
        per = lambda s: {name(k): _clean(v) for k, v in s.items()}  # noqa: E731
        bounds = lambda df: {} if df is None else {name(c): [_clean(lo), _clean(hi)]  # noqa: E731
                                                   for c, lo, hi in zip(df.index, df["lower"], df["upper"])}
        return {
            "n": int(self.n),
            "classes": [name(c) for c in self.classes],
            "overall_accuracy": _clean(self.overall_accuracy),
            "overall_accuracy_se": _clean(self.overall_accuracy_se),
            "kappa": _clean(self.kappa),
            "kappa_se": _clean(self.kappa_se),
            "kappa_ci95": [_clean(v) for v in self.kappa_ci95],
            "overall_accuracy_ci95": [_clean(v) for v in self.overall_accuracy_ci95],
            "overall_accuracy_ci95_exact": [_clean(v) for v in self.overall_accuracy_ci95_exact],
            "users_accuracy": per(self.users_accuracy),
            "producers_accuracy": per(self.producers_accuracy),
            "users_accuracy_ci95_exact": bounds(self.users_accuracy_ci95_exact),
            "producers_accuracy_ci95_exact": bounds(self.producers_accuracy_ci95_exact),
            "interval_methods": {"overall_accuracy_ci95": "normal approximation, clipped to [0, 1]",
                                 "kappa_ci95": "normal approximation (delta-method SE), clipped to [-1, 1]",
                                 "*_ci95_exact": "Clopper-Pearson exact binomial"},
            "f1": per(self.f1),
            "confusion_matrix": [[_clean(v, integer=True) for v in row] for row in self.matrix.to_numpy().tolist()],
            "confusion_matrix_orientation": "rows = map class, columns = reference class",
            "not_estimable": self.not_estimable(class_names),
            "degenerate_intervals": self.degenerate(),
            "min_sample_size": MIN_SAMPLE_SIZE,
            **self.extra,
        }

    def table(self, class_names: dict | None = None) -> pd.DataFrame:
        """Per-class table: class, n_map, n_reference, users_accuracy, producers_accuracy, f1."""
        x = self.matrix.to_numpy()
        return pd.DataFrame({
            "class": [str((class_names or {}).get(c, c)) for c in self.classes],
            "n_map": x.sum(axis=1), "n_reference": x.sum(axis=0),
            "users_accuracy": self.users_accuracy.values, "producers_accuracy": self.producers_accuracy.values,
            "f1": self.f1.values,
        })


def _clean(v, integer: bool = False):
    if v is None:
        return None
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return None
    return int(round(v)) if integer and v.is_integer() else v


def accuracy_from_matrix(matrix) -> Accuracy:
    """All measures from a count matrix (DataFrame or array; rows map, columns reference).

    Raises DataError for a matrix that is not square, holds negative counts or no sample unit at all."""
    matrix = columns_as_rows(matrix)  # a labelled matrix's columns in its rows' order: the diagonal is read by position
    if not isinstance(matrix, pd.DataFrame):
        arr = np.asarray(matrix, dtype=np.float64)
        matrix = pd.DataFrame(arr, index=pd.Index(range(arr.shape[0]), name="map"), columns=pd.Index(range(arr.shape[1]), name="reference"))
    x = matrix.to_numpy(dtype=np.float64)
    if x.ndim != 2 or x.shape[0] != x.shape[1]:
        raise DataError(f"a confusion matrix must be square, got {x.shape}", "matrix", "use the same classes for rows and columns")
    if not np.isfinite(x).all() or (x < 0).any():
        raise DataError("a confusion matrix holds non-negative counts only (no empty or negative cells)", "matrix")
    n = x.sum()
    if n <= 0:
        raise DataError("the confusion matrix holds no sample units: no accuracy can be estimated", "matrix",
                        "give at least one sample unit with a map and a reference label")
    rows, cols, diag = x.sum(axis=1), x.sum(axis=0), np.diag(x)
    oa = float(diag.sum() / n)
    oa_se = math.sqrt(oa * (1 - oa) / (n - 1)) if n > 1 else math.nan
    pe = float(rows @ cols) / n**2
    # one class only in the map or in the reference: p_o = p_e, so kappa is 0 by construction with a variance of 0
    # (not an estimate of agreement beyond chance): not estimable, as when both hold one class (0/0)
    single = int((rows > 0).sum()) <= 1 or int((cols > 0).sum()) <= 1
    kappa = (oa - pe) / (1 - pe) if pe < 1 and not single else math.nan
    var = kappa_variance(x) if kappa == kappa else math.nan
    kse = math.sqrt(var) if var == var and var >= 0 else math.nan
    ci = (max(-1.0, kappa - Z95 * kse), min(1.0, kappa + Z95 * kse)) if kse == kse else (math.nan, math.nan)
    ua = _ratio(diag, rows)
    pa = _ratio(diag, cols)
    f1 = _ratio(2 * diag, rows + cols)  # = 2 UA PA / (UA + PA), defined even when one of them is 0
    idx = matrix.index
    acc = Accuracy(
        matrix=matrix, n=int(round(n)), overall_accuracy=oa, overall_accuracy_se=oa_se, kappa=kappa, kappa_se=kse,
        kappa_ci95=ci,
        users_accuracy=pd.Series(ua, index=idx, name="users_accuracy"),
        producers_accuracy=pd.Series(pa, index=idx, name="producers_accuracy"),
        f1=pd.Series(f1, index=idx, name="f1"),
        overall_accuracy_ci95=(max(0.0, oa - Z95 * oa_se), min(1.0, oa + Z95 * oa_se)) if oa_se == oa_se else (math.nan, math.nan),
        overall_accuracy_ci95_exact=clopper_pearson(diag.sum(), n),
        users_accuracy_ci95_exact=_exact_intervals(diag, rows, idx),
        producers_accuracy_ci95_exact=_exact_intervals(diag, cols, idx),
    )
    degenerate = acc.degenerate()
    if degenerate:
        lo, hi = acc.overall_accuracy_ci95_exact
        log.warning("accuracy: overall accuracy is exactly %g from %d sample units (fewer than %d): the normal-approximation "
                    "SE of %s is 0, a degenerate zero-width 95 %% interval, not certainty; the exact (Clopper-Pearson) 95 %% "
                    "interval of overall accuracy is %s (overall_accuracy_ci95_exact); fix: more reference points "
                    "(at least %d per class: Congalton & Green 2009; Olofsson et al. 2014), and report the exact interval",
                    oa, acc.n, MIN_SAMPLE_SIZE, " and ".join(k for k in ("overall_accuracy_se", "kappa_se") if k in degenerate),
                    _interval_text(lo, hi), MIN_SAMPLE_SIZE)
    return acc


def accuracy(map_labels, ref_labels, classes=None, nodata=None) -> Accuracy:
    """Accuracy measures of paired map and reference labels (a simple random sample).

    map_labels, ref_labels: one label per sample (1-D: lists, numpy arrays, numpy masked arrays, pandas Series).
    Pairs are formed and cleaned by paired_labels: two Series by their index (DataError when the indexes differ),
    otherwise by position; pairs with a masked, missing (None/NaN) or 255 label (the nodata of irrmap's class maps,
    unless `classes` lists 255) are left out, with a warning, and counted in the result's `extra["dropped"]`
    ({"masked", "missing", "nodata_255"}, present when a pair was left out; `n` counts the pairs used). classes: the class order (default: the sorted
    labels). nodata: a label or list of labels without a class (e.g. -9999, the nodata of the raster the map labels
    were sampled from): pairs holding one on either side are left out as well, counted in dropped["nodata"].
    Without `classes`, a class that occurs on one side only (in the map labels but never in the reference labels,
    or the reverse; typically a nodata code such as -9999 taken for a class) is warned about, with its count and the
    fix (nodata=..., or classes=[...] to confirm a real class); the measures are not changed by the warning.
    Raises DataError for 2-D labels, sides of different length, numbers against text labels, a label not in
    `classes`, and no pair left."""
    m, r, _, dropped = paired_labels(map_labels, ref_labels, classes, nodata=nodata)
    if classes is None:
        _warn_one_sided(m, r)
    acc = accuracy_from_matrix(confusion_matrix(m, r, classes))
    if any(dropped.values()):
        acc.extra["dropped"] = dropped
    return acc


def accuracy_by_group(map_labels, ref_labels, groups, classes=None, min_n: int = 1, nodata=None) -> dict:
    """Accuracy per group (a unit attribute such as province, or arid/humid), plus 'all'; groups with
    fewer than `min_n` samples are left out. Pairs are cleaned as in `accuracy` (paired_labels, `nodata` included);
    a class on one side only is warned about once, over all pairs (as in `accuracy`)."""
    m, r, (g,), _ = paired_labels(map_labels, ref_labels, classes, np.asarray(groups, dtype=object), nodata=nodata)
    if classes is None:
        _warn_one_sided(m, r)
        classes = sorted(set(m.tolist()) | set(r.tolist()))
    out = {"all": accuracy(m, r, classes)}
    for key in sorted({str(v) for v in g.tolist() if v is not None and v == v}):
        sel = np.array([str(v) == key for v in g.tolist()])
        if sel.sum() >= max(min_n, 1):
            out[key] = accuracy(m[sel], r[sel], classes)
    return out


__all__ = ["MIN_SAMPLE_SIZE", "NODATA_LABEL", "Accuracy", "Z95", "accuracy", "clopper_pearson", "accuracy_by_group", "accuracy_from_matrix", "confusion_matrix",
           "kappa_variance", "paired_labels"]
