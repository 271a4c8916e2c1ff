"""Every config key a stage's `run` reads counts in its fingerprint (irrmap.app.pipeline._fingerprint), so that
changing it reruns the stage instead of leaving its old outputs in place.

One run of a small demo (every section) with each stage's `run` and `params` seeing a config that records the keys
read through it (a leaf attribute or item; `model_dump`, iteration or membership reads a whole section or table).
A key `run` reads must be read by `params` too (itself, or its section as a whole), or be one of the [run] keys the
runner adds to every fingerprint (pipeline.RUN_WIDE_KEYS: [run].chunk_size), or one of the [run] keys that decide only
where and how fast the work runs. [run].seed is not run-wide: a stage that reads it declares it (common.seed_param), so a
new seed reruns only the stages whose outputs it can change (common.SEEDED_STAGES; tests/test_seed_scope.py), not
units, suitability, features... GeoTIFF provenance tags (common.provenance) are exempt: they record the run, not results.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from typing import ClassVar

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import rasterio
from pydantic import BaseModel

from irrmap.app import pipeline
from irrmap.app.cli import main
from irrmap.app.context import RUN_CACHE, Stage
from irrmap.app.stages import common
from irrmap.app.stages.mapping import SPEED_ONLY

# [run] keys that decide where and how fast the work runs, never its results (config.RunSection's descriptions)
EXECUTION_ONLY = {"run.workers", "run.scheduler", "run.gdal_cache_mb", "run.worker_wait", "run.output_dir"} | {
    f"mapping.{k}" for k in SPEED_ONLY}  # and the [mapping] keys that only cut the work into tiles


class _Paused:
    on = True


def _wrap(value, path: str, reads: set):
    if isinstance(value, BaseModel):
        return _RecModel(value, path, reads)
    if isinstance(value, dict):
        return _RecMap(value, path, reads)
    if _Paused.on:
        reads.add(path)
    return value


class _RecModel:
    """A config section that records the dotted keys read through it in `reads`."""

    def __init__(self, obj, path, reads):
        object.__setattr__(self, "_o", obj)
        object.__setattr__(self, "_p", path)
        object.__setattr__(self, "_r", reads)

    def __getattr__(self, name):
        v = getattr(self._o, name)
        if name.startswith(("model_", "__")):  # model_dump and friends read the whole section
            if _Paused.on:
                self._r.add(f"{self._p}.*")
            return v
        return _wrap(v, f"{self._p}.{name}" if self._p else name, self._r)

    def __iter__(self):  # pydantic models iterate as (key, value) pairs: the whole section
        self._r.add(f"{self._p}.*")
        return iter(self._o)


class _RecMap(dict):
    """A config table (a dict, so code that checks for one accepts it) that records item reads; iteration, length,
    membership and copies read the whole table and hand out its plain values."""

    def __init__(self, obj, path, reads):
        super().__init__(obj)
        self._p, self._r = path, reads

    def _all(self):
        if _Paused.on:
            self._r.add(f"{self._p}.*")

    def __getitem__(self, k):
        return _wrap(super().__getitem__(k), f"{self._p}.{k}", self._r)

    def get(self, k, default=None):
        return self[k] if super().__contains__(k) else default

    def __iter__(self):
        self._all()
        return super().__iter__()

    def __len__(self):
        self._all()
        return super().__len__()

    def __contains__(self, k):
        self._all()
        return super().__contains__(k)

    def keys(self):
        self._all()
        return super().keys()

    def items(self):
        self._all()
        return super().items()

    def values(self):
        self._all()
        return super().values()


class _RecLoaded:
    """LoadedConfig whose config records; reading its sha256 (the hash of the config text) reads every key ("*")."""

    def __init__(self, loaded, reads):
        self._loaded, self._r, self.config = loaded, reads, _RecModel(loaded.config, "", reads)

    def __getattr__(self, name):
        if name == "sha256" and _Paused.on:
            self._r.add("*")
        return getattr(self._loaded, name)


def _recording(ctx, reads: set):
    return dataclasses.replace(ctx, loaded=_RecLoaded(ctx.loaded, reads))


def covered(key: str, declared: set) -> bool:
    """Whether `declared` (the keys params read) covers `key`: the key itself or a section it lies in, read whole."""
    if "*" in declared or key in declared or key in EXECUTION_ONLY or key in {f"run.{k}" for k in pipeline.RUN_WIDE_KEYS}:
        return True
    parts = key.split(".")
    return any(".".join(parts[:i]) + ".*" in declared for i in range(1, len(parts) + 1))


def test_covered_by_section_or_key():
    assert covered("units.path", {"units.*"}) and covered("inputs.dem.scale", {"inputs.dem.*"}) and covered("run.chunk_size", set())
    assert not covered("statistics.level", {"training.*"}) and not covered("inputs.dem.scale", {"inputs.dem.path"})
    assert not covered("run.seed", set()) and covered("run.seed", {"run.seed"})  # declared by the stages that use it


class _Files:
    """The files opened for reading while a stage runs (rasterio.open, pandas/geopandas readers, pyogrio.read_info,
    and Python's own open() through an audit hook), by stage."""

    stage: str | None = None
    seen: ClassVar[dict] = {}

    @classmethod
    def note(cls, path, mode="r"):
        if cls.stage is not None and isinstance(path, (str, os.PathLike)) and "r" in str(mode) and "+" not in str(mode):
            cls.seen.setdefault(cls.stage, set()).add(os.path.realpath(os.fspath(path)))

    @classmethod
    def hook(cls, event, args):
        if event == "open" and args and isinstance(args[0], (str, os.PathLike)):
            cls.note(args[0], args[1] if len(args) > 1 and args[1] is not None else "r")


sys.addaudithook(_Files.hook)  # audit hooks cannot be removed: it does nothing while no audited stage runs


def _reader(fn, mode_at=None):
    @functools.wraps(fn)
    def wrapped(path, *a, **kw):
        mode = kw.get("mode", a[mode_at - 1] if mode_at and len(a) >= mode_at else "r")
        _Files.note(path, mode)
        return fn(path, *a, **kw)
    return wrapped


def _stamp(path: str):
    st = os.stat(path)
    return st.st_mtime_ns, st.st_size, st.st_ino


def _snapshot(root: str) -> dict:
    """(mtime, size, inode) of every file under `root` (the small demo: a few hundred files)."""
    return {os.path.join(d, f): _stamp(os.path.join(d, f)) for d, _, fs in os.walk(root) for f in fs}


@pytest.fixture(scope="module")
def audit(tmp_path_factory):
    root = tmp_path_factory.mktemp("fp")
    assert main(["-q", "demo", str(root / "d"), "--rows", "120", "--cols", "160"]) == 0
    demo = os.path.realpath(root / "d")
    found: dict[str, tuple[set, set]] = {}
    files: dict[str, tuple[set, set]] = {}
    original = pipeline.build_stages
    real_provenance = common.provenance

    def quiet_provenance(ctx, stage):  # tags record the run; they are no results
        _Paused.on = False
        try:
            return real_provenance(ctx, stage)
        finally:
            _Paused.on = True

    def audited(stage: Stage) -> Stage:
        run_reads, param_reads = found.setdefault(stage.name, (set(), set()))

        def params(ctx):  # serialised as the fingerprint does, so a section handed over whole counts as read whole
            json.dumps(stage.params(_recording(ctx, param_reads)), sort_keys=True, default=str)
            return stage.params(ctx)

        def run(ctx):
            ctx.cache.clear()  # what an earlier stage read and cached (the unit polygons) is read again, and seen
            declared = {os.path.realpath(ctx.path(p)) for p in stage.inputs(ctx)}
            before = _snapshot(demo)  # files the stage writes (new or changed) are its own, not its inputs
            _Files.stage = stage.name
            try:
                out = stage.run(_recording(ctx, run_reads))
            finally:
                _Files.stage = None
            # the run's cache (OUTPUT/.irrmap-cache, irrmap.app.stages.shared_fractions) is exempt: its files are named by
            # a key of a declared input's checksum and read options, and the stage that reads one removes it
            files[stage.name] = (declared, {f for f in _Files.seen.get(stage.name, set())
                                            if f in before and RUN_CACHE not in f.split(os.sep) and _stamp(f) == before[f]})
            return out

        return dataclasses.replace(stage, run=run, params=params)

    mp = pytest.MonkeyPatch()
    mp.setattr(rasterio, "open", _reader(rasterio.open, mode_at=1))
    for mod, names in ((pd, ("read_csv", "read_parquet", "read_excel")), (gpd, ("read_file", "read_parquet")), (pyogrio, ("read_info",))):
        for n in names:
            mp.setattr(mod, n, _reader(getattr(mod, n)))
    mp.setattr(pipeline, "build_stages", lambda ctx: [audited(s) for s in original(ctx)])
    for mod in ("irrmap.app.stages.common", "irrmap.app.stages.inputs", "irrmap.app.stages.units", "irrmap.app.stages.water",
                "irrmap.app.stages.treecover", "irrmap.app.stages.suitability", "irrmap.app.stages.features",
                "irrmap.app.stages.training", "irrmap.app.stages.mapping"):
        mp.setattr(f"{mod}.provenance", quiet_provenance, raising=False)
    # a fraction input's stage reads its siblings' sections to count their classes in the same pass; what it computes
    # for them goes to cache files named by a key of exactly those sections (shared_fractions.cache_file), never into
    # its own outputs: those reads are no results of the stage
    from irrmap.app.stages import shared_fractions

    def quiet(fn):
        def wrapped(*a, **kw):
            was, _Paused.on = _Paused.on, False
            try:
                return fn(*a, **kw)
            finally:
                _Paused.on = was  # these nest (siblings calls _plan)
        return wrapped

    for n in ("siblings", "cache_file", "_plan"):
        mp.setattr(shared_fractions, n, quiet(getattr(shared_fractions, n)))
    try:
        assert main(["-q", "run", str(root / "d" / "config.toml")]) == 0
    finally:
        mp.undo()
    return found, files, root / "d"


def test_every_stage_ran(audit):
    assert {"units", "statistics", "suitability", "features", "training.thresholds", "training.pool", "models", "mapping",
            "evaluation", "water", "treecover"} <= set(audit[0])


@pytest.mark.parametrize("name", ["inputs.dem", "inputs.cropland", "units", "statistics", "water", "treecover", "suitability",
                                  "features", "training.thresholds", "training.pool", "models", "mapping", "evaluation"])
def test_run_reads_only_declared_config_keys(audit, name):
    run_reads, param_reads = audit[0][name]
    assert run_reads, f"{name}: the recording config saw no read (the wrapper is not in place)"
    missing = sorted(k for k in run_reads if not covered(k, param_reads))
    assert missing == [], f"stage {name} reads config keys its fingerprint does not hold: {missing}"


@pytest.mark.parametrize("name", ["inputs.dem", "inputs.cropland", "units", "statistics", "water", "treecover", "suitability",
                                  "features", "training.thresholds", "training.pool", "models", "mapping", "evaluation"])
def test_run_reads_only_declared_files(audit, name):
    """Files of the demo folder (inputs, earlier stages' outputs) a stage's run opens are among its inputs: the
    file itself, or a folder holding it, or (a GeoTIFF's .aux.xml, a stack's sidecar) a declared file's companion."""
    declared, read = audit[1][name]
    assert read, f"{name}: no file read was seen (the hooks are not in place)"
    missing = sorted(f for f in read if not any(f == d or f.startswith((d + os.sep, d + ".")) for d in declared))
    assert missing == [], f"stage {name} reads files its fingerprint does not hold: {missing}"


def _fingerprints(config) -> dict[str, str]:
    from irrmap.app.context import RunContext
    from irrmap.core.config import load_config

    loaded = load_config(config)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir)
    return {s.name: pipeline._fingerprint(s, ctx) for s in pipeline.plan_stages(ctx)}


