"""Reconciliation jobs: one per unit of the batch level (a province, a state) and year, each independent and
resumable. A job reads its window of the run's rasters, re-thresholds it per binding unit
(irrmap.mapping.reconcile.split_units) and saves its class and fraction windows and per-unit tables in its own
folder; `done.json`, written last and atomically, holds the job's fingerprint and its files' identities
(irrmap.core.done_marker), so a killed batch reruns only the jobs without a matching `done.json`. A job that runs
removes its folder's `done.json` before writing anything: a kill between two of its files' renames cannot leave
another fingerprint's marker beside a mix of two results."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from irrmap.mapping.reconcile.split_units import rethreshold
from irrmap.mapping.reconcile.zone_sums import RunRasters, read_window
from rasterio.windows import Window

from irrmap.core.atomic import atomic_path
from irrmap.core.done_marker import clear_done, write_done
from irrmap.core.done_marker import is_done as _marker_done

OUTPUT_FILES = ("class.npy", "fraction.npy", "units.csv", "zones.csv")  # a job's results, recorded in its done.json


@dataclass(frozen=True)
class Job:
    """One batch unit and year. `zones`: the run's zone ids in the job; `bind`: the binding unit (1..K) of each
    of those zones; `codes`: the K binding units' codes at `level`; `targets`: their statistics, m2 (NaN none);
    `window`: (row0, row1, col0, col1) of the job's pixels on the grid."""

    code: str
    year: object
    level: str
    zones: tuple
    bind: tuple
    codes: tuple
    targets: tuple
    window: tuple
    rule: str = "nearest"
    fingerprint_extra: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        return f"{self.year}/{self.code}"

    @property
    def missing(self) -> tuple:
        """Codes of the binding units without a statistic (no target: left unmapped)."""
        return tuple(c for c, t in zip(self.codes, self.targets) if not np.isfinite(t))

    def fingerprint(self) -> str:
        """Hash of everything the job's result depends on (its inputs' checksums come in `fingerprint_extra`)."""
        payload = json.dumps([self.code, str(self.year), self.level, self.zones, self.bind, self.codes,
                              [repr(float(t)) for t in self.targets], self.window, self.rule, self.fingerprint_extra])
        return hashlib.sha256(payload.encode()).hexdigest()


def job_folder(work: Path, job: Job) -> Path:
    return work / str(job.year) / job.code


def is_done(work: Path, job: Job) -> bool:
    """Whether the job's saved result belongs to this job: same fingerprint, and each of its files still the one
    done.json recorded (size, SHA-256)."""
    folder = job_folder(work, job)
    return _marker_done(folder / "done.json", job.fingerprint(), [folder / n for n in OUTPUT_FILES])


def run_job(job: Job, rasters: RunRasters, work: Path) -> Path:
    """Compute and save one job (skipped when its result is already saved); returns its folder.

    Saved: class.npy (uint8, 255 outside the job's zones), fraction.npy (float32), units.csv (per binding
    unit: code, level, target_m2, mapped_m2, cropland_m2, shortfall_m2, status) and zones.csv (zone,
    mapped_m2 per run zone), then done.json."""
    folder = job_folder(work, job)
    if is_done(work, job):
        return folder
    grid = rasters.grid()
    r0, r1, c0, c1 = job.window
    w = Window(c0, r0, c1 - c0, r1 - r0)
    z = read_window(rasters.zones, w)
    z = np.where(np.isfinite(z), z, 0).astype(np.int64)
    lut = np.zeros(max(int(z.max(initial=0)), max(job.zones, default=0)) + 1, np.int32)
    lut[list(job.zones)] = job.bind
    unit = lut[np.clip(z, 0, lut.size - 1)]
    area = np.asarray(grid.pixel_area(w), np.float64)
    f = read_window(rasters.cropland, w)
    cls, frac, table = rethreshold(unit, read_window(rasters.probability, w, rasters.probability_scale), f, area,
                                   np.concatenate([[np.nan], np.asarray(job.targets, np.float64)]), job.rule)
    in_job = np.isin(z, job.zones)
    mapped = np.bincount(z[in_job], weights=(np.nan_to_num(frac) * np.broadcast_to(area, z.shape))[in_job], minlength=lut.size)
    table.insert(0, "code", list(job.codes))
    table.insert(1, "level", job.level)
    folder.mkdir(parents=True, exist_ok=True)
    clear_done(folder / "done.json")  # before any file of this result replaces one of an earlier one
    for name, arr in (("class", cls), ("fraction", frac)):
        with atomic_path(folder / f"{name}.npy") as tmp, open(tmp, "wb") as fh:
            np.save(fh, arr)
    with atomic_path(folder / "units.csv") as tmp:
        table.drop(columns="unit").to_csv(tmp, index=False)
    with atomic_path(folder / "zones.csv") as tmp:
        pd.DataFrame({"zone": list(job.zones), "mapped_m2": mapped[list(job.zones)]}).to_csv(tmp, index=False)
    write_done(folder / "done.json", {"fingerprint": job.fingerprint(), "job": job.name, "level": job.level,
                                      "codes": list(job.codes), "targets": [float(t) for t in job.targets],
                                      "zones": list(job.zones), "rule": job.rule, "inputs": job.fingerprint_extra},
               [folder / n for n in OUTPUT_FILES])
    return folder


def stale_reason(work: Path, job: Job) -> str | None:
    """Why the result saved for `job`'s unit and year no longer belongs to it (its done.json names another fingerprint):
    its statistics changed (the codes and targets, m2, saved in done.json, or in units.csv by older versions), it is
    bound at another level, its units, the stopping rule, the run's rasters or [reconcile].probability_scale changed. None when nothing is saved
    (never run) or the saved result is the job's own."""
    folder = job_folder(work, job)
    try:
        saved = json.loads((folder / "done.json").read_text())
        if saved["fingerprint"] == job.fingerprint():
            return None
    except (OSError, ValueError, KeyError):
        return None
    if "targets" in saved:
        before = dict(zip(saved["codes"], saved["targets"]))
    else:
        try:
            old = pd.read_csv(folder / "units.csv", dtype={"code": str})
            before = dict(zip(old["code"], old["target_m2"]))
        except (OSError, ValueError, KeyError):
            before = None
    now = dict(zip(job.codes, job.targets))
    if saved.get("level", job.level) != job.level:
        return f"its statistics changed: now bound at {job.level} level, before at {saved['level']} level"
    if before is not None and _changed(before, now):
        changed = [c for c in now if c not in before or _changed({c: before[c]}, {c: now[c]})]
        changed += [c for c in before if c not in now]
        detail = ", ".join(f"{c}: {_km2(before.get(c))} -> {_km2(now.get(c))} km2" for c in changed[:5])
        return f"its statistics changed ({detail}{', ...' if len(changed) > 5 else ''})"
    if "zones" in saved and tuple(saved["zones"]) != tuple(job.zones):
        return "its units changed (the run's units stage)"
    if "rule" in saved and saved["rule"] != job.rule:
        return f"the stopping rule changed ({saved['rule']} -> {job.rule})"
    return "the run's rasters (zones, probability, cropland), [reconcile].probability_scale or units changed"


def _changed(before: dict, now: dict) -> bool:
    if set(before) != set(now):
        return True
    return any(not (np.isnan(before[c]) and np.isnan(now[c])) and repr(float(before[c])) != repr(float(now[c])) for c in now)


def _km2(m2) -> str:
    return "none" if m2 is None or not np.isfinite(m2) else f"{m2 / 1e6:.6g}"
