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

from irrmap.core.cloud_buffer import CLOUD_BUFFER_PX, check_cloud_buffer
from irrmap.core.errors import GridError, InputError
from irrmap.core.grid import Grid
from irrmap.core.share_text import percent_text
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


@dataclass(frozen=True)
class Acquisition:
    """What identifies one acquisition, from the metadata alone: `sensor` (LC08, S2A, ...), `place` (Landsat WRS
    path/row "PPPRRR", Sentinel-2 tile "T11UQP", a scene stack's grid bounds; None unknown), `date` and
    `scene_id` (the product or scene id). Two products of one acquisition (Level-1 and Level-2, Collection 1 and
    2) share sensor, place and date but not their scene_id."""

    sensor: str
    place: str | None
    date: datetime.date
    scene_id: str
    footprint: str | None = None

    def same_as(self, other: Acquisition) -> bool:
        """True for the same scene id, or the same sensor and date with the same place or the same footprint (the
        grid's CRS and bounds: a scene stack exported from a Landsat scene) known on both, unless both scene ids are
        Landsat ids naming different acquisitions (irrmap.sources.landsat.file_identity)."""
        if self.scene_id and self.scene_id.casefold() == other.scene_id.casefold():
            return True
        if (self.sensor, self.date) != (other.sensor, other.date):
            return False
        from irrmap.sources.landsat import file_identity

        ids = [file_identity(s.scene_id) if s.scene_id else None for s in (self, other)]
        if None not in ids and ids[0] != ids[1]:  # Landsat ids of two acquisitions (sensor, path/row or date differ)
            return False
        return (self.place is not None and self.place == other.place) or (self.footprint is not None and self.footprint == other.footprint)


def acquisition(path) -> Acquisition | None:
    """The Acquisition of the scene at `path` (Landsat folder, Sentinel-2 product folder or scene stack) from its
    metadata alone, no band read; None when `path` is none of these or its metadata cannot be read (reading the
    scene reports why)."""
    from irrmap.core.errors import IrrmapError
    from irrmap.sources import landsat, sentinel2, stack
    from irrmap.sources.mtl import find_mtl, read_mtl

    path = Path(path)
    try:
        if stack.is_stack(path):
            meta = stack._metadata(path)
            return Acquisition(str(meta.get("sensor", "unknown")), None, meta["date"], str(meta.get("scene_id", "")), _footprint(path))
        if not path.is_dir():
            return None
        found = find_mtl(path)
        if found is not None:
            mtl = read_mtl(found)
            meta = landsat._metadata(mtl, path)
            wrs_path, row = mtl.first("WRS_PATH"), mtl.first("WRS_ROW", "STARTING_ROW")
            try:
                place = f"{int(float(wrs_path)):03d}{int(float(row)):03d}" if wrs_path and row else None
            except ValueError:
                place = None
            espa = meta.level == "L2" and meta.collection < 2
            blue = landsat._blue_file(path, mtl, meta, espa)
            return Acquisition(meta.sensor, place, meta.when.date(), meta.scene_id, _footprint(blue) if blue is not None else None)
        mtd = sentinel2._mtd(path)
        if mtd is None:
            return None
        prod = sentinel2._metadata(mtd)
        uri = sentinel2._URI.match(prod.product_id)
        return Acquisition(prod.sensor, f"T{uri.group(2)}" if uri else None, prod.date, prod.product_id)
    except IrrmapError:
        return None


