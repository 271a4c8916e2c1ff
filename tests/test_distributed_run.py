"""The same run on a dask.distributed cluster of worker processes writes the same bytes as the local threaded
run (issue 19). The truth is the threaded run: the demo is run by the `irrmap` command once with threads and
once with `--scheduler local-processes:2` (a LocalCluster(processes=True, n_workers=2)), into the same output
folder (the report names its paths), and every file is compared byte for byte. On the demo's own rasters,
the map-reduce threshold split is also held to the whole-grid kernel.

Excluded, and why: manifest.json's per-stage `seconds` (wall-clock timings; the rest of the manifest is
compared). The prediction's resume marker (mapping/raw/.predict_done.json) is keyed on the inputs' checksums,
so it is compared like every other file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest

from irrmap.app.demo import generate_demo
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster
from irrmap.training.split_mapreduce import split_tiles
from irrmap.training.thresholds import ThresholdSplitter

RUN_STATE = {Path("manifest.json"), Path(".irrmap-digests.json")}  # timings; the inputs' inodes and times (digest cache)


def _run(config: Path, *extra: str) -> None:
    res = subprocess.run([sys.executable, "-m", "irrmap", "run", str(config), *extra], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]


def _files(folder: Path) -> dict[Path, bytes]:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _manifest_without_timings(folder: Path) -> dict:
    m = json.loads((folder / "manifest.json").read_text())
    for st in m["stages"].values():
        st.pop("seconds", None)
    return m


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The demo's output folder after a threaded run, and after a run on the local cluster."""
    cfg = generate_demo(tmp_path_factory.mktemp("distributed") / "demo", rows=96, cols=128)
    out = cfg.parent / "output"
    _run(cfg)
    threads = out.rename(cfg.parent / "output_threads")
    _run(cfg, "--scheduler", "local-processes:2")
    return threads, out


@pytest.mark.slow
def test_local_cluster_writes_the_bytes_of_the_threaded_run(runs):
    threads, out = runs
    a, b = _files(threads), _files(out)
    assert sorted(a) == sorted(b)
    rasters = [p for p in a if p.suffix == ".tif"]
    assert len(rasters) > 40 and {Path("training/thresholds.csv"), Path("training/pool.parquet"), Path("models/model.joblib"),
                                  Path("evaluation/results.json")} <= set(a)
    differ = [str(p) for p in a if p not in RUN_STATE and a[p] != b[p]]
    assert differ == []
    assert _manifest_without_timings(threads) == _manifest_without_timings(out)


@pytest.mark.slow
def test_map_reduce_split_matches_the_whole_grid_kernel_on_the_demo(runs, tmp_path):
    # the demo's own zones, cropland and scores; targets from 5 to 95 % of each unit's cropland
    threads, _ = runs
    grid = Grid.from_raster(threads / "units" / "zones.tif")
    zones = read_raster(threads / "units" / "zones.tif", grid, kind="categorical")
    cropland = read_raster(threads / "aligned" / "cropland.tif", grid)
    scores = {n: read_raster(threads / "features" / f"{n}.tif", grid) for n in ("sevi", "sndvi", "sgi")}
    n_units = int(zones.max().compute())
    areas = np.bincount(zones.values.ravel(), weights=np.nan_to_num(cropland.values.ravel()) * 2.5e4, minlength=n_units + 1)
    targets = pd.Series(np.linspace(0.05, 0.95, n_units) * areas[1:], index=np.arange(1, n_units + 1))
    targets[2] = np.nan
    with dask.config.set(scheduler="threads"):
        maps, tables = split_tiles(scores, zones, cropland, targets, n_units, tmp_path / "parts", strip_rows=16, batch=2000)
        for name, score in scores.items():
            truth = ThresholdSplitter().fit(score, zones=zones, cropland=cropland, targets=targets)
            assert np.array_equal(maps[name].values, truth.label_map(zones).values)
            pd.testing.assert_frame_equal(tables[name], truth.table_, check_exact=True)
            assert (truth.table_["status"] == "ok").sum() > 10


def test_a_scheduler_that_is_neither_local_processes_nor_an_address_is_refused(tmp_path):
    cfg = generate_demo(tmp_path / "demo", rows=48, cols=48)
    res = subprocess.run([sys.executable, "-m", "irrmap", "run", str(cfg), "--scheduler", "local-processes:0"], capture_output=True, text=True)
    assert res.returncode == 2 and "irrmap run --scheduler: " in res.stderr and "local-processes:N with N >= 1" in res.stderr
    assert not (cfg.parent / "output").exists()
