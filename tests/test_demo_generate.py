"""The demo region: files, config, determinism and window independence (small sizes, < 60 s in all)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.windows import Window

from irrmap.core.config import load_config
from irrmap.app.demo import DemoSpec, generate_demo
from irrmap.app.demo.bundle import window_bundle
from irrmap.app.demo.generate import PATHS
from irrmap.app.demo.hydrology import route

ROWS, COLS, SEED = 120, 160, 7


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, rows=ROWS, cols=COLS, seed=SEED, workers=2)
    return out


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_files_and_config(demo):
    for rel in PATHS.values():
        assert (demo / rel).exists(), rel
    for rel in ["inputs/admin.gpkg", "inputs/statistics/county.csv", "inputs/statistics/city.csv", "inputs/statistics/province.csv",
                "inputs/reference/points.gpkg", "truth/statistics_truth.csv", "truth/points_truth.csv", "config.toml"]:
        assert (demo / rel).exists(), rel
    assert len(list((demo / "inputs" / "landsat").glob("*.tif"))) == 2
    assert len(list((demo / "truth" / "landsat").glob("*.tif"))) == 4
    loaded = load_config(demo / "config.toml")
    grid = loaded.grid()
    assert grid.shape == (ROWS, COLS)
    assert grid.is_geographic and grid.res == (0.00225, 0.00225)
    assert 30 < grid.bounds[1] < 45
    assert loaded.config.inputs["cropland"].kind == "fraction"
    assert loaded.config.statistics.variant == "actual"
    for spec in loaded.config.inputs.values():  # nothing the pipeline reads lies under truth/
        assert "truth" not in Path(spec.path).parts


def test_cropland_fraction_via_core_reader(demo):
    from irrmap.core.raster_read import read_raster

    loaded = load_config(demo / "config.toml")
    crop = read_raster(demo / "inputs/landcover_30m.tif", loaded.grid(), kind="fraction", classes=[1], chunks=64).values
    with rasterio.open(demo / "inputs/landcover_fractions.tif") as src:
        band = src.read(1)
    np.testing.assert_allclose(crop, band, atol=1e-5)
    assert 0.02 < crop.mean() < 0.8


def test_same_seed_same_bytes(demo, tmp_path):
    generate_demo(tmp_path, rows=ROWS, cols=COLS, seed=SEED, workers=1)
    a, b = _hashes(demo), _hashes(tmp_path)
    assert a.keys() == b.keys()
    diff = [k for k in a if a[k] != b[k]]
    assert not diff, f"files differ between two runs with the same seed: {diff}"


def test_chunking_does_not_change_rasters(demo, tmp_path):
    generate_demo(tmp_path, rows=ROWS, cols=COLS, seed=SEED, chunk=48, parts=("rasters",))
    for name, rel in PATHS.items():
        with rasterio.open(demo / rel) as a, rasterio.open(tmp_path / rel) as b:
            np.testing.assert_array_equal(a.read(), b.read(), err_msg=name)


def test_window_alone_equals_whole(demo):
    spec = DemoSpec(rows=ROWS, cols=COLS, seed=SEED)
    hyd = route(spec)
    win = Window(37, 23, 50, 41)
    alone = window_bundle(spec, hyd, win)
    k = spec.fine
    for name in ("dem", "water", "precipitation", "truth_irrigated", "evi", "vi_quality", "landcover"):
        with rasterio.open(demo / PATHS[name]) as src:
            if name == "landcover":
                whole = src.read(1, window=Window(37 * k, 23 * k, 50 * k, 41 * k))
            elif src.count > 1:
                whole = src.read(window=win)
            else:
                whole = src.read(1, window=win)
        np.testing.assert_array_equal(alone[name], whole, err_msg=name)


def test_different_seed_differs(tmp_path):
    spec_a, spec_b = DemoSpec(rows=64, cols=64, seed=1), DemoSpec(rows=64, cols=64, seed=2)
    w = Window(0, 0, 64, 64)
    a = window_bundle(spec_a, route(spec_a), w)["dem"]
    b = window_bundle(spec_b, route(spec_b), w)["dem"]
    assert not np.array_equal(a, b)


def test_cli_demo(tmp_path, capsys):
    from irrmap.app.cli import main

    assert main(["-q", "demo", str(tmp_path / "d"), "--rows", "56", "--cols", "72", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    assert "irrmap run" in printed and (tmp_path / "d" / "config.toml").exists()
    assert main(["-q", "demo", str(tmp_path / "e"), "--rows", "10", "--cols", "72"]) == 2


def test_window_without_water_nearby_equals_the_whole():
    """A window with no water within the distance cap (HALO px) around it: its distance to water is the cap, as in
    any larger window that holds it. The old code let scipy measure to a virtual corner of the dry array (1, 1.41,
    2.24 px ... from it), so `irrmap demo --chunk 128` changed 17 files. Spec 300 x 300, seed 1: its top-left 16 x 16
    corner has no water within 40 px (found by scanning the water mask)."""
    from irrmap.app.demo.truth import HALO, dem_water

    spec = DemoSpec(rows=300, cols=300, seed=1)
    hyd = route(spec)
    dry = Window(0, 0, 16, 16)
    _, water, _ = dem_water(spec, hyd, Window(0, 0, 16 + HALO, 16 + HALO))  # the window and its halo inside the grid
    assert not water.any()  # the premise: dry within the cap
    alone = window_bundle(spec, hyd, dry)
    big = window_bundle(spec, hyd, Window(0, 0, 300, 128))  # holds water: distances to real water, capped
    compared = 0
    for name in alone:
        a, b = alone[name], big[name]
        if a.ndim >= 2 and a.shape[-2:] == (16, 16):
            np.testing.assert_array_equal(a, b[..., 0:16, 0:16], err_msg=name)
            compared += 1
    assert compared >= 5
