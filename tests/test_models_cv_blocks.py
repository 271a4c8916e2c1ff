"""Blocked CV on a small region: when the samples fall in fewer blocks than folds, the block size is halved until
there is one block per fold (with a warning naming the size), instead of failing; too few samples still fail."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from irrmap.core.errors import InputError
from irrmap.models.spatial_cv import block_groups, blocks_for_folds


def test_blocks_shrink_to_one_per_fold(caplog):
    rows, cols = np.mgrid[0:64, 0:80]
    rows, cols = rows.ravel(), cols.ravel()
    # 40 px blocks over 64 x 80 px: 2 x 2 = 4 blocks for 5 folds; 20 px: 4 x 4 = 16 blocks
    assert len(np.unique(block_groups(rows, cols, 40))) == 4
    with caplog.at_level(logging.WARNING):
        groups, used = blocks_for_folds(lambda b: block_groups(rows, cols, int(b)), 40, 5, 1)
    assert used == 20 and len(np.unique(groups)) == 16
    assert "blocks of 20 px used instead" in caplog.text


def test_enough_blocks_keep_the_size(caplog):
    rows, cols = np.mgrid[0:200, 0:200]
    with caplog.at_level(logging.WARNING):
        groups, used = blocks_for_folds(lambda b: block_groups(rows.ravel(), cols.ravel(), int(b)), 40, 5, 1)
    assert used == 40 and len(np.unique(groups)) == 25 and not caplog.text


def test_too_few_samples_fail_clearly():
    rows, cols = np.array([0, 0, 1]), np.array([0, 1, 0])
    with pytest.raises(InputError, match="3 blocks, fewer than 5 folds"):
        blocks_for_folds(lambda b: block_groups(rows, cols, int(b)), 40, 5, 1)


def test_both_cvs_share_one_pool_and_keep_their_scores():
    # the blocked and the random CV's folds run in one pool of threads: the scores are those of each CV run on its
    # own (cross_validate with the same folds), fold by fold, and do not depend on the thread count
    from sklearn.ensemble import RandomForestClassifier

    from irrmap.models.spatial_cv import assign_folds, cross_validate, spatial_vs_random

    rng = np.random.default_rng(4)
    rows, cols = (a.ravel() for a in np.mgrid[0:60, 0:50])
    X = np.column_stack([rows + rng.normal(0, 5, rows.size), cols, rng.normal(size=rows.size)]).astype(np.float32)
    y = ((rows + cols) % 40 > 17).astype(int)
    make = lambda: RandomForestClassifier(n_estimators=8, min_samples_leaf=5, random_state=3)  # noqa: E731
    runs = [spatial_vs_random(make, X, y, rows=rows, cols=cols, block=10, seed=7, n_jobs=n) for n in (1, 2, 3)]
    assert runs[0] == runs[1] == runs[2]
    groups, _ = blocks_for_folds(lambda b: block_groups(rows, cols, int(b)), 10, 5, 1)
    assert runs[0]["blocked"] == cross_validate(make, X, y, assign_folds(groups, 5, 7))
    # without a random_split (a model other than a bootstrap forest in fit_from_pool) the random split is 5 random folds
    assert runs[0]["random"] == cross_validate(make, X, y, assign_folds(np.arange(y.size), 5, 7)) | {"method": "5-fold random"}
    assert 0.5 < runs[0]["blocked"]["oa"] < runs[0]["random"]["oa"]
