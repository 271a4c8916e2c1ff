"""Calibrate percent tree canopy cover on a coarse reference (MODIS VCF): predictors averaged onto the
reference grid (or a given resolution), flags masked, a random-forest or LightGBM regressor with spatially
blocked cross-validation, beside a linear-regression baseline scored on the same folds. The blocks are
squares of `cv_block_m` metres on the ground (mapping.treecover.blocks: true ground spacing of the fit grid,
so geographic grids at any latitude get blocks of that size, not of that many nominal degrees).

Model card (MODEL_DIR/model.card.json, irrmap.models.persistence) records, besides the features in order and
the bands' identity (names, descriptions, file names: `irrmap treecover predict` refuses other bands):
- `cv.model` / `cv.baseline`: R2, RMSE, bias (mean predicted - reference) and MAE in percent cover from the
  pooled out-of-fold predictions, with per-fold values; `beats_baseline` compares their R2;
- `reference.share_ge_80`: the share of the valid fit cells whose reference is at or above 80 % cover, where
  MODIS VCF saturates (Sexton et al. 2013, doi:10.1080/17538947.2013.786146); `share_ge_80_native` the same
  over the reference's own valid pixels in its window under the fit grid (before any averaging);
- `saturation`: over held-out samples whose reference is >= 80 %, the mean reference, the mean prediction of
  the model and of the baseline, and the share predicted >= 80 %.
Samples: every fit-grid cell with a valid reference (0..valid_max), every feature valid and at least
`min_coverage` of its area covered by both; at most `max_samples` of them, drawn uniformly by a seeded hash of
the cell's position (the same cells whatever the chunking), fit and cross-validation both use that draw.
"""

from __future__ import annotations

import logging
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pandas as pd
from irrmap.mapping.treecover.blocks import ground_blocks, ground_pixel_m
from irrmap.mapping.treecover.percent import check_percent, warn_blended_flags
from irrmap.mapping.treecover.predictors import (
    INDICES,
    BandStack,
    features_on,
    fit_grid,
    reference_on,
    window_over,
)
from irrmap.models.estimators import BASELINE, MODELS
from irrmap.models.persistence import save_model
from irrmap.models.regression import Regressor
from irrmap.models.spatial_cv import assign_folds, blocks_for_folds, cross_validate

from irrmap.core.atomic import check_output_folder, partial_folder
from irrmap.core.errors import DataError, InputError
from irrmap.core.fill_values import (
    fill_summary,
    fill_text,
    merge_fill_summaries,
    summary_fill,
)
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.core.relative_path import located_from, relative_to_folder

log = logging.getLogger(__name__)

MODEL_DIR_WHERE = "MODEL_DIR (the model folder)"

MODEL_FILE = "model.joblib"  # inside MODEL_DIR; the card is model.card.json beside it
SATURATION = 80.0  # percent cover where MODIS VCF saturates (Sexton et al. 2013)
DEFAULT_CV_BLOCK_M = 5000.0
DEFAULT_MAX_SAMPLES = 100_000


def _refuse_empty_bands(stack) -> None:
    """InputError naming the first band file without data (no valid pixel, or only zeros:
    irrmap.core.valid_share.empty_reason), the cause of a fit without cells rather than the reference."""
    from irrmap.core.valid_share import empty_reason

    for i, path in enumerate(stack.paths):
        why = empty_reason(path, bands=[stack.layer(i, k) for k in range(1, stack.n_dates + 1)])
        if why is not None:
            raise InputError(f"band file {Path(path).name} ({stack.labels[i]}) {why}: no reference cell has valid predictors", path,
                             "give the band with data over the reference's area (gdalinfo -stats); if its nodata value marks "
                             "real values, change it with gdal_edit.py -a_nodata")


