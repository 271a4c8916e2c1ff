"""`irrmap units rasterize`: the zone raster and its lookup CSV are one pair (never a new raster beside an old
CSV, even when interrupted between the writes), --name-field, a warning for units reaching beyond the grid;
`Grid.from_raster` on a missing or non-raster file; write errors of standalone commands."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
import rasterio
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core import atomic
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid

BOUNDS = ["100.0", "40.0", "100.4", "40.2"]


@pytest.fixture
def d(tmp_path):
    polys = [box(100.0, 40.0, 100.2, 40.2), box(100.2, 40.0, 100.4, 40.2)]
    gpd.GeoDataFrame({"code": ["650101", "650102"], "nm": ["Alpha", "Beta"]}, geometry=polys, crs="EPSG:4326").to_file(tmp_path / "fwd.gpkg")
    gpd.GeoDataFrame({"code": ["650102", "650101"], "nm": ["Beta", "Alpha"]}, geometry=polys[::-1], crs="EPSG:4326").to_file(tmp_path / "rev.gpkg")
    return tmp_path


def _rasterize(d, units, *extra, out="z.tif"):
    return main(["-q", "units", "rasterize", str(d / units), "--code-field", "code", "--bounds", *BOUNDS, "--resolution", "0.01",
                 *extra, "--out", str(d / out)])


def _zone1_code(d) -> tuple[int, str | None]:
    """(code under zone 1 in the raster: read back through the polygons' position, code of zone 1 in the CSV or None)."""
    with rasterio.open(d / "z.tif") as src:
        left_zone = int(src.read(1)[0, 0])  # the pixel at 100.0 E belongs to 650101
    csv = d / "z.csv"
    table = pd.read_csv(csv, dtype={"code": str}).set_index("zone")["code"] if csv.exists() else None
    return left_zone, (None if table is None else table[left_zone])


def test_the_pair_is_consistent_and_tagged(d):
    assert _rasterize(d, "fwd.gpkg") == 0
    assert _zone1_code(d) == (1, "650101")
    with rasterio.open(d / "z.tif") as src:
        assert src.tags()["zone_table_sha256"] == hashlib.sha256((d / "z.csv").read_bytes()).hexdigest()
    assert _rasterize(d, "rev.gpkg") == 0
    assert _zone1_code(d) == (2, "650101")


@pytest.mark.parametrize("fail_on", [".csv", ".tif"])
def test_an_interruption_between_the_writes_never_leaves_a_stale_csv(d, monkeypatch, fail_on):
    assert _rasterize(d, "fwd.gpkg") == 0
    real = os.replace

    def interrupted(src, dst, *a, **k):
        if str(dst).endswith(fail_on) and not Path(dst).name.startswith("."):
            raise KeyboardInterrupt  # Ctrl-C as the file is moved into place
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", interrupted)
    assert _rasterize(d, "rev.gpkg") == 130
    monkeypatch.setattr(os, "replace", real)
    zone, code = _zone1_code(d)
    # the raster holds the reversed order (zone 2 for 650101) or the old one (zone 1); a CSV, when there is one, agrees
    assert code is None or code == "650101"
    if code is not None:
        with rasterio.open(d / "z.tif") as src:
            assert src.tags()["zone_table_sha256"] == hashlib.sha256((d / "z.csv").read_bytes()).hexdigest()
    assert not [p.name for p in d.iterdir() if ".partial" in p.name]
    assert _rasterize(d, "rev.gpkg") == 0 and _zone1_code(d) == (2, "650101")  # the rerun repairs the pair


def test_an_interrupted_raster_write_keeps_the_old_pair(d, monkeypatch):
    import irrmap.core.raster_write as rw

    assert _rasterize(d, "fwd.gpkg") == 0
    before = ((d / "z.tif").read_bytes(), (d / "z.csv").read_bytes())
    monkeypatch.setattr(rw, "write_raster", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt()))
    assert _rasterize(d, "rev.gpkg") == 130
    assert ((d / "z.tif").read_bytes(), (d / "z.csv").read_bytes()) == before
    assert not [p.name for p in d.iterdir() if ".partial" in p.name]


def test_name_field_fills_the_name_column(d):
    assert _rasterize(d, "fwd.gpkg", "--name-field", "nm") == 0
    assert pd.read_csv(d / "z.csv", dtype={"code": str})["name"].tolist() == ["Alpha", "Beta"]


def test_units_beyond_the_grid_are_named_with_their_share(d, caplog):
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "units", "rasterize", str(d / "fwd.gpkg"), "--code-field", "code", "--bounds", "100.0", "40.0", "100.3", "40.2",
                     "--resolution", "0.01", "--out", str(d / "z.tif")]) == 0
    msg = [r.getMessage() for r in caplog.records if "beyond the grid" in r.getMessage()]
    assert len(msg) == 1 and "1 of 2 units reach beyond the grid" in msg[0] and "none wholly off it" in msg[0]
    assert "1 partly on it: 650102 (50 % of its" in msg[0] and "650101" not in msg[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert _rasterize(d, "fwd.gpkg") == 0
    assert "beyond the grid" not in caplog.text


# ---- section 2: the first raster of a command is missing or not a raster ----------------------------------
def test_grid_from_raster_names_a_missing_or_unreadable_file(tmp_path):
    with pytest.raises(InputError, match="no such raster file"):
        Grid.from_raster(tmp_path / "none.tif")
    (tmp_path / "preds.txt").write_text("a,b\n")
    with pytest.raises(InputError, match=r"preds.txt: cannot open raster: .*not recognized.*\(fix: give a raster GDAL reads"):
        Grid.from_raster(tmp_path / "preds.txt")


@pytest.mark.parametrize("argv", [["grid", "info", "{d}/none.tif"],
                                  ["units", "rasterize", "{d}/fwd.gpkg", "--code-field", "code", "--like", "{d}/none.tif", "--out", "{d}/z.tif"]])
def test_a_missing_first_raster_is_one_line_exit_2(d, capsys, argv):
    assert main([a.format(d=d) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err == f"irrmap: error: {d / 'none.tif'}: no such raster file (fix: check the path (a raster file, e.g. a GeoTIFF))\n"


# ---- section 3: write errors --------------------------------------------------------------------------
def test_write_error_fixes_name_no_config_key(d, capsys):
    (d / "file").write_text("x")
    assert _rasterize(d, "fwd.gpkg", out="file/z.tif") == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and "output_dir" not in err and "[run]" not in err
    assert all("[run]" not in fix for _, fix in atomic._CAUSES.values())


def test_enoent_on_a_pseudo_filesystem_is_not_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "disk_full", lambda path: True)  # /proc and /sys show 0 bytes free
    target = tmp_path / "x.tif"
    exc = FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(atomic.partial_path(target)))
    failure = atomic.write_failure(exc, target)
    assert failure is not None and "No space left" not in str(failure)
    assert str(failure).startswith(f"{target}: cannot write: No such file or directory")
    # a library's error without an OS code on a full disk is still reported as one
    assert "No space left on device" in str(atomic.write_failure(RuntimeError("Write failed"), target))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs a /proc pseudo-filesystem")
def test_out_under_proc_is_not_reported_as_a_full_disk(d, capsys):
    assert main(["-q", "units", "rasterize", str(d / "fwd.gpkg"), "--code-field", "code", "--bounds", *BOUNDS, "--resolution", "0.01",
                 "--out", "/proc/irrmap_test_x.tif"]) == 2
    err = capsys.readouterr().err
    assert "/proc/irrmap_test_x.tif: cannot write" in err and "No space left" not in err
