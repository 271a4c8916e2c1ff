"""The reconciliation report (OUTPUT/reconcile/report.html, like the evaluation report: evaluation.report.Report):
agreement of mapped area with the reconciled statistics before and after, per level and year (R2, RMSE, bias,
evaluation.agreement.agreement_metrics); the flagged units ranked by the area at stake, with the reason; the
largest adjustments the harmonisation made to the tables; maps of the change the reconciliation made to the run's
map (share of pixels added minus removed, per display block)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from irrmap.evaluation.agreement import agreement_metrics, scatter_png
from irrmap.evaluation.report import Report, _map_axes, _map_png, _plt, quicklook_array

from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

KHA = 1e7  # m2 per 1000 ha, the reporting unit of the tables in the report
TOP = 15  # rows of the ranked tables


def metrics_by_level(agreement: pd.DataFrame, when: str) -> pd.DataFrame:
    """One row per level and year: n, R2, RMSE and bias (1000 ha) of mapped against statistic, over reported
    statistics only: rows with `derived` True (values the harmonisation made up) are left out."""
    rows = []
    agreement = reported_only(agreement)
    for (level, year), g in agreement.groupby(["level", "year"], sort=False, dropna=False):
        m = agreement_metrics(g["statistic_m2"], g["mapped_m2"])
        rows.append({"map": when, "level": level, "year": year, "n": m["n"], "R2": m["r2"], "RMSE (1000 ha)": m["rmse"] / KHA,
                     "bias (1000 ha)": m["bias"] / KHA, "max |error| (1000 ha)": float(np.nanmax(np.abs(g["mapped_m2"] - g["statistic_m2"]),
                                                                                             initial=0.0)) / KHA})
    return pd.DataFrame(rows)


def reported_only(agreement: pd.DataFrame) -> pd.DataFrame:
    """The agreement rows whose statistic was reported (not `derived` by the harmonisation)."""
    if "derived" not in agreement.columns:
        return agreement
    return agreement[~agreement["derived"].fillna(False).astype(bool).to_numpy()]


def flagged_units(units: pd.DataFrame, audit: pd.DataFrame, skipped: pd.DataFrame) -> pd.DataFrame:
    """Units the reconciliation could not satisfy (shortfall), batch units left out, and audit rows the
    harmonisation flagged, ranked by the area at stake (1000 ha), largest first."""
    rows = []
    if len(units):
        bad = units[units["status"] == "infeasible"]
        rows += [{"level": r.level, "code": r.code, "year": r.year, "reason": "statistic exceeds the cropland that can be ranked; all of it is mapped",
                  "area at stake (1000 ha)": r.shortfall_m2 / KHA} for r in bad.itertuples()]
        gone = units[units["status"] == "missing"]
        rows += [{"level": r.level, "code": r.code, "year": r.year, "reason": "no statistic (and no parent to fill it from): left unmapped",
                  "area at stake (1000 ha)": np.nan} for r in gone.itertuples()]
    rows += [{"level": "batch", "code": r.code, "year": r.year, "reason": r.reason, "area at stake (1000 ha)": np.nan}
             for r in skipped.itertuples()] if len(skipped) else []
    if "flags" in audit.columns:
        hit = audit[audit["flags"].fillna("").astype(str).str.len() > 0]
        stake = _at_stake(hit)
        rows += [{"level": r["level"], "code": r["code"], "year": r["year"],
                  "reason": "; ".join(reason(f, r["rule"]) for f in str(r["flags"]).split(";")), "area at stake (1000 ha)": a / KHA}
                 for (_, r), a in zip(hit.iterrows(), stake)]
    out = pd.DataFrame(rows, columns=["level", "code", "year", "reason", "area at stake (1000 ha)"])
    return out.sort_values("area at stake (1000 ha)", ascending=False, na_position="last", kind="stable").reset_index(drop=True)


# the harmonisation's flags (irrmap.core.statistics.harmonise), as the report words them
REASONS = {
    "sources_disagree": "sources disagree beyond the tolerance",
    "exceeds_cropland": "statistic exceeds the unit's cropland",
    "exceeds_unit_area": "statistic exceeds the unit's area",
    "year_jump": "year-to-year jump beyond max_jump",
    "children_exceed_parent": "reported children exceed the parent",
    "equal_split": "missing children split equally (no prior)",
    "children_within_tolerance": "children differ from the parent within the tolerance (kept)",
    "parent_below_children": "parent below the sum of its children",
    "parent_above_children": "parent above the sum of its children",
    "no_residual": "missing from every table; its reported siblings already exceed the parent, so it keeps only what is "
                   "reported beneath it (0 without any): unknown, not 0",
    "children_tiny_share": "reported children sum to a tiny share of the parent (a table in a wrong area unit?)",
    "adjusted_beyond_tolerance": "reported value adjusted by more than the tolerance",
    "not_in_hierarchy": "code of no unit",
}
#: what became of a parent flagged parent_below/above_children, by the rule of its final value (harmonise step 5)
PARENT_OUTCOME = {"sum_of_children": " (above the binding level: replaced by the sum)"}
PARENT_KEPT = " (the parent binds: kept, and its children were scaled to it)"


def reason(flag: str, rule) -> str:
    """The report's words for one harmonise flag of an audit row whose final value has `rule`: a parent that
    disagrees with its children was replaced by their sum above the binding level, else it was kept and its
    children scaled (harmonise._scale / _sum_up)."""
    text = REASONS.get(flag, flag)
    if flag in ("parent_below_children", "parent_above_children"):
        text += PARENT_OUTCOME.get(str(rule), PARENT_KEPT)
    return text


AUDIT_FIXED = ("code", "level", "year", "chosen", "source", "area_m2", "rule", "adjustment_m2", "adjustment_pct", "flags")


def _at_stake(audit: pd.DataFrame) -> np.ndarray:
    """Per audit row, m2: the larger of the adjustment and the largest gap between a source and the chosen value."""
    sources = audit[[c for c in audit.columns if c not in AUDIT_FIXED]].to_numpy(dtype=float)
    chosen = audit["chosen"].to_numpy(dtype=float)[:, None]
    gap = np.nanmax(np.abs(sources - chosen), axis=1, initial=0.0) if sources.shape[1] else np.zeros(len(audit))
    return np.fmax(np.abs(audit["adjustment_m2"].to_numpy(dtype=float)), gap)


def largest_adjustments(audit: pd.DataFrame) -> pd.DataFrame:
    """The TOP audit rows with the largest non-zero absolute adjustment, areas in 1000 ha (empty when none)."""
    size = np.abs(audit["adjustment_m2"].to_numpy(dtype=float))
    top = audit.assign(_abs=size)[size > 0].sort_values("_abs", ascending=False, kind="stable").head(TOP)
    return pd.DataFrame({"code": top["code"], "level": top["level"], "year": top["year"], "rule": top["rule"],
                         "chosen (1000 ha)": top["chosen"] / KHA, "final (1000 ha)": top["area_m2"] / KHA,
                         "adjustment (1000 ha)": top["adjustment_m2"] / KHA, "adjustment %": top["adjustment_pct"]})


def change_png(before: Path, after: Path, grid: Grid, title: str) -> bytes:
    """Map of the change: per display block, the share of pixels the reconciliation made irrigated minus the
    share it made not irrigated (-1..1, blue = added, red = removed; grey = no data on either map)."""
    a = read_raster(after, grid, kind="categorical")
    b = read_raster(before, grid, kind="categorical")
    diff = (a.where(a != 255) - b.where(b != 255)).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    q = quicklook_array(diff.assign_attrs(nodata=None))
    fig, ax, extent = _map_axes(diff, q.shape)
    lim = max(float(np.nanmax(np.abs(q), initial=0.0)), 1e-6)
    im = ax.imshow(q, cmap=_plt().get_cmap("RdBu"), vmin=-lim, vmax=lim, interpolation="nearest", extent=extent)
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("share of pixels added (+) or removed (-)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return _map_png(fig, ax, title)


def write_reconcile_report(outdir, *, agreement: pd.DataFrame, before: pd.DataFrame | None, audit: pd.DataFrame,
                           units: pd.DataFrame, skipped: pd.DataFrame, run_class: Path | None, grid: Grid,
                           classes: dict, command: str, written: list | None = None) -> Path:
    """Write OUTDIR/report.html (and report.md with figures/); returns the HTML path. `written` (optional list):
    receives the other files written (report.md and each figures/*.png), for the run's manifest.

    agreement / before: level, code, year, mapped_m2, statistic_m2 after and before reconciliation; audit: the
    harmonisation's audit table; units: per binding unit (level, code, year, target_m2, mapped_m2, shortfall_m2,
    status); skipped: year, code, reason of batch units left out; run_class: the run's class map (or None);
    classes: {year: reconciled class map}."""
    r = Report("Statistics reconciliation", "How the run's irrigation map was made to agree with the harmonised statistics, "
               "unit by unit, and what had to be changed on the way. Areas in 1000 ha.")
    s = r.section("Agreement with the statistics, before and after")
    frames = ([metrics_by_level(before, "before")] if before is not None else []) + [metrics_by_level(agreement, "after")]
    table = pd.concat(frames, ignore_index=True)
    s.text("`before`: the run's map; `after`: the reconciled map. Each row compares the mapped area of every unit of a level "
           "with its reconciled statistic; at the level a job is bound to the error is at most half a pixel's cropland area. "
           "Only reported statistics count: values the harmonisation made up (filled from a parent by the prior, interpolated "
           "or summed from children) are in agreement_derived.csv and in no metric here.")
    n_derived = len(agreement) - len(reported_only(agreement))
    if n_derived:
        s.text(f"{n_derived} unit statistics are derived, not reported, and left out: "
               + ", ".join(f"{lv} {n}" for lv, n in agreement[agreement["derived"].astype(bool)].groupby("level", sort=False).size().items()) + ".")
    if len(table):
        s.table(table.sort_values(["year", "level", "map"], kind="stable"), digits=4)
    else:
        s.text("No reported statistic to compare with.")
    for (level, year), g in reported_only(agreement).groupby(["level", "year"], sort=False, dropna=False):
        if len(g) >= 2:
            label = level if pd.isna(year) else f"{level} {year}"
            s.figure(scatter_png(g, title=f"{label}: after", unit_label="1000 ha", scale=KHA), f"scatter_{label.replace(' ', '_')}")
    s.command(command)
    s = r.section("Flagged units")
    flagged = flagged_units(units, audit, skipped)
    s.text(f"{len(flagged)} units flagged, ranked by the area at stake." if len(flagged) else "No unit was flagged.")
    if len(flagged):
        s.table(flagged.head(TOP * 2), digits=4)
    s = r.section("Largest adjustments of the statistics")
    adj = largest_adjustments(audit)
    if len(adj):
        s.table(adj, digits=4, caption=f"the {len(adj)} largest changes the harmonisation made (audit.csv has every unit)")
    else:
        s.text("The harmonisation changed no value (audit.csv lists every unit and the rule that chose its value).")
    s = r.section("Change the reconciliation made to the map")
    if run_class is None:
        s.text("The run has no class map to compare with.")
    for year, path in classes.items():
        if run_class is not None:
            s.figure(change_png(run_class, path, grid, f"reconciled minus run map, {year}"), f"change_{year}")
    md, html = r.write(outdir, "report")
    if written is not None:
        written.extend([md, *r.figure_paths])
    return html
