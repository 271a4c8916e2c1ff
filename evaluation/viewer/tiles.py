"""Tile pyramids for the offline viewer, read from the rasters' overview levels.

A map of any size is shown as a pyramid of 256-pixel PNG tiles whose finest level is capped at `max_size`
pixels on the long side: level z of a pyramid with levels 0..Z is the map decimated by `factor(z)` =
`top_factor * 2**(Z - z)` (powers of two, like a COG's overviews). Each level is read from the coarsest
overview that is still at least as fine as the level (`rasterio.open(path, overview_level=i)`), so a 16k x 16k
map is never read at full resolution; a map small enough to fit `max_size` is read as it is.

Colours: every layer is turned into palette indices (0-253 colours, 254 the layer's "special" state, 255
transparent) and written as palette PNGs with a transparency chunk, so class maps and colour ramps both compress
well. The special index 254 is what a layer's missing value means rather than "nothing here": crop pixels the map
left unpredicted (nodata where the run's cropland fraction is > 0), threshold-map pixels without a statistic or
score, water pixels of unknown state (cloud, no observation); `Colouring.special` and `Colouring.crop` say which.
"""

from __future__ import annotations

import base64
import io
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import rasterio
from rasterio.enums import Resampling

log = logging.getLogger(__name__)

TILE = 256
TRANSPARENT_INDEX = 255
SPECIAL_INDEX = 254  # the layer's special state (Colouring.special), drawn in Colouring.special_colour
RAMP_TOP = 253  # a ramp spans indices 0 .. RAMP_TOP


@dataclass(frozen=True)
class Frame:
    """The pyramid geometry of a width x height map: `levels` + 1 zoom levels, the finest decimated by
    `top_factor` (1 when the whole map fits `max_size`)."""

    width: int
    height: int
    top_factor: int
    levels: int  # Z: zoom levels 0..Z

    @classmethod
    def for_shape(cls, height: int, width: int, max_size: int = 2048) -> Frame:
        n = max(width, height)
        top = 1
        while math.ceil(n / top) > max_size:
            top *= 2
        z = 0
        while math.ceil(n / top / 2**z) > TILE:
            z += 1
        return cls(width=width, height=height, top_factor=top, levels=z)

    def factor(self, z: int) -> int:
        """Full-resolution pixels per level-z pixel."""
        return self.top_factor * 2 ** (self.levels - z)

    @property
    def units_per_pixel(self) -> float:
        """Map units (level-0 pixels, Leaflet's CRS.Simple at zoom 0) per full-resolution pixel."""
        return 1.0 / self.factor(0)

    def level_shape(self, z: int) -> tuple[int, int]:
        f = self.factor(z)
        return math.ceil(self.height / f), math.ceil(self.width / f)


@dataclass
class Colouring:
    """How values become palette indices: `classes` (integer values index a colour table) or `ramp`
    (vmin..vmax over a matplotlib colour map). `hidden` values are transparent, as are nodata and NaN.

    `special` (values, e.g. (255,) or ("nodata",)): pixels with these values (or the raster's nodata, named
    "nodata") get SPECIAL_INDEX, drawn in `special_colour`; with `crop` (the run's cropland fraction, a path on the
    same grid) only where the cropland is > 0. `off_crop_hidden`: values made transparent where the cropland is
    <= 0 or missing (a threshold map's 0 on non-crop land is "not cropland", not "not irrigated")."""

    kind: str
    table: dict[int, tuple] = field(default_factory=dict)  # classes: value -> (r, g, b, a)
    cmap: str = "viridis"
    vmin: float = 0.0
    vmax: float = 1.0
    hidden: tuple = ()
    special: tuple = ()
    special_colour: tuple = (255, 0, 255, 255)
    crop: object = None
    off_crop_hidden: tuple = ()

    def palette(self) -> np.ndarray:
        """256 x 4 uint8 RGBA; index 255 is transparent."""
        pal = np.zeros((256, 4), np.uint8)
        if self.kind == "classes":
            for v, rgba in self.table.items():
                if 0 <= int(v) < TRANSPARENT_INDEX:
                    pal[int(v)] = (*rgba[:3], rgba[3] if len(rgba) > 3 else 255)
        else:
            from matplotlib import colormaps

            pal[:RAMP_TOP + 1] = np.round(colormaps[self.cmap](np.linspace(0, 1, RAMP_TOP + 1)) * 255).astype(np.uint8)
        for v in self.hidden:
            if 0 <= int(v) < 256:
                pal[int(v), 3] = 0
        if self.special:
            pal[SPECIAL_INDEX] = (*self.special_colour[:3], self.special_colour[3] if len(self.special_colour) > 3 else 255)
        pal[TRANSPARENT_INDEX] = 0
        return pal

    def indices(self, data: np.ndarray, nodata, crop: np.ndarray | None = None) -> np.ndarray:
        """Palette indices of a block of values; `crop`: the cropland fraction on the same pixels (with `self.crop`)."""
        data = np.asarray(data)
        invalid = np.zeros(data.shape, bool)
        special = np.zeros(data.shape, bool)
        has_nodata = nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata))
        if has_nodata:
            invalid |= data == nodata
        if np.issubdtype(data.dtype, np.floating):
            invalid |= ~np.isfinite(data)
        if self.kind == "classes":
            idx = np.where((data >= 0) & (data < TRANSPARENT_INDEX), data, TRANSPARENT_INDEX).astype(np.uint8)
        else:
            scaled = (data.astype(np.float64) - self.vmin) / ((self.vmax - self.vmin) or 1.0)
            idx = np.clip(np.round(np.nan_to_num(scaled) * RAMP_TOP), 0, RAMP_TOP).astype(np.uint8)
            invalid |= (data < self.vmin) | (data > self.vmax) if np.issubdtype(data.dtype, np.number) else False
        for v in self.special:
            if v != "nodata":
                special |= data == v
            elif has_nodata:
                special |= data == nodata
        idx[invalid] = TRANSPARENT_INDEX
        if crop is not None:
            on_crop = np.nan_to_num(np.asarray(crop, np.float64), nan=0.0) > 0
            special &= on_crop
            for v in self.off_crop_hidden:
                idx[~on_crop & (data == v)] = TRANSPARENT_INDEX
        idx[special] = SPECIAL_INDEX
        return idx


