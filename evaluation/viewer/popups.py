"""The admin-unit popups of the offline viewer: what the run knows of each unit, from the run's own tables.

Per unit and level (`unit_rows`): mapping/irrigated_area_by_unit.csv (mapping.unit_areas.TABLE_COLUMNS:
irrigated_area_ha, unpredicted_cropland_ha, statistic_ha, coverage, statistic_on_grid_ha; areas in ha), the
evaluation's own table of the level (evaluation/statistics_LEVEL.csv, m2) and the statistics stage's level totals
(statistics/totals_LEVEL.csv, area_m2) for a statistic the unit table lacks, and the unit's share on the grid from
units/units.csv (on_grid_area_m2 / polygon_area_m2, summed over the finest units of a coarser unit). An older unit
table without `coverage` gets it from units/units.csv (partial, on_grid_share), as mapping.unit_areas.unit_coverage
does. 1 ha = 1e4 m2.

`popup` compares the mapped area with the statistic of the unit's part on the grid (statistic_on_grid_ha): a unit
cut by the grid compared with its whole statistic reads the part off the grid as an underestimate (620102, 2.7 % on
the grid: -98.2 % against the whole statistic, +1.1 % against its part's); a unit off the grid is "not mapped"; the
cropland the map left unpredicted is given, the mapped area being a lower bound by up to that much.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

from irrmap.core.share_text import percent_text

M2_PER_HA = 1e4
WHOLE, PARTIAL, OFF_GRID = "whole", "partial", "off grid"  # mapping.unit_areas' coverage values


def missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt(v, unit="ha") -> str:
    return "—" if missing(v) else f"{v:,.1f} {unit}"


def unit_rows(out_dir: Path, unit_table: Path | None, levels: list[str]) -> dict[tuple[str, str], dict]:
    """{(level, code): row} of every table above; keys of the evaluation's table prefixed level_, of the totals
    totals_, the grid share on_grid_share and, for a unit table without coverage, units.csv's grid_coverage."""
    import pandas as pd

    table: dict[tuple[str, str], dict] = {}
    if unit_table is not None:
        for row in pd.read_csv(unit_table, dtype={"code": str}).to_dict("records"):
            table[(str(row.get("level")), str(row["code"]))] = row
    for level in levels:
        f = out_dir / "evaluation" / f"statistics_{level}.csv"  # each level against its own table (m2)
        if f.is_file():
            for row in pd.read_csv(f, dtype={"code": str}).to_dict("records"):
                if {"statistic_m2", "mapped_m2"} <= set(row):
                    table.setdefault((level, str(row["code"])), {}).update(
                        level_statistic_ha=row["statistic_m2"] / M2_PER_HA, level_mapped_ha=row["mapped_m2"] / M2_PER_HA,
                        level_source=f"evaluation/{f.name}")
        f = out_dir / "statistics" / f"totals_{level}.csv"  # the statistics stage's totals of the level (m2)
        if f.is_file():
            t = pd.read_csv(f, dtype={"code": str})
            if {"code", "area_m2"} <= set(t.columns):
                for code, area in zip(t["code"].astype(str), t["area_m2"]):
                    table.setdefault((level, code), {}).update(totals_statistic_ha=area / M2_PER_HA, totals_source=f"statistics/{f.name}")
    _grid_shares(out_dir / "units" / "units.csv", levels, table)
    return table


def _grid_shares(path: Path, levels: list[str], table: dict) -> None:
    import pandas as pd

    if not levels or not path.is_file():
        return
    u = pd.read_csv(path, dtype=str)
    if not {"code", "on_grid_area_m2", "polygon_area_m2"} <= set(u.columns):
        return
    on, area = pd.to_numeric(u["on_grid_area_m2"], errors="coerce"), pd.to_numeric(u["polygon_area_m2"], errors="coerce")
    part = u["partial"].str.lower().isin(["true", "1"]) if "partial" in u else pd.Series(False, index=u.index)
    for i, level in enumerate(levels):
        key = u["code"] if i == 0 else u.get(level)
        if key is None:
            continue
        g = pd.DataFrame({"key": key.astype(str), "on": on, "area": area, "part": part, "off": part & (on <= 0)}).groupby("key")
        s = g[["on", "area"]].sum()
        cov = g["part"].any().map({True: PARTIAL, False: WHOLE}).where(~g["off"].all(), OFF_GRID)
        for code in s.index:
            entry = table.setdefault((level, code), {})
            entry["on_grid_share"] = float(s.at[code, "on"] / s.at[code, "area"]) if s.at[code, "area"] > 0 else None
            entry["grid_coverage"] = cov[code]


