"""The report section 'Flags and next steps': what to check first, drawn from the run's warnings and from the
evaluation's own results: the data defects that narrow what the headline numbers describe (reference points off
the map, on its nodata or on unpredicted crop pixels; units left out of the comparison with statistics because
they lie off or partly off the grid, are mostly unpredicted or have no statistic), then wide intervals, a gap
between cross-validation and independent accuracy, a class that is under- or over-mapped, drift from the
statistics. Findings are ranked by how much they change the headline numbers (`score` below)."""

from __future__ import annotations

import re

import pandas as pd
from irrmap.evaluation.agreement import MAX_MISSING_SHARE
from irrmap.evaluation.design_section import ci95

from irrmap.core.areas import M2_PER_UNIT
from irrmap.core.coverage import FULL_SHARE
from irrmap.core.share_text import percent_text

# Limits of the findings; judgement calls of this report, not published thresholds.
WIDE_CI = 0.15  # width of the OA 95 % interval above which more reference points are the first step
CV_GAP = 0.10  # blocked-CV OA minus independent OA above which the training labels are suspect
CLASS_ACCURACY = 0.70  # UA or PA of the irrigated class below this is flagged
STATS_DRIFT = 0.10  # |relative bias| against the constraining statistics above this is flagged
DESIGN_SHIFT = 0.02  # |design-based OA - unweighted OA| above this: quote the design-based figure

# Column names that usually carry a sampling design (a stratum, a stratum size, an inclusion probability or a design
# weight), matched case-insensitively on the whole name; this project's list, from common sampling-table names.
DESIGN_COLUMN = re.compile(r"(strat(um|a)?([_ ]?(id|code|name|size))?|incl(usion)?([_ ]?prob(ability)?)?|pi|p[_ ]?incl|"
                           r"(sampling|sample|design|survey)?[_ ]?weights?|w(ei)?ght)", re.IGNORECASE)
# Reasons of statistics.left_out["units_without_mapped_area"] (agreement / unpredicted): how each kind is told apart.
UNPREDICTED_REASON = "unpredicted"
OFF_GRID_REASONS = ("off the map's grid", "lies on the map's grid")


def design_columns(columns) -> list[str]:
    """The names among `columns` (the points' fields) that look like a sampling design (DESIGN_COLUMN)."""
    return [str(c) for c in columns if DESIGN_COLUMN.fullmatch(str(c).strip())]


def _codes(codes, limit: int = 8) -> str:
    codes = [str(c) for c in codes]
    return ", ".join(codes[:limit]) + (f" and {len(codes) - limit} more" if len(codes) > limit else "")


def _point_findings(points) -> list[tuple[float, str]]:
    """Reference points the accuracy leaves out, by cause: (share of all points, text). The accuracy then describes
    only the part of the map they cover, so the share is the score."""
    c, out = points.counts, []
    n = c.get("n_points") or 0
    if not n:
        return out
    k = c.get("n_outside_map") or 0
    if k:
        out.append((k / n, (f"{k:,} of {n:,} reference points ({percent_text(k / n, 0, sep='')}) lie outside the map and are left out: the accuracy "
                           "describes only the mapped part. Fix: check the points' CRS (--points-crs / [evaluation].points_crs), "
                           "or widen [grid] bounds to cover them, or clip the points to the map if they cover a larger region.")))
    k = c.get("n_missing_map_value") or 0
    if k:
        out.append((k / n, (f"{k:,} of {n:,} reference points ({percent_text(k / n, 0, sep='')}) fall on the map's nodata and are left out (the "
                           "warning below names the units they lie in). Fix: map those pixels (give their units a statistic, "
                           "fill the inputs' gaps) and run again, or read the accuracy as that of the mapped pixels only.")))
    return out


