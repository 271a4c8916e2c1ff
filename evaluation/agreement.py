"""Mapped irrigated area per admin unit against reported statistics, at county, city and province level.

Mapped area = sum over the unit's pixels of (map value x true pixel area): for a fractional map (f_crop where
irrigated) that is the irrigated area; for a binary map, pass `kind="binary"` (optionally weighted by a
cropland fraction). A unit where the map has no data on more than MAX_MISSING_SHARE of its (weighted) area has
no mapped area (NaN, the reason in the Series' ``attrs["not_estimable"]``): counting its missing pixels as 0
would report a silently smaller area. Higher levels add up the finest units that have BOTH a statistic and a
mapped area, so a missing county statistic does not make its province look over-mapped.

Metrics (x = statistics, y = mapped): n, R2 (squared Pearson r, the R2 of the fitted line), R2 against the 1:1
line (1 - SS(y - x) / SS(x - mean x)), RMSE, MAE, bias = mean(y - x), relative bias = sum(y - x) / sum(x),
OLS slope and intercept of y on x. A metric the pairs cannot define (R2 or slope from one unit or from
statistics that are all equal, relative bias when the statistics sum to 0) is NaN, and the result's
`not_estimable` entry gives the reason for each.
"""

from __future__ import annotations

import io
import math

import numpy as np
import pandas as pd
import xarray as xr

from irrmap.core import fixed_sum
from irrmap.core.array_input import decoded_block
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid
from irrmap.core.share_text import percent_text

MAX_MISSING_SHARE = 0.01  # a unit whose map has no data on more of its (weighted) area gets no mapped area
# (the same share of a unit's area may lie off the map's grid: beyond it the unit is partial and gets none either)


