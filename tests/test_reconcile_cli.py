"""`irrmap reconcile` on a tiny hand-made run (three counties of one province as column strips, a probability
input): the prior that fills missing counties (expected irrigated area from Geod pixel areas), and the one-line
errors for a config without [reconcile], an unfinished run, an unknown --by level and an unknown --only code."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod

from irrmap.app.cli import main
from reconcile_project import table_section, write_box_units, write_inputs, write_reconcile_config

LEFT, TOP, RES, N = 100.0, 40.0, 0.01, 30
CODES = ["610101", "610102", "610103"]  # columns 0-9, 10-19, 20-29 of province 610000


def _project(folder, prior="cropland", tables=None):
    rng = np.random.default_rng(5)
    fields = {"cropland": rng.uniform(0.2, 1.0, (N, N)), "probability": rng.uniform(0, 1, (N, N))}
    write_inputs(folder, fields, LEFT, TOP, RES)
    write_box_units(folder, {c: (LEFT + 0.1 * i, TOP - 0.3, LEFT + 0.1 * (i + 1), TOP) for i, c in enumerate(CODES)})
    (folder / "county.csv").write_text("code,area_kha\n610101,1.0\n")
    (folder / "province.csv").write_text("code,area_kha\n610000,4.0\n")
    tables = tables if tables is not None else "\n".join(table_section(lv) for lv in ("county", "province"))
    cfg = write_reconcile_config(folder, LEFT, TOP, N, N, RES, reconcile=f'prior = "{prior}"\n', tables=tables)
    return cfg, fields


def _geod_rows() -> np.ndarray:
    geod = Geod(ellps="WGS84")
    return np.array([abs(geod.polygon_area_perimeter([LEFT, LEFT + RES, LEFT + RES, LEFT],
                                                      [TOP - r * RES, TOP - r * RES, TOP - (r + 1) * RES, TOP - (r + 1) * RES])[0])
                     for r in range(N)])[:, None]


def test_expected_prior_fills_missing_counties_and_counties_bind(tmp_path):
    cfg, fields = _project(tmp_path, prior="expected")
    assert main(["-q", "run", str(cfg)]) == 0
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = tmp_path / "output" / "reconcile"
    stats = pd.read_csv(out / "statistics_reconciled.csv", dtype={"code": str}).set_index("code")
    # province 4000 ha, county 610101 reported 1000 ha: the residual 3000 ha goes to the two missing counties in
    # proportion to their expected irrigated area sum(P x f x Geod area) over their 10-column strips
    expected = fields["probability"] * fields["cropland"].astype(np.float32) * _geod_rows()
    e2, e3 = expected[:, 10:20].sum(), expected[:, 20:30].sum()
    assert stats.loc["610101", "area_m2"] == pytest.approx(1e7)
    assert stats.loc["610102", "area_m2"] == pytest.approx(3e7 * e2 / (e2 + e3), rel=1e-5)
    assert stats.loc["610103", "area_m2"] == pytest.approx(3e7 * e3 / (e2 + e3), rel=1e-5)
    assert set(stats.loc[["610102", "610103"], "rule"]) == {"disaggregated"}
    units = pd.read_csv(out / "units.csv", dtype={"code": str})
    assert set(units["level"]) == {"county"}  # one county reported: counties bind, the filled ones with their share
    with rasterio.open(out / "fraction.tif") as src:
        frac = np.nan_to_num(src.read(1).astype(np.float64))
    mapped = [(frac * _geod_rows())[:, 10 * i:10 * (i + 1)].sum() for i in range(3)]
    assert np.abs(np.array(mapped) - stats.loc[CODES, "area_m2"].to_numpy()).max() <= _geod_rows().max()


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("irrmap: error: ")
    return err[0]


def test_errors_are_one_line(tmp_path, capsys):
    cfg, _ = _project(tmp_path)
    assert main(["-q", "reconcile", str(cfg)]) == 2  # the run has not been made yet
    line = _error_line(capsys)
    assert "zones raster is missing" in line and "irrmap run" in line
    assert main(["-q", "run", str(cfg)]) == 0
    capsys.readouterr()
    assert main(["-q", "reconcile", str(cfg), "--by", "state"]) == 2
    assert "'state' is not a level of the units (county, city, province)" in _error_line(capsys)
    assert main(["-q", "reconcile", str(cfg), "--only", "990000"]) == 2
    assert "no province with code(s) 990000" in _error_line(capsys)
    bare = tmp_path / "bare.toml"
    bare.write_text(cfg.read_text().split("[reconcile]")[0])
    assert main(["-q", "reconcile", str(bare)]) == 2
    assert "no [reconcile] section" in _error_line(capsys)
    typo = tmp_path / "typo.toml"
    typo.write_text(cfg.read_text().replace('prior = "cropland"', 'prior = "cropland"\nprecedence = ["countie"]'))
    assert main(["-q", "reconcile", str(typo)]) == 2
    assert "[reconcile]: `precedence` names ['countie'], which are not in `tables`" in _error_line(capsys)


def test_jobs_run_on_a_dask_distributed_cluster_with_the_same_result(tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg, _ = _project(tmp_path)
    assert main(["-q", "run", str(cfg)]) == 0
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = tmp_path / "output" / "reconcile"
    local = {n: (out / n).read_bytes() for n in ("agreement.csv", "units.csv")}
    with rasterio.open(out / "class.tif") as src:
        local_class = src.read(1)
    shutil.rmtree(out)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        cfg.write_text(cfg.read_text().replace("[run]\n", f'[run]\nscheduler = "{cluster.scheduler_address}"\n', 1))
        assert main(["-q", "reconcile", str(cfg)]) == 0
    assert {n: (out / n).read_bytes() for n in local} == local
    with rasterio.open(out / "class.tif") as src:
        assert np.array_equal(src.read(1), local_class)


def _year_tables(folder, years) -> str:
    """County and province tables with a year column, one row per (code, year) (written as csv_YEARS.csv); the
    config's tables section."""
    tag = "_".join(map(str, years))
    (folder / f"county_{tag}.csv").write_text("code,year,area_kha\n" + "".join(f"610101,{y},1.0\n" for y in years))
    (folder / f"province_{tag}.csv").write_text("code,year,area_kha\n" + "".join(f"610000,{y},4.0\n" for y in years))
    return "\n".join(f'[reconcile.tables.{lv}]\npath = "{lv}_{tag}.csv"\ncode_field = "code"\narea_field = "area_kha"\n'
                     f'area_unit = "1000ha"\nlevel = "{lv}"\nyear_field = "year"\n' for lv in ("county", "province"))


