"""Input paths recorded inside outputs (GeoTIFF tags, model cards, JSON summaries) are relative to the folder of the
file that holds them (README: "paths inside outputs ... are relative to the file's folder";
irrmap.core.relative_path): the same command run in two copies of a project, from two working directories with the
paths typed differently, writes the same bytes, and the stored path, resolved against the holding file's folder
(located_from), is the input file.

Truth: os.path.samefile against the input file written here; byte equality of the two copies' outputs.
Layout of each case: copy A runs from A/proj with paths "in/..." and "out/..."; copy B from B/proj/in with "..." and
"../out/...".
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.relative_path import located_from

CRS = "EPSG:32650"
T0 = Affine(30, 0, 300000, 0, -30, 4200000)
H, W = 30, 40
LAND = [500, 800, 600, 3000, 2000, 1000]  # blue green red nir swir1 swir2, reflectance x 1e4: NDWI < 0
WATER = [600, 600, 500, 200, 100, 50]  # NDWI > 0
LAKE = (slice(5, 15), slice(8, 20))


def _tif(path, array, dtype, nodata=None, descriptions=None, crs=CRS, transform=T0):
    array = np.asarray(array)
    bands = array[None] if array.ndim == 2 else array
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=len(bands), dtype=dtype,
                       crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(bands.astype(dtype))
        for i, d in enumerate(descriptions or [], start=1):
            dst.set_band_description(i, d)
    return path


def _scene(folder: Path) -> Path:
    """A scene stack (bands by common name + sidecar JSON): land with a lake."""
    cube = np.array([np.full((H, W), v) for v in LAND])
    cube[:, LAKE[0], LAKE[1]] = np.array(WATER)[:, None, None]
    _tif(folder / "s.tif", cube, "int16", nodata=-9999, descriptions=["blue", "green", "red", "nir", "swir1", "swir2"])
    (folder / "s.json").write_text(json.dumps({"date": "2020-07-01", "sensor": "LC08", "scale": 1e-4, "sun_elevation": 60,
                                               "sun_azimuth": 135}))
    return folder / "s.tif"


def _mask(folder: Path) -> Path:
    m = np.zeros((H, W), np.uint8)
    m[LAKE] = 1
    m[25:27, 30:33] = 1
    return _tif(folder / "mask.tif", m, "uint8", nodata=255)


def _dem(folder: Path) -> Path:
    return _tif(folder / "dem.tif", np.linspace(500, 900, H * W, dtype="float32").reshape(H, W), "float32", nodata=-9999)


def _two_runs(tmp_path, monkeypatch, build, argv) -> tuple[Path, Path]:
    """Build the inputs with `build(proj / 'in')` in two copies A/proj and B/proj, and run `argv(inp, out)` (strings
    of the input and output folders as typed) from A/proj (inp 'in', out 'out') and from B/proj/in (inp '.', out
    '../out'). Returns the two project folders."""
    projects = []
    for copy, cwd, inp, out in (("A", ".", "in", "out"), ("B", "in", ".", "../out")):
        proj = tmp_path / copy / "proj"
        (proj / "in").mkdir(parents=True)
        (proj / "out").mkdir()
        build(proj / "in")
        monkeypatch.chdir(proj / cwd)
        assert main(["-q", *argv(inp, out)]) == 0
        projects.append(proj)
    monkeypatch.chdir(tmp_path)
    return projects[0], projects[1]


def _tag(path: Path, key: str) -> str:
    with rasterio.open(path) as src:
        return src.tags()[key]


def _assert_names(stored: str, holder: Path, expected: Path) -> None:
    """`stored` (held by the file `holder`) resolves, from holder's folder, to the file `expected`."""
    found = located_from(stored, holder.parent)
    assert found.exists(), f"{holder.name} stores {stored!r}, which from {holder.parent} is {found}: no such file"
    assert os.path.samefile(found, expected)


def _same_bytes(a: Path, b: Path) -> None:
    assert a.read_bytes() == b.read_bytes(), f"{a} and {b} differ"


def test_water_mask_records_its_scenes_relative_to_the_mask(tmp_path, monkeypatch):
    a, b = _two_runs(tmp_path, monkeypatch, _scene, lambda i, o: ["water", "mask", f"{o}/mask.tif", f"{i}/s.tif"])
    for proj in (a, b):
        out = proj / "out" / "mask.tif"
        stored = _tag(out, "scenes").split(";")
        assert len(stored) == 1
        _assert_names(stored[0], out, proj / "in" / "s.tif")
    _same_bytes(a / "out" / "mask.tif", b / "out" / "mask.tif")


