"""The report's tree-cover section: the tree-cover layer of `irrmap run`'s treecover stage (issue 15) shown, not
recomputed.

From the files the layer's commands and stage write (`TreecoverFiles`): a map of the last epoch's percent
cover (cover.tif band 1), per epoch the mapped area, mean cover and forest area on true pixel areas
(summary.json), the calibration's held-out scores of the model and of the linear baseline and its behaviour
where the reference is >= 80 % (the model card), the fit epoch's map averaged back onto the reference grid
against the reference (cover.check.json, in-sample), the scores against truth cover (score.json), the change
class areas between consecutive epochs (change_A_B.csv, summed over its rows), and the trend map (trend.tif
band 1, percent or index units per year).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from irrmap.mapping.treecover.change import CLASSES

from irrmap.core.errors import InputError
from irrmap.core.json_out import score_text


@dataclass(frozen=True)
class TreecoverFiles:
    """A tree-cover layer as the report reads it. `card`: the model card (model.card.json); `epochs`: epoch
    label -> cover.tif, in time order; `fit_epoch`: the epoch fitted on (its cover.check.json is read when
    present); `changes`: (epoch A, epoch B) -> change_A_B.tif (its table change_A_B.csv beside it);
    `summary`: summary.json; `score`: score.json or None; `trend`: trend.tif or None."""

    card: Path
    epochs: dict[str, Path]
    fit_epoch: str
    changes: dict[tuple[str, str], Path]
    summary: Path
    score: Path | None = None
    trend: Path | None = None

    @property
    def check(self) -> Path:
        """The fit epoch's consistency check (cover.check.json)."""
        path = Path(self.epochs[self.fit_epoch])
        return path.with_name(path.stem + ".check.json")

    def tables(self) -> dict[tuple[str, str], Path]:
        return {k: Path(v).with_suffix(".csv") for k, v in self.changes.items()}

    def paths(self) -> list[Path]:
        """Every file the section reads."""
        return [self.card, self.summary, *map(Path, self.epochs.values()), self.check, *self.tables().values(),
                *([self.score] if self.score else []), *([self.trend] if self.trend else [])]


