"""Reference labels coded unlike the map (1/2 against 0/1), and admin units wholly off the map's grid.

Truth: a stratified sample written here with known agreement (two strata, equal to the map classes), its overall
accuracy computed by hand with the stratified estimator sum_h W_h * p_h (Olofsson et al. 2014, eq. 1 with strata as
map classes); unit shares on the grid from the boxes' coordinates (a box wholly beyond the map's bounds has share 0).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from irrmap.evaluation.agreement import mapped_area_by_unit
from irrmap.evaluation.area_estimation import check_label_sets
from irrmap.evaluation.workflow import area_from_samples, read_map
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.core.units import AdminUnits

SIZES = {"0": 9000, "1": 1000}
N_H, WRONG = 50, (5, 10)  # 50 units per stratum; 5 wrong in stratum 0, 10 in stratum 1


def _tables(tmp_path, not_irrigated="0"):
    rows = []
    for h, wrong in zip(("0", "1"), WRONG):
        m = int(h)
        for i in range(N_H):
            r = m if i >= wrong else 1 - m
            rows.append((h, m, "1" if r == 1 else not_irrigated))
    s = tmp_path / f"s{not_irrigated}.csv"
    pd.DataFrame(rows, columns=["stratum", "map", "reference"]).to_csv(s, index=False)
    n = tmp_path / "n.csv"
    pd.DataFrame({"stratum": list(SIZES), "size": list(SIZES.values())}).to_csv(n, index=False)
    return s, n


def test_reference_coded_1_2_against_0_1_map_is_refused(tmp_path, capsys):
    s01, n = _tables(tmp_path)
    est, _ = area_from_samples(s01, n)
    oa = sum(SIZES[h] / 10000 * (N_H - w) / N_H for h, w in zip(("0", "1"), WRONG))  # 0.9 * 0.9 + 0.1 * 0.8 = 0.89
    assert est.overall_accuracy == pytest.approx(oa)
    s12, _ = _tables(tmp_path, not_irrigated="2")  # 1 = irrigated, 2 = not: before OA 0.08 with exit 0
    with pytest.raises(DataError) as e:
        area_from_samples(s12, n)
    msg = str(e.value)
    assert "column 'reference'" in msg and "['2']" in msg and "'2' (" in msg and "column 'map'" in msg
    assert "recode the reference column" in e.value.fix
    assert main(["evaluate", "area", "--samples", str(s12), "--strata", str(n)]) == 2
    assert "coded differently" in capsys.readouterr().err


def test_label_sets_that_may_be_genuine_pass():
    check_label_sets(["1", "2"], ["2", "3"])  # multi-class codes, one class missing on each side of a small sample
    check_label_sets(["0", "1"], ["0", "1", "2"])  # a reference class the map never shows (nested)
    with pytest.raises(DataError):
        check_label_sets(["1", "0", "1"], ["1", "2"])


def _map(tmp_path):
    p = tmp_path / "m.tif"
    with rasterio.open(p, "w", driver="GTiff", width=20, height=10, count=1, dtype="float32", crs="EPSG:4326",
                       transform=from_origin(100.0, 40.0, 0.1, 0.1)) as d:  # 100..102 E, 39..40 N
        d.write(np.full((10, 20), 0.5, np.float32), 1)
    return p


def test_unit_wholly_off_the_grid_is_named_so(tmp_path):
    units = gpd.GeoDataFrame({"code": ["1", "2", "3"]}, geometry=[box(100.2, 39.2, 100.8, 39.8),  # inside
                                                                   box(101.5, 39.2, 102.5, 39.8),  # half off (east)
                                                                   box(105.0, 39.2, 105.6, 39.8)],  # wholly off
                             crs="EPSG:4326")
    units.to_file(tmp_path / "u.gpkg")
    u = AdminUnits.read(tmp_path / "u.gpkg", "code", hierarchy="none")
    mapped = mapped_area_by_unit(read_map(_map(tmp_path)), u)
    why = mapped.attrs["not_estimable"]
    assert np.isfinite(mapped["1"]) and np.isnan(mapped["2"]) and np.isnan(mapped["3"])
    assert "lies wholly off the map's grid" in why["3"] and "0.0 %" not in why["3"]  # before: "only 0.0 % ... ends inside it"
    assert why["2"].startswith("only 50.") and "wholly" not in why["2"]
