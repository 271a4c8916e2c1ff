"""How irrmap reads nodata, fill values and scale/offset: the one place these rules live.

Rules, applied to the raw stored values of a band before any resampling:
1. A raw value is missing when it equals the band's nodata (the file's own, or an override), equals one of
   the declared fill values (e.g. MOD13Q1's -3000, or 65531 in some distributions), is NaN, or lies outside
   the declared valid range (checked on raw values, as MODIS documents its valid range).
2. Every other value becomes `raw * scale + offset`, as float32. The file's own scale/offset (GDAL band
   metadata) are used unless overridden; MODIS GeoTIFFs often lack them, so pass scale=1e-4 there.
3. Missing values become NaN in float outputs; integer (class) outputs keep the nodata value instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Decoding:
    """How to turn one band's raw values into physical values with NaN for missing."""

    nodata: float | None = None
    fill_values: tuple[float, ...] = field(default_factory=tuple)
    scale: float = 1.0
    offset: float = 0.0
    valid_range: tuple[float, float] | None = None

    def missing(self, raw: np.ndarray) -> np.ndarray:
        """Boolean mask of missing raw values (rule 1)."""
        miss = np.zeros(raw.shape, dtype=bool)
        if np.issubdtype(raw.dtype, np.floating):
            miss |= np.isnan(raw)
        if self.nodata is not None and not (isinstance(self.nodata, float) and np.isnan(self.nodata)):
            miss |= raw == self.nodata
        for v in self.fill_values:
            miss |= raw == v
        if self.valid_range is not None:
            lo, hi = self.valid_range
            with np.errstate(invalid="ignore"):
                miss |= (raw < lo) | (raw > hi)
        return miss

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """float32 physical values with NaN where missing (rules 1-3)."""
        out = raw.astype(np.float32)
        if self.scale != 1.0 or self.offset != 0.0:
            out = (raw.astype(np.float64) * self.scale + self.offset).astype(np.float32)
        out[self.missing(raw)] = np.nan
        return out


def decoding_for(src, band: int = 1, *, nodata=None, fill_values=(), scale=None, offset=None, valid_range=None) -> Decoding:
    """The Decoding of band `band` of an open rasterio dataset: file metadata, then explicit overrides."""
    file_nodata = src.nodatavals[band - 1]
    file_scale = src.scales[band - 1] if src.scales else 1.0
    file_offset = src.offsets[band - 1] if src.offsets else 0.0
    d = Decoding(nodata=file_nodata, scale=file_scale or 1.0, offset=file_offset or 0.0)
    return replace(
        d,
        nodata=d.nodata if nodata is None else nodata,
        fill_values=tuple(fill_values or ()),
        scale=d.scale if scale is None else float(scale),
        offset=d.offset if offset is None else float(offset),
        valid_range=tuple(valid_range) if valid_range is not None else None,
    )
