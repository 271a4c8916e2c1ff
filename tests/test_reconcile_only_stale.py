"""`irrmap reconcile --only` after a statistics table was edited: a unit left out of --only whose saved result was made
from other statistics is named with the reason (a WARNING and an error, exit 2) and nothing is written, so the maps,
units.csv, agreement.csv and statistics_reconciled.csv never disagree; rerunning it as the error says brings every
output to the new statistics. Expected values are the tables' own numbers (1000 ha = 1e7 m2) and the mapped area is
counted from fraction.tif with rasterio polygon burning and pyproj.Geod pixel areas."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import rasterio
from pyproj import Geod
from rasterio.features import rasterize
from shapely.geometry import box

from irrmap.app.cli import main
from reconcile_project import table_section, write_box_units, write_inputs, write_reconcile_config

KHA = 1e7
LEFT, TOP, RES, N = 100.0, 40.0, 0.01, 20
CODES = ["610101", "610102", "620101", "620102"]  # column strips of 5 pixels; provinces 610000 and 620000
BOXES = {c: box(LEFT + 0.05 * i, TOP - 0.2, LEFT + 0.05 * (i + 1), TOP) for i, c in enumerate(CODES)}


def _project(folder, values):
    rng = np.random.default_rng(3)
    write_inputs(folder, {name: rng.uniform(0.2, 1.0, (N, N)) for name in ("cropland", "probability")}, LEFT, TOP, RES)
    write_box_units(folder, {c: b.bounds for c, b in BOXES.items()})
    _table(folder, values)
    return write_reconcile_config(folder, LEFT, TOP, N, N, RES, reconcile='by = "province"\n', tables=table_section("county"))


def _table(folder, values):
    (folder / "county.csv").write_text("code,area_kha\n" + "".join(f"{c},{v}\n" for c, v in zip(CODES, values)))


def _mapped(out) -> dict:
    """m2 per county: fraction x Geod pixel area, summed over the pixels whose centre is in the county."""
    with rasterio.open(out / "fraction.tif") as src:
        f, t = np.nan_to_num(src.read(1).astype(float)), src.transform
    geod = Geod(ellps="WGS84")
    rows = [abs(geod.polygon_area_perimeter([t.c, t.c + t.a, t.c + t.a, t.c],
                                            [t.f + r * t.e, t.f + r * t.e, t.f + (r + 1) * t.e, t.f + (r + 1) * t.e])[0]) for r in range(N)]
    zones = rasterize([(b, i + 1) for i, b in enumerate(BOXES.values())], out_shape=f.shape, transform=t)
    return {c: float((f * np.array(rows)[:, None])[zones == i + 1].sum()) for i, c in enumerate(CODES)}


def test_only_refuses_a_province_whose_statistics_changed_and_its_rerun_updates_every_output(tmp_path, caplog, capsys):
    cfg = _project(tmp_path, [0.3, 0.3, 0.3, 0.3])
    assert main(["-q", "run", str(cfg)]) == 0
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = tmp_path / "output" / "reconcile"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    _table(tmp_path, [0.5, 0.3, 0.3, 0.3])  # 610101 edited: 0.3 -> 0.5 (1000 ha) = 3 -> 5 km2
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "reconcile", str(cfg), "--only", "620000"]) == 2
    err = capsys.readouterr().err
    assert "the saved result of province 610000 is out of date: its statistics changed (610101: 3 -> 5 km2)" in caplog.text
    assert "year None" not in caplog.text  # a table without years has no year to name
    assert "1 province reconciled earlier no longer matches its inputs (610000: its statistics changed (610101: 3 -> 5 km2))" in err
    assert "--only 620000 610000" in err and err.count("\n") == 1
    # nothing was written: every output is still the consistent set of the earlier run
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # the fix the error gives
    assert main(["-q", "reconcile", str(cfg), "--only", "620000", "610000"]) == 0
    stats = pd.read_csv(out / "statistics_reconciled.csv", dtype={"code": str}).set_index("code")["area_m2"]
    units = pd.read_csv(out / "units.csv", dtype={"code": str}).set_index("code")
    agree = pd.read_csv(out / "agreement.csv", dtype={"code": str}).set_index("code")
    assert stats["610101"] == pytest.approx(0.5 * KHA) and units.loc["610101", "target_m2"] == pytest.approx(0.5 * KHA)
    assert agree.loc["610101", "statistic_m2"] == pytest.approx(0.5 * KHA)
    mapped = _mapped(out)
    pixel = abs(Geod(ellps="WGS84").polygon_area_perimeter([0, RES, RES, 0], [TOP, TOP, TOP - RES, TOP - RES])[0])
    for c, v in zip(CODES, [0.5, 0.3, 0.3, 0.3]):
        assert mapped[c] == pytest.approx(v * KHA, abs=pixel / 2)  # the nearest rule: within half a pixel's cropland
        assert agree.loc[c, "mapped_m2"] == pytest.approx(mapped[c], rel=1e-6)


def test_only_on_fresh_outputs_runs_the_unit_and_names_the_ones_never_run(tmp_path, caplog):
    cfg = _project(tmp_path, [0.3, 0.3, 0.3, 0.3])
    assert main(["-q", "run", str(cfg)]) == 0
    with caplog.at_level(logging.INFO):
        assert main(["-q", "reconcile", str(cfg), "--only", "620000"]) == 0
    assert "never run, so not in the maps yet: province 610000" in caplog.text
    units = pd.read_csv(tmp_path / "output" / "reconcile" / "units.csv", dtype={"code": str})
    assert sorted(units["code"]) == ["620101", "620102"]


def test_only_refuses_a_saved_result_made_with_another_probability_scale(tmp_path, caplog, capsys):
    """[reconcile].probability_scale is part of every job's fingerprint: the saved results of a full reconcile made with
    scale 1.0 do not belong to a config that now says 0.5, so `--only` one province refuses to merge the other's."""
    cfg = _project(tmp_path, [0.3, 0.3, 0.3, 0.3])
    assert main(["-q", "run", str(cfg)]) == 0
    assert main(["-q", "reconcile", str(cfg)]) == 0
    out = tmp_path / "output" / "reconcile"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    cfg.write_text(cfg.read_text().replace("probability_scale = 1.0", "probability_scale = 0.5"))
    capsys.readouterr()
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "reconcile", str(cfg), "--only", "620000"]) == 2
    assert "the saved result of province 610000 is out of date: the run's rasters (zones, probability, cropland), " \
           "[reconcile].probability_scale or units changed" in caplog.text
    assert "--only 620000 610000" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    # with the scale back, the saved results are the jobs' own again
    cfg.write_text(cfg.read_text().replace("probability_scale = 0.5", "probability_scale = 1.0"))
    assert main(["-q", "reconcile", str(cfg), "--only", "620000"]) == 0
