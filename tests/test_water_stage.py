"""The `water` stage of `irrmap run` and its [water] config: defaults shared with the commands, validation, its
place before suitability, its products, the demo's water layer scored against the demo's truth bodies, and the
suitability stage taking its distance to water from the layer.

Truth: the demo's truth masks (truth/landsat/), labelled here with scipy.ndimage.label (8-connectivity) and
measured with pyproj.Geod polygon areas of the grid cells (not irrmap's pixel areas); body matching by IoU
>= 0.5 written out here; hand-counted pixels on an equal-area grid (EASE-Grid 2.0, EPSG:6933) for the scores.
"""

from __future__ import annotations

import inspect
import json
import typing
from types import SimpleNamespace

import numpy as np
import pytest
import rasterio
from pyproj import Geod
from scipy import ndimage

from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages import inputs, suitability, units, water
from irrmap.app.stages.common import predictor_names
from irrmap.core.config import WaterSection, load_config
from irrmap.core.errors import ConfigError

GRID = """
[grid]
crs = "EPSG:4326"
bounds = [100.0, 40.0, 100.2, 40.1]
resolution = 0.00225
"""


# ---- config ---------------------------------------------------------------------------------------------------
def test_config_defaults_are_the_commands_and_functions_defaults():
    from irrmap.mapping.water import classify, composite
    from irrmap.mapping.water.bodies import DEA_MIN_AREA_M2, bodies_to_files
    from irrmap.mapping.water.change import change_to_files
    from irrmap.mapping.water.mask import DEFAULT_INDEX, DEFAULT_METHOD, DEFAULT_THRESHOLD, epoch_mask

    f = WaterSection.model_fields
    assert (f["method"].default, f["threshold"].default, f["index"].default) == (DEFAULT_METHOD, DEFAULT_THRESHOLD, DEFAULT_INDEX)
    assert set(typing.get_args(f["method"].annotation)) == set(classify.METHODS)
    assert set(typing.get_args(f["index"].annotation)) == set(classify.INDICES)
    mask_sig, comp_sig = inspect.signature(epoch_mask).parameters, inspect.signature(composite.epoch_composite).parameters
    for k in ("detection", "extent", "permanent", "min_clear"):
        assert f[k].default == mask_sig[k].default == comp_sig[k].default, k
    body_sig = inspect.signature(bodies_to_files).parameters
    assert f["min_area_m2"].default == DEA_MIN_AREA_M2 == body_sig["min_area_m2"].default == 3125.0  # DEA Waterbodies
    assert f["connectivity"].default == body_sig["connectivity"].default == 8
    assert f["tolerance"].default == inspect.signature(change_to_files).parameters["tolerance"].default
    assert (f["detection"].default, f["extent"].default) == (0.10, 0.05)  # DEA Waterbodies' hybrid thresholds


@pytest.mark.parametrize("water, key", [
    ('[water]\nextent = 0.2\ndetection = 0.1\n[water.epochs]\n2020 = ["a"]', "extent"),
    ('[water]\nmin_clear = 2\n[water.epochs]\n2020 = ["a"]\n2021 = ["b", "c"]', "min_clear"),
    ('[water]\nreference = { 2019 = "t.tif" }\n[water.epochs]\n2020 = ["a"]', "reference"),
    ('[water]\n[water.epochs]\n2020 = []', "no scene"),
    ('[water]\nepochs = {}', "epochs"),
    ('[water]\n[water.epochs]\n"20/20" = ["a"]', "label"),
    ('[water]\nmethd = "ndwi"\n[water.epochs]\n2020 = ["a"]', "did you mean 'method'"),
    ('[water]\nmethod = "ndvi"\n[water.epochs]\n2020 = ["a"]', "[water].method"),
    ('[water]\nconnectivity = 6\n[water.epochs]\n2020 = ["a"]', "[water].connectivity"),
])
def test_config_errors_name_the_key(tmp_path, water, key):
    (tmp_path / "c.toml").write_text(GRID + water + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "c.toml")
    assert key in str(exc.value) and "[water]" in str(exc.value)


