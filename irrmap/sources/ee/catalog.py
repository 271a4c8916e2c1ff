"""The Earth Engine dataset catalogue: which collection, bands, decoding, quality rule and alignment give each
raster the file source reads, under the same name (the [inputs.NAME] names of the demo config and the composite
names of the [features] stage). No `ee` import: the catalogue is plain data, read by graphs (irrmap.sources.ee.graphs)
and by the fetch planner.

Every scale, offset, fill and valid range is taken from the module that decodes the same product from files
(irrmap.sources.modis PRESETS, irrmap.sources.landsat C2_SR) or, for products irrmap reads only from Earth Engine,
from the Earth Engine Data Catalog page cited beside the entry (https://developers.google.com/earth-engine/datasets/
catalog/<id with / replaced by _>).

How a dataset becomes its outputs (`recipe`):
- "bands": output i is value band i (the bands other than the QA band), masked, scaled, composited over the date
  range with `reducer` (collections) and aligned;
- "vi_stats": MOD13Q1-like; outputs "<band in lower case>_<stat>" with stat max, median or count, the reducer of
  the features stage's annual statistics (irrmap.training.composites);
- "indices": MOD09-like, value bands in the order green, nir, swir; per date GI = nir / green (missing where
  green <= 0 or GI > 15) and NDWI (Gao) = (nir - swir) / (nir + swir) (missing where the sum is 0), then the
  maximum over dates: outputs "gi_max", "ndwi_max" (irrmap.training.indices);
- "class_share": (kind "image") the share (0..1) of source pixels whose class is in `classes`, mean-aggregated
  onto the grid.

Quality rules (`qa`), each reading one band the entry must list:
- "vi_quality": MOD13Q1 VI_Quality (Earth Engine band DetailedQA) under the default irrmap.sources.modis.QARule;
- "qa_pixel" / "qa_pixel_oli": Landsat C2 QA_PIXEL; a pixel is kept when the word flags no fill, cloud, shadow or
  snow (irrmap.sources.qa decoding CLEAR or WATER; "_oli": Landsat 8/9, whose cirrus bit counts as cloud);
- "scl": Sentinel-2 SCL; classes decoded CLEAR or WATER by irrmap.sources.qa.SCL_CODES are kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from irrmap.core.errors import ConfigError
from irrmap.core.number_text import is_number
from irrmap.sources.bands import CATALOGUE as BAND_IDS
from irrmap.sources.bands import REFLECTIVE
from irrmap.sources.landsat import C2_SR
from irrmap.sources.modis import PRESETS

KINDS = ("collection", "image")
RESAMPLINGS = ("nearest", "bilinear", "mean", "mode")
REDUCERS = ("max", "median", "count", "sum", "mean")
RECIPES = ("bands", "vi_stats", "indices", "class_share")
VI_STATS = ("max", "median", "count")
# quality rule -> the band it reads (see the module docstring)
QA_BANDS = {"vi_quality": "DetailedQA", "qa_pixel": "QA_PIXEL", "qa_pixel_oli": "QA_PIXEL", "scl": "SCL"}
# numpy dtype of the written rasters -> the Earth Engine cast that gives it
CASTS = {"float32": "toFloat", "float64": "toDouble", "uint8": "toUint8", "int8": "toInt8", "uint16": "toUint16",
         "int16": "toInt16", "uint32": "toUint32", "int32": "toInt32"}
NODATA_FLOAT = -9999.0  # written for masked pixels of float outputs (Earth Engine has no NaN constant in a graph)


@dataclass(frozen=True)
class EEDataset:
    """One catalogue entry. Physical value = raw * scale + offset. `outputs` are file stems on the run's Grid,
    written as `dtype` with `nodata` where the source has no valid pixel. `resampling`: nearest | bilinear (Earth
    Engine resample) | mean | mode (reduceResolution, for sources finer than the grid). `preset`: the name of the
    irrmap.sources.modis PRESETS entry whose fill values and valid range (raw values) are masked before scaling.
    `fill_masked`: the value given to masked source pixels before alignment (JRC GSW occurrence is masked where
    water was never seen: 0). `native_scale_m`: the source's pixel size in metres (reduceResolution's budget).
    `fill_values` (raw values, e.g. MOD44B Percent_Tree_Cover 200 water and 253 fill) and `valid_range` ((low,
    high) raw values, inclusive) are masked before any reduction, as a preset's are (both when both are given)."""

    name: str
    collection: str
    kind: str
    bands: tuple[str, ...]
    outputs: tuple[str, ...]
    dtype: str
    nodata: float | int | None
    scale: float = 1.0
    offset: float = 0.0
    resampling: str = "nearest"
    qa: str | None = None
    native_scale_m: float = 250.0
    recipe: str = "bands"
    reducer: str = "median"
    classes: tuple[int, ...] = ()
    preset: str | None = None
    fill_masked: float | None = None
    fill_values: tuple[float, ...] = ()
    valid_range: tuple[float, float] | None = None

    @property
    def value_bands(self) -> tuple[str, ...]:
        """The bands holding values: `bands` without the QA rule's band."""
        qa_band = QA_BANDS.get(self.qa) if self.qa else None
        return tuple(b for b in self.bands if b != qa_band)

    def output_stats(self) -> list[tuple[str, str, str]]:
        """("vi_stats" recipe) (output, value band, statistic) of every output."""
        by_name = {b.lower(): b for b in self.value_bands}
        return [(o, by_name[o.rsplit("_", 1)[0]], o.rsplit("_", 1)[1]) for o in self.outputs]


