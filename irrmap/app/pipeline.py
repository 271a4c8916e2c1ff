"""`irrmap run`: validate the config, then run each stage whose section is present, resumably.

A stage is skipped when its fingerprint (stage name, its config, the grid, its input checksums) matches
the one recorded after its last successful run and its outputs still exist; so an interrupted run resumes
where it stopped, and a changed parameter reruns exactly the stages it touches; the log line `stage X: running
(reason)` and manifest.json's stage "reason" say why a stage ran (`rerun_reason`). Every output is written
atomically; manifest.json records versions, checksums, seed and per-stage timings.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path
from collections.abc import Callable

import dask
import rasterio

import irrmap
from irrmap.core.atomic import check_output_folder, remove_stale_partials
from irrmap.app.cluster import check_address, check_scheduler, open_client
from irrmap.app.cluster_errors import cluster_failures, unfused_graphs
from irrmap.core.code_digest import code_digest
from irrmap.app.context import RunContext, Stage
from irrmap.app.stages import build_stages
from irrmap.app.stages.distinct import check_distinct_roles
from irrmap.app.output_digests import changed_outputs, output_digests
from irrmap.app.run_state import load_state, located, located_message, save_state, stored_message, stored_path
from irrmap.app.run_warnings import collected_warnings, warning_record
from irrmap.app.valid_guard import check_input, run_guarded, source_inputs
from irrmap.core.config import load_config
from irrmap.core.config_keys import keys_named, name_keys
from irrmap.core.dataset_names import is_dataset_name
from irrmap.core.errors import InputError, gather, raise_all
from irrmap.core.manifest import DigestCache, git_commit, input_companions, package_versions, write_manifest
from irrmap.core.output_lock import output_lock
from irrmap.core.interrupts import dask_checkpoint, raise_if_swallowed
from irrmap.core.memory import drop_gdal_block_cache, limit_arenas, release_freed_memory
from irrmap.core.raster_write import gdal_cache_bytes

log = logging.getLogger(__name__)

DIGEST_FILE = ".irrmap-digests.json"  # SHA-256 of input files by path and file identity (irrmap.core.manifest.DigestCache)


# [run] keys any stage may read (the chunking of windowed reads and filters): they count in every stage's fingerprint,
# so no stage can read them without declaring them. [run].seed is not one: only the stages whose outputs it can
# change (irrmap.app.stages.common.SEEDED_STAGES) hold it, in their params, so a run that changes only the seed
# skips units, statistics, suitability, features, thresholds... (tests/test_seed_scope.py). [run].workers,
# .scheduler, .gdal_cache_mb and .worker_wait decide where and how fast the work runs, never its results.
RUN_WIDE_KEYS = ("chunk_size",)


def _fingerprint(stage: Stage, ctx: RunContext) -> str:
    """The stage's fingerprint (`_fingerprint_parts`)."""
    return _fingerprint_parts(stage, ctx)[0]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fingerprint_parts(stage: Stage, ctx: RunContext) -> tuple[str, dict]:
    """(fingerprint, parts) of `stage`: the fingerprint is one SHA-256 (hex) over the stage name, its params, the
    run-wide keys (RUN_WIDE_KEYS), the grid, irrmap.__version__, irrmap.core.code_digest and each input's checksum,
    in that order; a stage is skipped when it equals the one its last run recorded. The parts are what went into it,
    kept in the run state so that a rerun can say why (`rerun_reason`): {"params", "run", "grid": SHA-256 of the
    JSON hashed, "version", "code", "inputs": {input as the state stores it (run_state.stored_path): checksum}}.
    Raises InputError for a missing input in the output folder (`_check_made`), OSError for an unreadable input."""
    params = json.dumps(stage.params(ctx), sort_keys=True, default=str).encode()
    run_wide = json.dumps({k: getattr(ctx.config.run, k) for k in RUN_WIDE_KEYS}, sort_keys=True, default=str).encode()
    grid = json.dumps(ctx.grid.to_dict(), sort_keys=True).encode()
    code = code_digest()  # changed code reruns the stages (irrmap.core.code_digest)
    h = hashlib.sha256()
    h.update(stage.name.encode())
    h.update(params)
    h.update(run_wide)
    h.update(grid)
    h.update(irrmap.__version__.encode())
    h.update(code.encode())
    inputs = stage.inputs(ctx)
    _check_made(stage, ctx, inputs)
    ctx.checksum_all(inputs)
    checksums = {}
    for p in inputs:
        checksum = ctx.checksum(p)
        h.update(checksum.encode())
        checksums[_input_key(p, ctx)] = checksum
    parts = {"params": _sha(params), "run": _sha(run_wide), "grid": _sha(grid), "version": irrmap.__version__,
             "code": code, "inputs": checksums}
    return h.hexdigest(), parts


