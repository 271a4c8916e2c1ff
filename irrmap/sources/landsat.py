"""Landsat 4-5 TM, 7 ETM+ and 8-9 OLI/TIRS scenes (pre-collection, Collection 1 and 2; Level-1 and Level-2)
read into a Scene (irrmap.sources.scene).

A scene folder holds the band files and the MTL (irrmap.sources.mtl: text, .json or .xml). Band files are
found by the names the MTL gives, else by their usual suffixes (`_B4.TIF`, `_SR_B4.TIF`, `_sr_band4.tif`).
- Level-1: DN -> TOA reflectance (irrmap.sources.calibration): REFLECTANCE_MULT/ADD with the sun-elevation
  correction when the MTL has them, else the radiance form with ESUN and d (the MTL's EARTH_SUN_DISTANCE, else
  computed for the scene centre time). Thermal DN -> radiance -> brightness temperature. DN 0 is fill, which
  includes the ETM+ SLC-off gaps. The ETM+ 15 m panchromatic band is not read.
- Level-2, Collection 2 (PROCESSING_LEVEL L2SP / L2SR): SR_B* x 2.75e-5 - 0.2, ST_B* x 0.00341802 + 149.0 K
  (the MTL's LEVEL2 values when present), 0 fill (USGS LSDS-1618 and LSDS-1619, Landsat 4-7 and 8-9 C2 L2
  Science Product Guides).
- Level-2, Collection 1 (ESPA, `*_sr_band*.tif`): x 1e-4, fill -9999, valid range -2000..16000; the optional
  `*_bt_band*.tif` brightness temperature x 0.1 K (USGS LaSRC and LEDAPS C1 Product Guides).
Quality: QA_PIXEL (Collection 2), BQA (Collection 1 Level-1), pixel_qa (Collection 1 Level-2), decoded by
irrmap.sources.qa; a scene without one gets the spectral screen (irrmap.sources.screen). A pre-collection
Landsat 8 BQA uses another bit layout and is not decoded (the scene is screened, with a warning).
"""

from __future__ import annotations

import datetime
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.sources import calibration as cal
from irrmap.sources import qa
from irrmap.sources.bands import COMMON, REFLECTIVE, band_ids, family
from irrmap.sources.mtl import Mtl, find_mtl, read_mtl
from irrmap.sources.scene import CLOUD_BUFFER_PX, Scene, assemble, categorical_resampling, check_band_converted

log = logging.getLogger(__name__)

C2_SR = (2.75e-5, -0.2)  # LSDS-1619 / LSDS-1618: surface reflectance scale and offset
C2_ST = (0.00341802, 149.0)  # surface temperature (K) scale and offset
C1_SR_SCALE, C1_FILL, C1_SR_VALID = 1e-4, -9999, (-2000, 16000)
C1_BT_SCALE = 0.1
QCALMAX_DEFAULT = {"TM": 255, "ETM": 255, "OLI": 65535}
_SENSOR_LETTER = {"TM": "T", "ETM": "E", "ETM+": "E", "OLI_TIRS": "C", "OLI": "O"}


@dataclass(frozen=True)
class _Meta:
    sensor: str
    level: str
    collection: int
    when: datetime.datetime
    sun_elevation: float | None
    sun_azimuth: float | None
    scene_id: str


def is_landsat(folder: Path) -> bool:
    """True when `folder` holds a Landsat MTL file."""
    return find_mtl(Path(folder)) is not None


