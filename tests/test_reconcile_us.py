"""The US state/county case on real tables and boundaries (USGS 2015 irrigated acres, Census county polygons)
with synthetic probability and cropland (benchmarks/bench_reconcile.py builds it): counties bound within one
pixel's true (pyproj.Geod) area, shortfalls equal to statistic minus cropland, and state-only statistics binding
states. Truth: the USGS table itself (thousands of acres x 4046856.4224 m2) and Geod pixel areas."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod

from irrmap.app.cli import main

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from bench_reconcile import USGS, build_us_case

ACRE_M2 = 4046.8564224  # international acre (exact)


@pytest.fixture(scope="module")
def us_case(tmp_path_factory):
    if not USGS.exists():
        pytest.skip("../shared/data is absent (real-data tests run where it exists, e.g. in CI)")
    cfg = build_us_case(tmp_path_factory.mktemp("us"), res=0.1, seed=3)
    assert main(["-q", "run", str(cfg)]) == 0
    return cfg


def _geod_rows(path) -> np.ndarray:
    with rasterio.open(path) as src:
        t, h = src.transform, src.height
    geod = Geod(ellps="WGS84")
    rows = [abs(geod.polygon_area_perimeter([t.c, t.c + t.a, t.c + t.a, t.c], [t.f + r * t.e, t.f + r * t.e, t.f + (r + 1) * t.e,
                                                                                t.f + (r + 1) * t.e])[0]) for r in range(h)]
    return np.array(rows)[:, None]


def _per_zone(out: Path, raster: str) -> np.ndarray:
    with rasterio.open(out / raster) as src:
        v = np.nan_to_num(src.read(1).astype(np.float64))
    with rasterio.open(out / "units" / "zones.tif") as src:
        z = src.read(1)
    return np.bincount(z.ravel(), weights=(v * _geod_rows(out / "units" / "zones.tif")).ravel())


def test_counties_bound_by_state_jobs_and_shortfalls(shared_data, us_case):
    assert main(["-q", "reconcile", str(us_case)]) == 0
    out = us_case.parent / "output"
    units = pd.read_csv(out / "reconcile" / "units.csv", dtype={"code": str})
    assert set(units["level"]) == {"county"} and units["job"].nunique() == 49  # 48 states + DC on the grid
    zones = pd.read_csv(out / "units" / "units.csv", dtype=str).astype({"zone": int})
    mapped = pd.Series(_per_zone(out, "reconcile/fraction.tif")[zones["zone"]], index=zones["code"].to_numpy())
    cropland = pd.Series(_per_zone(out, "aligned/cropland.tif")[zones["zone"]], index=zones["code"].to_numpy())
    one_pixel = float(_geod_rows(out / "units" / "zones.tif").max())
    ok = units[units["status"] == "ok"].set_index("code")
    assert (mapped.reindex(ok.index) - ok["target_m2"]).abs().max() <= one_pixel
    short = units[units["status"] == "infeasible"].set_index("code")
    assert len(short) > 0  # synthetic cropland is below the reported irrigated area in some counties
    assert np.allclose(short["shortfall_m2"], short["target_m2"] - cropland.reindex(short.index), rtol=1e-5)
    assert np.allclose(mapped.reindex(short.index), cropland.reindex(short.index), rtol=1e-5)
    # counties whose value was taken as reported equal the USGS table (thousands of acres) exactly
    usgs = pd.read_csv(USGS, skiprows=1, dtype={"FIPS": str}, na_values=["--"])
    usgs = pd.Series(usgs["IR-IrTot"].to_numpy() * 1000 * ACRE_M2, index=usgs["FIPS"].str.zfill(5).to_numpy())
    stats = pd.read_csv(out / "reconcile" / "statistics_reconciled.csv", dtype={"code": str})
    taken = stats[(stats["level"] == "county") & (stats["rule"] == "precedence")].set_index("code")["area_m2"]
    assert len(taken) > 1000
    assert np.allclose(taken.to_numpy(), usgs.reindex(taken.index).to_numpy(), rtol=1e-9)

def test_state_only_statistics_bind_states(shared_data, us_case, tmp_path):
    text = us_case.read_text()
    text = text[:text.index("[reconcile.tables.usgs_county]")] + text[text.index("[reconcile.tables.usgs_state]"):]
    text = text.replace('precedence = ["usgs_county", "usgs_state"]\n', "").replace('output_dir = "output"', f'output_dir = "{us_case.parent / "output"}"')
    text = text.replace('path = "states.csv"', f'path = "{us_case.parent / "states.csv"}"').replace('"cropland.tif"', f'"{us_case.parent / "cropland.tif"}"')
    cfg = tmp_path / "states.toml"
    cfg.write_text(text.replace('"probability.tif"', f'"{us_case.parent / "probability.tif"}"'))
    out = us_case.parent / "output"
    jobs = out / "reconcile" / ".jobs"
    if jobs.exists():  # the county-bound jobs of the test above: out of date for state-only statistics, so --only refuses
        assert main(["-q", "reconcile", str(cfg), "--only", "06", "20", "31"]) == 2  # (merging them would mix both tables)
        shutil.rmtree(jobs)
    assert main(["-q", "reconcile", str(cfg), "--only", "06", "20", "31"]) == 0
    units = pd.read_csv(out / "reconcile" / "units.csv", dtype={"code": str})
    assert sorted(units["code"]) == ["06", "20", "31"] and set(units["level"]) == {"state"}
    states = pd.read_csv(us_case.parent / "states.csv", dtype={"state": str}).set_index("state")["irrigated_kacres"] * 1000 * ACRE_M2
    zones = pd.read_csv(out / "units" / "units.csv", dtype=str).astype({"zone": int})
    mapped = pd.Series(_per_zone(out, "reconcile/fraction.tif")[zones["zone"]], index=zones["state"].to_numpy()).groupby(level=0).sum()
    one_pixel = float(_geod_rows(out / "units" / "zones.tif").max())
    for code in ("06", "20", "31"):
        assert abs(mapped[code] - states[code]) <= one_pixel
