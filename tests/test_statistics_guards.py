"""Statistics guards: a table in the wrong area unit, a table that joins no unit, codes repeated for want of a
variant filter, a semicolon table in a run, and a wildly unbalanced training pool each give an error or a
warning naming the cause and the fix, never a quiet wrong map.

Unit areas come from pyproj.Geod; cropland areas and statistics are hand-chosen numbers, so every ratio in
the expected messages is hand computed.
"""

from __future__ import annotations

import logging
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.app.pipeline import run_pipeline
from irrmap.app.stages.training import check_pool_balance
from irrmap.core.errors import DataError
from irrmap.core.statistics import read_statistics, validate_statistics
from irrmap.core.units import AdminUnits

CODES = ["130101", "130102", "130201", "130202"]
CROPLAND_KM2 = [40.0, 50.0, 30.0, 60.0]  # per unit (each unit is ~85 km2)
IRRIGATED_KHA = [2.0, 3.0, 1.2, 4.5]  # = 20, 30, 12, 45 km2: 50 %, 60 %, 40 %, 75 % of the cropland


@pytest.fixture
def units(tmp_path):
    gdf = gpd.GeoDataFrame({"code": CODES}, geometry=[box(116 + 0.1 * i, 40, 116.1 + 0.1 * i, 40.1) for i in range(4)], crs="EPSG:4326")
    gdf.to_file(tmp_path / "u.gpkg")
    return AdminUnits.read(tmp_path / "u.gpkg", "code")


def _stats(tmp_path, values, unit, codes=CODES, level="county"):
    path = tmp_path / "s.csv"
    pd.DataFrame({"code": codes, "area": values}).to_csv(path, index=False)
    return read_statistics(path, code_field="code", area_field="area", area_unit=unit, level=level)


def _cropland():
    return pd.Series(np.array(CROPLAND_KM2) * 1e6, index=CODES)


def _scale(report):
    return {p.kind: p for p in report.problems}.get("implausible scale")


# ---- the area unit -------------------------------------------------------------------------------------
def test_ha_given_for_a_table_in_1000ha_names_1000ha(tmp_path, units):
    report = validate_statistics(_stats(tmp_path, IRRIGATED_KHA, "ha"), units, cropland_m2=_cropland())
    p = _scale(report)
    # ratios 0.05 %, 0.06 %, 0.04 %, 0.075 % of the cropland: median (0.05 + 0.06) / 2 = 0.055 %
    assert p.severity == "warning"
    assert p.message == ("4 of 4 units report less than 0.2 % of their cropland as irrigated (median 0.055 %): "
                         "values look 1000x too small: is area_unit '1000ha'?")
    assert "set [statistics].area_unit = '1000ha' if the table is in 1000ha (it is read as ha now)" in p.fix


def test_the_right_unit_raises_nothing(tmp_path, units):
    report = validate_statistics(_stats(tmp_path, IRRIGATED_KHA, "1000ha"), units, cropland_m2=_cropland())
    assert _scale(report) is None and not report.problems


def test_ha_given_for_a_table_in_mu_is_an_error_naming_mu(tmp_path, units):
    mu = [v * 1e7 / (1e4 / 15) for v in IRRIGATED_KHA]  # the same areas in mu: 30,000 .. 67,500
    report = validate_statistics(_stats(tmp_path, mu, "ha"), units, cropland_m2=_cropland())
    p = _scale(report)
    assert p.severity == "error"
    # 15x the true ratios: 750 %, 900 %, 600 %, 1,125 %; median (750 + 900) / 2 = 825 %
    assert p.message == ("4 of 4 units report more than 150 % of their cropland as irrigated (median 825 %): "
                         "values look 15x too large: is area_unit 'mu'?")


def test_1000ha_given_for_a_table_in_ha_names_ha(tmp_path, units):
    ha = [v * 1000 for v in IRRIGATED_KHA]
    p = _scale(validate_statistics(_stats(tmp_path, ha, "1000ha"), units, cropland_m2=_cropland()))
    assert p.severity == "error" and p.message.endswith("values look 1000x too large: is area_unit 'ha'?")


def test_without_cropland_the_unit_areas_give_the_unit(tmp_path, units):
    from pyproj import Geod

    km2 = [abs(Geod(ellps="WGS84").geometry_area_perimeter(box(116 + 0.1 * i, 40, 116.1 + 0.1 * i, 40.1))[0]) / 1e6 for i in range(4)]
    ha = np.array(IRRIGATED_KHA) * 1000
    ratios = ha / 1e6 / np.array(km2)  # hectares read as m2, over each unit's area (m2 / km2 * 1e-6)
    p = _scale(validate_statistics(_stats(tmp_path, list(ha), "m2"), units))
    assert p.severity == "warning"
    assert p.message == (f"4 of 4 units report less than 0.01 % of their unit area as irrigated (median {100 * np.median(ratios):.2g} %): "
                         "values look 10000x too small: is area_unit 'ha'?")


