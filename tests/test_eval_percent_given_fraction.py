"""A 0..1 fraction map evaluated as percent (`evaluate statistics --map-kind percent`, [evaluation].map_kind) is refused:
it was accepted and every area came out 100x too small (the demo's 2,417 ha as 24.2 ha, exit 0). `mapping aggregate`
refused the same file already. Truth: values written here by hand."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from irrmap.core.errors import DataError
from irrmap.evaluation.workflow import check_map_values


def _map(path, values, dtype="float32", nodata=-1.0):
    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1, dtype=dtype,
                       crs="EPSG:4326", transform=from_origin(100, 40, 0.01, 0.01), nodata=nodata) as d:
        d.write(values.astype(dtype), 1)
    return path


FRACTIONS = np.linspace(0, 0.9, 100).reshape(10, 10)


def test_a_fraction_map_declared_percent_is_refused(tmp_path):
    p = _map(tmp_path / "f01.tif", FRACTIONS)
    with pytest.raises(DataError, match="a 0..1 fraction, whose areas would be divided by 100") as e:
        check_map_values(p, kind="percent")
    assert "--map-kind fraction" in e.value.fix and "0.9" in str(e.value)


def test_the_same_map_as_fraction_and_a_percent_map_pass(tmp_path):  # controls
    assert check_map_values(_map(tmp_path / "f01.tif", FRACTIONS), kind="fraction")["max"] == pytest.approx(0.9)
    assert check_map_values(_map(tmp_path / "pct.tif", FRACTIONS * 100), kind="percent")["max"] == pytest.approx(90)


def test_a_percent_map_of_whole_numbers_up_to_1_is_left_to_the_counts_warning(tmp_path):
    # whole numbers are not this rule's: 0/1 maps declared percent get the counts warning (_warn_counts_as_percent)
    v = (np.arange(100).reshape(10, 10) % 2).astype("uint8")
    assert check_map_values(_map(tmp_path / "c.tif", v, dtype="uint8", nodata=255), kind="percent")["max"] == 1
