"""Model files and cards: checksum and feature order are checked on load; the CLI fits and shows cards."""

from __future__ import annotations

import json

import numpy as np
import pytest

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.models import card_path, fit_from_pool, load_model, read_card, save_model

from test_models_fit import pool_from_cube, synthetic_cube


@pytest.fixture
def saved(tmp_path):
    label, feats = synthetic_cube()
    pool = pool_from_cube(label, feats)
    model, card = fit_from_pool(pool, model="lgbm", seed=1, cv_blocks=None)
    path = tmp_path / "m.joblib"
    save_model(model, path, card)
    return path, model, feats


def test_roundtrip_and_card(saved):
    path, model, feats = saved
    loaded, card = load_model(path, features=["evi", "ndwi", "elev"])
    X = np.stack([v.ravel() for v in feats.values()], axis=1)
    assert np.array_equal(loaded.positive_proba(X), model.positive_proba(X))
    assert card["features"] == ["evi", "ndwi", "elev"] and card["classes"] == [0, 1] and card["seed"] == 1
    assert {"scikit-learn", "lightgbm", "numpy"} <= set(card["versions"]) and len(card["sha256"]) == 64
    assert card_path(path).name == "m.card.json"


def test_feature_order_mismatch_refused(saved):
    path, _, _ = saved
    with pytest.raises(InputError, match="different order"):
        load_model(path, features=["ndwi", "evi", "elev"])
    with pytest.raises(InputError, match="missing"):
        load_model(path, features=["evi", "ndwi"])


def test_checksum_mismatch_refused(saved):
    path, _, _ = saved
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="checksum"):
        load_model(path)


def test_missing_card_refused(saved):
    path, _, _ = saved
    card_path(path).unlink()
    with pytest.raises(InputError, match="card not found"):
        load_model(path)


def test_cli_fit_and_info(tmp_path, capsys):
    label, feats = synthetic_cube()
    pool = pool_from_cube(label, feats)
    import geopandas as gpd

    gdf = gpd.GeoDataFrame(pool, geometry=gpd.points_from_xy(pool["col"], pool["row"]), crs="EPSG:3857")
    gdf.to_parquet(tmp_path / "pool.parquet")
    rc = main(["-q", "models", "fit", str(tmp_path / "pool.parquet"), "--out", str(tmp_path / "m.joblib"), "--model", "rf",
               "--scope", "county", "--seed", "3", "--cv-blocks", "20", "--cv-splits", "3"])
    assert rc == 0
    card = read_card(tmp_path / "m.joblib")
    assert card["scope"] == "county" and card["model"] == "rf" and card["cv"]["held_out"] == "blocks of 20 px"
    assert main(["models", "info", str(tmp_path / "m.joblib")]) == 0
    assert "checksum: ok" in capsys.readouterr().out
    card["sha256"] = "0" * 64
    card_path(tmp_path / "m.joblib").write_text(json.dumps(card))
    assert main(["models", "info", str(tmp_path / "m.joblib")]) == 2
    assert "checksum" in capsys.readouterr().err


def test_read_pool_drops_geometry_and_fits_the_same_model(tmp_path, capsys):
    import geopandas as gpd

    from irrmap.models import read_pool

    label, feats = synthetic_cube()
    pool = pool_from_cube(label, feats)
    gdf = gpd.GeoDataFrame(pool, geometry=gpd.points_from_xy(pool["col"], pool["row"]), crs="EPSG:3857")
    gdf.to_parquet(tmp_path / "pool.parquet")
    back = read_pool(tmp_path / "pool.parquet")
    assert list(back.columns) == list(pool.columns)  # every attribute column, in order, and no geometry
    a, _ = fit_from_pool(pool, model="rf", seed=2, cv_blocks=None, max_per_class=100)
    b, _ = fit_from_pool(back, model="rf", seed=2, cv_blocks=None, max_per_class=100)
    X = np.stack([v.ravel() for v in feats.values()], axis=1)
    assert a.positive_proba(X).tobytes() == b.positive_proba(X).tobytes()
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot read the pool"):
        read_pool(tmp_path / "bad.parquet")
    assert main(["models", "fit", str(tmp_path / "bad.parquet"), "--out", str(tmp_path / "m.joblib")]) == 2
    assert "bad.parquet" in capsys.readouterr().err