def test_scene_paths_reads_relative_tags_and_old_absolute_ones(tmp_path, monkeypatch):
    from irrmap.mapping.water.mask import scene_paths

    scene = _scene(tmp_path / "in")
    out = tmp_path / "elsewhere" / "mask.tif"
    monkeypatch.chdir(tmp_path / "in")
    assert main(["-q", "water", "mask", str(out), "s.tif"]) == 0
    assert [os.path.samefile(p, scene) for p in scene_paths(out)] == [True]
    with rasterio.open(out, "r+", IGNORE_COG_LAYOUT_BREAK="YES") as dst:  # as masks written before stored it: the scene as typed, here absolute
        dst.update_tags(scenes=str(scene.resolve()))
    monkeypatch.chdir(tmp_path)
    assert [os.path.samefile(p, scene) for p in scene_paths(out)] == [True]


def test_water_bodies_records_its_mask_relative_to_its_folder(tmp_path, monkeypatch):
    a, b = _two_runs(tmp_path, monkeypatch, _mask, lambda i, o: ["water", "bodies", f"{o}/bodies", f"{i}/mask.tif"])
    for proj in (a, b):
        for name in ("body_id.tif", "water.tif"):
            _assert_names(_tag(proj / "out" / "bodies" / name, "mask"), proj / "out" / "bodies" / name, proj / "in" / "mask.tif")
    for name in ("body_id.tif", "water.tif", "bodies.parquet"):
        _same_bytes(a / "out" / "bodies" / name, b / "out" / "bodies" / name)


def test_suitability_slope_records_its_dem_relative_to_the_output(tmp_path, monkeypatch):
    a, b = _two_runs(tmp_path, monkeypatch, _dem, lambda i, o: ["suitability", "slope", f"{i}/dem.tif", f"{o}/slope.tif"])
    for proj in (a, b):
        _assert_names(_tag(proj / "out" / "slope.tif", "source"), proj / "out" / "slope.tif", proj / "in" / "dem.tif")
    _same_bytes(a / "out" / "slope.tif", b / "out" / "slope.tif")


def test_suitability_distance_records_its_mask_relative_to_the_output(tmp_path, monkeypatch):
    a, b = _two_runs(tmp_path, monkeypatch, _mask, lambda i, o: ["suitability", "distance", f"{i}/mask.tif", f"{o}/d.tif"])
    for proj in (a, b):
        _assert_names(_tag(proj / "out" / "d.tif", "source"), proj / "out" / "d.tif", proj / "in" / "mask.tif")
    _same_bytes(a / "out" / "d.tif", b / "out" / "d.tif")


def _units(folder: Path) -> None:
    gpd.GeoDataFrame({"code": ["1", "2"]}, geometry=[box(300000, 4199100, 300600, 4200000), box(300600, 4199100, 301200, 4200000)],
                     crs=CRS).to_file(folder / "u.gpkg")


def test_units_rasterize_records_the_polygons_relative_to_the_zones(tmp_path, monkeypatch):
    a, b = _two_runs(tmp_path, monkeypatch, _units, lambda i, o: ["units", "rasterize", f"{i}/u.gpkg", "--code-field", "code", "--hierarchy", "none",
                                                                 "--out", f"{o}/zones.tif", "--bounds", "300000", "4199100", "301200",
                                                                 "4200000", "--resolution", "30", "--crs", CRS])
    for proj in (a, b):
        _assert_names(_tag(proj / "out" / "zones.tif", "units"), proj / "out" / "zones.tif", proj / "in" / "u.gpkg")
    for name in ("zones.tif", "zones.csv"):
        _same_bytes(a / "out" / name, b / "out" / name)


def _threshold_inputs(folder: Path) -> None:
    from conftest import as_dataarray

    from irrmap.core.grid import Grid
    from irrmap.core.raster_write import write_raster

    g = Grid.from_bounds(100.0, 40.0, 100.4, 40.2, 0.005, "EPSG:4326")
    rng = np.random.default_rng(4)
    write_raster(folder / "sevi.tif", as_dataarray(rng.random(g.shape).astype(np.float32), g), cog=False)
    write_raster(folder / "crop.tif", as_dataarray(np.where(rng.random(g.shape) < 0.6, rng.random(g.shape), 0).astype(np.float32), g),
                 cog=False)
    gpd.GeoDataFrame({"code": ["650101", "650102"]}, geometry=[box(100.0, 40.0, 100.2, 40.2), box(100.2, 40.0, 100.4, 40.2)],
                     crs="EPSG:4326").to_file(folder / "u.gpkg")
    pd.DataFrame({"county": ["650101", "650102"], "irr_ha": [3000.0, 3000.0]}).to_csv(folder / "s.csv", index=False)


