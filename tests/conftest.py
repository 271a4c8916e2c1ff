"""Shared test helpers: the real-data folder (tests skip when it is absent) and small DataArray builders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from irrmap.core.grid import Grid

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (real-data tests run where it exists, e.g. in CI)")
    return SHARED_DATA


def as_dataarray(values: np.ndarray, grid: Grid) -> xr.DataArray:
    """A numpy array on a grid, with rioxarray CRS and transform."""
    da = xr.DataArray(values, dims=("y", "x"), coords=grid.coords())
    return da.rio.write_crs(grid.crs).rio.write_transform(grid.transform)