def _ee_s2(band_id: str) -> str:
    """ESA band id (B02, B8A) -> the Earth Engine band name (B2, B8A)."""
    return re.sub(r"^B0", "B", band_id)


def _landsat(name: str, collection: str, family: str, qa: str) -> EEDataset:
    ids = BAND_IDS[family]
    return EEDataset(name, collection, "collection", tuple(f"SR_B{ids[b]}" for b in REFLECTIVE) + ("QA_PIXEL",),
                     REFLECTIVE, "float32", NODATA_FLOAT, scale=C2_SR[0], offset=C2_SR[1], resampling="mean", qa=qa,
                     native_scale_m=30.0)


_MOD13, _MOD09 = PRESETS["mod13q1"], PRESETS["mod09"]
_ENTRIES = (
    # MODIS/061/MOD13Q1: NDVI, EVI int16 x 0.0001, DetailedQA = VI_Quality (MOD13 C6.1 User's Guide, tables 3 and 5)
    EEDataset("mod13q1", "MODIS/061/MOD13Q1", "collection", ("EVI", "NDVI", "DetailedQA"),
              tuple(f"{vi}_{s}" for s in VI_STATS for vi in ("evi", "ndvi")), "float32", NODATA_FLOAT,
              scale=_MOD13["scale"], qa="vi_quality", recipe="vi_stats", preset="mod13q1"),
    # MODIS/061/MOD09A1: sur_refl_b04 green, b02 NIR, b05 SWIR 1240 nm, x 0.0001 (MOD09 C6.1 User's Guide), 500 m
    EEDataset("mod09a1", "MODIS/061/MOD09A1", "collection", ("sur_refl_b04", "sur_refl_b02", "sur_refl_b05"),
              ("gi_max", "ndwi_max"), "float32", NODATA_FLOAT, scale=_MOD09["scale"], native_scale_m=500.0,
              recipe="indices", preset="mod09"),
    # USGS/SRTMGL1_003 and NASA/NASADEM_HGT/001: band elevation, int16 metres, 30 m
    EEDataset("srtm", "USGS/SRTMGL1_003", "image", ("elevation",), ("dem",), "float32", NODATA_FLOAT,
              resampling="mean", native_scale_m=30.0),
    EEDataset("nasadem", "NASA/NASADEM_HGT/001", "image", ("elevation",), ("dem",), "float32", NODATA_FLOAT,
              resampling="mean", native_scale_m=30.0),
    # JRC/GSW1_4/GlobalSurfaceWater: occurrence 0..100 % of valid observations that were water, masked where
    # water was never detected (-> 0 before averaging), 30 m
    EEDataset("jrc_gsw", "JRC/GSW1_4/GlobalSurfaceWater", "image", ("occurrence",), ("water",), "float32",
              NODATA_FLOAT, resampling="mean", native_scale_m=30.0, fill_masked=0.0),
    # IDAHO_EPSCOR/TERRACLIMATE monthly: pr mm (scale 1), pet mm (scale 0.1), ~4.6 km; summed over the date range
    EEDataset("terraclimate_precipitation", "IDAHO_EPSCOR/TERRACLIMATE", "collection", ("pr",), ("precipitation",),
              "float32", NODATA_FLOAT, resampling="bilinear", native_scale_m=4638.3, reducer="sum"),
    EEDataset("terraclimate_pet", "IDAHO_EPSCOR/TERRACLIMATE", "collection", ("pet",), ("pet",), "float32",
              NODATA_FLOAT, scale=0.1, resampling="bilinear", native_scale_m=4638.3, reducer="sum"),
    # ESA/WorldCover/v200 (2021), band Map: 10 tree cover, 20 shrubland, 30 grassland, 40 cropland, 50 built-up,
    # 60 bare, 70 snow/ice, 80 water, 90 wetland, 95 mangroves, 100 moss/lichen; 10 m
    EEDataset("worldcover", "ESA/WorldCover/v200/2021", "image", ("Map",), ("cropland",), "float32", NODATA_FLOAT,
              resampling="mean", native_scale_m=10.0, recipe="class_share", classes=(40,)),
    # Landsat Collection 2 Level-2 surface reflectance (scale and offset: irrmap.sources.landsat.C2_SR), 30 m
    _landsat("landsat5", "LANDSAT/LT05/C02/T1_L2", "TM", "qa_pixel"),
    _landsat("landsat7", "LANDSAT/LE07/C02/T1_L2", "ETM", "qa_pixel"),
    _landsat("landsat8", "LANDSAT/LC08/C02/T1_L2", "OLI", "qa_pixel_oli"),
    _landsat("landsat9", "LANDSAT/LC09/C02/T1_L2", "OLI", "qa_pixel_oli"),
    # COPERNICUS/S2_SR_HARMONIZED: L2A x 0.0001; "harmonized" = the baseline-04.00 offset already removed
    # (irrmap.sources.sentinel2.BASELINE_OFFSET), so reflectance = DN / 10000 for every date; 10 m
    EEDataset("sentinel2", "COPERNICUS/S2_SR_HARMONIZED", "collection",
              tuple(_ee_s2(BAND_IDS["MSI"][b]) for b in REFLECTIVE) + ("SCL",), REFLECTIVE, "float32", NODATA_FLOAT,
              scale=1e-4, resampling="mean", qa="scl", native_scale_m=10.0),
)
CATALOG: dict[str, EEDataset] = {d.name: d for d in _ENTRIES}

