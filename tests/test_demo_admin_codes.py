"""Demo admin codes are GB/T 2260 cn-adcodes at every demo size: `irrmap demo --rows 2048 --cols 2048` wrote
province prefixes 61..86 (61 was taken up to 38 provinces), and its own `irrmap run` refused the unit file
('63 codes are not 6-digit cn-adcode codes (e.g. 830101 ...)'). Regions of 23 to 38 provinces (demos of about
3.7 to 6.2 Mpx) were affected; smaller and larger demos keep their codes (and bytes)."""

from __future__ import annotations

import re

import pytest

from irrmap.app.demo.admin import admin_units, province_prefix_start
from irrmap.app.demo.spec import DemoSpec
from irrmap.core.units import AdminUnits

# GB/T 2260 province prefixes written out by hand (11 Beijing .. 82 Macao): the independent truth
GBT2260_RANGE = set(range(11, 83))


@pytest.mark.parametrize("n_prov", range(3, 61))  # DemoSpec gives clip(n_counties // 16, 3, 60) provinces
def test_every_province_count_gets_gbt2260_prefixes(n_prov):
    first = province_prefix_start(n_prov)
    assert set(range(first, first + n_prov)) <= GBT2260_RANGE


def test_small_and_large_demos_keep_their_prefixes():
    # the default demo (600 x 800: 48 counties, 3 provinces) and the test demos keep 61..; 39+ provinces kept 11..
    assert [province_prefix_start(n) for n in (3, 12, 22)] == [61, 61, 61]
    assert [province_prefix_start(n) for n in (23, 38, 39, 60)] == [11, 11, 11, 11]


def test_too_many_provinces_are_refused():
    with pytest.raises(ValueError, match="11..82"):
        province_prefix_start(73)


def test_a_2048_square_demo_writes_units_its_run_reads(tmp_path):
    spec = DemoSpec(rows=2048, cols=2048)  # 419 counties, 26 provinces: prefixes 61..86 before
    units = admin_units(spec)
    counties = units["counties"]
    assert len(counties) == 419
    prefixes = {int(c[:2]) for c in counties["code"]}
    assert len(prefixes) == 26 and prefixes <= GBT2260_RANGE
    assert all(re.fullmatch(r"\d{6}", c) for c in counties["code"])
    path = tmp_path / "admin.gpkg"
    counties.to_file(path, layer="counties")
    read = AdminUnits.read([path], "code", hierarchy="cn-adcode", layer="counties",
                           parent_fields={"city": "city_code", "province": "province_code"})
    assert len(read) == 419
