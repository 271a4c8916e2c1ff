"""Harmonising real statistics (issue 17):

- Kansas LEMA (Deines et al. 2019): yearly irrigated hectares of two regions from a Landsat map, water-rights
  records and the Cropland Data Layer. The audit reports, per year, how far each source is from the map; the
  truth is the published CSV itself, summed here with plain pandas.
- USGS county water use 2015 (irrigated acres, thousands) with the Census 2010 county boundaries, aggregated
  to states: county and state tables whose children must sum to their parents. The renamed counties
  (Kusilvak 02158 was Wade Hampton 02270; Oglala Lakota 46102 was Shannon 46113) are the real test: the
  2010 boundaries have the old codes, so the state residual must land exactly on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import SHARED_DATA

from irrmap.core.statistics import read_statistics
from irrmap.core.statistics.harmonise import (
    HarmoniseRules,
    SourceTable,
    harmonise,
    hierarchy_of,
    source_disagreement,
)
from irrmap.core.units import AdminUnits

pytestmark = pytest.mark.realdata
SOURCES = ["landsat", "water_rights", "cdl"]


def _kansas(shared_data):
    path = shared_data / "irrigation_maps" / "kansas_lema" / "irrigated_area_by_region.csv"
    tables = []
    for src in SOURCES:
        stats = read_statistics(path, code_field="region", area_field=f"irrigated_ha_{src}", area_unit="ha", year_field="year",
                                level="region", per_year=True)
        assert not stats.report.errors
        t = stats.table[stats.table["valid"]]
        tables.append(SourceTable(src, "region", None, None, t[["code", "area_m2", "year"]]))
    return path, tables


def test_kansas_audit_reports_the_disagreement_between_sources_per_year(shared_data):
    path, tables = _kansas(shared_data)
    hierarchy = pd.DataFrame({"code": ["null_geo9", "sheridan"], "level": "region", "parent": None})
    result = harmonise(tables, hierarchy, rules=HarmoniseRules(precedence=SOURCES))
    audit = result.audit
    assert len(audit) == 2 * 22 and set(audit["year"]) == set(range(1996, 2018))  # one row per region and year
    # the map is chosen where it exists (1999-2017); before it, the water rights are the only source
    assert (audit.loc[audit["year"] >= 1999, "source"] == "landsat").all()
    assert (audit.loc[audit["year"] < 1999, "source"] == "water_rights").all()
    raw = pd.read_csv(path)
    raw["year"] = raw["year"].astype(int)
    both = raw.dropna(subset=["irrigated_ha_landsat", "irrigated_ha_water_rights"]).groupby("year")[
        ["irrigated_ha_landsat", "irrigated_ha_water_rights"]].sum()
    truth = 100 * (both["irrigated_ha_water_rights"] / both["irrigated_ha_landsat"] - 1)
    report = source_disagreement(audit, SOURCES, reference="landsat")
    wr = report[report["source"] == "water_rights"].set_index("year")["difference_pct"]
    np.testing.assert_allclose(wr.loc[truth.index].to_numpy(), truth.to_numpy(), rtol=1e-9)
    # the water rights run above the map: in 18 of 19 years, by 13 % (median) over the map's years 2008-2017
    assert (wr > 0).sum() == 18 and 10 < wr.loc[2008:2017].median() < 15
    cdl = report[report["source"] == "cdl"].set_index("year")["difference_pct"]
    assert cdl.abs().max() < 7  # the CDL agrees with the map within a few %
    # units where the sources disagree beyond the tolerance are flagged, with every source's value beside
    flagged = audit[audit["flags"].str.contains("sources_disagree")]
    assert len(flagged) == int(((raw["irrigated_ha_water_rights"] - raw["irrigated_ha_landsat"]).abs()
                                > 0.02 * raw["irrigated_ha_landsat"]).sum())


@pytest.fixture(scope="module")
def us():
    """Units, county table (valid rows), crop irrigated areas by county, the raw CSV and state totals (m2);
    read once for the module (the shared_data fixture is per test, so the folder is checked here alike)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    units = AdminUnits.read(SHARED_DATA / "admin" / "us" / "geojson-counties-fips.json", "id", hierarchy="us-fips", invalid_codes="drop")
    path = SHARED_DATA / "statistics" / "usco2015v2.0.csv"
    stats = read_statistics(path, code_field="FIPS", area_field="IR-IrTot", area_unit="1000acres", skip_rows=1,
                            code_pattern=units.code_pattern("county"))
    crops = read_statistics(path, code_field="FIPS", area_field="IC-IrTot", area_unit="1000acres", skip_rows=1,
                            code_pattern=units.code_pattern("county"))
    raw = pd.read_csv(path, skiprows=1, dtype={"FIPS": str, "STATEFIPS": str})
    raw["FIPS"] = raw["FIPS"].str.zfill(5)
    # state totals from the raw file: every county of the state, thousands of acres -> m2 (1 acre = 4046.8564224 m2)
    state = raw.groupby(raw["STATEFIPS"].str.zfill(2))["IR-IrTot"].sum() * 1000 * 4046.8564224
    return units, stats.table[stats.table["valid"]], crops.areas(), raw, state


