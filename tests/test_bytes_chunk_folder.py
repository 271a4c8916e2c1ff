"""The same run writes the same bytes whatever [run].chunk_size, [mapping].memory_mb, the config's formatting and the folder it runs in.

Truths: pixel areas by pyproj.Geod's polygon area (tests/geod_truth.py), summed exactly with math.fsum; the
chunk-independence itself (one value, to the byte, for every chunk size); two `irrmap run`s of the demo in two
folders with chunk sizes 64 and 128, compared file by file (sha256). Excluded, and why: manifest.json (documented
as holding absolute paths and timings) and .irrmap-digests.json (the runner's cache of the inputs' checksums,
keyed by absolute path, inode and time).
"""

from __future__ import annotations

import hashlib
import math
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from conftest import as_dataarray
from geod_truth import geodesic_row_areas
from irrmap.mapping.treecover.change import change_to_file, unit_sums
from irrmap.mapping.treecover.summary import cover_summary

from irrmap.core.config import RunConfig, results_sha256
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from test_pipeline_cli import CONFIG  # the tiny two-county project's config

X0, Y0, RES = 100.0, 41.0, 0.00225  # a CIrrMap250-like geographic grid
ROWS, COLS = 300, 260


def _case():
    grid = Grid.from_bounds(X0, Y0 - ROWS * RES, X0 + COLS * RES, Y0, RES, "EPSG:4326")
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 100, grid.shape)
    b = np.clip(a + rng.normal(0, 15, grid.shape), 0, 100)
    a[rng.random(grid.shape) < 0.05] = np.nan
    zones = (np.arange(COLS)[None, :] * 3 // COLS + 1) * (np.arange(ROWS)[:, None] % 7 != 0)  # zones 1..3, every 7th row outside
    return grid, a, b, zones.astype(np.int32)


def _lazy(arr, chunks):
    return xr.DataArray(da.from_array(arr, chunks=chunks), dims=("y", "x"))


def test_unit_sums_are_the_same_bytes_for_every_chunk_and_match_geodesic_areas():
    grid, a, b, zones = _case()
    tables = {c: unit_sums(_lazy(a, c), _lazy(b, c), _lazy(zones, c), 3, grid) for c in (64, 100, 128, 1024)}
    ref = tables[1024]
    for c, t in tables.items():
        assert t.to_numpy().tobytes() == ref.to_numpy().tobytes(), f"chunk {c}"
    row_area = geodesic_row_areas(X0, Y0, RES, ROWS)  # independent of irrmap's own areas
    px = np.broadcast_to(row_area[:, None], grid.shape)
    both = np.isfinite(a) & np.isfinite(b)
    for z in (1, 2, 3):
        inz = zones == z
        assert ref.loc[z, "area"] == pytest.approx(math.fsum(px[inz]), rel=1e-9)
        assert ref.loc[z, "compared"] == pytest.approx(math.fsum(px[inz & both]), rel=1e-9)
        assert ref.loc[z, "cover_a"] == pytest.approx(math.fsum((px * np.nan_to_num(a))[inz & both]), rel=1e-9)
        assert ref.loc[z, "forest_b"] == pytest.approx(math.fsum(px[inz & both & (b > 30)]), rel=1e-9)


def test_unit_sums_equal_the_exact_sum_of_the_grids_areas():
    # the fixed-point sum rounds each term to 2**-32 m2: within n x 2**-32 m2 of the exact (fsum) total
    grid, a, b, zones = _case()
    t = unit_sums(_lazy(a, 64), _lazy(b, 64), _lazy(zones, 64), 3, grid)
    px = np.asarray(grid.pixel_area(), np.float64)
    for z in (1, 2, 3):
        inz = zones == z
        assert abs(t.loc[z, "area"] - math.fsum(px[inz])) <= inz.sum() * 2.0**-32 + 1e-7


def test_cover_summary_and_change_table_are_the_same_bytes_for_every_chunk(tmp_path):
    grid, a, b, _ = _case()
    for name, arr in (("a", a), ("b", b)):
        write_raster(tmp_path / f"{name}.tif", as_dataarray(np.where(np.isfinite(arr), np.rint(arr), 255).astype("uint8"), grid),
                     dtype="uint8", nodata=255, cog=False)
    sums = {c: cover_summary(tmp_path / "a.tif", chunks=c) for c in (64, 128, 1024)}
    assert sums[64] == sums[128] == sums[1024]
    px = np.broadcast_to(geodesic_row_areas(X0, Y0, RES, ROWS)[:, None], grid.shape)
    assert sums[64]["area_m2"] == pytest.approx(math.fsum(px[np.isfinite(a)]), rel=1e-9)
    tables = []
    for c in (64, 128):
        change_to_file(tmp_path / f"c{c}.tif", tmp_path / "a.tif", tmp_path / "b.tif", table=tmp_path / f"c{c}.csv", chunks=c)
        tables.append((tmp_path / f"c{c}.csv").read_bytes())
    assert tables[0] == tables[1]


def test_change_tags_name_the_epochs_relative_to_the_map(tmp_path):
    grid, a, b, _ = _case()
    for folder in ("one", "two/deeper"):
        d = tmp_path / folder
        (d / "out").mkdir(parents=True)
        for name, arr in (("a", a), ("b", b)):
            write_raster(d / f"{name}.tif", as_dataarray(np.nan_to_num(arr).astype("uint8"), grid), dtype="uint8", nodata=255, cog=False)
        change_to_file(d / "out" / "change.tif", d / "a.tif", d / "b.tif")
    tags = []
    for folder in ("one", "two/deeper"):
        with rasterio.open(tmp_path / folder / "out" / "change.tif") as src:
            tags.append(src.tags())
    assert tags[0]["epoch_a"] == "../a.tif" and tags[0]["epoch_b"] == "../b.tif"
    assert tags[0] == tags[1]
    h = [hashlib.sha256((tmp_path / f / "out" / "change.tif").read_bytes()).hexdigest() for f in ("one", "two/deeper")]
    assert h[0] == h[1]


def test_config_digest_ignores_formatting_chunks_workers_and_output_folder():
    base = RunConfig.model_validate(tomllib.loads(CONFIG))
    other = CONFIG.replace('output_dir = "out"', 'output_dir = "elsewhere"\nchunk_size = 64\nworkers = 1  # one thread')
    other = "# a comment\n" + other.replace("resolution = 0.00225", "resolution   =   0.00225")
    assert results_sha256(RunConfig.model_validate(tomllib.loads(other))) == results_sha256(base)
    seeded = RunConfig.model_validate(tomllib.loads(CONFIG.replace("seed = 3", "seed = 4")))
    assert results_sha256(seeded) != results_sha256(base)
    wider = RunConfig.model_validate(tomllib.loads(CONFIG.replace("100.2, 40.1", "100.3, 40.1")))
    assert results_sha256(wider) != results_sha256(base)


# ---- the whole run, in two folders with two chunk sizes -------------------------------------------------
# the runner's own state, not outputs: manifest.json (absolute paths, timings), the input digest cache (absolute
# paths, inodes, times), the stage fingerprints (they hold [run].chunk_size by design: irrmap.app.pipeline.RUN_WIDE_KEYS)
# and the prediction's resume marker (a token of the lazy inputs, chunking included)
RUN_STATE = {Path("manifest.json"), Path(".irrmap-digests.json"), Path(".irrmap-state.json"), Path("mapping/raw/.predict_done.json")}
# the evaluation report lists the input files with their SHA-256, the config's among them: the configs differ (the
# chunk size), so these files are compared with each run's own config hash, project folder and chunk size masked
LISTS_INPUTS = {Path("evaluation/report.html"), Path("evaluation/report.md"), Path("evaluation/results.json")}


def _run(config: Path, command: str = "run") -> None:
    res = subprocess.run([sys.executable, "-m", "irrmap", command, str(config)], capture_output=True, text=True, timeout=1200, check=False)
    assert res.returncode == 0, res.stderr[-3000:]


def _digests(folder: Path) -> dict[Path, str]:
    return {p.relative_to(folder): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _masked(path: Path, config: Path) -> str:
    text = path.read_text()
    text = text.replace(hashlib.sha256(config.read_bytes()).hexdigest(), "<CONFIG_SHA256>").replace(str(config.parent), "<PROJECT>")
    text = re.sub(r"\[mapping\]\nmemory_mb = \d+", "[mapping]\nmemory_mb = <N>", text)
    return re.sub(r"chunk_size = \d+", "chunk_size = <N>", text)  # the report shows the config's text


@pytest.mark.slow
def test_demo_run_writes_the_same_bytes_with_another_chunk_size_in_another_folder(tmp_path):
    from irrmap.app.demo import generate_demo

    cfgs = []
    for folder, chunk in (("first", 64), ("second/deeper", 128)):
        cfg = generate_demo(tmp_path / folder, rows=96, cols=128)
        text = cfg.read_text()
        assert "chunk_size = " in text
        cfg.write_text("\n".join(f"chunk_size = {chunk}" if line.startswith("chunk_size = ") else line for line in text.splitlines()) + "\n")
        if chunk == 128:  # and prediction tiles of 16 MB: [mapping].memory_mb only cuts the work (mapping.SPEED_ONLY);
            # before, it changed the irrmap_settings_sha256 tag of every mapping GeoTIFF (user probe /tmp/probeD, B)
            text = cfg.read_text()
            assert "[mapping]\nmemory_mb = 512" in text
            cfg.write_text(text.replace("[mapping]\nmemory_mb = 512", "[mapping]\nmemory_mb = 16"))
        _run(cfg)
        _run(cfg, "reconcile")  # its report's "Reproduce with" named the config by its absolute path
        cfgs.append(cfg)
    outs = [c.parent / "output" for c in cfgs]
    a, b = _digests(outs[0]), _digests(outs[1])
    assert sorted(a) == sorted(b)
    assert {Path("treecover/summary.json"), Path("treecover/change_1995_2020.csv"), Path("treecover/trend.tif"),
            Path("treecover/model/model.card.json"), Path("reconcile/report.md")} <= set(a)
    differ = [str(p) for p in a if p not in RUN_STATE | LISTS_INPUTS and a[p] != b[p]]
    assert differ == []
    for p in LISTS_INPUTS & set(a):
        assert _masked(outs[0] / p, cfgs[0]) == _masked(outs[1] / p, cfgs[1]), p