def _footprint(path) -> str:
    g = Grid.from_raster(path)
    return f"{g.crs} " + " ".join(f"{v:.6f}" for v in g.bounds)


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
#: reflectance below this is no retrieval noise but stored values converted with the wrong scale/offset (digital numbers
#: of another product, sensor or collection read with this one's calibration): TOA reflectance is >= 0 up to sensor
#: noise (the Flathead Level-1 scenes: lowest pixel of any band -0.007), and surface reflectance dips below 0 only where
#: the atmospheric correction over-corrects dark water or shadow, by a few hundredths (USGS LSDS-1619 notes such
#: negative values; the Collection 2 valid range reaches -0.2 only to keep them). Refused when more than FLOOR_SHARE of
#: a band's sampled pixels lie below it: e.g. Landsat 5 TM 8-bit DN under a Landsat 8 MTL give -0.11 everywhere.
REFLECTANCE_FLOOR = -0.05
FLOOR_SHARE = 0.01
#: the dark-object floor: every scene with any water, shadow or dense dark vegetation has pixels whose reflectance is
#: near 0 in some band (SWIR over water ~0.00-0.01 TOA and surface; Chavez 1988, Remote Sens. Environ. 24:459-479,
#: dark-object subtraction rests on it). When even the darkest band's 0.1st percentile over the sample is above
#: DARK_OBJECT_MAX, an additive offset is probably missing or wrong (Collection 2 SR digital numbers under a Level-1
#: MTL: >= 0.052 everywhere; an offset -0.2 left out: >= 0.2): a warning, as a bright desert scene can lack dark objects.
#: Flathead Level-1 scenes: 0.001 (L8), -0.002 (L7), 0.002 (L5).
DARK_OBJECT_MAX = 0.04
DARK_OBJECT_PERCENTILE = 0.1
#: a reflective band whose 1st percentile is above this while another band has dark objects (the scene has water or
#: shadow) is no reflectance of that band: SWIR over water is ~0.00-0.01 and no surface (snow: < 0.2 at 1.6 and 2.2 um,
#: Warren 1982, Rev. Geophys. 20:67-89; water cloud: < 0.5 at 2.2 um) keeps 99 % of a scene above it. Refused for swir1 /
#: swir2 (e.g. a thermal band, ST_B10 x 2.75e-5 - 0.2 ~ 0.9..1.2, stacked as swir2: AWEI then finds no water), warned
#: for the visible and NIR bands, which a snow or cloud field can keep this bright.
BAND_DARK_MAX = 0.5
BAND_DARK_PERCENTILE = 1.0
#: a below-floor pixel within this of the reflectance that stored 0 converts to (the band's offset) is stored 0: fill
_FILL_TOLERANCE = 1e-6
_FILL_FIX = ("declare the fill value as nodata: gdal_edit.py -a_nodata 0 {source} (a scene stack: \"nodata\": 0 in its sidecar); the scale "
             "is not at fault")
LARGE_FIX = "set the scale that turns the stored values into reflectance (e.g. 0.0001 for reflectance x 1e4, 0.01 for percent)"
SMALL_FIX = "drop the scale applied to these values: they are already reflectance 0..1"


def _text(fix, default: str) -> str:
    """The fix text: `fix` itself, or what it returns when it is a callable (computed only when a check fails), else `default`."""
    fix = fix() if callable(fix) else fix
    return fix or default


def check_reflectance_scale(reflective: dict, scene_id: str, fix=None, small_fix=None) -> None:
    """InputError when the reflective bands hold values that are not reflectance 0..1, on the median of each
    over a sample spread over the whole scene (_scene_sample: the centre, corner and edge chunks, so scene-edge
    fill is seen; `fix`: a text or a callable returning it, computed only when needed):
    a band's median above REFLECTANCE_MAX, as integer reflectance x 1e4 read without its scale gives (a few
    hundred to thousands; fix `fix`), or every band's median within +-REFLECTANCE_MIN of 0, as a scale
    applied to values already 0..1 gives (~1e-5; fix `small_fix`, a text or a callable as `fix`). The water, cloud and snow tests are physical
    thresholds on 0..1 reflectance and would silently fail either way. Bands without a valid sample are not
    checked."""
    medians, samples = {}, {}
    for name, band in reflective.items():
        sample = samples[name] = _scene_sample(band)
        if sample.size == 0:
            continue
        median = medians[name] = float(np.median(sample))
        if median > REFLECTANCE_MAX:
            raise InputError(f"{name} reflectance has a median of {median:g} (reflectance is 0..1; above {REFLECTANCE_MAX} it is "
                             f"not reflectance but scaled integers, e.g. reflectance x 1e4)", scene_id, _text(fix, LARGE_FIX))
    if medians and max(abs(v) for v in medians.values()) < REFLECTANCE_MIN:
        name = max(medians, key=lambda n: abs(medians[n]))
        raise InputError(f"the brightest band, {name}, has a reflectance median of {medians[name]:g} (all: "
                         f"{', '.join(f'{n} {v:.3g}' for n, v in medians.items())}); below {REFLECTANCE_MIN} no scene is reflectance "
                         f"0..1, but reflectance scaled twice (e.g. values already 0..1 multiplied by a scale of 0.0001)", scene_id,
                         _text(small_fix, SMALL_FIX))
    check_reflectance_floor(reflective, samples, scene_id, fix)


