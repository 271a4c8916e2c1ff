"""Messages of the statistics comparison that misled a new user (probeG items 3-7): a title line above the header,
per-unit coverage named with its own share of the WHOLE unit, the without-statistic warning in the words of
`evaluate statistics`, a 0..10 count map given as percent, and partly known cells of `mapping aggregate`.

Truth: the header line of the CSV as written here; unit and valid areas from pyproj.Geod on densified boxes (edges
along the parallels, as the boxes are drawn in EPSG:4326); hand counts of hand-built rasters and their numpy sums.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.errors import DataError, InputError

W, N, RES = 104.0, 38.4, 0.01
GEOD = Geod(ellps="WGS84")


def _geod_area(lon0, lon1, lat0, lat1) -> float:
    """Ellipsoidal area (m2) of a lon/lat box whose edges follow parallels and meridians (densified, 1e-4 deg)."""
    g = box(lon0, lat0, lon1, lat1).segmentize(1e-4)
    return abs(GEOD.geometry_area_perimeter(g)[0])


def _write(path, data, nodata=None):
    h, w = data.shape
    with rasterio.open(path, "w", driver="GTiff", width=w, height=h, count=1, dtype=data.dtype, crs="EPSG:4326",
                       transform=rasterio.transform.from_origin(W, N, RES, RES), nodata=nodata) as d:
        d.write(data, 1)
    return path


def _units(tmp_path, boxes: dict):
    gpd.GeoDataFrame([{"code": c, "geometry": box(*b)} for c, b in boxes.items()], crs="EPSG:4326").to_file(tmp_path / "u.geojson")
    return tmp_path / "u.geojson"


# ---- 1: a title line above the header ------------------------------------------------------------------------------
def _titled_table(tmp_path, n_cols=40):
    """A USGS-like CSV: a long title on line 1, the header (FIPS, area, and filler columns) on line 2."""
    names = ["FIPS", "area"] + [f"col{i}" for i in range(n_cols - 2)]
    lines = ["Version 2.0: Dieter et al. 2018 Estimated use of water in the United States, county-level data for 2015" + "," * (n_cols - 1),
             ",".join(names),
             ",".join(["610101", "12.5"] + ["0"] * (n_cols - 2)),
             ",".join(["610102", "7.5"] + ["0"] * (n_cols - 2))]
    p = tmp_path / "titled.csv"
    p.write_text("\n".join(lines) + "\n")
    return p


def _boxes_whole():
    return {"610101": (W, N - 0.2, W + 0.3, N), "610102": (W + 0.3, N - 0.2, W + 0.6, N)}


def test_statistics_check_names_the_header_line_and_skip_rows(tmp_path, capsys):
    units = _units(tmp_path, _boxes_whole())
    rc = main(["statistics", "check", str(_titled_table(tmp_path)), "--units", str(units), "--unit-field", "code",
               "--code-field", "FIPS", "--area-field", "area", "--area-unit", "ha"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "line 2" in err and "--skip-rows 1" in err  # the header is line 2 of the file as written above
    assert "Unnamed" not in err and "col30" not in err and len(err) < 500


def test_evaluate_statistics_names_the_header_line_and_skip_rows(tmp_path, capsys):
    units = _units(tmp_path, _boxes_whole())
    m = _write(tmp_path / "f.tif", np.full((20, 60), 0.5, "float32"), nodata=-1.0)
    rc = main(["evaluate", "statistics", str(m), "--units", str(units), "--unit-field", "code", "--levels", "county",
               "--stats", str(_titled_table(tmp_path)), "--stats-field", "FIPS", "--area-field", "area", "--area-unit", "ha"])
    err = capsys.readouterr().err
    assert rc == 2 and "line 2" in err and "--skip-rows 1" in err and "Unnamed" not in err


def test_config_table_names_its_own_key(tmp_path):
    from irrmap.core.statistics import read_statistics
    from irrmap.core.tables import TableFormat

    with pytest.raises(InputError) as e:
        read_statistics(_titled_table(tmp_path), code_field="FIPS", area_field="area", area_unit="ha",
                        fmt=TableFormat(options="[reconcile.tables.actual]"))
    assert "[reconcile.tables.actual].skip_rows = 1" in e.value.fix


def test_control_skip_rows_1_reads_the_table(tmp_path):
    """Control (passes on the old code too): with skip_rows = 1 the header of line 2 is read."""
    from irrmap.core.statistics import read_statistics

    s = read_statistics(_titled_table(tmp_path), code_field="FIPS", area_field="area", area_unit="ha", skip_rows=1)
    assert sorted(s.areas().round(3).to_dict().items()) == [("610101", 125000.0), ("610102", 75000.0)]


def test_long_column_list_is_shortened_with_its_count(tmp_path):
    from irrmap.core.tables import read_table

    with pytest.raises(InputError) as e:
        read_table(_titled_table(tmp_path), skip_rows=1, require=["NOPE"])
    assert "40 columns in all" in e.value.fix and "col37" not in e.value.fix


# ---- 2: units the map covers only partly ---------------------------------------------------------------------------
def test_no_estimable_unit_names_each_unit_with_its_whole_area_share(tmp_path):
    """Grid: lon W..W+0.6, lat N-0.4..N. Unit A lies over lon W..W+1.2 in the lower half (half of it on the grid,
    the map nodata on the left quarter of that part); unit B over lon W+0.3..W+0.9 in the upper half (half on the
    grid, all data). No unit is estimable; each is named with the share of its WHOLE area without data."""
    v = np.full((40, 60), 0.2, "float32")
    v[20:, :15] = -1.0  # nodata: lon W..W+0.15, lat N-0.4..N-0.2
    m = _write(tmp_path / "part.tif", v, nodata=-1.0)
    a, b = "610101", "610102"
    units = _units(tmp_path, {a: (W, N - 0.4, W + 1.2, N - 0.2), b: (W + 0.3, N - 0.2, W + 0.9, N)})
    stats = tmp_path / "s.csv"
    pd.DataFrame({"code": [a, b], "area": [10.0, 10.0]}).to_csv(stats, index=False)
    from irrmap.evaluation.workflow import statistics_agreement

    with pytest.raises(DataError) as e:
        statistics_agreement(m, units, "code", stats, "code", "area", "ha", levels=["county"])
    msg = e.value.what
    no_data_a = 1 - _geod_area(W + 0.15, W + 0.6, N - 0.4, N - 0.2) / _geod_area(W, W + 1.2, N - 0.4, N - 0.2)
    on_b = _geod_area(W + 0.3, W + 0.6, N - 0.2, N) / _geod_area(W + 0.3, W + 0.9, N - 0.2, N)
    assert f"no data on {100 * no_data_a:.1f} % of the unit's whole area" in msg  # 62.5 %, not the on-grid part's 25 %
    assert f"only {100 * on_b:.1f} % of the unit's area lies on the map's grid" in msg
    assert "so for all" not in msg
    assert msg.index(b) < msg.index(a)  # closest first: B has data on 50 %, A on 37.5 %
    assert "1.0 %" in msg and "99.0 %" in e.value.fix  # the rule: agreement.MAX_MISSING_SHARE


# ---- 3: the without-statistic warning in this command's words ------------------------------------------------------
def test_unit_without_statistic_warning_speaks_of_the_comparison(tmp_path, caplog):
    m = _write(tmp_path / "f.tif", np.full((20, 60), 0.5, "float32"), nodata=-1.0)
    units = _units(tmp_path, _boxes_whole())
    stats = tmp_path / "s.csv"
    pd.DataFrame({"code": ["610101"], "area": [100.0]}).to_csv(stats, index=False)
    from irrmap.evaluation.workflow import statistics_agreement

    with caplog.at_level(logging.WARNING):
        statistics_agreement(m, units, "code", stats, "code", "area", "ha", levels=["county"])
    msgs = [x for x in caplog.messages if "unit without statistic" in x]
    assert msgs and "comparison" in msgs[0] and "threshold maps" not in msgs[0] and "training" not in msgs[0]


# ---- 4: a count map given as percent -------------------------------------------------------------------------------
def _counts(dtype):
    v = (np.arange(40 * 60).reshape(40, 60) % 11).astype(dtype)  # 0..10, whole numbers: years irrigated
    return v


def test_float_count_map_as_percent_is_warned(tmp_path, caplog):
    from irrmap.evaluation.workflow import check_map_values

    p = _write(tmp_path / "yrs.tif", _counts("float32"), nodata=-1.0)
    with caplog.at_level(logging.WARNING):
        check_map_values(p, None, "percent")
    assert any("looks like counts" in x for x in caplog.messages)


def test_control_byte_count_map_warned_and_real_percent_not(tmp_path, caplog):
    """Control (byte map: warned by the old code too) and a float percent map with fractional values (never warned)."""
    from irrmap.evaluation.workflow import check_map_values

    with caplog.at_level(logging.WARNING):
        check_map_values(_write(tmp_path / "yb.tif", _counts("uint8"), nodata=255), None, "percent")
        assert any("looks like counts" in x for x in caplog.messages)
        caplog.clear()
        check_map_values(_write(tmp_path / "pc.tif", _counts("float32") * 2.5, nodata=-1.0), None, "percent")
    assert not any("looks like counts" in x for x in caplog.messages)


# ---- 5: partly known cells of mapping aggregate --------------------------------------------------------------------
def test_aggregate_reports_partly_known_cells(tmp_path, capsys):
    v = np.full((7, 7), 50, "uint8")  # 3x3 blocks: a 3 x 3 coarse grid, the last row/column past the map's edge
    v[0, 0] = 255  # block (0, 0): partly known
    v[3:6, 3:6] = 255  # block (1, 1): wholly nodata -> NaN, not partly known
    v[6, 6] = 255  # block (2, 2) = the single edge pixel (6, 6): wholly nodata
    v[4, 6] = 255  # block (1, 2): pixels (3..5, 6) on the map, one of them nodata -> partly known
    p = _write(tmp_path / "pct.tif", v, nodata=255)
    out = tmp_path / "agg.tif"
    rc = main(["mapping", "aggregate", str(p), "--factor", "3", "--scale", "0.01", "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 0 and "2 cells are partly known" in text  # hand count: blocks (0, 0) and (1, 2)
    with rasterio.open(out) as d:
        assert d.tags()["partly_known_cells"] == "2"
        agg = d.read(1)
    assert np.isnan(agg[1, 1]) and np.isnan(agg[2, 2])
    rows = np.array([abs(GEOD.polygon_area_perimeter([W, W + RES, W + RES, W], [N - (i + 1) * RES] * 2 + [N - i * RES] * 2)[0])
                     for i in range(7)])
    expect00 = 0.5 * (rows[0:3].sum() * 3 - rows[0])  # the sum of the 8 valid pixels only
    assert agg[0, 0] == pytest.approx(expect00, rel=1e-5)
