"""Guard of a class-count read (read_raster kind = 'fraction'): the source must be a class map.

A fraction read counts the source pixels whose value is one of `classes`. Pointed at a layer that is already a
fraction (float 0..1) or a percent (0..100), it counts almost nothing and says nothing: the cropland comes out near 0
and the run fails much later for another reason (statistics "too large", an empty training pool). `check_class_map`
reads a sample of the file's valid pixels under the grid and raises NotAClassMap (an InputError) when
- the values are not whole numbers: more than NONINTEGER_MAX of them (class codes are integers), or
- they look like a percent or another continuous layer: the asked classes hold less than MEMBER_MAX of them while
  the values span 0..PERCENT_TOP_MIN or more, up to 100, with at least DENSE_MIN distinct values filling at least
  DENSE_SHARE of that range (a percent), or the file holds more than MANY_MAX distinct values (a scaled fraction).
A class map where the asked classes hold none of the sampled pixels (a wrong code, or a quantised percent with few
distinct values) logs a warning, once per file, band and classes.
Land-cover class maps pass whatever the share of the asked classes: MODIS IGBP (0..17), Corine (1..44), ESA
WorldCover (11 codes 10..100), ESA CCI, NLCD and USDA CDL (codes above 100), two-digit national codes (11..99, no 0).
Not caught: a uint8 fraction scaled to 0..250 or 0..255 (its values look like CDL codes).

Cost: at most SAMPLE_WINDOWS windows of whole blocks of the file (about SAMPLE_PIXELS each), spread over the part
of the file under the grid; a file part under the grid of at most SAMPLE_PIXELS * SAMPLE_WINDOWS pixels is read
whole; the statistics use a regular subsample of at most MAX_VALUES valid values (about 0.1 s for a 30 m map).
Thresholds are this module's choices (no external source): wide margins around the cases above.
"""

from __future__ import annotations

import logging

import numpy as np
from rasterio.warp import transform_bounds
from rasterio.windows import Window, from_bounds

from irrmap.core.errors import InputError
from irrmap.core.nodata import valid_mask
from irrmap.core.share_text import percent_text

NONINTEGER_MAX = 0.01  # share of sampled valid values that may be non-integer
MEMBER_MAX = 0.05  # share of sampled valid values in the asked classes below which a percent-like layer is refused
PERCENT_TOP_MIN = 50  # a percent layer's largest value is within PERCENT_TOP_MIN..100 (and its smallest 0)
DENSE_MIN = 20  # distinct values of a percent layer (more than IGBP's 18 classes)
DENSE_SHARE = 0.2  # distinct values / (max + 1) of a percent layer
MANY_MAX = 1000  # more distinct values than any class map has classes
SAMPLE_WINDOWS = 16
SAMPLE_PIXELS = 65_536
MAX_VALUES = 1_000_000  # valid values the statistics use (np.unique / np.isin: about 20 ms)


log = logging.getLogger(__name__)
_warned: set = set()  # (path, band, classes) already warned about (a run reads an input in its check and its stage)


class NotAClassMap(InputError):
    """A kind = 'fraction' read of a file that holds no class codes (a fraction, a percent, a continuous layer)."""