def test_changed_keys_move_the_fingerprints_of_the_stages_that_read_them(audit):
    """The finished demo's fingerprints against those of edited configs in the same folder: a new [run].name (the
    report's title and quoted config) moves the evaluation's only; a new [run].chunk_size (run-wide) moves every one;
    a new [run].seed moves those of the stages that draw random numbers or read what they drew (common.SEEDED_STAGES)
    only: units, suitability, features, thresholds, water... never draw one, and a reseeded run skips them."""
    folder = audit[2]
    text = (folder / "config.toml").read_text()
    base = _fingerprints(folder / "config.toml")
    renamed, rechunked, reseeded = folder / "renamed.toml", folder / "rechunked.toml", folder / "reseeded.toml"
    renamed.write_text(text.replace('name = "irrmap-demo"', 'name = "renamed"', 1))
    rechunked.write_text(text.replace("chunk_size = 512", "chunk_size = 256", 1))
    reseeded.write_text(text.replace("seed = 42", "seed = 43", 1))
    assert len({text, renamed.read_text(), rechunked.read_text(), reseeded.read_text()}) == 4
    moved = _fingerprints(renamed)
    assert sorted(n for n in base if moved[n] != base[n]) == ["evaluation"]
    moved = _fingerprints(rechunked)
    assert sorted(n for n in base if moved[n] == base[n]) == []
    moved = _fingerprints(reseeded)
    assert sorted(n for n in base if moved[n] != base[n]) == ["evaluation", "mapping", "models", "training.pool", "treecover"]
