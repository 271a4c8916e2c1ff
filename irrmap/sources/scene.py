"""The Scene every optical reader returns: calibrated bands, brightness temperature and pixel quality of one
Landsat or Sentinel-2 acquisition, lazily read on one grid."""

from __future__ import annotations

import datetime
import functools
import logging
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from rasterio.windows import Window

from irrmap.core.errors import GridError
from irrmap.core.grid import Grid
from irrmap.sources import qa
from irrmap.sources.bands import REFLECTIVE
from irrmap.sources.screen import screen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scene:
    """One acquisition on one grid.

    sensor: "LT04", "LT05", "LE07", "LC08", "LC09", "S2A", "S2B", "S2C"; level: "L1" (top-of-atmosphere) or
    "L2" (surface reflectance); date: acquisition date (UTC); grid: the grid of every layer (the 30 m Landsat
    grid, the 10 m or 20 m Sentinel-2 grid, or the caller's).
    bands: common name (irrmap.sources.bands) -> float32 DataArray (y, x) of reflectance (unitless, nominally
    0..1; TOA for L1, surface for L2), NaN where fill; dask-backed, nothing read until computed.
    thermal: float32 DataArray in kelvin (brightness temperature at L1, surface temperature at L2: see its
    attrs["quantity"]) or None when the product has none (Sentinel-2, Landsat L2SR).
    quality: uint8 DataArray of irrmap.sources.qa codes (0 clear, 1 cloud, 2 shadow, 3 snow, 4 fill, 5 water);
    attrs["source"] names what decided it: "QA_PIXEL", "BQA", "pixel_qa", "SCL" or "screen"
    (irrmap.sources.screen). Fill also wherever any of the six reflective bands is NaN.
    scene_id: the product id; folder: where it was read; saturated: bool DataArray, True where a visible band
    (blue, green, red) sits at its largest calibrated value (None for Landsat Level-2); sun_elevation,
    sun_azimuth: scene-centre sun angles in degrees (azimuth clockwise from north), None when the metadata has
    none.
    """

    sensor: str
    level: str
    date: datetime.date
    grid: Grid
    bands: dict
    thermal: xr.DataArray | None
    quality: xr.DataArray
    scene_id: str = ""
    folder: Path | None = None
    saturated: xr.DataArray | None = None
    sun_elevation: float | None = None
    sun_azimuth: float | None = None


def pixel_metres(grid: Grid) -> float | None:
    """The geometric-mean ground size (m) of the grid's pixels on its middle row; None on grids without a
    constant spacing along a row (irrmap.core.grid.Grid.ground_spacing)."""
    try:
        east, north = grid.ground_spacing(Window(0, grid.height // 2, grid.width, 1))
    except GridError:
        return None
    return float(np.sqrt(east[0] * north[0]))


def assemble(*, sensor, level, date, grid, reflective: dict, names, thermal, decoded, saturated, scene_id, folder,
             sun_elevation, sun_azimuth) -> Scene:
    """Build the Scene from lazily read layers. `reflective`: all six reflective bands (fill and the screen
    need them); `names`: the common names to return (thermal included or not); `decoded`: the quality codes
    of the product's QA layer, or None to run the spectral screen (with cloud-shadow matching when the sun
    angles are known); `saturated`: {"blue", "green", "red"} -> bool DataArray (at the largest calibrated
    value) or None."""
    if decoded is None:
        if sun_elevation is None or sun_azimuth is None:
            log.warning("%s: no sun angles in the metadata, so the spectral screen cannot match cloud shadows; shadows stay clear "
                        "(fix: keep the product's metadata with the bands, e.g. MTD_TL.xml of a Sentinel-2 granule)", scene_id)
        decoded = qa.labelled(screen(reflective, thermal, saturated, sun_elevation=sun_elevation, sun_azimuth=sun_azimuth,
                                     pixel_m=pixel_metres(grid)), "screen")
    fill = functools.reduce(operator.or_, (reflective[n].isnull() for n in REFLECTIVE))
    quality = qa.labelled(decoded.where(~fill, qa.FILL).astype(np.uint8), decoded.attrs["source"])
    quality = quality.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    bands = {n: reflective[n] for n in names if n in REFLECTIVE}
    any_saturated = None if saturated is None else functools.reduce(operator.or_, saturated.values()).rename("saturated")
    return Scene(sensor, level, date, grid, bands, thermal if "thermal" in names else None, quality, scene_id, folder, any_saturated,
                 sun_elevation, sun_azimuth)
