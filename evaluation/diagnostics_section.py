"""The report section on model diagnostics: cross-validated accuracy on the training pool beside the
independent accuracy at the reference points, the threshold maps' own accuracy at those points, and
predictor importance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irrmap.evaluation.design_section import ci95


@dataclass
class Diagnostics:
    """card: the model card (models/model.card.json; its "cv" holds random and spatially blocked CV);
    importance: predictor -> importance (sums to 1) or None; thresholds: map name -> PointsResult of that
    threshold map at the same reference points."""

    card: dict | None
    importance: pd.Series | None = None
    thresholds: dict = field(default_factory=dict)


def feature_importance(model) -> pd.Series | None:
    """Impurity-based importance of a fitted irrmap.models.ScopedClassifier, as a share summing to 1, sorted.

    Each scope's estimator gives `feature_importances_` (random forest: mean decrease in Gini impurity,
    Breiman 2001; LightGBM: split counts), normalised to sum 1 and averaged over scopes weighted by their
    training samples (`counts_`). None when no estimator exposes importances (e.g. constant scopes only)."""
    feats = list(getattr(model, "features_", []))
    total, weight = np.zeros(len(feats)), 0.0
    for key, est in getattr(model, "models_", {}).items():
        imp = np.asarray(getattr(est, "feature_importances_", []), dtype=np.float64)
        if imp.shape != (len(feats),) or imp.sum() <= 0:
            continue
        w = float(sum(getattr(model, "counts_", {}).get(key, [1])))
        total += w * imp / imp.sum()
        weight += w
    if weight == 0:
        return None
    return pd.Series(total / weight, index=feats, name="importance").sort_values(ascending=False)


def _importance_png(imp: pd.Series, top: int = 15) -> bytes:
    from irrmap.evaluation.report import _plt, _png

    s = imp.head(top)[::-1]
    fig, ax = _plt().subplots(figsize=(6.4, 0.28 * len(s) + 1.2), dpi=110)
    ax.barh(range(len(s)), s.to_numpy(), color="#1565c0")
    ax.set_yticks(range(len(s)), s.index, fontsize=8)
    ax.set_xlabel("share of importance", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_title(f"Predictor importance (top {len(s)})", fontsize=10)
    fig.tight_layout()
    return _png(fig)


def _row(name: str, oa, kappa, n, lo=np.nan, hi=np.nan, what: str = "") -> dict:
    return {"accuracy of": name, "on": what, "n": n, "overall accuracy": oa, "OA 95% CI lower": lo, "OA 95% CI upper": hi, "kappa": kappa}


_WHY = {"n_outside_map": "outside the map", "n_missing_map_value": "on the map's nodata",
        "n_no_crop_within_radius": "without a crop pixel within the snap radius", "n_missing_label": "without label"}


def common_points(points, thresholds: dict):
    """(mask of the points every map uses, ["map: k points (reasons)", ...] for each map dropping some that
    another map uses), or (None, []) without points, threshold maps or when their points differ."""
    if points is None or not thresholds:
        return None, []
    results = {"classifier map": points, **thresholds}
    used = {k: pr.samples["used"].to_numpy(dtype=bool) for k, pr in results.items()}
    if len({len(u) for u in used.values()}) != 1:
        return None, []
    common = np.logical_and.reduce(list(used.values()))
    anyone = np.logical_or.reduce(list(used.values()))
    drops = []
    for k, u in used.items():
        lost = int((anyone & ~u).sum())
        if lost:
            c = results[k].counts
            why = ", ".join(f"{c[f]} {w}" for f, w in _WHY.items() if c.get(f))
            drops.append(f"{k} scores {lost} fewer point{'s' if lost > 1 else ''} than another map ({why or 'no value there'})")
    return common, drops


def _scored(name: str, pr, mask, what: str) -> dict:
    """The row of `pr`'s map scored at the points of `mask` only (design-based when its design is given)."""
    from irrmap.core.errors import IrrmapError
    from irrmap.evaluation import confusion
    from irrmap.evaluation.design import design_accuracy

    s = pr.samples.loc[mask]
    if pr.design is not None:
        try:
            est = design_accuracy(s, pr.design.design, (0, 1), all_points=pr.samples).estimate  # one population: see design_accuracy
            return _row(name, est.overall_accuracy, est.kappa, est.n, *ci95(est.overall_accuracy, est.overall_accuracy_se),
                        f"{what}, design-based")
        except IrrmapError:
            pass
    a = confusion.accuracy(s["map"].to_numpy(), s["reference"].to_numpy(), (0, 1))
    return _row(name, a.overall_accuracy, a.kappa, a.n, *ci95(a.overall_accuracy, a.overall_accuracy_se), f"{what}, as simple random sample")


