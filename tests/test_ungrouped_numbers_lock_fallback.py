"""Numbers that never group thousands are read, not refused or misread, and a folder that cannot be locked is
written without a lock (review of the table and lock changes):

- reference points in a ';' file with decimal-comma coordinates of exactly three decimals ("104,125") are 104.125
  degrees (were read as 104125 once "." was preferred for ambiguous coordinates);
- an AHP matrix exported with three decimals ("1.000,0.333,...") is the matrix it says (was refused as
  "can be read two ways");
- an output folder on a filesystem without locks (flock: ENOLCK, as on some NFS mounts) is written, with a warning,
  not a traceback."""

import errno
import logging

import numpy as np
import pytest
from irrmap.evaluation.points import read_points

from irrmap.app.cli.suitability_cmd import _ahp_matrix
from irrmap.core import output_lock as ol


def test_decimal_comma_coordinates_three_decimals(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("lon;lat;label\n104,125;38,875;1\n104,250;38,900;0\n", encoding="utf-8")
    pts = read_points(p, "label")
    assert np.allclose(pts.geometry.x, [104.125, 104.25]) and np.allclose(pts.geometry.y, [38.875, 38.9])


def test_decimal_point_coordinates_three_decimals_control(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text("lon,lat,label\n-98.125,38.875,1\n-98.250,38.900,0\n", encoding="utf-8")
    pts = read_points(p, "label")
    assert np.allclose(pts.geometry.x, [-98.125, -98.25])


def test_ahp_matrix_three_decimals(tmp_path):
    p = tmp_path / "ahp.csv"
    p.write_text("1.000,0.333,0.200,0.500\n3.000,1.000,0.500,2.000\n5.000,2.000,1.000,3.000\n2.000,0.500,0.333,1.000\n",
                 encoding="utf-8")
    m = _ahp_matrix(p)
    expected = np.array([[1, 0.333, 0.2, 0.5], [3, 1, 0.5, 2], [5, 2, 1, 3], [2, 0.5, 0.333, 1]])
    assert np.allclose(m, expected)


def test_ahp_matrix_fractions_control(tmp_path):
    p = tmp_path / "ahp.csv"
    p.write_text("1,1/3\n3,1\n", encoding="utf-8")
    assert np.allclose(_ahp_matrix(p), [[1, 1 / 3], [3, 1]])


@pytest.mark.parametrize("best_effort", [True, False])
def test_folder_without_locks_is_written(tmp_path, monkeypatch, caplog, best_effort):
    import fcntl

    real = fcntl.flock

    def no_locks(fd, op):
        if op & fcntl.LOCK_EX:
            raise OSError(errno.ENOLCK, "No locks available")
        return real(fd, op)

    monkeypatch.setattr(fcntl, "flock", no_locks)
    out = tmp_path / "out"
    with caplog.at_level(logging.DEBUG, logger="irrmap.core.output_lock"):
        with ol.output_lock(out, "test", "--out", best_effort=best_effort):
            (out / "x.txt").write_text("written")
    assert (out / "x.txt").read_text() == "written"
    assert any("cannot be locked" in r.getMessage() for r in caplog.records)



def test_fill_code_127_only_on_int8(tmp_path):
    """127 is int8's fill code only (CLASS_FILL_CODES' docstring): an int16 class map 0/1 holding 127 is not refused
    by the fill-code rule; the same int8 map is, with its 3 pixels of 127 counted."""
    import rasterio
    from rasterio.transform import from_origin

    from irrmap.core.errors import DataError
    from irrmap.evaluation.value_guards import check_fill_codes

    a = np.zeros((4, 4)); a[0, :2] = 1; a[3, :3] = 127
    for dtype in ("int16", "int8"):
        with rasterio.open(tmp_path / f"{dtype}.tif", "w", driver="GTiff", width=4, height=4, count=1, dtype=dtype,
                           crs="EPSG:32614", transform=from_origin(0, 120, 30, 30)) as dst:
            dst.write(a.astype(dtype), 1)
    info = {"n_valid": 16, "values": [0, 1, 127], "nodata": None}
    check_fill_codes(info | {"dtype": "int16"}, tmp_path / "int16.tif")
    with pytest.raises(DataError, match="3 valid pixels hold 127"):
        check_fill_codes(info | {"dtype": "int8"}, tmp_path / "int8.tif")