def zonal_mapped_area(map_da: xr.DataArray, zones: xr.DataArray, n_zones: int, *, kind: str = "fraction",
                      threshold: float = 0.0, weight: xr.DataArray | None = None, tile: int = 2048, with_missing: bool = False,
                      source: str | None = None, fix: str | None = None):
    """Mapped area (m2) per zone id 0..n_zones, tile by tile with true pixel areas (index 0 = outside units).

    kind "fraction": value x pixel area (values must be 0..1); "percent": value / 100 x pixel area (0..100, as
    mapping/fraction.tif); "binary": (value > threshold) x pixel area.
    `weight` (e.g. cropland fraction) multiplies either. Map nodata (NaN, and the values the map and the weight
    declare missing: `nodata`, `_FillValue`, `missing_value`, irrmap.core.array_input.decoded_block, which also
    applies an undecoded scale_factor) adds nothing to the mapped area; with
    `with_missing` the result is (mapped, missing, total): the (weighted) area of the zone's nodata pixels
    and of all its pixels, so callers can tell a small area from an unmapped one.
    DataError for fraction/percent values above 1 (100) or below 0 and weights outside 0..1 (a unit's mapped
    area can never exceed its area); it names `source` (the file and the caller's option, e.g. 'map B x.tif',
    default 'map') and gives `fix` (the caller's own way out; default: rescale to 0..1 or declare the fill as
    nodata). Callers check the files first (evaluation.value_guards); this is the last guard.
    Every sum is float64 of shape (n_zones + 1,), zone ids above n_zones left out (ValueError for negative ids), each
    pixel's term added in fixed point (irrmap.core.fixed_sum.KeySums), so the sums are the same bits whatever `tile`.
    """
    if kind not in ("fraction", "percent", "binary"):
        raise DataError(f"unknown map kind {kind!r}", "kind", "use fraction, percent or binary")
    grid = Grid.from_dataarray(map_da)
    for other, name in ((zones, "zones"), (weight, "weight")):
        if other is not None and not Grid.from_dataarray(other).aligned_with(grid):
            raise DataError(f"the {name} raster is not on the map's grid: {Grid.from_dataarray(other).mismatch_text(grid)}", name, "align it onto the map grid first")
    # fixed point (irrmap.core.fixed_sum): the same bits whatever `tile`; key n_zones + 1 takes ids above n_zones (dropped)
    total, missing, whole = (fixed_sum.KeySums(n_zones + 2) for _ in range(3))
    too_big, too_small, w_range = 0.0, 0.0, (0.0, 0.0)
    for t in grid.tiles(tile):
        w = t.window
        sl = (slice(int(w.row_off), int(w.row_off + w.height)), slice(int(w.col_off), int(w.col_off + w.width)))
        v = decoded_block(map_da, map_da.data[sl])  # its declared nodata (nodata, _FillValue, ...) and scale
        gap = np.isnan(v)
        if kind != "binary":
            too_small = min(too_small, float(v[np.isfinite(v)].min(initial=0.0)))  # finite values only: -inf keeps its old path
            v = np.nan_to_num(v) * (0.01 if kind == "percent" else 1.0)
            too_big = max(too_big, float(v.max(initial=0.0)))
        else:
            v = np.where(gap, 0.0, (v > threshold).astype(np.float64))
        wa = np.broadcast_to(np.asarray(grid.pixel_area(w), dtype=np.float64), v.shape)
        if weight is not None:
            wv = np.nan_to_num(decoded_block(weight, weight.data[sl]))
            w_range = (min(w_range[0], float(wv.min(initial=0.0))), max(w_range[1], float(wv.max(initial=0.0))))
            wa = wa * wv
        z = np.asarray(zones.data[sl]).astype(np.int64).ravel()
        z = np.where(z > n_zones, n_zones + 1, z)
        total.add(z, v * wa)
        if with_missing:
            missing.add(z, gap * wa)
            whole.add(z, wa)
    where = source or "map"
    fix = fix or ("read it as kind='binary' with a threshold for class or probability maps, kind='percent' for 0..100 maps, rescale "
                  "it to 0..1 (gdal_edit.py -scale 0.01 for percent), or declare its fill value as nodata (gdal_edit.py -a_nodata)")
    if too_big > 1.0 + 1e-6 or too_small < 0.0:
        bad = (f"reach {too_big * (100 if kind == 'percent' else 1):g}, more than a " + ("percent of 100" if kind == "percent" else "fraction of 1")
               if too_big > 1.0 + 1e-6 else f"go down to {too_small:g}, below 0 (an undeclared fill value?)")
        raise DataError(f"map values {bad} (read as {kind})", where, fix)
    if w_range[0] < 0.0 or w_range[1] > 1.0 + 1e-6:
        raise DataError(f"weight values range {w_range[0]:g}..{w_range[1]:g}, not a 0..1 fraction: a unit's mapped area would "
                        "exceed its area", f"the weight of {where}", "give a 0..1 fraction weight (gdal_edit.py -scale 0.01 for percent)")
    total, missing, whole = (s.totals()[: n_zones + 1] for s in (total, missing, whole))
    return (total, missing, whole) if with_missing else total


def on_grid_share(units, grid: Grid) -> pd.Series:
    """Share (0..1) of each finest unit's ellipsoidal area that lies within the grid's bounds, by code: its
    polygons as burned (AdminUnits.polygons_on) clipped to the bounds, over its whole polygon area
    (irrmap.core.coverage.on_grid_areas, as unit_areas computes the share `irrmap run` uses for [units].partial)."""
    from irrmap.core.coverage import on_grid_areas

    full, on, _ = on_grid_areas(units, grid)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.clip(np.where(full > 0, on / np.where(full > 0, full, 1), 0.0), 0.0, 1.0)
    return pd.Series(share, index=units.codes.to_numpy(), name="on_grid_share")


