"""Model files (joblib) with a JSON model card beside them, and loading that checks both.

The card (`MODEL.card.json`) records the features in order, classes, scope, sample counts, CV scores,
library versions, seed and the SHA-256 of the model file. Loading refuses a model whose bytes differ from
the card's checksum, or whose features differ from the feature cube's (names and order), and turns a model
file it cannot use (made by another version, damaged, not an irrmap model, a card without features) into one
InputError naming the file and the fix. A card whose library versions differ in the major version from the
running ones is loaded with a warning.

The file's bytes depend only on the fitted model (same pool and seed, same bytes): the thread count (`n_jobs`)
is written as 1 and the unused padding bytes of scikit-learn's tree nodes are zeroed (canonical_for_dump).

Security: model files are Python pickles; loading one runs code it contains. Load only model files you
made yourself or that come from a source you trust. The checksum catches corruption and accidental swaps,
not an attacker who rewrites both files.
"""

from __future__ import annotations

import contextlib
import json
import logging
from importlib import metadata
from pathlib import Path

import joblib
import numpy as np

from irrmap.core.atomic import atomic_path
from irrmap.core.errors import InputError
from irrmap.core.json_out import write_json_atomic
from irrmap.core.manifest import package_versions, sha256_file

log = logging.getLogger(__name__)

# the thread count written into model files: how many threads fitted (or will predict) is not part of the model
PERSISTED_N_JOBS = 1
# libraries whose objects are inside the pickle: a major version apart from the one that wrote it, loading warns
PICKLE_PACKAGES = ("irrmap", "scikit-learn", "lightgbm", "numpy", "joblib")


def card_path(model_path) -> Path:
    """Where the model card of `model_path` lives: MODEL.joblib -> MODEL.card.json."""
    p = Path(model_path)
    return p.with_name(p.stem + ".card.json")


def save_model(model, path, card: dict) -> dict:
    """Write the model (joblib, compressed) and its card atomically; returns the card with sha256 and versions."""
    path = Path(path)
    with atomic_path(path) as tmp, canonical_for_dump(model):
        joblib.dump(model, tmp, compress=3)
    full = dict(card)
    full["model_file"] = path.name
    full["sha256"] = sha256_file(path)
    full["versions"] = {**package_versions(), "irrmap": _running_version("irrmap") or "unknown"}
    full["security"] = "pickle: load only model files from a trusted source"
    write_json_atomic(card_path(path), full, sort_keys=True)  # undefined scores (NaN) as null: strict JSON
    return full


def _parts(obj, seen=None):
    """`obj` and every estimator or scikit-learn tree reachable from it through attributes, lists, tuples and dicts
    (each once): the members of a ScopedClassifier or Regressor, a forest's trees and their `tree_`."""
    seen = set() if seen is None else seen
    if id(obj) in seen or obj is None or isinstance(obj, (str, bytes, int, float, bool, np.ndarray, np.generic)):
        return
    seen.add(id(obj))
    if isinstance(obj, dict):
        for v in list(obj.values()):
            yield from _parts(v, seen)
        return
    if isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _parts(v, seen)
        return
    yield obj
    if _is_tree(obj):
        return
    for v in list(getattr(obj, "__dict__", {}).values()):
        yield from _parts(v, seen)


def _is_tree(obj) -> bool:
    return type(obj).__module__ == "sklearn.tree._tree" and type(obj).__name__ == "Tree"


def zero_tree_padding(tree) -> None:
    """Rewrite a scikit-learn Tree's node array through a zeroed copy: its fields are unchanged, the padding bytes
    after `missing_go_to_left` (uninitialised memory, different from fit to fit) become 0."""
    state = tree.__getstate__()
    nodes = state["nodes"]
    if nodes.dtype.names is None or nodes.dtype.itemsize == sum(nodes.dtype.fields[f][0].itemsize for f in nodes.dtype.names):
        return  # no padding
    clean = np.zeros(nodes.shape, nodes.dtype)
    for name in nodes.dtype.names:
        clean[name] = nodes[name]
    tree.__setstate__({**state, "nodes": clean})


