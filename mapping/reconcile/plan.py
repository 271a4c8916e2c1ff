"""Which jobs a reconciliation runs and at which level each is bound.

A job is one unit of the batch level (`by`, e.g. province) in one year. It is bound to the finest level
(county, then city, then province) at which every unit of the job that has pixels has a statistic that year and
at least one of them was reported (not every value filled by disaggregating the parent, rule "disaggregated"),
so county statistics bind where counties are reported, a county missing from them takes its filled value, and
province statistics bind where only provinces are (the classifier, not a cropland prior, then places the area
within the province). Harmonised statistics are consistent across levels, so binding the finest also meets the
coarser ones within their tolerance. When no level has a statistic for every unit (a county table with one
county missing and no parent to fill it from), the job is bound to the finest level with reported units: those
are met, the units without a statistic get no target (`Job.missing`; status "missing" in units.csv, no data on
the map). Only a job none of whose units has a statistic at any level up to `by` is left out and listed
("no statistic at ... level").
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from irrmap.mapping.reconcile.jobs import Job

from irrmap.core.errors import ConfigError, DataError


def level_codes(units: pd.DataFrame, level: str, finest: str) -> pd.Series:
    """Each zone's code at `level` (the units table's `code` column at the finest level, else its level column)."""
    col = "code" if level == finest else level
    if col not in units.columns:
        raise ConfigError(f"level {level!r} is not a level of the units ({', '.join(c for c in units.columns if c != 'zone')})",
                          "[reconcile]", "use a level of [units]' hierarchy (e.g. county, city, province; county, state)")
    return units[col].astype(str)


def plan_jobs(units: pd.DataFrame, levels: list[str], stats: pd.DataFrame, sums: pd.DataFrame, *, by: str,
              only: list[str] | None = None, rule: str = "nearest",
              fingerprint_extra: str = "") -> tuple[list[Job], list[dict]]:
    """Jobs for every year of `stats` and every unit of level `by` (or those in `only`).

    units: the units stage's table (zone, code, one column per coarser level); levels: finest first;
    stats: reconciled statistics (code, level, year, area_m2, optionally rule); sums: irrmap.mapping.reconcile.zone_sums.
    Returns (jobs, skipped) where skipped lists {year, code, reason} of batch units left out.
    Raises ConfigError when `by` is not in `levels`; DataError when a code of `only` is no unit of level `by`."""
    if by not in levels:
        raise ConfigError(f"level {by!r} is not a level of the units ({', '.join(levels)})", "--by / [reconcile].by",
                          f"use one of: {', '.join(levels)}")
    finest = levels[0]
    sums = sums.set_index("zone")
    with_pixels = units[units["zone"].map(sums["row1"]).fillna(-1).to_numpy() > 0]
    batch = level_codes(with_pixels, by, finest)
    todo = sorted(batch.unique())
    if only:
        unknown = sorted(set(map(str, only)) - set(level_codes(units, by, finest)))
        if unknown:
            raise DataError(f"no {by} with code(s) {', '.join(unknown)}", "--only", f"give codes of the {by} level, e.g. {', '.join(todo[:3])}")
        todo = [c for c in todo if c in set(map(str, only))]
    candidates = levels[: levels.index(by) + 1]
    jobs, skipped = [], []
    for year in sorted(stats["year"].unique(), key=str):
        st = stats[stats["year"] == year]
        for code in todo:
            rows = with_pixels[(batch == code).to_numpy()]
            job = _job(rows, code, year, st, candidates, finest, sums, rule, fingerprint_extra)
            if job is None:
                skipped.append({"year": year, "code": code, "reason": f"no statistic at {' or '.join(candidates)} level"})
            else:
                jobs.append(job)
    return jobs, skipped


def _job(rows, code, year, st, candidates, finest, sums, rule, extra) -> Job | None:
    partial = None  # the finest level with some reported units, when no level has every unit
    for lv in candidates:
        codes = level_codes(rows, lv, finest)
        at = st[st["level"] == lv].set_index("code")
        has = codes.map(at["area_m2"]).notna()
        reported = has & ((codes.map(at["rule"]) != "disaggregated") if "rule" in at.columns else True)
        if has.all() and reported.any():
            break
        if partial is None and reported.any():
            partial = lv
    else:
        if partial is None:
            return None
        lv = partial  # bind the reported units; those without a statistic get none (status missing) and are listed
        codes = level_codes(rows, lv, finest)
    uniq = sorted(codes.unique())
    bind = pd.Series(np.arange(1, len(uniq) + 1), index=uniq)
    values = st[st["level"] == lv].set_index("code")["area_m2"]
    ext = sums.loc[rows["zone"].to_numpy()]
    window = (int(ext["row0"].min()), int(ext["row1"].max()), int(ext["col0"].min()), int(ext["col1"].max()))
    return Job(code=str(code), year=year, level=lv, zones=tuple(int(z) for z in rows["zone"]), bind=tuple(int(b) for b in codes.map(bind)),
               codes=tuple(uniq), targets=tuple(float(values.get(c, np.nan)) for c in uniq), window=window, rule=rule,
               fingerprint_extra=extra)