def check_band_fills(stack: BandStack, *, chunks: int = 1024, known=None, then: str = "fit again") -> None:
    """InputError naming the band file, the value, its pixel count and the gdal_edit.py -a_nodata fix when a band holds
    a common fill value (irrmap.core.fill_values.FILL_VALUES) far outside the rest of its values: a nodata the file
    does not declare (the rule of `irrmap training pool` and `models fit`, irrmap.core.fill_values.summary_fill).
    The raw bands are screened over the whole grid, all dates, block by block (one extra read of the bands), before
    any averaging blends the fill into real values. known: {band label: (low, high)}, the range a model was fitted on
    (predict), which widens each band's own range; `then` ends the fix."""
    data = stack.read(chunks)
    parts = [[dask.delayed(fill_summary)(b) for b in data[i].to_delayed().ravel()] for i in range(len(stack.paths))]
    summaries = dask.compute(*[dask.delayed(merge_fill_summaries)(p) for p in parts])
    for i, summary in enumerate(summaries):
        label = stack.labels[i]
        found = summary_fill(summary, (known or {}).get(label))
        if found:
            fill, n, lo, hi = found
            path = stack.paths[i]
            total = int(np.prod(data.shape[1:]))
            raise InputError(fill_text(f"{label} (band file {Path(path).name})", fill, n, total, lo, hi, "pixels"), path,
                             f"declare it as the file's nodata (gdal_edit.py -a_nodata {fill:g} {path}) so those pixels are read as "
                             f"missing, then {then}")


def fit_treecover(stack: BandStack, reference, *, resolution_m: float | None = None, valid_max: float = 100.0, model: str = "rf",
                  seed: int = 0, cv_block_m: float = DEFAULT_CV_BLOCK_M, cv_splits: int = 5, max_samples: int = DEFAULT_MAX_SAMPLES,
                  min_coverage: float = 0.5, n_trees: int | None = None, n_jobs: int = 1, workdir=None,
                  chunks: int = 1024) -> tuple[Regressor, dict]:
    """Fit percent cover (0..100) of `reference` on the stack's features; returns (model, card).

    resolution_m: fit on cells of that size (metres on the ground, predictors.fit_grid) in the bands' CRS, both
    sides averaged; None fits on the reference's grid. valid_max: larger reference values are flags (missing).
    cv_block_m: edge of the square blocks (metres on the ground over the fit grid, blocks.ground_blocks) held
    out together in `cv_splits` folds. n_trees: trees of the forest or boosting rounds (default the model's,
    irrmap.models.estimators: 100); prediction time grows with it. workdir: where averaged intermediates go
    (default: a temporary folder). Raises InputError for bad parameters, DataError when too few samples
    remain, GridError when the bands miss the reference, InputError when a band holds an undeclared fill value
    (`check_band_fills`), DataError when bands named red / nir or swir1 / swir2 hold each other's data
    (predict.check_stack_band_order).
    """
    if model not in MODELS:
        raise InputError(f"unknown model {model!r}", "--model", f"use one of {', '.join(MODELS)}")
    if n_trees is not None and n_trees < 1:
        raise InputError(f"n_trees {n_trees} must be at least 1", "--trees", "use e.g. 100 (the default)")
    if cv_splits < 2 or cv_block_m <= 0 or max_samples < 10 or not 0 < min_coverage <= 1:
        raise InputError(f"bad sampling/CV settings (cv_splits {cv_splits}, cv_block_m {cv_block_m}, max_samples {max_samples}, "
                         f"min_coverage {min_coverage})", "--cv-splits/--cv-blocks/--max-samples",
                         "use at least 2 folds, a positive block size, at least 10 samples and a coverage in (0, 1]")
    if workdir is not None:
        check_output_folder(workdir, MODEL_DIR_WHERE)  # before any work: an existing file there is refused cleanly
    vals = check_percent(reference, role="the reference", valid_max=valid_max,
                         fix="rescale it to percent first (gdal_calc.py -A REF.tif --calc=\"A*100\" --outfile REF_percent.tif), keeping "
                             "its flags out of the product or declaring them as nodata")
    warn_blended_flags(reference, vals, role="the reference", valid_max=valid_max)
    grid = fit_grid(stack.grid, reference, resolution_m)
    from irrmap.mapping.treecover.predict import check_stack_band_order  # predict imports this module

    check_stack_band_order(stack)
    check_band_fills(stack, chunks=chunks)
    # .treecover-fit.PID.partial.XXXX: a run killed here leaves it for the next run to remove (atomic.remove_stale_partials)
    with partial_folder(workdir, "treecover-fit") as tmp:
        feats, cover = features_on(stack, grid, tmp, chunks=chunks)
        ref, ref_cover = reference_on(reference, grid, tmp, valid_max=valid_max, chunks=chunks)
        s = sample_cells(grid, ref, ref_cover, feats, cover, min_coverage=min_coverage, max_samples=max_samples, seed=seed,
                         chunks=chunks)
    native = share_at_least(reference, grid, SATURATION, valid_max=valid_max, chunks=chunks)
    n = len(s["y"])
    if n < 10 * cv_splits:
        _refuse_empty_bands(stack)
        raise DataError(f"only {n} reference cells with valid predictors on {grid!r}", str(reference),
                        "check that the bands and the reference overlap and that --reference-valid-max keeps the cover values")
    cell_m = ground_pixel_m(grid)
    groups, cv_block_m = blocks_for_folds(lambda b: ground_blocks(grid, s["rows"], s["cols"], b), cv_block_m, cv_splits,
                                          float(max(cell_m)), "m")
    folds = assign_folds(groups, cv_splits, seed)
    X = pd.DataFrame(s["X"], columns=stack.features)
    cv = {}
    params = {"n_estimators": n_trees} if n_trees is not None else None
    for name, kind in (("model", model), ("baseline", BASELINE)):
        cv[name] = cross_validate(lambda kind=kind: Regressor(kind, random_state=seed, n_jobs=n_jobs,
                                                              estimator_params=params if kind == model else None),
                                  X, s["y"], folds, task="regression", return_predictions=True)
    held_out = {k: v.pop("predicted") for k, v in cv.items()}
    fitted = Regressor(model, random_state=seed, n_jobs=n_jobs, estimator_params=params).fit(X, s["y"])
    beats = bool(cv["model"]["r2"] > cv["baseline"]["r2"])
    if not beats:
        log.warning("the %s model does not beat the linear baseline in held-out R2 (%.3f vs %.3f): the reference is close to linear "
                    "in the features here, or the model has too few samples or trees for the signal; fix: check the band names and "
                    "order, add dates (percentiles), raise --max-samples / --trees, or use the map knowing a linear fit scores better",
                    model, cv["model"]["r2"], cv["baseline"]["r2"])
    card = {
        "task": "regression",
        "target": "percent tree canopy cover (0-100)",
        "model": model,
        "seed": seed,
        "features": stack.features,
        "bands": stack.identity(),
        "indices": {k.upper(): f"({a} - {b}) / ({a} + {b})" for k, (a, b) in INDICES.items() if k in stack.indices},
        "uncertainty": fitted.spread_,
        # the settings that shape the model: not n_jobs / verbose, so that --jobs 1 and 2 write the same card
        "estimator_params": {k: v for k, v in fitted.estimator_.get_params().items()
                             if isinstance(v, (int, float, str, bool, type(None))) and k not in ("n_jobs", "num_threads", "verbose")},
        "reference": {"path": str(Path(reference).resolve()), "valid_max": valid_max, "resolution_m": resolution_m,
                      "fit_grid": grid.to_dict(), "min_coverage": min_coverage,
                      "valid_cells": s["n_valid"], "share_ge_80": s["n_ge"] / s["n_valid"], "share_ge_80_native": native},
        "samples": {"used": n, "max_samples": max_samples, "feature_quantiles_1_50_99": feature_quantiles(s["X"], stack.features)},
        "cv": {"held_out": f"blocks of {cv_block_m:g} m on the ground (about {cv_block_m / cell_m[0]:.3g} x {cv_block_m / cell_m[1]:.3g} "
                           f"cells at the grid's centre)", "block_m": cv_block_m, "n_blocks": len(np.unique(groups)),
               "n_splits": cv_splits} | cv,
        "beats_baseline": beats,
        "saturation": {"threshold": SATURATION} | {k: saturation(s["y"], p) for k, p in held_out.items()},
    }
    return fitted, card


