"""Scene stacks: one acquisition as a multiband GeoTIFF whose band descriptions are the common band names
(irrmap.sources.bands: blue, green, red, nir, swir1, swir2), with a sidecar JSON that says what a Landsat MTL
would. Analysis-ready exports (one image's bands exported from Earth Engine, the demo's Landsat-like epochs)
come in this form.

The sidecar is `<stack stem>.json` beside the stack (`epoch1_1995.tif` -> `epoch1_1995.json`):

    {"date": "1995-07-01", "sensor": "LT05", "level": "L2", "scale": 0.0001, "offset": 0.0,
     "sun_elevation": 60.0, "sun_azimuth": 135.0, "scene_id": "demo_epoch1_1995"}

- `date` (ISO date, required): the acquisition date;
- `sensor` (default "unknown"): a product code (LT05, LE07, LC08, S2A, ...) or any label; it is recorded, and
  decides the bit layout of a Landsat QA band (8/9 or 4-7): with a BQA, QA_PIXEL or pixel_qa band it must name a
  Landsat sensor, as a product code or a common label ("Landsat 8", "L8", "LC8", "OLI", "Landsat 7", "ETM+", "TM",
  ...; irrmap.sources.bands.label_family), else InputError listing the accepted labels;
- `level` ("L1" top-of-atmosphere or "L2" surface reflectance, default "L2");
- `scale`, `offset`: stored value x scale + offset = reflectance 0..1 (default: each band's own GDAL scale and
  offset, 1 and 0 when the file has none);
- `nodata` (optional number): the stored fill value, replacing the file's nodata. Without it, stored 0 is fill (as
  well as the file's nodata) when the scale and offset are those of a product whose fill is 0 (ZERO_FILL: Landsat
  Collection 2 Level-2 SR x 2.75e-5 - 0.2, USGS LSDS-1619 / LSDS-1618 "fill value 0"; Sentinel-2 L2A from baseline
  04.00 x 1e-4 - 0.1, ESA L2A Product Specification NODATA 0): its 0 converts to -0.2 / -0.1, no reflectance, and
  AWEI calls it water; other stacks have no fill but the file's nodata;
- `sun_elevation`, `sun_azimuth` (degrees, optional): the screen needs them to match cloud shadows.

Quality: a band described as a quality product irrmap decodes (QA_PIXEL, BQA, pixel_qa, SCL; irrmap.sources.qa)
gives the quality layer; without one the spectral screen (irrmap.sources.screen) runs, without its
brightness-temperature tests (a stack carries no thermal band).
"""

from __future__ import annotations

import datetime
import json
import logging
from pathlib import Path

import numpy as np

from irrmap.core.errors import ConfigError, InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_read import open_raster, read_raster
from irrmap.sources import qa
from irrmap.sources.bands import FAMILY, REFLECTIVE, known_labels, label_family
from irrmap.sources.scene import CLOUD_BUFFER_PX, Scene, assemble, categorical_resampling

log = logging.getLogger(__name__)

STACK_SUFFIXES = (".tif", ".tiff")
LEVELS = ("L1", "L2")
#: Landsat 8 / 9 OLI: Level-1 digital numbers are 16-bit (USGS LSDS-1822), land medians in the thousands; a brightest-band
#: median from this value on, in a stack declared L1 OLI, is taken for digital numbers in scale_fix
OLI_SENSORS = ("LC08", "LC09", "LO08", "LO09")
OLI_DN_MEDIAN = 5000.0
_KEYS = {"date", "sensor", "level", "scale", "offset", "nodata", "sun_elevation", "sun_azimuth", "scene_id"}


def sidecar(path) -> Path:
    """The sidecar JSON of the stack at `path` (`<stem>.json` in the same folder)."""
    return Path(path).with_suffix(".json")


def is_stack(path) -> bool:
    """True when `path` is a GeoTIFF file (the sidecar is checked by `read_stack`)."""
    path = Path(path)
    return path.is_file() and path.suffix.lower() in STACK_SUFFIXES