def test_training_thresholds_records_the_statistics_relative_to_the_maps(tmp_path, monkeypatch):
    a, b = _two_runs(tmp_path, monkeypatch, _threshold_inputs,
                     lambda i, o: ["training", "thresholds", "--score", f"{i}/sevi.tif", "--cropland", f"{i}/crop.tif", "--units",
                                   f"{i}/u.gpkg", "--unit-field", "code", "--stats", f"{i}/s.csv", "--stats-field", "county",
                                   "--area-field", "irr_ha", "--area-unit", "ha", "--out", f"{o}/thr"])
    maps = sorted(p.name for p in (a / "out" / "thr").glob("*.tif"))
    assert maps
    for proj in (a, b):
        for name in maps:
            f = proj / "out" / "thr" / name
            _assert_names(_tag(f, "statistics"), f, proj / "in" / "s.csv")
    for name in [*maps, "thresholds.csv"]:
        _same_bytes(a / "out" / "thr" / name, b / "out" / "thr" / name)


def _pool(folder: Path) -> None:
    from test_models_fit import pool_from_cube, synthetic_cube

    label, feats = synthetic_cube()
    pool = pool_from_cube(label, feats, n=300)
    gpd.GeoDataFrame(pool, geometry=gpd.points_from_xy(pool["col"], pool["row"]), crs="EPSG:3857").to_parquet(folder / "pool.parquet")


def test_models_fit_card_names_its_pool_relative_to_the_card(tmp_path, monkeypatch):
    from irrmap.models.persistence import card_path

    a, b = _two_runs(tmp_path, monkeypatch, _pool, lambda i, o: ["models", "fit", f"{i}/pool.parquet", "--out", f"{o}/m.joblib",
                                                                 "--model", "rf", "--seed", "3", "--cv-blocks", "20", "--cv-splits", "3"])
    for proj in (a, b):
        card = Path(card_path(proj / "out" / "m.joblib"))
        _assert_names(json.loads(card.read_text())["pool"], card, proj / "in" / "pool.parquet")
    _same_bytes(Path(card_path(a / "out" / "m.joblib")), Path(card_path(b / "out" / "m.joblib")))
    _same_bytes(a / "out" / "m.joblib", b / "out" / "m.joblib")


CONFIG = """[run]
output_dir = "../runs/out"
[grid]
crs = "EPSG:32650"
bounds = [300000, 4199100, 301200, 4200000]
resolution = 30
[inputs.dem]
path = "in/dem.tif"
[water]
reference = { 2020 = "in/mask.tif" }
[water.epochs]
2020 = ["in/s.tif"]
"""


@pytest.fixture(scope="module")
def run_copies(tmp_path_factory):
    """The inputs and water stages of one config (output folder outside the config's) in two copies of a project."""
    from irrmap.app.pipeline import run_pipeline
    from irrmap.app.stages import inputs, water

    root = tmp_path_factory.mktemp("stored_paths_run")
    outs = []
    for copy in ("A", "B"):
        proj = root / copy / "proj"
        (proj / "in").mkdir(parents=True)
        _dem(proj / "in"), _scene(proj / "in"), _mask(proj / "in")
        (proj / "c.toml").write_text(CONFIG)
        run_pipeline(proj / "c.toml", stages=[inputs.stage("dem"), water.stage()])
        outs.append(root / copy / "runs" / "out")
    return outs


def test_run_inputs_stage_records_its_source_relative_to_the_aligned_file(run_copies):
    for out in run_copies:
        f = out / "aligned" / "dem.tif"
        _assert_names(_tag(f, "source"), f, out.parent.parent / "proj" / "in" / "dem.tif")
    _same_bytes(run_copies[0] / "aligned" / "dem.tif", run_copies[1] / "aligned" / "dem.tif")


def test_run_water_stage_records_scenes_and_reference_relative_to_each_file(run_copies):
    for out in run_copies:
        inp = out.parent.parent / "proj" / "in"
        w = out / "water"
        _assert_names(_tag(w / "2020" / "mask.tif", "scenes"), w / "2020" / "mask.tif", inp / "s.tif")
        summary = json.loads((w / "summary.json").read_text())
        _assert_names(summary["2020"]["scenes"][0], w / "summary.json", inp / "s.tif")
        f = w / "reference" / "2020" / "body_id.tif"
        _assert_names(_tag(f, "reference"), f, inp / "mask.tif")
        _assert_names(json.loads((w / "score.json").read_text())["2020"]["reference"], w / "score.json", inp / "mask.tif")
    for name in ("2020/mask.tif", "2020/body_id.tif", "summary.json", "score.json", "reference/2020/body_id.tif"):
        _same_bytes(run_copies[0] / "water" / name, run_copies[1] / "water" / name)