def _unit_findings(statistics) -> list[tuple[float, str]]:
    """Units left out of the comparison with statistics, by cause: (score, text). The score is the share of the finest
    level's units left out, and for units without a statistic the share of the map's area in them (left_out's
    mapped_m2_without_statistic over mapped_m2_total, evaluation.workflow) when known."""
    left = statistics.left_out or {}
    first = next(iter(statistics.metrics), None)
    no_area = dict(left.get("units_without_mapped_area") or {})
    no_stat = list(left.get("units_without_statistic") or [])
    compared = (statistics.metrics[first].get("n") if first else 0) or 0
    total = int(compared) + len(set(no_area) | set(map(str, no_stat))) or 1
    out = []
    off = {c: why for c, why in no_area.items() if any(r in why for r in OFF_GRID_REASONS)}
    gap = {c: why for c, why in no_area.items() if c not in off and UNPREDICTED_REASON in why}
    other = {c: why for c, why in no_area.items() if c not in off and c not in gap}
    share = left.get("on_grid_share")
    if share:
        out += _coverage_finding(share, off, set(map(str, no_stat)), total)
    elif off:
        whole = [c for c, why in off.items() if "wholly" in why]
        out.append((len(off) / total, (f"{len(off)} of {total} units ({percent_text(len(off) / total, 0, sep='')}) are left out of the comparison with "
                    f"statistics because the grid does not cover them ({len(whole)} wholly off it, {len(off) - len(whole)} partly: "
                    f"{_codes(off)}): the statistics' agreement describes only the units wholly on the grid. Fix: widen [grid] "
                    "bounds to cover whole units (units/units.csv and training/partial_units.csv list them).")))
    if gap:
        shares = "; ".join(f"{c}: {re.search(r'[0-9.]+ %', why).group(0) if re.search(r'[0-9.]+ %', why) else why}"
                           for c, why in list(gap.items())[:8])
        out.append((len(gap) / total, (f"{len(gap)} of {total} units ({percent_text(len(gap) / total, 0, sep='')}) are left out of the comparison with statistics because the "
                    f"map leaves their cropland unpredicted (share of the unit's area: {shares}): a predictor has no value "
                    "there and their mapped area would be a lower bound. Fix: fill the predictor's gaps (e.g. the DEM or a "
                    "missing date) and map again; mapping/irrigated_area_by_unit.csv (unpredicted_cropland_ha) gives each "
                    "unit's unpredicted cropland.")))
    if other:
        out.append((len(other) / total, (f"{len(other)} of {total} units have no mapped area and are left out of the comparison "
                    f"with statistics ({_codes(other)}; the statistics section gives each reason). Fix: evaluate a map that "
                    "covers them.")))
    if no_stat:
        out.append(_no_statistic_finding(no_stat, left, total, getattr(statistics, "out_unit", "ha")))
    return out


def _coverage_finding(share: dict, off: dict, no_stat: set, total: int) -> list[tuple[float, str]]:
    """The units not wholly on the grid, counted as units/units.csv and mapping/irrigated_area_by_unit.csv's coverage
    column counts them (`share`: finest code -> on_grid_share; 'off grid' at 0, 'partial' below
    irrmap.core.coverage.FULL_SHARE), split into those left out of the comparison (`off`: over
    agreement.MAX_MISSING_SHARE of their area off the grid), those compared on their mapped part and those
    without a statistic. Score: the share of the units left out."""
    s = pd.Series(share, dtype=float)
    cut = s[s < FULL_SHARE]
    if cut.empty:
        return []
    wholly, part = cut.index[cut <= 0], cut.index[cut > 0]
    stat = [c for c in cut.index if c not in no_stat]
    left, kept = [c for c in stat if c in off], [c for c in stat if c not in off]
    text = (f"{len(cut)} of {len(s)} units ({percent_text(len(cut) / len(s), 0, sep='')}) are not wholly on the grid (column coverage of units/units.csv and "
            f"mapping/irrigated_area_by_unit.csv: {len(wholly)} off grid, {len(part)} partial). Of the {len(stat)} with a statistic "
            f"({sum(c in wholly for c in stat)} off grid, {sum(c in part for c in stat)} partial), {len(left)} are left out of the comparison with statistics ({_codes(left)})")
    if kept:
        text += (f" and {len(kept)} with less than {MAX_MISSING_SHARE:.0%} of their area off the grid are compared on their mapped part "
                 f"({_codes(kept)}), whose whole-unit statistic is slightly larger")
    miss = [c for c in cut.index if c in no_stat]
    if miss:
        text += f"; {len(miss)} have no statistic ({_codes(miss)})"
    text += (": the statistics' agreement describes the units on the grid only. Fix: widen [grid] bounds to cover whole units "
             "(units/units.csv and training/partial_units.csv list them).")
    return [(len(left) / (total or 1), text)]


def _no_statistic_finding(no_stat: list, left: dict, total: int, unit: str) -> tuple[float, str]:
    """Units without a statistic: the mapped area they hold (left_out's mapped_m2_without_statistic, in `unit`) and its
    share of the map's (mapped_m2_total), which scores the finding; the share of units when the areas are unknown."""
    codes = f"({_codes(no_stat)})"
    areas = pd.Series(left.get("mapped_m2_without_statistic") or {}, dtype=float)
    whole = left.get("mapped_m2_total")
    if areas.notna().any() and whole and whole > 0:
        k, m2 = M2_PER_UNIT.get(unit, 1e4), float(areas.sum())
        unit = unit if unit in M2_PER_UNIT else "ha"
        return (m2 / whole, (f"{len(no_stat)} unit(s) {codes} have no statistic: their mapped area, {m2 / k:,.0f} {unit}, is "
                             f"{percent_text(m2 / whole, sep='')} of the mapped {whole / k:,.0f} {unit} and has nothing to check it against (the "
                             "headline compares only the units with both). Fix: add their statistics if they exist; "
                             "mapping/irrigated_area_by_unit.csv lists each unit's mapped area."))
    return (len(no_stat) / total, (f"{len(no_stat)} unit(s) have no statistic and are left out of every comparison with "
                                   f"statistics {codes}: add their statistics if they exist."))


