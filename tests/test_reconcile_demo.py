"""`irrmap reconcile` on a finished demo run: county statistics (two variants, a county missing) bind counties,
province-only statistics bind provinces; mapped area checked with pyproj.Geod pixel areas against the tables'
own numbers (1000 ha x 1e7 m2); the output contract; resuming; same bytes whatever the thread count; years."""

from __future__ import annotations

import re
import shutil

import dask
import numba
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod

from irrmap.app.cli import main
from irrmap.app.context import RunContext
from irrmap.app.stages.reconcile import reconcile
from irrmap.core.config import load_config

KEEP = {"run", "grid", "inputs", "units", "statistics", "suitability", "features", "training", "models", "mapping", "reconcile"}


def _trimmed(text: str, drop_reconcile_tables: tuple = ()) -> str:
    """The demo config with only the sections a run up to the map needs, plus [reconcile]."""
    out, keep = [], True
    for line in text.splitlines():
        m = re.match(r"\[([A-Za-z_]+)(?:\.([A-Za-z_0-9]+))?(?:\.([A-Za-z_0-9]+))?\]", line)
        if m:
            keep = m.group(1) in KEEP and not (m.group(1) == "reconcile" and m.group(3) in drop_reconcile_tables)
        if keep:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("rc")
    assert main(["-q", "demo", str(root / "d"), "--rows", "120", "--cols", "160"]) == 0
    cfg = root / "d" / "config.toml"
    cfg.write_text(_trimmed(cfg.read_text()))
    assert main(["-q", "run", str(cfg)]) == 0
    return root / "d"


def _geod_row_areas(path) -> np.ndarray:
    with rasterio.open(path) as src:
        t, h = src.transform, src.height
    geod = Geod(ellps="WGS84")
    out = []
    for r in range(h):
        y0, y1 = t.f + r * t.e, t.f + (r + 1) * t.e
        a, _ = geod.polygon_area_perimeter([t.c, t.c + t.a, t.c + t.a, t.c], [y0, y0, y1, y1])
        out.append(abs(a))
    return np.array(out)[:, None]


def _mapped_by(output, fraction_name: str, level: str) -> pd.Series:
    """Sum of fraction x Geod pixel area per unit of `level`, from the rasters of a run's `output` folder alone."""
    with rasterio.open(output / "reconcile" / fraction_name) as src:
        frac = np.nan_to_num(src.read(1).astype(np.float64))
    with rasterio.open(output / "units" / "zones.tif") as src:
        zones = src.read(1)
    units = pd.read_csv(output / "units" / "units.csv", dtype=str).astype({"zone": int})
    code = units.set_index("zone")["code" if level == "county" else level]
    per_zone = np.bincount(zones.ravel(), weights=(frac * _geod_row_areas(output / "units" / "zones.tif")).ravel())
    return pd.Series(per_zone[code.index], index=code.to_numpy()).groupby(level=0).sum()


def _table_m2(folder, level: str, variant: str = "actual") -> pd.Series:
    t = pd.read_csv(folder / "inputs" / "statistics" / f"{level}.csv", dtype={"code": str})
    t = t[t["variant"] == variant]
    return pd.Series(t["irrigated_area"].to_numpy(float) * 1e7, index=t["code"].to_numpy())  # 1000 ha = 1e7 m2


def test_county_statistics_bind_counties_within_one_pixel(demo_run):
    assert main(["-q", "reconcile", str(demo_run / "config.toml")]) == 0
    out = demo_run / "output" / "reconcile"
    for name in ("statistics_reconciled.csv", "audit.csv", "class.tif", "fraction.tif", "agreement.csv", "report.html"):
        assert (out / name).exists(), name
    stats = pd.read_csv(out / "statistics_reconciled.csv", dtype={"code": str})
    assert list(stats.columns) == ["code", "level", "year", "area_m2", "rule", "source"]
    agreement = pd.read_csv(out / "agreement.csv", dtype={"code": str})
    assert list(agreement.columns) == ["level", "code", "year", "mapped_m2", "statistic_m2"]
    one_pixel = float(_geod_row_areas(out / "class.tif").max())
    county = stats[stats["level"] == "county"].set_index("code")["area_m2"]
    mapped = _mapped_by(demo_run / "output", "fraction.tif", "county").reindex(county.index)
    assert (mapped - county).abs().max() <= one_pixel
    # counties reported in the table keep the table's value; the missing county was filled (rule named)
    table = _table_m2(demo_run, "county")
    reported = stats[(stats["level"] == "county") & (stats["rule"] == "precedence")].set_index("code")["area_m2"]
    assert np.allclose(reported.to_numpy(), table.reindex(reported.index).to_numpy(), rtol=1e-12)
    filled = sorted(set(county.index) - set(table.index))
    assert len(filled) == 1 and stats.set_index("code").loc[filled[0], "rule"] == "disaggregated"
    audit = pd.read_csv(out / "audit.csv", dtype={"code": str})
    assert audit["rule"].notna().all() and {"county_actual", "county_effective"} <= set(audit.columns)
    html = (out / "report.html").read_text()
    for part in ("before and after", "Flagged units", "Largest adjustments", "Change the reconciliation made"):
        assert part in html


