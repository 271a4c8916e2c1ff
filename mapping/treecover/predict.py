"""Percent tree canopy cover at the bands' own resolution, window by window, with a per-pixel uncertainty, and
a consistency check of the map aggregated back onto the reference grid.

Output OUT.tif (tiled COG, uint8, nodata 255, provenance tags):
- band 1: tree canopy cover in percent, 0..100 (the prediction rounded and clipped);
- band 2: its uncertainty in percent cover (0..254): the standard deviation of the forest's trees, or for
  LightGBM half its 15.87-84.13 % quantile interval (irrmap.models.regression; the card's `uncertainty`).
Both are 255 where any feature is missing. Memory stays flat: windows sized from `memory_mb` are computed
(dask threads, one serial tree kernel each) and written as they finish (irrmap.core.raster_write).

OUT.check.json: the cover map averaged onto the fit's grid (the reference's grid, or the card's reference
resolution) against the reference there: R2, RMSE, bias, MAE and the behaviour above 80 %. The model was
fitted on those cells, so this checks scale and aggregation (a map that reproduces its reference when
averaged), not accuracy; the held-out figures are in the model card.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import xarray as xr
from irrmap.mapping.predict import tile_size_for
from irrmap.mapping.treecover.band_product import check_common_factor, check_level1
from irrmap.mapping.treecover.fit import (
    MODEL_FILE,
    SATURATION,
    check_band_fills,
    reference_path,
)
from irrmap.mapping.treecover.predictors import (
    INDICES,
    BandStack,
    check_same_bands,
    compute_features,
    fit_grid,
    onto_grid,
    reference_on,
)
from irrmap.mapping.treecover.streamed_scores import PairSpill, spilled_scores
from irrmap.mapping.treecover.summary import SCAN_TILE
from irrmap.models.persistence import check_features, load_model
from rasterio.windows import Window

from irrmap.core.atomic import partial_folder, write_text_atomic
from irrmap.core.errors import GridError, InputError
from irrmap.core.fill_values import FILL_VALUES
from irrmap.core.memory import fix_malloc_thresholds
from irrmap.core.raster_read import read_raster, read_window
from irrmap.core.raster_write import write_raster
from irrmap.core.relative_path import relative_to_folder
from irrmap.core.valid_share import refuse_empty_output

log = logging.getLogger(__name__)

NODATA = 255
MAX_WINDOW = 512  # window edge cap: a 512 x 512 window is seconds of tree walking, and small maps still get one per thread
DESCRIPTIONS = ("tree canopy cover, percent", "uncertainty of the cover, percent cover")


def check_path(out) -> Path:
    """Where the consistency check of OUT.tif is stored: OUT.check.json."""
    out = Path(out)
    return out.with_name(out.stem + ".check.json")


def load_treecover_model(model_dir):
    """(model, card) of MODEL_DIR (checksum verified); InputError when it holds no tree-cover model."""
    path = Path(model_dir) / MODEL_FILE
    if not path.is_file():
        raise InputError(f"no {MODEL_FILE} in the model folder", str(model_dir), "fit one with `irrmap treecover fit MODEL_DIR ...`")
    model, card = load_model(path)
    if card.get("task") != "regression" or "bands" not in card:
        raise InputError("not a tree-cover model (no bands in its card)", str(path), "fit one with `irrmap treecover fit MODEL_DIR ...`")
    return model, card


def predict_block(block: np.ndarray, model, names, percentiles) -> np.ndarray:
    """(2, h, w) uint8 cover and uncertainty (percent, 255 missing) of a (n_bands, n_dates, h, w) block."""
    feats = compute_features(block, names, percentiles)
    X = feats.reshape(feats.shape[0], -1).T
    ok = np.isfinite(X).all(axis=1)
    out = np.full((2, X.shape[0]), NODATA, np.uint8)
    if ok.any():
        mean, spread = model.predict_spread(X[ok], n_threads=1)
        out[0, ok] = np.clip(np.rint(mean), 0, 100).astype(np.uint8)
        out[1, ok] = np.where(np.isfinite(spread), np.clip(np.rint(spread), 0, NODATA - 1), NODATA).astype(np.uint8)
    return out.reshape((2,) + feats.shape[1:])


def predict_treecover(out, model_dir, stack: BandStack, *, memory_mb: float = 512, n_jobs: int | None = None, reference=None,
                      check: bool = True, tags: dict | None = None) -> dict:
    """Write OUT.tif (see the module docstring) from the bands of `stack`; returns {"path", "check"}.

    The bands must match the fit's (count, dates, order: predictors.check_same_bands). reference: the raster
    for the consistency check (default the card's, skipped with a warning when it is gone or misses the
    bands); `check` False skips it. n_jobs: dask threads (default: cores). Raises InputError for another
    model kind or other bands, a band without data (no valid pixel, or only zeros), a band holding an undeclared fill
    value (fit.check_band_fills) and a map that would have no
    valid pixel (deleted, not left behind: irrmap.core.valid_share.refuse_empty_output); DataError for bands named
    red / nir or swir1 / swir2 that hold each other's data (check_stack_band_order).
    """
    model, card = load_treecover_model(model_dir)
    stack = check_same_bands(card["bands"], stack)
    check_features(card["features"], stack.features, "--bands")
    check_stack_band_order(stack)
    _warn_off_range(stack, card)
    if check and reference is not None and Path(reference).is_file():  # before the map is computed, not in its check afterwards
        from irrmap.mapping.treecover.percent import check_percent, warn_blended_flags

        valid_max = float(card["reference"]["valid_max"])
        vals = check_percent(reference, role="--reference", valid_max=valid_max,
                             fix="give the reference in percent 0..100, as the model was fitted on (gdal_calc.py --calc=\"A*100\")")
        warn_blended_flags(reference, vals, role="--reference", valid_max=valid_max)
    model.predict_spread(np.zeros((1, len(stack.features)), np.float32), n_threads=1)  # compile the trees once, not per thread
    n_in = len(stack.paths) * stack.n_dates + len(stack.features)
    size = min(tile_size_for(n_in, memory_mb), MAX_WINDOW)
    bands = stack.read(size).rechunk({0: -1, 1: -1})
    cover = da.map_blocks(predict_block, bands, model, stack.names, stack.percentiles, drop_axis=1,
                          chunks=((2,),) + bands.chunks[2:], dtype=np.uint8, meta=np.empty((0, 0, 0), np.uint8))
    grid = stack.grid
    arr = xr.DataArray(cover, dims=("band", "y", "x"), coords=grid.coords()).rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    all_tags = {"stage": "mapping.treecover.predict", "model_sha256": card["sha256"], "model": card["model"],
                "features": ",".join(card["features"]), "bands": ",".join(Path(p).name for p in stack.paths),
                "uncertainty": card["uncertainty"], "calibrated_on": relative_to_folder(reference_path(card, model_dir), Path(out).parent),
                "units": "percent"} | dict(tags or {})
    workers = n_jobs or dask.config.get("num_workers", None)
    fix_malloc_thresholds()  # window-sized arrays in their own mappings: no heap growth with the number of windows
    with dask.config.set(num_workers=workers, scheduler="threads"):
        path = write_raster(out, arr, nodata=NODATA, dtype="uint8", descriptions=list(DESCRIPTIONS), tags=all_tags,
                            cache_mb=int(max(16, min(128, memory_mb // 8))))
    refuse_empty_output(path, [("--bands", p) for p in dict.fromkeys(stack.paths)], what="the tree-cover map", bands=[1],
                        fix="give bands that are valid together over the area (gdalinfo -stats each); a pixel is mapped where "
                            "every band and every index of the fit is valid")
    result = {"path": path, "check": None}
    if check:
        result["check"] = _consistency(path, stack, card, reference or reference_path(card, model_dir), size)
    return result


def _consistency(path: Path, stack: BandStack, card: dict, reference, chunks: int) -> dict | None:
    """Score the map averaged onto the fit's grid against the reference; write OUT.check.json."""
    ref_info = card["reference"]
    reference = reference or ref_info["path"]
    if not Path(reference).is_file():
        log.warning("consistency check skipped: the reference %s is not there; fix: pass --reference REF.tif", reference)
        return None
    try:
        grid = fit_grid(stack.grid, reference, ref_info["resolution_m"])
    except GridError as exc:  # the map misses the reference
        log.warning("consistency check skipped: %s", exc)
        return None
    min_cov = float(ref_info["min_coverage"])
    with partial_folder(path.parent, "treecover-check") as tmp:  # beside the map: a killed run's is removed by the next
        cover = read_raster(path, stack.grid, band=1, chunks=chunks).data
        (pred,), pred_cov = onto_grid(cover[None], ["cover"], stack.grid, grid, Path(tmp) / "cover.tif", chunks=chunks)
        ref, ref_cov = reference_on(reference, grid, tmp, valid_max=ref_info["valid_max"], chunks=chunks)
        # the valid cells go to a temporary file and are scored back window by window (streamed_scores): on a reference
        # on the bands' grid they are every pixel of the scene, which held in memory grew with it (16.8 M px: +830 MB)
        with PairSpill(tmp) as spill:
            for tile in grid.tiles(SCAN_TILE):  # a fixed lattice: the cells in one order (the scores' bytes) whatever `chunks`
                w = tile.window
                sl = (slice(int(w.row_off), int(w.row_off + w.height)), slice(int(w.col_off), int(w.col_off + w.width)))
                y, yc, p, pc = (np.asarray(v) for v in dask.compute(*(a.data[sl] for a in (ref, ref_cov, pred, pred_cov))))
                ok = np.isfinite(y) & np.isfinite(p) & (yc >= min_cov - 1e-6) & (pc >= min_cov - 1e-6)
                spill.add(y[ok], p[ok])
            scored = spilled_scores(spill, saturation_at=SATURATION)  # = regression_scores(y, p), saturation(y, p)
    here = check_path(path).parent  # paths relative to the check's folder: the same bytes for the same run in another folder
    res = {"map": relative_to_folder(path, here), "reference": relative_to_folder(reference, here), "grid": grid.to_dict(), "resolution_m": ref_info["resolution_m"],
           "min_coverage": min_cov, "scores": scored["scores"], "saturation": scored["saturation"],
           "note": "in-sample: the model was fitted on these cells; held-out figures are in the model card"}
    write_text_atomic(check_path(path), json.dumps(res, indent=2, sort_keys=True) + "\n")
    _warn_below_held_out(res["scores"], card, reference)
    return res


