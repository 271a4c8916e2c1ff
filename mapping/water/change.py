"""Change of water bodies between two epochs on one grid: bodies matched by pixel overlap with stable ids, a
status and area change per body, a JRC-style transitions layer, and totals per size class and admin unit.

Matching (overlap = true area, m2, of the pixels in body a of epoch A and body b of epoch B):
- each A body's stable id carries forward to the B body it overlaps most; when several A bodies pick the
  same B body, the one overlapping it most keeps its id there (ties: lowest A id) and the others' ids retire
  into it; B bodies picked by no A body get new ids counting up from `next_id` (default: the largest stable
  A id + 1) in order of their B id, so ids are never reused;
- an A body's stable id is its own id in the first pair of a chain of epochs; from the second pair on it is
  the id the previous pair gave it (`Change.stable_id`), and `next_id` is the previous pair's `Change.next_id`,
  so a body keeps its id through any number of epochs and an id retired in any earlier pair is never issued
  again (`change_to_files(previous=...)`, `irrmap water change --previous`);
- each A body's area is shared among the B bodies it overlaps in proportion to the overlap, so a B body's
  `area_a_km2` is the epoch-A area it inherits and the rows add up: sum(change_km2) = total B area - total A
  area;
- status of a B body: `new` when it overlaps no A body; `merged` when it overlaps two or more; `split` when
  its one A body overlaps other B bodies too; otherwise `stable` when |area_b - area_a| <= `tolerance` x
  area_a, else `grown` or `shrunk`. The tolerance is relative (default 0.10 = 10 %, a choice with no
  published standard: shore pixels of a small body are a large share of it, so a body of a few pixels
  changes by more than 10 % from one shore pixel; raise it for small bodies or noisy masks). An A body that
  overlaps no B body is `lost` (one row, area_b 0).

Unknown pixels (cloud, shadow, snow, fill: 255 in the epochs' class layers, water.tif / persistence.tif) are
not observations of "no water". Each row gets the unknown area of its footprint in the other epoch:
`unknown_a_m2` = true area of the row's epoch-B body pixels that are unknown in epoch A (0 for lost rows),
`unknown_b_m2` = true area of the row's epoch-A body pixels that are unknown in epoch B (each A body's share
passed on in proportion to the overlap, as its area is), and `unknown_share` = the larger of unknown_a_m2 /
area_b and unknown_b_m2 / area_a (the share of the footprint the other epoch did not see). A row whose
footprint was not seen at all in the other epoch (unknown_share 1: a "new" body under cloud in A, a "lost"
one under cloud in B) gets status `unobserved`; a row with more of it unknown than `tolerance` (the unknown
area alone could move it out of the stable band) gets `partly_observed`, and so does a "new" or "lost" body
that touches unknown pixels in either epoch (`touches_unknown`: one of its pixels or their 8 neighbours is
unknown in A or in B, `touching_unknown`): it may be an edge artefact of cloud or shadow -- shadowed land
called water along a cloud shadow -- or continue under them (Flathead 1997 -> 2007: 9 of the 15 "lost" 1997
bodies were shadow-edge land at 289-291 K, like clear land, 1-9 px from the screen's cloud and shadow flags). Their overlap-only status stays in
`status_overlap`. Without class layers the unknown columns are NaN and no row is flagged. The totals
(`change_totals`, `large_vs_small`) leave unobserved and partly observed rows out of the areas and change and
give their areas in `left_out_area_a_km2` / `left_out_area_b_km2`.

Transitions (JRC Global Surface Water, Pekel et al. 2016, Nature 540:418-422, doi:10.1038/nature20584; the
GSW Data Users Guide, transitions layer): JRC compares the seasonality class (permanent, seasonal, not water)
of the first and last year and uses the years between for the two ephemeral classes. With two epochs
the classes are, from (class in A, class in B):
  1 permanent (P, P)          2 new permanent (N, P)        3 lost permanent (P, N)
  4 seasonal (S, S)           5 new seasonal (N, S)         6 lost seasonal (S, N)
  7 seasonal to permanent (S, P)                            8 permanent to seasonal (P, S)
  0 no water (N, N) -- JRC leaves these pixels empty;     255 unknown in either epoch.
A change class (2, 3, 5-8) of a pixel of a body the change table leaves out (unobserved / partly_observed:
`left_out_ids`) is 255 too, so that the layer's lost / new areas are those of the table's lost / new bodies (plus
the shore of observed bodies that shrank or grew, and water in no body); the body's water in both epochs keeps its
class (Flathead 1997 -> 2007 "lost permanent": 0.629 km2 of which 0.368 in partly observed shadow-edge bodies, now
0.134 km2).
JRC's 9 ephemeral permanent and 10 ephemeral seasonal (water only between the first and the last year)
cannot be told from two epochs and never occur. Inputs are persistence layers (irrmap.mapping.water.
composite: 0 not water, 1 permanent, 2 seasonal, 255 unknown) or plain water masks (0 / 1 / 255), whose water
reads as permanent, giving classes 0-3 only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pandas as pd
import xarray as xr
from irrmap.mapping.water import fixed_sum
from irrmap.mapping.water.bodies import BODIES_SET, BODY_FILES, size_class
from irrmap.mapping.water.classify import NOT_WATER, UNKNOWN
from irrmap.mapping.water.composite import PERMANENT, SEASONAL
from irrmap.mapping.water.windows import Layer, pixel_areas

from irrmap.core import palettes
from irrmap.core.atomic import atomic_path
from irrmap.core.errors import DataError, InputError
from irrmap.core.fractions import fraction_problem
from irrmap.core.grid import Grid
from irrmap.core.output_set import check_output_set
from irrmap.core.raster_read import open_raster
from irrmap.core.raster_write import write_raster
from irrmap.core.relative_path import relative_to_folder

log = logging.getLogger(__name__)

STATUSES = ("stable", "grown", "shrunk", "new", "lost", "merged", "split", "unobserved", "partly_observed")
#: statuses of rows the other epoch did not (fully) see: left out of the totals' areas
UNOBSERVED = ("unobserved", "partly_observed")
TRANSITIONS = {0: "no water", 1: "permanent", 2: "new permanent", 3: "lost permanent", 4: "seasonal", 5: "new seasonal",
               6: "lost seasonal", 7: "seasonal to permanent", 8: "permanent to seasonal", 255: "unknown"}
_N, _P, _S = NOT_WATER, PERMANENT, SEASONAL
_PAIRS = {(_P, _P): 1, (_N, _P): 2, (_P, _N): 3, (_S, _S): 4, (_N, _S): 5, (_S, _N): 6, (_S, _P): 7, (_P, _S): 8, (_N, _N): 0}
_ADMIN = ("zone", "admin_code", "admin_name")


def body_overlaps(ids_a, ids_b, *, grid: Grid | None = None, tile: int = 2048) -> pd.DataFrame:
    """True area (m2) shared by each pair of bodies: columns id_a, id_b, area_m2, one row per overlapping
    pair, read window by window and summed in fixed point (irrmap.mapping.water.fixed_sum: the same whatever `tile`). `ids_a`, `ids_b`: body-id rasters (path, DataArray, array) on one grid."""
    la = Layer(ids_a, grid, "epoch A body ids")
    lb = Layer(ids_b, la.grid, "epoch B body ids")
    la.check_aligned(lb)
    if la.grid is None:
        raise InputError("the body ids have no grid", "ids_a", "pass grid=, or georeferenced rasters")
    parts = []
    for t in la.grid.tiles(tile):
        a, b = la.read(t.window), lb.read(t.window)
        both = (a > 0) & (b > 0)
        if both.any():
            parts.append(fixed_sum.group_parts(pixel_areas(la.grid, t.window)[both], [a[both], b[both]]))
    if not parts:
        return pd.DataFrame({"id_a": np.zeros(0, np.int64), "id_b": np.zeros(0, np.int64), "area_m2": np.zeros(0)})
    out = fixed_sum.group_total(parts, [0, 1]).rename("area_m2").reset_index()
    out.columns = ["id_a", "id_b", "area_m2"]
    return out.astype({"id_a": np.int64, "id_b": np.int64})


def _aligned_layers(ids_a, ids_b, classes_a, classes_b, grid: Grid | None) -> tuple:
    """The four layers (body ids A and B, classes A and B) opened on one grid; InputError when they are not aligned or
    have no grid."""
    la = Layer(ids_a, grid, "epoch A body ids")
    lb = Layer(ids_b, la.grid, "epoch B body ids")
    ca = Layer(classes_a, la.grid, "epoch A classes")
    cb = Layer(classes_b, la.grid, "epoch B classes")
    for other in (lb, ca, cb):
        la.check_aligned(other)
    if la.grid is None:
        raise InputError("the body ids have no grid", "ids_a", "pass grid=, or georeferenced rasters")
    return la, lb, ca, cb


def footprint_unknown(ids_a, ids_b, classes_a, classes_b, *, grid: Grid | None = None,
                      tile: int = 2048) -> tuple[pd.Series, pd.Series]:
    """(unknown in A per epoch-B body id, unknown in B per epoch-A body id): true area (m2) of each body's pixels
    that are unknown (255) in the other epoch's class layer (water.tif / persistence.tif / a water mask), read
    window by window. All four layers on one grid."""
    la, lb, ca, cb = _aligned_layers(ids_a, ids_b, classes_a, classes_b, grid)
    in_a, in_b = [], []
    for t in la.grid.tiles(tile):
        a, b = la.read(t.window), lb.read(t.window)
        ua, ub = ca.read(t.window) == UNKNOWN, cb.read(t.window) == UNKNOWN
        sel_b, sel_a = (b > 0) & ua, (a > 0) & ub
        if sel_b.any() or sel_a.any():
            area = pixel_areas(la.grid, t.window)
            if sel_b.any():
                in_a.append(fixed_sum.group_parts(area[sel_b], [b[sel_b]]))
            if sel_a.any():
                in_b.append(fixed_sum.group_parts(area[sel_a], [a[sel_a]]))
    return fixed_sum.group_total(in_a, 0), fixed_sum.group_total(in_b, 0)


def touching_unknown(ids_a, ids_b, classes_a, classes_b, *, grid: Grid | None = None, tile: int = 2048) -> tuple[set, set]:
    """(epoch-A body ids, epoch-B body ids) of the bodies that touch a pixel unknown (255) in either epoch's class layer:
    one of the body's pixels or of their 8 neighbours is unknown in A or in B. Read window by window with a one-pixel
    halo, so the result does not depend on `tile`. All four layers on one grid."""
    from scipy import ndimage

    la, lb, ca, cb = _aligned_layers(ids_a, ids_b, classes_a, classes_b, grid)
    found_a, found_b = set(), set()
    for t in la.grid.tiles(tile, halo=1):
        unknown = (ca.read(t.read) == UNKNOWN) | (cb.read(t.read) == UNKNOWN)
        if not unknown.any():
            continue
        near = ndimage.binary_dilation(unknown, np.ones((3, 3), bool))[t.inner]
        a, b = la.read(t.window), lb.read(t.window)
        found_a.update(np.unique(a[near & (a > 0)]).tolist())
        found_b.update(np.unique(b[near & (b > 0)]).tolist())
    return found_a, found_b


@dataclass
class Change:
    """`table`: one row per body of epoch B and per lost body of epoch A (see `match_bodies`);
    `stable_id`: Series epoch-B id -> stable id; `next_id`: the first id not issued yet (pass it on to the
    next epoch's matching); `left_out_a`, `left_out_b`: the epoch-A and epoch-B body ids (their own epochs' ids)
    whose change the table leaves out (`left_out_ids`), which `transitions` leaves out per pixel too."""

    table: pd.DataFrame
    stable_id: pd.Series
    next_id: int
    left_out_a: frozenset = frozenset()
    left_out_b: frozenset = frozenset()


def left_out_ids(table: pd.DataFrame, overlaps: pd.DataFrame) -> tuple[frozenset, frozenset]:
    """(epoch-A ids, epoch-B ids) of the bodies whose change a change table leaves out (status in UNOBSERVED:
    unobserved or partly_observed): the B bodies of such rows, the A bodies of such lost rows, and every A body
    overlapping such a B body (it passes area to it). `overlaps`: `body_overlaps` of the pair (id_a, id_b)."""
    left = table["status"].isin(UNOBSERVED).to_numpy()
    ids_b = table.loc[left & (table["id_b"] > 0).to_numpy(), "id_b"]
    ids_a = set(table.loc[left & (table["id_b"] == 0).to_numpy(), "id_a"].tolist())
    ids_a.update(overlaps.loc[overlaps["id_b"].isin(ids_b), "id_a"].tolist())
    return frozenset(int(i) for i in ids_a), frozenset(int(i) for i in ids_b)


def _areas(bodies, what: str) -> pd.Series:
    missing = {"body_id", "area_m2"} - set(bodies.columns)
    if missing:
        raise InputError(f"the {what} body table has no column {', '.join(sorted(missing))}", what,
                         "pass the table of irrmap.mapping.water.bodies.body_table (bodies.parquet)")
    return bodies.set_index("body_id")["area_m2"].astype(float)


def _stable_a(stable_a: pd.Series | None, ids: pd.Index) -> pd.Series:
    """Epoch-A id -> stable id (int64) for every A id: `stable_a` checked, or the ids themselves."""
    if stable_a is None:
        return pd.Series(ids.values, index=ids).astype(np.int64)
    missing = ids.difference(stable_a.index)
    if len(missing) or stable_a.reindex(ids).duplicated().any():
        raise InputError(f"the stable ids of epoch A {'miss the bodies ' + str(missing[:5].tolist()) if len(missing) else 'repeat an id'}",
                         "stable_a", "pass the previous pair's Change.stable_id (epoch-A body id -> stable id) of these very bodies")
    return stable_a.reindex(ids).astype(np.int64)


def match_bodies(bodies_a, ids_a, bodies_b, ids_b, *, tolerance: float = 0.10, next_id: int | None = None,
                 stable_a: pd.Series | None = None, grid: Grid | None = None, tile: int = 2048, classes_a=None,
                 classes_b=None) -> Change:
    """Match the bodies of epoch A to those of epoch B by pixel overlap (rules in the module docstring).

    `bodies_a`, `bodies_b`: body tables (body_id, area_m2, optional zone / admin_code / admin_name) whose ids
    are the values of the body-id rasters `ids_a`, `ids_b` (path, DataArray or array on one grid).
    `tolerance`: relative area change still called stable (0.10 = 10 %). `stable_a`: Series epoch-A id ->
    stable id (the previous pair's Change.stable_id in a chain of epochs; default: the A ids themselves).
    `next_id`: first new id (default the largest stable A id + 1, never less; pass the previous pair's
    Change.next_id so no id retired earlier is reused).

    Table columns: body_id (stable id), id_a (the epoch-A id, as in ids_a, of the body whose stable id is
    carried forward; 0 for new and split-off bodies), id_b (0 for lost bodies), area_a_km2 (inherited epoch-A
    area), area_b_km2, change_km2, change_pct (NaN where area_a is 0), status (STATUSES), parents (the stable
    ids of the A bodies area_a comes from, ';'-separated), size_class (of area_a, or of area_b for bodies
    without one), the admin columns of the B body (of the A body when lost), and unknown_a_m2, unknown_b_m2,
    unknown_share, touches_unknown, status_overlap (module docstring; NaN unknown columns without `classes_a` and `classes_b`,
    the epochs' class layers: 255 unknown). Raises InputError for a table without body_id / area_m2, a
    tolerance outside [0, 1] (a percent such as 10 names the fraction 0.10) or a `stable_a` that misses A ids or repeats a stable id, DataError when
    the rasters hold ids missing from the tables.
    """
    problem = fraction_problem(float(tolerance), "tolerance")
    if problem:  # a percent typed for the share (10 for 10 %) would call a 93 %-clouded body observed
        raise InputError(problem[0], "tolerance", problem[1])
    area_a, area_b = _areas(bodies_a, "epoch A"), _areas(bodies_b, "epoch B")
    ov = body_overlaps(ids_a, ids_b, grid=grid, tile=tile)
    for col, known, what in (("id_a", area_a, "epoch A"), ("id_b", area_b, "epoch B")):
        stray = np.setdiff1d(ov[col].unique(), known.index)
        if len(stray):
            raise DataError(f"the {what} body ids {stray[:5].tolist()} are not in its body table", what,
                            "use the body table and body_id.tif written together")
    best = ov.sort_values(["id_a", "area_m2", "id_b"], ascending=[True, False, True]).drop_duplicates("id_a")
    heir = best.sort_values(["id_b", "area_m2", "id_a"], ascending=[True, False, True]).drop_duplicates("id_b").set_index("id_b")["id_a"]
    sid = _stable_a(stable_a, area_a.index)
    first_new = max(int(next_id or 0), int(sid.max()) + 1 if len(sid) else 1)
    unclaimed = np.setdiff1d(area_b.index.values, heir.index.values)
    carried = pd.Series(sid.reindex(heir.values).values, index=heir.index)
    stable = pd.concat([carried, pd.Series(np.arange(first_new, first_new + len(unclaimed)), index=unclaimed)]).sort_index()

    share = ov["area_m2"] / ov.groupby("id_a")["area_m2"].transform("sum")
    inherited = (share * area_a.reindex(ov["id_a"]).values).groupby(ov["id_b"]).sum().reindex(area_b.index, fill_value=0.0)
    parents = (sid.reindex(ov["id_a"]).set_axis(ov.index).groupby(ov["id_b"]).agg(lambda s: ";".join(map(str, sorted(s))))
               .astype(object).reindex(area_b.index, fill_value=""))  # object first: without overlaps the ids are numbers
    n_parents = ov.groupby("id_b").size().reindex(area_b.index, fill_value=0)
    n_children = ov.groupby("id_a").size()
    only_parent = ov.drop_duplicates("id_b", keep=False).set_index("id_b")["id_a"]  # B bodies with exactly one parent
    split = pd.Series(n_children.reindex(only_parent.values).values >= 2, index=only_parent.index).reindex(area_b.index, fill_value=False)
    rel = (area_b - inherited) / inherited.where(inherited > 0)
    status = np.select([n_parents == 0, n_parents >= 2, split, rel.abs() <= tolerance, rel > 0],
                       ["new", "merged", "split", "stable", "grown"], "shrunk")
    rows_b = pd.DataFrame({"body_id": stable.reindex(area_b.index).values, "id_a": heir.reindex(area_b.index, fill_value=0).values,
                           "id_b": area_b.index.values, "area_a_km2": inherited.values / 1e6, "area_b_km2": area_b.values / 1e6,
                           "status": status, "parents": parents.values})
    lost = area_a.index.difference(ov["id_a"].unique())
    rows_a = pd.DataFrame({"body_id": sid.reindex(lost).values, "id_a": lost.values, "id_b": 0,
                           "area_a_km2": area_a.reindex(lost).values / 1e6, "area_b_km2": 0.0, "status": "lost",
                           "parents": sid.reindex(lost).astype(str).values})
    for col in _ADMIN:
        if col in bodies_b.columns:
            rows_b[col] = bodies_b.set_index("body_id")[col].reindex(area_b.index).values
        if col in bodies_a.columns:
            rows_a[col] = bodies_a.set_index("body_id")[col].reindex(lost).values
    table = pd.concat([rows_b, rows_a], ignore_index=True) if len(rows_a) else rows_b
    table["change_km2"] = table["area_b_km2"] - table["area_a_km2"]
    table["change_pct"] = 100.0 * table["change_km2"] / table["area_a_km2"].where(table["area_a_km2"] > 0)
    ref = table["area_a_km2"].where(table["area_a_km2"] > 0, table["area_b_km2"])
    table["size_class"] = size_class(ref)
    table = _observation(table, area_a, ov, share, classes_a, classes_b, ids_a, ids_b, grid, tile, tolerance)
    table = table.astype({"body_id": np.int64, "id_a": np.int64, "id_b": np.int64}).sort_values("body_id", ignore_index=True)
    front = ["body_id", "id_a", "id_b", "area_a_km2", "area_b_km2", "change_km2", "change_pct", "status", "parents", "size_class"]
    table = table[front + [c for c in table.columns if c not in front]]
    return Change(table, stable.astype(np.int64), first_new + len(unclaimed), *left_out_ids(table, ov))


def _observation(table: pd.DataFrame, area_a: pd.Series, ov: pd.DataFrame, share: pd.Series, classes_a, classes_b, ids_a, ids_b,
                 grid, tile: int, tolerance: float) -> pd.DataFrame:
    """The unknown columns and the unobserved / partly_observed statuses (module docstring) of a change table."""
    table = table.assign(status_overlap=table["status"])
    if classes_a is None or classes_b is None:
        return table.assign(unknown_a_m2=np.nan, unknown_b_m2=np.nan, unknown_share=np.nan, touches_unknown=pd.NA)
    in_a, in_b = footprint_unknown(ids_a, ids_b, classes_a, classes_b, grid=grid, tile=tile)
    passed = (share * in_b.reindex(ov["id_a"], fill_value=0.0).values).groupby(ov["id_b"]).sum()
    is_b = table["id_b"] > 0
    unknown_a = np.where(is_b, in_a.reindex(table["id_b"], fill_value=0.0).values, 0.0)
    unknown_b = np.where(is_b, passed.reindex(table["id_b"], fill_value=0.0).values, in_b.reindex(table["id_a"], fill_value=0.0).values)
    area_a_m2, area_b_m2 = table["area_a_km2"].to_numpy() * 1e6, table["area_b_km2"].to_numpy() * 1e6
    with np.errstate(invalid="ignore", divide="ignore"):
        unknown_share = np.fmax(np.where(area_b_m2 > 0, unknown_a / area_b_m2, np.nan), np.where(area_a_m2 > 0, unknown_b / area_a_m2, np.nan))
    unknown_share = np.clip(np.nan_to_num(unknown_share, nan=0.0), 0.0, 1.0)
    near_a, near_b = touching_unknown(ids_a, ids_b, classes_a, classes_b, grid=grid, tile=tile)
    touches = np.where(is_b, table["id_b"].isin(near_b), table["id_a"].isin(near_a))
    # a body that appears or vanishes beside cloud, shadow, snow or fill (in either epoch) may be an edge artefact of
    # the unknown pixels (shadowed land called water along a cloud shadow) or continue under them: not new, not lost
    edge = touches & table["status"].isin(["new", "lost"]).to_numpy()
    status = np.where(unknown_share >= 1.0 - 1e-9, "unobserved",
                      np.where((unknown_share > tolerance) | edge, "partly_observed", table["status"]))
    return table.assign(status=status, unknown_a_m2=unknown_a, unknown_b_m2=unknown_b, unknown_share=unknown_share, touches_unknown=touches)


def _totals(change: pd.DataFrame, key) -> pd.DataFrame:
    g = change.assign(key=key).groupby("key", observed=False, sort=True)
    out = pd.DataFrame({"n_bodies": g.size()})
    for s in STATUSES:
        out[f"n_{s}"] = g["status"].agg(lambda v, s=s: int((v == s).sum()))
    left_out = change["status"].isin(UNOBSERVED)
    seen = change.assign(key=key, area_a_km2=change["area_a_km2"].where(~left_out, 0.0), area_b_km2=change["area_b_km2"].where(~left_out, 0.0))
    gs = seen.groupby("key", observed=False, sort=True)
    out["area_a_km2"] = gs["area_a_km2"].sum()
    out["area_b_km2"] = gs["area_b_km2"].sum()
    out["change_km2"] = out["area_b_km2"] - out["area_a_km2"]
    out["change_pct"] = 100.0 * out["change_km2"] / out["area_a_km2"].where(out["area_a_km2"] > 0)
    hidden = change.assign(key=key, area_a_km2=change["area_a_km2"].where(left_out, 0.0), area_b_km2=change["area_b_km2"].where(left_out, 0.0))
    gh = hidden.groupby("key", observed=False, sort=True)
    out["left_out_area_a_km2"] = gh["area_a_km2"].sum()
    out["left_out_area_b_km2"] = gh["area_b_km2"].sum()
    return out


def change_totals(change: pd.DataFrame, by: str = "size_class") -> pd.DataFrame:
    """Bodies, bodies per status, areas in each epoch and change (km2 and % of epoch A) per `by` column of a
    change table: "size_class" (every class listed, empty ones with zeros) or an admin column ("admin_code",
    "zone"). The areas and change count observed rows only: rows with status unobserved or partly_observed
    (not seen, or not enough of them seen, in the other epoch) are counted in n_bodies and n_<status> and their
    areas given in left_out_area_a_km2 / left_out_area_b_km2. Raises InputError for a column the table does not
    have."""
    if by not in change.columns:
        raise InputError(f"the change table has no column {by!r}", "by",
                         "use size_class, or an admin column (give the body tables zones or units)")
    return _totals(change, change[by]).rename_axis(by).reset_index()


def large_vs_small(change: pd.DataFrame, threshold_km2: float = 1000.0) -> pd.DataFrame:
    """The seed's finding as a table: totals (as in `change_totals`) of large bodies (reference area >= threshold,
    the reference being the epoch-A area, or the epoch-B area of bodies new in B; the size class > 1000 km2
    for the default) against all smaller ones."""
    ref = change["area_a_km2"].where(change["area_a_km2"] > 0, change["area_b_km2"])
    labels = pd.Categorical(np.where(ref >= threshold_km2, f">= {threshold_km2:g} km2", f"< {threshold_km2:g} km2"),
                            categories=[f">= {threshold_km2:g} km2", f"< {threshold_km2:g} km2"])
    return _totals(change, labels).rename_axis("bodies").reset_index()


def _transition_block(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    allowed = np.array([_N, _P, _S, UNKNOWN])
    for v, epoch in ((a, "A"), (b, "B")):
        bad = ~np.isin(v, allowed)
        if bad.any():
            raise DataError(f"the epoch {epoch} class layer holds value {v[bad][0]}, not 0 / 1 permanent / 2 seasonal / 255 unknown",
                            "transitions", "pass water masks (water.tif) or persistence layers (irrmap.mapping.water.composite)")
    out = np.full(a.shape, UNKNOWN, np.uint8)
    for (ca, cb), cls in _PAIRS.items():
        out[(a == ca) & (b == cb)] = cls
    return out


#: the transition classes that are change (water in one epoch only, or a change of seasonality)
CHANGE_CLASSES = (2, 3, 5, 6, 7, 8)


def _left_out_block(out: np.ndarray, ids_a: np.ndarray, ids_b: np.ndarray, left_a: np.ndarray, left_b: np.ndarray) -> np.ndarray:
    hide = np.isin(out, CHANGE_CLASSES) & (np.isin(ids_a, left_a) | np.isin(ids_b, left_b))
    return np.where(hide, np.uint8(UNKNOWN), out).astype(np.uint8)


def transitions(class_a, class_b, *, grid: Grid | None = None, tile: int = 2048, ids_a=None, ids_b=None, left_out_a=(),
                left_out_b=()) -> xr.DataArray:
    """Lazy uint8 JRC-style transitions layer (classes in TRANSITIONS and the module docstring) from two
    class layers on one grid (paths, DataArrays or arrays: 0 not water, 1 permanent / water, 2 seasonal, 255
    unknown). A pixel unknown in either epoch is 255. With the body-id layers `ids_a`, `ids_b` (same grid) and the ids
    of bodies whose change the change table leaves out (`Change.left_out_a` / `left_out_b`: unobserved or
    partly_observed), the change classes (CHANGE_CLASSES) of those bodies' pixels are 255 too, so that the layer's
    new / lost areas are those of the table's observed bodies (plus water in no body); their permanent and seasonal
    pixels (water in both epochs) keep their class. Raises GridError when they are not on one grid and, when computed,
    DataError for other values."""
    la = Layer(class_a, grid, "epoch A classes")
    lb = Layer(class_b, la.grid, "epoch B classes")
    la.check_aligned(lb)
    out = da.map_blocks(_transition_block, la.dask((tile, tile)), lb.dask((tile, tile)), dtype=np.uint8)
    if (left_out_a or left_out_b) and (ids_a is None or ids_b is None):
        raise InputError("left-out body ids given without the body-id layers", "transitions", "pass ids_a and ids_b too")
    if left_out_a or left_out_b:
        ia, ib = Layer(ids_a, la.grid, "epoch A body ids"), Layer(ids_b, la.grid, "epoch B body ids")
        la.check_aligned(ia)
        la.check_aligned(ib)
        keys = [np.array(sorted(ids), np.int64) for ids in (left_out_a, left_out_b)]
        out = da.map_blocks(_left_out_block, out, ia.dask((tile, tile)), ib.dask((tile, tile)), *keys, dtype=np.uint8)
    arr = xr.DataArray(out, dims=("y", "x"), name="transition")
    if la.grid is not None:
        arr = arr.assign_coords(la.grid.coords()).rio.write_crs(la.grid.crs).rio.write_transform(la.grid.transform)
    arr.attrs["nodata"] = UNKNOWN
    return arr


def transition_areas(transitions_layer, *, grid: Grid | None = None, tile: int = 2048) -> pd.DataFrame:
    """True area (km2) of every transition class of a transitions layer (path, DataArray or array with grid):
    columns class, name, area_km2; every class of TRANSITIONS listed."""
    lay = Layer(transitions_layer, grid, "transitions")
    if lay.grid is None:
        raise InputError("the transitions layer has no grid", "transitions", "pass grid=, or a georeferenced layer")
    whole, fraction = np.zeros(256, np.int64), np.zeros(256, np.int64)  # fixed point: the same sums whatever the tile size
    for t in lay.grid.tiles(tile):
        v = lay.read(t.window).astype(np.int64).ravel()
        w, f = fixed_sum.split(np.ravel(pixel_areas(lay.grid, t.window)))
        np.add.at(whole, v, w)
        np.add.at(fraction, v, f)
    total = fixed_sum.join(whole, fraction)
    classes = list(TRANSITIONS)
    return pd.DataFrame({"class": classes, "name": [TRANSITIONS[c] for c in classes], "area_km2": total[classes] / 1e6})


def _stable_block(b: np.ndarray, lut_ids: np.ndarray, lut_values: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(lut_ids, b)
    pos = np.minimum(pos, len(lut_ids) - 1)
    return np.where((b > 0) & (lut_ids[pos] == b), lut_values[pos], 0).astype(np.uint32)


def stable_ids_layer(ids_b, change: Change, *, grid: Grid | None = None, tile: int = 2048) -> xr.DataArray:
    """Lazy uint32 layer of epoch B's bodies under their stable ids (0 no body): the next epoch's `ids_a`."""
    lay = Layer(ids_b, grid, "epoch B body ids")
    ids = change.stable_id.index.values.astype(np.int64)
    vals = change.stable_id.values.astype(np.uint32)
    if len(ids) == 0:
        ids, vals = np.zeros(1, np.int64), np.zeros(1, np.uint32)
    out = da.map_blocks(_stable_block, lay.dask((tile, tile)), ids, vals, dtype=np.uint32)
    arr = xr.DataArray(out, dims=("y", "x"), name="stable_id")
    if lay.grid is not None:
        arr = arr.assign_coords(lay.grid.coords()).rio.write_crs(lay.grid.crs).rio.write_transform(lay.grid.transform)
    return arr


def _bodies_dir(folder) -> tuple[gpd.GeoDataFrame, Path, Path | None]:
    """(body table, body_id.tif, persistence.tif or water.tif or None) of a bodies folder. InputError when a file is
    missing or the folder is not one complete run of `irrmap water bodies` (`check_bodies_folder`)."""
    folder = Path(folder)
    table, ids = folder / "bodies.parquet", folder / "body_id.tif"
    for p in (table, ids):
        if not p.is_file():
            raise InputError(f"{p.name} not found", str(folder), "give a folder written by `irrmap water bodies`")
    check_bodies_folder(folder)
    classes = next((p for p in (folder / "persistence.tif", folder / "water.tif") if p.is_file()), None)
    return gpd.read_parquet(table), ids, classes


def check_bodies_folder(folder) -> None:
    """InputError when the files of a bodies folder are not those of one complete `irrmap water bodies` run: its output-set
    marker (irrmap.core.output_set, written by bodies_to_files) says a run was stopped while replacing them, or a file
    is not the one the marker records -- e.g. body_id.tif of one run beside bodies.parquet of another, whose bodies
    (another minimum area) the change table would count. A folder without a marker (an older irrmap) is read with a
    warning."""
    folder = Path(folder)
    mask = ""
    with contextlib.suppress(Exception):  # the mask the folder's body_id.tif names, for the fix (any reading problem: none)
        with open_raster(folder / "body_id.tif") as src:
            mask = src.tags().get("mask", "")
        mask = os.path.normpath(folder / mask) if mask and not Path(mask).is_absolute() else mask
    fix = (f"rerun `irrmap water bodies {folder} {mask or 'MASK.tif'}` with the options of that epoch and let it finish, or give "
           "another bodies folder")
    check_output_set(folder, BODIES_SET, BODY_FILES, fix=fix, what="the water bodies files")


#: body_id.tif tags (written by irrmap.mapping.water.bodies.bodies_to_files) that decide which water pixels make a
#: body: two epochs labelled with different values would count the difference of settings as change (bodies below
#: one epoch's minimum area "lost", 4- against 8-connected pieces "split" or "merged")
BODY_SETTINGS = {"min_area_m2": "--min-area-m2", "connectivity": "--connectivity", "detection_rule": "the mask's detection band"}


def _body_settings(ids: Path) -> dict[str, str]:
    with open_raster(ids) as src:
        tags = src.tags()
    out = {}
    for key in BODY_SETTINGS:
        if key in tags:
            try:
                out[key] = repr(float(tags[key])) if key == "min_area_m2" else str(tags[key])
            except ValueError:
                out[key] = str(tags[key])
    return out


def check_same_settings(dir_a, dir_b) -> None:
    """InputError when the body_id.tif tags of two bodies folders (BODY_SETTINGS: minimum area, connectivity,
    DEA detection rule) differ: the change table would report the difference of settings as lost, new, split or
    merged bodies. A setting only one folder (or neither) records is not compared (folders written before the
    tags existed)."""
    a, b = _body_settings(Path(dir_a) / "body_id.tif"), _body_settings(Path(dir_b) / "body_id.tif")
    differ = [k for k in BODY_SETTINGS if k in a and k in b and a[k] != b[k]]
    if differ:
        what = "; ".join(f"{k} {a[k]} in {dir_a} but {b[k]} in {dir_b}" for k in differ)
        opts = ", ".join(BODY_SETTINGS[k] for k in differ)
        raise InputError(f"the two bodies folders were made with different settings ({what}): bodies that one setting keeps and the "
                         "other drops or splits would show as lost, new, split or merged", f"{dir_a} / {dir_b}",
                         f"write both folders with the same {opts} (`irrmap water bodies` again on one of the masks)")


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


def previous_ids(previous, bodies_a: pd.DataFrame) -> tuple[pd.Series, int]:
    """(epoch-A id -> stable id, next free id) carried from `previous`, the change folder of the pair that
    ended at epoch A: its change.csv (id_b -> body_id of every body it has in epoch B) and the next_id tag of
    its stable_id.tif. Raises InputError when a file is missing or when that folder's epoch-B bodies are not
    the bodies of `bodies_a` (other ids or other areas)."""
    previous = Path(previous)
    csv, tif = previous / "change.csv", previous / "stable_id.tif"
    for p in (csv, tif):
        if not p.is_file():
            raise InputError(f"{p.name} not found", str(previous),
                             "give the folder written by `irrmap water change` for the pair ending at epoch A")
    rows = pd.read_csv(csv)
    rows = rows[rows["id_b"] > 0].set_index("id_b")
    area_a = _areas(bodies_a, "epoch A")
    same = rows.index.sort_values().equals(area_a.index.sort_values()) and np.allclose(
        rows["area_b_km2"].reindex(area_a.index).values, area_a.values / 1e6, rtol=1e-6, atol=1e-12)
    if not same:
        raise InputError("its epoch-B bodies are not the bodies of epoch A (other ids or areas)", str(previous),
                         "give the change folder whose BODIES_B_DIR is this BODIES_A_DIR")
    with open_raster(tif) as src:
        next_id = src.tags().get("next_id")
    if next_id is None:
        raise InputError("stable_id.tif has no next_id tag", str(tif), "write the folder again with `irrmap water change`")
    return rows["body_id"].astype(np.int64), int(next_id)


def change_to_files(out_dir, dir_a, dir_b, *, tolerance: float = 0.10, next_id: int | None = None, previous=None, tile: int = 2048,
                    tags: dict | None = None) -> dict[str, Path]:
    """Compare two body folders (written by irrmap.mapping.water.bodies.bodies_to_files) and write in OUT:
    change.csv (`match_bodies`), transitions.tif (uint8, nodata 255; from each folder's persistence.tif, else
    its water.tif, else -- with a warning -- its body ids as permanent water; the change pixels of the bodies the
    table leaves out are 255, `transitions`), transitions.csv (area per
    class), stable_id.tif (epoch B under stable ids, uint32, nodata 0; tag next_id: the first id not issued
    yet), totals_size_class.csv, totals_admin.csv (when the tables carry admin units) and large_vs_small.csv.
    `previous`: the change folder of the pair ending at epoch A (`previous_ids`), whose stable ids and next
    free id carry forward (the larger of its next id and `next_id` is used); without it the epoch-A ids are
    the stable ids. Returns paths by name. Raises InputError when a file is missing or the folders were made with
    different body settings (`check_same_settings`)."""
    out_dir = Path(out_dir)
    bodies_a, ids_a, cls_a = _bodies_dir(dir_a)
    bodies_b, ids_b, cls_b = _bodies_dir(dir_b)
    check_same_settings(dir_a, dir_b)
    stable_a = None
    if previous is not None:
        stable_a, carried_next = previous_ids(previous, bodies_a)
        next_id = max(carried_next, next_id or 0)
    change = match_bodies(bodies_a, ids_a, bodies_b, ids_b, tolerance=tolerance, next_id=next_id, stable_a=stable_a, tile=tile,
                          classes_a=cls_a, classes_b=cls_b)
    # the folders named relative to OUT (irrmap.core.relative_path): the same bytes for the same run in another folder
    all_tags = {"stage": "water.change", "epoch_a": relative_to_folder(dir_a, out_dir), "epoch_b": relative_to_folder(dir_b, out_dir),
                "tolerance": tolerance, "previous": relative_to_folder(previous, out_dir) if previous else "",
                "next_id": change.next_id} | dict(tags or {})
    paths = {"change": _write_csv(change.table, out_dir / "change.csv")}
    layers = []
    for cls, ids, folder in ((cls_a, ids_a, dir_a), (cls_b, ids_b, dir_b)):
        if cls is None:
            log.warning("%s has no water.tif: transitions read its bodies as permanent water and everything else as not water, so "
                        "unknown (cloud, shadow, snow, fill) pixels show as change (fix: write the folder again with "
                        "`irrmap water bodies`, which writes water.tif)", folder)
            lay = Layer(ids, None, "body ids")
            cls = xr.DataArray(lay.dask((tile, tile)).map_blocks(lambda v: (v > 0).astype(np.uint8), dtype=np.uint8), dims=("y", "x"))
        layers.append(cls)
    grid = Grid.from_raster(ids_a)
    legend = "; ".join(f"{k} {v}" for k, v in TRANSITIONS.items())
    layer = transitions(*layers, grid=grid, tile=tile, ids_a=ids_a, ids_b=ids_b, left_out_a=change.left_out_a, left_out_b=change.left_out_b)
    paths["transitions"] = write_raster(out_dir / "transitions.tif", layer, nodata=UNKNOWN,
                                        dtype="uint8", descriptions=[f"water transition A -> B: {legend}"], tags=all_tags,
                                        colours=palettes.TRANSITIONS)
    paths["transitions_csv"] = _write_csv(transition_areas(paths["transitions"], tile=tile), out_dir / "transitions.csv")
    paths["stable_id"] = write_raster(out_dir / "stable_id.tif", stable_ids_layer(ids_b, change, tile=tile), nodata=0, dtype="uint32",
                                      descriptions=["epoch B water body under its stable id (0: no body)"], tags=all_tags)
    paths["totals_size_class"] = _write_csv(change_totals(change.table), out_dir / "totals_size_class.csv")
    admin = next((c for c in ("admin_code", "zone") if c in change.table.columns), None)
    if admin:
        paths["totals_admin"] = _write_csv(change_totals(change.table, admin), out_dir / "totals_admin.csv")
    paths["large_vs_small"] = _write_csv(large_vs_small(change.table), out_dir / "large_vs_small.csv")
    return paths
