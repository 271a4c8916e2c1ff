"""The water mask of an epoch: its scenes read onto one grid, classified one by one
(irrmap.mapping.water.classify), combined (irrmap.mapping.water.composite) and written as one uint8 GeoTIFF;
and the layers of such a file read back for the body step.

The mask file (`irrmap water mask`, the `water` stage's water/EPOCH/mask.tif), nodata 255 in every band, each
band described by its name:
  band 1 "water":       1 water, 0 not water, 255 unknown (cloud, shadow, snow, fill, or fewer clear
                        observations than `min_clear`): the composite's extent mask; with one scene, that
                        scene's water map. Tools that read only band 1 get the water class.
  band 2 "detection":   1 where the water frequency > the detection threshold, same 0 / 255 rules: the body
                        step keeps only bodies holding a detection pixel (DEA Waterbodies' hybrid threshold);
  band 3 "persistence": 1 permanent, 2 seasonal, 0 not water, 255 unknown (the change step's JRC classes).

Snow: every scene's quality layer already carries the sensor layer's snow guard (irrmap.sources.screen.
snow_guard, applied when the scene is read), so snow-like pixels a QA band calls clear are unknown here too.

Default method (DEFAULT_METHOD, DEFAULT_THRESHOLD): NDWI > 0 (McFeeters 1996; 0 is his published threshold).
Measured on the three Flathead Level-1 epochs (../shared/data/landsat: 1997 TM and 2007 ETM+ screened
spectrally, 2015 OLI with its BQA; benchmarks/flathead_water.py), on the 10.08 % of pixels clear in all three,
the three water maps agree on 97.7 % of the pixels with NDWI > 0, against 81.5 % with MNDWI > 0 (Xu 2006),
88.4 % AWEI_nsh > 0, 86.2 % AWEI_sh > 0 (Feyisa et al. 2014), 86.0 % DSWE high + moderate, 86.9 % Otsu on NDWI
and 86.7 % Otsu on MNDWI. The others call the shadowed vegetation the screen still leaves clear along the 1997
clouds water (79 % of MNDWI's disagreeing pixels are 1997 MNDWI water; median TOA green 0.061, NIR 0.085, SWIR1
0.032, NDVI 0.33): it has a positive MNDWI (and AWEI, and passes DSWE test 1), while its NIR stays above its
green, so NDWI keeps it land. Cloud, shadow, snow and fill are unknown whatever the method (classify_scene decides
unknown before the spectral test).
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import dask.array as da
import numpy as np
import xarray as xr

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.layers import data_bands, layer_listing
from irrmap.core.raster_read import open_raster, read_raster
from irrmap.core.raster_write import write_raster
from irrmap.core.relative_path import relative_to_folder
from irrmap.core.valid_share import extent_text, no_overlap
from irrmap.mapping.water.classify import NOT_WATER, UNKNOWN, WATER, classify_scene
from irrmap.mapping.water.composite import PERMANENT, SEASONAL, epoch_composite
from irrmap.sources import read_scene
from irrmap.sources.band_order import check_scene_band_order
from irrmap.sources.scene import CLOUD_BUFFER_PX, check_cloud_buffer

log = logging.getLogger(__name__)

MASK_BANDS = ("water", "detection", "persistence")
DEFAULT_METHOD = "ndwi"
DEFAULT_THRESHOLD = 0.0
DEFAULT_INDEX = "ndwi"
_CODES = {"water": (NOT_WATER, WATER), "detection": (NOT_WATER, WATER), "persistence": (NOT_WATER, PERMANENT, SEASONAL)}


#: the longest span of acquisition dates (days) one epoch composite takes without a warning: a year (366 days, a leap
#: year's), so one composite may hold a season or a whole year of scenes, the yearly period of JRC's seasonality classes
#: (Pekel et al. 2016), but not scenes of different years
EPOCH_SPAN_DAYS = 366


def check_epoch_span(scenes, where: str = "SCENE", max_days: int = EPOCH_SPAN_DAYS) -> int | None:
    """Log a warning (naming the dates and scenes) when the acquisition dates of the `scenes` (Scene objects or objects
    with `date` and `folder`) of one composite span more than `max_days`: the composite would mix years (its water
    frequency, extent and permanent/seasonal classes are meant for one epoch). Returns the span in days (None for
    fewer than two dated scenes)."""
    dated = sorted((s.date, str(getattr(s, "folder", "") or getattr(s, "scene_id", ""))) for s in scenes if getattr(s, "date", None))
    if len(dated) < 2:
        return None
    span = (dated[-1][0] - dated[0][0]).days
    if span > max_days:
        log.warning("%s: the scenes of one composite were acquired %s, a span of %d days (more than %d): the mask mixes "
                    "their years into one water frequency, so water found in one year only counts as seasonal, not as "
                    "change (fix: give one epoch's scenes per mask, e.g. one `irrmap water mask` per year, and compare "
                    "epochs with `irrmap water change`)", where, ", ".join(f"{d} ({p})" for d, p in dated), span, max_days)
    return span


def read_scenes(paths, *, grid: Grid | None = None, cloud_buffer: int = CLOUD_BUFFER_PX, where: str = "SCENE") -> list:
    """Each scene (a Landsat scene folder, a Sentinel-2 product folder or a scene stack; irrmap.sources.read_scene)
    read lazily onto `grid`, by default the first scene's own grid, its cloud and cloud shadow dilated by
    `cloud_buffer` pixels (irrmap.sources.scene.CLOUD_BUFFER_PX, Fmask's 3; 0 off). Warns when the scenes'
    dates span more than EPOCH_SPAN_DAYS (check_epoch_span, located at `where`). Raises InputError for no scene,
    a buffer that is not a whole number 0..100, or a scene that does not overlap the grid, DataError for a scene
    whose red / NIR or SWIR1 / SWIR2 bands hold each other's data (irrmap.sources.band_order.check_scene_band_order,
    on a sample of clear land pixels), and what read_scene raises."""
    cloud_buffer = check_cloud_buffer(cloud_buffer, "--cloud-buffer" if where == "SCENE" else
                                      "[water].cloud_buffer" if where.startswith("[water]") else "cloud_buffer")
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("no scene given", "SCENE", "give at least one scene folder or scene stack")
    check_distinct_scenes(paths)
    scenes = []
    for p in paths:
        own = read_scene(p, cloud_buffer=cloud_buffer)
        if grid is None:
            grid = own.grid
        elif not own.grid.aligned_with(grid):
            if no_overlap(SimpleNamespace(bounds=own.grid.bounds, crs=own.grid.crs), grid):
                raise InputError(f"the scene does not overlap the grid of the first scene: it covers {extent_text(own.grid)}, the grid "
                                 f"{extent_text(grid)}", str(p), "give scenes of one area (one epoch's mask is built on the first scene's grid)")
            own = read_scene(p, grid=grid, cloud_buffer=cloud_buffer)
        check_scene_band_order(own)  # bands in another order than declared (NIR/red, SWIR1/SWIR2): refused, not mapped
        scenes.append(own)
    check_epoch_span(scenes, where)
    return scenes


def check_distinct_scenes(paths, where: str = "SCENE", labels=None) -> None:
    """InputError (located at `where`) when two of the scenes `paths` are one acquisition: the same file or
    folder given twice, the same scene id, or the same sensor, place (WRS path/row, Sentinel-2 tile, a stack's
    grid bounds) and date (irrmap.sources.scene.acquisition: e.g. a scene's Level-1 and Level-2 products). Each
    copy would count as one more clear observation: the water frequency, and with it the detection, extent and
    permanent/seasonal classes, would weigh that acquisition twice. `labels`: how to name each path in the message
    (e.g. its epoch), default the path itself. Scenes whose metadata cannot be read are compared by path only."""
    from irrmap.sources.scene import acquisition

    paths = [Path(p) for p in paths]
    labels = [str(p) for p in paths] if labels is None else list(labels)
    seen: list[tuple[int, Path, object]] = []
    for i, p in enumerate(paths):
        real, acq = p.resolve(), acquisition(p)
        for j, other_real, other_acq in seen:
            if real == other_real:
                why = "the same scene is given twice"
            elif acq is not None and other_acq is not None and acq.same_as(other_acq):
                same_id = acq.scene_id and acq.scene_id.casefold() == other_acq.scene_id.casefold()
                where_ = (f"path/row or tile {acq.place}" if acq.place is not None and acq.place == other_acq.place else
                          "the same footprint")
                ids = f" ({other_acq.scene_id} and {acq.scene_id})" if acq.scene_id and other_acq.scene_id else ""
                why = f"both are scene {acq.scene_id}" if same_id else f"both are the {acq.sensor} acquisition of {acq.date} at {where_}{ids}"
            else:
                continue
            raise InputError(f"{why}: {labels[j]} and {labels[i]}; each copy would count as another clear observation and weigh that "
                             "acquisition twice in the water frequency (detection, extent, permanent/seasonal)", where,
                             "give each acquisition once (one product of it: Level-1 or Level-2, Collection 1 or 2)")
        seen.append((i, real, acq))


def in_scene_order(scenes) -> list:
    """`scenes` sorted by acquisition date (a scene without one first), then by folder or path: the order the mask's
    per-scene tags (scene_dates, scenes, otsu_thresholds) list them in, so the scenes given in any order write the
    same bytes (the water bands never depended on it: a composite counts detections)."""
    def key(s):
        d = getattr(s, "date", None)
        return (d is not None, d.isoformat() if d is not None else "", str(getattr(s, "folder", s)))
    return sorted(scenes, key=key)


def epoch_mask(scenes, *, method: str = DEFAULT_METHOD, threshold: float = DEFAULT_THRESHOLD, index: str = DEFAULT_INDEX,
               detection: float = 0.10, extent: float = 0.05, permanent: float = 1.0, min_clear: int = 1,
               names: dict | None = None) -> xr.Dataset:
    """The epoch composite (irrmap.mapping.water.composite.epoch_composite, lazy) of the scenes' water maps
    (classify_scene with `method`, `threshold` and, for Otsu, `index`). `names`: how errors name the
    thresholds (e.g. the CLI's options). Raises what those raise."""
    scenes = in_scene_order(scenes)
    maps = [classify_scene(s, method, threshold, index=index) for s in scenes]
    out = epoch_composite(maps, detection=detection, extent=extent, permanent=permanent, min_clear=min_clear, names=names)
    out.attrs["method"] = method
    dates = [getattr(s, "date", None) for s in scenes]
    if all(d is not None for d in dates):  # acquisition dates as tags: `irrmap water change` checks the epochs' order with them
        out.attrs["scene_dates"] = ";".join(d.isoformat() for d in dates)
    if method == "otsu":
        out.attrs.update({"index": index, "otsu_thresholds": ";".join(f"{m.attrs['threshold']:.6g}" for m in maps),
                          # 1 where Otsu's own threshold (otsu_own_thresholds) was not water vs land and 0 replaced it
                          "otsu_own_thresholds": ";".join(f"{m.attrs['otsu_threshold']:.6g}" for m in maps),
                          "otsu_fallback": ";".join(str(m.attrs["otsu_fallback"]) for m in maps)})
    elif method != "dswe":
        out.attrs["threshold"] = threshold
    return out


def write_mask(path, composite: xr.Dataset, *, scenes=(), tags: dict | None = None) -> Path:
    """Write the mask file (module docstring) of an epoch composite: band descriptions MASK_BANDS, each band's
    legend in the tags (legend_water, ...), with the method, thresholds and scenes. Returns the path.

    The `scenes` tag lists the scene folders or stacks (";"-separated, in_scene_order) relative to the mask's folder
    (irrmap.core.relative_path.relative_to_folder; a relative scene path is taken from the current directory), so
    the same mask written in another folder, or from another working directory, has the same bytes; read it back
    with scene_paths."""
    legend = {"legend_water": "1 water, 0 not water, 255 unknown",
              "legend_detection": f"1 water frequency > {composite.attrs['detection']}, 0 not, 255 unknown",
              "legend_persistence": "1 permanent, 2 seasonal, 0 not water, 255 unknown"}
    all_tags = dict(composite.attrs) | legend | {"scenes": ";".join(relative_to_folder(getattr(s, "folder", s), Path(path).parent) for s in in_scene_order(scenes))} | dict(tags or {})
    return write_raster(path, [composite[b] for b in MASK_BANDS], nodata=UNKNOWN, dtype="uint8", descriptions=list(MASK_BANDS),
                        tags=all_tags)


def scene_paths(path) -> list[Path]:
    """The scene folders or stacks a mask file records in its `scenes` tag (write_mask), each resolved against the
    mask's folder (irrmap.core.relative_path.located_from; an absolute path, as older masks stored, is kept); []
    when it has none."""
    from irrmap.core.relative_path import located_from

    with open_raster(Path(path)) as src:
        text = src.tags().get("scenes", "")
    return [located_from(s, Path(path).parent) for s in text.split(";") if s]


def scene_dates(path) -> list:
    """The acquisition dates (datetime.date) a mask or bodies file records in its `scene_dates` tag (written by
    epoch_mask / write_mask and copied to the bodies files), [] when it has none."""
    import datetime

    with open_raster(Path(path)) as src:
        text = src.tags().get("scene_dates", "")
    try:
        return [datetime.date.fromisoformat(d) for d in text.split(";") if d]
    except ValueError:
        return []


def epoch_date(dates):
    """The date that places an epoch in time: the median of its scenes' dates (the earlier middle one of an even
    count); None without dates."""
    dates = sorted(d for d in dates if d is not None)
    return dates[(len(dates) - 1) // 2] if dates else None


MASK_FIX = ("give a mask written by `irrmap water mask` (1 water, 0 not water, 255 unknown in band 1); a JRC occurrence or other "
            "percent layer must be thresholded to 0 / 1 first, e.g. gdal_calc.py -A occurrence.tif --calc=\"A>50\" --outfile mask.tif")


def checked_codes(block: np.ndarray, allowed: np.ndarray, band: str, path: str, fix: str = MASK_FIX) -> np.ndarray:
    """`block` unchanged, or DataError (located at `path`, any text naming the input) when it holds a value not
    in `allowed` (the layer's codes, then 255 unknown, then the file's nodata): the one check of water mask
    codes, for mask files, body inputs and reference masks alike. `band`: the band as the message names it
    ("'water'", or "1 ('occurrence', read as the water layer)" for band 1 described otherwise)."""
    bad = ~np.isin(block, allowed)
    if bad.any():
        raise DataError(f"band {band} holds value {block[bad][0]}, not a water mask code ({', '.join(map(str, allowed[:-1]))})", path,
                        fix)
    return block


_checked = checked_codes


def mask_layers(path, *, chunks: int = 4096) -> dict[str, xr.DataArray]:
    """The layers of a mask file as lazy DataArrays on its grid: "water" (band 1, always) and "detection" and
    "persistence" when bands carry those descriptions. Values other than the layer's codes (module docstring),
    255 and the file's nodata raise DataError when computed. A single-band 0 / 1 / 255 raster is a mask file
    with band 1 only. Raises InputError for a missing or unreadable file or one without a CRS."""
    from irrmap.core import dataset_names

    path = Path(dataset_names.normalise(path) if isinstance(path, str) else path)  # /vsizip/ names: the brace form
    if not dataset_names.is_file(path):
        raise InputError("water mask not found", str(path), "give the GeoTIFF written by `irrmap water mask`")
    grid = Grid.from_raster(path)
    with open_raster(path) as src:
        described = {(d or "").strip().casefold(): i for i, d in enumerate(src.descriptions, start=1)}
        listing, data = layer_listing(src), data_bands(src)
        first = (src.descriptions[0] or "").strip()
    bands = {"water": 1} | {n: described[n] for n in MASK_BANDS[1:] if n in described}
    unknown = [b for b in data if b not in bands.values()]
    if unknown:  # band 1 of an unrelated multi-layer file (two dates, two products) would be read silently
        raise InputError(f"the file has {len(data)} layers ({listing}); a water mask is band 1 (water) with optional bands "
                         f"described {', '.join(repr(n) for n in MASK_BANDS[1:])}, and band(s) {', '.join(map(str, unknown))} are "
                         "neither", str(path), "give the file written by `irrmap water mask`, or extract the mask layer: "
                         f"gdal_translate -b N {path.name} mask.tif")
    out = {}
    for name, band in bands.items():
        arr = read_raster(path, grid, kind="categorical", band=band, chunks=chunks, name=name)
        allowed = np.array([*_CODES[name], UNKNOWN, arr.attrs["nodata"]])
        # band 1 read as the water layer under its own description (a JRC 'occurrence' band), which the message names
        label = f"1 ({first!r}, read as the water layer)" if name == "water" and first and first.casefold() != "water" else repr(name)
        out[name] = arr.copy(data=da.map_blocks(_checked, arr.data, allowed, label, str(path), dtype=arr.dtype))
    return out