def coverage(row: dict) -> str | None:
    """The unit's coverage by the grid: the unit table's column, else units/units.csv's (older tables), else None."""
    c = row.get("coverage")
    return c if isinstance(c, str) and c else row.get("grid_coverage")


def popup(name: str, code: str, row: dict) -> str:
    """The popup HTML of one unit (`row`: unit_rows' entry, {} when no table knows the unit)."""
    head = f"<b>{html.escape(code)}</b>" if name == code else f"<b>{html.escape(name)}</b> ({html.escape(code)})"
    cov, share = coverage(row), row.get("on_grid_share")
    whole_stat = row.get("statistic_ha")
    if cov == OFF_GRID:
        stat = whole_stat if not missing(whole_stat) else row.get("totals_statistic_ha")
        return (f"{head}<br><i>off the grid: not mapped</i> (no part of the unit lies on the map's grid)"
                + (f"<br>statistic of the whole unit: {fmt(stat)}, not compared" if not missing(stat) else ""))
    mapped, source, lines, tail = row.get("irrigated_area_ha"), "", [], []
    if cov == PARTIAL:
        lines.append("<i>partly on the grid</i>" + (f" ({percent_text(share, sep='')} of its area)" if not missing(share) else "")
                     + ": the mapped area covers that part only")
        if "statistic_on_grid_ha" in row:
            stat, label = row["statistic_on_grid_ha"], "statistic for its part on the grid"
        else:
            stat, label = None, "statistic for its part on the grid"
            lines.append("(not in this older mapping/irrigated_area_by_unit.csv: run `irrmap run` again)")
        if not missing(whole_stat):
            tail.append(f"statistic of the whole unit: {fmt(whole_stat)}, not compared")
    else:
        label = "statistic"
        stat = row.get("statistic_on_grid_ha") if not missing(row.get("statistic_on_grid_ha")) else whole_stat
        if missing(stat) and not missing(row.get("level_statistic_ha")):
            # a level without its statistic in the per-unit table: the statistic from the evaluation's own table of
            # that level; the mapped area stays the per-unit table's (one computation of mapped area for every popup)
            stat, source = row["level_statistic_ha"], row["level_source"]
            if missing(mapped):
                mapped = row["level_mapped_ha"]
        elif missing(stat) and not missing(row.get("totals_statistic_ha")):
            stat, source = row["totals_statistic_ha"], row["totals_source"]  # the level's statistic as the run read it
    diff = None if missing(stat) or missing(mapped) else mapped - stat
    pct = diff / stat * 100 if diff is not None and stat != 0 else None
    gap = row.get("unpredicted_cropland_ha")
    out = [head, *lines, f"{label}: {fmt(stat)}" + (f" <small>({html.escape(source)})</small>" if source else ""),
           f"mapped: {fmt(mapped)}"]
    if not missing(gap) and gap > 0:
        out.append(f"cropland not predicted: {fmt(gap)} (a predictor has no value there): the mapped area is a lower bound")
    out.append(f"difference: {fmt(diff)}" + (f" ({pct:+.1f} %)" if pct is not None else ""))
    out += tail
    if "irrigated_area_ha" not in row and not source:
        out.append("<i>not in mapping/irrigated_area_by_unit.csv</i>")
    return "<br>".join(out)


__all__ = ["OFF_GRID", "PARTIAL", "WHOLE", "coverage", "fmt", "missing", "popup", "unit_rows"]
