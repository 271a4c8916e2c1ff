"""`irrmap run` and the CLI: outputs, manifest, resume, reruns on change, one-line errors."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from irrmap.app.cli import GROUPS, main
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster

from conftest import as_dataarray

CONFIG = """
[run]
name = "tiny"
output_dir = "out"
seed = 3

[grid]
crs = "EPSG:4326"
bounds = [100.0, 40.0, 100.2, 40.1]
resolution = 0.00225

[inputs.dem]
path = "dem.tif"

[inputs.cropland]
path = "landcover.tif"
kind = "fraction"
classes = [1]

[units]
path = "units.gpkg"
code_field = "code"

[statistics]
path = "stats.csv"
code_field = "code"
area_field = "irrigated"
area_unit = "ha"
"""


# the suitability sections of the tiny project (water along one row, uniform precipitation and PET)
SUITABILITY = """
[inputs.water]
path = "water.tif"
kind = "categorical"

[inputs.precip]
path = "precip.tif"

[inputs.pet]
path = "pet.tif"

[suitability]
precipitation = "precip"
pet = "pet"
few_crop_min_pixels = 0
"""


def write_landcover(path, every: int = 3) -> None:
    """The tiny project's ~25 m land cover: 1 = crop on 1/`every` of the cells (a third by default)."""
    fine = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00025, "EPSG:4326")
    lc = (np.indices(fine.shape).sum(axis=0) % every == 0).astype("uint8")
    write_raster(path, as_dataarray(lc, fine), dtype="uint8", nodata=255, cog=False)


def write_tiny_project(tmp_path):
    """The tiny two-county project (CONFIG and its inputs) in `tmp_path`."""
    write_landcover(tmp_path / "landcover.tif")
    dem = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.001, "EPSG:4326")
    write_raster(tmp_path / "dem.tif", as_dataarray(np.linspace(500, 900, dem.size, dtype="float32").reshape(dem.shape), dem), cog=False)
    gpd.GeoDataFrame({"code": ["620101", "620102"]}, geometry=[box(100.0, 40.0, 100.1, 40.1), box(100.1, 40.0, 100.2, 40.1)],
                     crs="EPSG:4326").to_file(tmp_path / "units.gpkg")
    pd.DataFrame({"code": ["620101", "620102"], "irrigated": [1200.0, 300.0]}).to_csv(tmp_path / "stats.csv", index=False)
    (tmp_path / "config.toml").write_text(CONFIG)
    return tmp_path


@pytest.fixture
def project(tmp_path):
    return write_tiny_project(tmp_path)