def _input_key(p, ctx: RunContext) -> str:
    """An input as the run state stores it: a file path as run_state.stored_path does (relative to the output folder
    when in it or in the config's folder, so a moved run compares its own files), a dataset name as resolved."""
    name = str(ctx.path(p))
    return name if is_dataset_name(name) or not Path(name).is_absolute() else stored_path(name, ctx.outdir, Path(ctx.loaded.path).parent)


def _shown_input(key: str, ctx: RunContext) -> str:
    """A stored input (`_input_key`) as a rerun reason names it: relative to the config's folder when in it (as the
    config names it; a product in the output folder as e.g. `output/aligned/cropland.tif`), else absolute."""
    if is_dataset_name(key):
        return key  # NETCDF:"...":var, /vsizip/...
    p = located(key, ctx.outdir)
    base = Path(os.path.abspath(Path(ctx.loaded.path).parent))
    return os.path.relpath(p, base) if Path(os.path.abspath(p)).is_relative_to(base) else str(p)


def _listed(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def rerun_reason(stage: Stage, ctx: RunContext, prev: dict, fp: str, parts: dict, force: bool, edited=()) -> str:
    """Why `stage` runs, one phrase for the log line `stage X: running (reason)` and manifest.json's stage "reason":
    its record `prev` in the run state (irrmap.app.run_state) against its current fingerprint `fp` and `parts`
    (`_fingerprint_parts`). Reasons: "forced (--force)", "first run", "an earlier interrupted or failed run",
    "no record of the previous parts (state written by an older irrmap)", "input PATH changed", "inputs added: ...",
    "inputs removed: ...", "parameters changed", "[run] chunk_size changed", "grid changed", "irrmap's version
    changed", "irrmap's code changed", "outputs missing: NAMES", "outputs changed since written: NAMES" (`edited`:
    output_digests.changed_outputs); several are joined by "; "."""
    if force:
        return "forced (--force)"
    if not prev:
        return "first run"
    if "interrupted" in prev:
        before = prev.get("interrupted")
        return "an earlier interrupted or failed run" + (f" (which ran it for: {before})" if isinstance(before, str) and before else "")
    why = []
    if prev.get("fingerprint") != fp:
        old = prev.get("parts")
        if "untrusted" in prev:
            why.append(str(prev["untrusted"]))
        elif not isinstance(old, dict):
            why.append("no record of the previous parts (state written by an older irrmap)")
        else:
            why += _changed_parts(old, parts, ctx)
            if not why:
                why.append("its fingerprint changed")  # e.g. the order of its inputs
    missing = [_relative(located(p, ctx.outdir), ctx.outdir) for p in prev.get("outputs", []) if not located(p, ctx.outdir).exists()]
    missing += [_relative(p, ctx.outdir) for p in stage.provides(ctx).values() if not Path(p).exists()]
    if missing:
        why.append(f"outputs missing: {_listed(list(dict.fromkeys(missing)))}")
    if edited:
        why.append(f"outputs changed since written: {_listed(list(edited))}")
    return "; ".join(why) or "its record does not match"


def _changed_parts(old: dict, new: dict, ctx: RunContext) -> list[str]:
    """The phrases of `rerun_reason` for the parts (`_fingerprint_parts`) that differ between `old` and `new`."""
    why = []
    old_in, new_in = old.get("inputs") or {}, new["inputs"]
    changed = [_shown_input(k, ctx) for k in new_in if k in old_in and old_in[k] != new_in[k]]
    added = [_shown_input(k, ctx) for k in new_in if k not in old_in]
    removed = [_shown_input(k, ctx) for k in old_in if k not in new_in]
    if changed:
        why.append(f"input{'s' if len(changed) > 1 else ''} {_listed(changed)} changed")
    if added:
        why.append(f"inputs added: {_listed(added)}")
    if removed:
        why.append(f"inputs removed: {_listed(removed)}")
    if old.get("params") != new["params"]:
        why.append("parameters changed")
    if old.get("run") != new["run"]:
        why.append(f"[run] {', '.join(RUN_WIDE_KEYS)} changed")
    if old.get("grid") != new["grid"]:
        why.append("grid changed")
    if old.get("version") != new["version"]:
        why.append(f"irrmap's version changed ({old.get('version')} -> {new['version']})")
    if old.get("code") != new["code"]:
        why.append("irrmap's code changed")
    return why


@contextlib.contextmanager
def dask_scheduler(cfg, scheduler: str | None = None, output_dir=None):
    """Run dask work locally with N threads, or on a dask.distributed cluster (irrmap.app.cluster) when
    `scheduler` (`irrmap run --scheduler`) or [run].scheduler names one; on a cluster, dask arrays are computed
    from their culled graphs without fusing tasks (irrmap.app.cluster_errors.unfused_graphs), and, given
    `output_dir`, its workers must see that folder at the same path (irrmap.app.cluster.check_shared_folder)."""
    where = scheduler or cfg.run.scheduler
    if where:
        with open_client(where, cfg.run.gdal_cache_mb, cfg.run.worker_wait, output_dir) as client, unfused_graphs():
            log.info("using dask cluster %s (%s)", where, client)
            yield  # unfused_graphs: one task per key name in every computation (irrmap.app.cluster_errors)
        return
    with dask.config.set(scheduler="threads", num_workers=cfg.run.workers or None), \
            rasterio.Env(GDAL_CACHEMAX=gdal_cache_bytes(cfg.run.gdal_cache_mb)), dask_checkpoint():
        yield  # dask_checkpoint: a stop that native code swallowed is raised after the next task (irrmap.core.interrupts)


def plan_stages(ctx: RunContext, stages: list[Stage] | None = None, scheduler: str | None = None,
                planned: Callable[[list[Stage]], None] | None = None, reach: bool = False) -> list[Stage]:
    """The enabled stages in run order, their products registered in `ctx`, after every check that needs no
    computing: the output folder can be written, the scheduler (`scheduler` or [run].scheduler) is valid, and each
    stage's `check` (files open and overlap the grid, fields exist, statistics join the units, named products
    exist). Raises all problems found at once (an ErrorList when there are several), a problem of a file located at
    the config keys naming it (irrmap.core.config_keys); nothing is written.
    `planned(plan)` is called before the checks (irrmap run starts hashing source files there). With `reach`
    (`irrmap run --check`), a scheduler address is also connected to and its workers counted (irrmap.app.cluster.check_scheduler)."""
    plan = [s for s in (stages if stages is not None else build_stages(ctx)) if s.enabled(ctx)]
    for stage in plan:
        ctx.products.update(stage.provides(ctx))
    if planned is not None:
        planned(plan)
    where = scheduler or ctx.config.run.scheduler
    problems = gather(lambda: check_output_folder(ctx.outdir, "[run].output_dir"), lambda: where and check_scheduler(where, reach=reach, output_dir=ctx.outdir),
                      lambda: check_distinct_roles(ctx), *(lambda s=s: _keyed_check(s, ctx) for s in plan))
    ctx.cache.clear()
    raise_all(name_keys(problems, ctx.loaded), str(ctx.loaded.path))  # a file's problem names the config keys naming it
    return plan


def _keyed_check(stage: Stage, ctx: RunContext) -> None:
    """`stage.check(ctx)`, then the check `run_guarded` makes at the start of the stage (irrmap.app.valid_guard.
    check_input: the raster opens and overlaps the grid) on each of the stage's inputs that exists before the run
    (valid_guard.source_inputs: the same list the stage's run checks, so `irrmap run --check` and `irrmap run` give
    the same error); a file the stage's own check already reported is not checked again. A problem of a file is
    located at the keys of the stage's section naming it (irrmap.core.config_keys)."""
    with keys_named(ctx.loaded, stage.name):
        found = gather(lambda: stage.check(ctx))
        # across the stages' checks (ctx.cache, emptied before the stages run): a file an earlier check reported or
        # guarded is not checked again (the DEM of [inputs] is also a source of later stages: one message, not two)
        told = ctx.cache.setdefault("input_guard_told", [])
        told.extend(str(e) for e in found)
        checked = ctx.cache.setdefault("input_guard_checked", set())
        text = " ".join(told)
        todo = [p for p in source_inputs(stage, ctx) if str(p) not in text and str(p) not in checked]
        checked.update(str(p) for p in todo)
        more = gather(*(lambda p=p: check_input(p, ctx.grid) for p in todo))
        told.extend(str(e) for e in more)
        raise_all(found + more, str(ctx.loaded.path))


def run_pipeline(config_path, *, force: bool = False, stages: list[Stage] | None = None, scheduler: str | None = None) -> dict:
    """Run every enabled stage of the config at `config_path`; returns the manifest dict. `scheduler`
    overrides [run].scheduler (irrmap.app.cluster): where the work runs never changes the outputs."""
    if scheduler is not None:
        check_address(scheduler)  # its syntax first, before the config's inputs are read (irrmap.app.cluster)
    limit_arenas()  # before the stages' threads allocate: bounded heap growth (irrmap.core.memory)
    loaded = load_config(config_path)
    ctx = RunContext(loaded, loaded.grid(), loaded.output_dir, force=force)
    with contextlib.ExitStack() as held:  # one writer per output folder (irrmap.core.output_lock): a second run is refused
        if ctx.outdir.is_dir():  # before the checks, which would read another run's files half-written
            held.enter_context(output_lock(ctx.outdir))
        ctx.digests = DigestCache(ctx.outdir / DIGEST_FILE, trust=not force)  # unchanged inputs are not hashed again next run
        held.callback(ctx.stop_early)
        with collected_warnings("check", ctx.warnings):  # everything `irrmap run --check` checks, before any work starts;
            # meanwhile the source files the stages read are hashed on the idle core (RunContext.hash_early)
            plan = plan_stages(ctx, stages, scheduler, planned=lambda plan: ctx.hash_early(source_files(ctx, plan)))
        held.enter_context(output_lock(ctx.outdir))  # a new folder, once checked; nests when already held
        return _run_stages(ctx, plan, force, scheduler)


def source_files(ctx: RunContext, plan: list[Stage]) -> list[str]:
    """The existing files the stages of `plan` read that no stage writes (outside the output folder, not a named
    product), in the order the stages first read them: these can be hashed before any stage runs. A stage whose
    `inputs` fails here is left out (its check reports the config's problem). The files of
    irrmap.app.valid_guard.source_inputs, which the checks before the run open too."""
    return list(dict.fromkeys(str(p) for stage in plan for p in source_inputs(stage, ctx) if p.resolve().is_file()))


def _run_stages(ctx: RunContext, plan: list[Stage], force: bool, scheduler: str | None) -> dict:
    """The stages of `plan` run (or skipped when up to date) in order, manifest and viewer written: run_pipeline's
    work once the checks passed and the output folder is locked."""
    loaded = ctx.loaded
    grid, outdir = ctx.grid, ctx.outdir
    outdir.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(outdir)  # temporaries of a killed run (they can add up to gigabytes)
    if force:  # what stages of an earlier, interrupted run left for later ones: a forced run recomputes it
        shutil.rmtree(ctx.run_cache, ignore_errors=True)
    base = Path(loaded.path).parent  # the run's folder: paths in it are stored relative (irrmap.app.run_state)
    previous = load_state(outdir, base)
    state = {} if force else dict(previous)
    if ctx.digests is None:
        ctx.digests = DigestCache(outdir / DIGEST_FILE, trust=not force)  # unchanged inputs are not hashed again next run
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
    where = scheduler or loaded.config.run.scheduler
    running = lambda: next((s.name for s in plan if s.name not in manifest["stages"]), None)  # noqa: E731
    reasons: dict[str, str] = {}  # why each stage ran, also for the manifest entry of one that fails
    # a failure of the cluster (a worker killed, the scheduler lost) is recorded and raised as one line (cluster_failures)
    with dask_scheduler(loaded.config, scheduler, outdir), _failure_recorded(manifest, ctx, plan, previous, reasons), \
            (cluster_failures(where, running, outdir) if where else contextlib.nullcontext()), _objects_so_far_frozen():
        for stage in plan:
            raise_if_swallowed()  # a Ctrl-C or SIGTERM that native code swallowed stops the run here at the latest
            fp, parts = _fingerprint_parts(stage, ctx)
            prev = state.get(stage.name, {})
            t0 = time.perf_counter()
            reason = None
            edited = changed_outputs(prev, ctx, outdir) if prev.get("fingerprint") == fp else []  # edited after written
            if prev.get("fingerprint") == fp and _all_exist(stage, ctx, prev) and not edited:
                log.info("stage %s: up to date, skipped", stage.name)
                outputs, status = [located(p, outdir) for p in prev["outputs"]], "skipped (up to date)"
                warned = [warning_record(w["stage"], w["logger"], located_message(w["message"], outdir, base))
                          for w in prev.get("warnings", [])]  # naming the files in the folders as they are now
                if prev.get("parts") != parts or "digests" not in prev:  # a record of an older irrmap: what it lacks
                    state[stage.name] = prev | {"parts": parts, "digests": prev.get("digests") or output_digests(outputs, ctx, outdir, base)}
                    save_state(outdir, state)
            else:
                reason = reasons[stage.name] = rerun_reason(stage, ctx, prev, fp, parts, force, edited)
                log.info("stage %s: running (%s)", stage.name, reason)
                # a stage that fails or is stopped must never count as up to date: until it is done, its record is only
                # a marker (no fingerprint), from which the next run tells why it reruns
                state[stage.name] = {"interrupted": reason, "outputs": []}
                save_state(outdir, state)
                with collected_warnings(stage.name, []) as warned, keys_named(loaded, stage.name):  # its file errors name their keys
                    outputs, status = run_guarded(stage, ctx), "ran"  # valid-share checks around the stage (irrmap.app.valid_guard)
                state[stage.name] = {"fingerprint": fp, "parts": parts, "outputs": [stored_path(p, outdir, base) for p in outputs],
                                     "digests": output_digests(outputs, ctx, outdir, base),  # (irrmap.app.output_digests)
                                     "warnings": [w | {"message": stored_message(w["message"], outdir, base)} for w in warned]}
                save_state(outdir, state)
                ctx.digests.save()
                drop_gdal_block_cache()  # nor its cached blocks
                release_freed_memory()  # the next stage starts from this stage's live data, not its garbage
            manifest["stages"][stage.name] = {
                "status": status,
                "seconds": round(time.perf_counter() - t0, 3),
                "fingerprint": fp,
                "outputs": [_relative(p, outdir) for p in outputs],
            } | ({"reason": reason} if reason else {})  # why it ran (rerun_reason); a skipped stage has none
            ctx.warnings.extend(warned)
    shutil.rmtree(ctx.run_cache, ignore_errors=True)  # every stage is done: nothing left to hand on
    manifest["status"] = "complete"
    _record_inputs(manifest, ctx)
    if stale := _left_over(previous, plan, manifest, outdir):  # the key only when there are some, as after a failure
        manifest["stale_outputs"] = stale
    manifest["warnings"] = ctx.warnings  # {stage, logger, message}; a skipped stage repeats those of its last run
    write_manifest(outdir / "manifest.json", manifest)
    ctx.digests.save()
    _write_viewer(outdir, manifest)
    return manifest


def _write_viewer(outdir: Path, manifest: dict) -> None:
    """OUTPUT/view.html, the offline map viewer (`irrmap view`), after a run that wrote a map; the report links to it.
    A viewer that cannot be built is a warning, not a failed run (the maps are written)."""
    if not {"mapping", "training.thresholds"} & set(manifest["stages"]):
        return
    from irrmap.core.errors import IrrmapError
    from irrmap.evaluation.viewer import write_viewer

    try:
        res = write_viewer(outdir)
    except IrrmapError as exc:
        log.warning("map viewer not written: %s (fix: run `irrmap view %s` to see why)", exc, outdir)
        return
    log.info("map viewer: %s (%d layers, %.1f MB)", res.path, len(res.layers), res.bytes / 1e6)


@contextlib.contextmanager
def _objects_so_far_frozen():
    """The objects alive before the stages run (modules, config, plan: about 160,000 at 16x) in gc's permanent
    generation for the stages' duration, so the full collection `release_freed_memory` makes after each stage
    does not walk them again (about 0.1 CPU-s a stage); what the stages create is collected as before. Left alone
    when the caller froze objects itself."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _relative(p, outdir: Path) -> str:
    return str(Path(p).relative_to(outdir)) if Path(p).is_relative_to(outdir) else str(p)


def _check_made(stage: Stage, ctx: RunContext, inputs) -> None:
    """An InputError (exit 2, no traceback) for an input of `stage` in the output folder that is missing although the
    stages before it are done: a file no stage of this config records as its output was deleted (the checks before
    the run already report missing source files; a missing recorded output reruns its stage, `_all_exist`)."""
    outdir = Path(ctx.outdir).absolute()
    for p in inputs:
        q = ctx.path(p).absolute()
        if q.is_relative_to(outdir) and not q.exists():
            raise InputError(f"{q} is missing: stage {stage.name} reads it, and no stage of this run recorded writing it",
                             str(ctx.loaded.path), f"run `irrmap run --force {ctx.loaded.path}` to recompute the output folder")


def _all_exist(stage: Stage, ctx: RunContext, prev: dict) -> bool:
    """Whether every output the stage's last run recorded (at its place in the folder as it is now) and every named
    product it provides exist: a file a later stage needs that is missing reruns the stage that writes it."""
    return all(located(p, ctx.outdir).exists() for p in prev.get("outputs", [])) and \
        all(Path(p).exists() for p in stage.provides(ctx).values())


def _inputs(ctx: RunContext) -> dict[str, str]:
    """manifest.json's `inputs`: SHA-256 by path, a file in the output folder relative to it (so the manifest of a
    copied or moved run names its own files), any other as the run named it."""
    return {_relative(p, ctx.outdir): c for p, c in sorted(ctx.checksums.items())}


def _record_inputs(manifest: dict, ctx: RunContext) -> None:
    """manifest.json's `inputs` and, when some input's digest covers companion files, `input_companions` (which)."""
    manifest["inputs"] = _inputs(ctx)
    manifest.pop("input_companions", None)
    if listed := input_companions(ctx.companions, ctx.checksums, lambda p: _relative(p, ctx.outdir)):
        manifest["input_companions"] = listed


def _left_over(previous: dict, plan: list[Stage], manifest: dict, outdir: Path) -> list[str]:
    """manifest.json's `stale_outputs` after a complete run: the files still on disk that stages no longer in the
    config wrote in an earlier run (e.g. mapping/class.tif after [mapping] was removed); they are left in place, but
    neither the report nor the viewer lists them, as they do not come from this config."""
    names = {s.name for s in plan}
    current = {located(p, outdir) for rec in manifest["stages"].values() for p in rec.get("outputs", [])}
    old = {located(p, outdir) for name, rec in previous.items() if name not in names for p in rec.get("outputs", [])}
    return sorted(_relative(p, outdir) for p in old - current if p.exists())


@contextlib.contextmanager
def _failure_recorded(manifest: dict, ctx: RunContext, plan: list[Stage], previous: dict, reasons: dict | None = None):
    """When a stage fails or the run is stopped (Ctrl-C, SIGTERM), write manifest.json so that it cannot be
    read as the state of the folder, then re-raise: top-level `status` "failed" and `error` {stage, message};
    the stage "failed" with its error text and the "reason" it ran (`reasons`, as rerun_reason gave it), later
    stages "not run"; `stale_outputs`, the files on disk that
    the failed and later stages wrote in an earlier run (their report included), which this run did not
    reproduce."""
    try:
        yield
    except BaseException as exc:
        remaining = [s for s in plan if s.name not in manifest["stages"]]
        message = str(exc) or type(exc).__name__  # KeyboardInterrupt carries no text
        stale = set()
        for s in remaining:
            stale |= {located(p, ctx.outdir) for p in previous.get(s.name, {}).get("outputs", [])} | set(s.provides(ctx).values())
        manifest["status"] = "failed"
        manifest["error"] = {"stage": remaining[0].name if remaining else None, "message": message}
        for i, s in enumerate(remaining):
            manifest["stages"][s.name] = ({"status": "failed", "error": message} | ({"reason": reasons[s.name]} if s.name in (reasons or {}) else {})
                                          if i == 0 else {"status": "not run"})
        manifest["stale_outputs"] = sorted(_relative(p, ctx.outdir) for p in stale if p.exists())
        _record_inputs(manifest, ctx)
        try:
            write_manifest(ctx.outdir / "manifest.json", manifest)
            if ctx.digests is not None:
                ctx.digests.save()  # the resumed run need not hash them again
        except Exception as write_exc:  # e.g. the disk is full: the original error matters more
            log.warning("could not record the failure in manifest.json: %s", write_exc)
        raise
