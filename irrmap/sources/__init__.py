"""Sensor and data-product readers shared by every layer: MODIS presets and quality bits (modis), Landsat and
Sentinel-2 scenes (landsat, sentinel2) with one band catalogue (bands), one quality decoder per product (qa)
and a spectral screen for scenes without a quality band (screen). No QA bit is decoded twice.

`read_scene(folder)` reads one Landsat or Sentinel-2 scene, or one scene stack (a multiband GeoTIFF with a
sidecar JSON, irrmap.sources.stack), into a `Scene` (irrmap.sources.scene).
"""

from __future__ import annotations

from pathlib import Path

from irrmap.core.errors import ConfigError, InputError
from irrmap.sources import landsat, sentinel2, stack
from irrmap.sources.scene import CLOUD_BUFFER_PX, Scene

__all__ = ["Scene", "read_scene"]


def read_scene(folder, *, grid=None, bands=None, resolution: int | None = None, cloud_buffer: int = CLOUD_BUFFER_PX) -> Scene:
    """The Landsat or Sentinel-2 scene in `folder`, found from its metadata (a Landsat MTL, or a Sentinel-2
    MTD_MSIL1C.xml / MTD_MSIL2A.xml), as a Scene of lazily read layers on `grid` (default: the scene's own).
    `folder` may also be a scene stack file (irrmap.sources.stack: GeoTIFF + sidecar JSON).

    `bands`: common names to return (irrmap.sources.bands; default all the product has). `resolution`:
    Sentinel-2 only, 10 (20 m bands resampled to 10 m) or 20 (10 m bands averaged to 20 m), default 10;
    ignored when `grid` is given. `cloud_buffer`: pixels by which cloud and cloud shadow are dilated, in the
    spectral screen and in a product's QA layer alike (irrmap.sources.scene.CLOUD_BUFFER_PX: Fmask's 3; 0 off). Raises InputError for a folder that holds neither, ConfigError for a bad
    band name or resolution.
    """
    folder = Path(folder)
    if stack.is_stack(folder):
        if resolution is not None:
            raise ConfigError("`resolution` applies to Sentinel-2 only", "resolution", "a scene stack is read on its own grid; pass `grid` to resample")
        return stack.read_stack(folder, grid=grid, bands=bands, cloud_buffer=cloud_buffer)
    if not folder.is_dir():
        raise InputError("not a scene folder nor a GeoTIFF scene stack" if folder.exists() else "scene folder not found", str(folder),
                         "give the folder of one Landsat scene (band files + MTL), one Sentinel-2 product, or a scene stack (.tif + .json)")
    if landsat.is_landsat(folder):
        if resolution is not None:
            raise ConfigError("`resolution` applies to Sentinel-2 only", "resolution", "Landsat scenes are read on their 30 m grid; pass `grid` to resample")
        return landsat.read_landsat(folder, grid=grid, bands=bands, cloud_buffer=cloud_buffer)
    if sentinel2.is_sentinel2(folder):
        return sentinel2.read_sentinel2(folder, grid=grid, bands=bands, resolution=resolution or 10, cloud_buffer=cloud_buffer)
    raise InputError("neither a Landsat MTL (*_MTL.txt/.json/.xml) nor a Sentinel-2 MTD_MSIL1C.xml / MTD_MSIL2A.xml", str(folder),
                     "give the folder of one Landsat scene (band files + MTL) or one Sentinel-2 product (.SAFE)")