def check_class_map(src, band: int, decoding, classes, path: str, grid=None) -> None:
    """Raise NotAClassMap (where = `path`) when band `band` of the open dataset `src` (rasterio, or a
    irrmap.core.georef north-up view) does not hold class codes (module docstring). `decoding`: the band's
    irrmap.core.nodata.Decoding (its missing-value rules and mask); `classes`: the codes the read counts;
    `grid`: the irrmap.core.grid.Grid read onto (its bounds limit the sample), None = the whole file.
    Returns None for a file with no valid sampled pixel (other guards report an empty read)."""
    values = _sample(src, band, decoding, _footprint(src, grid))
    values = values[:: max(1, values.size // MAX_VALUES)]  # a regular subsample: shares within a fraction of a percent
    if values.size == 0:
        return
    asked = sorted(int(c) for c in classes)
    lo, hi = float(values.min()), float(values.max())
    if values.dtype.kind == "f":
        frac = float(np.mean(values != np.round(values)))
        if frac > NONINTEGER_MAX:
            raise NotAClassMap(
                f"kind = 'fraction' counts class codes {asked}, but the file holds non-integer values ({percent_text(frac, sep='')} of "
                f"{values.size} sampled valid pixels; values {lo:g}..{hi:g}): it is a fraction or a continuous layer, "
                "not a class map", path, _FIX)
    member = float(np.isin(values, asked).mean())
    found = np.unique(values)
    percent = lo == 0 and PERCENT_TOP_MIN <= hi <= 100 and found.size >= max(DENSE_MIN, DENSE_SHARE * (hi + 1))
    if member < MEMBER_MAX and (percent or found.size > MANY_MAX):
        raise NotAClassMap(
            f"kind = 'fraction' counts class codes {asked}, which hold only {percent_text(member, 2, sep='')} of {values.size} sampled valid "
            f"pixels, while the file holds {found.size} distinct values over {lo:g}..{hi:g}: it looks like a percent "
            "or continuous layer, not a class map", path, _FIX)
    if member == 0 and (path, band, tuple(asked)) not in _warned:  # a class map without them here, or a wrong code
        _warned.add((path, band, tuple(asked)))
        codes = ", ".join(f"{c:g}" for c in found[:12]) + (", ..." if found.size > 12 else "")
        log.warning("%s: kind = 'fraction' counts class codes %s, found in none of %d sampled valid pixels under the grid "
                    "(the file holds %s) (fix: set classes to the codes the file uses for what you count)",
                    path, asked, values.size, codes)


_FIX = ("read it as a value with kind = \"continuous\" and no classes (scale = 0.01 for a percent 0..100), or point the "
        "path at the class map, or set classes to the codes the file uses")


def _footprint(src, grid) -> Window:
    """The file's window under the grid's bounds (the whole file when there is no grid, the transform is rotated,
    the bounds do not transform, or nothing of the file lies under the grid)."""
    whole = Window(0, 0, src.width, src.height)
    t = src.transform
    if grid is None or t.b or t.d:
        return whole
    try:
        bounds = grid.bounds if src.crs == grid.crs else transform_bounds(grid.crs, src.crs, *grid.bounds, densify_pts=21)
        win = from_bounds(*bounds, transform=t).round_offsets().round_lengths()
        win = win.intersection(whole)
    except Exception:  # noqa: BLE001 - no overlap or an untransformable bound: sample the whole file
        return whole
    return win if win.width > 0 and win.height > 0 else whole


def _sample(src, band: int, decoding, area: Window) -> np.ndarray:
    """Valid raw values (1-D) of a sample of `area`: whole if small, else SAMPLE_WINDOWS windows of whole blocks."""
    h, w = int(area.height), int(area.width)
    if h * w <= SAMPLE_PIXELS * SAMPLE_WINDOWS:
        windows = [area]
    else:
        blk_h, blk_w = src.block_shapes[band - 1]
        bw = min(blk_w, w)
        bh = min(h, blk_h * max(1, -(-SAMPLE_PIXELS // (blk_h * bw))))  # whole blocks, stacked to about SAMPLE_PIXELS
        n = int(np.sqrt(SAMPLE_WINDOWS))
        r0, c0 = int(area.row_off), int(area.col_off)
        # evenly spread over the area, started on the file's block lattice (each window decodes whole blocks only)
        rows = {min(src.height - bh, (r0 + r) // blk_h * blk_h) for r in np.linspace(0, h - bh, n).astype(int)}
        cols = {min(src.width - bw, (c0 + c) // blk_w * blk_w) for c in np.linspace(0, w - bw, n).astype(int)}
        windows = [Window(c, r, bw, bh) for r in sorted(rows) for c in sorted(cols)]
    out = []
    for win in windows:
        raw = src.read(band, window=win)
        keep = ~decoding.missing(raw, valid_mask(src, band, decoding, win))
        if raw.dtype.kind == "f":
            keep &= np.isfinite(raw)
        out.append(raw[keep])
    return np.concatenate(out) if out else np.empty(0)
