"""units.csv's cropland_m2 of a unit without a statistic (status missing) is its real cropland, not 0: the cropland
area that could be ranked, counted by hand (cropland fraction x pixel area where fraction and probability are known)."""

from __future__ import annotations

import numpy as np
import pytest
from irrmap.mapping.reconcile import rethreshold


def test_a_unit_without_statistic_reports_its_cropland():
    # unit 1: target 50 m2 over f .5 .4 (pixel 100 m2); unit 2, no statistic: f .3 .6 and one pixel without probability
    unit = np.array([[1, 1, 2, 2, 2, 0]])
    f = np.array([[0.5, 0.4, 0.3, 0.6, 0.9, 1.0]])
    p = np.array([[0.9, 0.1, 0.5, 0.5, np.nan, 0.5]])
    cls, _, table = rethreshold(unit, p, f, np.full((1, 1), 100.0), np.array([np.nan, 50.0, np.nan]))
    assert cls.tolist() == [[1, 0, 255, 255, 255, 255]]
    t = table.set_index(table.index + 1)
    assert t.loc[1, "cropland_m2"] == pytest.approx(50.0 + 40.0)
    assert t.loc[2, "status"] == "missing" and np.isnan(t.loc[2, "mapped_m2"])
    assert t.loc[2, "cropland_m2"] == pytest.approx(30.0 + 60.0)  # 0.9 x 100 has no probability: it could not be ranked
