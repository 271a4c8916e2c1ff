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

from irrmap.core.errors import GridError, InputError
from irrmap.core.grid import Grid
from irrmap.sources import qa
from irrmap.sources.bands import REFLECTIVE
from irrmap.sources.screen import screen, snow_guard

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
    (irrmap.sources.screen). Fill also wherever any of the six reflective bands is NaN; snow also wherever a
    clear or water pixel passes the spectral snow test (irrmap.sources.screen.snow_guard, attrs["snow_guard"]).
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




def categorical_resampling(path, grid: Grid) -> str:
    """How irrmap.core.raster_read reads the class raster at `path` (quality codes, water masks) onto `grid`: "mode"
    when it is more than raster_read.COARSENING times finer than the grid (the majority class under each grid
    pixel), else "nearest" (as `gdalwarp -r near`)."""
    from irrmap.core.raster_read import _src_res_on_grid, choose_resampling, open_raster

    with open_raster(path) as src:
        return choose_resampling("categorical", _src_res_on_grid(src, grid), float(np.sqrt(abs(grid.res[0] * grid.res[1])))).name


def acquisition_date(path) -> datetime.date | None:
    """The acquisition date of the scene at `path` (Landsat folder, Sentinel-2 product folder or scene stack)
    from its metadata alone (MTL DATE_ACQUIRED, MTD PRODUCT_START_TIME, the sidecar's `date`), no band read;
    None when `path` is none of these or its metadata cannot be read (reading the scene reports why)."""
    from irrmap.core.errors import IrrmapError
    from irrmap.sources import landsat, sentinel2, stack
    from irrmap.sources.mtl import find_mtl, read_mtl

    path = Path(path)
    try:
        if stack.is_stack(path):
            return stack._metadata(path)["date"]
        if not path.is_dir():
            return None
        mtl = find_mtl(path)
        if mtl is not None:
            return landsat._metadata(read_mtl(mtl), path).when.date()
        mtd = sentinel2._mtd(path)
        return sentinel2._metadata(mtd).date if mtd is not None else None
    except IrrmapError:
        return None


