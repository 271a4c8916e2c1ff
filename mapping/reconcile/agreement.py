"""Mapped area against the reconciled statistics at every level: the zones' mapped areas summed to each unit
of each level that has a statistic."""

from __future__ import annotations

import pandas as pd
from irrmap.mapping.reconcile.plan import level_codes


DERIVED_RULES = ("disaggregated", "interpolated", "sum_of_children")  # harmonise rules that make a value up (not reported)


def agreement_table(units: pd.DataFrame, levels: list[str], stats: pd.DataFrame, mapped: pd.Series, year) -> pd.DataFrame:
    """Rows level, code, year, mapped_m2, statistic_m2, derived for every unit with a statistic in `year` whose
    zones were all mapped. units: zone, code, coarser levels; stats: code, level, year, area_m2 and optionally rule
    (irrmap.core.statistics.harmonise); mapped: m2 by zone id (zones of jobs not run are absent).
    `derived` is True where the statistic was not reported but made up by the harmonisation (filled from a
    parent by the prior, interpolated, or summed from children): agreement with it says nothing about the map
    and belongs in no metric."""
    rows = []
    st = stats[stats["year"] == year]
    done = units["zone"].isin(mapped.index)
    for lv in levels:
        codes = level_codes(units, lv, levels[0])
        complete = done.groupby(codes.to_numpy()).all()
        sums = units["zone"].map(mapped).groupby(codes.to_numpy()).sum()
        at = st[st["level"] == lv].set_index("code")
        s = at["area_m2"]
        rule = at["rule"] if "rule" in at.columns else pd.Series("precedence", index=at.index)
        keep = [c for c in s.index if complete.get(c, False)]
        rows.append(pd.DataFrame({"level": lv, "code": keep, "year": year, "mapped_m2": sums.reindex(keep).to_numpy(),
                                  "statistic_m2": s.reindex(keep).to_numpy(),
                                  "derived": rule.reindex(keep).isin(DERIVED_RULES).to_numpy(dtype=bool)}))
    return pd.concat(rows, ignore_index=True)
