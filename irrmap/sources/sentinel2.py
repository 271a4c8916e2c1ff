"""Sentinel-2 MSI Level-1C and Level-2A products read into a Scene (irrmap.sources.scene).

A product folder is a .SAFE folder or any folder holding MTD_MSIL1C.xml / MTD_MSIL2A.xml and the band files
(JPEG2000 or GeoTIFF, named `..._B02.jp2`, `..._B02_10m.jp2`, `B02.tif`; anywhere below the folder except the
QI_DATA masks). Each band is read from its finest file.

Reflectance = (DN + offset) / QUANTIFICATION_VALUE (L1C: RADIO_ADD_OFFSET and QUANTIFICATION_VALUE; L2A:
BOA_ADD_OFFSET and BOA_QUANTIFICATION_VALUE), with DN 0 (the NODATA special value) as fill. Processing baseline
04.00 (25 January 2022) introduced the offset, -1000 for every band; earlier products have none. A baseline
>= 04.00 whose metadata lacks the offset list gets -1000 with a warning. Source: ESA, Sentinel-2 Products
Specification Document (S2-PDGS-TAS-DI-PSD) v14.9, and the ESA note "Sentinel-2: new processing baseline 04.00"
(2021); band_id 0..12 of the offset list = B01..B08, B8A, B09..B12.

Grid: `resolution` 10 (the default) puts the 20 m bands (B11, B12, SCL) on the 10 m grid of B02 (bilinear for
reflectance, nearest for SCL: irrmap.core.raster_read's rules); 20 averages the 10 m bands onto the 20 m grid
of the same tile. Quality: the L2A scene classification (SCL) when present, else the spectral screen without its
thermal tests (L1C), matching cloud shadows with the granule's mean sun angles (GRANULE/*/MTD_TL.xml).
Sentinel-2 has no thermal band.
"""

from __future__ import annotations

import datetime
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irrmap.core.errors import ConfigError, InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.sources import qa
from irrmap.sources.bands import REFLECTIVE, band_ids
from irrmap.sources.scene import CLOUD_BUFFER_PX, Scene, assemble, categorical_resampling, check_band_converted

log = logging.getLogger(__name__)

BAND_ORDER = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")
BASELINE_OFFSET = -1000.0  # every band, from processing baseline 04.00
RESOLUTIONS = (10, 20, 60)
_MTD = {"MTD_MSIL1C.xml": "L1", "MTD_MSIL2A.xml": "L2"}
_BAND = re.compile(r"(?:^|_)(B0[1-9]|B1[0-2]|B8A)(?:_(\d\d)m)?\.(jp2|tif|tiff)$", re.IGNORECASE)
_SCL = re.compile(r"(?:^|_)SCL(?:_(\d\d)m)?\.(jp2|tif|tiff)$", re.IGNORECASE)


@dataclass(frozen=True)
class _Product:
    sensor: str
    level: str
    date: datetime.date
    baseline: float
    quantification: float
    offsets: dict
    nodata: int
    saturated: int
    product_id: str


def _mtd(folder: Path) -> Path | None:
    found = [folder / name for name in _MTD if (folder / name).is_file()]
    return found[0] if found else None


def is_sentinel2(folder: Path) -> bool:
    """True when `folder` holds a Sentinel-2 MTD_MSIL1C.xml or MTD_MSIL2A.xml."""
    return _mtd(Path(folder)) is not None