#: in-sample R2 more than this below the model's held-out R2 warns. The check scores the cells the model was fitted on, so
#: with the fit's bands it matches or beats the held-out R2 (Gewata, 30 trees: 0.907 in-sample, 0.905 held out; the card's
#: folds spread by about +-0.01); bands in another order or of another scene drop it far lower (NIR/SWIR1 swapped: 0.577)
R2_DROP = 0.1


def _warn_below_held_out(scores: dict, card: dict, reference) -> None:
    """Warn when the check's R2 against `reference` falls more than R2_DROP below the card's held-out R2."""
    held = (card.get("cv") or {}).get("model", {}).get("r2")
    got = scores.get("r2")
    if held is None or got is None or not (np.isfinite(held) and np.isfinite(got)) or got >= held - R2_DROP:
        return
    log.warning("the map reproduces its reference worse than the model predicts held-out cells: R2 %.3f against %s, the model's "
                "held-out R2 %.3f; on the cells it was fitted on it should do at least as well, so the bands are probably not the "
                "fit's (another order, scene, date or processing) or the reference is another one (fix: give the fit's bands in its "
                "order, e.g. without --band-names so their descriptions and file names are checked, and the fit's reference)",
                got, reference, held)


#: a band whose typical value is this many times (or 1 / this) its fit's is in other units, not extrapolation:
#: reflectance 0..1 against x 1e4 differ 1e4 times, percent against fractions 100 times
UNIT_RATIO = 30.0


