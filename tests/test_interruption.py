"""Stopping a run and running it again: SIGTERM stops like Ctrl-C (message, exit 143, no partial files), the
temporaries a SIGKILL leaves are removed by the next run, the features stage resumes its finished windows, and
a failed rerun marks manifest.json instead of leaving the previous run's manifest to stand for the folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from irrmap.app.cli import main
from irrmap.app.demo import generate_demo
from irrmap.app.pipeline import run_pipeline
from irrmap.core.errors import DataError

PARTIAL = re.compile(r"^\..+\.\d+\.partial")  # how irrmap names a file while writing it (irrmap.core.atomic)
CHUNK = 64  # the 96 x 128 demo grid in 2 x 2 windows


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    generate_demo(out, rows=96, cols=128, seed=3, workers=2)
    return out


def _project(folder: Path, demo: Path, *, until_features: bool = True) -> Path:
    """A run folder on the demo inputs, in 64-px windows on one worker; through the features stage only
    unless `until_features` is False."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "inputs").symlink_to(demo / "inputs")
    text = (demo / "config.toml").read_text()
    text = re.sub(r"(?m)^chunk_size = \d+$", f"chunk_size = {CHUNK}\nworkers = 1", text)
    if until_features:
        text = text[:text.index("\n[training]")] + "\n"
    (folder / "config.toml").write_text(text)
    return folder / "config.toml"


def _partials(folder: Path) -> list[Path]:
    return [Path(root) / n for root, dirs, files in os.walk(folder) for n in [*dirs, *files] if PARTIAL.match(n)]