def read_landsat(folder, *, grid: Grid | None = None, bands=None, cloud_buffer: int = CLOUD_BUFFER_PX) -> Scene:
    """The Landsat scene in `folder` as a Scene on `grid` (default: the scene's 30 m grid, from its blue band).

    `bands`: common names to return (default: every one the product has; thermal is None when it has no
    thermal file). `cloud_buffer`: pixels by which cloud and cloud shadow are dilated (irrmap.sources.scene.
    CLOUD_BUFFER_PX, Fmask's 3; 0 off), in the spectral screen and in a decoded QA band alike (QA_PIXEL's cloud
    already holds USGS's dilated cloud: only its shadow is buffered). A scene screened spectrally without its
    thermal file gets a warning (`_warn_no_thermal`). Raises InputError for a folder without an MTL, an unsupported
    sensor, a missing band file, band files already converted (floats within +-1.6: `_converted_fix`) or missing
    calibration keys; ConfigError for an unknown band name.
    """
    folder = Path(folder)
    path = find_mtl(folder)
    if path is None:
        raise InputError("no Landsat MTL file (*_MTL.txt, *_MTL.json, *_MTL.xml)", str(folder), "give the folder of one Landsat scene with its MTL")
    mtl = read_mtl(path)
    meta = _metadata(mtl, folder)
    ids = band_ids(meta.sensor)
    names = list(bands) if bands is not None else list(COMMON)
    band_ids(meta.sensor, names)  # validates the names
    espa = meta.level == "L2" and meta.collection < 2
    files = {n: _band_file(folder, mtl, ids[n], meta, espa, thermal=n == "thermal") for n in ids}
    for n in REFLECTIVE:
        if files[n] is None:
            raise InputError(f"no file for {n} (band {ids[n]}) of {meta.scene_id}", str(folder),
                             "the folder must hold every band file the MTL names (FILE_NAME_BAND_n)")
    if "thermal" in names and bands is not None and files["thermal"] is None:
        raise InputError(f"no thermal file (band {ids['thermal']}) of {meta.scene_id}", str(folder), "add the thermal band file or do not ask for `thermal`")
    _check_identity(files, mtl, meta, folder)
    native = _check_grids(files, ids, folder)
    grid = grid or native
    fixes = _scale_fixes(path, meta, files, espa)
    conv = fixes["converted_fix"]  # floats already converted get the fix that fits a scene folder (check_band_converted)
    level2 = mtl.groups.get("LEVEL2_SURFACE_REFLECTANCE_PARAMETERS", {})
    reflective, lines = {}, {}
    for n in REFLECTIVE:
        if meta.level == "L1":
            lines[n] = _toa_line(mtl, meta, ids[n])
            reflective[n] = _read(files[n], grid, n, lines[n], nodata=0, converted_fix=conv)
        elif espa:
            reflective[n] = _read(files[n], grid, n, cal.Linear(C1_SR_SCALE, 0.0, "C1 SR x 1e-4"), nodata=C1_FILL, valid_range=C1_SR_VALID,
                                  converted_fix=conv)
        else:
            gain = _number(mtl, f"REFLECTANCE_MULT_BAND_{ids[n]}", "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS") if level2 else C2_SR[0]
            offset = _number(mtl, f"REFLECTANCE_ADD_BAND_{ids[n]}", "LEVEL2_SURFACE_REFLECTANCE_PARAMETERS") if level2 else C2_SR[1]
            form = "C2 SR scale/offset" + ("" if level2 else " (LSDS-1619 constants assumed: no LEVEL2_SURFACE_REFLECTANCE_PARAMETERS)")
            reflective[n] = _read(files[n], grid, n, cal.Linear(gain, offset, form), nodata=0, converted_fix=conv)
    if meta.level == "L2" and not espa and not level2:
        log.warning("%s: the Level-2 MTL has no LEVEL2_SURFACE_REFLECTANCE_PARAMETERS group; assumed the Collection 2 surface reflectance "
                    "scale %g and offset %g of every band (USGS LSDS-1619 / LSDS-1618) (fix: use the product's complete MTL)", path,
                    *C2_SR)
    thermal = _thermal(files["thermal"], grid, mtl, meta, ids["thermal"], espa)
    saturated = _saturated(reflective, lines, mtl, meta, ids) if meta.level == "L1" else None
    decoded = _quality(folder, mtl, meta, espa, grid)
    if decoded is None and thermal is None:
        _warn_no_thermal(folder, meta, ids)
    return assemble(sensor=meta.sensor, level=meta.level, date=meta.when.date(), grid=grid, reflective=reflective, names=names,
                    thermal=thermal, decoded=decoded, saturated=saturated,
                    scene_id=meta.scene_id, folder=folder, sun_elevation=meta.sun_elevation, sun_azimuth=meta.sun_azimuth,
                    scale_fix=fixes["scale_fix"], small_fix=fixes["small_fix"], cloud_buffer=cloud_buffer,
                    product_buffers_cloud=decoded is not None and decoded.attrs.get("source") == "QA_PIXEL")


