"""The report section 'Flags and next steps': what to check first, drawn from the run's warnings and from the
evaluation's own results (wide intervals, a gap between cross-validation and independent accuracy, a class
that is under- or over-mapped, drift from the statistics)."""

from __future__ import annotations

import pandas as pd

from irrmap.evaluation.design_section import ci95

# Limits of the findings; judgement calls of this report, not published thresholds.
WIDE_CI = 0.15  # width of the OA 95 % interval above which more reference points are the first step
CV_GAP = 0.10  # blocked-CV OA minus independent OA above which the training labels are suspect
CLASS_ACCURACY = 0.70  # UA or PA of the irrigated class below this is flagged
STATS_DRIFT = 0.10  # |relative bias| against the constraining statistics above this is flagged
DESIGN_SHIFT = 0.02  # |design-based OA - unweighted OA| above this: quote the design-based figure


def findings(points=None, diagnostics=None, statistics=None) -> list[str]:
    """Findings from the results, most important first: each says what was seen and what to do.
    `points`: workflow.PointsResult; `diagnostics`: diagnostics_section.Diagnostics; `statistics`: StatisticsResult."""
    out = []
    if points is not None:
        est = points.design.estimate if points.design is not None else None
        oa, se = (est.overall_accuracy, est.overall_accuracy_se) if est else (points.accuracy.overall_accuracy, points.accuracy.overall_accuracy_se)
        lo, hi = ci95(oa, se)
        if hi - lo > WIDE_CI:
            out.append(f"The 95 % interval of overall accuracy is {lo:.2f}-{hi:.2f} ({points.accuracy.n} points): collect more "
                       "reference points (Olofsson et al. 2014 eq. 13 gives the sample size for a target SE; `irrmap evaluate sample-size`).")
        if est is not None and abs(est.overall_accuracy - points.accuracy.overall_accuracy) > DESIGN_SHIFT:
            out.append(f"Weighting by the sampling design moves OA from {points.accuracy.overall_accuracy:.3f} to {est.overall_accuracy:.3f}: "
                       "quote the design-based figures; the unweighted ones over-represent the strata sampled more densely.")
        ua = est.users_accuracy[1] if est else points.accuracy.users_accuracy[1]
        pa = est.producers_accuracy[1] if est else points.accuracy.producers_accuracy[1]
        if pa == pa and pa < CLASS_ACCURACY:
            out.append(f"Producer's accuracy of irrigated is {pa:.2f}: irrigated land is missed; check the threshold maps and the "
                       "statistics in the units where reference points are irrigated but mapped as not.")
        if ua == ua and ua < CLASS_ACCURACY:
            out.append(f"User's accuracy of irrigated is {ua:.2f}: too much is mapped as irrigated; check rainfed areas with high "
                       "vegetation indices (humid zones) and the statistics the thresholds were matched to.")
        cv = ((diagnostics.card or {}).get("cv") or {}).get("blocked") if diagnostics is not None else None
        if cv and cv["oa"] - oa > CV_GAP:
            out.append(f"Blocked cross-validation gives OA {cv['oa']:.2f} but the independent points {oa:.2f}: the classifier "
                       "reproduces its training labels, which are wrong in places; compare the threshold maps' accuracy in Model "
                       "diagnostics before tuning the model.")
    if statistics is not None:
        first = next(iter(statistics.metrics), None)
        rb = statistics.metrics[first].get("relative_bias") if first else None
        if rb is not None and rb == rb and abs(rb) > STATS_DRIFT:
            out.append(f"At {first} level the map is {rb:+.0%} off the statistics it was constrained to: the classifier drifted; "
                       "compare the probability map with the threshold maps in the units with the largest differences.")
        n = len(statistics.left_out.get("units_without_statistic") or [])
        if n:
            out.append(f"{n} unit(s) have no statistic and are left out of every comparison with statistics (listed in the "
                       "statistics section): add their statistics if they exist.")
    return out


def flags_section(rep, warnings: list, found: list[str]) -> dict:
    """Add the section to `rep`. `warnings`: the run's warnings as dicts (stage, logger, message), each message
    naming cause and fix; `found`: the findings of `findings`. Returns both for results.json."""
    sec = rep.section("Flags and next steps")
    if not warnings and not found:
        sec.text("Nothing to flag: no warning in the run, and no result outside the limits this report checks.")
    if found:
        sec.text("What to check first:")
        sec.table(pd.DataFrame({"#": range(1, len(found) + 1), "finding and next step": found}))
    if warnings:
        sec.text(f"The run logged {len(warnings)} warning(s); each names its cause and fix:")
        sec.table(pd.DataFrame([{"stage": w.get("stage", ""), "warning": w["message"]} for w in warnings]))
    return {"findings": found, "warnings": warnings}


__all__ = ["flags_section", "findings"]
