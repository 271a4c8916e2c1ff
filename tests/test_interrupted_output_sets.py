"""A command that writes several files (an output set, irrmap.core.output_set) never leaves a folder that mixes
two runs' files unmarked: `irrmap water bodies` stopped while writing keeps the earlier run's files as they were;
stopped while renaming (a kill between two renames) it leaves an "incomplete" marker, which `irrmap water change`
refuses (exit 2, naming the fix), as it refuses a member replaced by another run's file. Interruptions are
simulated deterministically (the table writer or a rename raising KeyboardInterrupt)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
import irrmap.mapping.water.bodies as bodies_mod
from irrmap.mapping.water.bodies import bodies_to_files
from irrmap.mapping.water.change import change_to_files

from conftest import as_dataarray

HA = Grid("EPSG:6933", Affine(100, 0, 1_000_000, 0, -100, 5_000_000), 40, 60)  # equal-area, 1 ha pixels
FILES = ("body_id.tif", "water.tif", "bodies.parquet", "bodies.gpkg")
BIG = 100_000.0  # m2: 10 pixels; the 2 x 2 bodies (4 ha) fall below it


def _masks():
    a = np.zeros(HA.shape, np.uint8)
    a[2:10, 2:10] = 1            # 64 ha
    a[2:10, 20:30] = 1           # 80 ha
    for c in range(40, 58, 4):   # five small bodies of 4 ha
        a[20:22, c:c + 2] = 1
    b = a.copy()
    b[2:10, 20:30] = 0
    b[2:6, 20:30] = 1            # shrunk to 40 ha
    b[30:33, 2:6] = 255          # unknown
    return a, b


def _write_mask(path: Path, values) -> Path:
    return write_raster(path, as_dataarray(values, HA), nodata=255, dtype="uint8")


def _bytes(folder: Path) -> dict:
    return {n: (folder / n).read_bytes() for n in FILES if (folder / n).exists()}


def _cli(*argv) -> int:
    return main(["-q", "water", *map(str, argv)])


@pytest.fixture
def masks(tmp_path):
    a, b = _masks()
    return _write_mask(tmp_path / "m95.tif", a), _write_mask(tmp_path / "m20.tif", b)


def test_stopped_while_writing_keeps_the_earlier_set(tmp_path, masks, monkeypatch, capsys):
    """The prober's case: `water bodies` with another --min-area-m2 stopped after its rasters, before its tables."""
    m95, m20 = masks
    o = tmp_path / "o"
    assert _cli("bodies", "--min-area-m2", 0, o, m20) == 0
    before = _bytes(o)

    def stopped(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(bodies_mod, "write_body_table", stopped)
    assert _cli("bodies", "--min-area-m2", BIG, o, m20) == 130
    monkeypatch.undo()
    assert _bytes(o) == before  # not a mix: every file is still the first run's
    assert not [p.name for p in o.iterdir() if ".partial" in p.name]  # no partial file left
    assert _cli("bodies", "--min-area-m2", BIG, tmp_path / "b95", m95) == 0
    capsys.readouterr()
    # the folder is the complete min-area-0 run: `water change` sees its real setting and refuses the pair
    assert _cli("change", tmp_path / "chg", tmp_path / "b95", o) == 2
    assert "min_area_m2" in capsys.readouterr().err
    assert not (tmp_path / "chg" / "change.csv").exists()


def test_killed_between_renames_is_refused(tmp_path, masks, monkeypatch, capsys):
    """A stop that lands between two renames of the set (a kill; SIGINT / SIGTERM are held back there): the folder
    is marked incomplete and `water change` refuses it, naming the fix."""
    m95, m20 = masks
    o = tmp_path / "o"
    assert _cli("bodies", "--min-area-m2", 0, o, m20) == 0
    assert _cli("bodies", "--min-area-m2", BIG, tmp_path / "b95", m95) == 0
    real = os.replace

    def replace(src, dst, *a, **k):
        if Path(dst) == o / "bodies.parquet":  # after body_id.tif and water.tif were renamed into place
            raise KeyboardInterrupt
        return real(src, dst, *a, **k)

    monkeypatch.setattr(os, "replace", replace)
    assert _cli("bodies", "--min-area-m2", BIG, o, m20) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert _cli("change", tmp_path / "chg", tmp_path / "b95", o) == 2
    err = capsys.readouterr().err
    assert "incomplete" in err and str(o) in err and "rerun `irrmap water bodies" in err, err
    assert not (tmp_path / "chg" / "change.csv").exists()
    with pytest.raises(InputError, match="incomplete"):
        change_to_files(tmp_path / "chg", tmp_path / "b95", o)
    # the run again, to its end: accepted, and the change is that of two min-area runs
    assert _cli("bodies", "--min-area-m2", BIG, o, m20) == 0
    assert _cli("change", tmp_path / "chg", tmp_path / "b95", o) == 0
    change = pd.read_csv(tmp_path / "chg" / "change.csv")
    assert len(change) == 2 and set(change["status"]) == {"stable", "shrunk"}
    assert change["change_pct"].min() == pytest.approx(-50.0)


def test_member_of_another_run_is_refused(tmp_path, masks):
    m95, m20 = masks
    for name, m, area in (("a", m95, BIG), ("b", m20, BIG), ("b0", m20, 0.0)):
        bodies_to_files(m, tmp_path / name, min_area_m2=area, tile=16)
    change_to_files(tmp_path / "ok", tmp_path / "a", tmp_path / "b", tile=16)
    shutil.copyfile(tmp_path / "b0" / "bodies.parquet", tmp_path / "b" / "bodies.parquet")  # a table of another run
    with pytest.raises(InputError, match="bodies.parquet was replaced") as e:
        change_to_files(tmp_path / "bad", tmp_path / "a", tmp_path / "b", tile=16)
    assert e.value.where == str(tmp_path / "b" / "bodies.parquet") and "rerun `irrmap water bodies" in e.value.fix


def test_rerun_removes_members_it_does_not_write_and_markers_are_deterministic(tmp_path):
    a, _ = _masks()
    pers = np.where(a == 1, 2, a).astype(np.uint8)
    bodies_to_files(a, tmp_path / "o", grid=HA, min_area_m2=0, tile=16, persistence=pers)
    assert (tmp_path / "o" / "persistence.tif").is_file()
    paths = bodies_to_files(a, tmp_path / "o", grid=HA, min_area_m2=0, tile=16)
    assert "persistence" not in paths and not (tmp_path / "o" / "persistence.tif").exists()  # not an earlier run's layer
    bodies_to_files(a, tmp_path / "p", grid=HA, min_area_m2=0, tile=16)
    from irrmap.core.output_set import marker_path

    marker = marker_path(tmp_path / "o", "bodies")
    assert marker.read_bytes() == marker_path(tmp_path / "p", "bodies").read_bytes()
    assert json.loads(marker.read_text())["complete"] is True
    assert _bytes(tmp_path / "o") == _bytes(tmp_path / "p")


def test_folder_without_marker_is_read_with_a_warning(tmp_path, caplog):
    a, b = _masks()
    for name, m in (("a", a), ("b", b)):
        bodies_to_files(m, tmp_path / name, grid=HA, min_area_m2=0, tile=16)
    from irrmap.core.output_set import marker_path

    marker_path(tmp_path / "a", "bodies").unlink()  # as an irrmap without output-set markers wrote it
    with caplog.at_level(logging.WARNING):
        paths = change_to_files(tmp_path / "c", tmp_path / "a", tmp_path / "b", tile=16)
    assert paths["change"].is_file()
    assert any("no .bodies.set.json marker" in r.getMessage() and "fix:" in r.getMessage() for r in caplog.records)


def test_error_while_writing_names_the_final_file_and_removes_partials(tmp_path):
    from irrmap.core.errors import DataError
    from irrmap.core.output_set import output_set

    with pytest.raises(DataError) as e:
        with output_set(tmp_path, "t", ("x.csv", "y.csv")) as s:
            s.path("x.csv").write_text("1\n")
            raise DataError("bad", str(s.path("y.csv")), "fix")
    assert e.value.where == str(tmp_path / "y.csv")
    assert list(tmp_path.iterdir()) == []


def test_stop_signal_waits_for_the_renames():
    from irrmap.core.output_set import _stops_held

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGINT, handler)
    done = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with _stops_held():
                os.kill(os.getpid(), signal.SIGINT)
                done.append("renamed")  # not stopped in the block
            done.append("after")
    finally:
        signal.signal(signal.SIGINT, old)
    assert done == ["renamed"]


