"""Change of water bodies where the other epoch did not see them (cloud, shadow, snow, fill = 255): hand-built
pairs on an equal-area grid (1 ha pixels), so every area is a pixel count; the unknown areas, the statuses
unobserved / partly_observed and the totals that leave those bodies out are checked against counts by hand and
numpy. Also the NaN guards of --tolerance and --min-area-m2."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.errors import InputError
from irrmap.core.grid import Grid
from irrmap.mapping.water.bodies import bodies_to_files, body_table
from irrmap.mapping.water.change import change_to_files, change_totals, large_vs_small, match_bodies
from irrmap.mapping.water.labels import label_windowed

from conftest import as_dataarray

HA = Grid("EPSG:6933", Affine(100, 0, 1_000_000, 0, -100, 5_000_000), 40, 60)  # equal-area, 1 ha pixels
KM2_PER_PX = 0.01
M2_PER_PX = 1e4


def _pair():
    """(A, B) water masks 1 / 0 / 255 with, by hand:
    - P: a lake of 4 x 6 = 24 px seen in both epochs (stable);
    - Q: a lake of 4 x 4 = 16 px in B whose whole footprint was under cloud in A ("new" by overlap) -> unobserved;
    - R: a lake of 3 x 4 = 12 px in A under cloud in B ("lost" by overlap) -> unobserved;
    - S: a lake of 4 x 10 = 40 px in B; in A only its left 4 x 2 = 8 px were clear (water), the other 32 px cloud
      ("grown" +400 % by overlap) -> partly_observed, 32 px unknown in A;
    - T: a lake of 3 x 3 = 9 px new in B over clear land in A -> new (no unknown);
    - U: a lake of 2 x 5 = 10 px in A, 9 of them water in B and 1 under cloud in B -> stable with 1 px unknown
      (share 0.1 is not above the tolerance 0.10)."""
    A = np.zeros(HA.shape, np.uint8)
    B = A.copy()
    A[2:6, 2:8] = 1; B[2:6, 2:8] = 1                        # P
    A[2:6, 12:16] = 255; B[2:6, 12:16] = 1                  # Q
    A[10:13, 2:6] = 1; B[10:13, 2:6] = 255                  # R
    A[20:24, 2:4] = 1; A[20:24, 4:12] = 255; B[20:24, 2:12] = 1   # S
    B[30:33, 30:33] = 1                                     # T
    A[30:32, 40:45] = 1; B[30:32, 40:45] = 1; B[30, 44] = 255     # U
    return A, B


def _epoch(mask):
    labels = label_windowed(mask, tile=16).labels.values
    return body_table(labels, grid=HA, tile=16, unknown=as_dataarray(mask, HA)), as_dataarray(labels, HA)


def _change(A, B, **kw):
    (ta, la), (tb, lb) = _epoch(A), _epoch(B)
    ch = match_bodies(ta, la, tb, lb, classes_a=as_dataarray(A, HA), classes_b=as_dataarray(B, HA), **kw)
    return ch.table, la.values, lb.values


def _row(t, ids, r, c, col="id_b"):
    return t.set_index(col).loc[ids[r, c]]


def test_unknown_areas_and_statuses_by_hand():
    A, B = _pair()
    t, la, lb = _change(A, B)
    expect = {  # (row, col) in B: status, status_overlap, unknown_a px, unknown_b px, area_a px, area_b px
        (2, 2): ("stable", "stable", 0, 0, 24, 24),
        (2, 12): ("unobserved", "new", 16, 0, 0, 16),
        (20, 2): ("partly_observed", "grown", 32, 0, 8, 40),
        (30, 30): ("new", "new", 0, 0, 0, 9),
        (30, 40): ("stable", "stable", 0, 1, 10, 9),
    }
    for (r, c), (status, overlap, ua, ub, aa, ab) in expect.items():
        row = _row(t, lb, r, c)
        assert row["status"] == status and row["status_overlap"] == overlap, (r, c)
        assert row["unknown_a_m2"] == pytest.approx(ua * M2_PER_PX) and row["unknown_b_m2"] == pytest.approx(ub * M2_PER_PX)
        assert row["area_a_km2"] == pytest.approx(aa * KM2_PER_PX) and row["area_b_km2"] == pytest.approx(ab * KM2_PER_PX)
    lost = t[t["id_b"] == 0].set_index("id_a").loc[la[10, 2]]
    assert lost["status"] == "unobserved" and lost["status_overlap"] == "lost"
    assert lost["unknown_b_m2"] == pytest.approx(12 * M2_PER_PX) and lost["unknown_share"] == pytest.approx(1.0)
    assert _row(t, lb, 20, 2)["unknown_share"] == pytest.approx(32 / 40)
    assert _row(t, lb, 30, 40)["unknown_share"] == pytest.approx(1 / 10)
    # the existing columns are all still there, in their order
    assert list(t.columns[:10]) == ["body_id", "id_a", "id_b", "area_a_km2", "area_b_km2", "change_km2", "change_pct", "status",
                                    "parents", "size_class"]


def test_unknown_areas_equal_a_numpy_count_per_body():
    """unknown_a_m2 of each B body = numpy count of its pixels that are 255 in A (1 ha each), on a random pair."""
    rng = np.random.default_rng(7)
    A = np.where(rng.random(HA.shape) < 0.45, 1, 0).astype(np.uint8)
    B = np.where(rng.random(HA.shape) < 0.45, 1, 0).astype(np.uint8)
    A[rng.random(HA.shape) < 0.2] = 255
    B[rng.random(HA.shape) < 0.2] = 255
    t, la, lb = _change(A, B)
    rows = t[t["id_b"] > 0].set_index("id_b")
    for k in rows.index:
        assert rows.loc[k, "unknown_a_m2"] == pytest.approx(((lb == k) & (A == 255)).sum() * M2_PER_PX)
    lost = t[t["id_b"] == 0].set_index("id_a")
    for k in lost.index:
        assert lost.loc[k, "unknown_b_m2"] == pytest.approx(((la == k) & (B == 255)).sum() * M2_PER_PX)
    # the unknown passed on to B rows adds up to each A body's unknown-in-B area (shared like area_a)
    total_b = sum(((la == k) & (B == 255)).sum() for k in np.unique(la[la > 0])) * M2_PER_PX
    assert t["unknown_b_m2"].sum() == pytest.approx(total_b)


def test_totals_leave_unobserved_bodies_out():
    A, B = _pair()
    t, _, _ = _change(A, B)
    totals = change_totals(t)
    # observed rows only: P 24 -> 24, T 0 -> 9, U 10 -> 9 (km2 = px / 100)
    assert totals["area_a_km2"].sum() == pytest.approx((24 + 10) * KM2_PER_PX)
    assert totals["area_b_km2"].sum() == pytest.approx((24 + 9 + 9) * KM2_PER_PX)
    # left out: Q (0 -> 16), R (12 -> 0), S (8 -> 40)
    assert totals["left_out_area_a_km2"].sum() == pytest.approx((12 + 8) * KM2_PER_PX)
    assert totals["left_out_area_b_km2"].sum() == pytest.approx((16 + 40) * KM2_PER_PX)
    assert totals["n_unobserved"].sum() == 2 and totals["n_partly_observed"].sum() == 1 and totals["n_bodies"].sum() == len(t) == 6
    lvs = large_vs_small(t)
    assert lvs["change_km2"].sum() == pytest.approx((42 - 34) * KM2_PER_PX)


def test_change_files_carry_the_unknown_columns(tmp_path):
    A, B = _pair()
    for name, m in (("a", A), ("b", B)):
        bodies_to_files(as_dataarray(m, HA), tmp_path / name, min_area_m2=0, tile=16)
    paths = change_to_files(tmp_path / "c", tmp_path / "a", tmp_path / "b", tile=16)
    t = pd.read_csv(paths["change"])
    assert sorted(t["status"]) == sorted(["stable", "unobserved", "unobserved", "partly_observed", "new", "stable"])
    assert t["unknown_a_m2"].sum() == pytest.approx((16 + 32) * M2_PER_PX)
    tot = pd.read_csv(paths["totals_size_class"])
    assert {"left_out_area_a_km2", "left_out_area_b_km2", "n_unobserved", "n_partly_observed"} <= set(tot.columns)


def test_without_class_layers_nothing_is_flagged():
    A, B = _pair()
    (ta, la), (tb, lb) = _epoch(A), _epoch(B)
    t = match_bodies(ta, la, tb, lb).table
    assert "unobserved" not in set(t["status"]) and t["unknown_a_m2"].isna().all()


@pytest.mark.parametrize("bad", [float("nan"), -0.1, float("inf")])
def test_tolerance_nan_negative_inf_refused(bad):
    A, B = _pair()
    (ta, la), (tb, lb) = _epoch(A), _epoch(B)
    with pytest.raises(InputError, match="tolerance"):
        match_bodies(ta, la, tb, lb, tolerance=bad)


def test_cli_refuses_nan_tolerance_and_min_area(tmp_path, capsys):
    A, B = _pair()
    for name, m in (("a", A), ("b", B)):
        bodies_to_files(as_dataarray(m, HA), tmp_path / name, min_area_m2=0, tile=16)
    with pytest.raises(SystemExit) as stop:  # the option's type refuses it while parsing (irrmap.core.fractions): exit 2
        main(["-q", "water", "change", str(tmp_path / "c"), str(tmp_path / "a"), str(tmp_path / "b"), "--tolerance", "nan"])
    assert stop.value.code == 2
    assert "--tolerance" in capsys.readouterr().err
    assert not (tmp_path / "c" / "change.csv").exists()
    mask = tmp_path / "a" / "water.tif"
    assert main(["-q", "water", "bodies", str(tmp_path / "bx"), str(mask), "--min-area-m2", "nan"]) == 2
    assert "--min-area-m2" in capsys.readouterr().err
    with pytest.raises(InputError, match="minimum area"):
        label_windowed(A, grid=HA, min_area_m2=math.nan)
