"""The config.toml the demo writes: the sections `irrmap run` knows today, plus a commented block for later stages."""

from __future__ import annotations

from irrmap.app.demo import landcover, phenology
from irrmap.app.demo.landsat import EPOCH1_YEAR as EPOCH1
from irrmap.app.demo.spec import RES, DemoSpec


def config_text(spec: DemoSpec) -> str:
    l, b, r, t = spec.grid.bounds
    crop = landcover.GROUPS["crop"]
    fg = landcover.GROUPS["forest_grass"]
    oth = landcover.GROUPS["other"]
    modis = "\n".join(
        f"#   {p:10s} = {{ path = \"inputs/modis/{p}.tif\", bands = {phenology.N_DATES}, "
        + ("fill_values = [65535] }" if p == "vi_quality" else f"scale = 0.0001, fill_values = [{phenology.FILL[p]}] }}")
        for p in phenology.PRODUCTS
    )
    return f'''# irrmap demo region (synthetic; seed {spec.seed}, year {spec.year}, {spec.rows} x {spec.cols} pixels).
# Run it with:  irrmap run {{this file}}
# Everything the pipeline may use is under inputs/; truth/ holds what it must not see (for scoring).
# To use real data, copy this file and point the paths at your own rasters, polygons and tables.

[run]
name = "irrmap-demo"
output_dir = "output"
seed = {spec.seed}
chunk_size = 512

[grid]
crs = "EPSG:4326"
bounds = [{l!r}, {b!r}, {r!r}, {t!r}]
resolution = {RES!r}

[inputs.dem]
path = "inputs/dem.tif"
kind = "continuous"

[inputs.water]
path = "inputs/water.tif"
kind = "categorical"

[inputs.cropland]
path = "inputs/landcover_30m.tif"
kind = "fraction"
classes = {crop}

[inputs.forest_grass]
path = "inputs/landcover_30m.tif"
kind = "fraction"
classes = {fg}

[inputs.other_cover]
path = "inputs/landcover_30m.tif"
kind = "fraction"
classes = {oth}

[inputs.precipitation]
path = "inputs/climate/precipitation.tif"

[inputs.pet]
path = "inputs/climate/pet.tif"

[inputs.temperature]
path = "inputs/climate/temperature.tif"

[inputs.humidity]
path = "inputs/climate/humidity.tif"

[inputs.radiation]
path = "inputs/climate/radiation.tif"

[inputs.albedo]
path = "inputs/climate/albedo.tif"

[units]
path = "inputs/admin.gpkg"
layer = "counties"
code_field = "code"
name_field = "name"
hierarchy = "cn-adcode"

[statistics]
path = "inputs/statistics/county.csv"
code_field = "code"
area_field = "irrigated_area"
area_unit = "1000ha"
year_field = "year"
year = {spec.year}
variant_field = "variant"
variant = "actual"
level = "county"

[suitability]
dem = "dem"
water = "water"
precipitation = "precipitation"
pet = "pet"
cropland = "cropland"
weights = {{ elevation = 0.25, distance = 0.25, slope = 0.25, aridity = 0.25 }}

[features]
evi = {{ source = "inputs/modis/evi.tif", preset = "mod13q1", qa = "inputs/modis/vi_quality.tif" }}
ndvi = {{ source = "inputs/modis/ndvi.tif", preset = "mod13q1", qa = "inputs/modis/vi_quality.tif" }}
nir = {{ source = "inputs/modis/nir.tif", preset = "mod09" }}
green = {{ source = "inputs/modis/green.tif", preset = "mod09" }}
swir = {{ source = "inputs/modis/swir1240.tif", preset = "mod09" }}
window = 101

[training]
scores = ["sevi", "sndvi", "sgi"]
cropland = "cropland"
per_class = 200

[models]
model = "rf"
scope = "global"

[mapping]
memory_mb = 512

[water]
# water-body layer of the Landsat-like 30 m sub-area (scene stacks: GeoTIFF + sidecar JSON), on its own grid
method = "ndwi"
threshold = 0.0
min_area_m2 = 3125
# scoring only: the water maps never see these truth masks (body precision/recall at IoU >= 0.5 -> output/water/score.json)
reference = {{ {EPOCH1} = "truth/landsat/water_epoch1_{EPOCH1}.tif", {spec.year} = "truth/landsat/water_epoch2_{spec.year}.tif" }}

[water.epochs]
{EPOCH1} = ["inputs/landsat/epoch1_{EPOCH1}.tif"]
{spec.year} = ["inputs/landsat/epoch2_{spec.year}.tif"]

[treecover]
# tree-cover layer of the same sub-area: percent canopy cover regressed on the {spec.year} scene stack against a
# MODIS VCF-like 250 m reference (200 = water flag, masked), predicted for both epochs at 30 m, change 1995 -> {spec.year}
reference = "inputs/treecover/reference_{spec.year}.tif"
fit_epoch = "{spec.year}"
# a small forest and sample keep the demo fast (defaults: 100 trees, 100,000 cells)
n_trees = 20
max_samples = 3000
forest_threshold = 30
# scoring only: the model never sees these truth covers (R2, RMSE, bias -> output/treecover/score.json)
truth = {{ {EPOCH1} = "truth/landsat/treecover_epoch1_{EPOCH1}.tif", {spec.year} = "truth/landsat/treecover_epoch2_{spec.year}.tif" }}

[treecover.epochs]
{EPOCH1} = ["inputs/landsat/epoch1_{EPOCH1}.tif"]
{spec.year} = ["inputs/landsat/epoch2_{spec.year}.tif"]

[treecover.trend]
# NDVI x 1e4, one layer per year (band descriptions are the dates): slope in NDVI per year
series = ["inputs/treecover/ndvi_series.tif"]
scale = 0.0001
min_years = 5

[evaluation]
map = "irrigated_class"
points = "inputs/reference/points.gpkg"
label_field = "label"
by_level = "province"
compare = ["threshold_sevi", "threshold_sndvi", "threshold_sgi"]
# the points are a stratified sample (climate zones, unequal inclusion probabilities): design-based accuracy
stratum_field = "stratum"
inclusion_field = "inclusion_prob"
level_statistics = {{ city = "inputs/statistics/city.csv", province = "inputs/statistics/province.csv" }}

[reconcile]
# `irrmap reconcile config.toml` after `irrmap run`: harmonise the tables below (actual area first; the effective
# variant is a second source the audit compares; the county missing from the county table is filled from its
# city's residual) and re-threshold the map to them, province by province -> output/reconcile/ (docs/reconcile.md)
precedence = ["county_actual", "city_actual", "province_actual", "county_effective"]
by = "province"

[reconcile.tables.county_actual]
path = "inputs/statistics/county.csv"
code_field = "code"
area_field = "irrigated_area"
area_unit = "1000ha"
year_field = "year"
variant_field = "variant"
variant = "actual"
level = "county"

[reconcile.tables.city_actual]
path = "inputs/statistics/city.csv"
code_field = "code"
area_field = "irrigated_area"
area_unit = "1000ha"
year_field = "year"
variant_field = "variant"
variant = "actual"
level = "city"

[reconcile.tables.province_actual]
path = "inputs/statistics/province.csv"
code_field = "code"
area_field = "irrigated_area"
area_unit = "1000ha"
year_field = "year"
variant_field = "variant"
variant = "actual"
level = "province"

[reconcile.tables.county_effective]
path = "inputs/statistics/county.csv"
code_field = "code"
area_field = "irrigated_area"
area_unit = "1000ha"
year_field = "year"
variant_field = "variant"
variant = "effective"
level = "county"

# The MODIS-like series are multi-band rasters, one band per 16-day date (DOY {phenology.DOY[0]}..{phenology.DOY[-1]}):
{modis}
# City and province totals: inputs/statistics/city.csv, inputs/statistics/province.csv (same columns).
# Reference points (stratified by climate zone, 3 % label noise): inputs/reference/points.gpkg, field "label".
# Landsat-like 30 m sub-area, bands blue green red nir swir1 swir2 (x 1e4, nodata -9999; sidecar .json: date, scale):
#   inputs/landsat/epoch1_{EPOCH1}.tif, inputs/landsat/epoch2_{spec.year}.tif  ([water] above)
'''