def test_thresholds_stopped_before_its_table_keeps_the_earlier_set(tmp_path, monkeypatch):
    """`irrmap training thresholds` (<score>.tif, then thresholds.csv): a run with other statistics stopped while
    writing the table leaves the earlier map and table, not a new map beside the old table."""
    import geopandas as gpd
    from shapely.geometry import box

    g = Grid.from_bounds(100.0, 40.0, 100.4, 40.2, 0.005, "EPSG:4326")
    rng = np.random.default_rng(4)
    write_raster(tmp_path / "sevi.tif", as_dataarray(rng.random(g.shape).astype(np.float32), g), cog=False)
    frac = np.where(rng.random(g.shape) < 0.6, rng.random(g.shape), 0).astype(np.float32)
    write_raster(tmp_path / "crop.tif", as_dataarray(frac, g), cog=False)
    gpd.GeoDataFrame({"code": ["650101", "650102"]}, geometry=[box(100.0, 40.0, 100.2, 40.2), box(100.2, 40.0, 100.4, 40.2)],
                     crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    for name, ha in (("s1.csv", [3000.0, 3000.0]), ("s2.csv", [1000.0, 2000.0])):
        pd.DataFrame({"county": ["650101", "650102"], "irr_ha": ha}).to_csv(tmp_path / name, index=False)
    out = tmp_path / "thr"

    def run(stats):
        return main(["-q", "training", "thresholds", "--score", str(tmp_path / "sevi.tif"), "--cropland", str(tmp_path / "crop.tif"),
                     "--units", str(tmp_path / "u.gpkg"), "--unit-field", "code", "--stats", str(tmp_path / stats), "--stats-field",
                     "county", "--area-field", "irr_ha", "--area-unit", "ha", "--out", str(out)])

    assert run("s1.csv") == 0
    before = {n: (out / n).read_bytes() for n in ("sevi.tif", "thresholds.csv")}
    real = pd.DataFrame.to_csv

    def to_csv(self, path=None, *a, **k):
        if path is not None and "thresholds.csv" in str(path):
            raise KeyboardInterrupt
        return real(self, path, *a, **k)

    monkeypatch.setattr(pd.DataFrame, "to_csv", to_csv)
    assert run("s2.csv") == 130
    monkeypatch.undo()
    assert {n: (out / n).read_bytes() for n in before} == before
    assert run("s2.csv") == 0
    assert (out / "sevi.tif").read_bytes() != before["sevi.tif"]
