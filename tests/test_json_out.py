"""Output JSON is strict JSON (RFC 8259 has no NaN or Infinity): undefined scores are null in the files and print
as "undefined" on the console."""

from __future__ import annotations

import json

import numpy as np
import pytest

from irrmap.core.json_out import json_text, plain


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"non-JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_non_finite_numbers_become_null_and_numpy_becomes_plain():
    obj = {"kappa": float("nan"), "r2": np.float32("nan"), "up": float("inf"), "n": np.int64(3), 1: np.array([1.5, np.nan]),
           "t": (np.float64(0.25), None), "ok": True}
    assert _strict(json_text(obj)) == {"kappa": None, "r2": None, "up": None, "n": 3, "1": [1.5, None], "t": [0.25, None], "ok": True}
    with pytest.raises(ValueError):
        _strict(json.dumps({"kappa": float("nan")}))  # what the writers did before
    assert plain(np.bool_(True)) is True


def test_model_card_with_undefined_kappa_is_strict_json_and_prints_undefined(tmp_path, capsys):
    from sklearn.dummy import DummyClassifier

    from irrmap.app.cli import main
    from irrmap.models.persistence import card_path, save_model

    card = {"model": "rf", "scope": "global", "seed": 1, "features": ["a"],
            "samples": {"models": 1, "single_class_keys": [], "total": 4, "irrigated": 0, "not_irrigated": 4},
            "cv": {"n_splits": 2, "held_out": "blocks", "blocked": {"oa": 1.0, "kappa": float("nan")},
                   "random": {"oa": 1.0, "kappa": float("nan")}, "optimism_oa": 0.0}}
    path = tmp_path / "m.joblib"
    save_model(DummyClassifier().fit([[0], [1]], [0, 0]), path, card)
    on_disk = _strict(card_path(path).read_text())
    assert on_disk["cv"]["blocked"]["kappa"] is None
    assert main(["models", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "kappa undefined" in out and "nan" not in out.lower()