# When each collection has images ("Dataset Availability" of its Earth Engine Data Catalog page,
# developers.google.com/earth-engine/datasets/catalog/<id with / replaced by _>): (first day, last day) as ISO
# dates (the date of the last image), last None for a collection still growing (irrmap.sources.ee.dates refuses
# dates after today for those). Keyed by collection id, so [sources.ee.catalog] entries on the
# same collection are held to the same dates; kind "image" datasets (one image, no date filter) are not listed.
# Kept out of EEDataset: its fields are hashed into the fetch keys (irrmap.sources.ee.plan.request_key).
AVAILABILITY: dict[str, tuple[str, str | None]] = {
    "MODIS/061/MOD13Q1": ("2000-02-18", None),
    "MODIS/061/MOD09A1": ("2000-02-18", None),
    "IDAHO_EPSCOR/TERRACLIMATE": ("1958-01-01", "2024-12-01"),  # updated yearly: the last month is that of the page
    "LANDSAT/LT05/C02/T1_L2": ("1984-03-16", "2012-05-05"),
    "LANDSAT/LE07/C02/T1_L2": ("1999-05-28", "2024-01-19"),
    "LANDSAT/LC08/C02/T1_L2": ("2013-03-18", None),
    "LANDSAT/LC09/C02/T1_L2": ("2021-10-31", None),
    "COPERNICUS/S2_SR_HARMONIZED": ("2017-03-28", None),
}