def read_sentinel2(folder, *, grid: Grid | None = None, bands=None, resolution: int = 10, cloud_buffer: int = CLOUD_BUFFER_PX) -> Scene:
    """The Sentinel-2 product in `folder` as a Scene on `grid` (default: the tile's grid at `resolution` m).

    `cloud_buffer`: pixels by which cloud and cloud shadow (screen or SCL) are dilated (irrmap.sources.scene.
    CLOUD_BUFFER_PX, Fmask's 3; 0 off). Raises InputError for a missing or damaged MTD file or band file, band
    files already converted to reflectance (floats within +-1.6, with a fix fitting a product folder), ConfigError
    for an unknown band name or a resolution outside 10, 20, 60.
    """
    folder = Path(folder)
    if resolution not in RESOLUTIONS:
        raise ConfigError(f"Sentinel-2 resolution {resolution!r} m", "resolution", f"use one of {RESOLUTIONS}")
    path = _mtd(folder)
    if path is None:
        raise InputError("no MTD_MSIL1C.xml / MTD_MSIL2A.xml", str(folder), "give the product's .SAFE folder")
    prod = _metadata(path)
    ids = band_ids(prod.sensor)
    names = list(bands) if bands is not None else list(ids)
    band_ids(prod.sensor, names)
    files = _band_files(folder)
    missing = [ids[n] for n in REFLECTIVE if ids[n] not in files]
    if missing:
        raise InputError(f"no file for band(s) {', '.join(missing)} of {prod.product_id}", str(folder), "the product folder must hold every band file")
    _check_identity(files, prod, path)
    _check_grids(files, ids, folder)
    if grid is None:
        grid = _grid(files[ids["blue"]], resolution)
    reflective = {}
    for n in REFLECTIVE:
        b = ids[n]
        scale, offset = 1.0 / prod.quantification, prod.offsets[b] / prod.quantification
        check_band_converted(files[b][1], scale=scale, offset=offset, nodata=prod.nodata, where=f"{folder}: {Path(files[b][1]).name}",
                             fix=lambda: _converted_fix(path, prod))
        da = read_raster(files[b][1], grid, kind="continuous", nodata=prod.nodata, scale=scale, offset=offset, name=n, warn_scaled=False)
        da.attrs.update({"calibration": f"(DN + {prod.offsets[b]:g}) / {prod.quantification:g}, baseline {prod.baseline:05.2f}",
                         "gain": scale, "offset": offset, "units": "1"})
        reflective[n] = da
    saturated = {n: reflective[n] >= np.float32(np.float64(prod.saturated) * reflective[n].attrs["gain"] + reflective[n].attrs["offset"])
                 for n in ("blue", "green", "red")}  # the SATURATED DN, with the reader's arithmetic
    zenith, azimuth = _sun_angles(folder)
    if zenith is not None:
        from irrmap.sources.calibration import check_sun_elevation

        check_sun_elevation(90.0 - zenith, str(folder), key=f"the mean sun ZENITH_ANGLE {zenith:g} (elevation 90 - zenith)")
    return assemble(sensor=prod.sensor, level=prod.level, date=prod.date, grid=grid, reflective=reflective, names=names, thermal=None,
                    decoded=_quality(folder, files, prod, grid), saturated=saturated, scene_id=prod.product_id, folder=folder,
                    sun_elevation=None if zenith is None else 90.0 - zenith, sun_azimuth=azimuth, cloud_buffer=cloud_buffer)


def _converted_fix(mtd: Path, prod) -> str:
    """The fix for band files already converted to reflectance 0..1 in a Sentinel-2 product folder (no scale to set)."""
    return (f"the band files look already converted to reflectance (floats 0..1), so {mtd.name}'s quantification "
            f"({prod.quantification:g}) would convert them twice: use the product's original JP2 band files, or write the bands as a "
            'scene stack (one GeoTIFF, bands described blue, green, red, nir, swir1, swir2, with a sidecar <stem>.json: '
            f'"date": "{prod.date}", "sensor": "{prod.sensor}", "level": "{prod.level}", "scale": 1, "offset": 0; docs/water.md)')


def _text(root, tag: str) -> str | None:
    el = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == tag), None)
    return el.text.strip() if el is not None and el.text else None


