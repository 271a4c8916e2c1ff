"""Harmonise irrigated-area statistics from several sources, admin levels and years into one consistent set,
with an audit of every choice and adjustment (issue 17).

Steps, in order; each value that a step sets names the step in the `rule` column, and each finding adds a
flag (the audit's `flags`, ";"-separated):

1. ``precedence``: the value of the first source in `HarmoniseRules.precedence` that reports the unit and
   year. Flag ``sources_disagree`` when another source differs from it by more than `tolerance` (relative).
2. ``interpolated``: a year missing between two reported years of the unit, linear in time (no
   extrapolation); the audit has every year from the first reported to the last.
3. Checks, flags only: ``not_in_hierarchy`` (a code no unit has: kept, outside every parent), ``year_jump``
   (a reported value changes from one reported year to the next by more than a factor `max_jump`, either
   way); after step 6, on the final values: ``exceeds_cropland`` (> the unit's cropland x (1 + tolerance))
   and ``exceeds_unit_area`` (> the unit's whole area).
4. ``sum_of_children``, then ``disaggregated``: first, fine to coarse, a unit without a value whose children all
   have one gets their sum (a level without a table between two with tables: a county and a province table
   make each city the sum of its counties, never a share of the province). Then, top-down for every pair of
   adjacent levels and before anything is scaled (from the parents' values as reported), a missing child gets
   what its reported descendants say (irrmap.core.statistics.residual:
   their sum, 0 without any) plus a share of the parent's residual (parent - children with a value - what is
   reported beneath the missing ones), split in proportion to the prior of each missing child's unreported
   part (`prior`: cropland area, the previous map's or the classifier's expected irrigated area, minus that
   of its reported descendants); flag ``children_exceed_parent`` (residual < 0, beyond floating-point
   rounding: no share; on the nearest reported value, and ``no_residual`` on each missing child, which then
   keeps only what is reported beneath it, as do the missing units beneath it, with a warning naming them) and ``equal_split`` (a positive residual and no
   missing child with a positive prior). So the prior splits only the residual among the missing
   descendants: a parent that agrees with what is reported beneath it changes no reported value.
5. ``scaled_to_parent``: at and below `binding_level` the parent binds, coarse to fine once step 4 filled every
   missing child: children whose sum is off their parent's value (scaled by its own parent, if it was) by more
   than `tolerance` are scaled by parent / sum, so each binding factor reaches every descendant (province 110,
   cities 50 + 50, counties 25, 25, 25 and one missing: the missing county is 25, then every county 27.5). The
   flags of this step and the next compare the values before any scaling or replacement (`_flag_disagreement`)
   (within tolerance they are accepted unchanged, flag
   ``children_within_tolerance`` on the parent; beyond it the parent is flagged ``parent_below_children`` /
   ``parent_above_children`` when a child was reported: the parent if a table reported it, else the
   nearest reported ancestor, never a value made up here; a summed child keeps its rule and passes the factor on
   to its children, and ``children_tiny_share`` when all of them
   are reported and sum to less than TINY_SHARE of it: a table in a wrong area unit). Above it the children
   bind: ``sum_of_children`` replaces a parent that is off by more than `tolerance` (same flags).
   Every other value whose final area differs from its reported (chosen) one by more than `tolerance` is
   flagged ``adjusted_beyond_tolerance``, whatever the step.
6. A convergence check: every parent at the end equals the sum of its children within `tolerance`, else
   ConvergenceError names the units (e.g. a positive parent whose children are all reported as 0).

Where two margins bind at once, `rake_categories` rakes a unit x category table (e.g. districts x water
source: canals, tanks, wells) to the harmonised unit totals and to the parent's totals per category, with
`max_iter` and `tol` of the rules; margins whose totals disagree raise ConvergenceError.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from irrmap.core import plausibility
from irrmap.core.errors import ConfigError, DataError
from irrmap.core.statistics.raking import ConvergenceError, rake
from irrmap.core.statistics.residual import beneath, missing_prior
from irrmap.core.units import normalise_codes, several_parents, several_parents_text

PRIORS = ("cropland", "previous_map", "expected")
NO_YEAR = -1  # the year key of tables without a year; shown as <NA> in the outputs
AUDIT_COLUMNS = ("code", "level", "year", "chosen", "source", "area_m2", "rule", "adjustment_m2", "adjustment_pct", "flags")
ROUNDING = 1e-9  # relative difference below which a sum equals its parent (floating-point rounding, not a disagreement)
log = logging.getLogger(__name__)
DERIVED = ("disaggregated", "sum_of_children")  # rules of values harmonise made up (an interpolated one stays the unit's own)
TINY_SHARE = 0.01  # reported children summing to less than this share of their parent: likely a wrong area unit of one table


@dataclass
class SourceTable:
    """One statistics table: source `name` (e.g. "census", "water_rights"), admin `level` (a level of the
    hierarchy), `year` (None when the table has a `year` column or no year), `variant` (e.g. "effective")
    and `table` with columns code, area_m2 (m2, as irrmap.core.statistics.read_statistics gives) and
    optionally year; `area_unit` is the unit the table was written in (a key of irrmap.core.areas.M2_PER_UNIT,
    None when unknown), named in the advice when the table's scale is implausible."""

    name: str
    level: str
    year: int | None
    variant: str | None
    table: pd.DataFrame
    area_unit: str | None = None


