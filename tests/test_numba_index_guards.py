"""numba kernels do no bounds checking and wrap negative indices, so a kernel that indexes a table with a value
taken from the data (a zone id, a feature number, a bucket computed from a value) reads or writes the wrong element,
or memory outside the array, when the data holds an unexpected value. These tests give each public function such a
value and check it is refused with an error naming the input (before the fix they returned a silently wrong
result), and that valid inputs keep their hand-computed results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from irrmap.core.errors import InputError


# ---- training/split_kernel.py: zone ids index the per-unit counters -----------------------------------------
def test_rethreshold_refuses_a_unit_id_beyond_the_targets():
    """Unit 2 with targets for units 0..1 only: the counting sort wrote past its counter array and the pixel was
    silently mapped 0 (not irrigated) with unit 1's statistic."""
    from irrmap.mapping.reconcile import rethreshold

    unit = np.array([[1, 2, 1, 1]])
    p = np.array([[0.9, 0.95, 0.7, 0.6]])
    with pytest.raises(InputError, match="unit ids"):
        rethreshold(unit, p, np.ones((1, 4)), np.full((1, 4), 100.0), np.array([np.nan, 150.0]))


def test_rethreshold_valid_units_hand_computed():
    # unit 1: pixels 0, 2, 3 (scores .9 .7 .6, 100 m2 each); target 150 -> nearest: 100 (error 50, tie with 200 -> k)
    # c_1 = 100 < 150, c_2 = 200 >= 150: |200 - 150| = 50 <= |150 - 100| = 50 -> label 2 pixels (0 and 2)
    from irrmap.mapping.reconcile import rethreshold

    unit = np.array([[1, 0, 1, 1]])
    p = np.array([[0.9, 0.95, 0.7, 0.6]])
    cls, _, table = rethreshold(unit, p, np.ones((1, 4)), np.full((1, 4), 100.0), np.array([np.nan, 150.0]))
    assert cls.tolist() == [[1, 255, 1, 0]]
    assert table.mapped_m2.tolist() == [200.0] and table.cropland_m2.tolist() == [300.0]


@pytest.mark.parametrize("bad", [-1, -9999, 5, 2**32 + 1], ids=["minus-one", "nodata", "beyond-N", "wraps-to-1-as-int32"])
def test_split_refuses_unit_ids_outside_the_target_table(bad):
    """Before: -1 put candidate 2 into unit 1's segment and dropped candidate 3 from the order (order [0, 0, 1, 2]);
    2**32 + 1 became unit 1 in the int32 cast; 5 wrote past the counters."""
    from irrmap.training.split_kernel import split

    unit = np.array([1, 1, bad, 1], np.int64)
    with pytest.raises(InputError, match="unit ids"):
        split(unit, np.array([0.9, 0.8, 0.7, 0.6], np.float32), np.ones(4), np.array([np.nan, 2.0]))


def test_split_refuses_a_nan_unit_id():
    """A float unit array holding NaN (a zone raster's missing value) cast to int32 as -2**31."""
    from irrmap.training.split_kernel import split

    with pytest.raises(InputError, match="unit ids"):
        split(np.array([1.0, np.nan, 1.0]), np.array([0.9, 0.8, 0.7], np.float32), np.ones(3), np.array([np.nan, 2.0]))


@pytest.mark.parametrize("n_score, n_area", [(3, 4), (4, 2)], ids=["short-score", "short-area"])
def test_split_refuses_scores_or_areas_of_another_length(n_score, n_area):
    """The kernels read score keys and areas at the candidates' positions in `unit`: a short score array ranked
    candidate 3 first on a key read past its end; a short area array labelled all 4 candidates of a 2.0 target."""
    from irrmap.training.split_kernel import split

    with pytest.raises(InputError, match="candidates"):
        split(np.ones(4, int), np.linspace(0.9, 0.6, n_score).astype(np.float32), np.ones(n_area), np.array([np.nan, 2.0]))


def test_split_valid_units_unchanged():
    from irrmap.training.split_kernel import split

    # unit 0: candidate 1 (never labelled, area counted); unit 1: candidates 0, 2, 3 by score; c reaches 2.0 at k = 2
    labelled, order, starts, n_label, mapped, cropland = split(np.array([1, 0, 1, 1]), np.array([0.9, 0.8, 0.7, 0.6], np.float32),
                                                                 np.ones(4), np.array([np.nan, 2.0]))
    assert labelled.tolist() == [1, 0, 1, 0]
    assert order.tolist() == [1, 0, 2, 3] and starts.tolist() == [0, 1, 4]
    assert n_label.tolist() == [0, 2] and mapped.tolist() == [0.0, 2.0] and cropland.tolist() == [1.0, 3.0]


