"""`irrmap reconcile`: harmonise [reconcile] statistics tables (irrmap.core.statistics.harmonise) and re-threshold a
finished run's map to them (irrmap.mapping.reconcile), one independent, resumable job per unit of the batch level
(province, state) and year, run through dask; the job windows are mosaicked into one map per year.

Outputs in OUTPUT/reconcile/: statistics_reconciled.csv (code, level, year, area_m2, rule, source), audit.csv,
class.tif and fraction.tif (class_YEAR.tif, fraction_YEAR.tif when there are several years), agreement.csv (level,
code, year, mapped_m2, statistic_m2; reported statistics only), agreement_derived.csv (the same for statistics the
harmonisation made up: disaggregated, interpolated, summed from children), units.csv (per binding unit: target, mapped, shortfall, status), report.html,
partial_units.csv (units cut by the run's grid or off it, at every level: their statistic and the on-grid target).
Units cut by the grid are bound and scored at their statistic x their share on the grid ([units].partial, as in the
run's threshold stage); units wholly off it are in no job and no metric (partial_units.csv action 'off grid').
Job results are kept in OUTPUT/reconcile/.jobs/ so that a killed command resumes with the jobs not yet done.
The caller opens the dask scheduler (irrmap.app.pipeline.dask_scheduler); nothing here imports the runner.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dask
import pandas as pd
from dask.callbacks import Callback

from irrmap.app.context import RunContext
from irrmap.app.stages.common import checked_units, provenance
from irrmap.core.atomic import atomic_path
from irrmap.core.errors import ConfigError, DataError, InputError
from irrmap.core.plausibility import MIN_COVERED, MIN_UNITS, whole_units_only
from irrmap.core.progress import progress_bar
from irrmap.core.statistics import cropland_judged, read_statistics, validate_statistics
from irrmap.core.statistics.harmonise import (
    NO_YEAR,
    HarmoniseRules,
    SourceTable,
    harmonise,
    hierarchy_of,
)
from irrmap.core.tables import TableFormat

log = logging.getLogger(__name__)

STATS_COLUMNS = ["code", "level", "year", "area_m2", "rule", "source"]


def source_tables(ctx: RunContext, units, cropland_m2: pd.Series | None = None) -> list:
    """The [reconcile.tables] as harmonise.SourceTable records (areas in m2; one per table, years kept).

    Each table gets the checks of `irrmap statistics check` (irrmap.core.statistics.validate_statistics), its
    scale against the units' cropland (`cropland_m2`, m2 by finest unit code, NaN for units cut by the run's grid or
    off it: plausibility.whole_units_only, so whole-unit statistics meet whole-unit cropland at every level) included:
    a table that looks 1000x too small is a warning naming the table and the area unit that fits; errors (no join,
    areas larger than the unit, implausibly large: DataError / InputError) stop a strict table. Too few units wholly
    on the grid to judge the scale against cropland is a warning (`_warn_scale_unjudged`), never a suggested unit."""
    out = []
    for name, sec in ctx.config.reconcile.tables.items():
        stats = read_statistics(
            ctx.path(sec.path), code_field=sec.code_field, area_field=sec.area_field, area_unit=sec.area_unit,
            year_field=sec.year_field, year=sec.year, variant_field=sec.variant_field, variant=sec.variant, level=sec.level,
            skip_rows=sec.skip_rows, sheet=sec.sheet, code_pattern=units.code_pattern(sec.level), per_year=True,
            fmt=TableFormat.of(sec, f"[reconcile.tables.{name}]"))
        validate_statistics(stats, units, cropland_m2)  # the checks of `irrmap statistics check` and of the run's statistics
        if cropland_m2 is not None and stats.report.n_joined:
            _warn_scale_unjudged(name, ctx.path(sec.path), stats, units, cropland_m2)
        for p in stats.report.problems:  # harmonise would refuse their codes as another level's; say what they are
            if p.kind == "subtotal rows":
                raise DataError(p.message + f" (lines {', '.join(map(str, p.rows[:10]))})", f"[reconcile.tables.{name}] {ctx.path(sec.path)}", p.fix)
        for p in stats.report.warnings:
            if p.kind in ("implausible scale", "codes in scientific notation", "code not in boundaries"):
                log.warning("reconcile: table %s (%s, area_unit %r): %s: %s (fix: %s)", name, ctx.path(sec.path), sec.area_unit, p.kind,
                            p.message, p.fix)
        if sec.strict:
            stats.report.raise_for_errors(f"[reconcile.tables.{name}] {ctx.path(sec.path)}")
        for p in stats.report.errors:  # a table that is not strict goes on without its bad rows, but not silently
            log.warning("reconcile: table %s (%s, area_unit %r): %s: %s (fix: %s; the table is not strict, so the run goes on)", name,
                        ctx.path(sec.path), sec.area_unit, p.kind, p.message, p.fix)
        t = stats.table[stats.table["valid"]]
        cols = ["code", "area_m2"] + (["year"] if sec.year_field or sec.year is not None else [])
        out.append(SourceTable(name, sec.level, sec.year, sec.variant, t[cols].reset_index(drop=True), stats.unit))
    return out


def _warn_scale_unjudged(name: str, path, stats, units, cropland_m2: pd.Series) -> None:
    """Warn when the grid cuts so many of the table's units that fewer than plausibility.MIN_UNITS lie wholly on it
    (whole_units_only): the table's scale against cropland cannot be judged, only against unit areas."""
    judged, total = cropland_judged(stats, units, cropland_m2)
    if judged < MIN_UNITS and judged < total:
        log.warning("reconcile: table %s (%s): only %d of its %d %s units lie wholly on the grid (at least %d %% of their area), too "
                    "few to judge its area unit against their cropland; it is checked against the units' whole areas only (fix: "
                    "nothing to do if its area_unit is right; to check it, run `irrmap statistics check` with --cropland on a "
                    "raster that covers its units)", name, path, judged, total, stats.level, round(100 * MIN_COVERED))


