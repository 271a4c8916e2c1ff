"""Quality decoding: every Landsat and Sentinel-2 quality product turned into one set of pixel codes.

Codes (uint8, the `quality` layer of irrmap.sources.scene.Scene):
    0 CLEAR, 1 CLOUD, 2 SHADOW (cloud or terrain shadow), 3 SNOW (snow/ice), 4 FILL (no data), 5 WATER
    (clear, flagged water by the product).
When a word carries several conditions the first in FILL > CLOUD > SHADOW > SNOW > WATER > CLEAR wins (Fmask's
own output order: cloud over shadow over snow over water).

One decoder per product, and this module is the only place any of these bits is read:

- "BQA": Landsat Collection 1 Level-1 QA band. Bits (both layouts): 0 designated fill; 2-3 radiometric
  saturation; 4 cloud; 5-6 cloud confidence; 7-8 cloud-shadow confidence; 9-10 snow/ice confidence. Bit 1 is
  terrain occlusion on Landsat 8 and a dropped (designated) pixel on Landsat 4-7; bits 11-12 are cirrus
  confidence on Landsat 8 and unused on Landsat 4-7. Confidence: 0 not determined, 1 low, 2 medium, 3 high.
  Decoded: fill = bit 0 or bit 1 (neither holds an observation); cloud = bit 4, or high cloud confidence, or
  (Landsat 8) high cirrus confidence; shadow, snow = high confidence. No water flag.
  Source: USGS, Landsat Collection 1 Level-1 Quality Assessment Band (web page, 2017) and the USGS Landsat
  Quality Assessment (QA) Tools User Guide v1.4 (April 2017), section on Collection 1 Level-1 QA.
- "QA_PIXEL": Landsat Collection 2 Level-1 and Level-2 pixel QA. Bits: 0 fill; 1 dilated cloud; 2 cirrus
  (Landsat 8/9 only, unused on 4-7); 3 cloud; 4 cloud shadow; 5 snow; 6 clear; 7 water; 8-9 cloud, 10-11
  shadow, 12-13 snow/ice, 14-15 cirrus (8/9) confidence. Decoded: cloud = bit 1, 3 or (8/9) bit 2; shadow bit 4;
  snow bit 5; water bit 7. Source: USGS LSDS-1619 Landsat 8-9 Collection 2 Level-2 Science Product Guide and
  LSDS-1618 Landsat 4-7 C2 L2 Science Product Guide, table "Pixel Quality Assessment (QA_PIXEL) bit index".
- "pixel_qa": Landsat Collection 1 Level-2 (ESPA) surface-reflectance pixel QA. Bits: 0 fill; 1 clear;
  2 water; 3 cloud shadow; 4 snow; 5 cloud; 6-7 cloud confidence; 8-9 cirrus confidence (Landsat 8); 10 terrain
  occlusion (Landsat 8). Decoded: fill = bit 0 or (8) bit 10; cloud = bit 5 or (8) high cirrus confidence.
  Source: USGS LaSRC (Landsat 8) and LEDAPS (Landsat 4-7) Collection 1 Product Guides, table "pixel_qa".
- "SCL": Sentinel-2 Level-2A scene classification (Sen2Cor): 0 no data, 1 saturated or defective, 2 dark area
  pixels / topographic cast shadows (renamed from processing baseline 04.00), 3 cloud shadows, 4 vegetation,
  5 not vegetated, 6 water, 7 unclassified, 8 cloud medium probability, 9 cloud high probability, 10 thin
  cirrus, 11 snow. Decoded: 0, 1 fill; 2, 3 shadow; 8, 9, 10 cloud; 11 snow; 6 water; 4, 5, 7 clear.
  Source: ESA Sentinel-2 Level-2A Product Specification / Sen2Cor Product User Manual, SCL table.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from irrmap.core.errors import InputError

CLEAR, CLOUD, SHADOW, SNOW, FILL, WATER = 0, 1, 2, 3, 4, 5
FLAG_MEANINGS = "clear cloud shadow snow fill water"
UNKNOWN = (CLOUD, SHADOW, SNOW, FILL)  # what a water map must not guess


def _bit(q: np.ndarray, n: int) -> np.ndarray:
    return ((q >> n) & 1).astype(bool)


def _field(q: np.ndarray, n: int) -> np.ndarray:
    """The two-bit confidence field starting at bit n (0 not determined, 1 low, 2 medium, 3 high)."""
    return (q >> n) & 3


def _codes(shape, *, fill, cloud, shadow, snow, water=None) -> np.ndarray:
    """Quality codes from condition masks, the stronger condition winning (see the module docstring)."""
    out = np.full(shape, CLEAR, np.uint8)
    for code, mask in ((WATER, water), (SNOW, snow), (SHADOW, shadow), (CLOUD, cloud), (FILL, fill)):
        if mask is not None:
            out[mask] = code
    return out


def _words(qa, missing) -> tuple[np.ndarray, np.ndarray]:
    """QA words as int64 and the mask of pixels the reader marked missing (outside the file)."""
    q = np.asarray(qa).astype(np.int64)
    miss = np.zeros(q.shape, bool) if missing is None else (q == missing)
    return q, miss


def decode_bqa(qa, *, oli: bool, missing=None) -> np.ndarray:
    """Landsat Collection 1 Level-1 BQA words -> quality codes (uint8, same shape). `oli`: Landsat 8/9 layout
    (cirrus in bits 11-12), else Landsat 4-7. `missing`: the reader's marker for pixels outside the file."""
    q, miss = _words(qa, missing)
    cloud = _bit(q, 4) | (_field(q, 5) == 3)
    if oli:
        cloud |= _field(q, 11) == 3
    return _codes(q.shape, fill=miss | _bit(q, 0) | _bit(q, 1), cloud=cloud, shadow=_field(q, 7) == 3, snow=_field(q, 9) == 3)