def test_run_writes_outputs_manifest_and_resumes(project, capsys):
    cfg = str(project / "config.toml")
    assert main(["-q", "run", cfg]) == 0
    out = project / "out"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["stages"]) == {"inputs.dem", "inputs.cropland", "units", "statistics"}
    assert all(s["status"] == "ran" for s in manifest["stages"].values())
    assert manifest["seed"] == 3 and len(manifest["config_sha256"]) == 64 and manifest["packages"]["gdal"]
    assert any(p.endswith("stats.csv") for p in manifest["inputs"])
    grid = Grid.from_raster(out / "aligned" / "cropland.tif")
    with rasterio.open(out / "aligned" / "cropland.tif") as src:
        frac = src.read(1)
        assert src.tags()["irrmap_stage"] == "inputs.cropland"
    assert grid.shape == (45, 89) and abs(np.nanmean(frac) - 1 / 3) < 0.01
    units = pd.read_csv(out / "units" / "units.csv", dtype={"code": str})
    # gridded unit areas add up to the true area of the pixels the units cover
    zones = rasterio.open(out / "units" / "zones.tif").read(1)
    assert units["grid_area_m2"].sum() == pytest.approx(grid.pixel_area()[zones > 0].sum(), rel=1e-12)
    assert units["grid_area_m2"].iloc[0] == pytest.approx(units["polygon_area_m2"].iloc[0], rel=0.03)
    totals = pd.read_csv(out / "statistics" / "totals_province.csv", dtype={"code": str})
    assert totals.set_index("code")["area_m2"].to_dict() == {"620000": 1.5e7}

    # rerun: everything up to date
    assert main(["-q", "run", cfg]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert all(s["status"].startswith("skipped") for s in manifest["stages"].values())

    # a changed statistics table reruns that stage only
    pd.DataFrame({"code": ["620101", "620102"], "irrigated": [1000.0, 300.0]}).to_csv(project / "stats.csv", index=False)
    assert main(["-q", "run", cfg]) == 0
    status = {k: v["status"] for k, v in json.loads((out / "manifest.json").read_text())["stages"].items()}
    assert status == {"inputs.dem": "skipped (up to date)", "inputs.cropland": "skipped (up to date)",
                      "units": "skipped (up to date)", "statistics": "ran"}

    # a deleted output is rebuilt
    (out / "units" / "zones.tif").unlink()
    assert main(["-q", "run", cfg]) == 0
    assert (out / "units" / "zones.tif").exists()


# two score inputs (s1.tif, s2.tif on the project's grid) and the training stages on them
TRAINING = """
[inputs.s1]
path = "s1.tif"

[inputs.s2]
path = "s2.tif"

[training]
scores = ["s1", "s2"]
per_class = 20
"""


def test_run_with_training_stages(project):
    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    rng = np.random.default_rng(0)
    for name in ("s1", "s2"):
        write_raster(project / f"{name}.tif", as_dataarray(rng.random(g.shape).astype("float32"), g), cog=False)
    text = CONFIG + TRAINING
    (project / "config.toml").write_text(text)
    assert main(["-q", "run", str(project / "config.toml")]) == 0
    out = project / "out" / "training"
    thr = pd.read_csv(out / "thresholds.csv", dtype={"unit": str})
    assert set(thr["score"]) == {"s1", "s2"} and (thr["status"] == "ok").all()
    assert (abs(thr["mapped_m2"] - thr["target_m2"]) <= 0.5 * 50_000).all()  # half of one ~ 48,000 m2 pixel
    pool = gpd.read_parquet(out / "pool.parquet")
    assert {"s1", "s2", "dem", "cropland"} <= set(pool.columns)
    assert not any(c.startswith("threshold_") for c in pool.columns), "labels must not leak into predictors"
    assert pool.groupby(["unit", "label"]).size().max() == 20
    # evaluation: the threshold map against points and statistics, compared with the other threshold map
    pts = gpd.GeoDataFrame({"label": [1, 0, 1, 0]}, geometry=gpd.points_from_xy([100.05, 100.06, 100.15, 100.16], [40.05] * 4),
                           crs="EPSG:4326")
    pts.to_file(project / "points.gpkg")
    (project / "config.toml").write_text(text + '\n[evaluation]\npoints = "points.gpkg"\ncompare = ["threshold_s2"]\n')
    assert main(["-q", "run", str(project / "config.toml")]) == 0
    ev = project / "out" / "evaluation"
    results = json.loads((ev / "results.json").read_text())
    with rasterio.open(out / "threshold_s1.tif") as src:
        m = src.read(1)
        rows, cols = rasterio.transform.rowcol(src.transform, [100.05, 100.06, 100.15, 100.16], [40.05] * 4)
    mapped = (m[rows, cols] == 1).astype(int)
    assert results["points"]["overall_accuracy"] == pytest.approx(np.mean(mapped == [1, 0, 1, 0]))
    county = results["statistics"]["levels"]["county"]
    # the report's mapped area (map x cropland x true pixel area) is the splitter's own table: two code paths agree
    s1 = thr[thr["score"] == "s1"]
    assert county["n"] == 2 and county["sum_mapped"] == pytest.approx(s1["mapped_m2"].sum() / 1e4, rel=1e-6)
    assert county["sum_reference"] == pytest.approx(s1["target_m2"].sum() / 1e4)
    assert "report.html" in " ".join(p.name for p in ev.iterdir())
    # a misspelt score name fails before any work, naming the key and the choices
    (project / "config.toml").write_text(text.replace('scores = ["s1", "s2"]', 'scores = ["s1", "sevi"]'))
    assert main(["-q", "run", str(project / "config.toml")]) == 2


def test_run_with_suitability(project):
    import irrmap.suitability as su

    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    water = np.zeros(g.shape, "uint8")
    water[20, :] = 1  # a river along one row
    write_raster(project / "water.tif", as_dataarray(water, g), dtype="uint8", nodata=255, cog=False)
    for name, value in (("precip", 300.0), ("pet", 1000.0)):
        write_raster(project / f"{name}.tif", as_dataarray(np.full(g.shape, value, "float32"), g), cog=False)
    text = CONFIG + SUITABILITY + "weights = {elevation = 0.4, distance = 0.3, slope = 0.2, aridity = 0.1}\n"
    (project / "config.toml").write_text(text)
    assert main(["-q", "run", str(project / "config.toml")]) == 0
    out = project / "out" / "suitability"
    with rasterio.open(out / "suitability.tif") as src:
        s = src.read(1)
    zones = rasterio.open(project / "out" / "units" / "zones.tif").read(1)
    assert np.isnan(s[zones == 0]).all() and np.nanmin(s) >= 0.1 and np.nanmax(s) <= 1.0
    with rasterio.open(out / "classes.tif") as src:
        cls = src.read().astype(float)
    # S is the weighted overlay of the written classes; AI = 0.3 gives aridity class 8 of 10 everywhere
    expected = 0.4 * cls[0] / 4 + 0.3 * cls[1] / 4 + 0.2 * cls[2] / 4 + 0.1 * cls[3] / 10
    np.testing.assert_allclose(s[zones > 0], expected[zones > 0], rtol=1e-6)
    assert set(np.unique(cls[3][zones > 0])) == {8}
    dist = rasterio.open(out / "distance_to_water.tif").read(1)
    assert dist[20].max() == 0 and dist[0, 0] == pytest.approx(20 * 249.9, rel=0.01)  # 20 rows of ~250 m
    # slope written equals the stage function on the aligned DEM
    dem = rasterio.open(project / "out" / "aligned" / "dem.tif").read(1)
    ref = su.slope(as_dataarray(dem, g), percent=True).values
    np.testing.assert_allclose(rasterio.open(out / "slope_percent.tif").read(1), ref, rtol=1e-6)


def test_strict_statistics_errors_stop_the_run(project, capsys):
    pd.DataFrame({"code": ["620101", "620101"], "irrigated": [1.0, 2.0]}).to_csv(project / "stats.csv", index=False)
    assert main(["-q", "run", str(project / "config.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "duplicate code" in err[0] and "Traceback" not in err[0]
    assert not (project / "out").exists()  # found by the checks before any stage runs, as `run --check` finds it
    assert main(["-q", "run", "--check", str(project / "config.toml")]) == 2
    assert "duplicate code" in capsys.readouterr().err


def test_bad_config_is_one_line(project, capsys):
    (project / "bad.toml").write_text(CONFIG.replace("resolution", "resolutoin"))
    assert main(["run", str(project / "bad.toml")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "did you mean 'resolution'" in err[0]


def test_check_only(project, capsys):
    assert main(["run", "--check", str(project / "config.toml")]) == 0
    assert "config OK" in capsys.readouterr().out
    assert not (project / "out").exists()


@pytest.mark.parametrize("group", [g for g, _ in GROUPS])
def test_every_group_has_help(group, capsys):
    with pytest.raises(SystemExit) as exc:
        main([group, "--help"])
    assert exc.value.code == 0
    assert group in capsys.readouterr().out


def test_grid_info_json(project, capsys):
    assert main(["grid", "info", str(project / "dem.tif"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["geographic"] and info["shape"] == [100, 200]
    assert info["pixel_area_m2_min"] < info["pixel_area_m2_max"]