def _hidden(folder: Path) -> list[str]:
    """Hidden files and folders under `folder`, but the digests kept for the next run (irrmap.core.manifest.DigestCache)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob(".*") if p.name != ".irrmap-digests.json")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest(cfg: Path) -> dict:
    return json.loads((cfg.parent / "output" / "manifest.json").read_text())


def _start(cfg: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "irrmap", "run", str(cfg)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_stops_cleanly_and_the_next_run_resumes(tmp_path, demo):
    cfg = _project(tmp_path, demo)
    proc = _start(cfg)
    lines = []
    for line in proc.stderr:  # logging goes to stderr
        lines.append(line)
        if "stage features: running" in line:
            break
    time.sleep(1.0)  # into the stage's computing
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    err = "".join(lines) + err
    assert proc.returncode == 143, err  # 128 + SIGTERM, as a shell reports a process that SIGTERM ended
    assert "irrmap: terminated by SIGTERM" in err and "run the same command again to resume" in err
    assert "Traceback" not in err
    outdir = cfg.parent / "output"
    assert _partials(tmp_path) == [] and _hidden(outdir) == [".irrmap-state.json"]
    stopped = re.findall(r"stage (\S+): running", err)[-1]
    manifest = _manifest(cfg)
    assert manifest["status"] == "failed" and manifest["error"] == {"stage": stopped, "message": "terminated by SIGTERM"}
    assert manifest["stages"][stopped]["status"] == "failed"

    again = subprocess.run([sys.executable, "-m", "irrmap", "-q", "run", str(cfg)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    manifest = _manifest(cfg)
    assert manifest["status"] == "complete" and "stale_outputs" not in manifest
    assert manifest["stages"]["units"]["status"] == "skipped (up to date)" and manifest["stages"]["features"]["status"] == "ran"
    assert _partials(tmp_path) == [] and _hidden(outdir) == [".irrmap-state.json"]


def test_partial_files_of_a_killed_run_are_removed_by_the_next_run(tmp_path, demo, caplog):
    cfg = _project(tmp_path, demo)
    outdir = cfg.parent / "output"
    for _ in range(3):  # the run may end before a partial file is seen: then try again
        proc = _start(cfg)
        while proc.poll() is None:  # look while the run is stopped (SIGSTOP), so what is seen is still there at the kill
            os.kill(proc.pid, signal.SIGSTOP)
            if outdir.is_dir() and _partials(outdir):
                break
            os.kill(proc.pid, signal.SIGCONT)
            time.sleep(0.005)
        proc.kill()
        proc.communicate()
        stale = _partials(outdir)
        if stale:
            break
    assert stale, "no partial file was caught in the act"
    size = sum(os.stat(Path(r) / f).st_size for p in stale
               for r, _, fs in (os.walk(p) if p.is_dir() else [(p.parent, None, [p.name])]) for f in fs)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    planted_stale = outdir / f".zones.tif.{dead}.partial.tif"
    planted_stale.write_bytes(b"x" * 1000)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    keep = [outdir / f".evi.tif.{live.pid}.partial.tif", outdir / ".notes.txt", outdir / "evi.123.partial.tif",
            outdir / ".partial", outdir / "my.partial.tif"]
    for p in keep:
        p.write_text("not irrmap's, or still being written")
    try:
        with caplog.at_level(logging.INFO, logger="irrmap.core.atomic"):
            assert main(["-q", "run", str(cfg)]) == 0
    finally:
        live.kill()
        live.wait()
    msg = [r.getMessage() for r in caplog.records if "partial file" in r.getMessage()]
    assert len(msg) == 1, msg
    assert f"removed {len(stale) + 1} partial file(s)" in msg[0] and f"{size + 1000:,} bytes" in msg[0], msg[0]
    assert all(p.exists() for p in keep)
    assert _partials(outdir) == [keep[0]]
    assert _manifest(cfg)["status"] == "complete"


def _window_names(chunks) -> set[str]:
    """The window files (irrmap.core.raster_write) of a 2-D dask layout: r{row offset}_c{col offset}.tif."""
    rows, cols = (np.cumsum((0,) + c)[:-1] for c in chunks)
    return {f"r{r:07d}_c{c:07d}.tif" for r in rows for c in cols}


def _counting(monkeypatch, computed: list, layouts: dict, fail_at: int | None = None):
    """Wrap the features stage's lazy rasters so every computed block is recorded as (raster, window file
    name) and each raster's block layout is kept; with `fail_at`, computing a block whose row-major index is
    `fail_at` or more raises, as if the process were killed there."""
    import irrmap.training.sscore as sscore

    real = {f: getattr(sscore, f) for f in ("composite_rasters", "feature_scores")}  # the stage's two passes

    def count(block, name, block_info=None):
        info = block_info[None]
        (r0, _), (c0, _) = info["array-location"]
        if fail_at is not None and info["chunk-location"][0] * info["num-chunks"][1] + info["chunk-location"][1] >= fail_at:
            raise RuntimeError("killed")
        computed.append((name, f"r{r0:07d}_c{c0:07d}.tif"))
        return block

    def wrapped(fn):
        def run(*args, **kw):
            rasters = fn(*args, **kw)
            layouts.update({n: r.data.chunks for n, r in rasters.items()})
            return {n: r.copy(data=r.data.map_blocks(count, n, dtype=r.dtype)) for n, r in rasters.items()}
        return run

    for name, fn in real.items():
        monkeypatch.setattr(sscore, name, wrapped(fn))


def test_killed_features_stage_recomputes_only_unfinished_windows(tmp_path, demo, monkeypatch):
    cfg = _project(tmp_path / "killed", demo)
    first, layouts = [], {}
    _counting(monkeypatch, first, layouts, fail_at=2)  # one worker, two windows per pass: windows 0 and 1 get saved
    with pytest.raises(RuntimeError, match="killed"):
        run_pipeline(cfg)
    assert _manifest(cfg)["stages"]["features"] == {"status": "failed", "error": "killed", "reason": "first run"}
    resume = cfg.parent / "output" / "features" / "resume"
    names = list(layouts)  # the order of the files: the composites, whose pass the kill stopped (the scores come after)
    saved = {n: {p.name for p in (resume / "composites" / f"{k:03d}").glob("r*.tif")} for k, n in enumerate(names)}
    assert len(names) == 5 and sum(map(len, saved.values())) >= 5 and max(len(_window_names(c)) for c in layouts.values()) == 4
    for n in names:
        assert saved[n] == {name for m, name in first if m == n}, n  # what was computed before the kill was kept
        assert saved[n] < _window_names(layouts[n]) or len(_window_names(layouts[n])) == 1, n

    again: list = []
    monkeypatch.undo()
    _counting(monkeypatch, again, {})
    run_pipeline(cfg)
    for n in names:  # only the windows not saved before were computed
        assert sorted(name for m, name in again if m == n) == sorted(_window_names(layouts[n]) - saved[n]), n
    assert 0 < sum(m in names for m, _ in again) < sum(len(_window_names(c)) for c in layouts.values())
    assert not resume.exists()

    whole = _project(tmp_path / "uninterrupted", demo)
    monkeypatch.undo()
    run_pipeline(whole)
    features = sorted((whole.parent / "output" / "features").glob("*.tif"))
    assert len(features) == 11
    for f in features:
        assert _sha(f) == _sha(cfg.parent / "output" / "features" / f.name), f.name


def test_failed_rerun_marks_the_manifest_and_is_never_taken_as_up_to_date(tmp_path, demo, monkeypatch):
    import irrmap.app.stages.suitability as stage

    cfg = _project(tmp_path, demo)
    run_pipeline(cfg)
    outdir = cfg.parent / "output"
    before = {p: _sha(p) for p in sorted((outdir / "suitability").glob("*.tif")) + sorted((outdir / "features").glob("*.tif"))}
    original = cfg.read_text()
    cfg.write_text(original.replace("[suitability]\n", "[suitability]\nmax_distance = 40000\n"))

    real = stage.write_rasters

    def fail_third(outputs, **kw):  # the stage dies after replacing two of its files (its one write of five)
        real(outputs[:2], **kw)
        raise DataError("simulated failure while writing", str(outputs[2].path), "none")

    monkeypatch.setattr(stage, "write_rasters", fail_third)
    assert main(["-q", "run", str(cfg)]) == 2
    m = _manifest(cfg)
    assert m["status"] == "failed" and m["error"]["stage"] == "suitability"
    assert "simulated failure while writing" in m["error"]["message"]
    assert m["stages"]["suitability"]["status"] == "failed" and m["stages"]["features"] == {"status": "not run"}
    assert m["stages"]["units"]["status"] == "skipped (up to date)"
    assert set(m["stale_outputs"]) >= {str(p.relative_to(outdir)) for p in before}
    assert _sha(outdir / "suitability" / "slope_percent.tif") != before[outdir / "suitability" / "slope_percent.tif"]

    # back to the first config: the half-rewritten stage must run again, and give the first run's bytes
    monkeypatch.undo()
    cfg.write_text(original)
    assert main(["-q", "run", str(cfg)]) == 0
    m = _manifest(cfg)
    assert m["status"] == "complete" and "stale_outputs" not in m and "error" not in m
    assert m["stages"]["suitability"]["status"] == "ran"
    assert m["stages"]["features"]["status"] == "skipped (up to date)"  # its inputs came out byte-identical
    assert {p: _sha(p) for p in before} == before


def test_resumed_write_reuses_windows_only_under_the_same_key(tmp_path):
    import dask
    import dask.array as da
    import rasterio

    from irrmap.core.grid import Grid
    from irrmap.core.raster_write import RasterOutput, write_rasters

    grid = Grid.from_bounds(0, 0, 3, 2, 0.01, "EPSG:4326")  # 200 x 300, 2 x 3 windows of 100
    old, new = (np.random.default_rng(s).random(grid.shape).astype("float32") for s in (1, 2))
    computed = []

    def arr(values, fail_from=None):
        def f(block, block_info=None):
            i, j = block_info[None]["chunk-location"]
            if fail_from is not None and i * 3 + j >= fail_from:
                raise RuntimeError("killed")
            computed.append((i, j))
            return block
        return da.from_array(values, chunks=100).map_blocks(f, dtype="float32")

    def write(values, key, fail_from=None):
        out = RasterOutput(tmp_path / "out.tif", arr(values, fail_from), grid)
        with dask.config.set(scheduler="threads", num_workers=1):  # two windows per pass
            write_rasters([out], resume=tmp_path / "resume", resume_key=key)

    with pytest.raises(RuntimeError, match="killed"):
        write(old, "inputs A", fail_from=2)
    assert sorted(computed) == [(0, 0), (0, 1)] and not (tmp_path / "out.tif").exists()
    computed.clear()
    with pytest.raises(RuntimeError, match="killed"):
        write(new, "inputs B", fail_from=4)  # other inputs: nothing of A's is reused
    assert sorted(computed) == [(0, 0), (0, 1), (0, 2), (1, 0)]
    computed.clear()
    write(new, "inputs B")
    assert sorted(computed) == [(1, 1), (1, 2)]
    with rasterio.open(tmp_path / "out.tif") as src:
        assert np.array_equal(src.read(1), new)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_a_resumed_run_writes_the_same_bytes_as_a_whole_one(tmp_path, demo):
    """Warnings of stages a rerun skips come back from the run state (JSON with sorted keys); they are rebuilt in the
    order a fresh run writes them, so results.json and the manifest's warnings are the same bytes as after one run."""
    cfg = _project(tmp_path, demo, until_features=False)
    (tmp_path / "truth").symlink_to(demo / "truth")
    run_pipeline(cfg)
    outdir = cfg.parent / "output"
    whole = (outdir / "evaluation" / "results.json").read_bytes()
    warnings = _manifest(cfg)["warnings"]
    assert any(w["stage"] != "evaluation" for w in warnings)  # a skipped stage's warnings are in the test
    (outdir / "evaluation" / "results.json").unlink()  # only the evaluation stage reruns
    manifest = run_pipeline(cfg)
    assert manifest["stages"]["models"]["status"] == "skipped (up to date)" and manifest["stages"]["evaluation"]["status"] == "ran"
    assert (outdir / "evaluation" / "results.json").read_bytes() == whole
    assert json.dumps(_manifest(cfg)["warnings"]) == json.dumps(warnings)
