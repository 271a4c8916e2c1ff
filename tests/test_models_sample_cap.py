"""`irrmap models fit` and the Python API fit on the same rows of a pool as the run: each class capped at
[models].max_per_class (100,000 by default), a seeded sample.

Before, the CLI had no cap and the API defaulted to none (max_per_class=0), while the run capped at 100,000: on a
pool over 100,000 samples a class the command-by-command chain fitted another model than the run (probe1 item 2).
Truth by hand: min(count, cap) samples of each class; the model file's bytes equal between CLI and API with the
same cap; the three defaults equal.
"""

from __future__ import annotations

import hashlib

import geopandas as gpd
import numpy as np
import pytest

from irrmap.app.cli import build_parser, main
from irrmap.core.config import ModelsSection
from irrmap.models import fit_from_pool, read_card, save_model
from irrmap.models.fit import DEFAULT_MAX_PER_CLASS

from test_models_fit import pool_from_cube, synthetic_cube


def _sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def pool():
    label, feats = synthetic_cube()
    return pool_from_cube(label, feats, n=600)


def test_the_three_defaults_are_the_runs():
    args = build_parser().parse_args(["models", "fit", "p.parquet", "--out", "m.joblib"])
    assert args.max_per_class == DEFAULT_MAX_PER_CLASS == ModelsSection().max_per_class == 100_000
    import inspect

    assert inspect.signature(fit_from_pool).parameters["max_per_class"].default == ModelsSection().max_per_class


def test_cli_cap_fits_min_count_cap_a_class_and_the_api_same_bytes(pool, tmp_path):
    gpd.GeoDataFrame(pool, geometry=gpd.points_from_xy(pool["col"], pool["row"]), crs="EPSG:3857").to_parquet(tmp_path / "pool.parquet")
    counts = pool["label"].value_counts().to_dict()
    cap = min(counts.values()) - 10  # both classes capped below their counts
    assert main(["-q", "models", "fit", str(tmp_path / "pool.parquet"), "--out", str(tmp_path / "cli" / "m.joblib"),
                 "--seed", "3", "--cv-blocks", "0", "--max-per-class", str(cap)]) == 0
    card = read_card(tmp_path / "cli" / "m.joblib")
    s = card["samples"]
    assert s["max_per_class"] == cap and s["pool"] == len(pool)
    assert s["irrigated"] == min(counts[1], cap) and s["not_irrigated"] == min(counts[0], cap) and s["total"] == 2 * cap
    model, api_card = fit_from_pool(pool, seed=3, cv_blocks=None, max_per_class=cap, pool_name=str(tmp_path / "pool.parquet"))
    api_card["pool"] = str(tmp_path / "pool.parquet")
    save_model(model, tmp_path / "api" / "m.joblib", api_card)
    assert _sha(tmp_path / "api" / "m.joblib") == _sha(tmp_path / "cli" / "m.joblib")


def test_cli_zero_keeps_every_sample(pool, tmp_path):
    gpd.GeoDataFrame(pool, geometry=gpd.points_from_xy(pool["col"], pool["row"]), crs="EPSG:3857").to_parquet(tmp_path / "pool.parquet")
    assert main(["-q", "models", "fit", str(tmp_path / "pool.parquet"), "--out", str(tmp_path / "m.joblib"), "--cv-blocks", "0",
                 "--max-per-class", "0"]) == 0
    s = read_card(tmp_path / "m.joblib")["samples"]
    assert s["total"] == len(pool) and s["max_per_class"] is None


def test_negative_cap_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["models", "fit", "p.parquet", "--out", str(tmp_path / "m.joblib"), "--max-per-class", "-1"])
    assert exc.value.code == 2 and "--max-per-class" in capsys.readouterr().err
