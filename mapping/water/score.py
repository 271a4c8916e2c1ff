"""Mapped water bodies scored against reference bodies on the same grid: bodies matched one to one by
intersection over union (IoU) of their pixels' true areas, precision and recall of bodies, and the area error of
the matched ones.

Rules: IoU(r, m) = overlap / (area_r + area_m - overlap), all in ellipsoidal m2 (irrmap.core.grid pixel areas).
Pairs with IoU >= `iou` (default 0.5, the usual object-detection criterion) are matched greedily, highest IoU
first (ties: lowest reference id, then lowest mapped id), each body at most once; above 0.5 a body can have one
partner only, so the greedy order matters only at exactly 0.5. Precision = matched / mapped bodies, recall =
matched / reference bodies. Area error of a matched pair = (mapped - reference) / reference area.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from irrmap.core.errors import InputError
from irrmap.mapping.water.bodies import SIZE_CLASSES
from irrmap.mapping.water.change import body_overlaps


_SAMPLE_PX = 4_000_000  # the reference's own water share is counted on at most this many pixels (a decimated read)


REFERENCE_FIX = ("give a water mask as [water].reference: 1 water, 0 not water, 255 (or the file's nodata) unknown, in band 1 or a "
                 "band described 'water' (a JRC occurrence or 0 / 255 layer must be thresholded to 0 / 1 first, e.g. gdal_calc.py "
                 "--calc=\"A>50\")")


def reference_band(path) -> int:
    """The band of a reference mask that holds the water class: the band described 'water' (irrmap's own
    mask.tif has water, detection, persistence), else band 1 (the contract band of a mask file)."""
    from irrmap.core.raster_read import open_raster

    with open_raster(str(path)) as src:
        named = [i for i, d in enumerate(src.descriptions, start=1) if (d or "").strip().casefold() == "water"]
    return named[0] if named else 1


def _allowed(nodata) -> np.ndarray:
    from irrmap.mapping.water.classify import NOT_WATER, UNKNOWN, WATER

    extra = [nodata] if nodata is not None and np.isfinite(nodata) else []
    return np.array([NOT_WATER, WATER, UNKNOWN] + [int(v) if float(v).is_integer() else v for v in extra])


def _own_sample(path, band: int):
    """A decimated read (at most _SAMPLE_PX pixels) of the reference's own band, masked at its nodata."""
    from irrmap.core.raster_read import open_raster

    with open_raster(str(path)) as src:
        step = max(1, int(np.ceil(np.sqrt(src.width * src.height / _SAMPLE_PX))))
        own = src.read(band, out_shape=(max(1, src.height // step), max(1, src.width // step)), masked=True)
        nodata = src.nodatavals[band - 1]
    return own, nodata


def check_reference(path, *, where: str | None = None) -> None:
    """A cheap check of a reference mask (the `--check` of the water stage and the start of its run): the file
    opens, its water band (`reference_band`) holds only 0 / 1 / 255 / its nodata on a decimated read (at most
    _SAMPLE_PX pixels; `read_reference` checks every pixel). Raises InputError for an unreadable file,
    DataError (located at `where`, default the path) for other codes."""
    from irrmap.mapping.water.mask import checked_codes

    band = reference_band(path)
    own, nodata = _own_sample(path, band)
    checked_codes(np.ma.getdata(own), _allowed(nodata), repr(_band_name(path, band)), where or str(path), REFERENCE_FIX)


def _band_name(path, band: int) -> str:
    from irrmap.core.raster_read import open_raster

    with open_raster(str(path)) as src:
        return (src.descriptions[band - 1] or "").strip() or str(band)


def read_reference(path, grid, *, chunks: int = 4096, where: str | None = None):
    """A reference water mask (1 water, 0 not, 255 / nodata unknown; band 1 or the band described 'water',
    `reference_band`, so irrmap's own 3-band mask.tif is read by its water band) as a categorical DataArray on
    `grid`: copied when it already sits on the grid's lattice; else resampled as classes, never blended --
    nearest neighbour (what `gdalwarp -r near` gives) unless it is more than irrmap.core.raster_read.COARSENING
    (1.5) times finer than the grid (then mode, the majority class of the reference pixels under each grid
    pixel). A resampled reference gets a warning naming the resampling and its water share (of the known
    pixels) before and after, since resampling moves body edges by up to a pixel and so changes IoU-based
    scores. Values other than 0 / 1 / 255 / the nodata raise DataError (located at `where`, default the path)
    when the array is computed, as `irrmap water bodies` refuses such masks; `check_reference` refuses them
    early on a decimated read."""
    import logging

    from irrmap.core.raster_read import read_raster
    from irrmap.mapping.water.mask import checked_codes
    from irrmap.sources.scene import categorical_resampling

    import dask.array as da

    path = str(path)
    where = where or path
    band = reference_band(path)
    own, _ = _own_sample(path, band)
    out = read_raster(path, grid, kind="categorical", band=band, resampling=categorical_resampling(path, grid), chunks=chunks,
                      name="reference")
    out = out.copy(data=da.map_blocks(checked_codes, out.data, _allowed(out.attrs["nodata"]), _band_name(path, band), where,
                                      REFERENCE_FIX, dtype=out.dtype))
    if out.attrs["resampling"] != "none":
        values = out.values
        known = values != out.attrs["nodata"]
        own_known = ~np.ma.getmaskarray(own)
        before = float((own == 1)[own_known].mean()) if own_known.any() else float("nan")
        after = float((values == 1)[known].mean()) if known.any() else float("nan")
        changed = f"water {before:.2%} of its known pixels before, {after:.2%} on the grid"
        logging.getLogger(__name__).warning(
            "%s: the reference mask is not on the scenes' grid (%s), so it was resampled onto it by %s (%s); body edges move by up to "
            "a pixel, which lowers IoU-based scores (fix: give the reference on the scenes' grid, e.g. gdalwarp -r near with the grid's "
            "-t_srs, -te and -tr)", where, _grid_text(path), out.attrs["resampling"], changed)
    return out


def _grid_text(path) -> str:
    from irrmap.core.grid import Grid

    g = Grid.from_raster(path)
    return f"{g.crs.to_string()}, {abs(g.res[0]):.6g} x {abs(g.res[1]):.6g}"


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def match_iou(reference: pd.DataFrame, reference_ids, mapped: pd.DataFrame, mapped_ids, *, iou: float = 0.5,
              tile: int = 2048) -> pd.DataFrame:
    """Matched pairs: reference_id, mapped_id, reference_km2, mapped_km2, overlap_km2, iou, area_error_pct,
    size_class (of the reference body). `reference`, `mapped`: body tables (body_id, area_m2, size_class) whose
    ids are the values of the body-id rasters `reference_ids`, `mapped_ids` (paths, DataArrays or arrays on one
    grid). Raises InputError for `iou` outside (0, 1]."""
    if not 0 < iou <= 1:
        raise InputError(f"IoU threshold {iou} is not in (0, 1]", "iou", "use 0.5")
    ov = body_overlaps(reference_ids, mapped_ids, tile=tile).rename(columns={"id_a": "reference_id", "id_b": "mapped_id"})
    ref = reference.set_index("body_id")
    mp = mapped.set_index("body_id")
    ov["reference_km2"] = ref["area_m2"].reindex(ov["reference_id"]).to_numpy() / 1e6
    ov["mapped_km2"] = mp["area_m2"].reindex(ov["mapped_id"]).to_numpy() / 1e6
    ov["overlap_km2"] = ov["area_m2"] / 1e6
    ov["iou"] = ov["overlap_km2"] / (ov["reference_km2"] + ov["mapped_km2"] - ov["overlap_km2"])
    ov = ov[ov["iou"] >= iou].sort_values(["iou", "reference_id", "mapped_id"], ascending=[False, True, True])
    used_r, used_m, keep = set(), set(), []
    for i, r, m in zip(ov.index, ov["reference_id"], ov["mapped_id"]):
        if r not in used_r and m not in used_m:
            used_r.add(r), used_m.add(m), keep.append(i)
    out = ov.loc[keep].sort_values("reference_id", ignore_index=True)
    out["area_error_pct"] = 100.0 * (out["mapped_km2"] - out["reference_km2"]) / out["reference_km2"]
    out["size_class"] = ref["size_class"].astype(str).reindex(out["reference_id"]).to_numpy()
    return out[["reference_id", "mapped_id", "reference_km2", "mapped_km2", "overlap_km2", "iou", "area_error_pct", "size_class"]]


def body_scores(reference: pd.DataFrame, mapped: pd.DataFrame, pairs: pd.DataFrame, *, iou: float = 0.5) -> dict:
    """Scores of the matched `pairs` (match_iou): iou_threshold, n_reference, n_mapped, n_matched, precision,
    recall, f1 (None when undefined), area_error {mean_abs_pct, median_pct, total_pct = (sum mapped - sum
    reference) / sum reference over matched pairs, matched_reference_km2, matched_mapped_km2}, and per reference
    size class {n_reference, n_matched, recall}."""
    n_ref, n_map, n = len(reference), len(mapped), len(pairs)
    precision, recall = _ratio(n, n_map), _ratio(n, n_ref)
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
    ref_km2, map_km2 = float(pairs["reference_km2"].sum()), float(pairs["mapped_km2"].sum())
    err = pairs["area_error_pct"]
    classes = reference["size_class"].astype(str).value_counts()
    matched = pairs["size_class"].value_counts()
    return {
        "iou_threshold": iou, "n_reference": n_ref, "n_mapped": n_map, "n_matched": n,
        "precision": precision, "recall": recall, "f1": f1,
        "area_error": {"mean_abs_pct": float(err.abs().mean()) if n else None, "median_pct": float(err.median()) if n else None,
                       "total_pct": 100.0 * (map_km2 - ref_km2) / ref_km2 if n else None,
                       "matched_reference_km2": ref_km2, "matched_mapped_km2": map_km2},
        "by_size_class": {c: {"n_reference": int(classes.get(c, 0)), "n_matched": int(matched.get(c, 0)),
                              "recall": _ratio(int(matched.get(c, 0)), int(classes.get(c, 0)))}
                          for c in SIZE_CLASSES if classes.get(c, 0)},
    }


__all__ = ["body_scores", "match_iou"]
