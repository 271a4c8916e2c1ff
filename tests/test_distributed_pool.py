"""The training pool is chosen strip by strip, keeping only each (unit, class)'s current sample, so the client
never holds the whole agreement pool; the sample must be the one a single pass over the grid picks: per unit
and class, the pixels with the smallest priority keys (the truth here is that rule applied naively, with numpy)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irrmap.core.grid import Grid
from irrmap.training.pool import priority_keys, sample_pool

from conftest import as_dataarray


def test_strip_by_strip_sample_is_the_smallest_keys_of_each_unit_and_class():
    rng = np.random.default_rng(11)
    rows, cols = 90, 60
    g = Grid.from_bounds(100.0, 40.0, 100.0 + cols * 0.01, 40.0 + rows * 0.01, 0.01, "EPSG:4326")
    zones = (np.arange(rows)[:, None] // 30 * 3 + np.arange(cols)[None, :] // 20 + 1).astype(np.int32)  # 9 units over many strips
    frac = np.where(rng.random((rows, cols)) < 0.8, 0.5, 0.0).astype(np.float32)
    m = (rng.random((rows, cols)) < 0.5).astype(np.uint8)
    quota = np.array([0, 3, 0, 50, 7, 1000, 7, 7, 7, 7])
    got = sample_pool([as_dataarray(m, g), as_dataarray(m.copy(), g)], as_dataarray(zones, g), as_dataarray(frac, g),
                      per_class_by_zone=quota, seed=5, strip_rows=4)
    pos = np.flatnonzero(frac.ravel() > 0)
    naive = pd.DataFrame({"pos": pos, "zone": zones.ravel()[pos], "label": m.ravel()[pos], "key": priority_keys(pos, 5)})
    naive = naive.sort_values("key")
    naive = naive[naive.groupby(["zone", "label"]).cumcount().to_numpy() < quota[naive["zone"].to_numpy()]].sort_values("pos")
    assert got["row"].to_numpy().tolist() == (naive["pos"] // cols).tolist()
    assert got["col"].to_numpy().tolist() == (naive["pos"] % cols).tolist()
    assert got["label"].tolist() == naive["label"].tolist() and len(got) > 100
