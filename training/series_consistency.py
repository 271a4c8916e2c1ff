"""Guards that every date of a per-date series is stored like the others (training.timeseries.read_dated_files).

- `refuse_mixed_decoding`: some dates already decoded (floats within +-SCALED_MAX, e.g. NDVI 0..1) while the others are
  stored raw (e.g. NDVI x 1e4): one decoding for all would scale the decoded dates a second time (or screen the raw
  ones out), so the series is refused naming the odd dates. Every file is checked, on a decimated sample.
- `warn_other_grids`: a date whose file has another CRS or pixel lattice than the series' first file is resampled onto
  the grid, one on the same lattice that covers only part of it leaves pixels without that date: warned (logged),
  naming the file, its grid and the resampling used (or the pixels it misses).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from irrmap.core.errors import InputError, IrrmapError

log = logging.getLogger(__name__)

#: the side (pixels) of the decimated sample read from each file: enough to see the stored magnitude, cheap per date
SAMPLE = 64


def _stored_as(path, band, band_option, kw: dict) -> str | None:
    """"decoded" when the file's sampled valid values are floats all within +-SCALED_MAX (irrmap.core.nodata), "raw" when
    some exceed it or the band is of an integer type (then nothing is read), None without a valid value or when the file cannot be read (its reader raises its own error)."""
    import rasterio
    from rasterio._err import CPLE_BaseError

    from irrmap.core.layers import layer_number
    from irrmap.core.nodata import SCALED_MAX, decoding_for, valid_mask

    try:
        with rasterio.open(path) as src:
            b = layer_number(src, band, str(path), band_option)
            if np.dtype(src.dtypes[b - 1]).kind != "f":
                return "raw"  # integers are stored values: decoded values (NDVI 0..1) are never integers
            dec = decoding_for(src, b, **{k: kw[k] for k in ("nodata", "fill_values", "scale", "offset", "valid_range", "signed") if k in kw})
            step = max(1, max(src.height, src.width) // SAMPLE)
            shape = (max(1, src.height // step), max(1, src.width // step))
            raw = src.read(b, out_shape=shape)
            mask = valid_mask(src, b, dec, out_shape=shape)
    except (rasterio.errors.RasterioError, CPLE_BaseError, OSError, InputError):
        return None
    vals = np.abs(raw[~dec.missing(raw, mask)].astype(np.float64))
    vals = vals[np.isfinite(vals)]
    if not vals.size:
        return None
    return "decoded" if raw.dtype.kind == "f" and vals.max() <= SCALED_MAX else "raw"


def refuse_mixed_decoding(files, *, band=None, band_option=None, decoding: dict | None = None, where: str,
                          bands=None) -> None:
    """InputError (at `where`) when the files of a series (`files`: (date, path) in date order; `bands`: the layer of
    each entry when they differ, as the bands of one stack, else `band` for all) are not stored alike:
    some "decoded" (float, every sampled valid |value| <= SCALED_MAX = 1.6) and others "raw" (values beyond it). Names
    the dates of the smaller group (the odd ones; the decoded ones on a tie), the scale that would be applied
    (`decoding`: read_raster's decoding keywords) and the fix. Reads a SAMPLE x SAMPLE decimated sample of every file."""
    kind = {}
    for n, (d, p) in enumerate(files):
        k = _stored_as(p, band if bands is None else bands[n], band_option, decoding or {})
        if k:
            kind.setdefault(k, []).append((d, p))
    if len(kind) < 2:
        return
    dec, raw = kind["decoded"], kind["raw"]
    odd, other = (dec, "raw") if len(dec) <= len(raw) else (raw, "decoded")
    scale = (decoding or {}).get("scale")
    shown = ", ".join(f"{d} ({Path(p).name})" if bands is None else f"{d}" for d, p in odd[:5]) + (" ..." if len(odd) > 5 else "")
    what = (f"{len(odd)} of the {len(dec) + len(raw)} dates are stored {'decoded (floats within +-1.6)' if odd is dec else 'raw'} "
            f"while the others are {other}: {shown}")
    effect = (f"; scale {scale:g} would scale the decoded dates a second time" if scale not in (None, 1, 1.0)
              else "; the raw dates would fall outside the physical range")
    unit = f" (divide by {scale:g})" if scale not in (None, 1, 1.0) else ""
    raise InputError(what + effect, where, f"store every date alike: rewrite the odd date(s) in the others' units{unit} "
                     "with gdal_calc.py, or drop them from the series")


def warn_other_grids(files, resampling, *, where: str) -> None:
    """Log a warning for the files of a series (`files`: (date, path) in date order) whose CRS, pixel size or pixel
    corners differ from the first file's (a lattice shifted by a fraction of a pixel counts): their values are resampled
    onto the series' grid, with `resampling` (each file's method as read_raster reports it, attribute "resampling":
    irrmap.core.raster_read.choose_resampling), which the warning names with each file's grid. A file on the first file's
    lattice that covers only part of its grid is warned about too, with the count of pixels that lack its date (those
    pixels get fewer dates). Reads only metadata."""
    import rasterio
    from rasterio._err import CPLE_BaseError

    from irrmap.core.grid import Grid
    from irrmap.core.raster_read import _same_lattice

    if len(files) < 2:
        return
    try:
        first = Grid.from_raster(files[0][1])
    except (IrrmapError, rasterio.errors.RasterioError, CPLE_BaseError, OSError):
        return
    odd, part = [], []
    for (d, p), rs in zip(files[1:], list(resampling)[1:]):
        try:
            with rasterio.open(p) as src:
                t = src.transform
                if _same_lattice(src, first):
                    short = _uncovered(src, first)
                    if short:
                        part.append(f"{d} {Path(p).name} (origin {t.c:.10g}, {t.f:.10g}, {src.width} x {src.height} pixels: "
                                    f"{short} of the {first.shape[0] * first.shape[1]} pixels get no value on that date)")
                    continue
                odd.append(f"{d} {Path(p).name} ({_crs_name(src.crs)}, pixel {t.a:g} x {-t.e:g}, "
                           f"origin {t.c:.10g}, {t.f:.10g}; {rs} resampling)")
        except (rasterio.errors.RasterioError, CPLE_BaseError, OSError):
            continue
    t = first.transform
    head = (f"the first file {Path(files[0][1]).name} ({_crs_name(first.crs)}, pixel {t.a:g} x {-t.e:g}, origin {t.c:.10g}, "
            f"{t.f:.10g}, {first.shape[1]} x {first.shape[0]} pixels)")
    fix = "warp them onto the first file's grid (gdalwarp -t_srs/-te/-tr of that file), or check that they belong to this series"
    for found, what in ((odd, "are on another grid than"), (part, "cover only part of the grid of")):
        if found:
            log.warning("%s: %d date(s) %s %s%s: %s (fix: %s)", where, len(found), what, head,
                        " and are resampled" if found is odd else "", "; ".join(found[:5]) + (" ..." if len(found) > 5 else ""), fix)


def _crs_name(crs) -> str:
    """A short name of a rasterio CRS: EPSG:n, else its PROJ string (a WKT of ~500 characters would drown the message)."""
    if crs is None:
        return "no CRS"
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else (crs.to_proj4() or crs.to_string()).replace("=True", "")


def _uncovered(src, grid) -> int:
    """How many pixels of `grid` lie outside the open dataset `src` (same CRS and lattice: whole pixels)."""
    s, g = src.bounds, grid.transform
    w, h = grid.shape[1], grid.shape[0]
    left, top = g.c, g.f
    right, bottom = left + w * g.a, top + h * g.e
    cols = max(0, round((min(right, s.right) - max(left, s.left)) / g.a))
    rows = max(0, round((min(top, s.top) - max(bottom, s.bottom)) / -g.e))
    return w * h - cols * rows