def leave_out_partial(mapped: pd.Series, units, grid: Grid, max_off_share: float = MAX_MISSING_SHARE, share: pd.Series | None = None) -> pd.Series:
    """`mapped` (m2 by finest code) with NaN for units of which more than `max_off_share` of the area lies off
    `grid` (a map ending inside a unit has no nodata there, so the missing-data test cannot see the gap), the
    reason added to ``attrs["not_estimable"]``. Units wholly off the grid (share 0) are left out too, their reason
    saying so (not a partial-coverage share of 0.0 %). `share`: on_grid_share(units, grid) when the caller has it."""
    share = on_grid_share(units, grid) if share is None else share
    if not share.index.equals(mapped.index):  # `mapped` is by finest code in unit order, as mapped_area_by_unit gives it
        share = share[~share.index.duplicated()].reindex(mapped.index)
    cut = share < 1 - max_off_share
    out = mapped.where(~cut.to_numpy())
    reasons = dict(mapped.attrs.get("not_estimable", {}))
    data_share = dict(mapped.attrs.get("data_share", {}))
    for c, sh in share[cut].items():
        reasons.setdefault(str(c), "the unit lies wholly off the map's grid: the map does not cover it" if not sh > 0 else
                           f"only {percent_text(sh)} of the unit's area lies on the map's grid (the map ends inside it): "
                           "its mapped area would cover only that part")
        data_share.setdefault(str(c), float(sh) if sh > 0 else 0.0)
    out.attrs["not_estimable"] = reasons
    out.attrs["data_share"] = data_share
    return out


def mapped_area_by_unit(map_da: xr.DataArray, units, *, max_missing_share: float = MAX_MISSING_SHARE, **kwargs) -> pd.Series:
    """Mapped area (m2) indexed by the finest unit code (see zonal_mapped_area for the keywords).

    NaN for a unit where the map has no data on more than `max_missing_share` of its (weighted) area, or where
    more than that share of its ellipsoidal area lies off the map's grid (see leave_out_partial), with the
    reason in ``attrs["not_estimable"]`` ({code: reason}) and, for a unit partly on the grid or with nodata, the
    share (0..1) of its whole ellipsoidal area the map has data on in ``attrs["data_share"]`` ({code: share}:
    on-grid share x (1 - nodata share of the part on the grid); a unit is estimable from 1 - MAX_MISSING_SHARE)."""
    grid = Grid.from_dataarray(map_da)
    zones = units.rasterize(grid)
    totals, missing, whole = zonal_mapped_area(map_da, zones, len(units), with_missing=True, **kwargs)
    return _by_unit(totals, missing, whole, units, grid, kwargs.get("weight") is not None, max_missing_share)


def mapped_and_whole_area_by_unit(map_da: xr.DataArray, units, *, max_missing_share: float = MAX_MISSING_SHARE,
                                  **kwargs) -> tuple[pd.Series, pd.Series]:
    """(mapped_area_by_unit(map_da, units, ...), mapped_area_by_unit of a map holding 1 wherever `map_da` holds data
    (kind "fraction", no weight): the pixel area of each unit on the grid) from one pass over the map and the zones.
    Without `weight` the second is the `whole` sum of zonal_mapped_area, the same bits as a second pass would give."""
    if kwargs.get("weight") is not None:
        raise DataError("the whole area by unit is unweighted", "weight", "call mapped_area_by_unit for weighted areas")
    grid = Grid.from_dataarray(map_da)
    zones = units.rasterize(grid)
    totals, missing, whole = zonal_mapped_area(map_da, zones, len(units), with_missing=True, **kwargs)
    share = on_grid_share(units, grid)
    return (_by_unit(totals, missing, whole, units, grid, False, max_missing_share, share),
            _by_unit(whole, missing, whole, units, grid, False, max_missing_share, share))


