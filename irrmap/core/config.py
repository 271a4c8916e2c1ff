"""The run configuration: one TOML file validated before any work, every field described.

Relative paths are resolved against the config file's folder. Validation errors name the key (as
`[section].key`), what is wrong, and the fix; misspelt keys get a "did you mean" suggestion.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from irrmap.core.errors import ConfigError, GridError
from irrmap.core.grid import Grid, check_pixel_size

# Pixel sizes (nominal ground metres, irrmap.core.grid.pixel_size_m) of a run's grid. The method maps at 250 m
# (10 m to 1 km are plausible analysis grids); a size outside 1 m .. 100 km was typed in the other unit: the
# degree values of usual grids (0.0001 .. 0.9) read as metres fall below 1 m, and metre values (>= 1) read as
# degrees exceed 100 km.
RUN_PIXEL_M = (1.0, 100_000.0)
# The [features] keys that hold a time series: a path, or a table whose `source` (path or list of paths) and
# `qa` name files (read by irrmap.training.sscore).
FEATURE_SERIES = ("evi", "ndvi", "nir", "green", "swir", "gi", "ndwi")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSection(_Section):
    name: str = Field("irrmap-run", description="Name of the run, recorded in the manifest.")
    output_dir: Path = Field(Path("output"), description="Folder for all outputs and manifest.json (relative to the config file).")
    seed: int = Field(0, ge=0, description="Seed for every random step; the same inputs and seed give the same bytes out.")
    chunk_size: int = Field(1024, ge=64, le=16384, description="Chunk edge (pixels) for lazy reads and windowed processing.")
    workers: int = Field(0, ge=0, description="Threads for dask; 0 means one per CPU core.")
    gdal_cache_mb: int = Field(256, ge=16, description="Cap on GDAL's block cache (MB); bounds peak memory on large grids.")
    scheduler: str | None = Field(None, description="Address of a dask.distributed scheduler (tcp://host:port); none runs locally.")


class GridSection(_Section):
    crs: str | None = Field(None, description="CRS of the analysis grid (EPSG code, WKT or PROJ string). Omit with `like`.")
    bounds: tuple[float, float, float, float] | None = Field(None, description="left, bottom, right, top in CRS units.")
    resolution: float | None = Field(None, gt=0, description="Pixel size in CRS units (0.00225 deg is the CIrrMap250 grid).")
    like: Path | None = Field(None, description="Take the grid from this raster instead of crs/bounds/resolution.")

    @field_validator("crs")
    @classmethod
    def _known_crs(cls, v):
        from rasterio.crs import CRS
        from rasterio.errors import CRSError

        if v is not None:
            try:
                CRS.from_user_input(v)
            except CRSError as exc:
                raise ValueError(f"unknown CRS {v!r} ({exc}): give an EPSG code such as 'EPSG:4326', a WKT or a PROJ string") from None
        return v

    @model_validator(mode="after")
    def _one_way(self):
        explicit = [self.crs, self.bounds, self.resolution]
        if self.like is None and any(v is None for v in explicit):
            raise ValueError("give either `like` (a raster) or all of `crs`, `bounds` and `resolution`")
        if self.like is not None and any(v is not None for v in explicit):
            raise ValueError("give `like` or crs/bounds/resolution, not both")
        if self.bounds is not None:
            l, b, r, t = self.bounds
            if not (l < r and b < t):
                raise ValueError(f"bounds must be left < right and bottom < top, got {self.bounds}")
        return self


class InputRaster(_Section):
    path: Path = Field(description="Raster file (any GDAL format).")
    kind: Literal["continuous", "categorical", "fraction"] = Field(
        "continuous", description="continuous (average/bilinear), categorical (mode/nearest) or fraction (share of `classes`)."
    )
    band: int | str | None = Field(
        None, description='Layer to read: its 1-based number or its name (band description, e.g. "NDVI"); omit for a single-layer file (a file with several layers then stops with an error listing them).'
    )
    classes: list[int] | None = Field(None, description="Class codes counted by kind = 'fraction' (e.g. cropland codes).")
    resampling: str | None = Field(None, description="Override the resampling (GDAL name: nearest, bilinear, average, mode, ...).")
    nodata: float | None = Field(None, description="Override the file's nodata value (replaces it, as gdalwarp -srcnodata does; without either, every stored value is data).")
    fill_values: list[float] = Field(default_factory=list, description="Further raw values meaning missing (e.g. 65531, -3000).")
    scale: float | None = Field(None, description="Override the file's scale factor (MOD13Q1: 0.0001).")
    offset: float | None = Field(None, description="Override the file's offset.")
    valid_range: tuple[float, float] | None = Field(None, description="Raw values outside [min, max] are missing.")

    @field_validator("band")
    @classmethod
    def _layer(cls, v):
        if isinstance(v, int) and v < 1:
            raise ValueError(f"band {v}: layers are numbered from 1 (or give the layer's name)")
        return v

    @model_validator(mode="after")
    def _classes_for_fraction(self):
        if self.kind == "fraction" and not self.classes:
            raise ValueError("kind = 'fraction' needs `classes` (the codes to count)")
        return self


class UnitsSection(_Section):
    path: Path = Field(description="Admin unit polygons (GeoPackage, GeoJSON, shapefile) at the finest level (counties).")
    layer: str | None = Field(None, description="Layer name inside a multi-layer file.")
    code_field: str = Field(description="Field holding each unit's code (e.g. adcode, FIPS).")
    name_field: str | None = Field(None, description="Field holding a readable name (optional).")
    hierarchy: Literal["cn-adcode", "us-fips", "fields", "none"] = Field(
        "cn-adcode", description="How parents are found: Chinese adcodes (PPCCXX), US FIPS (SSCCC), parent fields, or none."
    )
    invalid_codes: Literal["error", "drop"] = Field(
        "error", description="Polygons whose code does not fit the hierarchy's format: stop with an error, or drop them with a warning."
    )
    partial: Literal["scale", "exclude"] = Field(
        "scale", description="Units only partly on the grid: scale their statistics by the share on the grid (of the unit's cropland "
        "where the cropland input covers the whole unit, else of its area), or exclude them from threshold splitting. "
        "units/units.csv flags them (partial, on_grid_share)."
    )
    parent_fields: dict[str, str] = Field(
        default_factory=dict, description="With hierarchy = 'fields': level name -> field with that level's code, e.g. {city = 'city_code'}."
    )

    @model_validator(mode="after")
    def _fields_need_parents(self):
        if self.hierarchy == "fields" and not self.parent_fields:
            raise ValueError("hierarchy = 'fields' needs `parent_fields`, e.g. {city = 'city_code', province = 'prov_code'}")
        return self


class StatisticsSection(_Section):
    path: Path = Field(description="Statistics table (CSV or Excel).")
    code_field: str = Field(description="Column holding the unit code (joined to [units].code_field).")
    area_field: str = Field(description="Column holding the irrigated area.")
    area_unit: str = Field(description="Unit of the area column: m2, ha, 1000ha, km2, mu, acres, 1000acres.")
    year_field: str | None = Field(None, description="Column holding the year (optional).")
    year: int | None = Field(None, description="Keep only this year (needs year_field).")
    variant_field: str | None = Field(None, description="Column naming the statistic's variant (e.g. effective / actual).")
    variant: str | None = Field(None, description="Keep only this variant (needs variant_field).")
    level: str = Field("county", description="Admin level the table reports at (a level of [units]).")
    skip_rows: int = Field(0, ge=0, description="Lines to skip before the header (USGS tables: 1).")
    sheet: str | None = Field(None, description="Excel sheet name (default: the first).")
    encoding: str | None = Field(None, description="Text encoding of a CSV table (default UTF-8; Chinese tables often gb18030).")
    separator: str | None = Field(None, description="Column separator of a CSV table (default: found from the file: comma, semicolon, tab or pipe).")
    decimal: Literal[".", ","] | None = Field(None, description="Decimal mark of the numbers (default: found per column; ambiguous columns are refused).")
    thousands: Literal["", ",", ".", " ", "'"] | None = Field(
        None, description="Thousands separator of the numbers ('' none; default: found per column).")
    strict: bool = Field(True, description="Stop the run when validation finds errors (duplicates, bad areas).")

    @field_validator("area_unit")
    @classmethod
    def _known_unit(cls, v):
        from irrmap.core.areas import normalise_area_unit
        from irrmap.core.errors import IrrmapError

        try:
            return normalise_area_unit(v)
        except IrrmapError as exc:
            raise ValueError(f"{exc.what}; {exc.fix}") from None

    @model_validator(mode="after")
    def _filters(self):
        if self.year is not None and self.year_field is None:
            raise ValueError("`year` filters rows by `year_field`: set year_field too")
        if self.variant is not None and self.variant_field is None:
            raise ValueError("`variant` filters rows by `variant_field`: set variant_field too")
        if self.decimal is not None and self.decimal == self.thousands:
            raise ValueError(f"decimal and thousands are both {self.decimal!r}: give two different marks")
        return self

    @field_validator("encoding", "separator")
    @classmethod
    def _table_format(cls, v, info):
        from irrmap.core.errors import IrrmapError
        from irrmap.core.tables import TableFormat

        try:
            TableFormat(**{info.field_name: v})
        except IrrmapError as exc:
            raise ValueError(f"{exc.what}; {exc.fix}") from None
        return v


class SuitabilitySection(_Section):
    dem: str = Field("dem", description="Product name of the elevation raster (m).")
    water: str = Field("water", description="Product name of the water raster (mask, classes or occurrence).")
    water_values: list[float] | None = Field(None, description="Class codes that are water (default: any non-zero value).")
    water_threshold: float | None = Field(None, description="Values >= this are water (e.g. JRC occurrence 50).")
    max_distance: float | None = Field(None, gt=0, description="Cap (m) on distance to water; lets it run chunked. None: exact everywhere.")
    aridity: str | None = Field(None, description="Product name of an aridity index raster (P / PET); or give precipitation and pet.")
    precipitation: str | None = Field(None, description="Product name of annual precipitation (any unit, same as pet).")
    pet: str | None = Field(None, description="Product name of annual potential evapotranspiration.")
    cropland: str | None = Field("cropland", description="Product name of the cropland fraction, for the few-crop-pixels rule (None: rule off).")
    weights: dict[str, float] = Field(
        default_factory=lambda: {"elevation": 0.25, "distance": 0.25, "slope": 0.25, "aridity": 0.25},
        description="Overlay weights of the factors elevation, distance, slope, aridity (normalised to sum 1).",
    )
    weights_in: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per unit, city or province code, weights overriding `weights` there, e.g. {'610000' = {elevation = 0.1, distance = 0.6, slope = 0.1, aridity = 0.2}} (what `irrmap suitability search` finds).",
    )
    elevation_breaks: list[float] = Field([100.0, 300.0, 500.0], description="Class limits (m above the unit minimum), most suitable first.")
    distance_breaks: list[float] = Field([1000.0, 10000.0, 20000.0], description="Class limits (m beyond the unit's minimum distance).")
    slope_breaks: list[float] = Field([2.0, 4.0, 8.0], description="Class limits (slope percent).")
    aridity_breaks: list[float] = Field([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], description="Class limits of AI (drier = more suitable).")
    flat_rule: bool = Field(False, description="Units with relief (P95 - P5 elevation) <= flat_max_relief get aridity class 10 and water class 4.")
    flat_max_relief: float = Field(100.0, description="Relief limit (m) of the flat-unit rule.")
    few_crop_min_pixels: int = Field(50, ge=0, description="Units with fewer crop pixels get class 1 for every factor (0: rule off).")

    @model_validator(mode="after")
    def _aridity_source(self):
        if self.aridity is None and (self.precipitation is None or self.pet is None):
            raise ValueError("give `aridity` (an AI raster) or both `precipitation` and `pet`")
        if self.water_values is not None and self.water_threshold is not None:
            raise ValueError("give water_values or water_threshold, not both")
        return self


class TrainingSection(_Section):
    scores: list[str] = Field(
        default_factory=lambda: ["sevi", "sndvi", "sgi"],
        description="Score rasters to threshold, by product name (an [inputs.NAME] or a product of an earlier stage).",
    )
    cropland: str = Field("cropland", description="Product name of the cropland fraction (0..1), e.g. an [inputs.cropland] of kind 'fraction'.")
    rule: Literal["nearest", "reach", "under"] = Field(
        "nearest", description="Stopping rule: nearest (|mapped - target| smallest), reach (mapped >= target), under (mapped <= target)."
    )
    per_class: int = Field(200, ge=0, description="Training samples per unit and class.")
    per_class_in: dict[str, int] = Field(default_factory=dict, description="Per parent-unit overrides of per_class, e.g. {'650000' = 400}.")
    erode: int = Field(0, ge=0, description="Drop pool pixels within this many pixels of another label.")
    predictors: list[str] | None = Field(None, description="Products sampled into the pool (default: every raster product).")


class ModelsSection(_Section):
    model: Literal["rf", "lgbm", "lgbm-rf"] = Field("rf", description="Classifier: random forest (the method's), LightGBM, or LightGBM's rf mode.")
    scope: Literal["global", "province", "county"] = Field("global", description="One model overall, per province, or per county.")
    features: list[str] | None = Field(None, description="Pool columns used as predictors (default: every predictor plus lon/lat).")
    cv_blocks: int | Literal["units"] | None = Field(40, description="Spatially blocked CV: block size in pixels, 'units', or none to skip.")
    n_jobs: int = Field(0, ge=0, description="Threads for fitting; 0 = one per core.")


class MappingSection(_Section):
    memory_mb: float = Field(512, gt=0, description="Memory budget for windowed prediction (sets the tile size).")
    filter: bool = Field(True, description="Apply the 7x7 rule: drop isolated irrigated pixels, fill holes.")
    isolated: int = Field(2, ge=0, description="7x7 rule: an irrigated pixel with at most this many irrigated in its window is dropped.")
    hole: int = Field(47, ge=1, description="7x7 rule: a window with at least this many irrigated pixels is filled.")
    majority_size: int = Field(0, ge=0, description="Optional majority filter window (0: off).")
    mmu: int = Field(0, ge=0, description="Optional minimum mapping unit in pixels for irrigated patches (0: off).")
    aggregate_factor: int = Field(4, ge=2, description="Pixels per side of the coarse irrigated-area product (4 x 250 m = 1 km).")


class EvaluationSection(_Section):
    map: str | None = Field(None, description="Product name of the map to evaluate (default: irrigated_class with [mapping], else the first threshold map).")
    map_kind: Literal["binary", "fraction"] = Field(
        "binary", description="binary: irrigated where value > threshold; fraction: value is the irrigated share of the pixel."
    )
    threshold: float = Field(0.5, description="Map values above this are irrigated at points (0/1 maps: 0.5).")
    points: Path | None = Field(None, description="Reference points (GeoPackage, shapefile, GeoJSON, CSV with lon/lat).")
    points_layer: str | None = Field(None, description="Layer of the points file.")
    label_field: str = Field("label", description="Point field with the reference label (1 irrigated, 0 not).")
    label_map: dict[str, Literal[-1, 0, 1]] | None = Field(
        None, description='Labels other than 0/1 or irrigated/rainfed words, mapped to 1 (irrigated), 0 (not) or -1 (leave out), e.g. {"1" = 0, "2" = 1}.'
    )
    points_crs: str | None = Field(None, description="CRS of the points (CSV: of the lon/lat columns, default EPSG:4326; other files: replaces a missing or wrong one).")
    lon_field: str | None = Field(None, description="CSV points: x / longitude column (default: lon, longitude, x ...).")
    lat_field: str | None = Field(None, description="CSV points: y / latitude column (default: lat, latitude, y ...).")
    snap_radius: int = Field(0, ge=0, description="Snap points to the nearest crop pixel within this many pixels (0: no snapping).")
    by_level: str | None = Field(None, description="Also report point accuracy per unit at this admin level (e.g. province).")
    statistics: bool = Field(True, description="Compare mapped area per unit with [statistics] at every admin level.")
    compare: list[str] = Field(default_factory=list, description="Product names of other maps to compare with the map.")

    @field_validator("points_crs")
    @classmethod
    def _known_crs(cls, v):
        from pyproj import CRS

        if v is not None:
            try:
                CRS.from_user_input(v)
            except Exception:  # pyproj.exceptions.CRSError
                raise ValueError(f"unknown CRS {v!r}: give an EPSG code such as 'EPSG:32642' or a WKT string") from None
        return v


class WaterSection(_Section):
    """The water-body layer (irrmap.mapping.water; docs/water.md): per epoch, its scenes' water maps combined
    into one mask, the connected water bodies, change between consecutive epochs, and optional scores against
    reference masks. The defaults are those of `irrmap water mask / bodies / change` (tests pin them equal)."""

    epochs: dict[str, list[Path]] = Field(
        description="Epoch label (e.g. a year) -> its scenes: Landsat scene folders (band files + MTL), Sentinel-2 product folders or "
        "scene stacks (GeoTIFF with common band names + sidecar JSON), relative to the config file. Every scene is read onto the "
        "grid of the first scene of the first epoch; change is computed between consecutive epochs in the order given."
    )
    method: Literal["ndwi", "mndwi", "awei_nsh", "awei_sh", "otsu", "dswe"] = Field(
        "ndwi", description="Water test per scene: index > `threshold` (ndwi, mndwi, awei_nsh, awei_sh), Otsu's threshold of `index`, or "
        "DSWE high + moderate confidence. Default NDWI > 0: on the three Flathead epochs it agrees on 96.0 % of the pixels clear in "
        "all three, MNDWI > 0 on 69.2 % (docs/water.md)."
    )
    threshold: float = Field(0.0, description="Index threshold of the fixed-threshold methods (0.0: the published threshold of all four).")
    index: Literal["ndwi", "mndwi", "awei_nsh", "awei_sh"] = Field("ndwi", description="Index thresholded by method = 'otsu'.")
    detection: float = Field(0.10, ge=0, lt=1, description="Water frequency above which a pixel is a detection pixel; only bodies holding one are kept (DEA Waterbodies 0.10).")
    extent: float = Field(0.05, ge=0, lt=1, description="Water frequency above which a pixel is water, outlining the bodies (DEA Waterbodies 0.05; at most `detection`).")
    permanent: float = Field(1.0, gt=0, le=1, description="Water frequency from which water is permanent, else seasonal (JRC: 1.0, water in every clear observation).")
    min_clear: int = Field(1, ge=1, description="Clear observations a pixel needs in an epoch, else unknown (at most the epoch's scene count).")
    min_area_m2: float = Field(3125.0, ge=0, description="Smallest body kept, true area in m2 (DEA Waterbodies 3,125 m2; 0 keeps all).")
    connectivity: Literal[4, 8] = Field(8, description="Pixels touching at a corner belong to one body with 8, not with 4.")
    tolerance: float = Field(0.10, ge=0, description="Relative area change between epochs still called stable.")
    admin_units: bool = Field(True, description="Give each body the [units] unit holding most of its area (when [units] is present).")
    reference: dict[str, Path] = Field(
        default_factory=dict, description="Epoch label -> a reference water mask (1 water, 0 not, nodata unknown; any grid, read onto the "
        "scenes' grid) to score the mapped bodies against: precision and recall of bodies matched at `iou`, area error (water/score.json)."
    )
    iou: float = Field(0.5, gt=0, le=1, description="Intersection over union from which a mapped body matches a reference body.")

    @model_validator(mode="after")
    def _consistent(self):
        if not self.epochs:
            raise ValueError("`epochs` is empty: give at least one epoch, e.g. epochs = {2020 = [\"scenes/LC08_...\"]}")
        bad = [e for e in self.epochs if not re.fullmatch(r"[A-Za-z0-9_.-]+", e)]
        if bad:
            raise ValueError(f"epoch label(s) {bad} are not plain names: use letters, digits, '_', '.', '-' (they name output folders)")
        empty = [e for e, scenes in self.epochs.items() if not scenes]
        if empty:
            raise ValueError(f"epoch(s) {empty} have no scene")
        if self.extent > self.detection:
            raise ValueError(f"extent {self.extent} is above detection {self.detection}: the extent threshold outlines the bodies found at the detection threshold")
        fewest = min(len(s) for s in self.epochs.values())
        if self.min_clear > fewest:
            raise ValueError(f"min_clear {self.min_clear} is more than the {fewest} scene(s) of an epoch: every pixel would be unknown")
        stray = sorted(set(self.reference) - set(self.epochs))
        if stray:
            raise ValueError(f"`reference` names epoch(s) {stray} that are not in `epochs` ({', '.join(self.epochs)})")
        return self


class RunConfig(_Section):
    """A whole run: [run], [grid], [inputs.NAME], [units], [statistics], [suitability], [training], [evaluation], [water]."""

    run: RunSection = Field(default_factory=RunSection, description="Run-wide settings.")
    grid: GridSection = Field(description="The analysis grid.")
    inputs: dict[str, InputRaster] = Field(default_factory=dict, description="Input rasters by name, aligned onto the grid.")
    units: UnitsSection | None = Field(None, description="Admin units (needed for statistics and per-unit stages).")
    statistics: StatisticsSection | None = Field(None, description="Irrigated-area statistics per unit.")
    suitability: SuitabilitySection | None = Field(None, description="Irrigation suitability S from elevation, slope, water and aridity.")
    features: dict[str, Any] | None = Field(
        None, description="Vegetation-index composites and N/S scores (keys in docs/features.md, plus cropland / natural / other product names)."
    )
    training: TrainingSection | None = Field(None, description="Statistics-matched threshold maps and the training pool.")
    models: ModelsSection | None = Field(None, description="Classifier fitted on the training pool.")
    mapping: MappingSection | None = Field(None, description="Windowed prediction, spatial filtering and 1 km aggregation.")
    evaluation: EvaluationSection | None = Field(None, description="Accuracy report: points, statistics, map comparison.")
    water: WaterSection | None = Field(None, description="Water-body layer: water masks from Landsat / Sentinel-2 scenes per epoch, bodies, change.")

    @model_validator(mode="after")
    def _stats_need_units(self):
        if self.statistics is not None and self.units is None:
            raise ValueError("[statistics] needs [units] to join codes to polygons")
        if self.suitability is not None and self.units is None:
            raise ValueError("[suitability] needs [units]: factors are classed relative to each unit")
        if self.features is not None and self.units is None:
            raise ValueError("[features] needs [units] (S-scores use the per-unit flat rule)")
        if self.models is not None and self.training is None:
            raise ValueError("[models] needs [training] (the training pool)")
        if self.mapping is not None and self.models is None:
            raise ValueError("[mapping] needs [models] (the classifier to predict with)")
        if self.training is not None and self.statistics is None:
            raise ValueError("[training] needs [statistics] (the per-unit targets)")
        return self


class LoadedConfig:
    """A validated config plus where it came from: paths resolved, raw text hashed."""

    def __init__(self, config: RunConfig, path: Path, text: str):
        self.config = config
        self.path = path
        self.base = path.parent
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()

    def resolve(self, p: Path | None) -> Path | None:
        return None if p is None else (p if p.is_absolute() else (self.base / p)).resolve()

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.config.run.output_dir)

    def grid(self) -> Grid:
        """The analysis grid; GridError (naming the [grid] key) when it cannot be built or its pixel size lies
        outside RUN_PIXEL_M, i.e. was given in the other unit (metres on a degree CRS, or degrees on a metre CRS)."""
        import rasterio

        g = self.config.grid
        if g.like is not None:
            like = self.resolve(g.like)
            if not like.exists():
                raise ConfigError(f"raster {like} does not exist", "[grid].like", "point it at an existing raster")
            try:
                grid = Grid.from_raster(like)
            except rasterio.errors.RasterioIOError as exc:
                raise ConfigError(f"cannot open raster {like}: {exc}", "[grid].like", "point it at a raster GDAL can read") from None
        else:
            try:
                grid = Grid.from_bounds(*g.bounds, g.resolution, g.crs)
            except GridError as exc:
                raise GridError(exc.what, f"{self.path}: [grid].{exc.where}", exc.fix) from None
        try:
            check_pixel_size(grid.crs, grid.res, RUN_PIXEL_M)
        except GridError as exc:
            raise GridError(exc.what, f"{self.path}: " + ("[grid].like" if g.like else "[grid].resolution"), exc.fix) from None
        return grid


def _known_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """Field names valid at a location (for 'did you mean' hints)."""
    current = model
    for part in loc[:-1]:
        if isinstance(part, int) or current is None:
            return []
        field = current.model_fields.get(part)
        if field is None:
            if current is RunConfig or not hasattr(current, "model_fields"):
                return []
            continue  # dict key such as an input name
        ann = field.annotation
        args = getattr(ann, "__args__", ())
        cand = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, BaseModel)]
        current = cand[0] if cand else None
        if current is None and part == "inputs":
            current = InputRaster
    return list(current.model_fields) if current is not None and hasattr(current, "model_fields") else []


def _format_loc(loc: tuple) -> str:
    parts = [str(p) for p in loc if not isinstance(p, int)]
    if not parts:
        return "(top level)"
    if len(parts) == 1:
        return f"[{parts[0]}]" if parts[0] in RunConfig.model_fields else parts[0]
    return f"[{'.'.join(parts[:-1])}].{parts[-1]}"


def _explain(err: dict) -> str:
    loc = tuple(err["loc"])
    where = _format_loc(loc)
    if err["type"] == "extra_forbidden":
        known = _known_keys(RunConfig, loc)
        near = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean '{near[0]}'?" if near else f"known keys: {', '.join(known)}" if known else "remove it"
        return f"{where}: unknown key ({hint})"
    if err["type"] == "missing":
        return f"{where}: required key is missing (add it; see the README's config reference)"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}"


def load_config(path) -> LoadedConfig:
    """Read and validate a TOML config; raise ConfigError naming every bad key and its fix."""
    path = Path(path).resolve()
    text = _read_text(path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", str(path), "fix the syntax at the line given") from None
    try:
        cfg = RunConfig.model_validate(raw)
    except ValidationError as exc:
        lines = [_explain(e) for e in exc.errors()]
        raise ConfigError("invalid config: " + "; ".join(lines), str(path), "correct the keys named above") from None
    loaded = LoadedConfig(cfg, path, text)
    _check_paths(loaded)
    return loaded


def _read_text(path: Path) -> str:
    """The config's text. TOML files are UTF-8 (a leading byte-order mark is dropped); anything else is a
    ConfigError naming the first byte that is not UTF-8 (offset, line, column) and how to convert the file."""
    if not path.exists():
        raise ConfigError("config file not found", str(path), "give the path of a TOML config (see `irrmap demo`)")
    if path.is_dir():
        tomls = sorted(path.glob("*.toml"))
        raise ConfigError("this is a folder, not a config file", str(path),
                          f"give the TOML file itself, e.g. {tomls[0]}" if tomls else "give the path of the TOML file itself")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the config: {exc.strerror}", str(path), "check the file's permissions") from None
    save_as = "save the file as UTF-8 (your editor's Save As > Encoding, or iconv -f {} -t UTF-8 OLD > NEW)"
    for bom, name in ((codecs.BOM_UTF32_LE, "UTF-32"), (codecs.BOM_UTF32_BE, "UTF-32"), (codecs.BOM_UTF16_LE, "UTF-16"),
                      (codecs.BOM_UTF16_BE, "UTF-16")):
        if data.startswith(bom):
            raise ConfigError(f"the file is saved as {name}; TOML files must be UTF-8", str(path), save_as.format(name))
    if b"\0" in data:
        raise ConfigError(f"NUL byte at {_position(data, data.find(bytes(1)))}: the file is UTF-16 or not text; TOML files must be UTF-8",
                          str(path), save_as.format("UTF-16"))
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        from irrmap.core.tables import guess_encoding

        guess = guess_encoding(data)
        looks = f" (it looks like {guess[0]}: {guess[1]!r})" if guess else ""
        raise ConfigError(f"byte 0x{data[exc.start]:02X} at {_position(data, exc.start)} is not UTF-8{looks}; TOML files must be UTF-8",
                          str(path), save_as.format(guess[0] if guess else "ENCODING")) from None


def _position(data: bytes, at: int) -> str:
    """'offset N (line L, column C)' of byte `at`, counted as editors do (1-based; columns in bytes)."""
    nl = b"\n"
    return f"offset {at} (line {data.count(nl, 0, at) + 1}, column {at - (data.rfind(nl, 0, at) + 1) + 1})"


def _check_paths(loaded: LoadedConfig) -> None:
    """Every input file named by the config exists (checked before any work starts)."""
    cfg = loaded.config
    missing = []
    for name, spec in cfg.inputs.items():
        if not loaded.resolve(spec.path).exists():
            missing.append(f"[inputs.{name}].path = {spec.path}")
    for section in ("units", "statistics"):
        sec = getattr(cfg, section)
        if sec is not None and not loaded.resolve(sec.path).exists():
            missing.append(f"[{section}].path = {sec.path}")
    if cfg.evaluation is not None and cfg.evaluation.points is not None and not loaded.resolve(cfg.evaluation.points).exists():
        missing.append(f"[evaluation].points = {cfg.evaluation.points}")
    if cfg.grid.like is not None and not loaded.resolve(cfg.grid.like).exists():
        missing.append(f"[grid].like = {cfg.grid.like}")
    for key, p in feature_paths(cfg.features or {}):
        if not loaded.resolve(Path(p)).exists():
            missing.append(f"[features].{key} = {p}")
    if cfg.water is not None:
        named = [(f"epochs.{e}", p) for e, ps in cfg.water.epochs.items() for p in ps] + [(f"reference.{e}", p) for e, p in cfg.water.reference.items()]
        missing += [f"[water].{key} = {p}" for key, p in named if not loaded.resolve(p).exists()]
    if missing:
        raise ConfigError(
            "files not found: " + "; ".join(missing), str(loaded.path), f"paths are relative to {loaded.base}; correct them"
        )


def feature_paths(features: dict) -> list[tuple[str, str]]:
    """(key, path) of every file or folder a [features] section names: each series' `source` (one path or a
    list) and `qa`, keyed like "evi.source"."""
    out = []
    for key in FEATURE_SERIES:
        spec = features.get(key)
        spec = {"source": spec} if isinstance(spec, str) else spec
        if not isinstance(spec, dict):
            continue
        cube = str(spec.get("source", "")).rstrip("/").endswith((".nc", ".zarr"))
        for part in ("source",) if cube else ("source", "qa"):  # a cube's qa names a variable, not a file
            value = spec.get(part)
            out += [(f"{key}.{part}", str(v)) for v in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(v, str)]
    return out


def canonical_json(cfg: RunConfig) -> str:
    """The validated config as canonical JSON (for hashing stage inputs)."""
    return json.dumps(cfg.model_dump(mode="json"), sort_keys=True)


def config_reference() -> str:
    """Markdown reference of every config section and key, generated from the models (used in the README)."""
    sections = [
        ("run", RunSection),
        ("grid", GridSection),
        ("inputs.NAME", InputRaster),
        ("units", UnitsSection),
        ("statistics", StatisticsSection),
        ("suitability", SuitabilitySection),
        ("training", TrainingSection),
        ("models", ModelsSection),
        ("mapping", MappingSection),
        ("evaluation", EvaluationSection),
    ]
    out = []
    for name, model in sections:
        out.append(f"#### `[{name}]`\n\n| key | default | meaning |\n|---|---|---|")
        for key, f in model.model_fields.items():
            default = "required" if f.is_required() else repr(f.get_default(call_default_factory=True))
            default = default.replace("PosixPath(", "").replace("'", "").rstrip(")") if "PosixPath" in default else default
            out.append(f"| `{key}` | `{default}` | {f.description} |")
        out.append("")
    return "\n".join(out)
