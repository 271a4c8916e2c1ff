"""The `treecover` stage of `irrmap run` on the demo's Landsat-like sub-area, its [treecover] config and its report
section.

Truth: the demo's truth covers (truth/landsat/), scored here with sklearn.metrics.r2_score and numpy; areas from
pyproj.Geod polygon areas of the grid's cells (not irrmap's pixel areas); change classes counted here from the
two cover maps by the published rule (forest = cover > 30 %); trend slopes from scipy.stats.theilslopes.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod
from scipy.stats import theilslopes
from sklearn.metrics import r2_score

from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages import treecover
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError

GRID = """
[grid]
crs = "EPSG:4326"
bounds = [100.0, 40.0, 100.2, 40.1]
resolution = 0.00225
"""


@pytest.mark.parametrize("section, key", [
    ('[treecover]\nreference = "r.tif"\nfit_epoch = "2019"\n[treecover.epochs]\n2020 = ["a.tif"]', "fit_epoch"),
    ('[treecover]\nreference = "r.tif"\ntruth = { 2019 = "t.tif" }\n[treecover.epochs]\n2020 = ["a.tif"]', "truth"),
    ('[treecover]\nreference = "r.tif"\n[treecover.epochs]\n2020 = []', "no band file"),
    ('[treecover]\nreference = "r.tif"\ncv_splits = 1\n[treecover.epochs]\n2020 = ["a.tif"]', "[treecover].cv_splits"),
    ('[treecover]\nreference = "r.tif"\nforest_threshold = 100\n[treecover.epochs]\n2020 = ["a.tif"]', "[treecover].forest_threshold"),
    ('[treecover]\nreference = "r.tif"\n[treecover.epochs]\n2020 = ["a.tif"]\n[treecover.trend]\nseries = ["s.tif"]\nmin_years = 1',
     "min_years"),
])
def test_config_errors_name_the_key(tmp_path, section, key):
    (tmp_path / "c.toml").write_text(GRID + section + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path / "c.toml")
    assert key in str(exc.value) and "[treecover" in str(exc.value)


def test_config_defaults_are_the_commands_defaults():
    import inspect

    from irrmap.core.config import TreecoverSection
    from irrmap.mapping.treecover.change import change_to_file
    from irrmap.mapping.treecover.fit import fit_treecover

    f, fit, chg = TreecoverSection.model_fields, inspect.signature(fit_treecover).parameters, inspect.signature(change_to_file).parameters
    for key, arg in (("cv_block_m", "cv_block_m"), ("cv_splits", "cv_splits"), ("max_samples", "max_samples"), ("model", "model"),
                     ("min_coverage", "min_coverage"), ("reference_valid_max", "valid_max")):
        assert f[key].default == fit[arg].default, key
    assert f["forest_threshold"].default == chg["forest_threshold"].default == 30.0
    assert f["change_threshold"].default == chg["change_threshold"].default == 10.0


# ---- the stage on the demo ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from irrmap import generate_demo

    out = tmp_path_factory.mktemp("treecover_demo") / "demo"
    generate_demo(out, rows=96, cols=128)
    return out


def _geod_row_areas(path) -> np.ndarray:
    """Ellipsoidal area (m2) of a cell of each row of a north-up geographic raster, pyproj.Geod on the cell
    outline with its parallels densified."""
    with rasterio.open(path) as src:
        t, h = src.transform, src.height
    geod = Geod(ellps="WGS84")
    lons = np.linspace(t.c, t.c + t.a, 65)
    out = []
    for r in range(h):
        north, south = t.f + t.e * r, t.f + t.e * (r + 1)
        ring_lon = np.concatenate([lons, lons[::-1]])
        ring_lat = np.concatenate([np.full(lons.size, south), np.full(lons.size, north)])
        out.append(abs(geod.polygon_area_perimeter(ring_lon, ring_lat)[0]))
    return np.array(out)


def _band1(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.slow
def test_demo_treecover_stage_scores_against_truth(demo):
    cfg = demo / "config.toml"
    manifest = run_pipeline(cfg, stages=[treecover.stage()])
    assert manifest["stages"]["treecover"]["status"] == "ran"
    out = demo / "output" / "treecover"
    sec = load_config(cfg).config.treecover
    epochs = list(sec.epochs)
    scores = json.loads((out / "score.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(scores) == sorted(summary) == sorted(epochs)
    covers = {}
    for e in epochs:
        path = out / e / "cover.tif"
        with rasterio.open(path) as m, rasterio.open(demo / sec.truth[e]) as t:
            cover, truth = m.read(1), t.read(1)
            assert m.count == 2 and m.dtypes == ("uint8", "uint8") and m.nodata == 255 and m.transform == t.transform
        covers[e] = cover
        ok = (cover <= 100) & (truth <= 100)
        y, p = truth[ok].astype(float), cover[ok].astype(float)
        got = scores[e]
        assert got["n"] == ok.sum()
        assert got["r2"] == pytest.approx(r2_score(y, p), rel=1e-9)
        assert got["rmse"] == pytest.approx(float(np.sqrt(np.mean((p - y) ** 2))), rel=1e-9)
        assert got["bias"] == pytest.approx(float(np.mean(p - y)), abs=1e-9)
        assert got["r2"] > 0.6  # the model recovers the demo's cover (R2 about 0.7 against GEDI in the published recipe)
        area = _geod_row_areas(path)[:, None] * np.ones(cover.shape)
        valid = cover <= 100
        s = summary[e]
        assert s["area_m2"] == pytest.approx(area[valid].sum(), rel=1e-6)
        assert s["forest_m2"] == pytest.approx(area[valid & (cover > 30)].sum(), rel=1e-6)
        assert s["mean_cover"] == pytest.approx((area * cover)[valid].sum() / area[valid].sum(), rel=1e-6)
    card = json.loads((out / "model" / "model.card.json").read_text())
    assert card["epoch"] == epochs[-1] and card["cv"]["n_splits"] == sec.cv_splits
    # change between the epochs, per unit: summed over the units = counted here over the whole sub-area
    a, b = covers[epochs[0]], covers[epochs[1]]
    table = pd.read_csv(out / f"change_{epochs[0]}_{epochs[1]}.csv", dtype={"code": str})
    area = _geod_row_areas(out / epochs[0] / "cover.tif")[:, None] * np.ones(a.shape)
    both = (a <= 100) & (b <= 100)
    loss, gain = both & (a > 30) & (b <= 30), both & (a <= 30) & (b > 30)
    to_ha = 1e-4
    assert table["compared_area_ha"].sum() == pytest.approx(area[both].sum() * to_ha, rel=1e-6)
    assert table["forest_loss_ha"].sum() == pytest.approx(area[loss].sum() * to_ha, rel=1e-6)
    assert table["forest_gain_ha"].sum() == pytest.approx(area[gain].sum() * to_ha, rel=1e-6)
    assert loss.any() and gain.any()  # the demo plants and clears forest between the epochs
    again = run_pipeline(cfg, stages=[treecover.stage()])
    assert again["stages"]["treecover"]["status"] == "skipped (up to date)"


@pytest.mark.slow
def test_demo_trend_equals_theilslopes(demo):
    out = demo / "output" / "treecover"
    if not (out / "trend.tif").is_file():
        run_pipeline(demo / "config.toml", stages=[treecover.stage()])
    with rasterio.open(demo / "inputs" / "treecover" / "ndvi_series.tif") as src:
        series, dates = src.read(), [dt.date.fromisoformat(d) for d in src.descriptions]
    with rasterio.open(out / "trend.tif") as src:
        slope = src.read(1)
    t = np.array([d.year + (d.timetuple().tm_yday - 1) / (366 if d.year % 4 == 0 else 365) for d in dates])
    rng = np.random.default_rng(0)
    rows, cols = rng.integers(0, slope.shape[0], 60), rng.integers(0, slope.shape[1], 60)
    for r, c in zip(rows, cols):
        y = series[:, r, c] * 1e-4
        assert slope[r, c] == pytest.approx(theilslopes(y, t)[0], rel=1e-5, abs=1e-7)


@pytest.mark.slow
def test_report_section_shows_the_scores(demo, tmp_path):
    from irrmap.app.context import RunContext
    from irrmap.evaluation.report import Report
    from irrmap.evaluation.treecover_section import treecover_section

    cfg = demo / "config.toml"
    run_pipeline(cfg, stages=[treecover.stage()])
    loaded = load_config(cfg)
    files = treecover.report_files(RunContext(loaded, loaded.grid(), loaded.output_dir))
    rep = Report("t")
    res = treecover_section(rep, files)
    scores = json.loads(files.score.read_text())
    assert res["truth"] == scores
    from irrmap.evaluation.workflow import to_json

    assert json.loads(to_json(res))["cv"] == res["cv"]  # strict JSON (no NaN) for results.json
    md, _ = rep.to_markdown()
    assert "Tree cover" in md and "treecover_map" in md and "treecover_trend" in md
    for e, s in scores.items():
        assert f"epoch {e}" in md and f"{s['r2']:.4f}"[:5] in md