def test_maps_of_an_earlier_year_set_do_not_survive(tmp_path):
    """Two years write class_YEAR.tif / fraction_YEAR.tif, one year class.tif / fraction.tif: a rerun with the other
    year set leaves only its own maps (the old ones disagreed with statistics_reconciled.csv)."""
    cfg, _ = _project(tmp_path, tables=_year_tables(tmp_path, [2019, 2020]))
    assert main(["-q", "run", str(cfg)]) == 0
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = tmp_path / "output" / "reconcile"
    maps = lambda: sorted(p.name for p in out.glob("*.tif"))  # noqa: E731
    assert maps() == ["class_2019.tif", "class_2020.tif", "fraction_2019.tif", "fraction_2020.tif"]
    text = cfg.read_text().replace(_year_tables(tmp_path, [2019, 2020]), _year_tables(tmp_path, [2020]))
    cfg.write_text(text)
    assert main(["-q", "reconcile", str(cfg)]) == 0
    assert maps() == ["class.tif", "fraction.tif"]
    years = set(pd.read_csv(out / "statistics_reconciled.csv")["year"])
    assert years == {2020}
    cfg.write_text(text.replace(_year_tables(tmp_path, [2020]), _year_tables(tmp_path, [2020, 2021])))
    assert main(["-q", "reconcile", str(cfg)]) == 0
    assert maps() == ["class_2020.tif", "class_2021.tif", "fraction_2020.tif", "fraction_2021.tif"]


def test_warnings_name_the_year_of_a_code(caplog):
    """With several years the same code is in the audit once per year: the warnings name the year, so two rows of
    city 610100 do not read as a duplicate."""
    import logging

    from irrmap.app.stages.reconcile import warn_adjustments

    audit = pd.DataFrame({"code": ["610100", "610100", "610000"], "level": ["city", "city", "province"],
                          "year": [2019, 2020, -1], "adjustment_pct": [5.0, -80.0, 0.0], "rule": ["raked"] * 3,
                          "flags": ["parent_below_children", "parent_below_children;adjusted_beyond_tolerance", "parent_above_children"]})
    with caplog.at_level(logging.WARNING):
        warn_adjustments(audit, 0.01)
    assert "city 610100 (year 2019), city 610100 (year 2020), province 610000 (audit.csv" in caplog.text
    assert "the largest: city 610100 (year 2020) -80 % (raked)" in caplog.text
