"""A physical check of the band order of a reflectance stack or band set: are the bands read as red and NIR, and
as SWIR1 and SWIR2, really those bands, or each other?

A stack whose band descriptions (or file names, or --band-names) declare the standard order while its data are in
another one is read without complaint: NDWI then uses red for NIR and calls most land water (the Flathead 2015
stack with NIR and red swapped: 86.1 % of the clear area water, against 16.4 % for the correct stack), MNDWI with
SWIR1 and SWIR2 swapped 52.7 % against 17.8 %, and tree cover is fitted on the wrong indices.

The physics (spectral signatures of land surfaces):
- NIR (~0.86 um) > red (~0.66 um) for green vegetation (the red edge: chlorophyll absorbs red, leaf mesophyll
  scatters NIR; Tucker 1979, Remote Sens. Environ. 8:127-150) and for almost all soils and rock: the soil line,
  NIR ~ 1.0-1.3 x red + b with b >= 0 (Richardson and Wiegand 1977, Photogramm. Eng. Remote Sens. 43:1541-1552;
  Baret et al. 1993, Remote Sens. Environ. 46:45-56); red > NIR only over water, snow and ice, some man-made
  surfaces and a few strongly ferric or dark materials (USGS Spectral Library Version 7, Kokaly et al. 2017,
  USGS Data Series 1035: vegetation, soil and rock chapters).
- SWIR1 (~1.6 um) > SWIR2 (~2.2 um) for vegetation (liquid water absorbs more at 2.2 um than at 1.6 um; leaf
  spectra of the USGS library and of Jacquemoud and Baret's PROSPECT model, 1990, Remote Sens. Environ.
  34:75-91), for soils (clay minerals and carbonates absorb near 2.2-2.35 um) and for most rock (USGS library).

So on clear land pixels -- found by a test that uses neither band of the pair judged: SWIR (the brighter of SWIR1
and SWIR2, a test symmetric in the two) brighter than green, which water, snow and thick cloud fail -- a scene whose
bands are in order has few pixels with red > NIR or SWIR2 > SWIR1, and one whose pair is swapped has nearly all of
them. Measured: the three Flathead epochs (Landsat 5 TM 1997, 7 ETM+ 2007, 8 OLI 2015, TOA, 38,000-165,000 clear
land pixels) 0.00-0.05 % red > NIR and 0.01-0.09 % SWIR2 > SWIR1; Gewata (Ethiopia, Landsat surface reflectance
x 1e4, 1.8 million land pixels) 0.0 % and 0.02 %; Zion (Utah red sandstone, OLI digital numbers, every pixel)
0.14 % red > NIR; the Flathead 2015 stack with the pair swapped 99.99 %. REFUSE_SHARE (80 %) leaves a wide margin
on both sides; WARN_SHARE (50 %: most land pixels) warns. Comparisons only, so any positive common scale and
offset (reflectance 0..1, x 1e4, digital numbers of one gain) give the same shares.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irrmap.core.errors import DataError

log = logging.getLogger(__name__)

#: fewer clear land pixels than this in the sample and the check says nothing (a scene of water, snow or cloud)
MIN_LAND_PIXELS = 1000
#: the share of clear land pixels with the pair in the wrong order above which the bands are refused as swapped
REFUSE_SHARE = 0.80
#: ... above which a warning is logged (most land pixels in the wrong order)
WARN_SHARE = 0.50
#: pairs judged: (the band brighter on land, the band darker on land, what the brighter one should be)
PAIRS = (("nir", "red", "vegetation and almost all soils and rock reflect more at NIR (~0.86 um) than at red (~0.66 um)"),
         ("swir1", "swir2", "vegetation, soils and rock reflect more at SWIR1 (~1.6 um) than at SWIR2 (~2.2 um)"))
#: pixels kept per sampled block (every k-th row and column)
SAMPLE_PIXELS = 250_000


@dataclass(frozen=True)
class PairEvidence:
    """The evidence on one pair: `high` and `low` (common band names; on land `high` > `low`), `share` (0..1) of
    the `n_land` clear land pixels where `low` > `high`, and `verdict`: "swapped" (share > REFUSE_SHARE), "doubtful"
    (> WARN_SHARE), "ok", or "unknown" (fewer than MIN_LAND_PIXELS land pixels, or a band missing)."""

    high: str
    low: str
    share: float
    n_land: int
    verdict: str


def land_mask(samples: dict) -> np.ndarray | None:
    """Boolean mask of the clear land pixels among `samples` (common name -> 1-D arrays of one length, the same
    pixels): every band finite and the brighter of swir1 / swir2 (swir1 alone when there is no swir2) above green.
    None when green or swir1 is missing (no land test that leaves both pairs out)."""
    if "green" not in samples or "swir1" not in samples:
        return None
    arrays = {k: np.asarray(v, np.float64).ravel() for k, v in samples.items()}
    ok = np.logical_and.reduce([np.isfinite(v) for v in arrays.values()])
    swir = np.fmax(arrays["swir1"], arrays["swir2"]) if "swir2" in arrays else arrays["swir1"]
    with np.errstate(invalid="ignore"):
        return ok & (swir > arrays["green"])


def band_order_evidence(samples: dict) -> list[PairEvidence]:
    """The PairEvidence of each pair of PAIRS whose two bands are in `samples` (common name -> 1-D arrays of one
    length: the same pixels, clear ones, in any one unit: reflectance, scaled integers or one-gain digital numbers)."""
    land = land_mask(samples)
    out = []
    for high, low, _ in PAIRS:
        if high not in samples or low not in samples:
            continue
        if land is None:
            out.append(PairEvidence(high, low, float("nan"), 0, "unknown"))
            continue
        h = np.asarray(samples[high], np.float64).ravel()[land]
        lo = np.asarray(samples[low], np.float64).ravel()[land]
        n = int(land.sum())
        share = float(np.mean(lo > h)) if n else float("nan")
        verdict = ("unknown" if n < MIN_LAND_PIXELS else "swapped" if share > REFUSE_SHARE else
                   "doubtful" if share > WARN_SHARE else "ok")
        out.append(PairEvidence(high, low, share, n, verdict))
    return out


def check_band_order(samples: dict, source: str, *, labels: dict | None = None, fix=None) -> list[PairEvidence]:
    """Refuse bands in another order than declared, on the physics of the module docstring; returns the evidence.

    samples: common name -> 1-D arrays of the same clear pixels (band_order_evidence). source: the file or
    folder (named in the message, and the error's location). labels: common name -> how the message names that
    band (e.g. "band 4 'nir'", a file name); default the name. fix: a text, or a callable (high, low) -> text,
    for the fix (default: put the two bands in their declared places).
    Raises DataError (one line: file, the two bands, the shares, the fix) when a pair is "swapped"; logs a
    warning when it is "doubtful"."""
    labels = labels or {}
    evidence = band_order_evidence(samples)
    for ev in evidence:
        if ev.verdict not in ("swapped", "doubtful"):
            continue
        why = next(w for h, lo, w in PAIRS if (h, lo) == (ev.high, ev.low))
        hi_l, lo_l = (f" ({labels[n]})" if labels.get(n, n) != n else "" for n in (ev.high, ev.low))
        what = (f"the bands read as {ev.low}{lo_l} and {ev.high}{hi_l} look swapped: on {ev.n_land} clear land pixels sampled "
                f"(SWIR brighter than green), {ev.low} > {ev.high} in {ev.share:.1%} of them ({ev.high} > {ev.low} in "
                f"{1 - ev.share:.1%}); {why} (correct Landsat scenes: under 1 %)")
        text = fix(ev.high, ev.low) if callable(fix) else fix
        text = text or f"put the {ev.high} and {ev.low} data in the bands declared as {ev.high} and {ev.low}"
        if ev.verdict == "swapped":
            raise DataError(what, source, text)
        log.warning("%s: %s; unless the land here is mostly water, snow, urban or bare dark rock, the bands are in another order "
                    "than declared (fix: %s)", source, what.replace("look swapped", "may be swapped"), text)
    return evidence


def _block_slices(data) -> list[tuple[slice, slice]]:
    """The (rows, cols) slices of the centre, corner and edge-middle chunks of a dask array (at most 9), or the whole
    array for an in-memory one."""
    chunks = getattr(data, "chunks", None)
    if chunks is None:
        return [(slice(None), slice(None))]
    rows, cols = np.cumsum((0,) + tuple(chunks[0])), np.cumsum((0,) + tuple(chunks[1]))
    pick_i = sorted({0, len(chunks[0]) // 2, len(chunks[0]) - 1})
    pick_j = sorted({0, len(chunks[1]) // 2, len(chunks[1]) - 1})
    return [(slice(int(rows[i]), int(rows[i + 1])), slice(int(cols[j]), int(cols[j + 1]))) for i in pick_i for j in pick_j]


def scene_samples(scene) -> dict:
    """Common name -> 1-D float arrays of the same clear pixels of an irrmap.sources Scene: its green, red, nir,
    swir1, swir2 (those it has) in the centre, corner and edge-middle chunks (one compute), every k-th row and
    column (about SAMPLE_PIXELS a chunk). Clear: quality CLEAR (qa.CLEAR) when the quality comes from the product's
    QA layer; for a spectrally screened scene the quality is not computed (the screen works on the whole scene) and
    the land test (land_mask) alone keeps water, snow and thick cloud out."""
    import dask

    from irrmap.sources import qa

    names = [n for n in ("green", "red", "nir", "swir1", "swir2") if n in scene.bands]
    if not names:
        return {}
    use_quality = scene.quality is not None and scene.quality.attrs.get("source") != "screen"
    layers = [scene.bands[n].data for n in names] + ([scene.quality.data] if use_quality else [])
    pieces = []
    for rs, cs in _block_slices(layers[0]):
        h = (rs.stop or layers[0].shape[0]) - (rs.start or 0)
        w = (cs.stop or layers[0].shape[1]) - (cs.start or 0)
        step = max(1, int(np.ceil(np.sqrt(h * w / SAMPLE_PIXELS))))
        pieces.append([layer[rs, cs][::step, ::step] for layer in layers])
    got = dask.compute(pieces)[0]
    out = {n: [] for n in names}
    for block in got:
        keep = np.ones(np.asarray(block[0]).shape, bool)
        if use_quality:
            keep &= np.asarray(block[-1]) == qa.CLEAR
        for n, arr in zip(names, block):
            out[n].append(np.asarray(arr, np.float32)[keep])
    return {n: np.concatenate(v) for n, v in out.items()}


def _scene_labels(scene) -> dict:
    """Common name -> how a message names the band: "band N" of a stack, or its file name (a scene folder)."""
    out = {}
    for n, band in scene.bands.items():
        attrs = getattr(band, "attrs", {}) or {}
        src = attrs.get("source")
        if src and scene.folder is not None and Path(src) == Path(scene.folder) and "band" in attrs:
            out[n] = f"band {attrs['band']}"
        elif src:
            out[n] = Path(src).name
    return out


def description_fix(path, band_high, band_low, high: str, low: str) -> str:
    """The fix for a scene stack at `path` whose bands `band_low` (read as `low`) and `band_high` (read as `high`),
    1-based, hold each other's data: swap their descriptions (gdal_translate -b moves descriptions with the data)."""
    return (f"swap the descriptions of bands {band_low} and {band_high} so each names the band it holds: python -c \"import rasterio; "
            f"s = rasterio.open('{path}', 'r+'); s.set_band_description({band_low}, '{high}'); s.set_band_description({band_high}, '{low}'); "
            f"s.close()\" (gdal_translate -b alone moves the descriptions with the data)")


def _scene_fix(scene, labels: dict):
    """The fix text for a swapped pair of `scene`: swap a stack's two band descriptions, or a folder's two files."""
    def fix(high: str, low: str) -> str:
        folder = Path(scene.folder) if scene.folder is not None else None
        if folder is not None and folder.is_file():
            return description_fix(folder, labels.get(high, "").removeprefix("band ") or "?",
                                   labels.get(low, "").removeprefix("band ") or "?", high, low)
        return (f"the files {labels.get(low, low)} (read as {low}) and {labels.get(high, high)} (read as {high}) hold each other's band: "
                "replace them with the product's own band files (or swap their names)")
    return fix


def check_scene_band_order(scene) -> list[PairEvidence]:
    """check_band_order on scene_samples of an irrmap.sources Scene (a Landsat or Sentinel-2 folder, or a scene stack),
    the message naming its folder or file and the bands' numbers or files. Raises DataError for a swapped pair; warns
    for a doubtful one; returns the evidence. Cost: one compute of at most 9 chunks of five bands (and of a product
    QA layer)."""
    labels = _scene_labels(scene)
    source = str(scene.folder or scene.scene_id)
    return check_band_order(scene_samples(scene), source, labels=labels, fix=_scene_fix(scene, labels))
