"""Errors about a file a config names, located at the config key(s) naming it.

A reader (read_raster, the units and table readers, check_georef) knows only the file, so its error reads
`/x/landcover.tif: cannot open raster ...`. A config may name one file under several keys (the demo reads its
land-cover map as [inputs.cropland], [inputs.forest_grass] and [inputs.other_cover]), so the run's checks
(`irrmap run --check`, the checks before `irrmap run`) and its stages relocate such an error to
`[inputs.cropland].path, [inputs.forest_grass].path = /x/landcover.tif: ...`: the analyst sees which entries to fix.
The keys are written as the "files not found" check of irrmap.core.config writes them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from irrmap.core.config import feature_paths
from irrmap.core.errors import ErrorList, IrrmapError

_AFTER_PATH = " :,(/"  # what may follow a file's path in an error's `where` ("X band 2", "X: layer", "X (sheet)", "DIR/B4.TIF")


def named_files(cfg) -> list[tuple[str, str]]:
    """(key, path as written in the config) of every file or folder the RunConfig `cfg` names, e.g.
    ("[inputs.dem].path", "inputs/dem.tif"), ("[water].reference.1995", "truth/w.tif"); in config order."""
    out = [(f"[inputs.{n}].path", s.path) for n, s in cfg.inputs.items()]
    out += [(f"[{sec}].path", getattr(cfg, sec).path) for sec in ("units", "statistics") if getattr(cfg, sec) is not None]
    if cfg.reconcile is not None:
        out += [(f"[reconcile.tables.{k}].path", t.path) for k, t in cfg.reconcile.tables.items()]
    if cfg.evaluation is not None:
        ev = cfg.evaluation
        out += [("[evaluation].points", ev.points)] if ev.points is not None else []
        out += [(f"[evaluation].level_statistics.{k}", p) for k, p in ev.level_statistics.items()]
    out += [("[grid].like", cfg.grid.like)] if cfg.grid.like is not None else []
    out += [(f"[features].{k}", p) for k, p in feature_paths(cfg.features or {})]
    ee = cfg.sources.ee if cfg.sources is not None else None
    if ee is not None:
        out += [("[sources.ee].credentials", ee.credentials)] if ee.credentials is not None else []
        out += [("[sources.ee].region", ee.region)] if isinstance(ee.region, Path) else []
    if cfg.water is not None:
        out += [(f"[water].epochs.{e}", p) for e, ps in cfg.water.epochs.items() for p in ps]
        out += [(f"[water].reference.{e}", p) for e, p in cfg.water.reference.items()]
    if cfg.treecover is not None:
        tc = cfg.treecover
        out += [("[treecover].reference", tc.reference)] + [(f"[treecover].epochs.{e}", p) for e, ps in tc.epochs.items() for p in ps]
        out += [(f"[treecover].truth.{e}", p) for e, p in tc.truth.items()]
        out += [("[treecover].trend.series", p) for p in (tc.trend.series if tc.trend else [])]
    return [(k, str(p)) for k, p in out]


def _forms(loaded) -> dict[str, tuple[str, list[str]]]:
    """Each way an error may write a named file (as in the config, resolved, a scene stack's sidecar .json) ->
    (the file as resolved, the keys naming it)."""
    keys: dict[str, list[str]] = {}
    written: dict[str, list[str]] = {}
    for key, p in named_files(loaded.config):
        try:
            resolved = str(loaded.resolve(Path(p)))
        except IrrmapError:  # an unset $VAR: the config check reports it
            continue
        keys.setdefault(resolved, []).append(key)
        written.setdefault(resolved, []).append(p)
    forms = {}
    for resolved, ks in keys.items():
        forms[str(Path(resolved).with_suffix(".json"))] = (resolved, ks)  # irrmap.sources.stack.sidecar
        for p in (resolved, *written[resolved]):
            forms[p] = (resolved, ks)
    return forms


def _located(err: IrrmapError, forms: dict, stage: str | None) -> None:
    where = err.where
    if not where or where.startswith("[") or "] = " in where:  # no file, or a key named already
        return
    hits = [f for f in forms if where == f or where.startswith(f) and where[len(f)] in _AFTER_PATH]
    if not hits:
        return
    form = max(hits, key=len)
    resolved, keys = forms[form]
    own = [k for k in keys if stage and k.startswith((f"[{stage}]", f"[{stage}."))]  # the keys the failing stage reads
    named = ", ".join(own or keys)
    sidecar = form != resolved and form.endswith(".json") and not resolved.endswith(".json")
    err.relocate(f"{named} = {resolved}: {where}" if sidecar else f"{named} = {where}")


def name_keys(errors, loaded, stage: str | None = None) -> list[IrrmapError]:
    """`errors` (IrrmapErrors; an ErrorList's own are relocated in it) with every error located at a file that the
    config `loaded` (irrmap.core.config.LoadedConfig) names relocated to `KEY[, KEY...] = FILE`: the keys of the
    section of `stage` (the stage that raised them, e.g. "inputs.dem" -> [inputs.dem].path) naming that file, else
    every key naming it; errors already located at a key, or at no named file, unchanged. Changed in place and
    returned, repeats (same message) dropped."""
    forms = _forms(loaded)
    out: dict[str, IrrmapError] = {}
    for err in errors:
        for e in err.errors if isinstance(err, ErrorList) else [err]:
            _located(e, forms, stage)
        if isinstance(err, ErrorList):
            err.refresh()
        out.setdefault(str(err), err)
    return list(out.values())


@contextlib.contextmanager
def keys_named(loaded, stage: str | None = None):
    """An IrrmapError raised inside is re-raised located at the config keys naming its file (`name_keys`; `stage`:
    the stage whose check or run the block is)."""
    try:
        yield
    except IrrmapError as exc:
        name_keys([exc], loaded, stage)
        raise