# QA_PIXEL bit of each condition decoded (LSDS-1619 / LSDS-1618, "QA_PIXEL bit index"); also read by the Earth
# Engine graphs (irrmap.sources.ee.graphs). Cirrus counts on Landsat 8/9 only.
QA_PIXEL_BITS = {"fill": 0, "dilated_cloud": 1, "cirrus": 2, "cloud": 3, "shadow": 4, "snow": 5, "water": 7}


def qa_pixel_cloud_bits(oli: bool) -> tuple[int, ...]:
    """The QA_PIXEL bits decoded as cloud: dilated cloud, cloud and (`oli`: Landsat 8/9) cirrus."""
    b = QA_PIXEL_BITS
    return (b["dilated_cloud"], b["cloud"]) + ((b["cirrus"],) if oli else ())


def decode_qa_pixel(qa, *, oli: bool, missing=None) -> np.ndarray:
    """Landsat Collection 2 QA_PIXEL words -> quality codes. `oli`: Landsat 8/9 (cirrus bit 2 counts as cloud)."""
    q, miss = _words(qa, missing)
    b = QA_PIXEL_BITS
    cloud = np.zeros(q.shape, bool)
    for n in qa_pixel_cloud_bits(oli):
        cloud |= _bit(q, n)
    return _codes(q.shape, fill=miss | _bit(q, b["fill"]), cloud=cloud, shadow=_bit(q, b["shadow"]), snow=_bit(q, b["snow"]),
                  water=_bit(q, b["water"]))


def decode_pixel_qa(qa, *, oli: bool, missing=None) -> np.ndarray:
    """Landsat Collection 1 Level-2 (ESPA) pixel_qa words -> quality codes. `oli`: Landsat 8 (cirrus bits
    8-9 and terrain occlusion bit 10)."""
    q, miss = _words(qa, missing)
    fill, cloud = miss | _bit(q, 0), _bit(q, 5)
    if oli:
        fill |= _bit(q, 10)
        cloud |= _field(q, 8) == 3
    return _codes(q.shape, fill=fill, cloud=cloud, shadow=_bit(q, 3), snow=_bit(q, 4), water=_bit(q, 2))


SCL_CODES = {0: FILL, 1: FILL, 2: SHADOW, 3: SHADOW, 4: CLEAR, 5: CLEAR, 6: WATER, 7: CLEAR, 8: CLOUD, 9: CLOUD, 10: CLOUD, 11: SNOW}


def decode_scl(scl, *, oli: bool = False, missing=None) -> np.ndarray:
    """Sentinel-2 SCL classes -> quality codes; a class outside 0..11 is fill. (`oli` is unused: one signature
    for every decoder.)"""
    q, miss = _words(scl, missing)
    lut = np.full(256, FILL, np.uint8)
    for cls, code in SCL_CODES.items():
        lut[cls] = code
    out = lut[np.clip(q, 0, 255)]
    out[miss | (q < 0) | (q > 11)] = FILL
    return out


DECODERS = {"BQA": decode_bqa, "QA_PIXEL": decode_qa_pixel, "pixel_qa": decode_pixel_qa, "SCL": decode_scl}


def decode(qa: xr.DataArray, product: str, *, oli: bool = False) -> xr.DataArray:
    """Lazy quality codes (uint8 DataArray, same grid) of a QA layer read with irrmap.core.raster_read
    (kind "categorical"; its `nodata` attribute marks pixels outside the file, decoded as fill).
    `product`: one of DECODERS. Raises InputError for an unknown product."""
    if product not in DECODERS:
        raise InputError(f"unknown quality product {product!r}", "qa", f"use one of {', '.join(DECODERS)}")
    fn = DECODERS[product]
    out = xr.apply_ufunc(lambda q: fn(q, oli=oli, missing=qa.attrs.get("nodata")), qa, dask="parallelized", output_dtypes=[np.uint8])
    return labelled(out, product)


def labelled(quality: xr.DataArray, source: str) -> xr.DataArray:
    """The quality layer with its CF flag attributes and `source` (the product decoded, or "screen")."""
    quality = quality.rename("quality")
    quality.attrs = {"source": source, "flag_values": list(range(6)), "flag_meanings": FLAG_MEANINGS}
    return quality