@dataclass
class HarmoniseRules:
    """How to harmonise. `precedence`: source names, first wins (sources not named rank after, in the order
    given); `tolerance`: relative disagreement accepted (parent/children, sources, cropland); `max_jump`:
    year-to-year factor flagged; `prior`: what splits a parent's residual ("cropland" uses `cropland_m2`,
    "previous_map" and "expected" use `prior_m2`); `binding_level`: the level whose values bind (default: the
    coarsest level with values); `max_iter`, `tol`: iteration cap and relative tolerance of raking."""

    precedence: list[str] = field(default_factory=list)
    tolerance: float = 0.02
    max_jump: float = 3.0
    prior: str = "cropland"
    binding_level: str | None = None
    max_iter: int = 100
    tol: float = 1e-9

    def __post_init__(self):
        if self.prior not in PRIORS:
            raise ConfigError(f"unknown prior {self.prior!r}", "prior", f"use one of: {', '.join(PRIORS)}")
        if not 0 <= self.tolerance < 1 or self.max_jump <= 1:
            raise ConfigError(f"tolerance {self.tolerance} / max_jump {self.max_jump} out of range", "tolerance",
                              "give 0 <= tolerance < 1 (e.g. 0.02) and max_jump > 1 (e.g. 3)")


@dataclass
class HarmoniseResult:
    """`reconciled`: code, level, year, area_m2, rule, source (units with a value); `audit`: one row per unit,
    level and year: code, level, year, one column per source (m2), chosen (m2, by precedence), source,
    area_m2 (final), rule, adjustment_m2 (final - chosen), adjustment_pct, flags."""

    reconciled: pd.DataFrame
    audit: pd.DataFrame


def hierarchy_of(units) -> pd.DataFrame:
    """The hierarchy frame `harmonise` takes, from an irrmap.core.units.AdminUnits: code, level, parent (the
    code one level up; None at the top), one row per unit of every level. `units.levels` run finest first, each level
    nesting in the next (AdminUnits.read orders hierarchy 'fields' levels so); DataError naming the level pair and the
    codes when a code of a level lies in more than one unit of the next (never one of its parents picked silently)."""
    rows = []
    for i, level in enumerate(units.levels):
        codes = units.level_codes(level)
        parents = units.level_codes(units.levels[i + 1]) if i + 1 < len(units.levels) else pd.Series([None] * len(codes))
        if i + 1 < len(units.levels):
            conflicts = several_parents(codes, parents)
            if len(conflicts):
                raise DataError(f"{several_parents_text(conflicts, level, units.levels[i + 1])}: the unit levels "
                                f"{' -> '.join(units.levels)} do not nest", units.source or "units",
                                "give every unit one parent code per level, finest level first ([units].parent_fields)")
        frame = pd.DataFrame({"code": codes.to_numpy(), "level": level, "parent": parents.to_numpy()}).dropna(subset=["code"])
        rows.append(frame.drop_duplicates("code"))
    return pd.concat(rows, ignore_index=True)