# Collections whose images stand for a calendar month (TerraClimate: "Cadence 1 month", each image dated the
# first day of its month): their data reach to the end of the last image's month, not its first day.
MONTHLY = frozenset({"IDAHO_EPSCOR/TERRACLIMATE"})
# Source pixel size in degrees of the catalogue's collections stored in EPSG:4326 (their Data Catalog pages: SRTM
# and NASADEM 1 arc-second, JRC GSW 0.00025 deg, WorldCover 10 m = 1/12000 deg, TerraClimate 1/24 deg), for the
# reduceResolution budget (irrmap.sources.ee.graphs.max_pixels); Landsat and Sentinel-2 (UTM, metres) are METRIC.
DEGREE_PIXELS = {"USGS/SRTMGL1_003": 1 / 3600, "NASA/NASADEM_HGT/001": 1 / 3600, "JRC/GSW1_4/GlobalSurfaceWater": 0.00025,
                 "ESA/WorldCover/v200/2021": 1 / 12000, "IDAHO_EPSCOR/TERRACLIMATE": 1 / 24}
METRIC = frozenset({"LANDSAT/LT05/C02/T1_L2", "LANDSAT/LE07/C02/T1_L2", "LANDSAT/LC08/C02/T1_L2", "LANDSAT/LC09/C02/T1_L2",
                    "COPERNICUS/S2_SR_HARMONIZED"})


def covered_until(collection: str) -> str | None:
    """The first day after the data of `collection` (exclusive end, as filterDate): the day after its last image,
    or the first day of the next month for MONTHLY collections; None for a collection still growing or not listed."""
    import datetime

    span = AVAILABILITY.get(collection)
    if span is None or span[1] is None:
        return None
    last = datetime.date.fromisoformat(span[1])
    if collection in MONTHLY:
        return (last.replace(day=28) + datetime.timedelta(days=4)).replace(day=1).isoformat()
    return (last + datetime.timedelta(days=1)).isoformat()


def check_availability(ds: EEDataset, start: str, end: str, where: str = "[sources.ee]") -> None:
    """Refuse dates [start, end) (ISO, end exclusive as ee filterDate) that reach outside the images of `ds`'s
    collection (AVAILABILITY): a composite over a range partly before the first image (MOD13Q1 before 2000-02-18,
    Landsat 8 before 2013-03-18) or after the last (Landsat 5 after 2012-05-05) would be made of fewer dates than
    asked, or of none, without any error from Earth Engine (a TerraClimate sum over 2024-07 .. 2025-07 would be
    the sum of 6 months). ConfigError naming the dataset, its dates and the dates asked; kind "image" datasets and
    collections not listed pass."""

    def covers(d: EEDataset) -> bool:
        span = AVAILABILITY.get(d.collection)
        if d.kind != "collection" or span is None:
            return True
        last_excl = covered_until(d.collection)
        return start >= span[0] and (last_excl is None or end <= last_excl)

    if covers(ds):
        return
    first, last = AVAILABILITY[ds.collection]
    until = (f"to {last}" + (" (the month of that date)" if ds.collection in MONTHLY else "")) if last else "to the present"
    others = [d.name for d in CATALOG.values() if d.name != ds.name and d.outputs == ds.outputs and d.collection in AVAILABILITY and covers(d)]
    raise ConfigError(
        f"dataset {ds.name!r} ({ds.collection}) has images from {first} {until}, but images from {start} to {end} "
        f"(end excluded) were asked for", f"{where}.datasets",
        f"choose year / start / end within {first} .. {covered_until(ds.collection) or 'now'} (end excluded)" + (f", or the dataset {others[0]!r}, which covers them" if others else ""))


