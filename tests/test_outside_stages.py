"""`irrmap run`'s work outside its stages, made cheaper without changing what it records: source files hashed
on the idle core during the checks (RunContext.hash_early), the start-up objects frozen for gc while the stages
run, the viewer's layers rendered in threads. Each against the old path: the same digests, the same manifest
inputs, the same view.html bytes."""

from __future__ import annotations

import gc
import hashlib
import json
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from irrmap.app import pipeline
from irrmap.app.context import EarlyDigests, RunContext
from tests.test_run_speed_paths import _classes_file, _config, _inputs_stages
from tests.viewer_run import make_run


def _ctx(tmp_path):
    loaded = SimpleNamespace(resolve=lambda p: p if p.is_absolute() else tmp_path / p)
    return RunContext(loaded, grid=None, outdir=tmp_path / "out")


def _files(tmp_path, sizes):
    rng = np.random.default_rng(1)
    out = []
    for k, size in enumerate(sizes):
        p = tmp_path / f"f{k}.bin"
        p.write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
        out.append(p)
    return out


def test_early_digests_equal_hashlib_and_enter_checksums_only_when_asked(tmp_path, monkeypatch):
    files = _files(tmp_path, [0, 1, 2047, 1 << 20, (3 << 20) + 5])
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    ctx = _ctx(tmp_path)
    ctx.hash_early(files + [files[1]])
    assert ctx._early is not None and ctx.checksums == {}  # nothing recorded until a stage asks
    ctx.checksum_all(files[:3])
    for p in files[:3]:
        assert ctx.checksum(p) == hashlib.sha256(p.read_bytes()).hexdigest()
    assert set(ctx.checksums) == {str(p) for p in files[:3]}
    for p in files[3:]:
        assert ctx.checksum(p) == hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_queued_file_is_withdrawn_and_hashed_by_the_stage(tmp_path):
    files = _files(tmp_path, [10, 20, 30])
    started = []

    def slow(p):
        started.append(p)
        time.sleep(0.3)
        return hashlib.sha256(Path(p).read_bytes()).hexdigest()

    early = EarlyDigests([str(p) for p in files], slow)
    time.sleep(0.05)
    assert early.take(str(files[2])) is None  # not started: the caller hashes it
    assert not early.pending(str(files[1]))  # withdrawn too
    fut = early.take(str(files[0]))  # started: its digest comes from here
    assert fut is not None and fut.result() == hashlib.sha256(files[0].read_bytes()).hexdigest()
    time.sleep(0.4)
    assert started == [str(files[0])]


def test_an_unreadable_early_file_raises_where_it_did(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    a, b = _files(tmp_path, [5, 6])
    ctx = _ctx(tmp_path)
    b.unlink()  # gone after the plan named it
    ctx.hash_early([a, b])
    with pytest.raises(FileNotFoundError):
        ctx.checksum(b)
    assert ctx.checksum(a) == hashlib.sha256(a.read_bytes()).hexdigest()


def test_one_core_hashes_nothing_early(tmp_path, monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    ctx = _ctx(tmp_path)
    ctx.hash_early(_files(tmp_path, [5]))
    assert ctx._early is None


def test_source_files_leave_out_products_and_the_output_folder(tmp_path):
    src = _classes_file(tmp_path / "lc.tif")
    cfg = _config(tmp_path, src)
    from irrmap.core.config import load_config

    loaded = load_config(cfg)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    plan = pipeline.plan_stages(ctx, _inputs_stages(cfg))
    assert pipeline.source_files(ctx, plan) == [str(src)]  # three stages read it: named once
    broken = SimpleNamespace(inputs=lambda ctx: 1 / 0)
    assert pipeline.source_files(ctx, [broken, *plan]) == [str(src)]


@pytest.mark.parametrize("force", [False, True])
def test_run_records_the_same_inputs_and_fingerprints_with_and_without_early_hashing(tmp_path, monkeypatch, force):
    src = _classes_file(tmp_path / "lc.tif", shape=(300, 400))
    cfg = _config(tmp_path, src)
    first = pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg))
    hashed_early = []
    real = RunContext.hash_early
    monkeypatch.setattr(RunContext, "hash_early", lambda self, paths: hashed_early.extend(paths) or real(self, paths))
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    again = pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg), force=force)
    assert hashed_early == [str(src)]
    assert again["inputs"] == first["inputs"]
    assert {k: v["fingerprint"] for k, v in again["stages"].items()} == {k: v["fingerprint"] for k, v in first["stages"].items()}
    monkeypatch.setattr(RunContext, "hash_early", lambda self, paths: None)  # the old path
    old = pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg), force=force)
    assert old["inputs"] == again["inputs"]


def test_a_changed_source_file_is_still_detected(tmp_path, monkeypatch):
    src = _classes_file(tmp_path / "lc.tif", shape=(300, 400))
    cfg = _config(tmp_path, src)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    first = pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg))
    _classes_file(src, shape=(300, 400), seed=9)  # same size and name, new content
    again = pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg))
    assert again["inputs"][str(src)] == hashlib.sha256(src.read_bytes()).hexdigest() != first["inputs"][str(src)]
    assert all(v["status"] == "ran" for v in again["stages"].values())


def test_stages_see_start_up_objects_frozen_and_the_run_leaves_gc_as_it_was(tmp_path, monkeypatch):
    src = _classes_file(tmp_path / "lc.tif", shape=(100, 120))
    cfg = _config(tmp_path, src)
    seen = []
    monkeypatch.setattr(pipeline, "release_freed_memory", lambda: seen.append(gc.get_freeze_count()))
    assert gc.get_freeze_count() == 0
    pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg), force=True)
    assert seen and all(n > 0 for n in seen)
    assert gc.get_freeze_count() == 0
    unfreeze = gc.unfreeze  # patched below
    gc.freeze()  # a caller's own freeze is left alone
    try:
        calls = []
        monkeypatch.setattr(pipeline.gc, "unfreeze", lambda: calls.append("unfreeze"))
        monkeypatch.setattr(pipeline.gc, "freeze", lambda: calls.append("freeze"))
        pipeline.run_pipeline(cfg, stages=_inputs_stages(cfg), force=True)
        assert calls == []
    finally:
        unfreeze()


def test_viewer_is_the_same_page_with_one_or_two_threads_and_a_broken_layer_noted_in_order(tmp_path, monkeypatch):
    from irrmap.evaluation.viewer import write_viewer

    out = make_run(tmp_path)
    pages = {}
    for cores in (1, 2, 4):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        res = write_viewer(out, tmp_path / f"view{cores}.html")
        pages[cores] = res.path.read_bytes()
    assert pages[1] == pages[2] == pages[4]
    (out / "mapping" / "raw" / "probability.tif").write_bytes(b"not a tiff")  # a damaged layer: skipped with a note
    notes = {}
    for cores in (1, 2):
        monkeypatch.setattr("os.cpu_count", lambda cores=cores: cores)
        res = write_viewer(out, tmp_path / f"broken{cores}.html")
        notes[cores] = (res.notes, res.path.read_bytes())
        assert any("probability.tif" in n and "layer skipped" in n for n in res.notes)
    assert notes[1] == notes[2]
    data = json.loads(pages[2].decode().split('<script id="viewer-data" type="application/json">')[1].split("</script>")[0])
    assert [r["id"] for r in data["rasters"]][:3] == [r["id"] for r in json.loads(
        pages[1].decode().split('<script id="viewer-data" type="application/json">')[1].split("</script>")[0])["rasters"]][:3]