def _by_unit(totals, missing, whole, units, grid: Grid, weighted: bool, max_missing_share: float, share=None) -> pd.Series:
    """The Series of mapped_area_by_unit from zonal_mapped_area's (totals, missing, whole) by zone id."""
    with np.errstate(invalid="ignore", divide="ignore"):
        gap_share = np.where(whole > 0, missing / np.where(whole > 0, whole, 1), 0.0)[1:]
    codes = units.codes.to_numpy()
    out = pd.Series(np.where(gap_share > max_missing_share, np.nan, totals[1:]), index=codes, name="mapped_m2")
    share = on_grid_share(units, grid) if share is None else share
    on = share[~share.index.duplicated()].reindex(codes).fillna(0.0).to_numpy()
    reasons, data_share = {}, {}
    for c, g, s in zip(codes, gap_share, on):
        if not g > max_missing_share or not s > 0:  # a unit wholly off the grid: leave_out_partial's reason
            continue
        data_share[str(c)] = float(s * (1 - g))  # share of the unit's whole (ellipsoidal) area with data
        if s >= 1 - max_missing_share:
            reasons[str(c)] = f"the map has no data on {percent_text(g)} of the unit's {'weighted ' if weighted else ''}area"
        elif weighted:
            reasons[str(c)] = (f"only {percent_text(s)} of the unit's area lies on the map's grid (the map ends inside it), and the map "
                               f"has no data on {percent_text(g)} of that part's weighted area")
        else:  # both gaps: the share of the WHOLE unit without data, not of its part on the grid
            reasons[str(c)] = (f"only {percent_text(s)} of the unit's area lies on the map's grid (the map ends inside it), and the map "
                               f"has no data on {percent_text(g)} of that part: no data on {percent_text(1 - s * (1 - g))} of the "
                               "unit's whole area")
    out.attrs["not_estimable"] = reasons
    out.attrs["data_share"] = data_share
    return leave_out_partial(out, units, grid, max_missing_share, share)


def paired_by_level(mapped: pd.Series, stats: pd.Series, units, levels, stats_level: str | None = None) -> dict[str, pd.DataFrame]:
    """Per level: DataFrame (code, statistic_m2, mapped_m2, n_units) of units where both are known.

    `mapped` is by finest code (NaN: no mapped area); `stats` by code at `stats_level` (default the finest).
    Levels finer than the statistics are skipped; at the statistics' level and above, only finest units (or
    statistic units) with both values are summed; a statistic unit with a member lacking a mapped area has none.
    """
    finest = units.levels[0]
    stats_level = stats_level or finest
    if stats_level not in units.levels:
        raise DataError(f"unknown statistics level {stats_level!r}", "stats level", f"use one of {', '.join(units.levels)}")
    start = units.levels.index(stats_level)
    stats = stats.groupby(level=0).sum(min_count=1) if stats.index.has_duplicates else stats
    # mapped area at the statistics' level; NaN when any member unit has none (a partial sum would be too small)
    if stats_level != finest:
        m_at = units.aggregate(mapped, stats_level)
        m_at[units.aggregate(mapped.isna().astype(float), stats_level) > 0] = np.nan
    else:
        m_at = mapped
    both = pd.DataFrame({"statistic_m2": stats, "mapped_m2": m_at}).dropna()
    out = {}
    for level in levels:
        if level not in units.levels:
            raise DataError(f"unknown level {level!r}", "levels", f"use some of {', '.join(units.levels)}")
        if units.levels.index(level) < start:
            continue
        if level == stats_level:
            df = both.assign(n_units=1)
        else:
            # parent of each statistics-level code
            parent = pd.Series(units.level_codes(level).to_numpy(), index=units.level_codes(stats_level).to_numpy())
            parent = parent[~parent.index.duplicated()]
            g = both.assign(parent=parent.reindex(both.index).to_numpy()).dropna(subset=["parent"])
            df = g.groupby("parent").agg(statistic_m2=("statistic_m2", "sum"), mapped_m2=("mapped_m2", "sum"),
                                         n_units=("mapped_m2", "size"))
        df.index.name = "code"
        out[level] = df.reset_index()
    return out


