"""The run configuration: one TOML file validated before any work, every field described.

Relative paths are resolved against the config file's folder. Validation errors name the key (as
`[section].key`), what is wrong, and the fix; misspelt keys get a "did you mean" suggestion.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import itertools
import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from irrmap.core import dataset_names
from irrmap.core.cloud_buffer import CLOUD_BUFFER_PX, MAX_CLOUD_BUFFER_PX
from irrmap.core.errors import ConfigError, GridError, InputError
from irrmap.core.fractions import fraction_problem

if TYPE_CHECKING:  # imported where used: irrmap.core.grid imports rioxarray (1 s at every CLI start)
    from irrmap.core.grid import Grid

# Pixel sizes (nominal ground metres, irrmap.core.grid.pixel_size_m) of a run's grid. The method maps at 250 m
# (10 m to 1 km are plausible analysis grids); a size outside 1 m .. 100 km was typed in the other unit: the
# degree values of usual grids (0.0001 .. 0.9) read as metres fall below 1 m, and metre values (>= 1) read as
# degrees exceed 100 km.
RUN_PIXEL_M = (1.0, 100_000.0)
# The [features] keys that hold a time series: a path, or a table whose `source` (path or list of paths) and
# `qa` name files (read by irrmap.training.sscore).
FEATURE_SERIES = ("evi", "ndvi", "nir", "green", "swir", "gi", "ndwi")


# A raster path that may also be a GDAL dataset name (/vsizip/x.zip/a.tif, NETCDF:"f.nc":var): archive names are
# rewritten to GDAL's brace form before pathlib drops the double slash of /vsizip//abs.zip (irrmap.core.dataset_names).
RasterPath = Annotated[Path, BeforeValidator(dataset_names.normalise)]


def _layer_choice(v):
    """A layer given by its 1-based number or its name; true/false is refused (pydantic would read true as layer 1)."""
    if isinstance(v, bool):
        raise ValueError(f'band = {str(v).lower()}: give a layer number (1, 2, ...) or a layer name (text, e.g. "NDVI")')
    if isinstance(v, int) and v < 1:
        raise ValueError(f"band {v}: layers are numbered from 1 (or give the layer's name)")
    return v


LayerChoice = Annotated[int | str | None, BeforeValidator(_layer_choice)]


def _fraction(*, low_open: bool = False, high_open: bool = False) -> BeforeValidator:
    """The range check of a fraction key (irrmap.core.fractions, shared with the CLI's fraction_arg), run before
    pydantic's own ge/le so that a percent typed for a fraction (tolerance = 10) gets the percent reading as its fix."""

    def check(v):
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            problem = fraction_problem(float(v), "value", low_open=low_open, high_open=high_open)
            if problem:
                raise ValueError(f"{problem[0].removeprefix('value ')} (fix: {problem[1]})")
        return v

    return BeforeValidator(check)


# fraction keys (shares, frequencies, relative tolerances): [0, 1], [0, 1) and (0, 1]
Fraction = Annotated[float, _fraction()]
FractionBelow1 = Annotated[float, _fraction(high_open=True)]
FractionAbove0 = Annotated[float, _fraction(low_open=True)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunSection(_Section):
    name: str = Field("irrmap-run", description="Name of the run, recorded in the manifest.")
    output_dir: Path = Field(Path("output"), description="Folder for all outputs and manifest.json (relative to the config file).")
    seed: int = Field(0, ge=0, description="Seed for every random step; the same inputs and seed give the same bytes out.")
    chunk_size: int = Field(1024, ge=64, le=16384, description="Chunk edge (pixels) for lazy reads and windowed processing.")
    workers: int = Field(0, ge=0, description="Threads for dask; 0 means one per CPU core.")
    gdal_cache_mb: int = Field(64, ge=16, description="Cap on GDAL's block cache (MB); bounds peak memory on large grids (64: the 16x demo's features stage peaks at 1.10 GB, not 1.39 GB with 256, in the same time).")
    scheduler: str | None = Field(None, description="Where dask runs: local-processes:N (a cluster of N worker processes here) or the "
                                  "address of a dask.distributed scheduler (tcp://host:port); none runs threads locally.")
    worker_wait: float = Field(120.0, gt=0, description="Seconds a run on a scheduler address waits for a first worker, and "
                               "goes on while the cluster has none, before it stops with an error (raise it for batch queues).")


class GridSection(_Section):
    crs: str | None = Field(None, description="CRS of the analysis grid (EPSG code, WKT or PROJ string). Omit with `like`.")
    bounds: tuple[float, float, float, float] | None = Field(None, description="left, bottom, right, top in CRS units.")
    resolution: float | None = Field(None, gt=0, description="Pixel size in CRS units (0.00225 deg is the CIrrMap250 grid).")
    like: RasterPath | None = Field(None, description="Take the grid from this raster instead of crs/bounds/resolution.")

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
            if self.crs is not None:
                bounds_in_crs_units(self.bounds, self.crs)
        return self


def bounds_in_crs_units(bounds, crs: str) -> None:
    """ValueError when [grid] bounds are plainly in the other unit: metres on a geographic CRS (beyond +-360 / +-90),
    or degrees on a projected CRS (every bound within +-180 / +-90 and the extent under 360 CRS units, i.e. a grid
    a few metres wide)."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    l, b, r, t = bounds
    if c.is_geographic and (max(abs(l), abs(r)) > 360 or max(abs(b), abs(t)) > 90):
        raise ValueError(f"bounds {tuple(bounds)} are not degrees but {crs} is geographic: give the bounds in degrees "
                         "(lon/lat), or the projected CRS the bounds are in")
    if c.is_projected and max(abs(l), abs(r)) <= 180 and max(abs(b), abs(t)) <= 90 and (r - l) < 360 and (t - b) < 360:
        unit = c.axis_info[0].unit_name if c.axis_info else "metre"
        raise ValueError(f"bounds {tuple(bounds)} look like degrees (lon/lat) but {crs} is projected, in {unit}s: give the bounds "
                         f"in {unit}s (e.g. `gdaltransform -s_srs EPSG:4326 -t_srs {crs}`), or crs = 'EPSG:4326' for a degree grid")


class InputRaster(_Section):
    path: RasterPath = Field(description="Raster file (any GDAL format), or a GDAL dataset name (/vsizip/x.zip/a.tif, NETCDF:\"f.nc\":var).")
    kind: Literal["continuous", "categorical", "fraction"] = Field(
        "continuous", description="continuous (average/bilinear), categorical (mode/nearest) or fraction (share of `classes`; missing where valid cells cover less than half of the pixel)."
    )
    band: LayerChoice = Field(
        None, description='Layer to read: its 1-based number or its name (band description, e.g. "NDVI"); omit for a single-layer file (a file with several layers then stops with an error listing them).'
    )
    classes: list[int] | None = Field(None, description="Class codes counted by kind = 'fraction' (e.g. cropland codes).")
    resampling: str | None = Field(None, description="Override the resampling (GDAL name: nearest, bilinear, average, mode, ...).")
    nodata: float | None = Field(None, description="Override the file's nodata value (replaces it, as gdalwarp -srcnodata does; without either, every stored value is data).")
    fill_values: list[float] = Field(default_factory=list, description="Further raw values meaning missing (e.g. 65531, -3000).")
    scale: float | None = Field(None, description="Override the file's scale factor (MOD13Q1: 0.0001).")
    offset: float | None = Field(None, description="Override the file's offset.")
    valid_range: tuple[float, float] | None = Field(None, description="Raw values outside [min, max] are missing.")
    area_share: bool | None = Field(
        None, description="kind = 'continuous' values are shares of the pixel's area (a cropland or tree-cover fraction, a percent "
        "with scale = 0.01): read as kind = 'fraction' is, the average of the valid cells only where they cover at least half of the "
        "pixel (the file's edge, its missing cells), else missing, since the share is multiplied by the whole pixel's area. "
        "Default: true for an input read as a cropland or cover share ([training], [suitability], [reconcile] cropland, "
        "[features] cropland / natural / other, [evaluation].map with map_kind = 'fraction'), false otherwise (EVI, "
        "precipitation: the average of the known part). Not for kind = 'categorical'.")

    @model_validator(mode="after")
    def _classes_for_fraction(self):
        if self.kind == "fraction" and not self.classes:
            raise ValueError("kind = 'fraction' needs `classes` (the codes to count)")
        if self.kind == "categorical" and self.area_share:
            raise ValueError("area_share = true needs kind = 'continuous' (a percent or 0..1 share) or 'fraction' (classes "
                             "counted), not 'categorical' (class codes)")
        return self


class UnitsSection(_Section):
    path: Path = Field(description="Admin unit polygons (GeoPackage, GeoJSON, shapefile) at the finest level (counties).")
    layer: str | None = Field(None, description="Layer name inside a multi-layer file.")
    encoding: str | None = Field(None, description="Text encoding of a shapefile's DBF (e.g. 'gbk' for Chinese boundaries without a "
                                 ".cpg file); default: the .cpg's, else UTF-8 or an error naming the encoding to give.")
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
        default_factory=dict, description="With hierarchy = 'fields': level name -> field with that level's code, e.g. {city = 'city_code', "
        "province = 'prov_code'}, in any order: the levels are ordered finest first by how their codes nest (an error names codes "
        "with several parents)."
    )

    @model_validator(mode="after")
    def _fields_need_parents(self):
        if self.hierarchy == "fields" and not self.parent_fields:
            raise ValueError("hierarchy = 'fields' needs `parent_fields`, e.g. {city = 'city_code', province = 'prov_code'}")
        return self

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, v):
        import codecs

        if v is not None:
            try:
                codecs.lookup(v)
            except LookupError:
                raise ValueError(f"unknown encoding {v!r}: use a Python codec name, e.g. gbk, gb18030, utf-8, cp1252") from None
        return v


# The finest admin level of each [units].hierarchy: the first level of irrmap.core.units.SCHEMES ("unit" for 'fields',
# whose levels are ("unit", *parent_fields)); a test keeps them equal. The default [statistics].level, and the level
# threshold splitting needs.
FINEST_LEVEL = {"cn-adcode": "county", "us-fips": "county", "fields": "unit", "none": "unit"}


class StatisticsSection(_Section):
    path: Path = Field(description="Statistics table: CSV, or a .xls/.xlsx/.ods workbook (as offices publish them: see header_rows).")
    code_field: str = Field(description="Column holding the unit code (joined to [units].code_field).")
    area_field: str = Field(description="Column holding the irrigated area.")
    area_unit: str = Field(description="Unit of the area column: m2, ha, 1000ha, km2, mu, 10000mu (万亩), acres, 1000acres, "
                           "10000ha (万公顷), 1000mu (千亩).")
    year_field: str | None = Field(None, description="Column holding the year (optional).")
    year: int | None = Field(None, description="Keep only this year of year_field; without year_field, the year of the whole table "
                                               "(e.g. one sheet of a one-sheet-per-year workbook); refused when the table says another year (an area column "
                                               "headed by another year, or a column of years holding others).")
    variant_field: str | None = Field(None, description="Column naming the statistic's variant (e.g. effective / actual).")
    variant: str | None = Field(None, description="Keep only this variant (needs variant_field).")
    level: str = Field("county", description="Admin level the table reports at (a level of [units]); default: the finest level of "
                                             "[units].hierarchy (FINEST_LEVEL: county for cn-adcode and us-fips, unit for fields and none).")
    skip_rows: int = Field(0, ge=0, description="Lines to skip before the header (USGS tables: 1).")
    sheet: str | None = Field(None, description="Sheet of a .xls/.xlsx/.ods workbook by name, e.g. one sheet per year (default: the one sheet holding the table, or the sheet named for [statistics].year; a workbook of several such sheets without either is refused).")
    header_rows: list[int] | None = Field(
        None, description="Line numbers (from 1) of the header rows, e.g. [3, 4] under a title and a units row; columns are then "
                          "named by their joined header path ('Net Area Irrigated From / Total'); fields may also be positions ('#6'). "
                          "`irrmap statistics preview` shows them.")
    drop_rows: list[str] = Field(default_factory=list, description="Regular expressions (case-sensitive; '(?i)' for any case): "
                                                                   "rows whose label (first filled cell) matches one are dropped (state rows, totals, footnotes).")
    zero_values: list[str] = Field(default_factory=list, description="Cell texts that mean 0 (e.g. '-'); other markers ('NA', '..') mean missing.")
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
        if self.variant is not None and self.variant_field is None:
            raise ValueError("`variant` filters rows by `variant_field`: set variant_field too")
        if self.decimal is not None and self.decimal == self.thousands:
            raise ValueError(f"decimal and thousands are both {self.decimal!r}: give two different marks")
        if self.header_rows is not None and self.skip_rows:
            raise ValueError("`header_rows` places the header (rows above it are skipped): leave skip_rows at 0")
        return self

    @field_validator("encoding", "separator", "header_rows", "drop_rows")
    @classmethod
    def _table_format(cls, v, info):
        from irrmap.core.errors import IrrmapError
        from irrmap.core.tables import TableFormat

        try:
            TableFormat(**{info.field_name: tuple(v) if isinstance(v, list) else v})
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
    precipitation: str | None = Field(None, description="Product name of annual precipitation in mm/year (the unit of pet; implausible medians are refused: irrmap.suitability.guards).")
    pet: str | None = Field(None, description="Product name of annual potential evapotranspiration in mm/year (30..4000 expected).")
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

    @field_validator("weights")
    @classmethod
    def _factor_weights(cls, v):
        return _checked_weights(v, "")

    @field_validator("weights_in")
    @classmethod
    def _unit_weights(cls, v):
        for code, w in v.items():
            _checked_weights(w, f"for unit {code!r}: ")
        return v

    @field_validator("elevation_breaks", "distance_breaks", "slope_breaks", "aridity_breaks")
    @classmethod
    def _increasing(cls, v, info):
        if not v or any(b <= a for a, b in itertools.pairwise(v)):
            raise ValueError(f"give class limits in increasing order (most suitable first), e.g. "
                             f"{SuitabilitySection.model_fields[info.field_name].default}; got {v}")
        return v

    @model_validator(mode="after")
    def _aridity_source(self):
        if self.aridity is None and (self.precipitation is None or self.pet is None):
            raise ValueError("give `aridity` (an AI raster) or both `precipitation` and `pet`")
        if self.water_values is not None and self.water_threshold is not None:
            raise ValueError("give water_values or water_threshold, not both")
        return self


# The suitability factors (irrmap.suitability.reclass.FACTORS; METHOD.md: elevation, distance to water, slope, aridity)
SUITABILITY_FACTORS = ("elevation", "distance", "slope", "aridity")


def _checked_weights(w: dict, where: str) -> dict:
    """ValueError unless `w` weighs known factors with numbers >= 0 of positive sum (they are normalised to sum 1)."""
    unknown = [k for k in w if k not in SUITABILITY_FACTORS]
    if unknown:
        near = difflib.get_close_matches(unknown[0], SUITABILITY_FACTORS, n=1)
        raise ValueError(f"{where}unknown factor(s) {unknown}{f' (did you mean {near[0]!r}?)' if near else ''}: "
                         f"give weights of {', '.join(SUITABILITY_FACTORS)}")
    if any(x < 0 for x in w.values()) or not sum(w.values()) > 0:
        raise ValueError(f"{where}weights {w} must be numbers >= 0 with a positive sum (they are normalised to sum 1)")
    return w


class TrainingSection(_Section):
    scores: list[str] = Field(
        default_factory=lambda: ["sevi", "sndvi", "sgi"],
        description="Score rasters to threshold, by product name (an [inputs.NAME] or a product of an earlier stage).",
    )
    cropland: str = Field("cropland", description="Product name of the cropland fraction (0..1), e.g. an [inputs.cropland] of kind 'fraction'.")
    rule: Literal["nearest", "reach", "under"] = Field(
        "nearest", description="Stopping rule: nearest (|mapped - target| smallest), reach (mapped >= target), under (mapped <= target)."
    )
    per_class: int = Field(200, ge=1, description="Training samples per unit and class, 1 or more (0 would leave the pool empty; leave out single units with per_class_in).")
    per_class_in: dict[str, int] = Field(default_factory=dict, description="Per parent-unit overrides of per_class, e.g. {'650000' = 400}.")
    erode: int = Field(0, ge=0, description="Drop pool pixels within this many pixels of another label.")
    predictors: list[str] | None = Field(None, description="Products sampled into the pool (default: every raster product).")


class ModelsSection(_Section):
    model: Literal["rf", "lgbm", "lgbm-rf"] = Field("rf", description="Classifier: random forest (the method's), LightGBM, or LightGBM's rf mode.")
    scope: Literal["global", "province", "county"] = Field("global", description="One model overall, per province, or per county.")
    features: list[str] | None = Field(None, description="Pool columns used as predictors (default: every predictor plus lon/lat).")
    cv_blocks: int | Literal["units"] | None = Field(40, description="Spatially blocked CV: block size in pixels, 'units', or 0 / 'none' to skip.")
    n_jobs: int = Field(0, ge=0, description="Threads for fitting; 0 = one per core.")
    max_per_class: int = Field(
        100_000, ge=0, description="Each model fits on at most this many samples per class, a seeded random sample of the "
        "pool (0: all). Bounds the fit time on large regions; the demo pools are far smaller (docs/models_mapping.md).")

    @field_validator("cv_blocks", mode="before")
    @classmethod
    def _cv_blocks_off(cls, v):
        """'none' / 'off' / 'false' (TOML has no null) and 0 skip the cross-validation (None); a negative block size
        is refused (a block is a positive number of pixels)."""
        if isinstance(v, str) and v.strip().lower() in ("none", "off", "false", "no"):
            return None
        if isinstance(v, bool):
            raise ValueError("a block size in pixels, 'units', or 0 / 'none' to skip")
        if isinstance(v, (int, float)) and v < 0:
            raise ValueError(f"{v} is negative: a block size in pixels (e.g. 40), 'units', or 0 / 'none' to skip")
        return v or None if isinstance(v, int) else v


class MappingSection(_Section):
    memory_mb: float = Field(512, gt=0, description="Memory budget for windowed prediction (sets the tile size).")
    filter: bool = Field(True, description="Apply the 7x7 rule: drop isolated irrigated pixels, fill holes.")
    isolated: int = Field(2, ge=0, le=48, description="7x7 rule: an irrigated pixel with at most this many irrigated in its window is dropped (0..48: the window holds 49 pixels).")
    hole: int = Field(47, ge=1, le=49, description="7x7 rule: a window with at least this many irrigated pixels is filled (1..49: the window holds 49 pixels).")
    majority_size: int = Field(0, ge=0, description="Optional majority filter window (0: off).")
    mmu: int = Field(0, ge=0, description="Optional minimum mapping unit in pixels for irrigated patches (0: off).")
    aggregate_factor: int = Field(4, ge=2, description="Pixels per side of the coarse irrigated-area product, mapping/irrigated_area_1km.tif "
                                  "(4 x 250 m = 1 km; on other grids its cells are this x the pixel's ground size, named in the report; "
                                  "the run warns when the default is not about 1 km).")


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
    positive: list[str] | None = Field(None, description="Label values meaning irrigated (every other value then means not irrigated); instead of label_map.")
    stratum_field: str | None = Field(
        None, description="Point field naming each point's sampling stratum: accuracy and error-adjusted areas are then design-based "
        "(Stehman 2014), with stratum sizes from `inclusion_field` or `stratum_sizes`."
    )
    inclusion_field: str | None = Field(None, description="Point field with each point's inclusion probability; a stratum's size is then "
                                        "estimated as the sum of 1 / probability over its points (Horvitz-Thompson). Values above 1 are refused "
                                        "(percent); when the strata are the map classes, a sum off the class's pixels in the map by more "
                                        "than 2x is warned about.")
    stratum_sizes: dict[str, float] | None = Field(None, description='Size of each stratum in pixels of the sampling frame the points were drawn from (at least the stratum\'s number of points), e.g. {arid = 68, humid = 706} (instead of inclusion_field, not both). Error-adjusted areas are these frame pixels times `frame_pixel_area_ha`.')
    frame_pixel_area_ha: float | None = Field(None, gt=0, description="Pixel area (ha) of the sampling frame the points were drawn from, which turns stratum sizes (frame pixels) into hectares; default: the mean pixel area of the run's grid (a sample drawn on the run's grid, as the demo's is), checked with the points: refused when the points on the grid stand for more frame pixels (sum of 1/pi, or of the stratum sizes) than the grid has, and warned about when they lie off its pixel centres (by more than 0.01 px) or on every k-th pixel; give it for points drawn on any other grid (a given area is checked too: refused when the points on the grid times it cover more than the grid's area, e.g. an area in m2 or a coarser frame's). When it is the map's mean pixel area and the map's pixels differ in area by more than 1 % (a lon/lat grid), each stratum's area is instead the sum of its pixels' true areas. The report's error-adjusted area table names the area used and where it came from.")
    level_statistics: dict[str, Path] = Field(
        default_factory=dict, description='Statistics tables of higher levels (same columns as [statistics]), e.g. {province = "province.csv"}: '
        "each level is compared with its own table; a level without one is compared with the sum of its units' statistics."
    )

    @model_validator(mode="after")
    def _design(self):
        if self.stratum_field and not (self.inclusion_field or self.stratum_sizes):
            raise ValueError("stratum_field needs inclusion_field or stratum_sizes (the size of each stratum)")
        if (self.inclusion_field or self.stratum_sizes) and not self.stratum_field:
            raise ValueError("inclusion_field and stratum_sizes need stratum_field (the point field naming the stratum)")
        if self.inclusion_field and self.stratum_sizes:
            raise ValueError("give inclusion_field or stratum_sizes, not both")
        if self.positive and self.label_map:
            raise ValueError("give positive or label_map, not both")
        return self

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
        "DSWE high + moderate confidence. Default NDWI > 0: of the fixed-threshold and DSWE methods, its water maps of the three Flathead "
        "epochs agree best on the pixels clear in all three, and Otsu on NDWI (which falls back to NDWI > 0 on the mostly cloudy 1997 "
        "scene) agrees as well, within half a percentage point (the measured shares: docs/water.md, benchmarks/results/flathead_water.json)."
    )
    threshold: float = Field(0.0, description="Index threshold of the fixed-threshold methods (0.0: the published threshold of all four).")
    index: Literal["ndwi", "mndwi", "awei_nsh", "awei_sh"] = Field("ndwi", description="Index thresholded by method = 'otsu'.")
    detection: FractionBelow1 = Field(0.10, ge=0, lt=1, description="Water frequency above which a pixel is a detection pixel; only bodies holding one are kept (DEA Waterbodies 0.10).")
    extent: FractionBelow1 = Field(0.05, ge=0, lt=1, description="Water frequency above which a pixel is water, outlining the bodies (DEA Waterbodies 0.05; at most `detection`).")
    permanent: FractionAbove0 = Field(1.0, gt=0, le=1, description="Water frequency from which water is permanent, else seasonal (JRC: 1.0, water in every clear observation).")
    min_clear: int = Field(1, ge=1, description="Clear observations a pixel needs in an epoch, else unknown (at most the epoch's scene count).")
    cloud_buffer: int = Field(CLOUD_BUFFER_PX, ge=0, le=MAX_CLOUD_BUFFER_PX, description="Pixels by which cloud and cloud shadow are "
        "dilated (unknown), in the spectral screen and in a product's QA band alike (Collection 2 QA_PIXEL's cloud is already dilated: its "
        "shadow only); 3 is Fmask's default (Zhu & Woodcock 2012; Fmask 4.0, Qiu et al. 2019), 0 switches the buffer off.")
    min_area_m2: float = Field(3125.0, ge=0, description="Smallest body kept, true area in m2 (DEA Waterbodies 3,125 m2; 0 keeps all).")
    connectivity: Literal[4, 8] = Field(8, description="Pixels touching at a corner belong to one body with 8, not with 4.")
    tolerance: Fraction = Field(0.10, ge=0, le=1, description="Relative area change between epochs still called stable.")
    admin_units: bool = Field(True, description="Give each body the [units] unit holding most of its area (when [units] is present).")
    reference: dict[str, RasterPath] = Field(
        default_factory=dict, description="Epoch label -> a reference water mask (1 water, 0 not, nodata unknown; any grid, read onto the "
        "scenes' grid) to score the mapped bodies against: precision and recall of bodies matched at `iou`, area error (water/score.json)."
    )
    iou: FractionAbove0 = Field(0.5, gt=0, le=1, description="Intersection over union from which a mapped body matches a reference body.")

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
        from irrmap.core.index_ranges import INDEX_RANGE, threshold_problem

        if self.method not in INDEX_RANGE and "threshold" in self.model_fields_set:
            raise ValueError(f"`threshold` {self.threshold:g} is ignored by method = {self.method!r} (it uses its own threshold or tests): "
                             f"drop `threshold`, or use a fixed-threshold method ({', '.join(INDEX_RANGE)})")
        problem = threshold_problem(self.threshold, self.method) if self.method in INDEX_RANGE else None
        if problem:
            raise ValueError(f"`threshold`: {problem}; use a threshold inside {self.method.upper()}'s range, e.g. 0.0 (the published threshold)")
        return self


class EESource(_Section):
    """[sources.ee]: rasters fetched from Earth Engine onto the run's grid (irrmap.sources.ee; README "From an Earth
    Engine account to a finished map"). The request limits are Earth Engine's computePixels limits (48 MB, 32768 px
    per side, irrmap.sources.ee.tiles)."""

    project: str | None = Field(None, description="Google Cloud project registered for Earth Engine (default: the one `earthengine set_project` stored).")
    credentials: Path | None = Field(
        None, description="Service-account key file (JSON); default $GOOGLE_APPLICATION_CREDENTIALS, else your own credentials from `earthengine authenticate`.")
    region: tuple[float, float, float, float] | Path | None = Field(
        None, description="Area to fetch: [west, south, east, north] in degrees (EPSG:4326) or a polygon file (e.g. units); grid tiles "
        "outside it are not requested and stay nodata. Default: the whole grid.")
    region_layer: str | None = Field(None, description="Layer of a multi-layer region file.")
    year: int | None = Field(None, ge=1950, le=2100, description="Year to fetch: images from YEAR-01-01 up to (not including) YEAR+1-01-01; with [features].season_start (e.g. \"09-01\") the season named YEAR instead (YEAR-1-09-01 up to YEAR-09-01), as the features stage takes it.")
    start: str | None = Field(None, description="First day (YYYY-MM-DD) of the images to fetch, instead of `year`.")
    end: str | None = Field(None, description="Day after the last (YYYY-MM-DD; Earth Engine's filterDate excludes it), with `start`.")
    datasets: list[str] = Field(min_length=1, description="Names of the datasets to fetch: entries of the catalogue (irrmap/sources/ee/catalog.py) or of `catalog`.")
    catalog: dict[str, dict[str, Any]] = Field(default_factory=dict, description="Your own catalogue entries by name: the fields of irrmap.sources.ee.catalog.EEDataset, `base` = an entry to start from.")
    output_dir: Path | None = Field(None, description="Folder of the fetched rasters (default: aligned/ in [run].output_dir, where [inputs] rasters go).")
    tile_size: int = Field(2048, ge=16, le=32768, description="Largest tile edge (pixels) of one request (Earth Engine: at most 32768).")
    max_request_bytes: int = Field(33_554_432, ge=1024, le=48_000_000, description="Largest uncompressed request (bytes; Earth Engine: 48 MB).")
    max_requests: int = Field(100_000, ge=1, description="Largest number of requests a fetch may make (all datasets); a larger plan is refused "
                              "before anything is requested, a plan above a tenth of it is warned about. At Earth Engine's default "
                              "per-project quotas (100 requests/s, 40 concurrent) 100,000 requests take at least 17 min, hours in practice.")
    retries: int = Field(6, ge=0, le=20, description="Further tries of a request after a quota or transient error.")
    workers: int = Field(4, ge=1, le=40, description="Requests in flight at once (Earth Engine allows 40 per project by default).")
    backoff: float = Field(2.0, ge=0, description="Seconds before the first retry; doubled each retry (plus up to 25 % jitter), capped at 120 s.")

    @field_validator("start", "end")
    @classmethod
    def _iso_date(cls, v):
        import datetime

        if v is not None:
            try:
                datetime.date.fromisoformat(v)
            except ValueError:
                raise ValueError(f"{v!r} is not a date: write YYYY-MM-DD, e.g. '2020-01-01'") from None
        return v

    @model_validator(mode="after")
    def _dates_and_region(self):
        if self.year is None and (self.start is None or self.end is None):
            raise ValueError("give `year`, or both `start` and `end` (YYYY-MM-DD)")
        if self.year is not None and (self.start is not None or self.end is not None):
            raise ValueError("give `year` or start/end, not both")
        if self.start is not None and self.start >= self.end:
            raise ValueError(f"start {self.start} is not before end {self.end}")
        if isinstance(self.region, tuple):
            w, s, e, n = self.region
            if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
                raise ValueError(f"region {list(self.region)} is not [west, south, east, north] in degrees with -180 <= west < east <= 180 "
                                 "and -90 <= south < north <= 90; a region across the antimeridian (180 deg) is no such box: give "
                                 "region = a polygon file (EPSG:4326) with the parts on either side of 180 deg, e.g. two boxes "
                                 "[west, south, 180, north] and [-180, south, east - 360, north]")
        return self


class ReconcileSection(_Section):
    """[reconcile]: harmonise statistics tables and re-threshold a finished run's map to them, unit by unit
    (`irrmap reconcile CONFIG`; docs/reconcile.md). Each table is a [statistics]-like table named by its key."""

    tables: dict[str, StatisticsSection] = Field(
        description="Statistics tables by source name, each with the keys of [statistics] (path, code_field, area_field, area_unit, level, "
        "year_field, variant_field, variant, ...), e.g. [reconcile.tables.county_actual].")
    precedence: list[str] | None = Field(None, description="Source names, most trusted first (default: the order of `tables`).")
    tolerance: Fraction = Field(0.02, ge=0, le=1, description="Relative parent/children disagreement accepted without adjusting (a fraction in [0, 1]: 2 % is 0.02; 2 is refused as a percent).")
    max_jump: float = Field(3.0, gt=1, description="Year-to-year change factor beyond which a unit is flagged.")
    prior: Literal["cropland", "expected", "previous_map"] = Field(
        "cropland", description="Prior for filling missing children: cropland area, the classifier's expected irrigated area "
        "(sum of probability x cropland x pixel area), or the run's own map's irrigated area.")
    by: str | None = Field(None, description="Level of the independent jobs (e.g. province, state; default: the coarsest level of [units]).")
    binding_level: str | None = Field(None, description="Level whose statistics bind in harmonising: finer levels are scaled to it, coarser "
                                      "ones are summed from it (default: the coarsest level with values). The map is bound to the finest level "
                                      "with a statistic for every unit of a job.")
    rule: Literal["nearest", "reach", "under"] = Field("nearest", description="Stopping rule of the splitting (as [training].rule).")
    probability: str = Field("irrigation_probability", description="Product name of the classifier's probability (the mapping stage's P x 100).")
    probability_scale: float = Field(0.01, gt=0, description="Factor turning the probability product into 0..1 (0.01 for the mapping stage's).")
    cropland: str | None = Field(None, description="Product name of the cropland fraction (default [training].cropland).")

    @model_validator(mode="after")
    def _sources(self):
        if not self.tables:
            raise ValueError("`tables` is empty: name at least one statistics table, e.g. [reconcile.tables.county]")
        stray = sorted(set(self.precedence or []) - set(self.tables))
        if stray:
            raise ValueError(f"`precedence` names {stray}, which are not in `tables` ({', '.join(self.tables)})")
        return self


class SourcesSection(_Section):
    ee: EESource | None = Field(None, description="Rasters fetched from Earth Engine.")


class TreecoverTrend(_Section):
    """[treecover.trend]: per-pixel Theil-Sen slope and Mann-Kendall p-value of a dated series (irrmap.mapping
    .treecover.trend; the options of `irrmap treecover trend`)."""

    series: list[Path] = Field(description="Raster(s) of the series: one band per date with dated band descriptions (Landsat scene ids, "
                               "dates, years), or dated single-band files; the trend takes the first one's grid.")
    min_years: int = Field(5, ge=2, description="Fewest calendar years with a valid observation for a pixel to get a trend.")
    annual: Literal["median", "max", "mean"] | None = Field(None, description="Reduce each year's observations to one value first (default: every observation).")
    scale: float | None = Field(None, description="Multiply stored values (e.g. 0.0001 for NDVI x 10000); the slope is in the scaled units.")
    nodata: float | None = Field(None, description="Stored value of missing observations (replaces the files' own).")
    harmonise: Literal["ndvi", "blue", "green", "red", "nir", "swir1", "swir2"] | None = Field(
        None, description="Map TM and ETM+ layers to OLI-equivalent values (Roy et al. 2016); needs Landsat ids as dates.")
    preset: Literal["mod13q1", "mod09"] | None = Field(None, description="Decoding preset (irrmap.sources.modis.PRESETS): mod13q1 = MOD13Q1 "
                                                      "NDVI/EVI, scale 1e-4, fill -3000 and 65531, valid -2000..10000, uint16 read as int16.")
    valid_range: tuple[float, float] | None = Field(None, description="Valid stored range [lo, hi]; values outside are missing.")
    date_pattern: str | None = Field(None, description="strptime-style pattern of the dates in file or band names, e.g. \"%d%m%Y\" "
                                     "(Landsat ids, ISO dates and years are always recognised).")
    band: LayerChoice = Field(None, description="The layer (number or name) of each file, for per-date files with several layers.")
    band_dates: list[str] | None = Field(None, description="Dates of the layers, in file then band order (when neither names nor "
                                         "band descriptions hold them).")


class TreecoverSection(_Section):
    """The tree-cover layer (irrmap.mapping.treecover; docs/treecover.md): percent canopy cover regressed on
    an epoch's bands against a coarse reference (MODIS VCF), predicted for every epoch at the bands'
    resolution, change between consecutive epochs, per-unit tables, an optional trend, and scores against
    truth cover. The defaults are those of `irrmap treecover fit / predict / change`."""

    reference: RasterPath = Field(description="Percent tree cover of the fit epoch (e.g. MODIS VCF, 0..100; larger values are flags).")
    epochs: dict[str, list[Path]] = Field(
        description="Epoch label (e.g. a year) -> its bands: one file per band (several layers = dates), or one scene stack (multi-band "
        "GeoTIFF with common band names as descriptions, as [water] reads). Every epoch needs the fit epoch's bands in its order."
    )
    fit_epoch: str | None = Field(None, description="The epoch the reference describes, whose bands the model is fitted on (default: the last).")
    band_names: list[str] | None = Field(None, description="Common name of each band file (blue, green, red, nir, swir1, swir2), in order.")
    sensor: str | None = Field(None, description="Sensor code naming bands by the band number in file names (LT05, LE07, LC08, ...).")
    percentiles: list[float] = Field([10.0, 50.0, 90.0], description="Per-pixel percentiles over dates, for multi-date band files.")
    reference_resolution: float | None = Field(None, gt=0, description="Fit on cells of this size (m on the ground), both sides averaged (default: the reference's grid).")
    reference_valid_max: float = Field(100.0, gt=0, description="Larger reference values are flags, not cover (MODIS VCF: 100).")
    model: Literal["rf", "lgbm", "lgbm-rf"] = Field("rf", description="Regressor.")
    cv_block_m: float = Field(5000.0, gt=0, description="Edge (m on the ground) of the square blocks held out together in cross-validation.")
    cv_splits: int = Field(5, ge=2, description="Cross-validation folds.")
    max_samples: int = Field(100_000, ge=10, description="Most reference cells fitted and cross-validated (a seeded draw).")
    min_coverage: FractionAbove0 = Field(0.5, gt=0, le=1, description="Least share of a cell covered by valid bands and reference.")
    n_trees: int | None = Field(None, ge=1, description="Trees of the forest (boosting rounds for lgbm; default 100); prediction time grows with it.")
    forest_threshold: float = Field(30.0, ge=0, lt=100, description="Forest = canopy cover above this percent (FAO 10; 10-30 under the Kyoto rules).")
    change_threshold: float = Field(10.0, gt=0, le=100, description="Percentage points of cover change counted as gain or loss.")
    area_unit: str = Field("ha", description="Area unit of the tables: m2, ha, km2, ...")
    admin_units: bool = Field(True, description="Per-unit tables of the [units] polygons (when [units] is present); else one row for the whole map.")
    memory_mb: float = Field(512.0, gt=0, description="Memory budget of the prediction windows.")
    truth: dict[str, RasterPath] = Field(default_factory=dict, description="Epoch label -> a truth percent-cover raster (scoring only: R2, RMSE, "
                                   "bias of the predicted cover, treecover/score.json).")
    trend: TreecoverTrend | None = Field(None, description="Per-pixel trend of a dated series ([treecover.trend]).")

    @model_validator(mode="after")
    def _consistent(self):
        if not self.epochs:
            raise ValueError("`epochs` is empty: give at least one epoch, e.g. epochs = {2020 = [\"B1.tif\", \"B2.tif\"]}")
        bad = [e for e in self.epochs if not re.fullmatch(r"[A-Za-z0-9_.-]+", e)]
        if bad:
            raise ValueError(f"epoch label(s) {bad} are not plain names: use letters, digits, '_', '.', '-' (they name output folders)")
        empty = [e for e, bands in self.epochs.items() if not bands]
        if empty:
            raise ValueError(f"epoch(s) {empty} have no band file")
        if self.fit_epoch is not None and self.fit_epoch not in self.epochs:
            raise ValueError(f"fit_epoch {self.fit_epoch!r} is not in `epochs` ({', '.join(self.epochs)})")
        stray = sorted(set(self.truth) - set(self.epochs))
        if stray:
            raise ValueError(f"`truth` names epoch(s) {stray} that are not in `epochs` ({', '.join(self.epochs)})")
        if any(not 0 <= q <= 100 for q in self.percentiles) or not self.percentiles:
            raise ValueError(f"percentiles {self.percentiles} must be numbers in 0..100")
        return self


class RunConfig(_Section):
    """A whole run: [run], [grid], [inputs.NAME], [units], [statistics], [suitability], [training], [evaluation], [water], [sources.ee]."""

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
    treecover: TreecoverSection | None = Field(None, description="Tree-cover layer: percent canopy cover from Landsat bands calibrated on a coarse reference, change, trend.")
    sources: SourcesSection | None = Field(None, description="Rasters fetched from remote sources ([sources.ee]: Earth Engine) before the stages run.")
    reconcile: ReconcileSection | None = Field(None, description="Statistics reconciliation of a finished run (`irrmap reconcile`).")

    @model_validator(mode="before")
    @classmethod
    def _finest_level_default(cls, data):
        """A statistics table ([statistics], [reconcile.tables.NAME]) that names no level is at the finest level of
        [units].hierarchy (FINEST_LEVEL; default hierarchy cn-adcode), not always 'county' (a hierarchy 'none' has
        only 'unit')."""
        if not isinstance(data, dict) or not isinstance(data.get("units", {}), dict):
            return data
        hierarchy = (data.get("units") or {}).get("hierarchy", "cn-adcode")
        finest = FINEST_LEVEL.get(hierarchy) if isinstance(hierarchy, str) else None
        if finest is None:  # an unknown hierarchy: its own error
            return data

        def fill(table):
            return {"level": finest, **table} if isinstance(table, dict) else table

        data = dict(data)
        if isinstance(data.get("statistics"), dict):
            data["statistics"] = fill(data["statistics"])
        rec = data.get("reconcile")
        if isinstance(rec, dict) and isinstance(rec.get("tables"), dict):
            data["reconcile"] = {**rec, "tables": {k: fill(t) for k, t in rec["tables"].items()}}
        return data

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


_ENV_VAR = re.compile(r"\$(\w+|\{[^}]*\})")


def expand_user_path(p, config_path=None) -> Path:
    """`p` with a leading ~ / ~user expanded (os.path.expanduser) and $NAME / ${NAME} replaced by the environment
    variable's value (os.path.expandvars). ConfigError naming the config file when a variable is not set, or when ~
    cannot be expanded (no home folder), instead of a path with a literal '~' or '$NAME' in it."""
    import os

    text = str(p)
    if "~" not in text and "$" not in text:
        return Path(p)
    where = str(config_path) if config_path is not None else "config"
    if text.startswith("~"):
        expanded = os.path.expanduser(text)
        if expanded.startswith("~"):
            raise ConfigError(f"path {text!r} starts with ~ but that user's home folder is unknown", where,
                              "write the path out in full, or relative to the config file's folder")
        text = expanded
    unset = [m.group(1).strip("{}") for m in _ENV_VAR.finditer(text) if m.group(1).strip("{}") not in os.environ]
    if unset:
        raise ConfigError(f"path {str(p)!r} uses the environment variable{'s' if len(unset) > 1 else ''} "
                          f"{', '.join('$' + u for u in unset)}, which {'are' if len(unset) > 1 else 'is'} not set", where,
                          f"set {unset[0]} before running irrmap, or write the path out in full")
    return Path(os.path.expandvars(text))


class LoadedConfig:
    """A validated config plus where it came from: paths resolved, raw text hashed."""

    def __init__(self, config: RunConfig, path: Path, text: str):
        self.config = config
        self.path = path
        self.base = path.parent
        self.sha256 = hashlib.sha256(text.encode("utf-8")).hexdigest()

    def resolve(self, p: Path | None) -> Path | None:
        """A config path made absolute against the config's folder; a GDAL dataset name (/vsizip/..., NETCDF:"f.nc":v)
        keeps its form with its container file made absolute (irrmap.core.dataset_names). A leading ~ (the user's
        home) and $NAME / ${NAME} (environment variables) are expanded as a shell would (`expand_user_path`):
        TOML has no such expansion, and a literal ~ made a folder named '~' beside the config."""
        if p is None:
            return None
        p = expand_user_path(p, self.path)
        if dataset_names.is_dataset_name(p):
            return Path(dataset_names.resolve(p, self.base))
        return (p if p.is_absolute() else (self.base / p)).resolve()

    def exists(self, p) -> bool:
        """Whether a config path exists: a file or folder, or the local container of a GDAL dataset name."""
        q = self.resolve(Path(p))
        return dataset_names.exists(q) if dataset_names.is_dataset_name(q) else q.exists()

    @property
    def output_dir(self) -> Path:
        return self.resolve(self.config.run.output_dir)

    def grid(self) -> Grid:
        """The analysis grid; GridError (naming the [grid] key) when it cannot be built or its pixel size lies
        outside RUN_PIXEL_M, i.e. was given in the other unit (metres on a degree CRS, or degrees on a metre CRS)."""
        import rasterio

        from irrmap.core.grid import Grid, check_pixel_size  # here: the grid module imports rioxarray (1 s), and the
        # CLI's parsers read their defaults from this module (`irrmap water mask --help` took 1.9 s)

        g = self.config.grid
        if g.like is not None:
            like = self.resolve(g.like)
            if not self.exists(g.like):
                raise ConfigError(f"raster {like} does not exist", "[grid].like", "point it at an existing raster")
            try:
                grid = Grid.from_raster(like)
            except (rasterio.errors.RasterioIOError, InputError) as exc:  # Grid.from_raster's: names the file, not the key
                fix = getattr(exc, "fix", None)  # Grid.from_raster's own fix (gdal_translate -a_ullr, gdal_edit.py -a_srs, ...)
                raise ConfigError(f"{'raster' if fix else 'cannot open raster'} {like}: {getattr(exc, 'what', exc)}", "[grid].like",
                                  fix or "point it at a raster GDAL can read") from None
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


# What a key of several accepted shapes (a union such as bounds-or-file or number-or-name, or a fixed-length list)
# accepts, said as a user writes it; "*" stands for a table name ([inputs.NAME]). Keys not listed are described
# from their type (_accepts).
_ACCEPTS = {
    ("sources", "ee", "region"): "4 numbers [west, south, east, north] in degrees, or a polygon file path",
    ("grid", "bounds"): "4 numbers [left, bottom, right, top] in CRS units",
    ("inputs", "*", "band"): 'a layer number (1, 2, ...) or a layer name (text, e.g. "NDVI")',
    ("inputs", "*", "valid_range"): "2 numbers [min, max]",
    ("models", "cv_blocks"): "a block size in pixels (a whole number) or 'units'",
}


def _model(t) -> type[BaseModel] | None:
    return t if isinstance(t, type) and issubclass(t, BaseModel) else None


def _members(ann) -> list:
    """The types a key accepts, None left out (Optional only means the key may be omitted), Annotated unwrapped."""
    unwrap = lambda a: get_args(a)[0] if get_origin(a) is Annotated else a  # RasterPath is an Annotated Path
    if get_origin(ann) is Union or type(ann).__name__ == "UnionType":
        return [unwrap(a) for a in get_args(ann) if a is not type(None)]
    return [unwrap(ann)]


def _leaf(loc: tuple):
    """(n, annotation, pattern) of the config key at the start of a pydantic error location: loc[:n] is the key
    (sections, table names, the key), loc[n:] is pydantic's path inside its value (union member tags, list
    indices); pattern is the key with table names as "*". None when loc does not end inside a key's value."""
    model, i, pattern = RunConfig, 0, []
    while i < len(loc):
        part = loc[i]
        f = model.model_fields.get(part) if isinstance(part, str) else None
        if f is None:
            return None
        pattern.append(part)
        i += 1
        members = _members(f.annotation)
        inner = _model(members[0]) if len(members) == 1 else None
        if inner is not None:
            model = inner
            continue
        args = get_args(members[0]) if len(members) == 1 and get_origin(members[0]) is dict else ()
        if args and _model(args[1]) is not None and i < len(loc):
            pattern.append("*")
            model, i = args[1], i + 1
            continue
        return i, f.annotation, tuple(pattern)
    return None


