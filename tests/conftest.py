"""Shared test helpers: the real-data folder (tests skip when it is absent) and small DataArray builders."""

from __future__ import annotations

import contextlib
import os
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


@contextlib.contextmanager
def environ_restored():
    """os.environ as it was when the block was entered, again when it is left (every variable set, changed or
    removed inside is put back). A dask.distributed Nanny (LocalCluster(processes=True), `local-processes:N`) writes
    dask's pre-spawn environment (OMP_NUM_THREADS=1, MKL_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1,
    MALLOC_TRIM_THRESHOLD_, PYTHONHASHSEED) into the os.environ of the process that starts it; later tests and their
    subprocesses must not inherit it. Wrap every in-process cluster of a test (or a module fixture) in it."""
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def restored_environ():
    """environ_restored() around one test."""
    with environ_restored():
        yield
