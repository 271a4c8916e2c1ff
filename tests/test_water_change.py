"""Change between epochs on hand-built pairs (equal-area grids, so every area is a pixel count times the
pixel size): statuses, id carrying, area accounting, JRC transition classes by hand from the GSW Data
Users Guide table, totals and the large-against-small table, and the change files."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.mapping.water.bodies import body_table, bodies_to_files
from irrmap.mapping.water.change import (change_to_files, change_totals, large_vs_small, match_bodies, stable_ids_layer,
                                         transition_areas, transitions)
from irrmap.mapping.water.labels import label_windowed

from conftest import as_dataarray

HA = Grid("EPSG:6933", Affine(100, 0, 1_000_000, 0, -100, 5_000_000), 40, 60)  # equal-area, 1 ha pixels
KM = Grid("EPSG:6933", Affine(1000, 0, 1_000_000, 0, -1000, 5_000_000), 50, 60)  # equal-area, 1 km2 pixels


def _epoch(mask, grid, **kw):
    """(body table, label array); the labels go to match_bodies as a georeferenced DataArray."""
    labels = label_windowed(mask, tile=16).labels.values
    return body_table(labels, grid=grid, tile=16, **kw), as_dataarray(labels, grid)


def _hand_pair():
    A = np.zeros(HA.shape, np.uint8)
    B = A.copy()
    A[2:6, 2:6] = 1;  B[2:6, 2:6] = 1                       # stable: 16 -> 16 ha
    A[2:6, 10:14] = 1;  B[2:8, 10:14] = 1                   # grown: 16 -> 24
    A[2:10, 20:24] = 1;  B[2:6, 20:24] = 1                  # shrunk: 32 -> 16
    A[15:18, 2:6] = 1;  A[15:18, 7:11] = 1;  B[15:18, 2:11] = 1      # merged: 12 + 12 -> 27
    A[15:18, 20:30] = 1;  B[15:18, 20:24] = 1;  B[15:18, 26:30] = 1  # split: 30 -> 12 + 12
    A[30:33, 2:6] = 1                                       # lost: 12 -> 0
    B[30:33, 40:44] = 1                                     # new: 0 -> 12
    B[35:38, 2:6] = 255                                     # unknown is not a body
    return A, B


def test_statuses_ids_and_areas_of_hand_built_pairs():
    A, B = _hand_pair()
    (ta, la), (tb, lb) = _epoch(A, HA), _epoch(B, HA)
    ch = match_bodies(ta, la, tb, lb)
    la, lb = la.values, lb.values
    t = ch.table
    by_b = t[t["id_b"] > 0].set_index("id_b")
    ha = 1e4 / 1e6  # km2 per pixel

    def row_at(r, c):
        return by_b.loc[lb[r, c]]

    for (r, c), status, a, b in [((2, 2), "stable", 16, 16), ((2, 10), "grown", 16, 24), ((2, 20), "shrunk", 32, 16),
                                 ((15, 2), "merged", 24, 27), ((15, 20), "split", 15, 12), ((15, 26), "split", 15, 12),
                                 ((30, 40), "new", 0, 12)]:
        row = row_at(r, c)
        assert row["status"] == status, (r, c)
        assert row["area_a_km2"] == pytest.approx(a * ha) and row["area_b_km2"] == pytest.approx(b * ha)
        assert row["change_km2"] == pytest.approx((b - a) * ha)
    assert row_at(2, 10)["change_pct"] == pytest.approx(50.0)
    assert row_at(2, 20)["change_pct"] == pytest.approx(-50.0)
    assert np.isnan(row_at(30, 40)["change_pct"])
    # ids carry forward: unchanged, grown, shrunk keep their A id
    for r, c in [(2, 2), (2, 10), (2, 20)]:
        assert row_at(r, c)["body_id"] == row_at(r, c)["id_a"] == la[r, c]
    # merged: the two A bodies overlap it equally (12 px each), so the lower A id carries; both are parents
    merged = row_at(15, 2)
    assert merged["body_id"] == min(la[15, 2], la[15, 7])
    assert merged["parents"] == f"{min(la[15, 2], la[15, 7])};{max(la[15, 2], la[15, 7])}"
    # split: the A id carries to one piece (equal overlaps: the lower B id), the other gets a new id
    keeper, piece = row_at(15, 20), row_at(15, 26)
    assert keeper["body_id"] == la[15, 20] and piece["id_a"] == 0
    new_ids = sorted([piece["body_id"], row_at(30, 40)["body_id"]])
    assert new_ids == [la.max() + 1, la.max() + 2]  # above every A id, in B-id order
    assert ch.next_id == la.max() + 3
    lost = t[t["status"] == "lost"]
    assert len(lost) == 1 and lost.iloc[0]["body_id"] == la[30, 2] and lost.iloc[0]["area_b_km2"] == 0
    assert lost.iloc[0]["change_pct"] == pytest.approx(-100.0)
    # one row per B body and per lost A body; retired (merged) A ids get none; stable ids are unique
    assert len(t) == lb.max() + 1 and t["body_id"].is_unique
    assert t["change_km2"].sum() == pytest.approx(((B == 1).sum() - (A == 1).sum()) * ha)
    # stable-id layer: epoch B under the stable ids
    stable = stable_ids_layer(as_dataarray(lb, HA), ch).values
    expected = np.zeros_like(stable)
    for id_b, sid in ch.stable_id.items():
        expected[lb == id_b] = sid
    np.testing.assert_array_equal(stable, expected)


def test_next_id_is_respected_and_never_reuses_a_retired_id():
    A, B = _hand_pair()
    (ta, la), (tb, lb) = _epoch(A, HA), _epoch(B, HA)
    ch = match_bodies(ta, la, tb, lb, next_id=100)
    new = ch.table.loc[ch.table["id_a"].eq(0) & ch.table["id_b"].gt(0), "body_id"]
    assert sorted(new) == [100, 101] and ch.next_id == 102
    assert match_bodies(ta, la, tb, lb, next_id=1).next_id == int(la.max()) + 3  # never below max A id + 1


@pytest.mark.parametrize("extra, tolerance, status", [(9, 0.10, "stable"), (9, 0.05, "grown"), (-12, 0.10, "shrunk"),
                                                      (-9, 0.10, "stable"), (11, 0.10, "grown")])
def test_relative_tolerance(extra, tolerance, status):
    A = np.zeros(HA.shape, np.uint8)
    A[5:15, 5:15] = 1  # 100 ha
    B = A.copy()
    if extra > 0:
        B[15, 5:5 + extra] = 1
    else:
        last = np.argwhere(B == 1)[extra:]  # the last -extra water pixels in row order
        B[last[:, 0], last[:, 1]] = 0
    (ta, la), (tb, lb) = _epoch(A, HA), _epoch(B, HA)
    row = match_bodies(ta, la, tb, lb, tolerance=tolerance).table.iloc[0]
    assert row["status"] == status and row["change_pct"] == pytest.approx(extra)


def test_input_errors():
    A, B = _hand_pair()
    (ta, la), (tb, lb) = _epoch(A, HA), _epoch(B, HA)
    with pytest.raises(InputError, match="tolerance"):
        match_bodies(ta, la, tb, lb, tolerance=-0.1)
    with pytest.raises(InputError, match="area_m2"):
        match_bodies(ta.drop(columns="area_m2"), la, tb, lb)
    with pytest.raises(DataError, match="not in its body table"):
        match_bodies(ta.iloc[1:], la, tb, lb)


def test_transition_classes_by_hand():
    # (A, B) -> JRC class (GSW Data Users Guide): N not water 0, P permanent 1, S seasonal 2, 255 unknown
    cases = {(1, 1): 1, (0, 1): 2, (1, 0): 3, (2, 2): 4, (0, 2): 5, (2, 0): 6, (2, 1): 7, (1, 2): 8, (0, 0): 0,
             (255, 1): 255, (1, 255): 255, (255, 255): 255, (0, 255): 255}
    a = np.array([[k[0] for k in cases]], np.uint8)
    b = np.array([[k[1] for k in cases]], np.uint8)
    grid = Grid("EPSG:6933", Affine(100, 0, 0, 0, -100, 0), 1, len(cases))
    got = transitions(a, b, grid=grid).values
    np.testing.assert_array_equal(got[0], list(cases.values()))
    areas = transition_areas(got, grid=grid).set_index("class")["area_km2"]
    assert areas[255] == pytest.approx(4 * 0.01) and areas[1] == pytest.approx(0.01) and areas[9 - 1] == pytest.approx(0.01)
    assert areas.sum() == pytest.approx(len(cases) * 0.01)
    with pytest.raises(DataError, match="value 3"):
        transitions(a, np.full_like(b, 3), grid=grid).values


def _size_pair():
    A = np.zeros(KM.shape, np.uint8)
    B = A.copy()
    A[2:42, 2:32] = 1;  B[2:42, 2:30] = 1   # large: 1200 -> 1120 km2
    A[45, 2:4] = 1;  B[45, 2:5] = 1         # small: 2 -> 3
    A[2:7, 40:45] = 1;  B[2:7, 40:46] = 1   # small: 25 -> 30
    B[45, 50:52] = 1                        # new small: 0 -> 2
    return A, B


def test_large_lakes_against_small_bodies_and_size_class_totals():
    A, B = _size_pair()
    zones = np.zeros(KM.shape, np.int32)
    zones[:, :35] = 7
    zones[:, 35:] = 9
    (ta, la), (tb, lb) = _epoch(A, KM, zones=zones), _epoch(B, KM, zones=zones)
    table = match_bodies(ta, la, tb, lb).table
    lvs = large_vs_small(table).set_index("bodies")
    large, small = lvs.loc[">= 1000 km2"], lvs.loc["< 1000 km2"]
    assert large["n_bodies"] == 1 and large["area_a_km2"] == pytest.approx(1200) and large["change_km2"] == pytest.approx(-80)
    assert large["change_pct"] == pytest.approx(-80 / 1200 * 100)
    assert small["n_bodies"] == 3 and small["area_a_km2"] == pytest.approx(27) and small["area_b_km2"] == pytest.approx(35)
    assert small["change_pct"] == pytest.approx(8 / 27 * 100) and small["n_new"] == 1 and small["n_grown"] == 2
    by_class = change_totals(table).set_index("size_class")
    assert len(by_class) == 7  # every class listed
    assert by_class.loc[">1000", "change_km2"] == pytest.approx(-80)
    assert by_class.loc["1-10", "n_bodies"] == 2 and by_class.loc["1-10", "area_b_km2"] == pytest.approx(5)
    assert by_class.loc["10-100", "change_km2"] == pytest.approx(5)
    assert by_class.loc["<0.01", "n_bodies"] == 0
    by_zone = change_totals(table, "zone").set_index("zone")
    assert by_zone.loc[7, "change_km2"] == pytest.approx(-80 + 1)  # the large lake and the 2 -> 3 body
    assert by_zone.loc[9, "change_km2"] == pytest.approx(5 + 2)
    with pytest.raises(InputError, match="admin_code"):
        change_totals(table, "admin_code")


def test_change_files(tmp_path, caplog):
    A, B = _hand_pair()
    pers_b = np.where(B == 1, 2, B).astype(np.uint8)  # all of B's water seasonal
    bodies_to_files(A, tmp_path / "a", grid=HA, min_area_m2=0, tile=16)
    bodies_to_files(B, tmp_path / "b", grid=HA, min_area_m2=0, tile=16, persistence=pers_b)
    paths = change_to_files(tmp_path / "c", tmp_path / "a", tmp_path / "b", tile=16)
    change = pd.read_csv(paths["change"])
    assert set(change["status"]) == {"stable", "grown", "shrunk", "merged", "split", "new", "lost"}
    with rasterio.open(paths["transitions"]) as src:
        assert src.dtypes[0] == "uint8" and src.nodata == 255
        got = src.read(1)
    np.testing.assert_array_equal(got, transitions(A, pers_b, grid=HA).values)  # A's water.tif, B's persistence.tif
    assert got[2, 2] == 8 and got[31, 41] == 5 and got[31, 3] == 3 and got[36, 3] == 255 and got[0, 0] == 0
    with rasterio.open(paths["stable_id"]) as src:
        sid = src.read(1)
    with rasterio.open(tmp_path / "b" / "body_id.tif") as src:
        ids_b = src.read(1)
    for _, row in change[change["id_b"] > 0].iterrows():
        assert (sid[ids_b == row["id_b"]] == row["body_id"]).all()
    assert (sid[ids_b == 0] == 0).all()
    for name in ("transitions_csv", "totals_size_class", "large_vs_small"):
        assert paths[name].is_file()
    # a folder without water.tif: transitions from its body ids, with a warning naming the fix
    (tmp_path / "a" / "water.tif").unlink()
    with caplog.at_level(logging.WARNING):
        paths = change_to_files(tmp_path / "d", tmp_path / "a", tmp_path / "b", tile=16)
    assert any("no water.tif" in r.getMessage() and "fix:" in r.getMessage() for r in caplog.records)
    with rasterio.open(paths["transitions"]) as src:
        np.testing.assert_array_equal(src.read(1), got)  # A had no unknown pixels: the same classes
    with pytest.raises(InputError, match="bodies.parquet"):
        change_to_files(tmp_path / "e", tmp_path / "a", tmp_path / "nowhere")