def test_threshold_splitter_refuses_candidates_beyond_their_unit_count():
    """gather_candidates with an explicit n_units (the weight search passes the unit table's count) keeps zone ids
    above it; ThresholdSplitter.fit then sized its target table by n_units and the kernel indexed past it."""
    import xarray as xr

    from irrmap.core.grid import Grid
    from irrmap.training.thresholds import Candidates, ThresholdSplitter, gather_candidates

    grid = Grid.from_bounds(0, 0, 400, 100, 100, "EPSG:32650")
    zones = xr.DataArray(np.array([[1, 1, 2, 1]], np.int32), dims=("y", "x"), coords=grid.coords()).rio.write_crs(grid.crs)
    zones = zones.rio.write_transform(grid.transform)
    crop = zones.astype(np.float32) * 0 + 1
    score = zones.astype(np.float32) * 0 + np.array([[0.9, 0.8, 0.95, 0.6]], np.float32)
    with pytest.raises(InputError, match=r"zone ids 1\.\.2 are outside 1\.\.1"):  # refused while gathering (split_common.zone_ids)
        gather_candidates(zones, crop, n_units=1)
    # candidates made by other code are still checked by the splitter before the kernel
    cand = Candidates(grid, np.arange(4, dtype=np.int64), np.array([1, 1, 2, 1], np.int32), np.full(4, 1e4, np.float32), 1)
    with pytest.raises(InputError, match="unit ids"):
        ThresholdSplitter().fit(score, targets=pd.Series({1: 15000.0}), candidates=cand)


# ---- models/compiled_forest.py: split features index the columns of X ---------------------------------------
def _forest_data():
    rng = np.random.default_rng(0)
    X = rng.random((400, 5)).astype(np.float32)
    return X, (X[:, 4] + 0.3 * X[:, 0] > 0.6).astype(int)


def test_compiled_forest_refuses_rows_with_fewer_features_than_the_model():
    """A forest fitted on 5 features given 3 columns: the walk read feature 4 from the next row (and past the end of
    X on the last row), so P(class 1) came back silently wrong ([1, 0, .2, ...] for sklearn's [1, 1, 1, ...])."""
    from sklearn.ensemble import RandomForestClassifier

    from irrmap.models.compiled_forest import compile_estimator

    X, y = _forest_data()
    fast = compile_estimator(RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y))
    for threads in (1, 2):
        with pytest.raises(InputError, match="3 features given, the model has 5"):
            fast.predict(np.ascontiguousarray(X[:10, :3]), n_threads=threads)
    with pytest.raises(InputError, match="features"):
        fast.predict(X[0])  # one row as a vector


def test_compiled_lightgbm_refuses_rows_with_fewer_features_than_the_model():
    """The bit-mask walk (trees of <= 32 leaves) gathers X's columns by split feature: same fault, same guard."""
    lightgbm = pytest.importorskip("lightgbm")
    from irrmap.models.compiled_forest import compile_estimator

    X, y = _forest_data()
    est = lightgbm.LGBMClassifier(n_estimators=5, num_leaves=7, min_child_samples=5, verbose=-1).fit(X, y)
    fast = compile_estimator(est)
    assert fast.node_walked_trees == 0
    np.testing.assert_allclose(fast.predict(X), est.predict_proba(X)[:, 1], rtol=1e-12)
    with pytest.raises(InputError, match="2 features given, the model has 5"):
        fast.predict(np.ascontiguousarray(X[:, :2]))


def test_compiled_forest_valid_rows_equal_sklearn():
    from sklearn.ensemble import RandomForestClassifier

    from irrmap.models.compiled_forest import compile_estimator

    X, y = _forest_data()
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    assert np.array_equal(compile_estimator(est).predict(X, n_threads=1), est.predict_proba(X)[:, 1])