def _sample_windows(g, side: int):
    h, w = min(side, g.height), min(side, g.width)
    return [Window(int((g.width - w) * fc), int((g.height - h) * fr), w, h) for fr in (0.15, 0.5, 0.85) for fc in (0.15, 0.5, 0.85)]


def sample_bands(stack: BandStack, side: int = 96) -> np.ndarray:
    """(n_bands, n_dates, n) band values sampled in 3 x 3 windows of `side` pixels across the stack's grid."""
    g = stack.grid
    blocks = [np.stack([np.stack([read_window(p, g, win, band=stack.layer(i, k)) for k in range(1, stack.n_dates + 1)])
                        for i, p in enumerate(stack.paths)]) for win in _sample_windows(g, side)]
    return np.concatenate([b.reshape(b.shape[0], b.shape[1], -1) for b in blocks], axis=2)


def check_stack_band_order(stack: BandStack, side: int = 96) -> None:
    """Refuse (DataError, irrmap.sources.band_order.check_band_order) a stack whose bands named red and nir, or swir1
    and swir2, hold each other's data, on the bands sampled in 3 x 3 windows (`sample_bands`, every date): on land
    (SWIR brighter than green) NIR > red and SWIR1 > SWIR2 for vegetation, soils and rock. Warns on doubtful evidence.
    Needs green and swir1 named (the land test); says nothing otherwise. The message names the stack's band numbers or
    the band files, and the fix: swap a scene stack's band descriptions, or the two files in --bands."""
    from irrmap.sources.band_order import PAIRS, check_band_order, description_fix

    names = list(stack.names)
    wanted = ("green", "red", "nir", "swir1", "swir2")
    if not any(h in names and lo in names for h, lo, _ in PAIRS) or "green" not in names or "swir1" not in names:
        return
    values = sample_bands(stack, side)
    samples = {n: values[i].ravel() for i, n in enumerate(names) if n in wanted}
    one_file = len(set(stack.paths)) == 1 and stack.layers is not None
    labels = {n: (f"band {stack.layers[i]}" if one_file else Path(stack.paths[i]).name) for i, n in enumerate(names) if n in wanted}

    def fix(high: str, low: str) -> str:
        if one_file:
            return description_fix(stack.paths[0], stack.layers[names.index(high)], stack.layers[names.index(low)], high, low)
        return (f"give {labels[high]} and {labels[low]} in each other's place in --bands (or correct --band-names / --sensor), so the "
                f"file read as {high} holds {high}")

    check_band_order(samples, stack.paths[0] if one_file else "--bands", labels=labels, fix=fix)