def _unpredicted_points(points) -> list[tuple[float, str]]:
    c = points.counts
    n, k = c.get("n_points") or 0, c.get("n_unpredicted") or 0
    if not (n and k):
        return []
    return [(k / n, (f"{k:,} of {n:,} reference points ({percent_text(k / n, 0, sep='')}) lie on crop pixels the map left unpredicted (a predictor "
                    "has no value there) and are left out. Fix: fill the predictor's gaps and map again."))]


def findings(points=None, diagnostics=None, statistics=None) -> list[str]:
    """Findings from the results, ranked by how much they change the headline numbers, each saying what was seen,
    its size and what to do. `points`: workflow.PointsResult; `diagnostics`: diagnostics_section.Diagnostics;
    `statistics`: StatisticsResult. The score that ranks them, all on a 0..1 scale: for what the evaluation leaves out
    (points outside the map, on its nodata or unpredicted; units off or partly off the grid, unpredicted, without a
    statistic) the share of the points / of the finest level's units left out (for units without a statistic, the
    share of the map's area in them when known); for the others the change in the
    headline itself (|design-based - unweighted OA|, half the OA interval, CV OA - independent OA, 1 - UA or PA of
    irrigated, |relative bias|); points with design-like columns (DESIGN_COLUMN) read without a design score
    DESIGN_SHIFT, the shift from which the design-based figure is quoted."""
    scored: list[tuple[float, str]] = []
    if points is not None:
        scored += _point_findings(points) + _unpredicted_points(points)
        est = points.design.estimate if points.design is not None else None
        oa, se = (est.overall_accuracy, est.overall_accuracy_se) if est else (points.accuracy.overall_accuracy, points.accuracy.overall_accuracy_se)
        lo, hi = ci95(oa, se)
        if hi - lo > WIDE_CI:
            scored.append(((hi - lo) / 2, (f"The 95 % interval of overall accuracy is {lo:.2f}-{hi:.2f} ({points.accuracy.n} points): "
                           "collect more reference points (Olofsson et al. 2014 eq. 13 gives the sample size for a target SE; "
                           "`irrmap evaluate sample-size`).")))
        if est is not None and abs(est.overall_accuracy - points.accuracy.overall_accuracy) > DESIGN_SHIFT:
            scored.append((abs(est.overall_accuracy - points.accuracy.overall_accuracy),
                           (f"Weighting by the sampling design moves OA from {points.accuracy.overall_accuracy:.3f} to "
                           f"{est.overall_accuracy:.3f}: quote the design-based figures; the unweighted ones over-represent the "
                           "strata sampled more densely.")))
        found = design_columns(points.samples.columns) if est is None and points.samples is not None else []
        if found:
            scored.append((DESIGN_SHIFT, (f"The points have column(s) {', '.join(found)} that look like a sampling design, but no "
                           "design was given: the accuracy treats them as a simple random sample, biased when they were drawn with "
                           "unequal probabilities. Fix: set [evaluation].stratum_field with inclusion_field or stratum_sizes "
                           "(`irrmap evaluate`: --stratum-field with --inclusion-field or --stratum-size).")))
        ua = est.users_accuracy[1] if est else points.accuracy.users_accuracy[1]
        pa = est.producers_accuracy[1] if est else points.accuracy.producers_accuracy[1]
        if pa == pa and pa < CLASS_ACCURACY:
            scored.append((1 - pa, (f"Producer's accuracy of irrigated is {pa:.2f}: irrigated land is missed; check the threshold "
                           "maps and the statistics in the units where reference points are irrigated but mapped as not.")))
        if ua == ua and ua < CLASS_ACCURACY:
            scored.append((1 - ua, (f"User's accuracy of irrigated is {ua:.2f}: too much is mapped as irrigated; check rainfed areas "
                           "with high vegetation indices (humid zones) and the statistics the thresholds were matched to.")))
        cv = ((diagnostics.card or {}).get("cv") or {}).get("blocked") if diagnostics is not None else None
        if cv and cv["oa"] - oa > CV_GAP:
            scored.append((cv["oa"] - oa, (f"Blocked cross-validation gives OA {cv['oa']:.2f} but the independent points {oa:.2f}: "
                           "the classifier reproduces its training labels, which are wrong in places; compare the threshold "
                           "maps' accuracy in Model diagnostics before tuning the model.")))
    if statistics is not None:
        first = next(iter(statistics.metrics), None)
        rb = statistics.metrics[first].get("relative_bias") if first else None
        if rb is not None and rb == rb and abs(rb) > STATS_DRIFT:
            scored.append((abs(rb), (f"At {first} level the map is {rb:+.0%} off the statistics it was constrained to: the classifier "
                           "drifted; compare the probability map with the threshold maps in the units with the largest differences.")))
        scored += _unit_findings(statistics)
    return [text for _, text in sorted(scored, key=lambda st: -st[0])]


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


__all__ = ["DESIGN_COLUMN", "design_columns", "findings", "flags_section"]