# ---- irrmap/sources/shadow.py: values are the bucket queue's level index ------------------------------------
@pytest.mark.parametrize("pit", [-1, 70000], ids=["nodata-minus-one", "beyond-uint16"])
def test_fill_minima_refuses_values_outside_uint16(pit):
    """A pit of -1 (a nodata marker) in an int array: the cast to uint16 made it 65535, a peak, so it came back
    65535 instead of being filled to its rim (5); 70000 became 4464."""
    from irrmap.sources.shadow import fill_minima

    img = np.full((3, 4), 5, np.int64)
    img[1, 1:3] = pit
    with pytest.raises(InputError, match="0..65535"):
        fill_minima(img, 0)


def test_fill_minima_refuses_nan_and_fractions():
    from irrmap.sources.shadow import fill_minima

    img = np.full((3, 4), 5.0)
    img[1, 1] = np.nan
    with pytest.raises(InputError, match="0..65535"):
        fill_minima(img, 0)
    img[1, 1] = 2.5
    with pytest.raises(InputError, match="0..65535"):
        fill_minima(img, 0)


def test_fill_minima_valid_integers_fill_to_the_rim():
    from irrmap.sources.shadow import fill_minima

    img = np.full((4, 5), 5, np.int64)
    img[1:3, 1:4] = [[1, 2, 1], [3, 1, 2]]  # a basin inside a rim of 5, the border the outlet ring at 0
    want = np.full((4, 5), 5, np.uint16)
    np.testing.assert_array_equal(fill_minima(img, 0), want)
    np.testing.assert_array_equal(fill_minima(img.astype(np.uint16), 0), want)
    np.testing.assert_array_equal(fill_minima(img.astype(np.float32), 7), np.full((4, 5), 7, np.uint16))  # the ring at 7 floods all


def test_match_shadows_refuses_a_valid_mask_of_another_shape():
    """The matching kernel bounds a moved pixel by the cloud's shape and then reads `valid` there: a (1, W) mask
    (which numpy would broadcast) was read past its end."""
    from irrmap.sources.shadow import match_shadows

    cloud = np.zeros((20, 20), bool)
    cloud[2:6, 2:6] = True
    with pytest.raises(InputError, match="shape"):
        match_shadows(cloud, np.zeros((20, 20), bool), np.ones((1, 20), bool), sun_zenith=45.0, sun_azimuth=135.0, pixel_m=30.0)


def test_count_blocks_refuses_indices_outside_its_arrays():
    """count_blocks' kernel indexes the table by code and the counters by block, unchecked; its one caller keeps the
    window inside the blocks, but the function now refuses what would leave an array, and counts right otherwise
    (truth: numpy's reshape-sum over the blocks)."""
    from irrmap.core.block_counts import IDENTITY, code_bits, count_blocks

    rng = np.random.default_rng(5)
    codes = rng.integers(0, 4, (6, 9)).astype(np.uint8)
    table = code_bits(np.arange(256) == 0, np.arange(256) >= 2)  # 0 missing; 2 and 3 members
    valid, member = count_blocks(codes, table, None, (2, 3), 3, 3, 0, 0)
    blocks = lambda a: a.reshape(2, 3, 3, 3).sum(axis=(1, 3))  # noqa: E731
    assert np.array_equal(valid, blocks(codes != 0)) and np.array_equal(member, blocks(codes >= 2))
    # a window starting one row and two columns into its first block
    valid, _ = count_blocks(codes[:5, :7], table, None, (2, 3), 3, 3, 1, 2)
    padded = np.zeros((6, 9), bool)
    padded[1:, 2:] = codes[:5, :7] != 0
    assert np.array_equal(valid, blocks(padded))
    with pytest.raises(ValueError, match="leaves the"):
        count_blocks(codes, table, None, (2, 2), 3, 3, 0, 0)  # the third block column is not in `shape`
    with pytest.raises(ValueError, match="leaves the"):
        count_blocks(codes, table, None, (2, 3), 3, 3, 1, 0)  # row 5 + 1 falls in block row 2
    with pytest.raises(ValueError, match="table of 256 entries for uint16"):
        count_blocks(codes.astype(np.uint16), table, None, (2, 3), 3, 3, 0, 0)
    with pytest.raises(ValueError, match="mask of shape"):
        count_blocks(codes, IDENTITY, np.ones((6, 8), np.uint8), (2, 3), 3, 3, 0, 0)
    with pytest.raises(ValueError, match="8- or 16-bit"):
        count_blocks(codes.astype(np.int32), table, None, (2, 3), 3, 3, 0, 0)