def diagnostics_section(rep, diag: Diagnostics, points) -> dict:
    """Add 'Model diagnostics' to `rep`. `points`: the PointsResult of the evaluated map (or None). Returns
    the section's results for results.json."""
    sec = rep.section("Model diagnostics")
    cv = (diag.card or {}).get("cv") or {}
    rows = []
    # a bootstrap random forest's random split is its out-of-bag estimate (models.fit); older cards have no "method"
    oob = (cv.get("random") or {}).get("method") == "out-of-bag"
    random_row = ("classifier, random split (out-of-bag)", "training pool, trees that did not see the sample") if oob else \
        ("classifier, random CV", "training pool, random folds")
    for kind, (label, what) in (("random", random_row),
                                ("blocked", ("classifier, blocked CV", f"training pool, spatial blocks ({cv.get('held_out', '')})"))):
        if kind in cv:
            rows.append(_row(label, cv[kind]["oa"], cv[kind]["kappa"], cv[kind]["n"], what=what))
    if points is not None:
        a = points.accuracy
        rows.append(_row("classifier map", a.overall_accuracy, a.kappa, a.n, *ci95(a.overall_accuracy, a.overall_accuracy_se),
                         "reference points, as simple random sample"))
        if points.design is not None:
            d = points.design.estimate
            rows.append(_row("classifier map", d.overall_accuracy, d.kappa, d.n, *ci95(d.overall_accuracy, d.overall_accuracy_se),
                             "reference points, design-based"))
    common, drops = common_points(points, diag.thresholds)
    if common is not None and common.sum() < points.accuracy.n:
        rows.append(_scored("classifier map", points, common, "the points every map scores"))
    for name, pr in diag.thresholds.items():
        if common is not None and common.sum() < pr.accuracy.n:
            rows.append(_scored(name, pr, common, "the points every map scores"))
            continue
        est = pr.design.estimate if pr.design is not None else None
        oa, se, kappa = (est.overall_accuracy, est.overall_accuracy_se, est.kappa) if est else (pr.accuracy.overall_accuracy, pr.accuracy.overall_accuracy_se, pr.accuracy.kappa)
        rows.append(_row(name, oa, kappa, pr.accuracy.n, *ci95(oa, se), "reference points, " + ("design-based" if est else "as simple random sample")))
    if drops:
        sec.text(f"Not every map scores every point: {int(common.sum())} points are scored by the classifier map and every threshold "
                 "map, and the side-by-side rows marked 'the points every map scores' use only those. Dropped: "
                 + "; ".join(drops) + ".")
    if rows:
        sec.text("Cross-validation scores the classifier against the labels it was trained on: pixels the statistics-matched "
                 "threshold maps agree on, not ground truth, and clustered in space. It measures how well the model reproduces "
                 "the threshold maps; the accuracy at the independent reference points is what the map achieves. Spatially "
                 "blocked CV holds out whole blocks, so it is the fairer of the two CV figures; a large gap between blocked CV "
                 "and the points means the training labels themselves are wrong in places.")
        sec.table(pd.DataFrame(rows), "Classifier cross-validation, the classifier map and the threshold maps it was trained on, side by side.")
    if diag.importance is not None:
        sec.figure(_importance_png(diag.importance), "predictor_importance",
                   "Impurity-based importance averaged over the model's scopes (correlated predictors share importance).")
    return {"cv": {k: {m: cv[k][m] for m in ("oa", "kappa", "n")} for k in ("random", "blocked") if k in cv},
            "thresholds_at_points": {n: pr.to_dict() for n, pr in diag.thresholds.items()},
            **({"points_every_map_scores": int(common.sum()), "points_dropped": drops} if common is not None else {}),
            "importance": None if diag.importance is None else diag.importance.round(6).to_dict()}


__all__ = ["Diagnostics", "diagnostics_section", "feature_importance"]
