"""A province model in `irrmap run` predicts a county without statistics (absent from the training pool) with its
province's model, as `irrmap mapping predict` does with the run's model, rasters and units.csv (units joined on unit
codes: irrmap.mapping.predict.zone_keys_for). The run looked the county up in the model's own table (zone ids of
its training samples) and sent it to the global fallback: 21 class pixels of the 96 x 128 demo's county 610203
differed between the two, both exit 0."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import rasterio

pytestmark = pytest.mark.slow


def _irrmap(*args, cwd):
    return subprocess.run([sys.executable, "-m", "irrmap", "-q", *map(str, args)], cwd=cwd, capture_output=True, text=True)


def test_run_and_mapping_predict_give_the_same_map_for_a_province_model(tmp_path):
    assert _irrmap("demo", "d", "--rows", "96", "--cols", "128", cwd=tmp_path).returncode == 0
    cfg = tmp_path / "d" / "config.toml"
    cfg.write_text(cfg.read_text().replace('scope = "global"', 'scope = "province"'))
    r = _irrmap("run", cfg, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "d" / "output"
    stats = pd.read_parquet(out / "training" / "pool.parquet")
    units = pd.read_csv(out / "units" / "units.csv", dtype={"code": str})
    unpooled = set(units["code"]) - set(stats["unit"].astype(str))
    assert unpooled, "the demo must hold a county without training samples for this test"
    from irrmap.models import read_card

    feats = [f for f in read_card(out / "models" / "model.joblib")["features"] if f not in ("lon", "lat")]
    found = {p.stem: p for d in ("features", "aligned", "suitability") for p in (out / d).glob("*.tif") if p.stem in feats}
    args = [a for f in feats for a in ("--predictor", f"{f}={found[f]}")]
    r = _irrmap("mapping", "predict", out / "models" / "model.joblib", "--cropland", out / "aligned" / "cropland.tif", *args,
                "--zones", out / "units" / "zones.tif", "--zone-table", out / "units" / "units.csv", "--out", tmp_path / "cli",
                cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for name in ("class", "probability"):
        with rasterio.open(out / "mapping" / "raw" / f"{name}.tif") as a, rasterio.open(tmp_path / "cli" / f"{name}.tif") as b:
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=name)
