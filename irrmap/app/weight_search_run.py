"""`irrmap suitability search CONFIG`: the seeded suitability weight search of METHOD.md section 2 on a run.

It reads what a finished `irrmap run` wrote (suitability classes, VI maxima, zones, per-unit targets) and the
config's reference points, scores N random normalised weight vectors by the summed kappa of the S-score
threshold maps at the points, per group of units (province by default), and picks the best vector per group
with suitability.search_weights' rule (ties: the most even vector, then the earliest). The result says which
weights to put in `[suitability] weights`; the points used here are then no longer independent of the map,
which the output records.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError, InputError
from irrmap.app.context import RunContext
from irrmap.core.progress import progress_bar
from irrmap.core.raster_read import read_raster

log = logging.getLogger(__name__)

FACTORS = ("elevation", "distance", "slope", "aridity")
N_CLASSES = {"elevation": 4, "distance": 4, "slope": 4, "aridity": 10}


def _need(path: Path, what: str) -> Path:
    if not path.exists():
        raise InputError(f"{path} does not exist ({what})", str(path), "run `irrmap run CONFIG` first, with the stages that write it")
    return path


def search_run_weights(config_path, *, n: int = 500, seed: int | None = None, by: str = "province",
                       vis=("evi_max", "ndvi_max", "gi_max")) -> dict:
    """Run the search on a finished run; returns a JSON-ready dict (per group: weights, summed kappa, ties)."""
    from irrmap.app.stages import build_stages
    from irrmap.suitability.overlay import random_weights, search_weights
    from irrmap.training.thresholds import gather_candidates, gather_scores
    from irrmap.training.weight_search import KappaScorer, SearchInputs, point_candidates, search_by_group
    from irrmap.app.stages.evaluation import configured_points
    from irrmap.evaluation.points import pixel_index

    loaded = load_config(config_path)
    cfg = loaded.config
    if cfg.evaluation is None or cfg.evaluation.points is None:
        raise ConfigError("the weight search needs reference points", "[evaluation].points", "add the points file to the config")
    if cfg.training is None:
        raise ConfigError("the weight search needs the training section (cropland, scores)", "[training]")
    seed = cfg.run.seed if seed is None else int(seed)
    grid = loaded.grid()
    out = loaded.output_dir
    ctx = RunContext(loaded, grid, out)
    for stage in build_stages(ctx):
        if stage.enabled(ctx):
            ctx.products.update(stage.provides(ctx))
    chunk = cfg.run.chunk_size

    zones = read_raster(_need(out / "units" / "zones.tif", "units stage"), grid, kind="categorical", chunks=chunk)
    table = pd.read_csv(_need(out / "units" / "units.csv", "units stage"), dtype={"code": str, "province": str, "city": str})
    cropland = read_raster(_need(ctx.product(cfg.training.cropland, "[training].cropland"), "cropland"), grid, chunks=chunk)
    cand = gather_candidates(zones, cropland, n_units=int(table["zone"].max()))
    classes_path = _need(out / "suitability" / "classes.tif", "suitability stage")
    classes = {f: gather_scores(read_raster(classes_path, grid, kind="categorical", band=i + 1, chunks=chunk), cand)
               for i, f in enumerate(FACTORS)}
    vi = {v: gather_scores(read_raster(_need(out / "features" / f"{v}.tif", "features stage"), grid, chunks=chunk), cand) for v in vis}
    thr = pd.read_csv(_need(out / "training" / "thresholds.csv", "training.thresholds stage"), dtype={"unit": str})
    targets = thr.drop_duplicates("unit").set_index("unit")["target_m2"]
    zone_target = np.full(int(table["zone"].max()) + 1, np.nan)
    codes = table.set_index("zone")["code"]
    for z, code in codes.items():
        if code in targets.index:
            zone_target[int(z)] = targets[code]

    pts, labels = configured_points(ctx)  # with the section's CRS, x/y columns, layer and label map
    idx = pixel_index(pts, grid)
    inside = idx["inside"].to_numpy()
    labels = labels.astype(np.int64)
    pc = point_candidates(cand.pos, idx["row"].to_numpy(), idx["col"].to_numpy(), grid.width)
    pc[~inside | (labels < 0)] = -1
    zone_of_point = np.where(pc >= 0, cand.unit[np.maximum(pc, 0)], 0)
    if by == "none":
        group = np.array(["all"] * len(pc), dtype=object)
    else:
        if by not in table.columns:
            raise ConfigError(f"units have no level {by!r}", "--by", f"use one of: none, {', '.join(c for c in ('province', 'city') if c in table.columns)}")
        level = table.set_index("zone")[by]
        group = np.array([str(level.get(int(z), "")) if z > 0 else "" for z in zone_of_point], dtype=object)
    group[pc < 0] = ""

    data = SearchInputs(classes=classes, n_classes=N_CLASSES, vi=vi, unit=cand.unit, area=cand.area.astype(np.float64),
                        target=zone_target, point_candidate=pc, point_label=labels, point_group=group)
    scorer = KappaScorer(data)
    cands = random_weights(n, len(FACTORS), seed)
    with progress_bar(total=n, desc="weight search", unit="vector") as bar:
        table_scores = search_by_group(scorer, cands, FACTORS, progress=bar.update)
    key = {tuple(row.tolist()): i for i, row in enumerate(cands)}
    result = {"n": n, "seed": seed, "by": by, "vis": list(vis), "n_points_used": int((pc >= 0).sum()),
              "note": "the reference points chose these weights: evaluate the final map on other points", "groups": {}}
    even_scores = scorer(dict.fromkeys(FACTORS, 0.25))  # the default weights, for comparison
    uninformative = scorer.uninformative()
    for g, reason in uninformative.items():
        log.warning("weight search: group %s cannot choose weights (%s): kappa cannot rank the vectors; the default weights "
                    "stay (fix: add points of both classes there, or search with a coarser --by)", g, reason)
        result["groups"][g] = {"weights": None, "reason": reason, "n_points": int((group == g).sum())}
    for g, scores in table_scores.items():
        if g in uninformative:
            continue
        best = search_weights(lambda w, s=scores: s[key[tuple(w[f] for f in FACTORS)]], FACTORS, n=n, seed=seed)
        result["groups"][g] = {
            "weights": {k: round(v, 6) for k, v in best.weights.items()},
            "summed_kappa": round(best.score, 6),
            "candidate": best.index,
            "n_points": int((group == g).sum()),
            "equal_weights_summed_kappa": round(float(even_scores[g]), 6),
        }
    result["toml"] = "\n".join(["[suitability.weights_in]"] + [
        f'"{g}" = {{ ' + ", ".join(f"{k} = {v}" for k, v in r["weights"].items()) + " }" for g, r in result["groups"].items()
        if g != "all" and r["weights"] is not None])
    if result["groups"].get("all", {}).get("weights") is not None:
        w = result["groups"]["all"]["weights"]
        result["toml"] = "[suitability]\nweights = { " + ", ".join(f"{k} = {v}" for k, v in w.items()) + " }"
    return result


def write_result(result: dict, path) -> Path:
    from irrmap.core.json_out import write_json_atomic

    return write_json_atomic(path, result)
