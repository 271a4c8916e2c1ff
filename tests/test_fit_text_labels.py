"""`irrmap models fit` on a pool whose label column holds the labels as text ("0"/"1", e.g. read from CSV, or
"0.0"/"1.0") fits the same model as on the int labels 0/1: the label check's numbers are what the fit uses (the old
code crashed in the per-class cap with "The axis argument to unique is not supported for dtype object").

Truth: the model file written from the same pool with int labels 0/1 (byte equality of the .joblib)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from irrmap.app.cli import main


def _pool(labels) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = len(labels)
    rows, cols = np.divmod(np.arange(n), 10)
    return pd.DataFrame({"row": rows, "col": cols, "x1": rng.normal(size=n) + np.asarray(labels, float), "label": labels})


def _fit(tmp_path, pool: pd.DataFrame, name: str, *extra) -> str:
    pool.to_parquet(tmp_path / f"{name}.parquet")
    out = tmp_path / f"{name}.joblib"
    assert main(["models", "fit", str(tmp_path / f"{name}.parquet"), "--out", str(out), "--cv-blocks", "0", *extra]) == 0
    return hashlib.sha256(out.read_bytes()).hexdigest()


INT = [0, 1] * 30


@pytest.mark.parametrize("labels", [
    pd.array([str(v) for v in INT], dtype="string"),  # pandas strings (a CSV read)
    np.array([str(v) for v in INT], dtype=object),  # plain python strings
    np.array([f"{v}.0" for v in INT], dtype=object),  # "0.0"/"1.0"
], ids=["string", "object", "decimal-text"])
def test_text_labels_fit_the_model_of_int_labels(tmp_path, labels):
    truth = _fit(tmp_path, _pool(np.array(INT, np.int64)), "ints")
    assert _fit(tmp_path, _pool(labels), "text") == truth


def test_text_labels_with_the_cap_off(tmp_path):
    """Control (passes on the old code too): without the per-class cap the text labels fitted already."""
    truth = _fit(tmp_path, _pool(np.array(INT, np.int64)), "ints", "--max-per-class", "0")
    assert _fit(tmp_path, _pool(np.array([str(v) for v in INT], dtype=object)), "text", "--max-per-class", "0") == truth


def test_a_repeated_location_with_1_and_1_0_is_one_label(tmp_path):
    """Samples 0 and 2 share a pixel (row/col) with the labels "1" and "1.0": the same number, so the repeat is kept
    (as with int labels 1 and 1), not refused as "both labels"."""
    ints = np.array([1, 0, 1] + INT[3:], np.int64)
    text = np.array(["1", "0", "1.0"] + [str(v) for v in INT[3:]], dtype=object)

    def repeated(labels):
        p = _pool(labels)
        p.loc[2, ["row", "col"]] = p.loc[0, ["row", "col"]].to_numpy()
        return p

    truth = _fit(tmp_path, repeated(ints), "ints", "--max-per-class", "0")
    assert _fit(tmp_path, repeated(text), "text", "--max-per-class", "0") == truth
