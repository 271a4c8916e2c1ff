"""`treecover change` with epoch B on another grid: MODIS VCF flags (> 100: 200 water, 253 fill) are masked on
B's own grid before B is resampled, so they never blend into cover next to them. Truth: A and B hold the same
cover (50 %) and the same flagged lake, so by hand no pixel may change and the mean cover of B is 50."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.mapping.treecover.change import change_to_file, stored_percent_range


def _write(path, data, origin, dtype="uint8", scale=None):
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1, dtype=dtype, crs="EPSG:32636",
                       transform=from_origin(*origin, 30, 30)) as dst:
        dst.write(data.astype(dtype), 1)
        if scale is not None:
            dst.scales = (scale,)
    return path


def _cover(flag=200, fifty=50):
    a = np.full((60, 60), fifty, np.float64)
    a[20:40, 20:40] = flag  # a lake flagged as VCF water
    a[5:8, 45:50] = 253  # a fill patch
    return a


@pytest.mark.parametrize("shift", [7.5, 15.0, 22.5])
def test_flags_on_a_shifted_grid_do_not_become_cover(tmp_path, shift):
    a = _write(tmp_path / "a.tif", _cover(), (800000, 900000))
    b = _write(tmp_path / "b.tif", _cover(), (800000 + shift, 900000 + shift))
    out, table = tmp_path / "c.tif", tmp_path / "c.csv"
    change_to_file(out, a, b, table=table)
    with rasterio.open(out) as src:
        classes = src.read(1)
    valid = classes != 255
    assert valid.any()
    assert set(np.unique(classes[valid])) == {4}  # forest, stable: nothing changed (50 % in both epochs)
    row = pd.read_csv(table).iloc[0]
    assert row["mean_cover_b"] == pytest.approx(50.0, abs=1e-9) and row["mean_cover_a"] == pytest.approx(50.0, abs=1e-9)
    assert row["nonforest_cover_gain_m2"] == 0 and row["forest_cover_gain_m2"] == 0


def test_flags_masked_after_scale(tmp_path):
    """Fractions 0..1 with flags 2.0 read with --scale 100: the stored range kept is 0..1 (by hand: 0 / 100, 100 / 100)."""
    frac = _cover(flag=2.0, fifty=0.5)
    frac[5:8, 45:50] = 2.53
    a = _write(tmp_path / "a.tif", frac, (800000, 900000), dtype="float32")
    b = _write(tmp_path / "b.tif", frac, (800007.5, 900007.5), dtype="float32")
    lo, hi = stored_percent_range(b, 100)
    assert lo == pytest.approx(0.0, abs=1e-8) and hi == pytest.approx(1.0)
    change_to_file(tmp_path / "c.tif", a, b, scale=100, table=tmp_path / "c.csv")
    row = pd.read_csv(tmp_path / "c.csv").iloc[0]
    assert row["mean_cover_b"] == pytest.approx(50.0, abs=1e-4)
    with rasterio.open(tmp_path / "c.tif") as src:
        classes = src.read(1)
    assert set(np.unique(classes[classes != 255])) == {4}


def test_stored_range_uses_the_files_own_scale(tmp_path):
    p = _write(tmp_path / "s.tif", np.zeros((4, 4)), (0, 0), dtype="uint16", scale=0.01)  # percent x 100
    lo, hi = stored_percent_range(p)
    assert lo == pytest.approx(0.0, abs=1e-4) and hi == pytest.approx(10000.0)
    assert stored_percent_range(p, 1.0)[1] == pytest.approx(100.0)


def test_missing_epoch_is_a_clean_error(tmp_path):
    from irrmap.core.errors import InputError

    a = _write(tmp_path / "a.tif", _cover(), (800000, 900000))
    with pytest.raises(InputError, match="EPOCH_B not found"):
        change_to_file(tmp_path / "c.tif", a, tmp_path / "nope.tif")
