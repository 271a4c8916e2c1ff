"""Harmonising the demo's statistics (issue 17): county, city and province tables in two variants (actual and
effective, disagreeing by 5-25 %) with one county missing from the county table. The truth file written by
the generator says which county is missing, what it would have reported and every county's cropland."""

from __future__ import annotations

import pandas as pd
import pytest

from irrmap.app.cli import main
from irrmap.core.statistics import read_statistics
from irrmap.core.statistics.harmonise import (
    HarmoniseRules,
    SourceTable,
    harmonise,
    hierarchy_of,
)
from irrmap.core.units import AdminUnits

LEVELS = ("county", "city", "province")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["-q", "demo", str(out), "--rows", "96", "--cols", "128", "--seed", "3"]) == 0
    return out


def test_demo_variants_as_sources_and_the_missing_county(demo):
    units = AdminUnits.read(demo / "inputs" / "admin.gpkg", "code", layer="counties", hierarchy="cn-adcode")
    tables = []
    for level in LEVELS:
        for variant in ("actual", "effective"):
            stats = read_statistics(demo / "inputs" / "statistics" / f"{level}.csv", code_field="code", area_field="irrigated_area",
                                    area_unit="1000ha", year_field="year", year=2020, variant_field="variant", variant=variant, level=level)
            valid = stats.table[stats.table["valid"]]
            tables.append(SourceTable(variant, level, 2020, variant, valid[["code", "area_m2"]]))
    truth = pd.read_csv(demo / "truth" / "statistics_truth.csv", dtype={"code": str}).set_index("code")
    result = harmonise(tables, hierarchy_of(units), rules=HarmoniseRules(precedence=["actual", "effective"]),
                       cropland_m2=truth["cropland_m2"])
    a = result.audit.set_index("code")
    assert a["rule"].notna().all() and len(a) == len(units) + a["level"].ne("county").sum()  # a rule for every unit
    missing = truth.index[truth["missing_in_county_table"]]
    assert len(missing) == 1
    code = missing[0]
    assert a.loc[code, "rule"] == "disaggregated" and a.loc[code, "source"] == "derived"
    # the city's residual is what the county would have reported (actual), up to the table's rounding:
    # five values of 0.0001 x 1000 ha = 1000 m2 each, off by at most 500 m2
    assert abs(a.loc[code, "area_m2"] - truth.loc[code, "reported_actual_1000ha"] * 1e7) <= 5 * 500
    # actual is chosen everywhere else; effective, 5-25 % above, is flagged beside it
    reported = a[a["rule"] == "precedence"]
    assert (reported["source"] == "actual").all() and reported["flags"].str.contains("sources_disagree").all()
    # children sum to their parents (exactly: the demo's tables are consistent apart from the gap)
    parent = hierarchy_of(units).set_index("code")["parent"]
    for child in ("county", "city"):
        kids = a[a["level"] == child]
        sums = kids.groupby(parent.reindex(kids.index).to_numpy())["area_m2"].sum()
        assert len(sums) > 0
        pd.testing.assert_series_equal(sums, a.loc[sums.index, "area_m2"], check_names=False, check_index_type=False, rtol=1e-9)