def test_us_county_and_state_tables_renamed_counties_get_their_states_residual(us):
    units, county, crops, raw, state = us
    tables = [SourceTable("usgs", "county", 2015, None, county[["code", "area_m2"]]),
              SourceTable("usgs", "state", 2015, None, pd.DataFrame({"code": state.index, "area_m2": state.to_numpy()}))]
    result = harmonise(tables, hierarchy_of(units), rules=HarmoniseRules(prior="expected"), prior_m2=crops)
    a = result.audit.set_index("code")
    counties = a[a["level"] == "county"]
    sums = counties.groupby(counties.index.str[:2])["area_m2"].sum()
    states = a.loc[a["level"] == "state", "area_m2"]
    joined = sums.index.intersection(states.index).intersection(units.level_codes("state"))
    assert len(joined) == 52  # 50 states, DC and Puerto Rico
    np.testing.assert_allclose(sums.loc[joined], states.loc[joined], rtol=1e-9)
    # the renamed counties: the 2010 codes get exactly the 2015 values of the new codes
    value = raw.set_index("FIPS")["IR-IrTot"] * 1000 * 4046.8564224
    for old, new in (("02270", "02158"), ("46113", "46102")):
        assert a.loc[old, "rule"] == "disaggregated"
        assert a.loc[old, "area_m2"] == pytest.approx(value[new], rel=1e-9, abs=1e-3)
        assert "not_in_hierarchy" in a.loc[new, "flags"]
    # Bedford city (51515) merged into Bedford County in 2013: nothing is left for it
    assert a.loc["51515", "area_m2"] == pytest.approx(0.0, abs=1e-3)
    # the Virgin Islands have no 2010 county boundaries: flagged, outside every state
    assert a.loc["78010", "flags"] == "not_in_hierarchy"


def test_us_missing_counties_are_filled_from_the_state_residual(us):
    units, county, crops, _, state = us
    in_units = county[county["code"].isin(units.codes)]
    removed = in_units.iloc[::7]  # every 7th county is missing from the county table
    tables = [SourceTable("usgs", "county", 2015, None, in_units.drop(removed.index)[["code", "area_m2"]]),
              SourceTable("usgs", "state", 2015, None, pd.DataFrame({"code": state.index, "area_m2": state.to_numpy()}))]
    result = harmonise(tables, hierarchy_of(units), rules=HarmoniseRules(prior="expected"), prior_m2=crops)
    a = result.audit.set_index("code")
    filled = a.loc[removed["code"]]
    assert (filled["rule"] == "disaggregated").all()
    # per state, the filled counties hold what was removed (states whose every CSV county has a 2010 code)
    whole = [s for s in state.index if s not in ("02", "46")]
    got = filled.groupby(filled.index.str[:2])["area_m2"].sum()
    truth = removed.groupby(removed["code"].str[:2])["area_m2"].sum()
    common = truth.index.intersection(whole)
    np.testing.assert_allclose(got.loc[common], truth.loc[common], rtol=1e-9, atol=1e-3)
    assert len(common) > 40