def _is_section(loc: tuple) -> bool:
    """Whether loc names a whole section ([sources.ee], [inputs.NAME]), not a key."""
    model, i = RunConfig, 0
    while i < len(loc):
        f = model.model_fields.get(loc[i]) if isinstance(loc[i], str) else None
        if f is None:
            return False
        members = _members(f.annotation)
        inner = _model(members[0]) if len(members) == 1 else None
        args = get_args(members[0]) if len(members) == 1 and get_origin(members[0]) is dict else ()
        if inner is None and args and _model(args[1]) is not None and i + 1 < len(loc):
            inner, i = args[1], i + 1  # skip the table name
        if inner is None:
            return False
        model, i = inner, i + 1
    return bool(loc)


def _shaped(ann) -> bool:
    """Whether pydantic reports a bad value of this type as one error per accepted shape or per list item (a
    union of several types, or a fixed-length tuple): such errors are merged into one plain message."""
    members = _members(ann)
    return len(members) > 1 or get_origin(members[0]) is tuple


def _accepts(ann) -> str:
    """What a type accepts, in words (for keys not in _ACCEPTS)."""
    def one(t) -> str:
        origin = get_origin(t)
        if origin is Literal:
            opts = [repr(a) for a in get_args(t)]
            return " or ".join(opts) if len(opts) <= 2 else f"one of {', '.join(opts)}"
        if origin is tuple:
            args = get_args(t)
            return "a list of any length" if args[-1:] == (Ellipsis,) else f"{len(args)} numbers" if all(a in (int, float) for a in args) else f"a list of {len(args)} values"
        if origin in (list, set):
            item = (get_args(t) or (None,))[0]
            plural = {int: "whole numbers", float: "numbers", str: "texts", Path: "file paths"}.get(item)
            return f"a list of {plural}" if plural else f"a list of {one(item)}" if get_origin(item) is Literal else "a list"
        if origin is dict:
            args = get_args(t)
            return f"a table whose values are {one(args[1])}" if args and args[1] is not Any else "a table"
        return {int: "a whole number", float: "a number", str: "a text", bool: "true or false", Path: "a file path"}.get(t, getattr(t, "__name__", str(t)))

    return ", or ".join(one(t) for t in _members(ann))