def _metadata(path: Path) -> _Product:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"cannot read the product metadata: {exc}", str(path), "the MTD file is damaged; download the product again") from None
    level = _MTD[path.name]
    craft = _text(root, "SPACECRAFT_NAME") or ""
    m = re.fullmatch(r"Sentinel-2([A-D])", craft)
    start = _text(root, "PRODUCT_START_TIME") or _text(root, "DATATAKE_SENSING_START")
    quant = _text(root, "QUANTIFICATION_VALUE" if level == "L1" else "BOA_QUANTIFICATION_VALUE")
    baseline = _text(root, "PROCESSING_BASELINE")
    if not m or not start or not quant or not baseline:
        raise InputError("the metadata lacks SPACECRAFT_NAME, PRODUCT_START_TIME, the quantification value or PROCESSING_BASELINE",
                         str(path), "the MTD file is damaged or not a Sentinel-2 product's; download the product again")
    baseline = float(baseline)
    offset_tag = "RADIO_ADD_OFFSET" if level == "L1" else "BOA_ADD_OFFSET"
    offsets = {BAND_ORDER[int(e.get("band_id"))]: float(e.text) for e in root.iter() if e.tag.rsplit("}", 1)[-1] == offset_tag}
    if not offsets:
        if baseline >= 4.0:
            log.warning("%s: processing baseline %05.2f but no %s list; applying the baseline's documented offset %g to every band "
                        "(fix: use the product's original metadata)", path, baseline, offset_tag, BASELINE_OFFSET)
        offsets = {b: BASELINE_OFFSET if baseline >= 4.0 else 0.0 for b in BAND_ORDER}
    special = {}
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Special_Values":
            special[_text(el, "SPECIAL_VALUE_TEXT")] = int(_text(el, "SPECIAL_VALUE_INDEX"))
    product_id = (_text(root, "PRODUCT_URI") or path.parent.name).removesuffix(".SAFE")
    return _Product(f"S2{m.group(1)}", level, datetime.date.fromisoformat(start[:10]), baseline, float(quant), offsets,
                    special.get("NODATA", 0), special.get("SATURATED", 65535), product_id)


_URI = re.compile(r"^S2[A-D]_MSIL(?:1C|2A)_(\d{8})T\d{6}_N\d{4}_R\d{3}_T(\d\d[A-Z]{3})_")
_FILE_ID = re.compile(r"(?:^|_)T(\d\d[A-Z]{3})_(\d{8})T\d{6}_")  # T11UQP_20220605T181921_B02.jp2


def _check_identity(files: dict, prod: _Product, mtd: Path) -> None:
    """InputError when a band file's name (tile and sensing date, `T11UQP_20220605T..._B02.jp2`) contradicts the
    product metadata (the tile of PRODUCT_URI, the date of PRODUCT_START_TIME): the metadata of another product
    would calibrate and date these bands. Names without the tile/date prefix (renamed files) are not checked."""
    uri = _URI.match(prod.product_id)
    tile = uri.group(2) if uri else None
    day = prod.date.strftime("%Y%m%d")
    for _res, file in files.values():
        m = _FILE_ID.search(file.name)
        if m and (m.group(2) != day or (tile and m.group(1) != tile)):
            raise InputError(f"band file {file.name} is of tile T{m.group(1)} sensed {m.group(2)}, but {mtd.name} describes "
                             f"{prod.product_id} (tile T{tile or '?'}, sensed {day})", str(mtd.parent),
                             "put each product's own MTD file beside its band files, one product per folder")


NATIVE_M = {"B01": 60, "B02": 10, "B03": 10, "B04": 10, "B05": 20, "B06": 20, "B07": 20, "B08": 10, "B8A": 20, "B09": 60,
            "B10": 60, "B11": 20, "B12": 20, "SCL": 20}  # ESA Sentinel-2 MSI User Guide (spectral bands); SCL: the L2A 20 m product