def test_water_products_are_not_predictors():
    ctx = SimpleNamespace(config=SimpleNamespace(training=SimpleNamespace(predictors=None)),
                          products={"dem": 1, "zones": 2, "water_class": 3, "water_class_2020": 4, "water": 5})
    assert predictor_names(ctx) == ["dem", "water"]


# ---- scores ---------------------------------------------------------------------------------------------------
def test_body_scores_by_hand(tmp_path):
    """Equal-area grid (EASE-Grid 2.0): every pixel has the same true area, so IoUs are pixel-count ratios."""
    from irrmap.core.grid import Grid
    from irrmap.mapping.water.bodies import bodies_to_files
    from irrmap.mapping.water.score import body_scores, match_iou

    from conftest import as_dataarray

    grid = Grid.from_bounds(0, 0, 20 * 1000.0, 12 * 1000.0, 1000.0, "EPSG:6933")
    ref = np.zeros(grid.shape, np.uint8)
    mp = np.zeros(grid.shape, np.uint8)
    ref[1:3, 1:6] = 1  # R1: 10 pixels
    mp[1:3, 2:8] = 1  # M1: 12 pixels, 8 shared with R1: IoU 8 / 14 = 0.571 -> matched, area error +20 %
    ref[6:8, 1:3] = 1  # R2: 4 pixels
    mp[7:9, 2:4] = 1  # M2: 4 pixels, 1 shared: IoU 1 / 7 -> not matched
    ref[10:12, 10:13] = 1  # R3: 6 pixels, not mapped
    mp[5:7, 15:18] = 1  # M3: 6 pixels, nothing there
    files = {}
    for name, m in (("ref", ref), ("map", mp)):
        files[name] = bodies_to_files(as_dataarray(m, grid), tmp_path / name, min_area_m2=0)
    import geopandas as gpd

    tables = {k: gpd.read_parquet(v["bodies_parquet"]) for k, v in files.items()}
    pairs = match_iou(tables["ref"], files["ref"]["body_id"], tables["map"], files["map"]["body_id"])
    assert len(pairs) == 1
    assert pairs["iou"].iloc[0] == pytest.approx(8 / 14, rel=1e-12)
    assert pairs["area_error_pct"].iloc[0] == pytest.approx(20.0, rel=1e-12)
    s = body_scores(tables["ref"], tables["map"], pairs)
    assert (s["n_reference"], s["n_mapped"], s["n_matched"]) == (3, 3, 1)
    assert s["precision"] == pytest.approx(1 / 3) and s["recall"] == pytest.approx(1 / 3) and s["f1"] == pytest.approx(1 / 3)
    assert s["area_error"]["total_pct"] == pytest.approx(20.0)
    loose = match_iou(tables["ref"], files["ref"]["body_id"], tables["map"], files["map"]["body_id"], iou=0.1)
    assert len(loose) == 2  # M2 matches R2 at IoU 1/7 >= 0.1


# ---- the stage on the demo ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from irrmap import generate_demo

    out = tmp_path_factory.mktemp("water_demo") / "demo"
    generate_demo(out, rows=96, cols=128)
    return out


def _geod_cell_areas(path) -> np.ndarray:
    """Area (m2) of each row's cells of a north-up geographic raster, from pyproj.Geod polygon areas."""
    geod = Geod(ellps="WGS84")
    with rasterio.open(path) as src:
        t, h = src.transform, src.height
    out = np.empty(h)
    for r in range(h):
        top, bottom = t.f + r * t.e, t.f + (r + 1) * t.e
        lons = [t.c, t.c + t.a, t.c + t.a, t.c]
        out[r] = abs(geod.polygon_area_perimeter(lons, [bottom, bottom, top, top])[0])
    return out


def _bodies(mask: np.ndarray, row_area: np.ndarray, min_area: float) -> list[np.ndarray]:
    lab, n = ndimage.label(mask, np.ones((3, 3), bool))
    areas = ndimage.sum_labels(np.broadcast_to(row_area[:, None], mask.shape), lab, np.arange(1, n + 1))
    return [lab == k + 1 for k in range(n) if areas[k] >= min_area]