def _describe(value) -> str:
    """A TOML value as the user wrote it, for 'got ...'."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if isinstance(value, (list, tuple)):
        shown = repr(list(value)) if len(repr(list(value))) <= 80 else repr(list(value))[:77] + "...]"
        if value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return f"{len(value)} number{'s' if len(value) != 1 else ''} {shown}"
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''} {shown}"
    if isinstance(value, dict):
        shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "...}"
        return f"the table {shown}"
    return repr(value)


def _value_at(raw, loc: tuple):
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return None
    return raw


def explain_errors(errors: list[dict], raw: dict | None = None) -> list[str]:
    """One readable line per bad key. Errors of a key that accepts several shapes (_shaped: bounds-or-file,
    number-or-name, a fixed-length list) come from pydantic one per shape tried, located by internal schema
    names; they are merged into one line saying what the key accepts and what it got, e.g. "[sources.ee].region:
    give 4 numbers [west, south, east, north] in degrees, or a polygon file path; got 3 numbers [...]". A key's
    own validator message (a value of the right shape but wrong, e.g. band 0) is kept as it is."""
    lines, merged = [], {}
    for err in errors:
        loc = tuple(err["loc"])
        leaf = _leaf(loc)
        kind = err["type"]
        wrong_shape = kind.endswith(("_type", "_parsing")) or kind in ("int_from_float", "literal_error", "too_long", "too_short") \
            or (kind == "missing" and leaf is not None and len(loc) > leaf[0])
        if leaf is None or kind == "value_error" or not (_shaped(leaf[1]) or wrong_shape):
            line = _explain({**err, "loc": loc[:leaf[0]]} if leaf is not None and kind == "value_error" else err)
            if leaf is None and kind == "value_error" and _is_section(loc):  # a section's own check: "[sources.ee]: ..."
                line = f"[{'.'.join(map(str, loc))}]: " + line.split(": ", 1)[1]
            if line not in lines:
                lines.append(line)
            continue
        n, ann, pattern = leaf
        key = loc[:n]
        if key in merged:
            continue
        value = _value_at(raw, key) if raw is not None else err.get("input")
        got = _describe(value)
        options = [a for t in _members(ann) if get_origin(t) is Literal for a in get_args(t) if isinstance(a, str)]
        near = difflib.get_close_matches(value, options, n=1) if isinstance(value, str) and options else []
        hint = f" (did you mean {near[0]!r}?)" if near else ""
        merged[key] = f"{_format_loc(key)}: give {_ACCEPTS.get(pattern) or _accepts(ann)}; got {got}{hint}"
        lines.append(merged[key])
    return lines


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


#: [run] settings that cannot change a result's values (where it is written, its name, how it is computed: chunk
#: edge, threads, dask scheduler, GDAL cache): left out of `results_sha256`
RESULT_NEUTRAL_RUN_KEYS = ("name", "output_dir", "chunk_size", "workers", "gdal_cache_mb", "scheduler", "worker_wait")
#: [mapping] settings that only cut the prediction into tiles (memory_mb: the tile size; pixels are predicted one by
#: one and the filters read a halo): left out of `results_sha256` and of the mapping stage's settings
RESULT_NEUTRAL_MAPPING_KEYS = ("memory_mb",)


def results_sha256(config: RunConfig, *, seed: bool = True) -> str:
    """SHA-256 (hex) of the normalised config: its parsed values (defaults filled in, paths as written in the
    config, relative to its folder) as canonical JSON (sorted keys, no spaces), minus RESULT_NEUTRAL_RUN_KEYS and
    RESULT_NEUTRAL_MAPPING_KEYS. Comments, key order, spacing, [run].chunk_size, workers or [mapping].memory_mb leave
    it unchanged; any setting that can change an
    output changes it. The GeoTIFF tag of reconcile's outputs holds it (irrmap.app.stages.common.provenance; manifest.json
    keeps the raw text's hash).
    `seed=False` leaves [run].seed out too: the hash in the outputs of stages the seed cannot change
    (irrmap.app.stages.common.SEEDED_STAGES)."""
    import json

    data = config.model_dump(mode="json", exclude={"run": set(RESULT_NEUTRAL_RUN_KEYS) | (set() if seed else {"seed"}),
                                                   "mapping": set(RESULT_NEUTRAL_MAPPING_KEYS)})
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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
        lines = explain_errors(exc.errors(), raw)
        raise ConfigError("invalid config: " + "; ".join(lines), str(path), "correct the keys named above") from None
    lines = feature_problems(cfg.features)  # a free-form table: checked here, not deep in the features stage
    if lines:
        raise ConfigError("invalid config: " + "; ".join(lines), str(path), "correct the keys named above")
    if cfg.run.scheduler is not None:  # its syntax before the input files are looked for (irrmap.core.scheduler_address)
        from irrmap.core.scheduler_address import FORMS, parse_scheduler

        try:
            parse_scheduler(cfg.run.scheduler)
        except ValueError as exc:
            raise ConfigError(str(exc), "[run].scheduler", FORMS) from None
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
        if not loaded.exists(spec.path):
            missing.append(f"[inputs.{name}].path = {spec.path}")
    for section in ("units", "statistics"):
        sec = getattr(cfg, section)
        if sec is not None and not loaded.exists(sec.path):
            missing.append(f"[{section}].path = {sec.path}")
    if cfg.reconcile is not None:
        missing += [f"[reconcile.tables.{k}].path = {t.path}" for k, t in cfg.reconcile.tables.items() if not loaded.exists(t.path)]
    if cfg.evaluation is not None and cfg.evaluation.points is not None and not loaded.exists(cfg.evaluation.points):
        missing.append(f"[evaluation].points = {cfg.evaluation.points}")
    if cfg.grid.like is not None and not loaded.exists(cfg.grid.like):
        missing.append(f"[grid].like = {cfg.grid.like}")
    for key, p in feature_paths(cfg.features or {}):
        if not loaded.exists(Path(p)):
            missing.append(f"[features].{key} = {p}")
    ee = cfg.sources.ee if cfg.sources is not None else None
    if ee is not None:
        named = [("credentials", ee.credentials)] + ([("region", ee.region)] if isinstance(ee.region, Path) else [])
        missing += [f"[sources.ee].{key} = {p}" for key, p in named if p is not None and not loaded.exists(p)]
    if cfg.water is not None:
        named = [(f"epochs.{e}", p) for e, ps in cfg.water.epochs.items() for p in ps] + [(f"reference.{e}", p) for e, p in cfg.water.reference.items()]
        missing += [f"[water].{key} = {p}" for key, p in named if not loaded.exists(p)]
    if cfg.treecover is not None:
        tc = cfg.treecover
        named = [("reference", tc.reference)] + [(f"epochs.{e}", p) for e, ps in tc.epochs.items() for p in ps]
        named += [(f"truth.{e}", p) for e, p in tc.truth.items()] + [("trend.series", p) for p in (tc.trend.series if tc.trend else [])]
        missing += [f"[treecover].{key} = {p}" for key, p in named if not loaded.exists(p)]
    if missing:
        raise ConfigError(
            "files not found: " + "; ".join(missing), str(loaded.path), f"paths are relative to {loaded.base}; correct them"
        )


# [features] values checked at config load (feature_problems). The statistics are irrmap.training.composites.STATS,
# the presets irrmap.sources.modis.PRESETS, the other keys those of irrmap.training.sscore (_TOP_KEYS, _SERIES_KEYS)
# plus the product names the features stage reads (PRODUCT_KEYS); tests keep them equal.
FEATURE_STATS = ("max", "min", "range", "median", "std", "mean", "count")
FEATURE_PRESETS = ("mod13q1", "mod09", "none")
FEATURE_PRODUCT_KEYS = ("cropland", "natural", "other")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _season_start_ok(v) -> bool:
    from irrmap.core.season import parse_season_start

    try:
        parse_season_start(v)
    except ValueError:
        return False
    return True


def _text_or_texts(v) -> bool:
    return isinstance(v, str) or isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v)


# key -> (test of the value, what it accepts in words)
_FEATURE_TOP = {
    "date_pattern": (lambda v: isinstance(v, str), 'a strptime-style text, e.g. "A%Y%j"'),
    "stats": (lambda v: isinstance(v, list) and all(x in FEATURE_STATS for x in v),
              f"a list of statistics from {', '.join(FEATURE_STATS)}"),
    "window": (lambda v: _is_int(v) and v >= 1 and v % 2 == 1, "a positive odd whole number of pixels (the N-score window, e.g. 101)"),
    "reference_min_share": (lambda v: _is_num(v) and 0 <= v <= 1, "a share from 0 to 1 (e.g. 0.5)"),
    "mixed": (lambda v: isinstance(v, bool), "true or false"),
    "mixed_upper": (lambda v: _is_num(v) and 0 < v <= 1, "a share above 0, at most 1 (e.g. 0.9)"),
    "max_gi": (lambda v: _is_num(v) and v > 0, "a number above 0 (e.g. 15)"),
    "chunks": (lambda v: _is_int(v) and 64 <= v <= 16384, "a whole number of pixels from 64 to 16384"),
    "std_ddof": (lambda v: _is_int(v) and v >= 0, "a whole number from 0 (0 like numpy, 1 like MATLAB)"),
    "min_valid": (lambda v: _is_int(v) and v >= 1, "a whole number of dates from 1"),
    "season_start": (lambda v: _season_start_ok(v), 'the first day of the crop season as "MM-DD" (default "01-01", the '
                     'calendar year; "09-01": season Y is (Y-1)-09-01 .. Y-08-31, named by its harvest year as FAOSTAT does)'),
    "qa": (lambda v: isinstance(v, dict), "a table of QA rule fields ([features.qa], e.g. enabled = false)"),
    **{k: (lambda v: isinstance(v, str), "a product name (text), e.g. an [inputs.NAME]") for k in FEATURE_PRODUCT_KEYS},
}
_FEATURE_FRACTIONS = {"reference_min_share": False, "mixed_upper": True}  # share keys of _FEATURE_TOP -> lower end open
_FEATURE_SERIES = {
    "source": (_text_or_texts, "a folder, a raster file, a .nc/.zarr cube, or a list of files"),
    "contains": (lambda v: isinstance(v, str), "a text the file names hold"),
    "pattern": (lambda v: isinstance(v, str), 'a strptime-style text, e.g. "A%Y%j"'),
    "band": (lambda v: _is_int(v) and v >= 1 or isinstance(v, str) and bool(v), 'a layer number (1, 2, ...) or a layer name (text, e.g. "NDVI")'),
    "preset": (lambda v: v in FEATURE_PRESETS, f"one of {', '.join(repr(p) for p in FEATURE_PRESETS)}"),
    "scale": (lambda v: _is_num(v) and v != 0, "a number other than 0 (e.g. 0.0001)"),
    "nodata": (_is_num, "a number"),
    "fill_values": (lambda v: isinstance(v, list) and all(_is_num(x) for x in v), "a list of numbers (e.g. [-3000])"),
    "valid_range": (lambda v: isinstance(v, list) and len(v) == 2 and all(_is_num(x) for x in v) and v[0] <= v[1],
                    "2 numbers [min, max], min <= max"),
    "qa": (_text_or_texts, "a QA folder, file or list of files (a cube: its QA variable)"),
    "qa_contains": (lambda v: isinstance(v, str), "a text the QA file names hold"),
    "qa_band": (lambda v: _is_int(v) and v >= 1 or isinstance(v, str) and bool(v), "a layer number (1, 2, ...) or a layer name (text)"),
    "variable": (lambda v: isinstance(v, str), "the name of a cube's variable (text)"),
}


def feature_problems(features: dict | None) -> list[str]:
    """One line per bad [features] value, checked at config load: unknown keys (with a "did you mean"), and each
    key's type and range ("[features].window: give a positive odd whole number ...; got the number 100"). The
    series entries (evi, ndvi, nir, green, swir, gi, ndwi) are a path or a table of _FEATURE_SERIES keys. The
    files themselves are checked by _check_paths and, at plan time, by irrmap.training.sscore.check_section."""
    if not features:
        return []
    lines = []

    def bad(key: str, accepts: str, value, known=()) -> None:
        near = difflib.get_close_matches(value, known, n=1) if isinstance(value, str) and known else []
        lines.append(f"[features].{key}: give {accepts}; got {_describe(value)}" + (f" (did you mean {near[0]!r}?)" if near else ""))

    for key, value in features.items():
        if key in FEATURE_SERIES:
            if isinstance(value, str):
                continue
            if not isinstance(value, dict):
                bad(key, "a path, or a table with `source` (e.g. { source = \"modis/\", preset = \"mod13q1\" })", value)
                continue
            if "source" not in value:
                lines.append(f"[features].{key}.source: required key is missing (a folder, a raster file, a .nc/.zarr cube, or a list of files)")
            unknown = [sub for sub in value if sub not in _FEATURE_SERIES]
            if unknown:  # worded as irrmap.training.sscore.series_options words it
                near = difflib.get_close_matches(unknown[0], list(_FEATURE_SERIES), n=1)
                lines.append(f"[features].{key}: unknown key(s) {unknown} ({f'did you mean {near[0]!r}? ' if near else ''}"
                             f"known keys: {', '.join(_FEATURE_SERIES)})")
            for sub, v in value.items():
                if sub in unknown:
                    continue
                if not _FEATURE_SERIES[sub][0](v):
                    bad(f"{key}.{sub}", _FEATURE_SERIES[sub][1], v, FEATURE_PRESETS if sub == "preset" else ())
        elif key in _FEATURE_TOP:
            ok, accepts = _FEATURE_TOP[key]
            if not ok(value):
                wrong = [x for x in value if x not in FEATURE_STATS] if key == "stats" and isinstance(value, list) else []
                bad(key, accepts, wrong[0] if len(wrong) == 1 else value, FEATURE_STATS if wrong else ())
                if key in _FEATURE_FRACTIONS and _is_num(value):  # a percent typed for the share: say so
                    problem = fraction_problem(float(value), "value", low_open=_FEATURE_FRACTIONS[key])
                    lines[-1] += f" (fix: {problem[1]})" if problem and "percent" in problem[1] else ""
        else:
            known = [*FEATURE_SERIES, *_FEATURE_TOP]
            near = difflib.get_close_matches(key, known, n=1)
            lines.append(f"[features].{key}: unknown key ({f'did you mean {near[0]!r}?' if near else 'known keys: ' + ', '.join(known)})")
    return lines


def feature_series(features: dict) -> list[tuple[str, dict, bool]]:
    """(key, spec, cube) of every series a [features] section sets (FEATURE_SERIES order): `spec` the series' table
    (a bare path becomes {"source": path}), `cube` whether its source is a netCDF/Zarr cube (whose `qa` names a
    variable, not a file)."""
    out = []
    for key in FEATURE_SERIES:
        spec = features.get(key)
        spec = {"source": spec} if isinstance(spec, str) else spec
        if isinstance(spec, dict):
            out.append((key, spec, str(spec.get("source", "")).rstrip("/").endswith((".nc", ".zarr"))))
    return out


def feature_paths(features: dict) -> list[tuple[str, str]]:
    """(key, path) of every file or folder a [features] section names: each series' `source` (one path or a
    list) and `qa`, keyed like "evi.source"."""
    out = []
    for key, spec, cube in feature_series(features):
        for part in ("source",) if cube else ("source", "qa"):  # a cube's qa names a variable, not a file
            value = spec.get(part)
            out += [(f"{key}.{part}", str(v)) for v in (value if isinstance(value, (list, tuple)) else [value]) if isinstance(v, str)]
    return out


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
        ("sources.ee", EESource),
        ("reconcile", ReconcileSection),
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