def run_rasters(ctx: RunContext):
    """The finished run's rasters the reconciliation reads (InputError when the run has not made them)."""
    from irrmap.app.stages import build_stages
    from irrmap.mapping.reconcile import RunRasters

    for stage in build_stages(ctx):
        if stage.enabled(ctx):
            ctx.products.update(stage.provides(ctx))
    sec = ctx.config.reconcile
    crop = sec.cropland or (ctx.config.training.cropland if ctx.config.training else "cropland")
    paths = {"zones": ctx.outdir / "units" / "zones.tif", "probability": ctx.product(sec.probability, "[reconcile].probability"),
             "cropland": ctx.product(crop, "[reconcile].cropland")}
    for what, p in paths.items():
        if not Path(p).exists():
            raise InputError(f"the run's {what} raster is missing", str(p),
                             f"finish the run first: irrmap run {ctx.loaded.path} (reconcile works on a finished run)")
    before = ctx.products.get("irrigated_class")
    return RunRasters(paths["zones"], paths["probability"], paths["cropland"],
                      before if before is not None and Path(before).exists() else None, sec.probability_scale)


def harmonised(ctx: RunContext, units, zone_table: pd.DataFrame, sums: pd.DataFrame):
    """harmonise.harmonise over the tables, with cropland, unit area and the prior (expected irrigated area, or
    the run's map's irrigated area) per finest unit from the run's rasters."""
    sec = ctx.config.reconcile
    by_code = lambda col: pd.Series(sums[col].to_numpy()[zone_table["zone"].to_numpy()], index=zone_table["code"].to_numpy())
    rules = HarmoniseRules(precedence=list(sec.precedence or sec.tables), tolerance=sec.tolerance, max_jump=sec.max_jump,
                           prior=sec.prior, binding_level=sec.binding_level)
    prior = {"expected": "expected_m2", "previous_map": "before_m2"}.get(sec.prior)
    # each table's scale is judged on the units wholly on the grid: a cut unit's cropland is part of its whole-unit statistic's
    whole = whole_units_only(by_code("cropland_m2"), zone_table["grid_area_m2"].to_numpy(), zone_table["polygon_area_m2"].to_numpy())
    result = harmonise(source_tables(ctx, units, whole), hierarchy_of(units), rules=rules,
                       cropland_m2=by_code("cropland_m2"), unit_area_m2=by_code("area_m2"), prior_m2=by_code(prior) if prior else None,
                       check_scale=False)  # source_tables checked each table's scale, naming its [reconcile.tables.NAME]
    warn_adjustments(result.audit, sec.tolerance)
    return result