def _warn_no_thermal(folder: Path, meta: _Meta, ids: dict) -> None:
    """Warn that a scene screened spectrally lacks its thermal band. irrmap follows Fmask's mode without a thermal band
    (Fmask 4.0, Qiu, Zhu & He 2019, Remote Sens. Environ. 231:111205, runs Sentinel-2 without one; python-fmask's
    Sentinel-2 path likewise skips the brightness-temperature tests) rather than refusing, as Sentinel-2 is screened:
    the cloud tests then rest on reflectance alone (no BT < 27 C in the potential-cloud test, no temperature
    probability over water or land, no cold-cloud test, no BT for the cloud heights and the snow test), which
    flags other pixels cloud and shadow than with the band: on the 1997 Flathead TM scene without B6, 2,763 pixels (2.5 km2)
    of cloud over the lake became water and the water area rose from 2.98 to 4.62 km2 (docs/water.md)."""
    band = f"B{ids['thermal'].split('_')[0]}"
    log.warning("%s: no thermal band (%s) of %s, so the cloud screen runs without its brightness-temperature tests (Fmask's mode "
                "without a thermal band, as for Sentinel-2): clouds over water are then missed and mapped as water (1997 Flathead "
                "TM: 2.5 km2 flagged cloud with B6 is water without it; water 4.62 instead of 2.98 km2), and other cloud, shadow and "
                "clear pixels change (fix: put the scene's %s file, the MTL's FILE_NAME_BAND_%s, beside the other band files)",
                folder, band, meta.scene_id, band, ids["thermal"])


def _scale_fixes(mtl_path: Path, meta: _Meta, files: dict, espa: bool) -> dict:
    """The fixes (assemble's scale_fix and small_fix) for band files the MTL's calibration does not turn into
    reflectance 0..1: a Landsat folder has no scale to set, so the MTL does not match its band files (renamed
    band files beside another scene's, sensor's or product level's MTL); for an 8-bit sensor's Level-1 MTL the
    band files' data type is named too."""
    from irrmap.core.raster_read import open_raster

    product = f"the {meta.sensor} {'Collection 1 ESPA ' if espa else ''}Level-{meta.level[-1]} product {meta.scene_id}"
    dn = ""
    if meta.level == "L1" and QCALMAX_DEFAULT.get(family(meta.sensor)) == 255:
        with open_raster(files["blue"]) as src:
            dtype = src.dtypes[0]
        if dtype != "uint8":
            dn = f"; its DN are 8-bit (0..255), but the band files hold {dtype} values, as another sensor's (e.g. OLI's 16-bit) DN"
    stack = ('or write the bands as a scene stack (one GeoTIFF, bands described blue, green, red, nir, swir1, swir2, with a sidecar '
             f'<stem>.json: "date": "{meta.when.date()}", "sensor": "{meta.sensor}", "level": "{meta.level}", "scale": {{scale}}, '
             f'"offset": 0, "sun_elevation": {meta.sun_elevation}, "sun_azimuth": {meta.sun_azimuth}; docs/water.md)')
    original = f"use the original Level-{meta.level[-1]} band files with their MTL {mtl_path.name}"
    converted = (f"the band files look already converted to reflectance (floats 0..1), so {mtl_path.name}'s calibration of "
                 f"{product}'s digital numbers would convert them twice: {original}, {stack.format(scale=1)}")

    def fix() -> str:
        """The text for stored values the MTL does not turn into reflectance 0..1: reflectance stored with a decimal factor
        (irrmap.core.stored_scale on the brightest band's 99.9th percentile: percent, x 1,000 or x 1e4, up to 16000, reflectance 1.6) named
        first, else the mismatched MTL."""
        from irrmap.core.stored_scale import X1000_TOP, stored_scale

        top = None  # the brightest band's: a dark band (blue) alone may look x 1,000; stop once one is beyond that
        for n in ("blue", "nir", "swir1", "red", "green", "swir2"):
            t = _stored_top(files[n]) if files.get(n) is not None else None
            top = t if top is None or (t is not None and t > top) else top
            if top is not None and top > X1000_TOP:
                break
        stored = stored_scale(top) if top is not None and top <= REFLECTANCE_X1E4_TOP and not dn else None
        x1e4 = ""
        if stored is not None:
            x1e4 = (f"the band files look already converted to reflectance {stored.name} (stored values up to {top:g}; "
                    f"{meta.sensor} Level-{meta.level[-1]} digital numbers are calibrated otherwise): {original}, "
                    f"{stack.format(scale=f'{stored.scale:g}')}; or ")
        return (f"{x1e4}the MTL does not match the band files: {mtl_path.name} describes {product}{dn}, and its calibration does not "
                "turn these band files into reflectance 0..1 (band files already converted to reflectance, renamed, or of another "
                "sensor, scene or processing level); put the MTL of the scene the band files come from beside them, one scene per "
                f"folder, or {original}")

    return {"scale_fix": fix, "small_fix": fix, "converted_fix": converted}  # computed only when a check fails