def harmonise(tables: list[SourceTable], hierarchy: pd.DataFrame, *, rules: HarmoniseRules, cropland_m2: pd.Series | None = None,
              unit_area_m2: pd.Series | None = None, prior_m2: pd.Series | None = None, check_scale: bool = True) -> HarmoniseResult:
    """Harmonise `tables` over `hierarchy` (code, level, parent) under `rules` (the steps are in the module
    docstring). `cropland_m2`, `unit_area_m2` and `prior_m2` are m2 by code at any level (missing coarser
    codes are summed from their children).

    Every table first passes the scale check of every statistics reader (irrmap.core.plausibility.table_scale, per
    year, against `cropland_m2` and `unit_area_m2` summed to the table's level): a table too small or too large is
    a logged warning naming the source, the finding and the area unit that fits (the values are kept: the audit
    flags exceeds_cropland / exceeds_unit_area value by value; the reconcile stage stops on a strict table first).
    `check_scale=False` leaves it out for a caller that has checked every table already (the reconcile stage, through
    irrmap.core.statistics.validate_statistics, whose warning names the table's own options: one warning, not two).

    Raises DataError for a code repeated within one source and year, a code at another level than its table
    says, or tables with and without years mixed; ConfigError for a precedence naming no table or a prior
    that was not given when a child must be filled; ConvergenceError when parents and children still
    disagree at the end.
    """
    h = _hierarchy(hierarchy)
    long = _long(tables, h)
    up = _summing_up(h)
    if check_scale:
        _check_scale(tables, long, up, cropland_m2, unit_area_m2)
    order = _order(rules.precedence, [t.name for t in tables])
    wide = long.pivot_table(index=["code", "year"], columns="source", values="area_m2", aggfunc="first").reindex(columns=order)
    reported = sorted(long["year"].unique())
    years = list(range(reported[0], reported[-1] + 1)) if reported[0] != NO_YEAR else reported  # every year in the span
    full = pd.MultiIndex.from_product([h.index.union(wide.index.get_level_values("code").unique()), years], names=["code", "year"])
    w = wide.reindex(full).reset_index()
    w["level"] = w["code"].map(h["level"]).fillna(w["code"].map(long.drop_duplicates("code").set_index("code")["level"]))
    w = w.set_index(["code", "year"])
    flags = {k: [] for k in w.index}
    for key in w.index[~w.index.get_level_values("code").isin(h.index)]:
        flags[key].append("not_in_hierarchy")
    _choose(w, order, rules, flags)
    _interpolate(w)
    _check_jumps(w, rules, flags)
    _reconcile_levels(w, h, rules, flags, lambda: _prior(rules, cropland_m2, prior_m2, up))
    for series, flag, slack in ((cropland_m2, "exceeds_cropland", rules.tolerance), (unit_area_m2, "exceeds_unit_area", ROUNDING)):
        if series is not None:  # the final values, filled and scaled ones included
            limit = w.index.get_level_values("code").map(up(series)).to_numpy(dtype=float)
            for key in w.index[w["area_m2"].to_numpy() > limit * (1 + slack)]:
                flags[key].append(flag)
    _warn_no_residual(w, flags)
    return _result(w, order, flags, rules.tolerance)


def _warn_no_residual(w: pd.DataFrame, flags: dict) -> None:
    """One warning naming the units a parent left nothing for (flag no_residual): they are set to what is reported
    beneath them (0 without any), which reads as a statistic of 0 although no table reports them."""
    hit = [k for k, f in flags.items() if "no_residual" in f]
    if not hit:
        return
    named = ", ".join(f"{c}" + (f" ({y})" if y != NO_YEAR else "") + f" = {w.at[(c, y), 'area_m2'] / 1e4:.6g} ha" for c, y in hit[:10])
    more = f" and {len(hit) - 10} more" if len(hit) > 10 else ""
    log.warning("harmonise: %d unit(s) missing from every table get only what is reported beneath them, because the units "
                "reported beside them already exceed their parent (flag no_residual; the parent's row has "
                "children_exceed_parent): %s%s. Their value is unknown, not measured as that: give their statistics, or check "
                "the parent's statistic and the children's area unit", len(hit), named, more)