def check_reflectance_floor(reflective: dict, samples: dict, scene_id: str, fix=None) -> None:
    """InputError when more than FLOOR_SHARE of a band's sampled pixels (`samples`: name -> 1-D valid values of
    check_reflectance_scale's whole-scene sample) lie below REFLECTANCE_FLOOR: the scale/offset applied (the band's
    attrs "gain", "offset", "calibration" when the reader records them) do not fit the stored values, or, when most
    of them equal the band's offset (stored 0 x gain + offset), stored 0 is undeclared fill (fix: declare nodata,
    _FILL_FIX). Warns when even the darkest band's DARK_OBJECT_PERCENTILE-th percentile is above DARK_OBJECT_MAX (an
    offset missing or wrong; not refused, bright scenes without dark objects exist). In a scene with dark objects,
    a band whose BAND_DARK_PERCENTILE-th percentile is above BAND_DARK_MAX is refused (swir1, swir2) or warned about
    (the others): not that band's reflectance. `fix`: a text or a callable returning it."""
    dark = {}
    for name, sample in samples.items():
        if sample.size == 0:
            continue
        share = float(np.mean(sample < REFLECTANCE_FLOOR))
        if share > FLOOR_SHARE:
            attrs = getattr(reflective.get(name), "attrs", {}) or {}
            _refuse_fill(name, sample, attrs, scene_id)
            how = (f" (converted as {attrs['gain']:.6g} x stored value + {attrs['offset']:.6g}: {attrs.get('calibration', '')})"
                   if "gain" in attrs and "offset" in attrs else "")
            raise InputError(f"{share:.1%} of the sampled {name} pixels have a reflectance below {REFLECTANCE_FLOOR} (lowest "
                             f"{float(sample.min()):.4g}, median {float(np.median(sample)):.4g}){how}; reflectance that negative is "
                             "no retrieval noise: the stored values are not what this scale/offset converts (another product's, "
                             "sensor's or collection's digital numbers)", scene_id, _text(fix, LARGE_FIX))
        dark[name] = float(np.percentile(sample, DARK_OBJECT_PERCENTILE))
    if dark:
        _check_band_darkness(samples, dark, scene_id, fix)
    if dark and min(dark.values()) > DARK_OBJECT_MAX:
        log.warning("%s: no dark object: even the darkest band's %g-th percentile reflectance is %.3g (all: %s), above %g; a scene "
                    "with any water or shadow has pixels near 0 (Chavez 1988), so an additive offset is probably missing or wrong, "
                    "e.g. Collection 2 surface reflectance (x 2.75e-5 - 0.2) read with a Level-1 MTL, or an offset -0.2 left out "
                    "(fix: %s; nothing to do for a bright scene without water or shadow)", scene_id, DARK_OBJECT_PERCENTILE,
                    min(dark.values()), ", ".join(f"{n} {v:.3g}" for n, v in dark.items()), DARK_OBJECT_MAX, _text(fix, LARGE_FIX))


