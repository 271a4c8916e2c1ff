"""Model files (joblib) with a JSON model card beside them, and loading that checks both.

The card (`MODEL.card.json`) records the features in order, classes, scope, sample counts, CV scores,
library versions, seed and the SHA-256 of the model file. Loading refuses a model whose bytes differ from
the card's checksum, or whose features differ from the feature cube's (names and order).

Security: model files are Python pickles; loading one runs code it contains. Load only model files you
made yourself or that come from a source you trust. The checksum catches corruption and accidental swaps,
not an attacker who rewrites both files.
"""

from __future__ import annotations

import json
from pathlib import Path

import joblib

from irrmap.core.atomic import atomic_path
from irrmap.core.errors import InputError
from irrmap.core.json_out import write_json_atomic
from irrmap.core.manifest import package_versions, sha256_file


def card_path(model_path) -> Path:
    """Where the model card of `model_path` lives: MODEL.joblib -> MODEL.card.json."""
    p = Path(model_path)
    return p.with_name(p.stem + ".card.json")


def save_model(model, path, card: dict) -> dict:
    """Write the model (joblib, compressed) and its card atomically; returns the card with sha256 and versions."""
    path = Path(path)
    with atomic_path(path) as tmp:
        joblib.dump(model, tmp, compress=3)
    full = dict(card)
    full["model_file"] = path.name
    full["sha256"] = sha256_file(path)
    full["versions"] = package_versions()
    full["security"] = "pickle: load only model files from a trusted source"
    write_json_atomic(card_path(path), full, sort_keys=True)  # undefined scores (NaN) as null: strict JSON
    return full


def read_card(path) -> dict:
    """The model card of a model file (or the card file itself)."""
    p = Path(path)
    cp = p if p.name.endswith(".card.json") else card_path(p)
    if not cp.is_file():
        raise InputError("model card not found", str(cp), "keep MODEL.card.json beside the model file (written by `irrmap models fit`)")
    try:
        return json.loads(cp.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"model card is not valid JSON: {exc}", str(cp), "refit the model") from None


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


def load_model(path, features=None) -> tuple[object, dict]:
    """Load a model after checking its SHA-256 against the card and, when given, the feature names and order.

    Model files are pickles: only load files from a trusted source (see the module docstring).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("model file not found", str(path), "fit one with `irrmap models fit`")
    card = read_card(path)
    digest = sha256_file(path)
    if digest != card.get("sha256"):
        raise InputError(f"model file checksum {digest[:12]}... does not match its card ({str(card.get('sha256'))[:12]}...)",
                         str(path), "the file was changed or swapped; refit or restore the original model and card")
    if features is not None:
        check_features(card["features"], features, str(path))
    model = joblib.load(path)
    if list(getattr(model, "features_", card["features"])) != list(card["features"]):
        raise InputError("model and card disagree on the features", str(path), "refit the model")
    return model, card