# ---- inputs -----------------------------------------------------------------------------------------
def _hierarchy(hierarchy: pd.DataFrame) -> pd.DataFrame:
    """By code: level, parent, depth (number of ancestors). DataError when a code of a level is given more than one
    parent (one would be picked silently). A code at two levels (cn-adcode's 441900, a city without counties, is its own
    county and city) keeps its first row."""
    given = hierarchy[["code", "level", "parent"]].astype({"code": str})
    rows = given.drop_duplicates(["code", "level", "parent"])
    conflicts = several_parents(rows["code"] + " (" + rows["level"].astype(str) + ")", rows["parent"])
    if len(conflicts):
        raise DataError(f"the hierarchy gives {several_parents_text(conflicts, 'unit', 'parent')}", "hierarchy",
                        "give every code one parent: the unit levels must nest, each code in one code of the next level")
    h = given.drop_duplicates("code").set_index("code")
    h["parent"] = h["parent"].where(h["parent"].notna(), None)
    depth = pd.Series(0, index=h.index)
    ancestor = h["parent"]
    for _ in range(h["level"].nunique()):  # depth = number of ancestors
        known = ancestor.isin(h.index)
        depth += known
        ancestor = ancestor.where(known).map(h["parent"])
    h["depth"] = depth
    return h


def _levels(h: pd.DataFrame) -> list[str]:
    """Levels finest first."""
    return h.groupby("level")["depth"].max().sort_values(ascending=False).index.tolist()


def _long(tables: list[SourceTable], h: pd.DataFrame) -> pd.DataFrame:
    if not tables:
        raise DataError("no statistics tables to harmonise", "harmonise", "give at least one table")
    parts = []
    for t in tables:
        codes = normalise_codes(t.table["code"].to_numpy())  # an empty or NaN code is missing, never the code '' or 'nan'
        if codes.isna().any():
            raise DataError(f"{int(codes.isna().sum())} rows of source {t.name!r} have no unit code (rows "
                            f"{', '.join(map(str, t.table.index[codes.isna().to_numpy()][:10]))})", t.name,
                            "fill the codes or leave those rows out of the table")
        part = pd.DataFrame({"code": codes.to_numpy(dtype=object), "area_m2": pd.to_numeric(t.table["area_m2"]).to_numpy()})
        year = t.table["year"] if "year" in t.table else pd.Series([t.year] * len(t.table))
        part["year"] = pd.to_numeric(year, errors="coerce").fillna(NO_YEAR).astype(int).to_numpy()
        part["source"], part["level"] = t.name, t.level
        wrong = part[part["code"].isin(h.index) & (part["code"].map(h["level"]) != t.level)]
        if len(wrong):
            raise DataError(f"codes {', '.join(wrong['code'].head(5))} of source {t.name!r} are {h.loc[wrong['code'].iloc[0], 'level']} "
                            f"codes, not {t.level}", t.name, "give each table's own admin level")
        parts.append(part.dropna(subset=["area_m2"]))
    long = pd.concat(parts, ignore_index=True)
    dup = long[long.duplicated(["code", "year", "source"], keep=False)]
    if len(dup):
        raise DataError(f"source {dup['source'].iloc[0]!r} reports code {dup['code'].iloc[0]} more than once for one year", "harmonise",
                        "keep one row per code and year in each source (filter the variant, or name variants as separate sources)")
    if (long["year"] == NO_YEAR).any() and (long["year"] != NO_YEAR).any():
        without = sorted(long.loc[long["year"] == NO_YEAR, "source"].unique())
        with_ = sorted(long.loc[long["year"] != NO_YEAR, "source"].unique())
        raise DataError(f"some tables have years ({', '.join(with_)}) and others do not ({', '.join(without)})", "harmonise",
                        f"give every table its year: a year column (year_field) or, for a table of one year (e.g. one sheet of a "
                        f"workbook), the table-level constant `year = YYYY` without year_field ({', '.join(without)})")
    return long


def _check_scale(tables: list[SourceTable], long: pd.DataFrame, up, cropland_m2, unit_area_m2) -> None:
    """irrmap.core.plausibility.table_scale for every table and year, each finding logged as a warning."""
    cropland, unit_area = (up(s) if s is not None else None for s in (cropland_m2, unit_area_m2))
    for t in tables:
        for year, part in long[long["source"] == t.name].groupby("year"):
            areas = pd.Series(part["area_m2"].to_numpy(), index=part["code"].to_numpy())
            finding = plausibility.table_scale(areas, t.area_unit, cropland, unit_area)
            if finding is None:
                continue
            log.warning("harmonise: source %r%s: implausible scale: %s (fix: %s)", t.name, f" ({year})" if year != NO_YEAR else "",
                        finding.message, finding.fix)