def pixel_metres(grid: Grid) -> float | None:
    """The geometric-mean ground size (m) of the grid's pixels on its middle row; None on grids without a
    constant spacing along a row (irrmap.core.grid.Grid.ground_spacing)."""
    try:
        east, north = grid.ground_spacing(Window(0, grid.height // 2, grid.width, 1))
    except GridError:
        return None
    return float(np.sqrt(east[0] * north[0]))


REFLECTANCE_MAX = 1.6  # no band's typical (median) reflectance comes near this, TOA or surface; bright clouds at low sun stay below it
#: the brightest band's median below this is no reflectance either: reflectance 0..1 scaled again (x 1e-4 gives medians
#: of ~1e-5..1e-4). Even a scene of clear deep water only has a blue or green reflectance of 0.01 or more (TOA) and of
#: about 0.005 or more (surface; SWIR near 0, so the brightest band is what is tested)
REFLECTANCE_MIN = 0.002
_SAMPLE_CHUNKS = 4  # at most this many chunks of each band are read for the check
LARGE_FIX = "set the scale that turns the stored values into reflectance (e.g. 0.0001)"
SMALL_FIX = "drop the scale applied to these values: they are already reflectance 0..1"


def check_reflectance_scale(reflective: dict, scene_id: str, fix: str | None = None, small_fix: str | None = None) -> None:
    """InputError when the reflective bands hold values that are not reflectance 0..1, on the median of each
    over a sample (the chunks nearest the scene centre holding valid pixels, at most _SAMPLE_CHUNKS of them):
    a band's median above REFLECTANCE_MAX, as integer reflectance x 1e4 read without its scale gives (a few
    hundred to thousands; fix `fix`), or every band's median within +-REFLECTANCE_MIN of 0, as a scale
    applied to values already 0..1 gives (~1e-5; fix `small_fix`). The water, cloud and snow tests are physical
    thresholds on 0..1 reflectance and would silently fail either way. Bands without a valid sample are not
    checked."""
    medians = {}
    for name, band in reflective.items():
        sample = _centre_sample(band)
        if sample.size == 0:
            continue
        median = medians[name] = float(np.median(sample))
        if median > REFLECTANCE_MAX:
            raise InputError(f"{name} reflectance has a median of {median:g} (reflectance is 0..1; above {REFLECTANCE_MAX} it is "
                             f"not reflectance but scaled integers, e.g. reflectance x 1e4)", scene_id, fix or LARGE_FIX)
    if medians and max(abs(v) for v in medians.values()) < REFLECTANCE_MIN:
        name = max(medians, key=lambda n: abs(medians[n]))
        raise InputError(f"the brightest band, {name}, has a reflectance median of {medians[name]:g} (all: "
                         f"{', '.join(f'{n} {v:.3g}' for n, v in medians.items())}); below {REFLECTANCE_MIN} no scene is reflectance "
                         f"0..1, but reflectance scaled twice (e.g. values already 0..1 multiplied by a scale of 0.0001)", scene_id,
                         small_fix or SMALL_FIX)


def _small_fix(folder) -> str | None:
    """The fix for reflectance scaled twice that fits the input: a scene stack's sidecar key `scale` (which, when
    left out, defaults to the file's own GDAL scale, so it must be set to 1), else None (SMALL_FIX)."""
    from irrmap.sources import stack

    if folder is not None and stack.is_stack(Path(folder)):
        return (f'set "scale": 1 and "offset": 0 in {stack.sidecar(Path(folder)).name}: the stack already holds reflectance 0..1 (a scale '
                'such as 0.0001 is for integers, reflectance x 1e4; without "scale" the file\'s own GDAL scale is used)')
    return None


def _centre_sample(band) -> np.ndarray:
    data = band.data
    chunks = getattr(data, "chunks", None)
    if chunks is None:
        values = np.asarray(data)
        return values[np.isfinite(values)]
    rows, cols = np.cumsum((0,) + chunks[0]), np.cumsum((0,) + chunks[1])
    ci, cj = len(chunks[0]) // 2, len(chunks[1]) // 2
    order = sorted(((i, j) for i in range(len(chunks[0])) for j in range(len(chunks[1]))), key=lambda ij: (abs(ij[0] - ci) + abs(ij[1] - cj), ij))
    got = []
    for i, j in order[:_SAMPLE_CHUNKS]:
        block = np.asarray(data[rows[i]:rows[i + 1], cols[j]:cols[j + 1]].compute())
        block = block[np.isfinite(block)]
        got.append(block)
        if sum(b.size for b in got) >= 10_000:
            break
    return np.concatenate(got) if got else np.empty(0)


def assemble(*, sensor, level, date, grid, reflective: dict, names, thermal, decoded, saturated, scene_id, folder,
             sun_elevation, sun_azimuth, scale_fix: str | None = None, small_fix: str | None = None) -> Scene:
    """Build the Scene from lazily read layers. `reflective`: all six reflective bands (fill and the screen
    need them); `names`: the common names to return (thermal included or not); `decoded`: the quality codes
    of the product's QA layer, or None to run the spectral screen (with cloud-shadow matching when the sun
    angles are known); either way the snow guard follows (irrmap.sources.screen.snow_guard); `saturated`:
    {"blue", "green", "red"} -> bool DataArray (at the largest calibrated value) or None; `scale_fix`,
    `small_fix`: the fixes to name when the bands are far above / below reflectance 0..1, fitting the input
    (check_reflectance_scale; InputError)."""
    check_reflectance_scale(reflective, f"{folder or scene_id}", scale_fix, small_fix or _small_fix(folder))
    if decoded is None:
        if sun_elevation is None or sun_azimuth is None:
            log.warning("%s: no sun angles in the metadata, so the spectral screen cannot match cloud shadows; shadows stay clear "
                        "(fix: keep the product's metadata with the bands, e.g. MTD_TL.xml of a Sentinel-2 granule)", scene_id)
        decoded = qa.labelled(screen(reflective, thermal, saturated, sun_elevation=sun_elevation, sun_azimuth=sun_azimuth,
                                     pixel_m=pixel_metres(grid)), "screen")
    fill = functools.reduce(operator.or_, (reflective[n].isnull() for n in REFLECTIVE))
    source = decoded.attrs["source"]
    guarded = snow_guard(decoded.where(~fill, qa.FILL).astype(np.uint8), reflective)
    rule = guarded.attrs["snow_guard"]
    quality = qa.labelled(guarded, source).assign_attrs(snow_guard=rule)
    quality = quality.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    bands = {n: reflective[n] for n in names if n in REFLECTIVE}
    any_saturated = None if saturated is None else functools.reduce(operator.or_, saturated.values()).rename("saturated")
    return Scene(sensor, level, date, grid, bands, thermal if "thermal" in names else None, quality, scene_id, folder, any_saturated,
                 sun_elevation, sun_azimuth)