def _check_grids(files: dict, ids: dict, folder: Path) -> None:
    """InputError when the band files are not on one tile: every file of a granule covers the same 109.8 km
    tile in the same CRS, at 10, 20 or 60 m (different resolutions by design; the reader puts them on one grid).
    A band cropped, reprojected or warped to another pixel size is refused, naming it and the reference band."""
    ref_id = ids["blue"]
    ref = Grid.from_raster(files[ref_id][1])
    for key, (_res, path) in files.items():
        g = Grid.from_raster(path)
        size = (abs(g.res[0]), abs(g.res[1]))
        same_tile = g.crs == ref.crs and all(abs(a - b) < 1e-3 for a, b in zip(g.bounds, ref.bounds))
        if not same_tile or size[0] != size[1] or size[0] not in RESOLUTIONS:
            raise InputError(f"band {key} ({path.name}) is not on the tile grid of {ref_id} ({files[ref_id][1].name}): {g} vs {ref}",
                             str(folder), "use the product's band files as delivered (one granule, each band at 10, 20 or 60 m over "
                             "the same tile), or resample every band onto one grid first")
        if key in NATIVE_M and size[0] > NATIVE_M[key] and key in ids.values():
            log.warning("%s: band %s is read from a %g m file, coarser than its native %d m (fix: include the product's R%dm file of %s)",
                        folder, key, size[0], NATIVE_M[key], NATIVE_M[key], key)


def _sun_angles(folder: Path) -> tuple[float | None, float | None]:
    """Mean sun zenith and azimuth (degrees) of the granule (GRANULE/*/MTD_TL.xml, Mean_Sun_Angle), or Nones."""
    tiles = sorted(folder.rglob("MTD_TL.xml"))
    if len(tiles) != 1:
        return None, None
    try:
        root = ET.parse(tiles[0]).getroot()
    except (OSError, ET.ParseError) as exc:
        raise InputError(f"cannot read the granule metadata: {exc}", str(tiles[0]), "the MTD_TL file is damaged; download the product again") from None
    mean = next((e for e in root.iter() if e.tag.rsplit("}", 1)[-1] == "Mean_Sun_Angle"), None)
    if mean is None:
        return None, None
    zenith, azimuth = _text(mean, "ZENITH_ANGLE"), _text(mean, "AZIMUTH_ANGLE")
    return (float(zenith), float(azimuth)) if zenith and azimuth else (None, None)


def _resolution(path: Path, match) -> float:
    return float(match) if match else Grid.from_raster(path).res[0]


def _finest(found: dict, key: str, res: float, path: Path) -> None:
    """Keep the finest file per key; InputError for two files of one band at one resolution (several granules)."""
    if key in found and found[key][0] == res:
        raise InputError(f"two files for {key} at {res:g} m: {found[key][1].name}, {path.name}", str(path.parent),
                         "put one granule per product folder")
    if key not in found or res < found[key][0]:
        found[key] = (res, path)


def _band_files(folder: Path) -> dict:
    """Band id (and "SCL") -> (resolution m, path) of its finest file below `folder`."""
    found: dict = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.name.upper().startswith("MSK_") or "QI_DATA" in p.parts:
            continue
        if m := _BAND.search(p.name):
            _finest(found, m.group(1).upper(), _resolution(p, m.group(2)), p)
        elif m := _SCL.search(p.name):
            _finest(found, "SCL", _resolution(p, m.group(1)), p)
    return found


def _grid(blue: tuple, resolution: int) -> Grid:
    res, path = blue
    native = Grid.from_raster(path)
    return native if res == resolution else Grid.from_bounds(*native.bounds, resolution, native.crs)


def _quality(folder: Path, files: dict, prod: _Product, grid: Grid):
    """SCL codes of an L2A product; None (screen) for L1C or an L2A folder without its SCL file."""
    if prod.level == "L1":
        return None
    scl = files.get("SCL")
    if scl is None:
        log.warning("%s: no SCL file in the L2A product; the scene is screened spectrally instead (fix: include the R20m SCL file)", folder)
        return None
    return qa.decode(read_raster(scl[1], grid, kind="categorical", resampling=categorical_resampling(scl[1], grid), name="scl"), "SCL")
