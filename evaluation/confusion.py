"""Confusion matrix and the accuracy measures read from it: OA, Cohen's kappa with its standard error and
95 % interval, user's and producer's accuracy and F1 per class.

Orientation everywhere in `evaluation`: rows are the MAP class, columns the REFERENCE class (Congalton &
Green 2009; Olofsson et al. 2014). These measures treat the sample as a simple random sample; for a
stratified sample use `evaluation.area_estimation`, which weights by the strata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irrmap.core.errors import DataError

Z95 = 1.959963984540054  # standard normal quantile for a two-sided 95 % interval


def confusion_matrix(map_labels, ref_labels, classes=None, weights=None) -> pd.DataFrame:
    """Counts (or summed `weights`) of every (map, reference) pair; rows map class, columns reference class.

    `classes` fixes the order and includes classes that never occur; labels outside it raise DataError.
    """
    m = np.asarray(map_labels)
    r = np.asarray(ref_labels)
    if m.shape != r.shape:
        raise DataError(f"{m.size} map labels but {r.size} reference labels", "labels", "pass one map and one reference label per sample")
    if classes is None:
        classes = sorted(set(m.tolist()) | set(r.tolist()))
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    try:
        mi = np.array([index[v] for v in m.tolist()], dtype=np.int64)
        ri = np.array([index[v] for v in r.tolist()], dtype=np.int64)
    except KeyError as exc:
        raise DataError(f"label {exc.args[0]!r} is not one of the classes {classes}", "labels", "add it to the classes or recode it") from None
    q = len(classes)
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    counts = np.bincount(mi * q + ri, weights=w, minlength=q * q).reshape(q, q)
    return pd.DataFrame(counts, index=pd.Index(classes, name="map"), columns=pd.Index(classes, name="reference"))


def _ratio(num, den):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def kappa_variance(matrix) -> float:
    """Large-sample (delta-method) variance of Cohen's kappa under multinomial sampling.

    The formula of Bishop, Fienberg & Holland (1975) as given by Congalton & Green (2009, eq. 5.x):
    var = 1/n [t1(1-t1)/(1-t2)^2 + 2(1-t1)(2 t1 t2 - t3)/(1-t2)^3 + (1-t1)^2 (t4 - 4 t2^2)/(1-t2)^4] with
    t1 = sum n_ii / n, t2 = sum n_i+ n_+i / n^2, t3 = sum n_ii (n_i+ + n_+i) / n^2,
    t4 = sum_ij n_ij (n_j+ + n_+i)^2 / n^3.
    """
    x = np.asarray(matrix, dtype=np.float64)
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
    the agreement)."""

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

    @property
    def classes(self) -> list:
        return list(self.matrix.index)

    def not_estimable(self, class_names: dict | None = None) -> dict[str, str]:
        """{measure: reason} for every measure that is NaN; per-class measures are keyed 'users_accuracy.CLASS'."""
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
        return {
            "n": int(self.n),
            "classes": [name(c) for c in self.classes],
            "overall_accuracy": _clean(self.overall_accuracy),
            "overall_accuracy_se": _clean(self.overall_accuracy_se),
            "kappa": _clean(self.kappa),
            "kappa_se": _clean(self.kappa_se),
            "kappa_ci95": [_clean(v) for v in self.kappa_ci95],
            "users_accuracy": per(self.users_accuracy),
            "producers_accuracy": per(self.producers_accuracy),
            "f1": per(self.f1),
            "confusion_matrix": [[_clean(v, integer=True) for v in row] for row in self.matrix.to_numpy().tolist()],
            "confusion_matrix_orientation": "rows = map class, columns = reference class",
            "not_estimable": self.not_estimable(class_names),
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
    return Accuracy(
        matrix=matrix, n=int(round(n)), overall_accuracy=oa, overall_accuracy_se=oa_se, kappa=kappa, kappa_se=kse,
        kappa_ci95=ci,
        users_accuracy=pd.Series(ua, index=idx, name="users_accuracy"),
        producers_accuracy=pd.Series(pa, index=idx, name="producers_accuracy"),
        f1=pd.Series(f1, index=idx, name="f1"),
    )


def accuracy(map_labels, ref_labels, classes=None) -> Accuracy:
    """Accuracy measures of paired map and reference labels (a simple random sample)."""
    return accuracy_from_matrix(confusion_matrix(map_labels, ref_labels, classes))


def accuracy_by_group(map_labels, ref_labels, groups, classes=None, min_n: int = 1) -> dict:
    """Accuracy per group (a unit attribute such as province, or arid/humid), plus 'all'; groups with
    fewer than `min_n` samples are left out."""
    m, r, g = np.asarray(map_labels), np.asarray(ref_labels), np.asarray(groups, dtype=object)
    if classes is None:
        classes = sorted(set(m.tolist()) | set(r.tolist()))
    out = {"all": accuracy(m, r, classes)}
    for key in sorted({str(v) for v in g.tolist() if v is not None and v == v}):
        sel = np.array([str(v) == key for v in g.tolist()])
        if sel.sum() >= max(min_n, 1):
            out[key] = accuracy(m[sel], r[sel], classes)
    return out


__all__ = ["Accuracy", "Z95", "accuracy", "accuracy_by_group", "accuracy_from_matrix", "confusion_matrix", "kappa_variance"]