def warn_adjustments(audit: pd.DataFrame, tolerance: float) -> None:
    """Console warnings for what the harmonisation changed beyond `tolerance` (audit.csv flags): how many reported
    values were adjusted and the largest change, parents that disagree with their children, and parents whose
    reported children sum to a tiny share of them (a table in a wrong area unit)."""
    flags = audit["flags"].fillna("").astype(str)
    has = lambda flag: flags.str.split(";").map(lambda f: flag in f).to_numpy(dtype=bool)
    adjusted = audit[has("adjusted_beyond_tolerance")]
    if len(adjusted):
        top = adjusted.loc[adjusted["adjustment_pct"].abs().sort_values(ascending=False, kind="stable").index[:3]]
        log.warning("reconcile: the harmonisation changed %d reported statistics by more than the tolerance (%g %%); the largest: %s "
                    "(audit.csv: flags adjusted_beyond_tolerance). Fix: check those tables (area unit, level, year, variant) or raise "
                    "[reconcile].tolerance if the change is expected", len(adjusted), 100 * tolerance,
                    ", ".join(f"{_unit(r)} {r.adjustment_pct:+.0f} % ({r.rule})" for r in top.itertuples()))
    parents = audit[has("parent_below_children") | has("parent_above_children")]
    if len(parents):
        log.warning("reconcile: %d parents disagree with the sum of their reported children beyond the tolerance: %s (audit.csv flags "
                    "parent_below_children / parent_above_children). Fix: check the tables of both levels, or set "
                    "[reconcile].binding_level to the level you trust", len(parents),
                    ", ".join(_unit(r) for r in parents.head(8).itertuples()) + (" ..." if len(parents) > 8 else ""))
    tiny = audit[has("children_tiny_share")]
    if len(tiny):
        log.warning("reconcile: the reported children of %d parents sum to less than 1 %% of them (%s): a table is likely in a wrong "
                    "area unit (e.g. 'ha' for '1000ha'). Fix: check area_unit of the finer table (irrmap statistics check)", len(tiny),
                    ", ".join(_unit(r) for r in tiny.head(8).itertuples()))


class _JobProgress(Callback):
    """A progress bar over the jobs on the local schedulers (a dask.distributed cluster has its own dashboard)."""

    def __init__(self, bar, keys):
        super().__init__()
        self.bar, self.keys = bar, set(keys)

    def _posttask(self, key, result, dsk, state, worker_id):
        if key in self.keys:
            self.bar.update(1)


def run_jobs(jobs, rasters, work: Path) -> None:
    """Every job through dask (threads, or the dask.distributed client the caller opened)."""
    from irrmap.mapping.reconcile import is_done, run_job

    todo = [j for j in jobs if not is_done(work, j)]
    log.info("reconcile: %d jobs, %d already done", len(jobs), len(jobs) - len(todo))
    tasks = [dask.delayed(run_job, pure=True, name=f"reconcile-{j.fingerprint()}")(j, rasters, work) for j in todo]
    with progress_bar(total=len(todo), desc="reconcile jobs", unit="job") as bar, _JobProgress(bar, [t.key for t in tasks]):
        dask.compute(*tasks)


