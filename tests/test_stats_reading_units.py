"""Area units: the common unambiguous spellings of a table's unit are accepted with the right factor (10,000 mu,
1,000 hectares, km²), and ambiguous or unknown ones are refused with the list of valid units.

1 mu = 1/15 ha by definition (the Chinese market system: 1 chi = 1/3 m, 1 mu = 6,000 square chi = 6,000 / 9 m2),
so 10,000 mu (万亩, the unit of Chinese yearbooks) = 666.67 ha.
"""

from __future__ import annotations

import pandas as pd
import pytest

from irrmap.core.areas import M2_PER_UNIT, from_m2, normalise_area_unit, to_m2
from irrmap.core.config import StatisticsSection
from irrmap.core.errors import InputError
from irrmap.core.statistics import read_statistics

SPELLINGS = {
    "10000mu": ["10000 mu", "10000mu", "10,000 mu", "10k mu", "10K MU", "万亩", " 万亩 ", "ten thousand mu"],
    "1000ha": ["1000 hectares", "thousand hectares", "1,000 ha", "1000 Hectares", "千公顷", "'000 ha"],
    "km2": ["km²", "KM²", "sq km", "sq. km", "Sq Km", "square kilometres", "square kilometers", "square km"],
    "m2": ["m²", "sq m", "square metres"],
    "mu": ["mu", "亩"],
    "1000acres": ["1000 acres", "1,000 acres", "thousand acres"],
}


@pytest.mark.parametrize("unit, spelling", [(u, s) for u, ss in SPELLINGS.items() for s in ss])
def test_common_spellings_name_their_unit(unit, spelling):
    assert normalise_area_unit(spelling) == unit


def test_the_factors_of_the_new_spellings():
    assert to_m2(1.0, "万亩") == pytest.approx(10000 * 10000 / 15)  # 666.67 ha
    assert from_m2(to_m2(1.0, "10k mu"), "ha") == pytest.approx(666.6666667)
    assert from_m2(to_m2(1.5, "10000 mu"), "mu") == pytest.approx(15000.0)
    assert to_m2(1.0, "1000 hectares") == 1e7
    assert to_m2(1.0, "km²") == to_m2(1.0, "sq km") == to_m2(1.0, "square kilometres") == 1e6
    assert M2_PER_UNIT["10000mu"] == pytest.approx(6666666.667)


@pytest.mark.parametrize("spelling", ["bigha", "dunam", "thousand", "k", "10000", "million ha", "sq mi", "hectares/1000"])
def test_ambiguous_or_unknown_units_are_refused_with_the_valid_list(spelling):
    with pytest.raises(InputError) as e:
        normalise_area_unit(spelling)
    msg = str(e.value)
    assert f"unknown area unit {spelling!r}" in msg
    assert "use one of m2, ha, 1000ha, km2, mu, 10000mu, acres, 1000acres" in msg


def test_a_table_in_10000_mu_reads_as_666_67_ha_per_unit(tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"code": ["130101", "130102"], "area": [1.5, 3.0]}).to_csv(path, index=False)
    stats = read_statistics(path, code_field="code", area_field="area", area_unit="万亩")
    assert stats.unit == "10000mu"
    assert (stats.table["area_m2"] / 1e4).tolist() == pytest.approx([1000.0, 2000.0])


def test_the_config_accepts_the_spellings():
    sec = StatisticsSection(path="s.csv", code_field="code", area_field="area", area_unit="10000 mu")
    assert sec.area_unit == "10000mu"
    assert StatisticsSection(path="s.csv", code_field="code", area_field="area", area_unit="sq km").area_unit == "km2"
    with pytest.raises(ValueError, match="unknown area unit 'bigha'"):
        StatisticsSection(path="s.csv", code_field="code", area_field="area", area_unit="bigha")
