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
