"""What a stage is and what it sees: the shell's `Stage` record and `RunContext`.

Both the stage modules (irrmap.app.stages) and the runner (irrmap.app.pipeline) import this module; neither
imports the other's internals, so the runner depends on the stage list and the stage list on nothing above it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from irrmap.core import dataset_names
from irrmap.core.companions import digest_with_companions, folder_digest
from irrmap.core.config import LoadedConfig
from irrmap.core.errors import ConfigError
from irrmap.core.grid import Grid
from irrmap.core.manifest import DigestCache, sha256_file

RUN_CACHE = ".irrmap-cache"


@dataclass
class RunContext:
    """What a stage sees: the validated config, the grid, the output folder, a checksum cache and `cache`,
    where the checks before a run keep what several of them read (the runner empties it before the stages run)."""

    loaded: LoadedConfig
    grid: Grid
    outdir: Path
    checksums: dict[str, str] = field(default_factory=dict)
    products: dict[str, Path] = field(default_factory=dict)  # named rasters on the grid, from every enabled stage
    cache: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)  # {stage, logger, message} of each warning so far (irrmap.app.run_warnings)
    force: bool = False  # `irrmap run --force`: stages recompute, also work they could resume or reuse
    digests: DigestCache | None = None  # digests kept from earlier runs of the output folder (irrmap run sets it)
    companions: dict[str, list[str]] = field(default_factory=dict)  # input -> the companion files its digest covers
    _early: EarlyDigests | None = field(default=None, repr=False)  # source files hashed ahead (hash_early)

    @property
    def config(self):
        return self.loaded.config

    @property
    def run_cache(self) -> Path:
        """OUTPUT/.irrmap-cache: what a stage computes for a later stage of the same run (e.g. the fractions of
        sibling inputs, irrmap.app.stages.shared_fractions); removed after a complete run and before a forced one."""
        return self.outdir / RUN_CACHE

    def path(self, p) -> Path:
        """A config path resolved against the config's folder."""
        return self.loaded.resolve(Path(p))

    def product(self, name: str, key: str) -> Path:
        """The path of a named product, or a ConfigError naming `key` and the known products."""
        if name not in self.products:
            raise ConfigError(f"{name!r} is not produced by any input or stage", key,
                              f"use one of: {', '.join(sorted(self.products)) or '(none: add [inputs.NAME] sections)'}")
        return self.products[name]

    def checksum(self, p) -> str:
        p = str(self.path(p))
        if p not in self.checksums:
            early = self._early.take(p) if self._early is not None else None
            self.checksums[p] = early.result() if early is not None else self._digest(p)
        return self.checksums[p]

    def hash_early(self, paths) -> None:
        """Start hashing `paths` (source files that no stage writes) on one background thread, in order, while the
        run's checks keep one core busy and the other idles. `checksum` of such a path waits for its digest; a path
        not yet started is hashed as before. The digests enter `checksums` only when a stage asks for them, so the
        manifest and the fingerprints name the same files and digests as without. Errors (an unreadable file) are
        raised by `checksum`, as before. `stop_early` ends it."""
        todo = [p for p in dict.fromkeys(str(self.path(q)) for q in paths) if p not in self.checksums]
        if todo and (os.cpu_count() or 1) > 1:
            self._early = EarlyDigests(todo, self._digest)

    def stop_early(self) -> None:
        """No new file is started by `hash_early` (one being hashed finishes on its daemon thread)."""
        if self._early is not None:
            self._early.stop()

    def _digest(self, p: str) -> str:
        """input_digest of `p`, its companions kept in `companions` (manifest.json's `input_companions`)."""
        found: list[str] = []
        digest = input_digest(p, self._sha256, found)
        self.companions[p] = found
        return digest

    def _sha256(self, p: str) -> str:
        return sha256_file(p) if self.digests is None else self.digests.sha256(p)

    def checksum_all(self, paths) -> None:
        """Compute the checksums of `paths` not known yet, one file per CPU core at a time (hashlib releases the
        GIL while it hashes): a stage's inputs (23-date stacks, dozens of rasters) are hashed before it runs, while
        the cores are otherwise idle. Errors are those of `checksum` (OSError for a file that cannot be read)."""
        todo = list(dict.fromkeys(p for p in (str(self.path(q)) for q in paths) if p not in self.checksums))
        if self._early is not None:  # files hashed early stay there; those not started yet are hashed here, in parallel
            todo = [p for p in todo if not self._early.pending(p)]
        if len(todo) < 2:
            return
        with ThreadPoolExecutor(min(len(todo), os.cpu_count() or 1)) as pool:
            for p, digest in zip(todo, pool.map(self._digest, todo)):
                self.checksums[p] = digest


