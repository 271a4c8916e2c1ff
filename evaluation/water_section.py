"""The report's water section: the water-body layer of `irrmap run`'s water stage (issue 14) shown, not
recomputed.

From the files the layer's commands and stage write (`WaterFiles`): a map of the last epoch's water class
(water.tif: 1 water, 0 not water, 255 unknown), the epochs' clear / water / unknown areas (summary.json), bodies
and area per size class per epoch (bodies.parquet; classes on log10 km2 bins, irrmap.mapping.water.bodies
.SIZE_CLASSES), the area change per size class between consecutive epochs and the seed's finding, bodies
>= 1,000 km2 against smaller ones (change.csv, summed by irrmap.mapping.water.change.change_totals and
large_vs_small), and, when the bodies were scored against reference masks, precision, recall and the area
error of the matched bodies (score.json, irrmap.mapping.water.score). Areas are the layer's true ellipsoidal
areas in km2; unknown (cloud, shadow, snow, fill) is reported beside them, never counted as water or land.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.core.errors import DataError, InputError
from irrmap.mapping.water.bodies import SIZE_CLASSES
from irrmap.mapping.water.change import change_totals, large_vs_small
from irrmap.mapping.water.classify import NOT_WATER, UNKNOWN, WATER

WATER_CLASSES = ((WATER, "water", "#1565c0"), (NOT_WATER, "not water", "#f3efe0"), (UNKNOWN, "unknown (cloud, shadow, snow, fill)", "#8e8e8e"))
LARGE_KM2 = 1000.0  # the seed's finding: lakes larger than 1,000 km2 shrank, small water bodies expanded (issue 14)


@dataclass(frozen=True)
class WaterFiles:
    """A water layer as the report reads it. `epochs`: epoch label -> bodies folder written by `irrmap water
    bodies` (water.tif, bodies.parquet), in time order; `changes`: (epoch A, epoch B) -> change folder written by
    `irrmap water change` (change.csv); `summary`: the water stage's summary.json; `score`: its score.json, or
    None when no epoch was scored against a reference."""

    epochs: dict[str, Path]
    changes: dict[tuple[str, str], Path]
    summary: Path
    score: Path | None = None

    def paths(self) -> list[Path]:
        """Every file the section reads."""
        return [self.summary, self.map_path, *(Path(d) / "bodies.parquet" for d in self.epochs.values()),
                *(Path(d) / "change.csv" for d in self.changes.values()), *([self.score] if self.score else [])]

    @property
    def map_path(self) -> Path:
        """The last epoch's water class (water.tif)."""
        return Path(list(self.epochs.values())[-1]) / "water.tif"


