"""What the values reported beneath a unit already say, for the residual split of irrmap.core.statistics.harmonise.

A unit without a value at an intermediate level (a city between a county and a province table) may still have
reported descendants (some of its counties). Its share of its parent is then not a prior's share of the parent's
residual but what its reported descendants say plus a share of what the parent leaves over once everything
reported beneath it is counted: the residual is split among the missing descendants only, so that reported
values are never changed when the parent agrees with them.

`beneath(own, has, levels, parent)`, over the harmonise working frame's (code, year) keys:

* with `own` the units' areas (m2): the *floor* of a unit without a value, the sum of the values of its
  descendants that have one (each counted once, at the coarsest level that has it); 0 where none has;
* with `own` the prior (m2, e.g. cropland) of the units with a value: the part of a unit's prior already
  covered by reported descendants, so that prior - covered is the prior of its missing part.

`missing_prior` gives the latter per unit. For a unit with a value the result is its own value. Levels are taken finest first; a code outside the
hierarchy (no parent) adds to no one.
"""

from __future__ import annotations

import pandas as pd


def beneath(own: pd.Series, has: pd.Series, level: pd.Series, levels: list[str], parent: pd.Series) -> pd.Series:
    """By (code, year) key (the index of `own`, `has` (bool: the unit has a value) and `level` (its admin
    level)): `own` where `has`, else the sum of the result over the unit's children (0 without children).
    `levels`: the hierarchy's levels, finest first; `parent`: parent code by code (None/NaN at the top).
    Units are m2 as `own`; NaN in `own` counts as 0."""
    out = own.where(has, 0.0).fillna(0.0).astype(float)
    codes = out.index.get_level_values("code")
    years = out.index.get_level_values("year")
    parents = pd.Series(codes.map(parent), index=out.index)
    for child_level in levels[:-1]:  # finest first: a child's result is final before its parent sums it
        kids = (level == child_level).to_numpy() & parents.notna().to_numpy()
        if not kids.any():
            continue
        sums = out[kids].groupby([parents[kids].to_numpy(), years[kids]]).sum()
        sums.index = sums.index.set_names(["code", "year"])
        sums = sums.reindex(out.index)
        take = (~has).to_numpy() & sums.notna().to_numpy()
        out[take] = sums[take]
    return out


def missing_prior(w: pd.DataFrame, has: pd.Series, levels: list[str], h: pd.DataFrame, prior_values: pd.Series) -> pd.Series:
    """By (code, year) of `w` (harmonise's working frame: columns level, area_m2): the prior (m2, `prior_values`
    by code) of the part of a unit without a value that no descendant reports: its prior minus that of its
    reported descendants (`beneath`), clipped at 0; 0 where the prior is unknown. `has`: the unit has a value;
    `h`: the hierarchy by code (column parent); `levels`: finest first."""
    own = pd.Series(w.index.get_level_values("code").map(prior_values), index=w.index, dtype=float)
    covered = beneath(own, has, w["level"], levels, h["parent"])
    return (own - covered).fillna(0).clip(lower=0)