def dataset_from_config(name: str, entry: dict) -> EEDataset:
    """An EEDataset from a user's config table (keys = the EEDataset fields but `name`; `collection`, `bands` and
    `outputs` required; `kind` default "collection", `dtype` "float32", `nodata` -9999.0). A table naming a
    catalogue entry in `base` starts from it and overrides the keys given. Raises ConfigError naming the key
    (sources.ee.catalog.NAME.KEY) and the fix."""
    where = f"sources.ee.catalog.{name}"
    entry = dict(entry)
    allowed = {f.name for f in fields(EEDataset)} - {"name"} | {"base"}
    bad = sorted(set(entry) - allowed)
    if bad:
        raise ConfigError(f"unknown key(s) {bad}", where, f"use {sorted(allowed)}")
    base = entry.pop("base", None)
    if base is not None and base not in CATALOG:
        raise ConfigError(f"unknown catalogue entry {base!r}", f"{where}.base", f"use one of {', '.join(CATALOG)}")
    values = {f.name: getattr(CATALOG[base], f.name) for f in fields(EEDataset)} if base else {
        "kind": "collection", "dtype": "float32", "nodata": NODATA_FLOAT}
    values.update(entry, name=name)
    missing = [k for k in ("collection", "bands", "outputs") if k not in values]
    if missing:
        raise ConfigError(f"missing key(s) {missing}", where, "give the collection id, the bands read and the output names")
    for key, one in (("bands", "band name"), ("outputs", "output name"), ("classes", "class code")):
        v = values.get(key, ())
        if isinstance(v, bool) or not isinstance(v, (str, int, list, tuple)):  # one value or a list of them, nothing else
            raise ConfigError(f"{key} = {v!r}: give one {one} or a list of them", f"{where}.{key}",
                              'e.g. classes = [40]' if key == "classes" else f'e.g. {key} = ["NDVI"]')
        values[key] = tuple([v] if isinstance(v, (str, int)) else v)
    for key in ("fill_values", "valid_range"):
        if isinstance(values.get(key), list):
            values[key] = tuple(values[key])
    _check(values, where)
    return EEDataset(**values)