def _need(path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise InputError("water layer file not found", str(path), "run the water stage again (`irrmap run --force`), or the "
                                                                  "`irrmap water` command that writes it")
    return path


def _size_classes(labels: pd.Series, source) -> pd.Categorical:
    """The size-class labels of a body or change table as an ordered categorical (every class of SIZE_CLASSES)."""
    labels = labels.astype(str)
    bad = sorted(set(labels) - set(SIZE_CLASSES))
    if bad:
        raise DataError(f"size classes {bad[:5]} are not the layer's classes {', '.join(SIZE_CLASSES)}", str(source),
                        "write the table again with `irrmap water bodies` / `irrmap water change`")
    return pd.Categorical(labels, categories=list(SIZE_CLASSES), ordered=True)


def size_class_table(bodies_path) -> pd.DataFrame:
    """Bodies per size class of a bodies.parquet: size_class (every class of SIZE_CLASSES, in order), n_bodies,
    area_km2 (sum of the bodies' true areas) and unknown_km2 (sum of the unknown area touching the bodies: how
    much larger they may be). Raises InputError for a missing file, DataError for unknown class labels."""
    path = _need(bodies_path)
    t = pd.read_parquet(path, columns=["area_m2", "size_class", "unknown_m2"])
    g = t.assign(size_class=_size_classes(t["size_class"], path)).groupby("size_class", observed=False)
    return pd.DataFrame({"n_bodies": g.size(), "area_km2": g["area_m2"].sum() / 1e6,
                         "unknown_km2": g["unknown_m2"].sum() / 1e6}).rename_axis("size_class").reset_index()


def change_tables(change_path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(totals per size class, the seed's finding) of a change.csv: irrmap.mapping.water.change.change_totals
    (every size class) and large_vs_small at LARGE_KM2."""
    path = _need(change_path)
    table = pd.read_csv(path, dtype={"size_class": str})
    table["size_class"] = _size_classes(table["size_class"], path)
    return change_totals(table), large_vs_small(table, LARGE_KM2)


def size_class_change_png(totals: pd.DataFrame, a: str, b: str) -> bytes:
    """Two panels per size class (rows of `change_totals`): the area in epochs `a` and `b` (log scale), and the
    change b - a in km2 (symmetric log scale, labelled with km2 and % of epoch a)."""
    from irrmap.evaluation.report import _plt, _png

    plt = _plt()
    x = np.arange(len(totals))
    labels = totals["size_class"].astype(str).tolist()
    area_a, area_b = totals["area_a_km2"].to_numpy(float), totals["area_b_km2"].to_numpy(float)
    change, pct = totals["change_km2"].to_numpy(float), totals["change_pct"].to_numpy(float)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.6, 3.9), dpi=110)
    ax1.bar(x - 0.2, area_a, 0.4, label=a, color="#90caf9")
    ax1.bar(x + 0.2, area_b, 0.4, label=b, color="#1565c0")
    if (np.r_[area_a, area_b] > 0).any():
        ax1.set_yscale("log")
    ax1.set_ylabel("area of the bodies (km2)", fontsize=8)
    ax1.legend(fontsize=8, frameon=False)
    ax1.set_title(f"Water body area per size class, {a} and {b}", fontsize=9)
    ax2.bar(x, change, 0.6, color=np.where(change < 0, "#c62828", "#2e7d32"))
    ax2.axhline(0, color="0.3", lw=0.8)
    nonzero = np.abs(change[change != 0])
    if nonzero.size:
        ax2.set_yscale("symlog", linthresh=10 ** np.floor(np.log10(nonzero.min())))
    for i, (c, p) in enumerate(zip(change, pct)):
        if c != 0:
            ax2.annotate(f"{c:+.3g}" + ("" if np.isnan(p) else f"\n({p:+.0f} %)"), (i, c), ha="center", fontsize=7,
                         va="bottom" if c > 0 else "top", xytext=(0, 2 if c > 0 else -2), textcoords="offset points")
    ax2.set_ylabel(f"area change {a} to {b} (km2)", fontsize=8)
    ax2.set_title(f"Change per size class (class of the {a} area)", fontsize=9)
    ax2.margins(y=0.25)
    for ax in (ax1, ax2):
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_xlabel("size class (km2)", fontsize=8)
        ax.tick_params(axis="y", labelsize=7)
    fig.tight_layout()
    return _png(fig)


def _records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts for results.json (NaN -> None)."""
    return df.astype(object).where(df.notna(), None).to_dict("records")


def _epochs_table(summary: dict) -> pd.DataFrame:
    pct = lambda v: None if v is None else 100.0 * v  # noqa: E731
    return pd.DataFrame([{"epoch": e, "scenes": len(s["scenes"]), "clear % of grid": pct(s["clear_share"]), "water km2": s["water_km2"],
                          "water % of clear": pct(s["water_share_of_clear"]), "unknown km2": s["unknown_km2"],
                          "bodies": s.get("n_bodies"), "bodies km2": s.get("bodies_km2")} for e, s in summary.items()])


def _wide(per_epoch: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Size classes as rows, per epoch: bodies, km2, unknown km2 along them; a last row with the totals."""
    out = pd.DataFrame({"size class (km2)": list(SIZE_CLASSES) + ["all"]})
    for e, t in per_epoch.items():
        for col, name in (("n_bodies", "bodies"), ("area_km2", "km2"), ("unknown_km2", "unknown along, km2")):
            out[f"{e}: {name}"] = [*t[col].tolist(), t[col].sum()]
    return out


def water_section(rep, files: WaterFiles) -> dict:
    """Add the water section to the Report `rep`; returns its numbers for results.json: epochs {label: summary
    areas and size_classes}, change {"A_B": size_classes and large_vs_small}, scores (score.json) when scored.
    Raises InputError when a file of `files` is missing."""
    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import read_raster
    from irrmap.evaluation.report import class_quicklook_png

    summary = json.loads(_need(files.summary).read_text())
    labels = list(files.epochs)
    missing = [e for e in labels if e not in summary]
    if missing:
        raise DataError(f"no summary of epoch(s) {', '.join(missing)}", str(files.summary), "run the water stage again (`irrmap run --force`)")
    sec = rep.section("Water bodies")
    sec.text(f"Water-body layer of {len(labels)} epoch(s) ({', '.join(labels)}). Areas are true ellipsoidal areas; unknown means "
             "cloud, shadow, snow or fill in every scene of the epoch and is reported, never counted as water or land. Bodies next to "
             "unknown pixels may be larger than mapped, by up to the unknown area along them.")
    sec.table(_epochs_table({e: summary[e] for e in labels}),
              f"Per epoch: the clear share of the grid, water on the clear area and the unknown area ({files.summary}).")
    last = labels[-1]
    grid = Grid.from_raster(_need(files.map_path))
    water = read_raster(files.map_path, grid, kind="categorical", name="water")
    sec.figure(class_quicklook_png(water, WATER_CLASSES, title=f"Water class, epoch {last}"), "water_map",
               f"Water class of epoch {last} ({files.map_path}); each display cell shows the class of most of its pixels.")
    largest = pd.DataFrame([{"epoch": e, "body id": b["body_id"], "km2": b["area_km2"], "unknown along, km2": b["unknown_km2"],
                             "size class (km2)": b["size_class"], "centroid lon, lat": f"{b['centroid_lon']:.4f}, {b['centroid_lat']:.4f}"}
                            for e in labels for b in summary[e].get("largest", [])])
    if len(largest):
        sec.table(largest, "Largest bodies per epoch; where unknown area lies along a body, its area is a lower bound.")
    per_epoch = {e: size_class_table(Path(d) / "bodies.parquet") for e, d in files.epochs.items()}
    sec.table(_wide(per_epoch), "Bodies and their area per size class (log10 km2 bins, left-closed), with the unknown area along "
                                "them, per epoch (bodies.parquet).")
    results = {"epochs": {e: {"summary": summary[e], "size_classes": _records(t)} for e, t in per_epoch.items()}, "change": {}}
    for (a, b), folder in files.changes.items():
        totals, finding = change_tables(Path(folder) / "change.csv")
        sec.figure(size_class_change_png(totals, a, b), f"water_change_{a}_{b}",
                   f"Area of the bodies per size class in {a} and {b}, and its change. A {b} body's class is that of the {a} area it "
                   f"inherits from the bodies it overlaps (of its own area when new), so merged fragments count together "
                   f"({Path(folder) / 'change.csv'}).")
        cols = {"n_bodies": "bodies", "n_new": "new", "n_lost": "lost", "area_a_km2": f"{a} km2", "area_b_km2": f"{b} km2",
                "change_km2": "change km2", "change_pct": "change %"}
        sec.table(totals.rename(columns={"size_class": "size class (km2)", **cols})[["size class (km2)", *cols.values()]],
                  f"Change {a} to {b} per size class.")
        sec.table(finding[["bodies", *cols]].rename(columns={"bodies": "bodies of", **cols}),
                  f"The seed's finding, {a} to {b}: total area change of bodies of {LARGE_KM2:,.0f} km2 and more against all smaller ones.")
        from irrmap.evaluation.report import _fmt_float

        km2 = lambda v, sign="": ("+" if sign and v >= 0 else "") + _fmt_float(float(v), 4)  # noqa: E731  (10,000, never 1e+04)
        sec.text(f"All bodies: {km2(totals['area_a_km2'].sum())} km2 in {a}, {km2(totals['area_b_km2'].sum())} km2 in {b} "
                 f"(change {km2(totals['change_km2'].sum(), '+')} km2). Unknown area: {km2(summary[a]['unknown_km2'])} km2 in {a}, "
                 f"{km2(summary[b]['unknown_km2'])} km2 in {b}. A body not seen at all in the other epoch (cloud, shadow, fill) is "
                 "'unobserved', one unknown there on more than the tolerance 'partly_observed' (change.csv: unknown_a_m2, "
                 "unknown_b_m2); their areas are left out of these totals, not counted as new, lost, grown or shrunk.")
        results["change"][f"{a}_{b}"] = {"size_classes": _records(totals), "large_vs_small": _records(finding)}
    if files.score is not None:
        scores = json.loads(_need(files.score).read_text())
        iou = ", ".join(sorted({f"{s['iou_threshold']:g}" for s in scores.values()}))
        sec.table(pd.DataFrame([{"epoch": e, "reference bodies": s["n_reference"], "mapped bodies": s["n_mapped"], "matched": s["n_matched"],
                                 "precision": s["precision"], "recall": s["recall"], "F1": s["f1"],
                                 "mean absolute area error %": s["area_error"]["mean_abs_pct"], "median area error %": s["area_error"]["median_pct"],
                                 "total area error %": s["area_error"]["total_pct"]} for e, s in scores.items()]),
                  f"Mapped bodies against reference bodies, matched one to one at IoU >= {iou}: precision = matched / mapped, recall = "
                  "matched / reference; area error of the matched bodies = (mapped - reference) / reference area; n/a where undefined "
                  f"({files.score}).")
        sec.text("References: " + "; ".join(f"{e}: `{s['reference']}`" for e, s in scores.items()) + ".")
        results["scores"] = scores
    return results


__all__ = ["LARGE_KM2", "WATER_CLASSES", "WaterFiles", "change_tables", "size_class_change_png", "size_class_table", "water_section"]