def _metadata(path: Path) -> dict:
    side = sidecar(path)
    fix = f'write {side.name} beside the stack, e.g. {{"date": "2020-07-01", "sensor": "LC08", "level": "L2", "scale": 0.0001}}'
    if not side.is_file():
        raise InputError(f"a scene stack needs its sidecar {side.name}", str(path), fix)
    try:
        meta = json.loads(side.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", str(side), fix) from None
    if not isinstance(meta, dict):
        raise InputError("the sidecar is not a JSON object", str(side), fix)
    unknown = sorted(set(meta) - _KEYS)
    if unknown:
        raise InputError(f"unknown key(s) {unknown}", str(side), f"use only {sorted(_KEYS)}")
    try:
        meta["date"] = datetime.date.fromisoformat(str(meta["date"]))
    except KeyError:
        raise InputError("no `date`", str(side), fix) from None
    except ValueError:
        raise InputError(f"date {meta['date']!r} is not an ISO date (YYYY-MM-DD)", str(side), fix) from None
    meta.setdefault("level", "L2")
    if meta["level"] not in LEVELS:
        raise InputError(f"level {meta['level']!r} is not L1 or L2", str(side), "L1: top-of-atmosphere reflectance, L2: surface reflectance")
    for key in ("scale", "offset", "nodata", "sun_elevation", "sun_azimuth"):
        if meta.get(key) is not None and not isinstance(meta[key], (int, float)):
            raise InputError(f"`{key}` is {meta[key]!r}, not a number", str(side), fix)
    if meta.get("sun_elevation") is not None:
        from irrmap.sources.calibration import check_sun_elevation

        check_sun_elevation(float(meta["sun_elevation"]), str(side), key="`sun_elevation`")
    return meta


def _check_identity(path: Path, meta: dict) -> None:
    """InputError when the stack's file name or the sidecar's scene_id is a Landsat id (irrmap.sources.landsat.
    file_identity) of another sensor or date than the sidecar's `sensor` / `date`: the sidecar of another scene
    would date it and pick its QA bit layout."""
    from irrmap.sources.landsat import file_identity

    for label, name in (("file name", path.name), ("scene_id", str(meta.get("scene_id", "")))):
        ident = file_identity(name)
        if ident is None:
            continue
        sensor, _pathrow, day = ident
        given = str(meta.get("sensor", ""))
        if given.upper() in FAMILY:  # a product code: the same code
            wrong_sensor = given.upper() != sensor
        else:  # a common label ("Landsat 8"): the same instrument family; an unknown label is not compared
            wrong_sensor = label_family(given) not in (None, FAMILY[sensor])
        if wrong_sensor or day != meta["date"]:
            raise InputError(f"the stack's {label} {name} is of {sensor} on {day}, but {sidecar(path).name} says "
                             f"{meta.get('sensor', 'sensor unknown')} on {meta['date']}", str(path),
                             "give each stack its own sidecar (sensor and date of the scene it holds)")


#: Landsat Collection 2 Level-2 surface reflectance: DN x 2.75e-5 - 0.2 (USGS LSDS-1619 / LSDS-1618); a stack with
#: this scale and no offset anywhere (sidecar or file) holds C2 SR digital numbers whose -0.2 was left out
C2_SR_SCALE, C2_SR_OFFSET = 2.75e-5, -0.2
#: (scale, offset) -> the product whose stored 0 is fill by its definition (module docstring, `nodata`)
ZERO_FILL = {(C2_SR_SCALE, C2_SR_OFFSET): "Landsat Collection 2 Level-2 SR, fill 0 (USGS LSDS-1619 / LSDS-1618)",
             (1e-4, -0.1): "Sentinel-2 L2A baseline >= 04.00, NODATA 0 (ESA S2 L2A Product Specification)"}


def _zero_fill_product(scale: float, offset: float) -> str | None:
    return next((p for (s, o), p in ZERO_FILL.items() if abs(scale - s) <= 1e-6 * s and abs(offset - o) <= 1e-9), None)


def _conversion(path: Path, meta: dict, bands: dict) -> dict:
    """name -> (scale, offset, description, nodata, fill_values) that turn each band's stored values into reflectance:
    the sidecar's `scale` / `offset`, else the band's own GDAL scale / offset, else 1 / 0 (module docstring);
    `nodata`: the sidecar's `nodata` (replacing the file's) or None (the file's own); `fill_values`: (0,) for a
    ZERO_FILL product when the sidecar gives no `nodata` (stored 0 is fill besides the file's nodata), else ().
    What was assumed
    is logged; InputError when the scale is Landsat Collection 2 Level-2's (C2_SR_SCALE) but no offset is given
    in the sidecar or the file: the offset 0 assumed would add +0.2 to every reflectance (C2_SR_OFFSET left out),
    which turns the cloud, snow and water tests on 0..1 reflectance wrong."""
    side = sidecar(path)
    with open_raster(path) as src:
        scales, offsets, nodatas = list(src.scales or []), list(src.offsets or []), list(src.nodatavals or [])
    out, assumed, zero_fill = {}, [], set()
    for name, band in bands.items():
        file_scale = scales[band - 1] if band <= len(scales) and scales[band - 1] else 1.0
        file_offset = offsets[band - 1] if band <= len(offsets) and offsets[band - 1] else 0.0
        has_file_offset = band <= len(offsets) and bool(offsets[band - 1])
        scale = float(meta["scale"]) if meta.get("scale") is not None else float(file_scale)
        offset = float(meta["offset"]) if meta.get("offset") is not None else float(file_offset)
        if meta.get("offset") is None and not has_file_offset:
            if abs(scale - C2_SR_SCALE) <= 1e-9 * C2_SR_SCALE:
                raise InputError(f"scale {scale:g} is Landsat Collection 2 Level-2 surface reflectance's (x 2.75e-5 - 0.2), but neither "
                                 f"{side.name} nor the band {name} gives an offset, so 0 would be assumed and every reflectance be "
                                 "0.2 too high", str(side), f'set "offset": {C2_SR_OFFSET} in {side.name} (USGS LSDS-1619)')
            assumed.append(name)
        source = "sidecar" if meta.get("scale") is not None else "file" if band <= len(scales) and scales[band - 1] not in (None, 1.0) else "default"
        nodata, fills = meta.get("nodata"), ()
        product = _zero_fill_product(scale, offset) if nodata is None else None
        if product is not None and (band > len(nodatas) or nodatas[band - 1] != 0):
            fills = (0,)
            zero_fill.add(product)
        out[name] = (scale, offset, f"stack x {scale:g} ({source}) + {offset:g}" + (" (no offset given: 0 assumed)" if name in assumed else ""),
                     nodata, fills)
    if zero_fill:
        log.info("%s: stored 0 read as fill (besides the file's nodata, if any), as the scale and offset are those of %s", path,
                 "; ".join(sorted(zero_fill)))
    if assumed:
        log.info("%s: no reflectance offset in %s nor in the file for %s; assumed 0 (stored value x scale = reflectance); set \"offset\" "
                 "in the sidecar if the product has one (Landsat Collection 2 Level-2: -0.2)", path, side.name, ", ".join(assumed))
    return out


def read_stack(path, *, grid: Grid | None = None, bands=None, cloud_buffer: int = CLOUD_BUFFER_PX) -> Scene:
    """The scene stack at `path` (module docstring) as a Scene on `grid` (default: the stack's own grid).

    `bands`: common reflective names to return (default all six). `cloud_buffer`: pixels by which cloud and cloud
    shadow (screen or QA band; QA_PIXEL's cloud already dilated: its shadow only) are dilated
    (irrmap.sources.scene.CLOUD_BUFFER_PX, Fmask's 3; 0 off). Raises InputError for a missing or bad
    sidecar, a stack without a band described as each of blue, green, red, nir, swir1, swir2, a Landsat QA band
    with a `sensor` naming no Landsat sensor (_qa_family), or bands that are no reflectance 0..1
    (irrmap.sources.scene.check_reflectance_scale, with scale_fix's fix); ConfigError for a band name outside those
    six (a stack has no thermal band)."""
    path = Path(path)
    meta = _metadata(path)
    _check_identity(path, meta)
    names = list(bands) if bands is not None else list(REFLECTIVE)
    bad = [n for n in names if n not in REFLECTIVE]
    if bad:
        raise ConfigError(f"band(s) {bad} are not in a scene stack", "bands", f"a stack holds {', '.join(REFLECTIVE)}")
    with open_raster(path) as src:
        described = {(d or "").strip().casefold(): i for i, d in enumerate(src.descriptions, start=1)}
    missing = [n for n in REFLECTIVE if n not in described]
    if missing:
        raise InputError(f"no band described as {', '.join(missing)} (band descriptions: {sorted(k for k in described if k)})", str(path),
                         f"set the band descriptions to the common names {', '.join(REFLECTIVE)} (gdal_edit.py or rasterio)")
    grid = grid or Grid.from_raster(path)
    lines = _conversion(path, meta, {n: described[n] for n in REFLECTIVE})
    reflective = {}
    for n in REFLECTIVE:
        gain, offset, form, nodata, fills = lines[n]
        # warn_scaled off: the scene's own check (irrmap.sources.scene.check_reflectance_scale) refuses a stack scaled
        # twice with the brightest band's median and the sidecar fix, which read_raster's generic check would pre-empt
        reflective[n] = read_raster(path, grid, kind="continuous", band=described[n], scale=gain, offset=offset, nodata=nodata, fill_values=fills,
                                    name=n,
                                    warn_scaled=False)
        reflective[n].attrs.update({"calibration": form, "gain": gain, "offset": offset, "units": "1"})
    product = next((p for p in qa.DECODERS if p.casefold() in described), None)
    decoded = None
    if product is not None:
        oli = _qa_family(path, meta, product) == "OLI"
        decoded = qa.decode(read_raster(path, grid, kind="categorical", band=described[product.casefold()],
                                        resampling=categorical_resampling(path, grid), name="qa"), product, oli=oli)
    else:
        log.info("%s: no quality band (%s); cloud, shadow and snow come from the spectral screen", path, ", ".join(qa.DECODERS))
    return assemble(sensor=str(meta.get("sensor", "unknown")), level=meta["level"], date=meta["date"], grid=grid, reflective=reflective,
                    names=names, thermal=None, decoded=decoded, saturated=None, scene_id=str(meta.get("scene_id", path.stem)), folder=path,
                    sun_elevation=meta.get("sun_elevation"), sun_azimuth=meta.get("sun_azimuth"),
                    scale_fix=lambda: scale_fix(path, {n: described[n] for n in REFLECTIVE}, lines), cloud_buffer=cloud_buffer,
                    product_buffers_cloud=product == "QA_PIXEL")


def _qa_family(path: Path, meta: dict, product: str) -> str | None:
    """The instrument family that decides the bit layout of the stack's quality band `product`: "TM", "ETM" or "OLI"
    for the Landsat QA bands (BQA, QA_PIXEL, pixel_qa), from the sidecar's `sensor` (irrmap.sources.bands.
    label_family); None for SCL (one layout). InputError when a Landsat QA band comes with a `sensor` that names no
    Landsat sensor: decoding it with the 4-7 layout would drop Landsat 8/9's cirrus bit (clear pixels doubled)."""
    if product == "SCL":
        return None
    fam = label_family(meta.get("sensor", "unknown"))
    if fam not in ("TM", "ETM", "OLI"):
        raise InputError(f"`sensor` {meta.get('sensor', '(missing)')!r} names no Landsat sensor, so the bit layout of the {product} band "
                         "(Landsat 8/9 with cirrus, or 4-7) is unknown", str(sidecar(path)),
                         f'set "sensor" to the scene\'s sensor: {known_labels()}')
    return fam


#: the stored value of surface reflectance 0 in Landsat Collection 2 Level-2 SR (0.2 / 2.75e-5 = 7272.7); a scene's darkest
#: stored values (water in SWIR, reflectance ~0..0.05) lie in C2_DARK_DN: the mark of C2 digital numbers
C2_ZERO_DN = -C2_SR_OFFSET / C2_SR_SCALE
C2_DARK_DN = (C2_ZERO_DN - 0.02 / C2_SR_SCALE, C2_ZERO_DN + 0.06 / C2_SR_SCALE)


def scale_fix(path, bands: dict, lines: dict) -> str:
    """The fix for stored values the stack's scale / offset (`lines`, _conversion) do not turn into reflectance 0..1,
    from a decimated read of the stored values (fill excluded, stored 0 too): Collection 2 SR's "scale": 2.75e-5,
    "offset": -0.2 when the darkest band's 0.1st percentile lies in C2_DARK_DN; the factor of irrmap.core.stored_scale
    (the brightest band's 99.9th percentile and median: "scale": 0.01 for percent, 0.001 for x 1,000, 0.0001 for
    reflectance x 1e4); else the values seen, to choose the scale from the product's documentation. Never the scale and offset already given."""
    from irrmap.core.stored_scale import stored_scale

    path = Path(path)
    side = sidecar(path).name
    scale, offset = lines[next(iter(lines))][:2]
    low, med, top = {}, {}, {}
    with open_raster(path) as src:
        step = max(1, max(src.height, src.width) // 512)
        shape = (max(1, src.height // step), max(1, src.width // step))
        for name, band in bands.items():
            raw = src.read(band, out_shape=shape).astype("float64").ravel()
            fill = lines[name][3] if lines[name][3] is not None else src.nodatavals[band - 1]  # stored 0: excluded below
            raw = raw[np.isfinite(raw) & (raw != 0) & ((raw != fill) if fill is not None else True)]
            if raw.size:
                low[name], med[name], top[name] = float(np.percentile(raw, 0.1)), float(np.median(raw)), float(np.percentile(raw, 99.9))
    given = f"(given: scale {scale:g}, offset {offset:g})"
    if low and C2_DARK_DN[0] <= min(low.values()) <= C2_DARK_DN[1] and _zero_fill_product(scale, offset) is None:
        return (f'set "scale" and "offset" in {side} to "scale": 2.75e-5, "offset": -0.2 {given}: the darkest stored values ({min(low.values()):.0f}) sit near '
                f"{C2_ZERO_DN:.0f} = 0.2 / 2.75e-5, the stored value of reflectance 0 in Landsat Collection 2 Level-2 SR (USGS LSDS-1619)")
    meta = _metadata(path)
    if (med and str(meta.get("level", "")).upper() == "L1" and str(meta.get("sensor", "")).upper() in OLI_SENSORS
            and max(med.values()) >= OLI_DN_MEDIAN):
        return (f"the stored values look like Level-1 OLI digital numbers (brightest median {max(med.values()):.0f}), which no scale "
                f"and offset alone turn into TOA reflectance {given}: convert them first, TOA reflectance = (REFLECTANCE_MULT_BAND_n x DN "
                f"+ REFLECTANCE_ADD_BAND_n) / sin(SUN_ELEVATION) with the scene's MTL values (2.0e-5 and -0.1; USGS LSDS-1822, "
                f"Landsat 8-9 OLI/TIRS Collection 2 Level-1 Data Format Control Book), or give the scene folder with its MTL "
                f"file, which irrmap calibrates itself")
    bright = max(top, key=top.get) if top else None  # the brightest band, by its 99.9th percentile
    stored = stored_scale(top[bright], med[bright]) if bright else None
    if stored is not None and (abs(scale - stored.scale) > 1e-6 * stored.scale or offset != 0):
        return (f'set "scale" and "offset" in {side} to "scale": {stored.scale:g}, "offset": 0 {given}: the stored values look like '
                f"reflectance {stored.name} (brightest band {bright}: median {med[bright]:.4g}, 99.9th percentile {top[bright]:.4g})")
    seen = ", ".join(f"{n} {low[n]:.4g}..{med[n]:.4g}" for n in low)
    return (f'set "scale" and "offset" in {side} {given} to the product\'s, so that stored value x scale + offset is reflectance 0..1 '
            f"(stored values, 0.1st percentile..median: {seen})")
