"""OUTPUT/.irrmap-state.json, what `irrmap run` remembers per stage (fingerprint, the parts hashed into it, outputs,
warnings; irrmap.app.pipeline._fingerprint_parts), with its paths
stored so that the record stays true when the run's folder is copied or moved.

An output inside the output folder or the config's folder (the run's folder, what a user copies) is stored
relative to the output folder, POSIX-style (`features/sevi.tif`, `../data/ee/x.tif`), and read back against the
current output folder; any other path (a file elsewhere on disk) is stored absolute, as given. So a copy of a
finished run checks its own files (a deleted one reruns exactly the stage that wrote it) and a moved run finds its
files where they now are (every stage skipped).

State files of earlier irrmap versions (absolute paths) still work: a path under the folders their run recorded
in OUTPUT/manifest.json (`output_dir`, the folder of `config`) is re-rooted onto the current ones; when that
manifest is missing or unreadable, a stage recording an absolute path in neither current folder is not taken as
up to date (it reruns once, and its record is rewritten in the new form).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from pathlib import Path

from irrmap.core.atomic import write_text_atomic

STATE_FILE = ".irrmap-state.json"


def stored_path(p, outdir: Path, base: Path) -> str:
    """`p` as the state and the manifest store it: relative to `outdir` (POSIX separators, possibly with `..`) when it
    lies in `outdir` or in `base` (the config's folder), else absolute as given. Paths are compared lexically
    (no symlink resolution), as the run names them."""
    p = Path(os.path.abspath(p))
    outdir, base = Path(os.path.abspath(outdir)), Path(os.path.abspath(base))
    if p.is_relative_to(outdir) or p.is_relative_to(base):
        return Path(os.path.relpath(p, outdir)).as_posix()
    return str(p)


def located(stored: str, outdir: Path) -> Path:
    """The file a stored path names for the output folder `outdir` (as it is now)."""
    p = Path(stored)
    return p if p.is_absolute() else Path(os.path.normpath(outdir / p))


# A warning kept in the state names files by absolute path ("... /runs/d/output/treecover/change.csv"). Stored, the
# output folder and the config's folder become these tokens, and read back, the current folders: a skipped stage of a
# moved run repeats its warnings naming the files where they now are (before, the report of a moved run quoted the
# old folder in every warning of a skipped stage).
_FOLDER_TOKENS = ("{irrmap:output_dir}", "{irrmap:config_dir}")


def _folders(outdir: Path, base: Path) -> list[tuple[str, str]]:
    """(absolute folder, token), the longer folder first (the output folder usually lies in the config's)."""
    pairs = [(os.path.abspath(outdir), _FOLDER_TOKENS[0]), (os.path.abspath(base), _FOLDER_TOKENS[1])]
    return sorted(pairs, key=lambda pair: -len(pair[0]))


def stored_message(message: str, outdir: Path, base: Path) -> str:
    """`message` with the absolute output folder `outdir` and config folder `base` replaced by tokens, where a path
    starts with them (the folder followed by a separator, a quote, a bracket, white space or the end)."""
    for folder, token in _folders(outdir, base):
        if folder != os.sep:
            message = re.sub(re.escape(folder) + r"(?=[/\\\s'\"),;:\]]|$)", lambda _m, t=token: t, message)
    return message


def located_message(message: str, outdir: Path, base: Path) -> str:
    """`message` as stored_message keeps it, with the tokens replaced by the current folders."""
    for folder, token in _folders(outdir, base):
        message = message.replace(token, folder)
    return message


def load_state(outdir: Path, base: Path) -> dict:
    """The state of the output folder `outdir` (config folder `base`) by stage name, outputs in stored form
    (`stored_path`), or {} when there is none or it is unreadable (every stage then runs)."""
    f = outdir / STATE_FILE
    state = {}
    if f.exists():
        with contextlib.suppress(json.JSONDecodeError, OSError):
            state = json.loads(f.read_text())
    if not isinstance(state, dict):
        return {}
    outdir, base = Path(os.path.abspath(outdir)), Path(os.path.abspath(base))
    roots = _recorded_roots(outdir, base)
    for name, rec in list(state.items()):
        if not isinstance(rec, dict) or not isinstance(rec.get("outputs", []), list):
            del state[name]
            continue
        outputs = [_rerooted(str(p), outdir, base, roots) for p in rec.get("outputs", [])]
        if None in outputs:  # an old absolute path this folder cannot place: not trusted, the stage reruns
            rec.pop("fingerprint", None)
            rec["untrusted"] = "outputs recorded by an older irrmap at absolute paths this folder cannot place"  # the rerun's reason
            outputs = [p for p in outputs if p is not None]
        rec["outputs"] = [stored_path(p, outdir, base) if Path(p).is_absolute() else p for p in outputs]
    return state


def save_state(outdir: Path, state: dict) -> None:
    """Write the state atomically (a killed run leaves the old one or the new one)."""
    write_text_atomic(outdir / STATE_FILE, json.dumps(state, indent=2, sort_keys=True))


def _recorded_roots(outdir: Path, base: Path) -> list[tuple[Path, Path]] | None:
    """(old, current) folder pairs for old absolute paths: the output folder and the config's folder the last run
    recorded in OUTPUT/manifest.json, paired with the current ones; None when the manifest is missing or unreadable."""
    try:
        manifest = json.loads((outdir / "manifest.json").read_text())
        roots = [(Path(manifest["output_dir"]), outdir)]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    with contextlib.suppress(KeyError, TypeError):
        roots.append((Path(manifest["config"]).parent, base))
    return roots


def _rerooted(p: str, outdir: Path, base: Path, roots: list[tuple[Path, Path]] | None) -> str | None:
    """An old absolute path moved onto the current folders (`_recorded_roots`), the first that holds it; a relative
    (new-form) path, or one in a current folder, as it is; None for an absolute path in no current folder that
    cannot be placed (no manifest)."""
    path = Path(p)
    if not path.is_absolute() or path.is_relative_to(outdir) or path.is_relative_to(base):
        return p
    if roots is None:
        return None
    for old, new in roots:
        if path.is_relative_to(old):
            return str(new / path.relative_to(old))
    return p