def _refuse_fill(name: str, sample: np.ndarray, attrs: dict, scene_id: str) -> None:
    """InputError (fill, not a wrong scale) when most of the band's below-floor sample is exactly the reflectance stored 0
    converts to (attrs "offset"): stored 0 is the product's fill, read as data because no nodata is declared."""
    if "offset" not in attrs:
        return
    below = sample[sample < REFLECTANCE_FLOOR]
    at_zero = float(np.mean(np.abs(below - np.float32(attrs["offset"])) <= _FILL_TOLERANCE))
    if at_zero > 0.5:
        raise InputError(f"{np.mean(sample < REFLECTANCE_FLOOR):.1%} of the sampled {name} pixels have a reflectance below "
                         f"{REFLECTANCE_FLOOR}, {percent_text(at_zero, 0, sep='')} of them exactly {float(attrs['offset']):.6g} = stored 0 x {attrs.get('gain', 1):.6g} "
                         f"+ {float(attrs['offset']):.6g}: stored 0 is fill (no data), read as data because the file declares no nodata",
                         scene_id, _FILL_FIX.format(source=attrs.get("source", "FILE")))


def _check_band_darkness(samples: dict, dark: dict, scene_id: str, fix=None) -> None:
    """Refuse (swir1, swir2) or warn about (other bands) a band without dark pixels (BAND_DARK_MAX) in a scene that has
    them; refuse a scene without dark objects whose swir2 has none either (its BAND_DARK_PERCENTILE-th percentile
    above BAND_DARK_MAX: no surface, snow or cloud, keeps 99 % of a scene that bright at 2.2 um), with `fix`: the
    scale / offset do not fit the stored values."""
    darkest = min(dark, key=dark.get)
    if dark[darkest] > DARK_OBJECT_MAX:
        swir2 = samples.get("swir2")
        p = float(np.percentile(swir2, BAND_DARK_PERCENTILE)) if swir2 is not None and swir2.size else 0.0
        if p > BAND_DARK_MAX:
            raise InputError(f"no band has a dark pixel and swir2's {BAND_DARK_PERCENTILE:g}st percentile reflectance is {p:.3g}, above "
                             f"{BAND_DARK_MAX} (the darkest band's {DARK_OBJECT_PERCENTILE:g}th percentile: {darkest} {dark[darkest]:.3g}); no "
                             "surface keeps 99% of a scene that bright at 2.2 um (snow < 0.2, Warren 1982), so the scale / offset do not "
                             "fit the stored values", scene_id, _text(fix, LARGE_FIX))
        return
    for name, sample in samples.items():
        if sample.size == 0 or name == darkest:
            continue
        p = float(np.percentile(sample, BAND_DARK_PERCENTILE))
        if p <= BAND_DARK_MAX:
            continue
        what = (f"{name} has no dark pixel: its {BAND_DARK_PERCENTILE:g}st percentile reflectance is {p:.3g}, above {BAND_DARK_MAX}, while "
                f"{darkest}'s {DARK_OBJECT_PERCENTILE:g}th percentile is {dark[darkest]:.3g} (the scene has water or shadow)")
        fix = (f"put the {name} band of the scene in the band described as {name} (another quantity, e.g. a thermal band as ST_B10, "
               "was stacked in its place)")
        if name in ("swir1", "swir2"):
            raise InputError(f"{what}; no surface keeps {name} that bright, so this is not {name} reflectance", scene_id, fix)
        log.warning("%s: %s; unless a snow or cloud field covers the scene this is not %s reflectance (fix: %s)", scene_id, what, name, fix)


def _small_fix(folder) -> str | None:
    """The fix for reflectance scaled twice that fits the input: a scene stack's sidecar key `scale` (which, when
    left out, defaults to the file's own GDAL scale, so it must be set to 1), else None (SMALL_FIX)."""
    from irrmap.sources import stack

    if folder is not None and stack.is_stack(Path(folder)):
        return (f'set "scale": 1 and "offset": 0 in {stack.sidecar(Path(folder)).name}: the stack already holds reflectance 0..1 (a scale '
                'such as 0.0001 is for integers, reflectance x 1e4; without "scale" the file\'s own GDAL scale is used)')
    return None


_SAMPLE_STEP_PX = 1_000_000  # a sampled chunk keeps about this many pixels (every k-th)