def _check(v: dict, where: str) -> None:
    """Validate the values of one entry (see dataset_from_config)."""
    def choice(key, options, optional=False):
        if (v.get(key) is None and optional) or v.get(key) in options:
            return
        raise ConfigError(f"{key} = {v.get(key)!r} is not supported", f"{where}.{key}", f"use one of {', '.join(options)}")

    choice("kind", KINDS)
    choice("resampling", RESAMPLINGS, optional=True)
    choice("reducer", REDUCERS, optional=True)
    choice("recipe", RECIPES, optional=True)
    choice("qa", tuple(QA_BANDS), optional=True)
    choice("preset", tuple(PRESETS), optional=True)
    choice("dtype", tuple(CASTS))
    if not v["bands"] or not all(isinstance(b, str) and b for b in v["bands"]):
        raise ConfigError("bands must be a non-empty list of band names", f"{where}.bands", 'e.g. bands = ["NDVI"]')
    if v.get("qa") and QA_BANDS[v["qa"]] not in v["bands"]:
        raise ConfigError(f"qa = {v['qa']!r} reads band {QA_BANDS[v['qa']]!r}, which is not in bands", f"{where}.bands",
                          f"add {QA_BANDS[v['qa']]!r} to bands")
    _check_numbers(v, where)
    ds = EEDataset(**v)
    n_in = {"indices": 3, "class_share": 1}.get(ds.recipe)
    if n_in is not None and len(ds.value_bands) != n_in:
        raise ConfigError(f"recipe {ds.recipe!r} reads {n_in} value band(s), got {list(ds.value_bands)}", f"{where}.bands",
                          "indices: green, nir, swir in this order" if ds.recipe == "indices" else "give the class band")
    if ds.recipe in ("vi_stats", "indices") and ds.kind != "collection" or ds.recipe == "class_share" and ds.kind != "image":
        raise ConfigError(f"recipe {ds.recipe!r} needs kind {'image' if ds.recipe == 'class_share' else 'collection'}",
                          f"{where}.kind", "set kind to match the recipe")
    n_out = {"bands": len(ds.value_bands), "indices": 2, "class_share": 1}.get(ds.recipe)
    if n_out is not None and len(ds.outputs) != n_out:
        raise ConfigError(f"{len(ds.outputs)} outputs for recipe {ds.recipe!r}, which yields {n_out}", f"{where}.outputs",
                          "give one output name per value band" if ds.recipe == "bands" else f"give {n_out} output name(s)")
    if ds.recipe == "class_share" and not ds.classes:
        raise ConfigError("recipe 'class_share' needs the classes to count", f"{where}.classes", "e.g. classes = [40]")
    if ds.recipe == "vi_stats":
        lower = {b.lower() for b in ds.value_bands}
        wrong = [o for o in ds.outputs if "_" not in o or o.rsplit("_", 1)[0] not in lower or o.rsplit("_", 1)[1] not in VI_STATS]
        if wrong:
            raise ConfigError(f"outputs {wrong} are not <band>_<stat>", f"{where}.outputs",
                              f"name them <one of {sorted(lower)}>_<one of {', '.join(VI_STATS)}>")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _check_numbers(v: dict, where: str) -> None:
    """Every numeric key of an entry is a TOML number (not a quoted string nor a boolean): scale, offset,
    native_scale_m (> 0), nodata and fill_masked (or absent), fill_values (a list of numbers), valid_range ([low,
    high], low <= high), classes (integer codes). ConfigError naming the key, the value and how to write it."""
    def bad(key, what, example):
        got = v[key]
        hint = f" (write {key} = {got.strip()}, without quotes)" if isinstance(got, str) and is_number(got) else ""
        raise ConfigError(f"{key} = {got!r} is not {what}", f"{where}.{key}", f"give a TOML number{hint}, e.g. {key} = {example}")

    for key, example in (("scale", "0.0001"), ("offset", "0.0"), ("native_scale_m", "30")):
        if key in v and not _is_number(v[key]):
            bad(key, "a number", example)
    if "native_scale_m" in v and not v["native_scale_m"] > 0:
        raise ConfigError(f"native_scale_m = {v['native_scale_m']!r} is not a pixel size", f"{where}.native_scale_m",
                          "give the source's pixel size in metres (> 0), e.g. native_scale_m = 30")
    for key, example in (("nodata", "-9999.0"), ("fill_masked", "0.0")):
        if v.get(key) is not None and not _is_number(v[key]):
            bad(key, "a number", example)
    fills = v.get("fill_values", ())
    if not isinstance(fills, (list, tuple)) or not all(_is_number(f) for f in fills):
        raise ConfigError(f"fill_values = {fills!r} is not a list of numbers", f"{where}.fill_values",
                          "give the raw fill values as TOML numbers, e.g. fill_values = [200, 253]")
    rng = v.get("valid_range")
    if rng is not None and not (isinstance(rng, (list, tuple)) and len(rng) == 2 and all(_is_number(x) for x in rng) and rng[0] <= rng[1]):
        raise ConfigError(f"valid_range = {rng!r} is not [low, high]", f"{where}.valid_range",
                          "give two TOML numbers (raw values, inclusive, low <= high), e.g. valid_range = [0, 100]")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in v.get("classes", ())):
        raise ConfigError(f"classes = {list(v['classes'])!r} are not all integer codes", f"{where}.classes",
                          "give the class codes as TOML integers, without quotes, e.g. classes = [40]")


