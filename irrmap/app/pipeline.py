"""`irrmap run`: validate the config, then run each stage whose section is present, resumably.

A stage is skipped when its fingerprint (stage name, its config, the grid, its input checksums) matches
the one recorded after its last successful run and its outputs still exist; so an interrupted run resumes
where it stopped, and a changed parameter reruns exactly the stages it touches. Every output is written
atomically; manifest.json records versions, checksums, seed and per-stage timings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from pathlib import Path

import dask
import rasterio

import irrmap
from irrmap.core.atomic import write_text_atomic
from irrmap.app.context import RunContext, Stage
from irrmap.app.stages import build_stages
from irrmap.core.config import load_config
from irrmap.core.errors import ConfigError
from irrmap.core.manifest import git_commit, package_versions, write_manifest

log = logging.getLogger(__name__)

STATE_FILE = ".irrmap-state.json"


def _fingerprint(stage: Stage, ctx: RunContext) -> str:
    h = hashlib.sha256()
    h.update(stage.name.encode())
    h.update(json.dumps(stage.params(ctx), sort_keys=True, default=str).encode())
    h.update(json.dumps(ctx.grid.to_dict(), sort_keys=True).encode())
    h.update(irrmap.__version__.encode())
    for p in stage.inputs(ctx):
        h.update(ctx.checksum(p).encode())
    return h.hexdigest()


def _load_state(outdir: Path) -> dict:
    f = outdir / STATE_FILE
    if f.exists():
        with contextlib.suppress(json.JSONDecodeError):
            return json.loads(f.read_text())
    return {}


@contextlib.contextmanager
def dask_scheduler(cfg):
    """Run dask work locally with N threads, or on a dask.distributed cluster when [run].scheduler is set."""
    if cfg.run.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            raise ConfigError("dask.distributed is not installed", "[run].scheduler", "pip install 'dask[distributed]' or remove the key") from None
        with Client(cfg.run.scheduler) as client:
            log.info("using dask cluster at %s (%s)", cfg.run.scheduler, client)
            yield
        return
    with dask.config.set(scheduler="threads", num_workers=cfg.run.workers or None), rasterio.Env(GDAL_CACHEMAX=cfg.run.gdal_cache_mb):
        yield


def run_pipeline(config_path, *, force: bool = False, stages: list[Stage] | None = None) -> dict:
    """Run every enabled stage of the config at `config_path`; returns the manifest dict."""
    loaded = load_config(config_path)
    grid = loaded.grid()
    outdir = loaded.output_dir
    outdir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(loaded, grid, outdir)
    state = {} if force else _load_state(outdir)
    manifest = {
        "irrmap_version": irrmap.__version__,
        "git_commit": git_commit(),
        "config": str(loaded.path),
        "output_dir": str(outdir),
        "config_sha256": loaded.sha256,
        "seed": loaded.config.run.seed,
        "grid": grid.to_dict(),
        "packages": package_versions(),
        "stages": {},
    }
    log.info("run %s on %r -> %s", loaded.config.run.name, grid, outdir)
    plan = [s for s in (stages if stages is not None else build_stages(ctx)) if s.enabled(ctx)]
    for stage in plan:
        ctx.products.update(stage.provides(ctx))
    for stage in plan:  # every reference is checked before any work starts
        stage.check(ctx)
    with dask_scheduler(loaded.config):
        for stage in plan:
            fp = _fingerprint(stage, ctx)
            prev = state.get(stage.name, {})
            t0 = time.perf_counter()
            if prev.get("fingerprint") == fp and all(Path(p).exists() for p in prev.get("outputs", [])):
                log.info("stage %s: up to date, skipped", stage.name)
                outputs, status = [Path(p) for p in prev["outputs"]], "skipped (up to date)"
            else:
                log.info("stage %s: running", stage.name)
                outputs, status = stage.run(ctx), "ran"
                state[stage.name] = {"fingerprint": fp, "outputs": [str(p) for p in outputs]}
                write_text_atomic(outdir / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))
            manifest["stages"][stage.name] = {
                "status": status,
                "seconds": round(time.perf_counter() - t0, 3),
                "fingerprint": fp,
                "outputs": [str(Path(p).relative_to(outdir)) if Path(p).is_relative_to(outdir) else str(p) for p in outputs],
            }
    manifest["inputs"] = {p: c for p, c in sorted(ctx.checksums.items())}
    write_manifest(outdir / "manifest.json", manifest)
    return manifest