def test_cropland_check_is_skipped_for_a_few_units(tmp_path, units):
    stats = _stats(tmp_path, IRRIGATED_KHA[:2], "ha", codes=CODES[:2])
    assert _scale(validate_statistics(stats, units, cropland_m2=_cropland())) is None  # two units are no distribution


# ---- joins ---------------------------------------------------------------------------------------------
def test_codes_that_lost_their_leading_zero_fail_naming_both_sides(tmp_path):
    gpd.GeoDataFrame({"fips": ["01001", "01003", "02013"]}, geometry=[box(i, 0, i + 1, 1) for i in range(3)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    units = AdminUnits.read(tmp_path / "u.gpkg", "fips", hierarchy="none")
    stats = _stats(tmp_path, [1, 2, 3], "ha", codes=[1001, 1003, 2013], level="unit")  # a numeric column
    report = validate_statistics(stats, units)
    with pytest.raises(DataError) as e:
        report.raise_for_errors(str(tmp_path / "s.csv"))
    msg = str(e.value)
    assert ("no join: no row of the table joins a unit: table codes ('code') '1001', '1003', '2013' vs unit codes (unit) "
            "'01001', '01003', '02013'; likely cause: codes differ only by leading zeros (table '1001', unit '01001'): "
            "the table codes lost them in a numeric column") in msg
    assert "store the codes as text with their leading zeros" in msg


def test_a_table_of_city_codes_names_the_level(tmp_path, units):
    report = validate_statistics(_stats(tmp_path, [1, 2], "1000ha", codes=["130100", "130200"]), units)
    p = {p.kind: p for p in report.problems}["no join"]
    assert "likely cause: the table's codes are city codes (2 join at that level)" in p.message
    assert p.fix == "set the statistics level to 'city'"


def test_a_code_column_of_names_names_the_right_column(tmp_path, units):
    path = tmp_path / "s.csv"
    pd.DataFrame({"name": ["A", "B"], "adcode": CODES[:2], "area": [1, 2]}).to_csv(path, index=False)
    stats = read_statistics(path, code_field="name", area_field="area", area_unit="1000ha")
    p = {p.kind: p for p in validate_statistics(stats, units).problems}["no join"]
    assert "likely cause: column 'adcode' holds the unit codes (2 of its values join, 0 of 'name')" in p.message
    assert p.fix == "use 'adcode' as the table's code field"


# ---- runs --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["-q", "demo", str(out), "--rows", "96", "--cols", "128", "--seed", "3"]) == 0
    return out


def _config(demo, tmp_path, *, drop=(), **statistics) -> str:
    """The demo config with [statistics] keys replaced and sections dropped, writing to its own output folder."""
    text = (demo / "config.toml").read_text()
    text = text.replace('output_dir = "output"', f'output_dir = "{tmp_path / "out"}"')
    for section in drop:
        text = re.sub(rf"\n\[{re.escape(section)}\]\n.*?(?=\n\[|\Z)", "\n", text, flags=re.DOTALL)  # comments inside go too
    head = text.index("[statistics]\n")
    end = text.find("\n[", head + 1) % (len(text) + 1)  # the next section, or the end
    block = text[head:end]
    for key, value in statistics.items():
        line = f"{key} = {value!r}".replace("'", '"') if value is not None else ""
        block, n = re.subn(rf"^{key} = .*$", line, block, flags=re.MULTILINE)
        if not n:
            block += f"\n{line}"
    path = demo / f"config_{tmp_path.name}.toml"  # beside the demo's inputs (paths are relative to the config)
    path.write_text(text[:head] + block + text[end:])
    return str(path)


LATER = ("suitability", "features", "training", "models", "mapping", "evaluation")


def test_run_with_ha_for_1000ha_warns_at_statistics_and_at_the_pool(demo, tmp_path, caplog):
    cfg = _config(demo, tmp_path, drop=("models", "mapping", "evaluation"), area_unit="ha")
    with caplog.at_level(logging.WARNING):
        run_pipeline(cfg)
    text = (tmp_path / "out" / "statistics" / "validation.txt").read_text()
    assert "report less than 0.2 % of their cropland as irrigated" in text
    assert "values look 1000x too small: is area_unit '1000ha'?" in text
    pool = [r.getMessage() for r in caplog.records if r.getMessage().startswith("training pool:")]
    assert pool and re.search(r"training pool: \d+ irrigated and \d+ not-irrigated samples \([\d.]+ % irrigated; \d+ of \d+ units "
                              r"gave none\); likely cause: statistics small for the units' cropland: an area unit too small", pool[0])


def test_run_with_the_right_unit_has_no_scale_problem(demo, tmp_path):
    run_pipeline(_config(demo, tmp_path, drop=LATER))
    assert "implausible scale" not in (tmp_path / "out" / "statistics" / "validation.txt").read_text()


def test_run_whose_table_joins_no_unit_fails_before_any_work(demo, tmp_path, capsys):
    cfg = _config(demo, tmp_path, code_field="name")
    assert main(["-q", "run", cfg]) == 2
    err = capsys.readouterr().err
    assert "no join: no row of the table joins a unit: table codes ('name') 'Shanyang County'" in err
    assert "likely cause: column 'code' holds the unit codes" in err and "(fix: use 'code' as the table's code field)" in err
    assert not (tmp_path / "out" / "aligned").exists()  # stopped by the checks, before the inputs were aligned


@pytest.mark.parametrize("drop_field", [False, True])
def test_run_without_the_variant_filter_names_the_variants(demo, tmp_path, capsys, drop_field):
    keys = {"variant": None, **({"variant_field": None} if drop_field else {})}
    assert main(["-q", "run", _config(demo, tmp_path, **keys)]) == 2
    err = capsys.readouterr().err
    assert "duplicate code: 11 codes appear on more than one row (lines 2, 3, 4, 5" in err
    if drop_field:
        assert ("fix: rows of one code differ in 'variant' ('effective', 'actual'): set [statistics].variant_field = 'variant' "
                "and [statistics].variant to one of those values") in err
    else:
        assert "fix: set [statistics].variant to one of the values of 'variant' ('effective', 'actual') so that each code has one row" in err


def test_run_reads_a_semicolon_table_with_decimal_commas(demo, tmp_path):
    plain = pd.read_csv(demo / "inputs" / "statistics" / "county.csv", dtype=str)
    local = tmp_path / "county_semicolon.csv"
    text = plain.assign(irrigated_area=plain["irrigated_area"].str.replace(".", ",", regex=False)).to_csv(sep=";", index=False)
    local.write_text(text)
    run_pipeline(_config(demo, tmp_path, drop=LATER, path=str(local)))
    got = pd.read_csv(tmp_path / "out" / "statistics" / "statistics.csv", dtype={"code": str})
    want = plain[plain["variant"] == "actual"]
    assert dict(zip(got["code"], got["area_m2"])) == pytest.approx({c: float(a) * 1e7 for c, a in zip(want["code"], want["irrigated_area"])},
                                                                  rel=1e-12)


# ---- the training pool -------------------------------------------------------------------------------------
def test_an_unbalanced_pool_warns_with_counts_and_cause(caplog):
    labels = np.r_[np.ones(54, np.int8), np.zeros(7826, np.int8)]
    zones = np.r_[np.full(54, 1), np.arange(7826) % 40 + 1]
    with caplog.at_level(logging.WARNING):
        check_pool_balance(labels, zones)
    msg = caplog.records[-1].getMessage()
    # 54 / 7880 = 0.685 %; 39 of the 40 units have no irrigated sample
    assert msg.startswith("training pool: 54 irrigated and 7826 not-irrigated samples (0.69 % irrigated; 39 of 40 units gave none); "
                          "likely cause: statistics small for the units' cropland: an area unit too small (e.g. 'ha' for a table in 1000 ha)")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        check_pool_balance(np.r_[np.ones(7000), np.zeros(100)], np.ones(7100))
    assert "(1.4 % not irrigated; 1 of 1 units gave none)" not in caplog.text  # the one unit did give some
    assert "7000 irrigated and 100 not-irrigated samples (1.4 % not irrigated; 0 of 1 units gave none); likely cause: statistics large" in caplog.text


def test_a_balanced_pool_is_quiet_and_an_empty_one_stops(caplog):
    with caplog.at_level(logging.WARNING):
        check_pool_balance(np.r_[np.ones(400), np.zeros(4000)], np.ones(4400))  # 9.1 % irrigated
    assert not caplog.records
    with pytest.raises(DataError, match="the training pool is empty"):
        check_pool_balance(np.empty(0), np.empty(0))


def test_cli_thresholds_check_the_table_against_the_cropland(demo, tmp_path, capsys):
    run_pipeline(_config(demo, tmp_path, drop=("features", "training", "models", "mapping", "evaluation")))
    out = tmp_path / "out"
    argv = ["-q", "training", "thresholds", "--score", str(out / "suitability" / "suitability.tif"), "--cropland",
            str(out / "aligned" / "cropland.tif"), "--units", str(demo / "inputs" / "admin.gpkg"), "--units-layer", "counties", "--unit-field", "code",
            "--stats", str(demo / "inputs" / "statistics" / "county.csv"), "--stats-field", "code", "--area-field", "irrigated_area",
            "--year-field", "year", "--year", "2020", "--variant-field", "variant", "--variant", "actual", "--out", str(tmp_path / "thr")]
    assert main([*argv, "--area-unit", "1000ha"]) == 0
    assert "implausible scale" not in capsys.readouterr().out
    assert main([*argv, "--area-unit", "ha"]) == 0
    out = capsys.readouterr().out
    assert "of their cropland as irrigated" in out and "values look 1000x too small: is area_unit '1000ha'?" in out


def test_table_options_are_checked_with_the_config(demo, tmp_path, capsys):
    assert main(["-q", "run", "--check", _config(demo, tmp_path, encoding="gbk2")]) == 2
    err = capsys.readouterr().err
    assert "[statistics].encoding" in err and "unknown encoding 'gbk2'" in err
    assert main(["-q", "run", "--check", _config(demo, tmp_path, decimal=";")]) == 2
    assert "[statistics].decimal" in capsys.readouterr().err