class EarlyDigests:
    """Digests of files computed in order on one daemon thread (RunContext.hash_early): `take(path)` gives the
    Future of a file started (or done), or None for one not started yet, which is then never hashed here. A daemon
    thread, so a stopped or failed run does not wait for it to finish a large file before exiting."""

    def __init__(self, paths: list[str], digest: Callable[[str], str]):
        self._lock = threading.Lock()
        self._queue = list(reversed(paths))
        self._futures: dict[str, Future] = {}
        self._digest = digest
        threading.Thread(target=self._work, name="irrmap-early-digests", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                p = self._queue.pop()
                fut = self._futures[p] = Future()
            fut.set_running_or_notify_cancel()
            try:
                fut.set_result(self._digest(p))
            except BaseException as exc:  # noqa: BLE001 - handed to the caller of take(p)
                fut.set_exception(exc)

    def pending(self, p: str) -> bool:
        """Whether `p` is being hashed or done here (not merely queued: a queued path is withdrawn)."""
        with self._lock:
            if p in self._queue:
                self._queue.remove(p)
            return p in self._futures

    def take(self, p: str) -> Future | None:
        with self._lock:
            if p in self._queue:
                self._queue.remove(p)
            return self._futures.pop(p, None)

    def stop(self) -> None:
        with self._lock:
            self._queue.clear()


def input_digest(p: str, sha256=sha256_file, found: list | None = None) -> str:
    """SHA-256 of an input as GDAL/OGR read it: of the file, and of the companion files read beside it (an
    .aux.xml scale, a world file, a shapefile's .dbf: irrmap.core.companions.digest_with_companions), listed anew
    at every call, so one that appears later changes the digest. A file with no companion keeps its own SHA-256.
    For a GDAL dataset name (/vsizip/x.zip/a.tif, NETCDF:"f.nc":var), of the name and its container file's
    SHA-256 (two names in one container differ; a changed container changes both), with the companions outside
    the container. `sha256` hashes one file (a DigestCache's may answer from an earlier run, for each companion by
    its own device, inode, size and times). A folder (of shapefiles, a FileGDB): every file under it (folder_digest).
    `found`, when given, is extended with the companion files hashed. Raises OSError for a file that cannot be read."""
    if os.path.isdir(p):
        return folder_digest(p, sha256)
    if not dataset_names.is_dataset_name(p):
        return digest_with_companions(p, sha256(p), sha256, found)
    c = dataset_names.container(p)
    inner = sha256(str(c)) if c is not None and c.is_file() else ""
    return digest_with_companions(p, hashlib.sha256(f"{p}\0{inner}".encode()).hexdigest(), sha256, found)


@dataclass
class Stage:
    """A pipeline step: `run(ctx)` returns its output paths; `inputs(ctx)` the files it reads;
    `params(ctx)` the config it depends on; `enabled(ctx)` whether the config asks for it; `provides(ctx)`
    the named products it writes. `check(ctx)` finds, before any stage runs and without computing, what would
    make `run` fail on the config's own files: they open, hold the named fields, join and overlap the grid.
    It raises an IrrmapError (an ErrorList for several problems); products of earlier stages do not exist yet."""

    name: str
    run: Callable[[RunContext], list[Path]]
    inputs: Callable[[RunContext], list[Path]]
    params: Callable[[RunContext], object]
    enabled: Callable[[RunContext], bool]
    provides: Callable[[RunContext], dict[str, Path]] = lambda ctx: {}
    check: Callable[[RunContext], None] = lambda ctx: None