def _order(precedence: list[str], names: list[str]) -> list[str]:
    reserved = sorted(set(names) & set(AUDIT_COLUMNS))
    if reserved:
        raise ConfigError(f"source name {reserved[0]!r} is an audit column name", "tables", "rename the source")
    unknown = [p for p in precedence if p not in names]
    if unknown:
        raise ConfigError(f"precedence names {', '.join(map(repr, unknown))}, which no table has", "precedence",
                          f"use the sources' names: {', '.join(dict.fromkeys(names))}")
    return list(dict.fromkeys([*precedence, *names]))


def _summing_up(h: pd.DataFrame):
    """A function: values by code (any level) -> the same with missing parents as the sum of their
    children (NaN where a child is missing: a partial sum is no total)."""
    levels = _levels(h)

    def up(values: pd.Series) -> pd.Series:
        v = pd.Series(values, dtype=float).copy()
        v.index = v.index.astype(str)
        v = v.reindex(v.index.union(h.index))
        for level in levels[:-1]:
            kids = h.index[h["level"] == level]
            sums = v.reindex(kids).groupby(h.loc[kids, "parent"].to_numpy()).sum(min_count=1)
            partial = v.reindex(kids).isna().groupby(h.loc[kids, "parent"].to_numpy()).any()
            sums = sums.where(~partial.reindex(sums.index))
            v = v.fillna(sums.reindex(v.index))
        return v

    return up


def _prior(rules: HarmoniseRules, cropland_m2, prior_m2, up) -> pd.Series:
    given = cropland_m2 if rules.prior == "cropland" else prior_m2
    if given is None:
        name = "cropland_m2" if rules.prior == "cropland" else "prior_m2"
        raise ConfigError(f"missing children must be filled, and prior {rules.prior!r} needs {name}, which was not given", "prior",
                          "give the prior, or choose a prior that the run has (cropland)")
    return up(given)


# ---- steps ------------------------------------------------------------------------------------------
def _choose(w: pd.DataFrame, order: list[str], rules: HarmoniseRules, flags: dict) -> None:
    values = w[order].to_numpy(dtype=float)
    has = ~np.isnan(values)
    first = has.argmax(axis=1)
    chosen = np.where(has.any(axis=1), values[np.arange(len(w)), first], np.nan)
    w["chosen"] = chosen
    w["source"] = np.where(has.any(axis=1), np.array(order, dtype=object)[first], None)
    w["area_m2"] = chosen
    w["rule"] = np.where(has.any(axis=1), "precedence", "missing")
    with np.errstate(invalid="ignore", divide="ignore"):
        spread = np.nanmax(np.abs(np.where(has, values, np.nan) - chosen[:, None]), axis=1, initial=0.0) / np.abs(chosen)
    for key in w.index[spread > rules.tolerance]:
        flags[key].append("sources_disagree")


def _interpolate(w: pd.DataFrame) -> None:
    grid = w["area_m2"].unstack("year")
    if grid.shape[1] < 3:
        return
    filled = grid.T.interpolate(method="index", limit_area="inside").T
    new = filled.stack().reindex(w.index)
    todo = w["area_m2"].isna() & new.notna()
    w.loc[todo, "area_m2"] = new[todo]
    w.loc[todo, "rule"] = "interpolated"