def png_base64(idx: np.ndarray, palette: np.ndarray) -> str:
    """A palette PNG (with per-entry alpha) of an index array, base64-encoded. zlib's default effort, not PIL's
    `optimize` (which retries the compression): on the 16x demo's viewer (12 layers) optimize took 8.3 s for a
    5.72 MB page, the default 1.2 s for 5.89 MB."""
    from PIL import Image

    img = Image.fromarray(idx, mode="P")
    img.putpalette(palette[:, :3].tobytes())
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=palette[:, 3].tobytes())
    return base64.b64encode(buf.getvalue()).decode("ascii")


def overview_choice(factors: list[int], wanted: int) -> int | None:
    """Index of the coarsest overview whose factor is at most `wanted` (None: read the full resolution)."""
    best = None
    for i, f in enumerate(factors):
        if f <= wanted and (best is None or f > factors[best]):
            best = i
    return best


def read_level(path, shape: tuple[int, int], *, band: int = 1, resampling: Resampling = Resampling.nearest,
               warn: bool = True) -> np.ndarray:
    """Band `band` of `path` at `shape` (rows, cols), read from the coarsest overview level that is still at
    least as fine as `shape`; the full resolution is opened only when no overview is fine enough (a warning
    unless `warn` is False: the run's cropland, aligned/*.tif, is written without overviews)."""
    with rasterio.open(path) as src:
        factors = src.overviews(band)
        wanted = max(1, min(src.width // max(shape[1], 1), src.height // max(shape[0], 1)))
        level = overview_choice(factors, wanted)
        if level is None and wanted >= 4 and warn:
            log.warning("%s has no overviews: its full resolution is read for the viewer (build them with "
                        "`gdaladdo -r nearest %s` or write it as a COG)", path, path)
    with rasterio.open(path, **({} if level is None else {"overview_level": level})) as src:
        return src.read(band, out_shape=shape, resampling=resampling)


def render_pyramid(path, frame: Frame, colouring: Colouring, *, band: int = 1, nodata=None) -> dict[int, dict[str, str]]:
    """{zoom: {"x/y": base64 PNG}} of the tiles that hold a visible pixel, each level read from overviews."""
    with rasterio.open(path) as src:
        if (src.height, src.width) != (frame.height, frame.width):
            raise ValueError(f"{path} is {src.height} x {src.width}, the viewer frame {frame.height} x {frame.width}")
        nodata = src.nodatavals[band - 1] if nodata is None else nodata
    palette = colouring.palette()
    visible = palette[:, 3] > 0
    out: dict[int, dict[str, str]] = {}
    for z in range(frame.levels + 1):
        rows, cols = frame.level_shape(z)
        crop = read_level(colouring.crop, (rows, cols), warn=False) if colouring.crop is not None else None
        idx = colouring.indices(read_level(path, (rows, cols), band=band), nodata, crop)
        tiles = {}
        for ty in range(math.ceil(rows / TILE)):
            for tx in range(math.ceil(cols / TILE)):
                block = np.full((TILE, TILE), TRANSPARENT_INDEX, np.uint8)
                part = idx[ty * TILE:(ty + 1) * TILE, tx * TILE:(tx + 1) * TILE]
                block[:part.shape[0], :part.shape[1]] = part
                if visible[block].any():
                    tiles[f"{tx}/{ty}"] = png_base64(block, palette)
        out[z] = tiles
    return out


def render_image(path, max_size: int, colouring: Colouring, *, band: int = 1) -> tuple[str, tuple[int, int]]:
    """One PNG of the whole raster, at most `max_size` pixels on the long side (read from overviews), for a
    layer on another grid than the viewer's frame; returns (base64 PNG, (rows, cols))."""
    with rasterio.open(path) as src:
        h, w, nodata = src.height, src.width, src.nodatavals[band - 1]
    f = 1
    while math.ceil(max(h, w) / f) > max_size:
        f *= 2
    shape = (math.ceil(h / f), math.ceil(w / f))
    idx = colouring.indices(read_level(path, shape, band=band), nodata)
    return png_base64(idx, colouring.palette()), shape


__all__ = ["RAMP_TOP", "SPECIAL_INDEX", "TILE", "Colouring", "Frame", "overview_choice", "png_base64", "read_level", "render_image", "render_pyramid"]