@contextlib.contextmanager
def canonical_for_dump(model):
    """While dumping: every part of `model` with an `n_jobs` attribute holds PERSISTED_N_JOBS (restored after), and the
    padding bytes of its scikit-learn tree nodes are zero (kept so: the fields do not change). The model file's bytes
    then do not depend on the thread count or on leftover memory."""
    saved = []
    for part in _parts(model):
        if _is_tree(part):
            zero_tree_padding(part)
        elif "n_jobs" in getattr(part, "__dict__", {}):
            saved.append((part, part.__dict__["n_jobs"]))
            part.__dict__["n_jobs"] = PERSISTED_N_JOBS
    try:
        yield model
    finally:
        for part, n_jobs in saved:
            part.__dict__["n_jobs"] = n_jobs


def read_card(path) -> dict:
    """The model card of a model file (or the card file itself)."""
    p = Path(path)
    cp = p if p.name.endswith(".card.json") else card_path(p)
    if not cp.is_file():
        raise InputError("model card not found", str(cp), "keep MODEL.card.json beside the model file (written by `irrmap models fit`)")
    try:
        card = json.loads(cp.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"model card is not valid JSON: {exc}", str(cp), "refit the model") from None
    except OSError as exc:
        raise InputError(f"cannot read the model card: {exc.strerror or exc}", str(cp), "check the file's permissions") from None
    if not isinstance(card, dict):
        raise InputError("model card is not a JSON object", str(cp), "keep the MODEL.card.json written by `irrmap models fit`, or refit")
    return card


def check_card(card: dict, where: str) -> list[str]:
    """The card's feature list; InputError (naming `where`, the card file) when it has none or not a list of names."""
    feats = card.get("features")
    if not isinstance(feats, list) or not feats or not all(isinstance(f, str) for f in feats):
        raise InputError("model card has no feature list ('features')", where,
                         "keep the MODEL.card.json written with the model by `irrmap models fit`, or refit the model")
    return feats


def _running_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _major(version) -> str | None:
    head = str(version).split(".")[0]
    return head if head.isdigit() else None


def check_versions(card: dict, where: str) -> list[str]:
    """Warn (and return the lines) for each library in the pickle whose major version differs between the card's
    `versions` and the running one: such a pickle may not load, or may predict otherwise."""
    recorded = card.get("versions") if isinstance(card.get("versions"), dict) else {}
    lines = []
    for name in PICKLE_PACKAGES:
        running, then = _running_version(name), recorded.get(name)
        if running is None or then is None or _major(then) is None or _major(running) is None or _major(then) == _major(running):
            continue
        lines.append(f"{name} {then} wrote it, {running} is running")
    if lines:
        log.warning("%s: model made with other library major versions (%s); fix: refit it with `irrmap models fit` in this "
                    "environment, or install the recorded versions", where, "; ".join(lines))
    return lines


# what each irrmap model class needs after unpickling (its __init__ parameters and the attributes fit learns)
def _required_attributes(model) -> tuple[str, ...] | None:
    from irrmap.models.regression import Regressor
    from irrmap.models.scope import ScopedClassifier

    if isinstance(model, ScopedClassifier):
        return ("model", "scope", "random_state", "n_jobs", "estimator_params", "features_", "classes_", "models_", "constants_",
                "counts_", "fallback_", "fallback_class_", "zone_keys_")
    if isinstance(model, Regressor):
        return ("model", "random_state", "n_jobs", "estimator_params", "features_", "estimator_", "quantiles_", "spread_")
    return None


def is_irrmap_model(model) -> bool:
    """Whether `model` is an irrmap model class (ScopedClassifier or Regressor)."""
    return _required_attributes(model) is not None