def save_treecover(model: Regressor, card: dict, model_dir) -> dict:
    """Write MODEL_DIR/model.joblib and its card (model.card.json); returns the card with checksum and versions.
    The card names its reference relative to MODEL_DIR (irrmap.core.relative_path; `reference_path` reads it back),
    so the same fit in another folder writes the same card."""
    model_dir = Path(model_dir)
    check_output_folder(model_dir, MODEL_DIR_WHERE)
    model_dir.mkdir(parents=True, exist_ok=True)
    if isinstance(card.get("reference"), dict) and card["reference"].get("path"):
        card = card | {"reference": card["reference"] | {"path": relative_to_folder(card["reference"]["path"], model_dir)}}
    return save_model(model, model_dir / MODEL_FILE, card)


def reference_path(card: dict, model_dir) -> Path:
    """The reference raster a card names: its path as stored, relative to MODEL_DIR unless absolute (older cards)."""
    return located_from(card["reference"]["path"], model_dir)


def saturation(reference, predicted, threshold: float = SATURATION) -> dict:
    """Behaviour where the reference is at or above `threshold`: n, mean reference, mean predicted, and the
    share of those predictions also at or above it (NaN when no sample qualifies)."""
    reference, predicted = np.asarray(reference, np.float64), np.asarray(predicted, np.float64)
    sel = reference >= threshold
    if not sel.any():
        return {"n": 0, "mean_reference": float("nan"), "mean_predicted": float("nan"), "share_predicted_ge": float("nan")}
    return {"n": int(sel.sum()), "mean_reference": float(reference[sel].mean()), "mean_predicted": float(predicted[sel].mean()),
            "share_predicted_ge": float((predicted[sel] >= threshold).mean())}