def reconcile(ctx: RunContext, *, by: str | None = None, only: list[str] | None = None) -> dict:
    """Run the reconciliation of the config's finished run; returns {name: path} of the outputs."""
    from irrmap.evaluation.reconcile_report import write_reconcile_report
    from irrmap.mapping.reconcile import (
        agreement_table,
        plan_jobs,
        write_mosaics,
        zone_sums,
    )

    if ctx.config.reconcile is None:
        raise ConfigError("the config has no [reconcile] section", str(ctx.loaded.path), "add [reconcile] with its tables (docs/reconcile.md)")
    sec = ctx.config.reconcile
    rasters = run_rasters(ctx)
    units = checked_units(ctx)
    levels = list(units.levels)
    zone_table = pd.read_csv(ctx.outdir / "units" / "units.csv", dtype=str).astype({"zone": int})
    out = ctx.outdir / "reconcile"
    sums = zone_sums(rasters, int(zone_table["zone"].max()))
    result = harmonised(ctx, units, zone_table, sums)
    stats = result.reconciled.assign(code=result.reconciled["code"].astype(str), year=result.reconciled["year"].fillna(NO_YEAR).astype(int))
    # a job's result depends on its rasters and on [reconcile].probability_scale (read_window scales the probability)
    extra = json.dumps([[ctx.checksum(p) for p in (rasters.zones, rasters.probability, rasters.cropland)], rasters.probability_scale])
    check_year(ctx, stats)
    stats, _ = on_grid_statistics_of(ctx, units, zone_table, levels, stats, sums, out / "partial_units.csv")
    by = by or sec.by or levels[-1]
    jobs, skipped = plan_jobs(zone_table, levels, stats, sums, by=by, rule=sec.rule, fingerprint_extra=extra)
    selected = jobs
    if only:  # validates the codes; the mosaic is made of every job done, so --only merges into the full outputs
        selected, _ = plan_jobs(zone_table, levels, stats, sums, by=by, only=only, rule=sec.rule, fingerprint_extra=extra)
    for s in skipped:
        log.warning("reconcile: %s %s%s is left out: none of its units has a statistic (%s) (fix: add a statistic for it "
                    "or for its units)", by, s["code"], _in_year(s["year"]), s["reason"])
    for j in selected:
        if j.missing:
            log.warning("reconcile: %s %s%s: %d of its %d %s units have no statistic (%s) and no parent value to fill them "
                        "from; the %d reported ones are met and these stay unmapped (units.csv status missing). Fix: add their "
                        "statistics, or a table of the %s's own level so that they are filled from its residual", by, j.code,
                        _in_year(j.year), len(j.missing), len(j.codes), j.level, ", ".join(j.missing[:10]),
                        len(j.codes) - len(j.missing), by)
    if not selected:
        raise DataError(f"no {by} has a statistic at any level", "[reconcile].tables",
                        "give tables whose codes join the units (irrmap statistics check) for the units on the grid")
    work = out / ".jobs"
    if only:
        refuse_stale(jobs, selected, work, by, only, ctx.loaded.path)
    paths = {"statistics_reconciled": _csv(out / "statistics_reconciled.csv", result.reconciled[STATS_COLUMNS]),
             "audit": _csv(out / "audit.csv", result.audit)}
    run_jobs(selected, rasters, work)
    if only:
        from irrmap.mapping.reconcile import is_done

        done = [j for j in jobs if is_done(work, j)]
        left = sorted({f"{j.code}" for j in jobs if j not in done})
        log.info("reconcile --only %s: merged into the outputs with the %d other jobs already done%s", " ".join(only),
                 len(done) - len(selected), f"; never run, so not in the maps yet: {by} {', '.join(left[:10])} (run without --only)" if left else "")
        jobs = done
    years = sorted({j.year for j in jobs}, key=str)
    agreement, unit_rows, before_rows = [], [], []
    mapped_before = pd.Series(sums["before_m2"].to_numpy(), index=sums["zone"].to_numpy())
    empty = sums.loc[(sums["row1"] < 0) & (sums["zone"] > 0), "zone"].to_numpy()
    for year in years:
        mine = [j for j in jobs if j.year == year]
        suffix = f"_{year}" if len(years) > 1 else ""
        parts = [(work / str(j.year) / j.code, j.window) for j in mine]
        cls, frac = write_mosaics(ctx.grid, parts, out / f"class{suffix}.tif", out / f"fraction{suffix}.tif",
                                  tags=provenance(ctx, "reconcile"), chunk=ctx.config.run.chunk_size)
        paths[f"class{suffix}"], paths[f"fraction{suffix}"] = cls, frac
        mapped = pd.concat([pd.read_csv(folder / "zones.csv") for folder, _ in parts]).set_index("zone")["mapped_m2"]
        mapped = pd.concat([mapped, pd.Series(0.0, index=empty)])  # units without a pixel on the grid map nothing
        agreement.append(agreement_table(zone_table, levels, stats, mapped, year))
        before_rows.append(agreement_table(zone_table, levels, stats, mapped_before.reindex(mapped.index), year))
        unit_rows += [pd.read_csv(folder / "units.csv", dtype={"code": str}).assign(year=_year(year), job=Path(folder).name)
                      for folder, _ in parts]
    agree = pd.concat(agreement, ignore_index=True).assign(year=lambda d: d["year"].map(_year))
    derived = agree["derived"].astype(bool).to_numpy()  # made up by the harmonisation: no agreement to speak of
    paths["agreement"] = _csv(out / "agreement.csv", agree[~derived].drop(columns="derived"))
    paths["agreement_derived"] = _csv(out / "agreement_derived.csv", agree[derived].drop(columns="derived"))
    per_unit = pd.concat(unit_rows, ignore_index=True)
    paths["units"] = _csv(out / "units.csv", per_unit)
    short = per_unit[per_unit["status"] == "infeasible"]
    if len(short):
        log.warning("reconcile: %d units have a statistic above the cropland that can be ranked, so all of it is mapped and they fall "
                    "short (%s; units.csv: status infeasible, shortfall_m2). Fix: check these statistics and the cropland layer",
                    len(short), ", ".join(f"{r.level} {r.code} by {r.shortfall_m2 / 1e6:.3g} km2" for r in short.head(8).itertuples())
                    + (f", ... ({len(short) - 8} more)" if len(short) > 8 else ""))
    before = pd.concat(before_rows, ignore_index=True).assign(year=lambda d: d["year"].map(_year)) if rasters.before is not None else None
    paths["report"] = write_reconcile_report(out, agreement=agree, before=before, audit=result.audit, units=per_unit,
                                             skipped=pd.DataFrame(skipped), run_class=rasters.before, grid=ctx.grid,
                                             classes={_year(y): paths[f"class_{y}" if len(years) > 1 else "class"] for y in years},
                                             command=_reproduce(ctx, out), written=(extra := []))
    paths |= {f"report_{Path(f).relative_to(out).with_suffix('')}": f for f in extra}  # report.md, figures/*.png: in the manifest
    remove_stale_maps(out, paths.values())
    return paths