def agreement_metrics(x, y) -> dict:
    """Agreement of y (mapped) with x (reference statistics) over the pairs where both are finite; see the
    module docstring. `not_estimable` maps each NaN metric to the reason."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = int(x.size)
    res = {"n": n, "r2": math.nan, "r2_1to1": math.nan, "rmse": math.nan, "mae": math.nan, "bias": math.nan,
           "relative_bias": math.nan, "slope": math.nan, "intercept": math.nan, "sum_reference": float(x.sum()), "sum_mapped": float(y.sum())}
    why = {}
    fit = ("r2", "r2_1to1", "slope", "intercept")
    if n == 0:
        why = dict.fromkeys(("rmse", "mae", "bias", "relative_bias", *fit), "no unit has both a statistic and a mapped area")
        return res | {"not_estimable": why}
    d = y - x
    res.update(rmse=float(np.sqrt(np.mean(d**2))), mae=float(np.mean(np.abs(d))), bias=float(np.mean(d)))
    if x.sum() != 0:
        res["relative_bias"] = float(d.sum() / x.sum())
    else:
        why["relative_bias"] = "the statistics sum to 0"
    ssx = float(np.sum((x - x.mean()) ** 2))
    if n >= 2 and ssx > 0:
        sxy = float(np.sum((x - x.mean()) * (y - y.mean())))
        ssy = float(np.sum((y - y.mean()) ** 2))
        slope = sxy / ssx
        res.update(slope=slope, intercept=float(y.mean() - slope * x.mean()),
                   r2=(sxy**2 / (ssx * ssy)) if ssy > 0 else math.nan, r2_1to1=1.0 - float(np.sum(d**2)) / ssx)
        if ssy == 0:
            why["r2"] = f"all {n} mapped areas are equal: the correlation is 0/0"
    else:
        why.update(dict.fromkeys(fit, f"{n} unit: a fitted line needs at least 2" if n < 2
                                 else f"all {n} statistics are equal: a fitted line is undefined"))
    return res | {"not_estimable": why}


def scaled_metrics(metrics: dict, scale: float) -> dict:
    """Metrics with the area-valued entries divided by `scale` (m2 -> reporting unit)."""
    out = dict(metrics)
    for k in ("rmse", "mae", "bias", "intercept", "sum_reference", "sum_mapped"):
        if out.get(k) is not None and out[k] == out[k]:
            out[k] = out[k] / scale
    return out


def scatter_png(df: pd.DataFrame, *, title: str, unit_label: str, scale: float = 1.0, x: str = "statistic_m2",
                y: str = "mapped_m2", xlabel: str = "statistics", ylabel: str = "mapped") -> bytes:
    """A 1:1 scatter (PNG bytes) in the reporting unit (areas / `scale`): points, the 1:1 line, the fitted line
    and n, R2, RMSE and bias in a corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = df[x].to_numpy(dtype=float) / scale
    ys = df[y].to_numpy(dtype=float) / scale
    m = agreement_metrics(xs, ys)
    fig, ax = plt.subplots(figsize=(4.6, 4.4), dpi=110)
    try:
        ax.scatter(xs, ys, s=14, alpha=0.7, edgecolor="none", color="#1f77b4")
        hi = float(np.nanmax(np.concatenate([xs, ys, [1e-12]]))) * 1.05
        ax.plot([0, hi], [0, hi], color="0.3", lw=1, ls="--", label="1:1")
        if m["slope"] == m["slope"]:
            ax.plot([0, hi], [m["intercept"], m["intercept"] + m["slope"] * hi], color="#d62728", lw=1.2, label="fit")
        ax.set_xlim(0, hi)
        ax.set_ylim(0, hi)
        ax.set_aspect("equal")
        from matplotlib.ticker import FuncFormatter, MaxNLocator

        for axis in (ax.xaxis, ax.yaxis):  # few, thousands-separated ticks: wide numbers must not run together
            axis.set_major_locator(MaxNLocator(nbins=4))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if abs(v) >= 100 else f"{v:g}"))
        ax.set_xlabel(f"{xlabel} ({unit_label})")
        ax.set_ylabel(f"{ylabel} ({unit_label})")
        ax.set_title(title, fontsize=10)
        txt = f"n = {m['n']}\nR² = {_fmt(m['r2'])}\nRMSE = {_fmt(m['rmse'])}\nbias = {_fmt(m['bias'])}"
        ax.text(0.03, 0.97, txt, transform=ax.transAxes, va="top", fontsize=8, family="monospace")
        ax.legend(loc="lower right", fontsize=8, frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
    finally:
        plt.close(fig)
    return buf.getvalue()


def _fmt(v) -> str:
    if v is None or v != v:
        return "n/a"
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


__all__ = ["agreement_metrics", "leave_out_partial", "mapped_and_whole_area_by_unit", "mapped_area_by_unit", "on_grid_share", "paired_by_level", "scaled_metrics", "scatter_png", "zonal_mapped_area"]