def _refit_fix(card: dict) -> str:
    made = (card.get("versions") or {}) if isinstance(card.get("versions"), dict) else {}
    made = ", ".join(f"{k} {made[k]}" for k in PICKLE_PACKAGES if k in made)
    return "refit the model with this irrmap (`irrmap models fit`)" + (f", or load it where it was made ({made})" if made else "")


def _unpickle(path: Path, card: dict):
    """joblib.load, with every failure as one InputError naming the file."""
    try:
        return joblib.load(path)
    except (ImportError, AttributeError) as exc:  # ModuleNotFoundError too: a class or module this version does not have
        raise InputError(f"the model file refers to code this version does not have ({type(exc).__name__}: {exc}); it was made "
                         "by another irrmap or library version", str(path), _refit_fix(card)) from None
    except MemoryError:
        raise InputError("not enough memory to load the model file", str(path), "free memory or load it on a larger machine") from None
    except Exception as exc:  # noqa: BLE001 - any other unpickling failure: the bytes are not a loadable model
        raise InputError(f"the model file is damaged and cannot be loaded ({type(exc).__name__}: {exc})", str(path),
                         "restore the original model file and card, or refit the model") from None


def check_model_object(model, card: dict, where: str, irrmap_model: bool = True) -> None:
    """InputError unless `model` is an irrmap model (ScopedClassifier or Regressor) with every attribute this version
    uses, and the card's features. With irrmap_model=False another object passes (only an irrmap one is checked)."""
    need = _required_attributes(model)
    if need is None and not irrmap_model:
        if list(getattr(model, "features_", card["features"])) != list(card["features"]):
            raise InputError("model and card disagree on the features", where, "refit the model")
        return
    if need is None:
        raise InputError(f"not an irrmap model (the file holds a {type(model).__module__}.{type(model).__name__})", where,
                         "fit the model with `irrmap models fit` (or `irrmap treecover fit`); other models cannot be used directly")
    missing = [a for a in need if a not in getattr(model, "__dict__", {})]
    if missing:
        raise InputError(f"the model lacks {', '.join(missing)}: it was made by another irrmap version", where, _refit_fix(card))
    if list(model.features_) != list(card["features"]):
        raise InputError("model and card disagree on the features", where, "refit the model")


def check_features(card_features, features, where: str = "features") -> None:
    """Refuse a feature list that differs from the model's in names or order."""
    want, got = list(card_features), list(features)
    if want == got:
        return
    if sorted(want) == sorted(got):
        raise InputError(f"features are in a different order than the model's: got {got}, model wants {want}", where,
                         "pass the predictors in the order of the model card")
    missing = [f for f in want if f not in got]
    extra = [f for f in got if f not in want]
    raise InputError(f"features differ from the model's (missing {missing}, unexpected {extra})", where,
                     "give exactly the model card's features, in its order")


def load_model(path, features=None, irrmap_model: bool = True) -> tuple[object, dict]:
    """Load a model after checking its SHA-256 against the card and, when given, the feature names and order.

    Raises InputError (naming the file and the fix) for a missing file or card, a card without features, a checksum
    mismatch, other features, a pickle that names code this version lacks or that is damaged, an object that is not
    an irrmap model (unless `irrmap_model` is False: `models info` shows any checked file) or an irrmap model that
    lacks attributes this version uses. Warns when the card's library major versions differ.

    Model files are pickles: only load files from a trusted source (see the module docstring).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("model file not found", str(path), "fit one with `irrmap models fit`")
    card = read_card(path)
    check_card(card, str(card_path(path)))
    digest = sha256_file(path)
    if digest != card.get("sha256"):
        raise InputError(f"model file checksum {digest[:12]}... does not match its card ({str(card.get('sha256'))[:12]}...)",
                         str(path), "the file was changed or swapped; refit or restore the original model and card")
    if features is not None:
        check_features(card["features"], features, str(path))
    check_versions(card, str(path))
    model = _unpickle(path, card)
    check_model_object(model, card, str(path), irrmap_model)
    return model, card