def test_province_only_statistics_bind_provinces_within_one_pixel(demo_run, tmp_path):
    cfg = tmp_path / "province_only.toml"
    text = _trimmed((demo_run / "config.toml").read_text(), drop_reconcile_tables=("county_actual", "city_actual", "county_effective"))
    text = text.replace('precedence = ["county_actual", "city_actual", "province_actual", "county_effective"]', "")
    cfg.write_text(text.replace('output_dir = "output"', f'output_dir = "{demo_run / "output"}"').replace('"inputs/', f'"{demo_run}/inputs/'))
    shutil.rmtree(demo_run / "output" / "reconcile", ignore_errors=True)
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = demo_run / "output" / "reconcile"
    units = pd.read_csv(out / "units.csv", dtype={"code": str})
    assert set(units["level"]) == {"province"}
    table = _table_m2(demo_run, "province")
    mapped = _mapped_by(demo_run / "output", "fraction.tif", "province").reindex(table.index)
    one_pixel = float(_geod_row_areas(out / "class.tif").max())
    assert (mapped - table).abs().max() <= one_pixel
    shutil.rmtree(out)


def test_resume_redoes_only_missing_jobs_and_bytes_do_not_depend_on_threads(demo_run):
    cfg = demo_run / "config.toml"
    out = demo_run / "output" / "reconcile"
    assert main(["-q", "reconcile", str(cfg)]) == 0
    first = {n: (out / n).read_bytes() for n in ("class.tif", "fraction.tif", "agreement.csv")}
    jobs = sorted((out / ".jobs").glob("*/*/done.json"))
    assert len(jobs) == 3  # one per province
    stamps = {p: p.stat().st_mtime_ns for p in jobs[1:]}
    jobs[0].unlink()  # as if killed before the first province finished
    (out / "class.tif").unlink()
    assert main(["-q", "reconcile", str(cfg)]) == 0
    assert jobs[0].exists() and all(p.stat().st_mtime_ns == t for p, t in stamps.items())
    assert {n: (out / n).read_bytes() for n in first} == first
    shutil.rmtree(out)  # the same config and folder, one thread for dask and numba: the same bytes
    loaded = load_config(cfg)
    numba.set_num_threads(1)
    try:
        with dask.config.set(scheduler="threads", num_workers=1):
            reconcile(RunContext(loaded, loaded.grid(), loaded.output_dir))
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    assert {n: (out / n).read_bytes() for n in first} == first


def test_only_one_province_and_a_series_of_years(demo_run, tmp_path):
    table = pd.read_csv(demo_run / "inputs" / "statistics" / "province.csv", dtype={"code": str})
    table = table[table["variant"] == "actual"]
    earlier = table.assign(year=table["year"] - 1, irrigated_area=table["irrigated_area"] * 0.9)
    path = tmp_path / "province_years.csv"
    pd.concat([earlier, table]).to_csv(path, index=False)
    text = _trimmed((demo_run / "config.toml").read_text(), drop_reconcile_tables=("county_actual", "city_actual", "county_effective"))
    text = text.replace('precedence = ["county_actual", "city_actual", "province_actual", "county_effective"]', "")
    text = text.replace('path = "inputs/statistics/province.csv"', f'path = "{path}"')
    out_dir = tmp_path / "o"
    shutil.copytree(demo_run / "output", out_dir, ignore=shutil.ignore_patterns("reconcile"))
    cfg = tmp_path / "years.toml"
    cfg.write_text(text.replace('output_dir = "output"', f'output_dir = "{out_dir}"').replace('"inputs/', f'"{demo_run}/inputs/'))
    first = min(table["code"])
    assert main(["-q", "reconcile", str(cfg), "--only", first]) == 0
    out = out_dir / "reconcile"
    year = int(table["year"].iloc[0])
    assert (out / f"class_{year - 1}.tif").exists() and (out / f"class_{year}.tif").exists() and not (out / "class.tif").exists()
    agreement = pd.read_csv(out / "agreement.csv", dtype={"code": str})
    prov = agreement[agreement["level"] == "province"]
    assert sorted(prov["code"].unique()) == [first] and sorted(prov["year"]) == [year - 1, year]
    want = {year - 1: 0.9 * table.set_index("code").loc[first, "irrigated_area"] * 1e7, year: table.set_index("code").loc[first, "irrigated_area"] * 1e7}
    one_pixel = float(_geod_row_areas(out / f"class_{year}.tif").max())
    for y, target in want.items():
        mapped = _mapped_by(out_dir, f"fraction_{y}.tif", "province")[first]
        assert abs(mapped - target) <= one_pixel