def on_grid_statistics_of(ctx: RunContext, units, zone_table: pd.DataFrame, levels: list[str], stats: pd.DataFrame,
                          sums: pd.DataFrame, listing: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reconciled statistics for the part of each unit on the run's grid, as the run's threshold stage treats
    units cut by the grid ([units].partial; irrmap.core.partial_units, irrmap.mapping.reconcile.on_grid): jobs
    bind, and agreement.csv scores, these. Units wholly off the grid are left out of both (action 'off grid'). Writes `listing` (level, code, year, share, basis, statistic_m2, target_m2, action) and warns
    naming the units. Returns (statistics, listing rows)."""
    from irrmap.core.partial_units import partial_coverage, warn_partial
    from irrmap.mapping.reconcile.on_grid import (
        level_shares,
        off_grid_in_cut_parents,
        on_grid_statistics,
    )

    mode = ctx.config.units.partial
    crop = ctx.config.reconcile.cropland or (ctx.config.training.cropland if ctx.config.training else "cropland")
    read = None
    if crop in ctx.config.inputs:  # a cropland input read beyond the grid gives cut units a cropland share
        from irrmap.app.stages.inputs import read_input

        read = lambda g: read_input(ctx, crop, g)
    cov = partial_coverage(units, ctx.grid, zone_table, zone_table["code"], mode, read, tile=ctx.config.run.chunk_size,
                           off_grid=off_grid_in_cut_parents(zone_table, levels))
    shares = level_shares(zone_table, levels, cov, pd.Series(sums["cropland_m2"].to_numpy(), index=sums["zone"].to_numpy()))
    scaled, rows = on_grid_statistics(stats, shares, mode, zone_table, levels)
    _csv(listing, rows.assign(year=rows["year"].map(_year)))
    warn_partial(rows, mode, listing, what="reconcile")
    return scaled, rows


MAP_PATTERNS = ("class.tif", "class_*.tif", "fraction.tif", "fraction_*.tif")


def remove_stale_maps(out: Path, written) -> list[Path]:
    """Delete the per-year maps in `out` (MAP_PATTERNS, with their .aux.xml/.ovr sidecars) that this command did not
    write: a run with one year writes class.tif, with several class_YEAR.tif, so an earlier run's other naming or
    years would otherwise stay beside the new maps and disagree with statistics_reconciled.csv. Returns the files
    deleted (each logged)."""
    kept = {Path(p).resolve() for p in written}
    gone = []
    for pattern in MAP_PATTERNS:
        for f in sorted(out.glob(pattern)):
            if f.resolve() in kept:
                continue
            for g in (f, f.with_name(f.name + ".aux.xml"), f.with_name(f.name + ".ovr")):
                g.unlink(missing_ok=True)
            gone.append(f)
    if gone:
        log.info("reconcile: removed %d map(s) of an earlier run that this run does not write: %s", len(gone),
                 ", ".join(f.name for f in gone))
    return gone


def refuse_stale(jobs, selected, work: Path, by: str, only: list[str], config) -> None:
    """With --only: DataError (after one warning per unit naming the reason) when a unit left out of --only has a saved
    result that no longer matches it (irrmap.mapping.reconcile.jobs.stale_reason: its statistics, level, units, rule or
    the run's rasters changed). Merging that old result would leave the maps, units.csv and agreement.csv at the old
    statistics while statistics_reconciled.csv has the new ones, and dropping it would silently leave the unit out of
    the maps; so nothing is written and the user reruns the unit (docs/reconcile.md, "Jobs, resuming, dask")."""
    from irrmap.mapping.reconcile.jobs import stale_reason

    stale = [(j, why) for j in jobs if j not in selected for why in [stale_reason(work, j)] if why]
    if not stale:
        return
    for j, why in stale[:10]:
        log.warning("reconcile --only %s: the saved result of %s %s%s is out of date: %s", " ".join(only), by, j.code,
                    _in_year(j.year), why)
    if len(stale) > 10:
        log.warning("reconcile --only %s: and the saved results of %d more %s jobs: %s", " ".join(only), len(stale) - 10, by,
                    ", ".join(j.code for j, _ in stale[10:40]) + (", ..." if len(stale) > 40 else ""))
    codes = list(dict.fromkeys(j.code for j, _ in stale))
    raise DataError(f"{len(codes)} {by}{'s' if len(codes) > 1 else ''} reconciled earlier no longer match{'es' if len(codes) == 1 else ''} "
                    f"{'its' if len(codes) == 1 else 'their'} inputs ({'; '.join(f'{j.code}: {w}' for j, w in stale[:3])}"
                    f"{'; ...' if len(stale) > 3 else ''}); merging their old maps, or leaving them out, would make the outputs "
                    "disagree with statistics_reconciled.csv, so nothing was written", "--only",
                    f"rerun them too: irrmap reconcile {config} --only {' '.join(dict.fromkeys([*only, *codes]))} (or without --only)")


def run_year(ctx: RunContext) -> int | None:
    """The year the run maps, where the config says it: the run's statistics year ([statistics].year), else the
    year of the images fetched ([sources.ee].year); None when neither is set."""
    cfg = ctx.config
    for value in (getattr(cfg.statistics, "year", None) if getattr(cfg, "statistics", None) else None,
                  getattr(getattr(getattr(cfg, "sources", None), "ee", None), "year", None)):
        if value is not None:
            return int(value)
    return None


def check_year(ctx: RunContext, stats: pd.DataFrame) -> None:
    """Warn when the statistics are of another year than the run's map (the run's year from `run_year`); say
    which years are used when the run's year is not known."""
    years = sorted(int(y) for y in stats["year"].unique() if y != NO_YEAR)
    if not years:
        return
    mapped = run_year(ctx)
    named = ", ".join(map(str, years))
    if mapped is None:
        log.warning("reconcile: statistics of %s are used; the run's year is not known (no [statistics].year or [sources.ee].year), "
                    "so it is not checked against the map's year. Fix: make sure the tables are of the map's year", named)
    elif years != [mapped]:
        log.warning("reconcile: the statistics are of %s but the run maps %d: the map is made to agree with %s of another year. "
                    "Fix: use tables of %d (or filter them with year = %d in [reconcile.tables.NAME])",
                    named, mapped, "statistics" if mapped not in years else "statistics also", mapped, mapped)


def _year(year):
    """The year as written to the outputs: None (an empty cell) for tables without years."""
    return None if year == NO_YEAR else int(year)


def _unit(row) -> str:
    """An audit row as messages name it: "city 610100" (tables without years), "city 610100 (year 2019)" (with years:
    the same code appears once per year)."""
    return f"{row.level} {row.code}{_in_year(getattr(row, 'year', None))}"


def _in_year(year) -> str:
    """" (year 2020)" for messages; "" for tables without years."""
    return "" if year is None or pd.isna(year) or year == NO_YEAR else f" (year {int(year)})"


def _csv(path: Path, df: pd.DataFrame) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


__all__ = ["reconcile", "run_rasters", "source_tables"]


def _reproduce(ctx, out: Path) -> str:
    """The report's "Reproduce with" command, with the config's folder relative to the report's folder `out`
    (irrmap.core.relative_path): the same bytes for the same run in another folder."""
    import shlex

    from irrmap.core.relative_path import relative_to_folder

    return f"cd {shlex.quote(relative_to_folder(ctx.loaded.base, out))} && irrmap reconcile {shlex.quote(ctx.loaded.path.name)}"