def feature_quantiles(X: np.ndarray, names) -> dict:
    """1st, 50th and 99th percentile of each feature over the samples (predict warns on inputs far off them)."""
    q = np.percentile(np.asarray(X, np.float64), [1, 50, 99], axis=0)
    return {n: [float(v) for v in q[:, i]] for i, n in enumerate(names)}


def share_at_least(reference, grid: Grid, threshold: float, *, valid_max: float = 100.0, chunks: int = 1024) -> float:
    """Share of the reference's valid pixels (0..valid_max), on its own grid in the window under `grid`, that
    are at or above `threshold` (NaN when none is valid)."""
    ref_grid = Grid.from_raster(reference)
    window = window_over(ref_grid, grid)
    if window is None:
        return float("nan")
    values = read_raster(reference, ref_grid.window_grid(window), valid_range=(0, valid_max), chunks=chunks).data
    n_valid, n_ge = dask.compute(da.isfinite(values).sum(), (values >= threshold).sum())
    return float(n_ge / n_valid) if n_valid else float("nan")


def _position_hash(index: np.ndarray, seed: int) -> np.ndarray:
    """A uniform 64-bit key per cell index (splitmix64 finaliser of index + seed x golden ratio; Steele et al. 2014)."""
    with np.errstate(over="ignore"):
        z = index.astype(np.uint64) + np.uint64(seed % 2**64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def sample_cells(grid: Grid, ref, ref_cover, feats, cover, *, min_coverage: float, max_samples: int, seed: int,
                 chunks: int = 1024) -> dict:
    """Valid cells of the fit grid, read tile by tile (memory: one tile plus the samples kept).

    Returns rows, cols, X (n, n_features float32), y (float64) of at most `max_samples` cells (the smallest
    position hashes, in row-major order), n_valid (all valid cells) and n_ge (valid cells with y >= 80).
    """
    keep = {"key": np.empty(0, np.uint64), "idx": np.empty(0, np.int64), "X": np.empty((0, len(feats)), np.float32),
            "y": np.empty(0, np.float64)}
    n_valid = n_ge = 0
    for tile in grid.tiles(chunks):
        w = tile.window
        r0, c0, h, wd = int(w.row_off), int(w.col_off), int(w.height), int(w.width)
        part = [a.data[r0:r0 + h, c0:c0 + wd] for a in [ref, ref_cover, cover, *feats]]
        y, rc, fc, *fx = (np.asarray(v) for v in dask.compute(*part))
        X = np.stack(fx, axis=-1).reshape(-1, len(feats))
        ok = (np.isfinite(y) & (rc >= min_coverage - 1e-6) & (fc >= min_coverage - 1e-6)).ravel() & np.isfinite(X).all(axis=1)
        if not ok.any():
            continue
        rows, cols = np.divmod(np.flatnonzero(ok), wd)
        idx = (rows + r0).astype(np.int64) * grid.width + (cols + c0)
        yv = y.ravel()[ok].astype(np.float64)
        n_valid += int(ok.sum())
        n_ge += int((yv >= SATURATION).sum())
        keep = {"key": np.concatenate([keep["key"], _position_hash(idx, seed)]), "idx": np.concatenate([keep["idx"], idx]),
                "X": np.concatenate([keep["X"], X[ok]]), "y": np.concatenate([keep["y"], yv])}
        if len(keep["y"]) > max_samples:
            sel = np.argpartition(keep["key"], max_samples - 1)[:max_samples]
            keep = {k: v[sel] for k, v in keep.items()}
    order = np.argsort(keep["idx"], kind="stable")
    rows, cols = np.divmod(keep["idx"][order], grid.width)
    return {"rows": rows, "cols": cols, "X": keep["X"][order], "y": keep["y"][order], "n_valid": n_valid, "n_ge": n_ge}
