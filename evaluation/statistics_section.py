"""The report section comparing mapped area with the area statistics, labelled for what it is: when the map
was trained on threshold maps matched to those statistics, agreement with them is consistency with the
constraint, not validation. Each level is compared with its own table where the run has one; units without a
statistic are listed."""

from __future__ import annotations

import pandas as pd

from irrmap.core.areas import M2_PER_UNIT


def statistics_section(rep, statistics, constrained: bool) -> dict:
    """Add the section to `rep`. `statistics`: a workflow.StatisticsResult; `constrained`: the map's training
    labels were matched to these statistics (the pipeline's classifier and threshold maps). Returns results."""
    from irrmap.evaluation.agreement import scaled_metrics, scatter_png

    scale = M2_PER_UNIT[statistics.out_unit]
    if constrained:
        sec = rep.section("Consistency with the statistics the map was constrained to")
        sec.text("The threshold maps that trained this map were forced to match these statistics unit by unit, so agreement "
                 "here is expected and is **not** an independent check of accuracy: it shows how far the classifier drifted "
                 "from the constraint. Independent checks are the reference-point sections.")
    else:
        sec = rep.section("Mapped area against statistics")
    rows = [{"level": lv, "compared with": statistics.sources.get(lv, ""),
             **{k: v for k, v in scaled_metrics(mt, scale).items() if k != "not_estimable"}} for lv, mt in statistics.metrics.items()]
    sec.table(pd.DataFrame(rows), f"Agreement per level (areas in {statistics.out_unit}; bias = mean(mapped - statistics)).")
    totals = [{"level": lv, "units": len(df), f"statistics_{statistics.out_unit}": df["statistic_m2"].sum() / scale,
               f"mapped_{statistics.out_unit}": df["mapped_m2"].sum() / scale} for lv, df in statistics.levels.items() if len(df)]
    if totals:
        sec.table(pd.DataFrame(totals), "Totals over the units compared at each level.")
    reasons = {f"{k} ({lv})": why for lv, mt in statistics.metrics.items() for k, why in mt["not_estimable"].items()}
    if reasons:
        sec.text("Not estimable (n/a above): " + "; ".join(f"{k}: {why}" for k, why in reasons.items()) + ".")
    lo = statistics.left_out
    no_stat = lo.get("units_without_statistic") or []
    if no_stat:
        sec.text(f"{len(no_stat)} unit(s) without a statistic, not compared: {', '.join(map(str, no_stat[:40]))}"
                 + (" ..." if len(no_stat) > 40 else "") + ".")
    if lo.get("units_without_mapped_area") or lo.get("statistics_without_unit"):
        sec.text(f"Also left out: {len(lo['units_without_mapped_area'])} units without a mapped area "
                 f"({'; '.join(f'{c}: {w}' for c, w in list(lo['units_without_mapped_area'].items())[:5]) or 'none'}), "
                 f"{len(lo['statistics_without_unit'])} statistics matching no unit ({', '.join(lo['statistics_without_unit'][:5]) or 'none'}).")
    for lv, df in statistics.levels.items():
        if len(df):
            sec.figure(scatter_png(df, title=f"{lv}: mapped vs statistics", unit_label=statistics.out_unit, scale=scale),
                       f"scatter_{lv}", f"{lv}: mapped irrigated area against {statistics.sources.get(lv, 'statistics')}, 1:1 line dashed.")
    sec.command(statistics.command)
    return statistics.to_dict() | {"constrained": constrained}


__all__ = ["statistics_section"]