def _need(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("tree-cover layer file not found", str(path), "run the treecover stage again (`irrmap run --force`), or the "
                                                                      "`irrmap treecover` command that writes it")
    return path


def _read(path, band: int = 1):
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster

    return read_raster(_need(path), Grid.from_raster(path), band=band, name=Path(path).stem)


def cover_png(cover, *, title: str) -> bytes:
    """Percent cover 0..100 (green scale); grey = no data."""
    from irrmap.evaluation.report import _map_axes, _map_png, _plt, quicklook_array

    a = quicklook_array(cover)
    fig, ax, extent = _map_axes(cover, a.shape)
    im = ax.imshow(a, cmap=_plt().get_cmap("Greens"), vmin=0, vmax=100, interpolation="nearest", extent=extent)
    cb = fig.colorbar(im, ax=ax, shrink=0.8)
    cb.set_label("tree canopy cover (%)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return _map_png(fig, ax, title)


def trend_png(slope, *, title: str) -> bytes:
    """Slope per year on a diverging scale symmetric about 0 (its 98th percentile of |slope|); grey = no data."""
    from irrmap.evaluation.report import _map_axes, _map_png, _plt, quicklook_array

    a = quicklook_array(slope)
    lim = float(np.nanpercentile(np.abs(a), 98)) if np.isfinite(a).any() else 1.0
    lim = lim if lim > 0 else 1.0
    fig, ax, extent = _map_axes(slope, a.shape)
    im = ax.imshow(a, cmap=_plt().get_cmap("BrBG"), vmin=-lim, vmax=lim, interpolation="nearest", extent=extent)
    cb = fig.colorbar(im, ax=ax, shrink=0.8, extend="both")
    cb.set_label("Theil-Sen slope (units per year)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return _map_png(fig, ax, title)


def _scores_row(name: str, s: dict) -> dict:
    return {"": name, "n": s["n"], "R2": s["r2"], "RMSE (%)": s["rmse"], "bias (%)": s["bias"], "MAE (%)": s["mae"]}


def change_class_areas(table_path) -> pd.DataFrame:
    """Area of each change class summed over the rows of a change table (change_A_B.csv), with its share of
    the compared area; the area unit is the table's."""
    t = pd.read_csv(_need(table_path), dtype={"code": str})
    cols = {name: next((c for c in t.columns if c.startswith(f"{name}_")), None) for name, _ in CLASSES.values()}
    compared = next(c for c in t.columns if c.startswith("compared_area_"))
    unit = compared[len("compared_area_"):]
    total = float(t[compared].sum())
    rows = [{"class": f"{k} {label}", f"area ({unit})": float(t[cols[name]].sum()),
             "share of compared %": 100 * float(t[cols[name]].sum()) / total if total else float("nan")}
            for k, (name, label) in CLASSES.items()]
    return pd.DataFrame(rows)


def _no_nan(obj):
    """`obj` with every float NaN replaced by None (results.json is strict JSON)."""
    if isinstance(obj, dict):
        return {k: _no_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_no_nan(v) for v in obj]
    return None if isinstance(obj, float) and obj != obj else obj


def treecover_section(rep, files: TreecoverFiles) -> dict:
    """Add the tree-cover section to the Report `rep`; returns its numbers for results.json: cv (model and
    baseline), saturation, check, summary per epoch, truth scores, change class areas per epoch pair.
    NaN (a measure without data, e.g. no reference cell >= 80 %) is None. Raises InputError when a file of
    `files` is missing."""
    card = json.loads(_need(files.card).read_text())
    summary = json.loads(_need(files.summary).read_text())
    labels = list(files.epochs)
    sec = rep.section("Tree cover")
    ref = card["reference"]
    where = "its own grid" if ref["resolution_m"] is None else f"{ref['resolution_m']:g} m cells"
    sec.text(f"Percent tree canopy cover of {len(labels)} epoch(s) ({', '.join(labels)}), regressed ({card['model']}) on the bands of "
             f"epoch {files.fit_epoch} against `{ref['path']}` "
             f"({where}), and applied at the bands' "
             f"resolution. Features: {', '.join(card['features'])}. Areas are true ellipsoidal areas.")
    last = labels[-1]
    sec.figure(cover_png(_read(files.epochs[last]), title=f"Tree canopy cover, epoch {last}"), "treecover_map",
               f"Percent tree canopy cover of epoch {last} ({files.epochs[last]}); block means for display, grey = no data.")
    thr = next(iter(summary.values()))["forest_threshold"] if summary else float("nan")
    sec.table(pd.DataFrame([{"epoch": e, "mapped km2": s["area_m2"] / 1e6, "mean cover %": s["mean_cover"],
                             f"forest km2 (cover > {thr:g} %)": s["forest_m2"] / 1e6} for e, s in summary.items()]),
              f"Per epoch: mapped area, area-weighted mean cover and forest area ({files.summary}).")
    cv = card["cv"]
    rows = [_scores_row(f"{card['model']} (held out)", cv["model"]), _scores_row("linear baseline (held out)", cv["baseline"])]
    results = {"cv": {k: {m: cv[k][m] for m in ("n", "r2", "rmse", "bias", "mae")} for k in ("model", "baseline")},
               "beats_baseline": card["beats_baseline"], "saturation": card["saturation"], "summary": summary}
    check = json.loads(files.check.read_text()) if files.check.is_file() else None
    if check:
        rows.append(_scores_row("map averaged onto the reference grid (in-sample)", check["scores"]))
        results["check"] = check["scores"]
    sec.table(pd.DataFrame(rows), f"Agreement with the reference: spatially blocked cross-validation ({cv['held_out']}, {cv['n_splits']} "
                                  "folds) of the model and of a linear-regression baseline on the same folds; bias = mean(predicted - "
                                  f"reference). The model {'beats' if card['beats_baseline'] else 'does NOT beat'} the baseline.")
    sat = card["saturation"]
    sec.text(f"Saturation: {score_text(100 * ref['share_ge_80'], '.1f')} % of the fit cells have reference cover >= {sat['threshold']:g} % "
             f"(where MODIS VCF saturates). There (held out, n = {sat['model']['n']}) the reference averages "
             f"{score_text(sat['model']['mean_reference'], '.1f')} %, the model {score_text(sat['model']['mean_predicted'], '.1f')} %, "
             f"the baseline {score_text(sat['baseline']['mean_predicted'], '.1f')} %.")
    if files.score is not None:
        scores = json.loads(_need(files.score).read_text())
        sec.table(pd.DataFrame([_scores_row(f"epoch {e}", s) | {"mean predicted %": s["mean_predicted"], "mean truth %": s["mean_truth"]}
                                for e, s in scores.items()]),
                  "Predicted cover against truth cover, pixel by pixel at the bands' resolution (" +
                  "; ".join(f"{e}: `{s['truth']}`" for e, s in scores.items()) + ").")
        results["truth"] = scores
    results["change"] = {}
    for (a, b), table in files.tables().items():
        areas = change_class_areas(table)
        sec.table(areas, f"Change classes {a} to {b} ({files.changes[(a, b)]}; per-unit table {table}).")
        results["change"][f"{a}_{b}"] = areas.to_dict("records")
    if files.trend is not None:
        sec.figure(trend_png(_read(files.trend), title="Trend (Theil-Sen slope per year)"), "treecover_trend",
                   f"Per-pixel Theil-Sen slope of the dated series ({files.trend}, band 1; band 2 the Mann-Kendall p-value).")
    return _no_nan(results)


__all__ = ["TreecoverFiles", "change_class_areas", "cover_png", "treecover_section", "trend_png"]