def _independent_scores(truth: np.ndarray, mapped: np.ndarray, row_area: np.ndarray) -> dict:
    area = lambda m: float((m * row_area[:, None]).sum())  # noqa: E731
    ref, mp = _bodies(truth, row_area, 3125.0), _bodies(mapped, row_area, 3125.0)
    cand = sorted(((area(r & m) / area(r | m), i, j) for i, r in enumerate(ref) for j, m in enumerate(mp) if (r & m).any()),
                  key=lambda c: (-c[0], c[1], c[2]))
    used_r, used_m, errors = set(), set(), []
    for iou, i, j in cand:
        if iou >= 0.5 and i not in used_r and j not in used_m:
            used_r.add(i), used_m.add(j)
            errors.append(100 * (area(mp[j]) - area(ref[i])) / area(ref[i]))
    return {"n_reference": len(ref), "n_mapped": len(mp), "precision": len(errors) / len(mp), "recall": len(errors) / len(ref),
            "mean_abs_pct": float(np.mean(np.abs(errors)))}


@pytest.mark.slow
def test_demo_water_layer_is_scored_against_the_truth_bodies(demo):
    cfg = demo / "config.toml"
    manifest = run_pipeline(cfg, stages=[water.stage()])
    assert manifest["stages"]["water"]["status"] == "ran"
    out = demo / "output" / "water"
    scores = json.loads((out / "score.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    epochs = sorted(p.stem.split("_")[-1] for p in (demo / "inputs" / "landsat").glob("*.tif"))
    assert sorted(scores) == sorted(summary) == epochs
    for e, label in zip(epochs, ("epoch1", "epoch2")):
        truth_path = demo / "truth" / "landsat" / f"water_{label}_{e}.tif"
        with rasterio.open(truth_path) as t, rasterio.open(out / e / "water.tif") as m:
            truth, mapped = t.read(1) == 1, m.read(1)
            assert m.transform == t.transform and m.crs == t.crs and m.dtypes[0] == "uint8"
        assert set(np.unique(mapped)) <= {0, 1, 255}
        row_area = _geod_cell_areas(truth_path)
        want = _independent_scores(truth, mapped == 1, row_area)
        got = scores[e]
        for k in ("n_reference", "n_mapped", "precision", "recall"):
            assert got[k] == pytest.approx(want[k], rel=1e-12), k
        assert got["area_error"]["mean_abs_pct"] == pytest.approx(want["mean_abs_pct"], abs=1e-6)
        s = summary[e]
        assert s["clear_share"] == pytest.approx(1.0, abs=1e-12)  # the demo's Landsat-like epochs have no cloud
        assert s["water_km2"] == pytest.approx(float(((mapped == 1) * row_area[:, None]).sum()) / 1e6, rel=1e-6)
        assert s["n_bodies"] == want["n_mapped"] and len(s["largest"]) == min(5, want["n_mapped"])
    change = out / f"change_{epochs[0]}_{epochs[1]}"
    assert (change / "change.csv").is_file() and (change / "transitions.tif").is_file()
    again = run_pipeline(cfg, stages=[water.stage()])
    assert again["stages"]["water"]["status"] == "skipped (up to date)"


@pytest.mark.slow
def test_suitability_takes_its_distance_to_water_from_the_water_layer(demo, tmp_path):
    text = (demo / "config.toml").read_text()
    start, end = text.index("[grid]"), text.index("[inputs.dem]")
    stack = sorted((demo / "inputs" / "landsat").glob("epoch2_*.tif"))[0]
    text = text[:start] + f'[grid]\nlike = "{stack}"\n\n' + text[end:]
    text = text.replace('[suitability]\ndem = "dem"\nwater = "water"', '[suitability]\ndem = "dem"\nwater = "water_class"')
    text = text.replace('output_dir = "output"', f'output_dir = "{tmp_path / "out"}"')
    assert 'water = "water_class"' in text
    cfg = demo / "config_water_class.toml"
    cfg.write_text(text)
    stages = [inputs.stage(n) for n in ("dem", "precipitation", "pet", "cropland")] + [units.stage(), water.stage(), suitability.stage()]
    run_pipeline(cfg, stages=stages)
    with rasterio.open(tmp_path / "out" / "water" / stack.stem.split("_")[-1] / "water.tif") as w, \
            rasterio.open(tmp_path / "out" / "suitability" / "distance_to_water.tif") as d:
        wat, dist = w.read(1), d.read(1)
        assert w.transform == d.transform
    assert (wat == 1).any() and (wat == 0).any()
    assert (dist[wat == 1] == 0).all() and (dist[wat == 0] > 0).all()


def test_water_runs_before_suitability(tmp_path):
    from irrmap.app.stages import build_stages
    from irrmap.app.context import RunContext

    (tmp_path / "c.toml").write_text(GRID + '[water]\n[water.epochs]\n1995 = ["a.tif"]\n2020 = ["b.tif"]\n')
    for name in ("a.tif", "b.tif"):
        (tmp_path / name).touch()
    loaded = load_config(tmp_path / "c.toml")
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    names = [s.name for s in build_stages(ctx)]
    assert names.index("water") < names.index("suitability")
    stage = next(s for s in build_stages(ctx) if s.name == "water")
    provided = stage.provides(ctx)
    assert provided["water_class"] == provided["water_class_2020"] == ctx.outdir / "water" / "2020" / "water.tif"
    assert provided["water_class_1995"] == ctx.outdir / "water" / "1995" / "water.tif"


def test_missing_scene_and_reference_files_are_listed_before_any_work(tmp_path):
    (tmp_path / "a.tif").touch()
    (tmp_path / "c.toml").write_text(GRID + '[water]\nreference = { 2020 = "truth.tif" }\n[water.epochs]\n2020 = ["a.tif", "scenes/LC08"]\n')
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "c.toml")
    assert "[water].epochs.2020 = scenes/LC08" in str(exc.value) and "[water].reference.2020 = truth.tif" in str(exc.value)
    assert "a.tif" not in str(exc.value)


def _stack(folder, values, qa=None):
    """A 30 x 40 scene stack of one spectrum (reflectance x 1e4), with an optional QA_PIXEL band."""
    from affine import Affine

    folder.mkdir(parents=True, exist_ok=True)
    bands = [np.full((30, 40), v, np.int16) for v in values] + ([np.full((30, 40), qa, np.int16)] if qa is not None else [])
    names = ["blue", "green", "red", "nir", "swir1", "swir2"] + (["QA_PIXEL"] if qa is not None else [])
    with rasterio.open(folder / "s.tif", "w", driver="GTiff", width=40, height=30, count=len(bands), dtype="int16", crs="EPSG:32650",
                       transform=Affine(30, 0, 300000, 0, -30, 4200000), nodata=-9999) as dst:
        for i, (b, d) in enumerate(zip(bands, names), start=1):
            dst.write(b, i)
            dst.set_band_description(i, d)
    (folder / "s.json").write_text(json.dumps({"date": "2020-07-01", "sensor": "LC08", "scale": 1e-4, "sun_elevation": 60, "sun_azimuth": 135}))
    (folder / "c.toml").write_text('[run]\noutput_dir = "out"\n[grid]\ncrs = "EPSG:32650"\nbounds = [300000, 4199100, 301200, 4200000]\n'
                                   'resolution = 30\n[water]\n[water.epochs]\n2020 = ["s.tif"]\n')
    return folder / "c.toml"


def test_an_epoch_without_water_bodies_is_a_result_not_an_error(tmp_path):
    cfg = _stack(tmp_path, [500, 800, 600, 3000, 2000, 1000])  # land everywhere, clear
    run_pipeline(cfg, stages=[water.stage()])
    s = json.loads((tmp_path / "out" / "water" / "summary.json").read_text())["2020"]
    assert (s["n_bodies"], s["water_km2"], s["largest"]) == (0, 0.0, []) and s["clear_share"] == pytest.approx(1.0)
    with rasterio.open(tmp_path / "out" / "water" / "2020" / "body_id.tif") as src:
        assert not src.read(1).any()


def test_an_epoch_under_cloud_everywhere_stops_with_the_epoch_named(tmp_path):
    from irrmap.core.errors import DataError

    cfg = _stack(tmp_path, [600, 600, 500, 200, 100, 50], qa=22280)  # water spectrum, QA_PIXEL cloud everywhere
    with pytest.raises(DataError, match="every pixel of epoch 2020 is unknown"):
        run_pipeline(cfg, stages=[water.stage()])