def band_medians(stack: BandStack, side: int = 96) -> list[float]:
    """The median of each band's sampled values (`sample_bands`, all dates), NaN for a band without any."""
    values = sample_bands(stack, side)
    return [float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan") for v in values.reshape(len(values), -1)]


def fitted_band_medians(card: dict) -> list[float] | None:
    """The fit's median of each band (its feature, or its 50th-percentile feature over dates, in the card's
    feature_quantiles_1_50_99), None when the card has no samples."""
    ranges = card.get("samples", {}).get("feature_quantiles_1_50_99")
    if not ranges:
        return None
    out = []
    for label in card["bands"]["labels"]:
        keys = [label] if label in ranges else sorted((k for k in ranges if k.startswith(f"{label}_p")),
                                                      key=lambda k: abs(float(k.rsplit("_p", 1)[1]) - 50))
        out.append(float(ranges[keys[0]][1]) if keys else float("nan"))
    return out


def check_band_units(stack: BandStack, medians: list[float], wanted: list[float], *, what: str = "the fit",
                     where: str | None = None) -> None:
    """InputError, naming the band file and the scale, when a band's median (`medians`) is more than UNIT_RATIO
    times above or below `wanted` (the same band's median in `what`): the bands are in other units (reflectance
    0..1 against x 1e4, ...), and every cover predicted from them would be meaningless."""
    for i, (got, want) in enumerate(zip(medians, wanted)):
        if not (np.isfinite(got) and np.isfinite(want) and got > 0 and want > 0):
            continue
        ratio = got / want
        if ratio > UNIT_RATIO or ratio < 1 / UNIT_RATIO:
            scale = 10.0 ** round(float(np.log10(ratio)))
            label = stack.labels[i]
            raise InputError(f"band file {Path(stack.paths[i]).name} ({label}) has a median of {got:.4g}, {what}'s {label} "
                             f"{want:.4g}: about {scale:g} times the values of {what}, so the bands are in other units (e.g. reflectance 0..1 "
                             f"against x 1e4)", where or stack.paths[i],
                             f"give bands in the units of {what}: multiply them by {1 / scale:g} (e.g. gdal_calc.py --calc=\"A*{1 / scale:g}\" "
                             f"--type=Float32), or fit a model on bands in these units")


def check_bands_hold_data(stack: BandStack, medians: list[float]) -> None:
    """InputError naming the band file when a band whose sampled median (`medians`) is NaN or 0 holds no data at all
    (irrmap.core.valid_share.empty_reason: no valid pixel, or only zeros): the map would be empty and its check
    against the reference undefined. Only those bands are read whole; a band missing in the sample but valid
    elsewhere passes."""
    from irrmap.core.valid_share import empty_reason

    for i, got in enumerate(medians):
        if np.isfinite(got) and got != 0:
            continue
        path = stack.paths[i]
        layers = [stack.layer(i, k) for k in range(1, stack.n_dates + 1)]
        why = empty_reason(path, bands=layers)
        if why is not None:
            raise InputError(f"band file {Path(path).name} ({stack.labels[i]}) {why}: no tree cover can be predicted from it", path,
                             "give the band with data over the area (gdalinfo -stats); if its nodata value marks real values, "
                             "change it with gdal_edit.py -a_nodata")


#: a band feature's sampled median below its fit's 1 % value / BAND_SPAN or above its 99 % value x BAND_SPAN warns (a factor
#: 2 beyond the range the fit saw); indices (bounded -1..1) keep the range widened by its own width on each side
BAND_SPAN = 2.0
INDEX_NAMES = tuple(INDICES)  # feature names of the normalised differences (and their _pNN over dates)


def fitted_band_ranges(card: dict) -> dict:
    """{band label: (low, high)}: the fit's 1 % and 99 % values of each band (its feature, or over its percentile
    features across dates: the lowest 1 % and the highest 99 %) in the card's feature_quantiles_1_50_99; a band whose
    range ends on a FILL_VALUES value (a card fitted on undeclared fills) is left out, so it cannot excuse that fill."""
    ranges = card.get("samples", {}).get("feature_quantiles_1_50_99") or {}
    out = {}
    for label in card.get("bands", {}).get("labels", ()):
        qs = [ranges[k] for k in ranges if k == label or (k.startswith(f"{label}_p") and k[len(label) + 2:].replace(".", "", 1).isdigit())]
        if qs:
            low, high = min(float(q[0]) for q in qs), max(float(q[-1]) for q in qs)
            if low not in FILL_VALUES and high not in FILL_VALUES:
                out[label] = (low, high)
    return out


def _warn_off_range(stack: BandStack, card: dict, side: int = 96) -> None:
    """Refuse bands without data (`check_bands_hold_data`), bands holding an undeclared fill value (fit.check_band_fills:
    a FILL_VALUES value far outside both the band's other values and the fit's 1-99 % range of it, `fitted_band_ranges`;
    the whole grid is read once for it), Level-1 DN bands against a fit on another product
    (irrmap.mapping.treecover.band_product.check_level1), a band in other units (`check_band_units`: its median more
    than UNIT_RATIO times off the fit's), bands whose common factor to the fit's lies beyond 4 (band_product; beyond 2
    warns), then warn when the bands' features, sampled in 3 x 3 windows of `side` pixels across the grid, have medians far outside what the model was fitted on
    (a band beyond its fit's 1-99 % range by a factor BAND_SPAN, an index beyond it by its own width): modest
    extrapolation, or another product."""
    bands = sample_bands(stack, side)
    medians = [float(np.median(v[np.isfinite(v)])) if np.isfinite(v).any() else float("nan") for v in bands.reshape(len(bands), -1)]
    check_bands_hold_data(stack, medians)
    check_band_fills(stack, known=fitted_band_ranges(card), then="predict again")
    ranges = card.get("samples", {}).get("feature_quantiles_1_50_99")
    if not ranges:
        return
    wanted = fitted_band_medians(card) or []
    # Level-1 DN first (its fix is a conversion, not a factor), then each band's units, then all bands together (band_product)
    check_level1(stack.paths, stack.labels, medians, wanted, card["bands"].get("files", ()), what="the fit")
    check_band_units(stack, medians, wanted, what="the fit")
    check_common_factor(stack.paths, stack.labels, medians, wanted, what="the fit")
    values = compute_features(bands[..., None], stack.names, stack.percentiles).reshape(len(stack.features), -1)
    off = []
    for name, row in zip(stack.features, values):
        row = row[np.isfinite(row)]
        lo, _, hi = ranges[name]
        width = max(hi - lo, 1e-12)
        # reflectance bands are positive: their admitted range is a ratio (lo - width would be below 0 and admit any dark band)
        low, high = (lo / BAND_SPAN, hi * BAND_SPAN) if lo > 0 and not name.startswith(INDEX_NAMES) else (lo - width, hi + width)
        if row.size and not low <= float(np.median(row)) <= high:
            off.append(f"{name} median {float(np.median(row)):.4g} (fit: {lo:.4g}..{hi:.4g})")
    if off:
        log.warning("the bands' values lie far outside those the model was fitted on: %s; the predicted cover is an extrapolation "
                    "there (fix: give bands of the fit's product and units, or fit on bands that cover these values)", "; ".join(off))
