"""Scale factors say what they do. `mapping aggregate` reads a map's GDAL scale/offset as read_raster does (value =
stored x scale + offset); the warning about values that already look scaled states the multiplication that
happens (a scale of 100 multiplies by 100; it does not "shrink them 0.01 times"). Truth: hand arithmetic on an
equal-area grid (EPSG:6933, each 1000 m pixel is 1e6 m2)."""

from __future__ import annotations

import logging

import numpy as np
import rasterio
from affine import Affine

from irrmap.app.cli import main
from irrmap.core.grid import Grid
from irrmap.core.nodata import scale_effect
from irrmap.core.raster_read import read_raster

H, W, RES = 8, 12, 1000.0
T = Affine(RES, 0, 0.0, 0, -RES, 4_000_000.0)
GRID = Grid.from_bounds(0.0, 4_000_000.0 - H * RES, W * RES, 4_000_000.0, RES, "EPSG:6933")


def _write(path, raw, dtype, nodata, scale=1.0, offset=0.0):
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype=dtype, crs="EPSG:6933", transform=T,
                       nodata=nodata) as dst:
        dst.write(raw.astype(dtype), 1)
        dst.scales, dst.offsets = (scale,), (offset,)
    return path


def _aggregate(path, out) -> int:
    return main(["-q", "mapping", "aggregate", str(path), "--out", str(out), "--factor", "4"])


def _km(path) -> np.ndarray:
    with rasterio.open(path) as src:
        return src.read(1).astype(np.float64)


def test_aggregate_applies_the_files_scale(tmp_path):
    raw = np.full((H, W), 80, np.uint8)  # stored 80, scale 0.5: 40 % of each pixel
    raw[0, 0] = 255  # nodata
    path = _write(tmp_path / "half.tif", raw, "uint8", 255, scale=0.5)
    assert _aggregate(path, tmp_path / "a.tif") == 0
    km = _km(tmp_path / "a.tif")
    assert km.shape == (2, 3)
    np.testing.assert_allclose(km[0, 1:], 16 * 0.40 * 1e6, rtol=1e-6)  # was 16 x 0.80 x 1e6: twice the area
    np.testing.assert_allclose(km[0, 0], 15 * 0.40 * 1e6, rtol=1e-6)


def test_aggregate_applies_scale_and_offset_of_a_percent_x_100_map(tmp_path):
    raw = np.full((H, W), 5500, np.uint16)  # 55.00 % stored as hundredths of a percent, offset 0.5 %: 55.5 %
    path = _write(tmp_path / "hundredths.tif", raw, "uint16", 65535, scale=0.01, offset=0.5)
    assert _aggregate(path, tmp_path / "b.tif") == 0  # was refused: "values from 5500 to 5500: not a percent map"
    np.testing.assert_allclose(_km(tmp_path / "b.tif"), 16 * 0.555 * 1e6, rtol=1e-6)


def test_aggregate_scaled_to_a_fraction_is_refused_as_not_percent(tmp_path, capsys):
    raw = np.full((H, W), 40, np.uint8)  # 40 x 0.01 = 0.4: a 0..1 fraction, not percent
    path = _write(tmp_path / "frac.tif", raw, "uint8", 255, scale=0.01)
    assert _aggregate(path, tmp_path / "c.tif") == 2
    assert "--scale 1" in capsys.readouterr().err
    assert _aggregate(path, tmp_path / "c.tif") == 2 and main(["-q", "mapping", "aggregate", str(path), "--out",
                                                                str(tmp_path / "c.tif"), "--factor", "4", "--scale", "1"]) == 0
    np.testing.assert_allclose(_km(tmp_path / "c.tif"), 16 * 0.4 * 1e6, rtol=1e-6)


def test_scale_effect_states_the_multiplication():
    assert scale_effect(100, 0.9) == "scale 100 would multiply them by 100 (to |v| <= 90)"
    assert scale_effect(1e-4, 0.9) == "scale 0.0001 would divide them by 10000 (to |v| <= 9e-05)"


def test_the_scale_warning_of_fraction_data_times_100_says_multiply(tmp_path, caplog):
    frac = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    path = _write(tmp_path / "fraction.tif", frac, "float32", None)
    with caplog.at_level(logging.WARNING, logger="irrmap.core.raster_read"):
        got = read_raster(path, GRID, scale=100).values
    np.testing.assert_allclose(got, frac * 100, rtol=1e-6)  # it multiplies by 100 ...
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "would multiply them by 100 (to |v| <= 100)" in msg  # ... and the warning says so
    assert "shrink" not in msg and "0.01 times" not in msg