def _check_jumps(w: pd.DataFrame, rules: HarmoniseRules, flags: dict) -> None:
    reported = w.loc[w["chosen"].notna(), "chosen"]
    previous = reported.groupby(level="code").shift(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = reported / previous
    jump = (ratio > rules.max_jump) | (ratio < 1 / rules.max_jump) | ((previous == 0) != (reported == 0)) & previous.notna()
    for key in reported.index[jump.to_numpy()]:
        flags[key].append("year_jump")


def _reconcile_levels(w: pd.DataFrame, h: pd.DataFrame, rules: HarmoniseRules, flags: dict, prior) -> None:
    levels = _levels(h)
    present = [lv for lv in levels if w.loc[w["level"] == lv, "area_m2"].notna().any()]
    if not present:
        return
    binding = rules.binding_level or present[-1]
    if binding not in levels:
        raise ConfigError(f"binding level {binding!r} is not a level of the hierarchy", "binding_level", f"use one of: {', '.join(levels)}")
    b = levels.index(binding)
    parents = h["parent"].dropna().to_dict()
    for k in range(len(levels) - 1):  # fine to coarse: a parent without a value whose children all have one is their sum
        for (parent, year), kids in _families(w, h, levels[k]):
            if np.isnan(w.at[(parent, year), "area_m2"]) and w.loc[kids, "area_m2"].notna().all():
                w.at[(parent, year), "area_m2"] = w.loc[kids, "area_m2"].sum()
                w.at[(parent, year), "rule"] = "sum_of_children"
    has = w["area_m2"].notna()  # a missing unit's floor: what the values beneath it say; fixed until its family is filled
    floor = beneath(w["area_m2"], has, w["level"], levels, h["parent"])
    known = beneath(has.astype(float), has, w["level"], levels, h["parent"]) > 0  # has a value, or values beneath it
    weights = None
    for k in range(len(levels) - 2, -1, -1):  # coarse to fine: missing children from their parents' values as reported
        for (parent, year), kids in _families(w, h, levels[k]):
            p = w.at[(parent, year), "area_m2"]
            missing = kids[w.loc[kids, "area_m2"].isna().to_numpy()]
            if np.isnan(p) or not len(missing):
                continue
            weights = missing_prior(w, has, levels, h, prior()) if weights is None else weights
            _fill(w, flags, (parent, year), p, kids, missing, floor, weights, parents)
    before = w["area_m2"].copy()  # every value before any is scaled or replaced: what the disagreement flags compare
    for k in range(len(levels) - 2, -1, -1):  # coarse to fine: each binding parent's factor passed on to its children
        if k + 1 > b:
            continue
        for (parent, year), kids in _families(w, h, levels[k]):
            if np.isnan(w.at[(parent, year), "area_m2"]):
                continue
            _flag_disagreement(w, flags, (parent, year), kids, before, known, rules.tolerance, parents)
            _scale(w, (parent, year), kids, rules.tolerance)
    for k in range(b, len(levels) - 1):  # above the binding level the children bind, fine to coarse
        for (parent, year), kids in _families(w, h, levels[k]):
            if w.loc[kids, "area_m2"].isna().any():
                continue
            if not np.isnan(w.at[(parent, year), "area_m2"]):
                _flag_disagreement(w, flags, (parent, year), kids, before, known, rules.tolerance, parents)
            _sum_up(w, (parent, year), kids, rules.tolerance)
    _verify(w, h, levels, rules.tolerance)


def _families(w: pd.DataFrame, h: pd.DataFrame, child_level: str):
    """((parent, year), index of the children's (code, year) keys) for every parent of `child_level` units."""
    kids = w[w["level"] == child_level].reset_index()
    kids["parent"] = kids["code"].map(h["parent"])
    kids = kids[kids["parent"].notna() & kids["parent"].isin(w.index.get_level_values("code"))]
    for (parent, year), group in kids.groupby(["parent", "year"], sort=True):
        yield (parent, year), pd.MultiIndex.from_arrays([group["code"], group["year"]])


def _fill(w, flags, key, p, kids, missing, floor, weights, parents) -> None:
    """Fill the `missing` children of `key` (value `p`): each gets its `floor` (what its reported descendants
    say, 0 without any) plus a share of the residual p - children with a value - the floors, in proportion to
    `weights` (the prior of each one's missing part). A negative residual is flagged children_exceed_parent on
    the nearest reported value (the parent or an ancestor) and shares nothing; the missing children are flagged
    no_residual then, and also when the parent is a unit so filled (flag no_residual): their value is unknown."""
    base = floor.reindex(missing).to_numpy(dtype=float)
    residual = p - np.nansum(w.loc[kids, "area_m2"].to_numpy(dtype=float)) - base.sum()
    if residual < 0:
        if residual < -ROUNDING * abs(p):  # below that, floating-point rounding of a parent equal to its children
            _flag_reported(w, flags, key, "children_exceed_parent", parents)
            for m in missing:  # their value is unknown, not 0: the tables contradict each other
                flags[m].append("no_residual")
        residual = 0.0
    if "no_residual" in flags[key]:  # the parent itself got only what is reported beneath it: so do its missing children
        for m in missing:
            flags[m].append("no_residual")
    share = weights.reindex(missing).to_numpy(dtype=float)
    if share.sum() <= 0:
        share = np.ones(len(missing))
        if residual > 0:  # nothing to split when the parent is already met by what is reported beneath it
            for m in missing:
                flags[m].append("equal_split")
    w.loc[missing, "area_m2"] = base + residual * share / share.sum()
    w.loc[missing, "rule"] = "disaggregated"


def _flag_disagreement(w, flags, key, kids, before: pd.Series, known: pd.Series, tolerance, h_parent: dict | None = None) -> None:
    """Flag how the parent `key` and its children `kids` compare as they were before any scaling or replacement
    (`before`: area_m2 after the missing values were filled): never a parent already scaled by its own parent against
    its children (a city equal to its counties is no disagreement because its province scaled it). Within `tolerance`
    but beyond rounding: children_within_tolerance on a reported parent; beyond it, when a child was reported or has
    reported values beneath it (`known`: a city filled with its reported counties' sum under a province below them):
    parent_below_children / parent_above_children (and children_tiny_share when every child was reported and they sum
    to less than TINY_SHARE of the parent: a table in a wrong area unit) on the parent if a table reported it, else
    on the nearest reported ancestor (`_flag_reported`)."""
    p, values = before.at[key], before.reindex(kids)
    if np.isnan(p) or values.isna().any():
        return
    total = values.sum()
    if abs(total - p) <= tolerance * p:
        if abs(total - p) > ROUNDING * p and w.at[key, "rule"] not in DERIVED:
            flags[key].append("children_within_tolerance")
        return
    reported = (w.loc[kids, "rule"].to_numpy() != "disaggregated") | known.reindex(kids).to_numpy(dtype=bool)
    if reported.any():
        _flag_reported(w, flags, key, "parent_below_children" if p < total else "parent_above_children", h_parent)
        if reported.all() and 0 < total < TINY_SHARE * p:
            _flag_reported(w, flags, key, "children_tiny_share", h_parent)


def _scale(w, key, kids, tolerance) -> None:
    """The parent `key` binds: children whose sum is off its current value (scaled by its own parent, if it was) by
    more than `tolerance` are scaled by parent / sum, so that they sum to it; a derived child keeps its rule (a sum
    is the sum of its scaled children) and passes the factor on. The flags are `_flag_disagreement`'s."""
    p = w.at[key, "area_m2"]
    total = w.loc[kids, "area_m2"].sum()
    if abs(total - p) <= tolerance * p:
        return
    if total > 0:
        rules = w.loc[kids, "rule"].to_numpy()
        w.loc[kids, "area_m2"] *= p / total
        changed = kids[~np.isin(rules, DERIVED)]
        w.loc[changed, "rule"] = "scaled_to_parent"


def _flag_reported(w, flags, key, flag, h_parent: dict | None) -> None:
    """Flag the value of `key` if it was reported (or interpolated between reported years), else the nearest
    ancestor that was: a disagreement belongs to the values a user gave, never to a value harmonise made up."""
    code, year = key
    while w.at[(code, year), "rule"] in DERIVED:
        code = (h_parent or {}).get(code)
        if code is None or (code, year) not in w.index:
            return
    if flag not in flags[(code, year)]:
        flags[(code, year)].append(flag)


def _sum_up(w, key, kids, tolerance) -> None:
    """Above the binding level the children bind: a parent without a value, or off their sum by more than
    `tolerance`, becomes their sum (rule sum_of_children). The flags are `_flag_disagreement`'s."""
    values = w.loc[kids, "area_m2"]
    if values.isna().any():
        return
    total, p = values.sum(), w.at[key, "area_m2"]
    if not np.isnan(p) and abs(total - p) <= tolerance * p:
        return
    w.at[key, "area_m2"] = total
    w.at[key, "rule"] = "sum_of_children"


def _verify(w: pd.DataFrame, h: pd.DataFrame, levels: list[str], tolerance: float) -> None:
    bad = []
    for level in levels[:-1]:
        for (parent, year), kids in _families(w, h, level):
            values, p = w.loc[kids, "area_m2"], w.at[(parent, year), "area_m2"]
            if np.isnan(p) or values.isna().any():
                continue
            if abs(values.sum() - p) > tolerance * p + 1e-6:
                bad.append(f"{parent}" + (f" ({year})" if year != NO_YEAR else "") + f": children {values.sum():.6g} m2 vs {p:.6g} m2")
    if bad:
        raise ConvergenceError(f"{len(bad)} parents still disagree with their children after harmonising: {'; '.join(bad[:5])}",
                               "harmonise", "children reported as 0 cannot be scaled up: give their statistics or a binding level "
                               "at which the table is consistent")


# ---- outputs ----------------------------------------------------------------------------------------
def _result(w: pd.DataFrame, order: list[str], flags: dict, tolerance: float = 0.0) -> HarmoniseResult:
    a = w.reset_index()
    a.columns.name = None
    a["source"] = a["source"].where(a["rule"].isin(["precedence", "scaled_to_parent"]), "derived").where(a["area_m2"].notna(), None)
    a["adjustment_m2"] = a["area_m2"] - a["chosen"].fillna(0).where(a["area_m2"].notna())
    with np.errstate(invalid="ignore", divide="ignore"):
        a["adjustment_pct"] = 100 * (a["area_m2"] - a["chosen"]) / a["chosen"]
    beyond = (a["chosen"].notna() & (a["area_m2"] - a["chosen"]).abs().gt(tolerance * a["chosen"].abs() + 1e-6)
              & (a["rule"] != "sum_of_children")).to_numpy()  # a replaced parent has parent_below/above_children already
    for k, hit in zip(w.index, beyond):  # every adjustment of a reported value beyond the tolerance, whatever the rule
        if hit:
            flags[k].append("adjusted_beyond_tolerance")
    a["flags"] = [";".join(dict.fromkeys(flags[k])) for k in w.index]
    a["year"] = a["year"].astype("Int64").where(a["year"] != NO_YEAR)
    audit = a[[*AUDIT_COLUMNS[:3], *order, *AUDIT_COLUMNS[3:]]]
    audit = audit.sort_values(["year", "level", "code"], kind="stable").reset_index(drop=True)
    reconciled = audit.loc[audit["area_m2"].notna(), ["code", "level", "year", "area_m2", "rule", "source"]].reset_index(drop=True)
    return HarmoniseResult(reconciled, audit)


def rake_categories(seed: pd.DataFrame, unit_m2: pd.Series, category_m2: pd.Series, *, rules: HarmoniseRules,
                    where: str = "raking") -> pd.DataFrame:
    """`seed` (index: unit codes, columns: categories, m2 >= 0; NaN counts as 0) raked so that each row sums to
    `unit_m2` (by code, e.g. the harmonised totals) and each column to `category_m2` (by category, e.g. the
    state row of a published table), by irrmap.core.statistics.raking.rake with `rules.max_iter` and
    `rules.tol`. Raises DataError when a unit or category has no total, ConvergenceError when the margins
    cannot both hold."""
    missing = [str(c) for c in seed.index if c not in unit_m2.index] + [str(c) for c in seed.columns if c not in category_m2.index]
    if missing:
        raise DataError(f"no total for {', '.join(missing[:5])}", where, "give a total for every unit and every category of the seed")
    fit = rake(seed.fillna(0).to_numpy(dtype=float), unit_m2.reindex(seed.index).to_numpy(dtype=float),
               category_m2.reindex(seed.columns).to_numpy(dtype=float), max_iter=rules.max_iter, tol=rules.tol, where=where)
    return pd.DataFrame(fit.table, index=seed.index, columns=seed.columns)


def source_disagreement(audit: pd.DataFrame, sources: list[str], reference: str) -> pd.DataFrame:
    """Per year and source: the source's total over the units that it and `reference` both report, and its
    difference from the reference's total over the same units (m2 and %). Columns year, source, units,
    total_m2, reference_m2, difference_m2, difference_pct."""
    rows = []
    for year, g in audit.groupby("year", dropna=False):
        for s in sources:
            both = g[g[s].notna() & g[reference].notna()]
            if s == reference or both.empty:
                continue
            total, ref = both[s].sum(), both[reference].sum()
            rows.append({"year": year, "source": s, "units": len(both), "total_m2": total, "reference_m2": ref,
                         "difference_m2": total - ref, "difference_pct": 100 * (total - ref) / ref if ref else np.nan})
    return pd.DataFrame(rows, columns=["year", "source", "units", "total_m2", "reference_m2", "difference_m2", "difference_pct"])


__all__ = ["ConvergenceError", "HarmoniseResult", "HarmoniseRules", "SourceTable", "harmonise", "hierarchy_of", "rake_categories",
           "source_disagreement"]
