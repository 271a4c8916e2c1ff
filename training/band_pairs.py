"""Checks on two reflectance series combined into an index (GI = NIR / green, NDWI = (NIR - SWIR) / (NIR + SWIR)).

Both series must already sit on one grid (read onto it: irrmap.core.raster_read) and hold the same dates: the
index is computed date by date, element by element, and never aligned by an inner join on coordinates (which
silently drops the dates or pixels one band lacks). `check_pair` refuses:
- different date sets (InputError naming the dates present in one band and not the other);
- bands on different scales: medians of their valid values more than SCALE_RATIO apart (one decoded to 0..1,
  the other raw x 10,000), a ratio that shifts GI by that factor and pins NDWI at +-1 (DataError);
- an undeclared fill value: a value below -FILL_SHARE x the band's median (MOD09 reflectance is valid down to
  -100 raw = -0.01, about 0.04 x a typical NIR median of 0.25 (MOD09 C6.1 User's Guide, Vermote 2015); a fill
  such as -28672 is about 10 x the median of a band stored x 10,000),
  which puts a normalised difference outside [-1, 1] (DataError naming the value and the fix).
The scale and fill checks look at the central window of the data (training.physical_range.check_decoded's window);
values outside it that still leave [-1, 1] are screened out by the indices' physical range (with a warning).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from irrmap.training.physical_range import CHECK_WINDOW, _central_span

from irrmap.core.errors import DataError, InputError

#: medians further apart than this: the bands are on different scales (decoded 0..1 vs stored x 10,000: 1e4)
SCALE_RATIO = 1000.0
#: a value below -FILL_SHARE x the band's median is a fill value, not a (slightly negative) reflectance
FILL_SHARE = 1.0


def same_dates(a: xr.DataArray, a_where: str, b: xr.DataArray, b_where: str, fix: str) -> None:
    """InputError when the (time, y, x) series `a` and `b` do not hold the same dates, naming the dates each holds
    and the other lacks (`a_where` / `b_where`: the option and files, for the message) and `fix`."""
    if "time" not in a.dims or "time" not in b.dims:
        return
    da_, db_ = (set(np.asarray(s.time.values).astype("datetime64[D]").tolist()) for s in (a, b))
    if da_ == db_:
        return

    def listing(dates):
        dates = sorted(dates)
        return ", ".join(str(d) for d in dates[:8]) + (f" (and {len(dates) - 8} more)" if len(dates) > 8 else "")

    parts = [f"{len(x)} date(s) only in {w}: {listing(x)}" for x, w in ((da_ - db_, a_where), (db_ - da_, b_where)) if x]
    raise InputError(f"the bands do not hold the same dates ({len(da_)} vs {len(db_)}): " + "; ".join(parts),
                     f"{a_where} / {b_where}", fix)


def _window(arr: xr.DataArray) -> np.ndarray:
    """The valid values (float64, 1-D) of the central CHECK_WINDOW x CHECK_WINDOW window of `arr`, every date."""
    h, w = arr.shape[-2:]
    chunks = getattr(arr.data, "chunks", None)
    r0, r1 = _central_span(h, chunks and chunks[-2])
    c0, c1 = _central_span(w, chunks and chunks[-1])
    win = arr.data[..., r0:r1, c0:c1]
    vals = np.asarray(win.compute() if hasattr(win, "compute") else win, np.float64).ravel()
    return vals[np.isfinite(vals)]


def check_scales(a: xr.DataArray, a_where: str, b: xr.DataArray, b_where: str) -> None:
    """DataError when `a` and `b` (reflectances, any dims) look on different scales or hold an undeclared fill value
    (module docstring: SCALE_RATIO, FILL_SHARE; central window only). Nothing is checked on a window without valid
    values."""
    vals = {a_where: _window(a), b_where: _window(b)}
    if not all(v.size for v in vals.values()):
        return
    med = {w: float(np.median(v)) for w, v in vals.items()}
    for where, v in vals.items():
        low = float(v.min())
        if med[where] > 0 and low < -FILL_SHARE * med[where]:
            raise DataError(f"holds {low:.6g}, far below its median {med[where]:.6g}: an undeclared fill value, which puts a "
                            "normalised difference outside [-1, 1]", where,
                            f"declare it: --fill {low:g} (or --nodata {low:g}, or gdal_edit.py -a_nodata {low:g} FILE), or "
                            "--preset mod09 for MOD09 reflectance (fill -28672)")
    (wa, ma), (wb, mb) = med.items()
    lo, hi = sorted((abs(ma), abs(mb)))
    if lo > 0 and hi / lo > SCALE_RATIO:
        raise DataError(f"the bands are on different scales: median {ma:.6g} in {wa}, {mb:.6g} in {wb}", f"{wa} / {wb}",
                        "decode both alike: --preset mod09 (or --scale 0.0001) when both are stored x 10,000, or give both "
                        "decoded to 0..1 (in a config: the same preset / scale for every band)")


def check_pair(a: xr.DataArray, a_where: str, b: xr.DataArray, b_where: str, fix_dates: str) -> None:
    """same_dates, then check_scales."""
    same_dates(a, a_where, b, b_where, fix_dates)
    check_scales(a, a_where, b, b_where)


__all__ = ["CHECK_WINDOW", "FILL_SHARE", "SCALE_RATIO", "check_pair", "check_scales", "same_dates"]
