"""Stable body ids over a chain of four epochs (hand-built masks on an equal-area grid, 1 ha pixels): a body
keeps the id it got in the first epoch through splits and merges, a retired id (lost, merged away) is never
issued again, and new bodies count up from the previous pair's next free id. Every id below is worked out by
hand from the matching rules of irrmap.mapping.water.change (epoch ids number bodies by their first pixel in
row-major order, so an epoch's own ids differ from the stable ones)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.mapping.water.bodies import bodies_to_files
from irrmap.mapping.water.change import change_to_files

HA = Grid("EPSG:6933", Affine(100, 0, 1_000_000, 0, -100, 5_000_000), 40, 60)


def _masks():
    e = [np.zeros(HA.shape, np.uint8) for _ in range(4)]
    # epoch 1 (ids = stable ids): P 1, Q 2, R 3, S 4
    e[0][2:6, 2:6] = 1; e[0][2:6, 20:30] = 1; e[0][10:13, 2:6] = 1; e[0][20:23, 40:44] = 1
    # epoch 2: N appears (own id 1), P stable (2), Q splits into Q1 (3, 16 ha of Q) and Q2 (4, 12 ha of Q), R lost, S grown (5)
    e[1][0:2, 50:54] = 1; e[1][2:6, 2:6] = 1; e[1][2:6, 18:24] = 1; e[1][2:6, 27:30] = 1; e[1][20:24, 40:44] = 1
    # epoch 3: P and Q1 merge (own id 1; overlaps P 16 ha, Q1 24 ha), Q2 stable (2), N lost, S stable (3), T appears (4)
    e[2][2:6, 2:24] = 1; e[2][2:6, 27:30] = 1; e[2][20:24, 40:44] = 1; e[2][30:33, 10:14] = 1
    # epoch 4: the merged body splits (own 1: 32 ha of it, own 2: 40 ha), a body appears where R was (3), Q2 lost, S (4), T (5)
    e[3][2:6, 2:10] = 1; e[3][2:6, 14:24] = 1; e[3][10:13, 2:6] = 1; e[3][20:24, 40:44] = 1; e[3][30:33, 10:14] = 1
    return e


# per pair: epoch-B pixel -> (stable id, status); lost: stable id; next free id
EXPECTED = [
    ({(0, 50): (5, "new"), (2, 2): (1, "stable"), (2, 18): (2, "split"), (2, 27): (6, "split"), (20, 40): (4, "grown")}, {3}, 7),
    ({(2, 2): (2, "merged"), (2, 27): (6, "stable"), (20, 40): (4, "stable"), (30, 10): (7, "new")}, {5}, 8),
    ({(2, 2): (8, "split"), (2, 14): (2, "split"), (10, 2): (9, "new"), (20, 40): (4, "stable"), (30, 10): (7, "stable")}, {6}, 10),
]


def _chain(tmp_path, run):
    for i, m in enumerate(_masks()):
        bodies_to_files(m, tmp_path / f"e{i}", grid=HA, min_area_m2=0, tile=16)
    previous = None
    for i in range(3):
        out = tmp_path / f"c{i}"
        run(out, tmp_path / f"e{i}", tmp_path / f"e{i + 1}", previous)
        previous = out


def _check(tmp_path, px_km2=0.01):
    for i, (by_pixel, lost, next_id) in enumerate(EXPECTED):
        change = pd.read_csv(tmp_path / f"c{i}" / "change.csv")
        with rasterio.open(tmp_path / f"e{i + 1}" / "body_id.tif") as src:
            own = src.read(1)
        with rasterio.open(tmp_path / f"c{i}" / "stable_id.tif") as src:
            sid, tags = src.read(1), src.tags()
        rows = change[change["id_b"] > 0].set_index("id_b")
        got = {rc: (int(rows.loc[own[rc], "body_id"]), rows.loc[own[rc], "status"]) for rc in by_pixel}
        assert got == by_pixel, f"pair {i + 1}->{i + 2}"
        assert set(change.loc[change["status"] == "lost", "body_id"]) == lost
        assert len(rows) == len(by_pixel) and int(tags["next_id"]) == next_id
        for rc, (stable, _) in by_pixel.items():
            assert (sid[own == own[rc]] == stable).all()
        assert (sid[own == 0] == 0).all()
    merged = pd.read_csv(tmp_path / "c1" / "change.csv").set_index("body_id").loc[2]
    assert merged["parents"] == "1;2" and merged["area_a_km2"] == pytest.approx((16 + 24) * px_km2, rel=1e-3)


def test_ids_stay_stable_over_four_epochs(tmp_path):
    _chain(tmp_path, lambda out, a, b, prev: change_to_files(out, a, b, previous=prev, tile=16))
    _check(tmp_path)


def test_cli_change_previous_gives_the_same_chain(tmp_path):
    def run(out, a, b, prev):
        assert main(["water", "change", str(out), str(a), str(b), *(["--previous", str(prev)] if prev else [])]) == 0

    _chain(tmp_path, run)
    _check(tmp_path)


def test_previous_of_another_epoch_is_refused(tmp_path, capsys):
    for i, m in enumerate(_masks()[:3]):
        bodies_to_files(m, tmp_path / f"e{i}", grid=HA, min_area_m2=0, tile=16)
    change_to_files(tmp_path / "c0", tmp_path / "e0", tmp_path / "e1", tile=16)
    with pytest.raises(InputError, match="not the bodies of epoch A"):  # c0 ends at e1, not at e0
        change_to_files(tmp_path / "x", tmp_path / "e0", tmp_path / "e2", previous=tmp_path / "c0", tile=16)
    assert main(["water", "change", str(tmp_path / "y"), str(tmp_path / "e2"), str(tmp_path / "e1"), "--previous", str(tmp_path / "e0")]) == 2
    assert "change.csv not found" in capsys.readouterr().err


def test_water_stage_chains_its_epochs(tmp_path):
    """The [water] stage of `irrmap run` over four epochs of scene stacks (the same masks: water spectrum on the
    water pixels, vegetation elsewhere, 30 m UTM pixels) gives the hand-computed stable ids in every change_A_B."""
    from irrmap.app.pipeline import run_pipeline
    from irrmap.app.stages import water

    water_px, land_px = (600, 700, 400, 300, 200, 100), (400, 800, 500, 3000, 2000, 1000)  # blue..swir2 x 1e4
    labels = ["2001", "2002", "2003", "2004"]
    for label, mask in zip(labels, _masks()):
        with rasterio.open(tmp_path / f"{label}.tif", "w", driver="GTiff", width=60, height=40, count=6, dtype="int16", crs="EPSG:32650",
                           transform=Affine(30, 0, 300000, 0, -30, 4200000), nodata=-9999) as dst:
            for i, (w, la) in enumerate(zip(water_px, land_px), start=1):
                dst.write(np.where(mask == 1, w, la).astype(np.int16), i)
                dst.set_band_description(i, ("blue", "green", "red", "nir", "swir1", "swir2")[i - 1])
        (tmp_path / f"{label}.json").write_text(f'{{"date": "{label}-07-01", "sensor": "LC08", "scale": 1e-4, "sun_elevation": 60, '
                                                 f'"sun_azimuth": 135}}')
    epochs = "\n".join(f'{label} = ["{label}.tif"]' for label in labels)
    (tmp_path / "c.toml").write_text('[run]\noutput_dir = "out"\n[grid]\ncrs = "EPSG:32650"\nbounds = [300000, 4198800, 301800, 4200000]\n'
                                     f"resolution = 30\n[water]\nmin_area_m2 = 0\n[water.epochs]\n{epochs}\n")
    run_pipeline(tmp_path / "c.toml", stages=[water.stage()])
    out = tmp_path / "out" / "water"
    for i, (a, b) in enumerate(zip(labels[:-1], labels[1:])):
        (tmp_path / f"e{i + 1}").mkdir(exist_ok=True)
        for name in ("body_id.tif",):
            (tmp_path / f"e{i + 1}" / name).write_bytes((out / b / name).read_bytes())
        (tmp_path / f"c{i}").mkdir(exist_ok=True)
        for name in ("change.csv", "stable_id.tif"):
            (tmp_path / f"c{i}" / name).write_bytes((out / f"change_{a}_{b}" / name).read_bytes())
    _check(tmp_path, px_km2=900e-6)