def _scene_sample(band) -> np.ndarray:
    """The finite values of `band` (y, x) over the whole scene: an in-memory band whole, a dask band's chunks at the
    first, middle and last chunk row x column (centre, corners, edge middles: at most 9 chunks, read in one compute),
    so fill along the scene's edges is in the sample; each chunk decimated to about _SAMPLE_STEP_PX pixels."""
    data = band.data
    chunks = getattr(data, "chunks", None)
    if chunks is None:
        values = np.asarray(data)
        return values[np.isfinite(values)]
    import dask

    rows, cols = np.cumsum((0,) + chunks[0]), np.cumsum((0,) + chunks[1])
    pick_i = sorted({0, len(chunks[0]) // 2, len(chunks[0]) - 1})
    pick_j = sorted({0, len(chunks[1]) // 2, len(chunks[1]) - 1})
    blocks = [data[rows[i]:rows[i + 1], cols[j]:cols[j + 1]] for i in pick_i for j in pick_j]
    got = []
    for block in dask.compute(*blocks):
        block = np.asarray(block).ravel()
        block = block[::max(1, block.size // _SAMPLE_STEP_PX)]
        got.append(block[np.isfinite(block)])
    return np.concatenate(got) if got else np.empty(0)


def _buffer_block(q: np.ndarray, buffer: int, cloud: bool) -> np.ndarray:
    """Quality codes with CLOUD (when `cloud`) and SHADOW dilated by `buffer` pixels (8-connected, i.e. a (2 buffer + 1)^2
    square, as Fmask's imdilate with a square) into CLEAR, WATER and SNOW pixels; FILL and the other flags are kept."""
    from scipy import ndimage

    out = q.copy()
    free = np.isin(q, (qa.CLEAR, qa.WATER, qa.SNOW))
    square = np.ones((2 * buffer + 1, 2 * buffer + 1), bool)
    for code, on in ((qa.SHADOW, True), (qa.CLOUD, cloud)):  # cloud last: Fmask's order, cloud over shadow
        hit = q == code
        if on and hit.any():
            out[ndimage.binary_dilation(hit, square) & free] = code
    return out


def buffer_quality(quality: xr.DataArray, buffer: int, *, cloud: bool = True) -> xr.DataArray:
    """Lazy quality codes (same grid and chunks) with cloud and cloud shadow dilated by `buffer` pixels (CLOUD_BUFFER_PX
    by default in assemble; 0: unchanged). `cloud` False leaves cloud as it is (Collection 2 QA_PIXEL, whose cloud already
    includes USGS's dilated-cloud bit). attrs["cloud_buffer"] records the buffer."""
    if buffer <= 0:
        return quality.assign_attrs(cloud_buffer=0)
    data = quality.data
    if isinstance(data, np.ndarray):
        out = _buffer_block(data, buffer, cloud)
    else:
        if min(min(c) for c in data.chunks) < buffer + 1:  # chunks narrower than the buffer: the layer as one block
            out = data.rechunk({0: -1, 1: -1}).map_blocks(_buffer_block, dtype=np.uint8, buffer=buffer, cloud=cloud)
        else:
            out = data.map_overlap(_buffer_block, depth=buffer, boundary="none", dtype=np.uint8, buffer=buffer, cloud=cloud)
        out = out.rechunk(quality.data.chunks)
    return quality.copy(data=out).assign_attrs(cloud_buffer=buffer)


def check_band_converted(path, *, scale: float, offset: float = 0.0, nodata=None, where: str | None = None, fix=None) -> None:
    """InputError when the band file `path`, which a sensor reader is about to convert with `scale` (a Level-1 DN gain,
    a Sentinel-2 quantification, ...), holds floats that already look converted: every valid |value| of a sample within
    1.6 (irrmap.core.raster_read.check_scaled_once, with `fix`: a text or a callable returning it, computed only when the
    check fails, instead of its generic text, which names options a scene folder does not have). Integer files and a
    scale of 1 are not checked."""
    from irrmap.core.nodata import already_scaled, decoding_for, valid_mask
    from irrmap.core.raster_read import check_scaled_once, open_raster

    with open_raster(path) as src:
        if np.dtype(src.dtypes[0]).kind != "f" or scale == 1.0:
            return
        dec = decoding_for(src, 1, nodata=nodata, scale=scale, offset=offset)
        step = max(1, max(src.height, src.width) // 256)
        shape = (max(1, src.height // step), max(1, src.width // step))
        raw = src.read(1, out_shape=shape)
        mask = valid_mask(src, 1, dec, out_shape=shape)
    if already_scaled(raw, dec, mask) is not None:  # the fix text is computed only now
        check_scaled_once(raw, dec, where or str(path), mask, fix=_text(fix, SMALL_FIX))


def assemble(*, sensor, level, date, grid, reflective: dict, names, thermal, decoded, saturated, scene_id, folder,
             sun_elevation, sun_azimuth, scale_fix=None, small_fix=None, cloud_buffer: int = CLOUD_BUFFER_PX,
             product_buffers_cloud: bool = False) -> Scene:
    """Build the Scene from lazily read layers. `reflective`: all six reflective bands (fill and the screen
    need them); `names`: the common names to return (thermal included or not); `decoded`: the quality codes
    of the product's QA layer, or None to run the spectral screen (with cloud-shadow matching when the sun
    angles are known); either way the snow guard follows (irrmap.sources.screen.snow_guard); `saturated`:
    {"blue", "green", "red"} -> bool DataArray (at the largest calibrated value) or None; `scale_fix`,
    `small_fix`: the fixes to name when the bands are far above / below reflectance 0..1, fitting the input
    (check_reflectance_scale; InputError); `scale_fix` and `small_fix` may be callables returning the text (computed only when
    a check fails or warns). `cloud_buffer`: pixels by which cloud and cloud shadow are dilated (CLOUD_BUFFER_PX, Fmask's
    3; 0 off): the screen's own buffer (irrmap.sources.shadow) for a screened scene, buffer_quality for a product QA
    layer (`product_buffers_cloud`: the product's cloud is already dilated, e.g. QA_PIXEL's dilated-cloud bit, so only
    its shadow is). InputError for a buffer that is not a whole number 0..100 (check_cloud_buffer)."""
    cloud_buffer = check_cloud_buffer(cloud_buffer)
    screened = decoded is None
    check_reflectance_scale(reflective, f"{folder or scene_id}", scale_fix, small_fix or _small_fix(folder))
    if decoded is None:
        if sun_elevation is None or sun_azimuth is None:
            log.warning("%s: no sun angles in the metadata, so the spectral screen cannot match cloud shadows; shadows stay clear "
                        "(fix: keep the product's metadata with the bands, e.g. MTD_TL.xml of a Sentinel-2 granule)", scene_id)
        decoded = qa.labelled(screen(reflective, thermal, saturated, sun_elevation=sun_elevation, sun_azimuth=sun_azimuth,
                                     pixel_m=pixel_metres(grid), buffer=cloud_buffer), "screen")
    fill = functools.reduce(operator.or_, (reflective[n].isnull() for n in REFLECTIVE))
    source = decoded.attrs["source"]
    marked = decoded.where(~fill, qa.FILL).astype(np.uint8)
    if screened:  # the screen buffered its cloud objects and shadows itself
        marked = marked.assign_attrs(cloud_buffer=cloud_buffer)
    else:  # a product QA layer: buffered here, after fill, so the buffer never covers fill
        marked = buffer_quality(marked, cloud_buffer, cloud=not product_buffers_cloud)
    guarded = snow_guard(marked, reflective)
    rule = guarded.attrs["snow_guard"]
    quality = qa.labelled(guarded, source).assign_attrs(snow_guard=rule, cloud_buffer=cloud_buffer)
    quality = quality.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
    bands = {n: reflective[n] for n in names if n in REFLECTIVE}
    any_saturated = None if saturated is None else functools.reduce(operator.or_, saturated.values()).rename("saturated")
    return Scene(sensor, level, date, grid, bands, thermal if "thermal" in names else None, quality, scene_id, folder, any_saturated,
                 sun_elevation, sun_azimuth)