#: reflectance x 1e4 stored as integers stays below 16000 (reflectance 1.6, irrmap.sources.scene.REFLECTANCE_MAX)
REFLECTANCE_X1E4_TOP = 16000


def _stored_top(path: Path) -> float | None:
    """The 99.9th percentile of the stored non-zero values of a decimated read of `path` (None when it has none)."""
    from irrmap.core.raster_read import open_raster

    with open_raster(path) as src:
        step = max(1, max(src.height, src.width) // 256)
        raw = src.read(1, out_shape=(max(1, src.height // step), max(1, src.width // step))).astype(np.float64)
    raw = raw[np.isfinite(raw) & (raw != 0)]
    return float(np.percentile(raw, 99.9)) if raw.size else None


def _metadata(mtl: Mtl, folder: Path) -> _Meta:
    craft, instrument = mtl.get("SPACECRAFT_ID"), mtl.get("SENSOR_ID")
    digit = re.search(r"(\d)$", craft or "")
    letter = _SENSOR_LETTER.get((instrument or "").upper())
    if not digit or not letter:
        raise InputError(f"unsupported Landsat spacecraft/sensor {craft!r}/{instrument!r}", str(mtl.path),
                         "irrmap reads Landsat 4-5 TM, 7 ETM+ and 8-9 OLI(/TIRS) scenes")
    sensor = f"L{letter}0{digit.group(1)}"
    family(sensor)
    day = mtl.first("DATE_ACQUIRED", "ACQUISITION_DATE")
    if day is None:
        raise InputError("no DATE_ACQUIRED / ACQUISITION_DATE", str(mtl.path), "the MTL file is damaged; download it again")
    clock = re.match(r"(\d\d):(\d\d):(\d\d)", mtl.first("SCENE_CENTER_TIME", "SCENE_CENTER_SCAN_TIME") or "12:00:00")
    when = datetime.datetime.fromisoformat(f"{day}T{':'.join(clock.groups())}+00:00")
    collection = int(mtl.number("COLLECTION_NUMBER") or 0)
    processing = mtl.get("PROCESSING_LEVEL") or ""
    espa = collection == 1 and any(p.name.lower().endswith("_sr_band2.tif") for p in folder.iterdir())
    level = "L2" if processing.startswith("L2") or espa else "L1"
    scene_id = mtl.first("LANDSAT_PRODUCT_ID", "LANDSAT_SCENE_ID") or mtl.path.name.rsplit("_MTL", 1)[0]
    elevation = mtl.number("SUN_ELEVATION")
    cal.check_sun_elevation(elevation, str(mtl.path))  # night scenes / corrupt metadata: no reflectance, at any level
    return _Meta(sensor, level, collection, when, elevation, mtl.number("SUN_AZIMUTH"), scene_id)


_PRODUCT_ID = re.compile(r"^(L[COTEM]0[4-9])_L[12]\w{2}_(\d{6})_(\d{8})_", re.IGNORECASE)  # LC08_L1TP_041027_20150604_...
_SCENE_ID = re.compile(r"^L([COTEM])([4-9])(\d{6})(\d{4})(\d{3})", re.IGNORECASE)  # LT50410271997153PAC02


def file_identity(name: str) -> tuple[str, str, datetime.date] | None:
    """(sensor code, WRS path/row "PPPRRR", acquisition date) read from a Landsat file name that starts with a
    Collection product id or a pre-collection scene id; None for a name that starts with neither."""
    if m := _PRODUCT_ID.match(name):
        day = m.group(3)
        try:
            return m.group(1).upper(), m.group(2), datetime.date(int(day[:4]), int(day[4:6]), int(day[6:]))
        except ValueError:
            return None
    if m := _SCENE_ID.match(name):
        try:
            day = datetime.date(int(m.group(4)), 1, 1) + datetime.timedelta(days=int(m.group(5)) - 1)
        except ValueError:
            return None
        return f"L{m.group(1).upper()}0{m.group(2)}", m.group(3), day
    return None


def _check_identity(files: dict, mtl: Mtl, meta: _Meta, folder: Path) -> None:
    """InputError when a band file's name says it belongs to another scene than the MTL describes: another
    sensor than SPACECRAFT_ID/SENSOR_ID (an LT05 MTL beside LC08 bands would be read with TM's band numbers), or,
    for a file neither listed in the MTL (FILE_NAME_*) nor named after its LANDSAT_PRODUCT_ID / LANDSAT_SCENE_ID,
    another path/row or date. Names that carry no Landsat id (renamed files) are not checked."""
    path_, row = mtl.first("WRS_PATH"), mtl.first("WRS_ROW", "STARTING_ROW")
    try:
        pathrow = f"{int(float(path_)):03d}{int(float(row)):03d}" if path_ and row else None
    except ValueError:
        pathrow = None
    expected = f"{meta.sensor} path/row {pathrow or '?'} of {meta.when.date()}"
    own_ids = tuple(i.upper() for i in (mtl.get("LANDSAT_PRODUCT_ID"), mtl.get("LANDSAT_SCENE_ID")) if i)
    listed = {v.upper() for items in mtl.groups.values() for k, v in items.items() if "FILE_NAME" in k}
    for file in (f for f in files.values() if f is not None):
        ident = file_identity(file.name)
        if ident is None:
            continue
        sensor, where, day = ident
        own = file.name.upper() in listed or file.name.upper().startswith(own_ids) if own_ids or listed else False
        if sensor != meta.sensor or (not own and ((pathrow and where != pathrow) or day != meta.when.date())):
            raise InputError(f"band file {file.name} is of {sensor} path/row {where} of {day}, but the MTL {mtl.path.name} describes "
                             f"{meta.scene_id} ({expected})", str(folder),
                             "put each scene's own MTL beside its band files, one scene per folder")
    _check_product(files, mtl, meta, folder)


_PRODUCT_LEVEL = re.compile(r"^L[COTEM]0[4-9]_L([12])\w{2}_\d{6}_\d{8}_\d{8}_(\d{2})_", re.IGNORECASE)  # ..._L2SP_..._02_T1
_LEVEL2_SUFFIX = re.compile(r"_(?:SR|ST)_B\d+\.TIF$|_(?:sr|bt)_band\d+\.tif$", re.IGNORECASE)  # C2 SR_B4 / ST_B10, ESPA sr_band4


def _check_product(files: dict, mtl: Mtl, meta: _Meta, folder: Path) -> None:
    """InputError when a band file's name says it is of another processing level or collection than the MTL:
    a Collection 2 Level-2 product id (..._L2SP_..._02_T1) or surface-reflectance suffix (_SR_B4.TIF, _ST_B10.TIF,
    ESPA _sr_band4.tif) beside a Level-1 MTL, a Level-1 id beside a Level-2 MTL, or a product id of Collection 1 beside
    a Collection 2 MTL (and back). The digital numbers would be converted with the other product's scale and
    offset without any error: Collection 2 SR (x 2.75e-5 - 0.2) read as Level-1 DN (REFLECTANCE_MULT 2e-5, ADD
    -0.1, / sin(sun elevation)) is biased by +0.05..+0.1 in every band, and the Flathead water area fell from 29.8
    to 2.6 km2. Names without a product id or level suffix (renamed files) are checked by value only
    (irrmap.sources.scene.check_reflectance_scale)."""
    for file in (f for f in files.values() if f is not None):
        m = _PRODUCT_LEVEL.match(file.name)
        # the suffix first: ESPA Collection 1 SR files carry the Level-1 product id (LC08_L1TP_..._01_T1_sr_band4.tif)
        level = "L2" if _LEVEL2_SUFFIX.search(file.name) else f"L{m.group(1)}" if m else None
        collection = int(m.group(2)) if m else None
        says = []
        if level is not None and level != meta.level:
            says.append(f"Level-{level[-1]}")
        if collection is not None and meta.collection and collection != meta.collection:
            says.append(f"Collection {collection}")
        if says:
            raise InputError(f"band file {file.name} is of a {' '.join(says)} product, but the MTL {mtl.path.name} describes the "
                             f"Collection {meta.collection or 'pre-collection'} Level-{meta.level[-1]} product {meta.scene_id}: its "
                             "digital numbers would be converted with the wrong scale and offset", str(folder),
                             "put the MTL of the product the band files come from beside them (a Collection 2 Level-2 product's "
                             "*_MTL.txt for SR_B* files), one product per folder")


def _check_grids(files: dict, ids: dict, folder: Path, extra: Path | None = None) -> Grid:
    """The grid the band files share (that of blue); InputError naming the first file on another grid (a band
    cropped, reprojected or warped to another resolution). Every band of a Landsat product is delivered on one
    grid: USGS resamples the 60/100/120 m thermal bands to 30 m in Level-1 and Level-2 products, and the 15 m
    panchromatic band is not read; reading mixed grids would resample the odd band silently."""
    ref = Grid.from_raster(files["blue"])
    others = [(f"B{ids[n]}", f) for n, f in files.items() if f is not None and n != "blue"]
    if extra is not None:
        others.append(("the quality band", extra))
    for label, f in others:
        g = Grid.from_raster(f)
        if not g.aligned_with(ref):
            raise InputError(f"{label} ({f.name}) is not on the grid of B{ids['blue']} ({files['blue'].name}): {g.mismatch_text(ref)}", str(folder),
                             "use the product's band files as delivered (all bands of one Landsat product share one grid), "
                             "or resample every band onto one grid first")
    return ref


def _old_id(band_id: str) -> str:
    """The pre-2012 MTL's band id ("6_VCID_1" -> "61")."""
    return band_id.replace("_VCID_", "")


def _suffix_match(folder: Path, *suffixes: str) -> Path | None:
    """The one file in `folder` whose name ends with one of `suffixes` (case-insensitive); None if none;
    InputError if several."""
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.name.lower().endswith(tuple(s.lower() for s in suffixes)))
    if len(found) > 1:
        raise InputError(f"several files match *{suffixes[0]}: {', '.join(p.name for p in found)}", str(folder), "put one scene per folder")
    return found[0] if found else None


def _band_file(folder: Path, mtl: Mtl, band_id: str, meta: _Meta, espa: bool, *, thermal: bool) -> Path | None:
    number = band_id.split("_")[0]
    if espa:
        return _suffix_match(folder, f"_bt_band{number}.tif" if thermal else f"_sr_band{number}.tif")
    key = f"FILE_NAME_BAND_ST_B{number}" if meta.level == "L2" and thermal else f"FILE_NAME_BAND_{band_id}"
    named = mtl.first(key, f"BAND{_old_id(band_id)}_FILE_NAME")
    if named and (folder / named).is_file():
        return folder / named
    if meta.level == "L2":
        return _suffix_match(folder, f"_ST_B{number}.TIF" if thermal else f"_SR_B{number}.TIF")
    return _suffix_match(folder, f"_B{band_id}.TIF")


def _blue_file(folder: Path, mtl: Mtl, meta: _Meta, espa: bool) -> Path:
    return _band_file(folder, mtl, band_ids(meta.sensor, ["blue"])["blue"], meta, espa, thermal=False)


def _number(mtl: Mtl, key: str, group: str | None = None) -> float:
    value = mtl.number(key, group)
    if value is None:
        raise InputError(f"the MTL has no {key}" + (f" in {group}" if group else ""), str(mtl.path), "the MTL file is incomplete; download it again")
    return value


def _level1(mtl: Mtl) -> Mtl:
    """The MTL without its LEVEL2_* groups, whose keys (REFLECTANCE_MULT_BAND_n, QUANTIZE_CAL_MAX_BAND_n) repeat
    the Level-1 names with surface-reflectance values."""
    return Mtl(mtl.path, {g: v for g, v in mtl.groups.items() if not g.startswith("LEVEL2_")})


def _radiance_line(mtl: Mtl, band_id: str) -> cal.Linear:
    """DN -> radiance from RADIANCE_MULT/ADD, else from LMAX/LMIN/QCALMAX/QCALMIN (new or pre-2012 keys)."""
    l1 = _level1(mtl)
    mult, add = l1.number(f"RADIANCE_MULT_BAND_{band_id}"), l1.number(f"RADIANCE_ADD_BAND_{band_id}")
    if mult is not None and add is not None:
        return cal.Linear(mult, add, "RADIANCE_MULT/ADD")
    old = _old_id(band_id)
    keys = [(f"RADIANCE_MAXIMUM_BAND_{band_id}", f"LMAX_BAND{old}"), (f"RADIANCE_MINIMUM_BAND_{band_id}", f"LMIN_BAND{old}"),
            (f"QUANTIZE_CAL_MAX_BAND_{band_id}", f"QCALMAX_BAND{old}"), (f"QUANTIZE_CAL_MIN_BAND_{band_id}", f"QCALMIN_BAND{old}")]
    values = [l1.first(*k) for k in keys]
    if None in values:
        raise InputError(f"no radiance calibration for band {band_id} (RADIANCE_MULT/ADD or LMAX/LMIN/QCALMAX/QCALMIN)", str(mtl.path),
                         "the MTL file is incomplete; download it again")
    return cal.radiance_from_range(*(float(v) for v in values))


def _toa_line(mtl: Mtl, meta: _Meta, band_id: str) -> cal.Linear:
    """DN -> TOA reflectance of one reflective band, in whichever form the MTL supports."""
    if meta.sun_elevation is None:
        raise InputError("the MTL has no SUN_ELEVATION", str(mtl.path), "the MTL file is incomplete; download it again")
    view = _level1(mtl)
    mult, add = view.number(f"REFLECTANCE_MULT_BAND_{band_id}"), view.number(f"REFLECTANCE_ADD_BAND_{band_id}")
    if mult is not None and add is not None:
        return cal.reflectance_from_rescaling(mult, add, meta.sun_elevation)
    esun = cal.ESUN.get(meta.sensor, {}).get(band_id)
    half = (mult is None) != (add is None)  # one of the pair: the MTL is damaged, no offset is guessed
    if esun is None:
        what = (f"REFLECTANCE_{'ADD' if add is None else 'MULT'}_BAND_{band_id} is missing (its REFLECTANCE_{'MULT' if add is None else 'ADD'} "
                "is there)" if half else f"no REFLECTANCE_MULT_BAND_{band_id}")
        raise InputError(f"{what} and {meta.sensor} has no published ESUN to compute TOA reflectance from radiance instead; no "
                         "reflectance offset is assumed", str(mtl.path),
                         "use the scene's complete Collection 1 or 2 MTL, which carries REFLECTANCE_MULT and REFLECTANCE_ADD of every band")
    if half:
        log.warning("%s: REFLECTANCE_%s_BAND_%s is missing; TOA reflectance of band %s is computed from radiance instead (RADIANCE_* or "
                    "LMAX/LMIN, ESUN %g of Chander et al. 2009), no reflectance offset assumed (fix: use the scene's complete MTL)",
                    mtl.path, "ADD" if add is None else "MULT", band_id, band_id, esun)
    d = view.number("EARTH_SUN_DISTANCE") or cal.earth_sun_distance(meta.when)
    return cal.reflectance_from_radiance(_radiance_line(mtl, band_id), esun, meta.sun_elevation, d)


def _read(path: Path, grid: Grid, name: str, line: cal.Linear, *, nodata, valid_range=None, converted_fix=None) -> xr.DataArray:
    """`path` read and calibrated with `line`. With `converted_fix` (reflective bands), float values that already look
    converted are refused with that fix (irrmap.sources.scene.check_band_converted) instead of read_raster's generic
    text, which names --scale / --preset / a config `scale` that a scene folder does not have."""
    if converted_fix is not None:
        check_band_converted(path, scale=line.gain, offset=line.offset, nodata=nodata, where=f"{path.parent}: {path.name}",
                             fix=converted_fix)
    out = read_raster(path, grid, kind="continuous", nodata=nodata, scale=line.gain, offset=line.offset, valid_range=valid_range, name=name,
                      warn_scaled=converted_fix is None)
    out.attrs.update({"calibration": line.form, "gain": line.gain, "offset": line.offset, "units": "1"})
    return out


def _thermal(path: Path | None, grid: Grid, mtl: Mtl, meta: _Meta, band_id: str, espa: bool) -> xr.DataArray | None:
    """Brightness temperature (L1, ESPA L2) or surface temperature (C2 L2) in kelvin, or None without a file."""
    if path is None:
        return None
    if espa:
        return _kelvin(_read(path, grid, "thermal", cal.Linear(C1_BT_SCALE, 0.0, "C1 BT x 0.1"), nodata=C1_FILL), "brightness_temperature")
    if meta.level == "L2":
        number = band_id.split("_")[0]
        group = "LEVEL2_SURFACE_TEMPERATURE_PARAMETERS"
        gain = mtl.number(f"TEMPERATURE_MULT_BAND_ST_B{number}", group)
        offset = mtl.number(f"TEMPERATURE_ADD_BAND_ST_B{number}", group)
        form = "C2 ST scale/offset"
        if gain is None or offset is None:  # `is None`, not `or`: a stated 0 is not replaced
            log.warning("%s: the MTL has no TEMPERATURE_MULT/ADD_BAND_ST_B%s in %s; assumed the Collection 2 surface temperature scale %g "
                        "and offset %g K (USGS LSDS-1619 / LSDS-1618) (fix: use the product's complete MTL)", mtl.path, number, group, *C2_ST)
            gain, offset = gain if gain is not None else C2_ST[0], offset if offset is not None else C2_ST[1]
            form += " (LSDS-1619 constants assumed)"
        return _kelvin(_read(path, grid, "thermal", cal.Linear(gain, offset, form), nodata=0), "surface_temperature")
    radiance = _read(path, grid, "thermal", _radiance_line(mtl, band_id), nodata=0)
    k1, k2 = mtl.number(f"K1_CONSTANT_BAND_{band_id}"), mtl.number(f"K2_CONSTANT_BAND_{band_id}")
    source = "MTL"
    if k1 is None or k2 is None:
        if meta.sensor not in cal.THERMAL_K:
            raise InputError(f"the MTL has no K1/K2_CONSTANT_BAND_{band_id}", str(mtl.path), "the MTL file is incomplete; download it again")
        (k1, k2), source = cal.THERMAL_K[meta.sensor], "Chander et al. 2009"
    bt = xr.apply_ufunc(cal.brightness_temperature, radiance, kwargs={"k1": k1, "k2": k2}, dask="parallelized", output_dtypes=[np.float32])
    bt.attrs.update({"calibration": f"{radiance.attrs['calibration']}; K2 / ln(K1 / L + 1), K1 {k1:g}, K2 {k2:g} ({source})"})
    return _kelvin(bt, "brightness_temperature")


def _kelvin(da: xr.DataArray, quantity: str) -> xr.DataArray:
    da = da.rename("thermal")
    da.attrs.update({"units": "K", "quantity": quantity})
    return da


def _saturated(reflective: dict, lines: dict, mtl: Mtl, meta: _Meta, ids: dict) -> dict:
    """{"blue", "green", "red"} -> True where the band sits at the reflectance of its QCALMAX (the largest DN)."""
    out = {}
    for n in ("blue", "green", "red"):
        qmax = _level1(mtl).first(f"QUANTIZE_CAL_MAX_BAND_{ids[n]}", f"QCALMAX_BAND{_old_id(ids[n])}")
        qmax = float(qmax) if qmax is not None else QCALMAX_DEFAULT[family(meta.sensor)]
        out[n] = reflective[n] >= np.float32(np.float64(qmax) * lines[n].gain + lines[n].offset)  # the reader's arithmetic
    return out


def _quality(folder: Path, mtl: Mtl, meta: _Meta, espa: bool, grid: Grid) -> xr.DataArray | None:
    """Decoded quality codes of the scene's QA band, or None (no QA band irrmap decodes: screen the scene)."""
    oli = family(meta.sensor) == "OLI"
    if espa:
        product, path = "pixel_qa", _suffix_match(folder, "_pixel_qa.tif")
    elif meta.collection >= 2:
        named = mtl.get("FILE_NAME_QUALITY_L1_PIXEL")
        product, path = "QA_PIXEL", folder / named if named and (folder / named).is_file() else _suffix_match(folder, "_QA_PIXEL.TIF")
    else:
        named = mtl.get("FILE_NAME_BAND_QUALITY")
        product, path = "BQA", folder / named if named and (folder / named).is_file() else _suffix_match(folder, "_BQA.TIF")
        if path is not None and meta.collection == 0:
            log.warning("%s: the pre-collection BQA of %s has another bit layout than Collection 1 and is not decoded; the scene is "
                        "screened spectrally instead (fix: use the scene's Collection 1 or 2 product)", path, meta.scene_id)
            return None
    if path is not None:
        _check_grids({"blue": _blue_file(folder, mtl, meta, espa)}, band_ids(meta.sensor, ["blue"]), folder, extra=path)
    if path is None:
        if meta.level == "L2":
            log.warning("%s: no %s file; the scene is screened spectrally on surface reflectance, with thresholds set for "
                        "top-of-atmosphere reflectance (fix: keep the product's %s file with its bands)", folder, product, product)
        return None
    return qa.decode(read_raster(path, grid, kind="categorical", resampling=categorical_resampling(path, grid), name="qa"), product, oli=oli)
