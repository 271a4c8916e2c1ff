"""A stack chunk read in one read and one decode (irrmap.core.raster_read._stack_in_one_read) gives what reading
and decoding every band on its own gives, and the compiled scaling (irrmap.core.scaled_values) equals numpy's
float64 form bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from affine import Affine

from irrmap.core.grid import Grid
from irrmap.core.nodata import Decoding
from irrmap.core.raster_read import read_raster, read_raster_bands
from irrmap.core.scaled_values import scaled

T, H, W = 6, 90, 110
TRANSFORM = Affine(0.01, 0, 100.0, 0, -0.01, 40.0)


@pytest.mark.parametrize("dtype", ["int16", "uint16", "int32", "uint8"])
def test_scaled_equals_numpy_float64_form(dtype):
    info = np.iinfo(dtype)
    vals = np.arange(max(info.min, -70000), min(info.max, 70000) + 1).astype(dtype)
    miss = (vals % 7 == 0)
    for scale, offset in ((1e-4, 0.0), (1e-4, 0.1), (0.0001, -0.3), (2.75e-05, -0.2), (0.02, 273.15), (3.3, 1e-7)):
        want = (vals.astype(np.float64) * scale + offset).astype(np.float32)
        want[miss] = np.nan
        got = scaled(vals, miss, scale, offset)
        assert got.tobytes() == want.tobytes(), (dtype, scale, offset)


def _stack(tmp_path, dtype="int16", interleave="pixel", **tags):
    rng = np.random.default_rng(5)
    data = rng.integers(-3000, 10001, (T, H, W)).astype(dtype) if dtype == "int16" else rng.integers(0, 20000, (T, H, W)).astype(dtype)
    data[:, :3, :] = -3000 if dtype == "int16" else 65535  # nodata rows
    path = tmp_path / f"stack_{dtype}_{interleave}.tif"
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=T, dtype=dtype, crs="EPSG:4326", transform=TRANSFORM,
                       nodata=-3000 if dtype == "int16" else 65535, tiled=True, blockxsize=32, blockysize=32, compress="deflate",
                       interleave=interleave) as dst:
        dst.write(data)
    return path, data


@pytest.mark.parametrize("interleave", ["pixel", "band"])
@pytest.mark.parametrize("where", ["inside", "overhanging"])
def test_stack_equals_band_by_band(tmp_path, interleave, where, monkeypatch):
    """Same bytes as each band read alone, whether the chunk lies wholly in the file (one read) or overhangs it
    (band by band), for a scaled int16 stack with nodata, a fill value and a valid range, and the hand formula."""
    path, data = _stack(tmp_path, interleave=interleave)
    if where == "inside":
        grid = Grid("EPSG:4326", TRANSFORM * Affine.translation(7, 5), 70, 90)  # rows 5..75, cols 7..97
        r0, c0 = 5, 7
    else:
        grid = Grid("EPSG:4326", TRANSFORM * Affine.translation(-4, -6), 100, 120)
        r0, c0 = -6, -4
    kw = dict(scale=1e-4, offset=0.05, fill_values=[-2999], valid_range=(-2000, 10000))
    from irrmap.core import raster_read

    one_read, taken = raster_read._stack_in_one_read, []
    monkeypatch.setattr(raster_read, "_stack_in_one_read", lambda *a: taken.append(one_read(*a)) or taken[-1])
    stack = read_raster_bands(path, grid, range(1, T + 1), chunks=32, **kw).values
    # the one-read path serves the chunks of a pixel-interleaved file inside it, and only those
    n_one = sum(t is not None for t in taken)
    assert (n_one == len(taken) > 0) if (interleave, where) == ("pixel", "inside") else n_one < len(taken)
    for b in range(1, T + 1):
        alone = read_raster(path, grid, band=b, chunks=32, **kw).values
        assert stack[b - 1].tobytes() == alone.tobytes()
    # the hand formula on the part of the grid inside the file
    rr = slice(max(r0, 0), min(r0 + grid.height, H))
    cc = slice(max(c0, 0), min(c0 + grid.width, W))
    raw = data[:, rr, cc].astype(np.float64)
    want = (raw * 1e-4 + 0.05).astype(np.float32)
    want[(raw == -3000) | (raw == -2999) | (raw < -2000) | (raw > 10000)] = np.nan
    got = stack[:, rr.start - r0: rr.stop - r0, cc.start - c0: cc.stop - c0]
    assert got.tobytes() == want.tobytes()


def test_decode_of_a_stack_is_elementwise():
    """Decoding.decode on a (T, h, w) stack equals decoding each layer (the one-read path relies on it)."""
    rng = np.random.default_rng(9)
    raw = rng.integers(-3000, 10001, (4, 20, 30)).astype(np.int16)
    dec = Decoding(nodata=-3000, fill_values=(-2999,), scale=1e-4, offset=0.0, valid_range=(-2000, 10000))
    whole = dec.decode(raw.copy(), owned=True)
    assert whole.tobytes() == np.stack([dec.decode(layer.copy()) for layer in raw]).tobytes()


@pytest.mark.parametrize("dtype", ["int16", "uint16", "uint8", "int8"])
@pytest.mark.parametrize("rules", [
    dict(nodata=-3000.0, fill_values=(-3000, 65531), scale=1e-4, valid_range=(-2000, 10000), signed=True),  # MOD13Q1 preset
    dict(fill_values=(-28672,), scale=1e-4, valid_range=(-100, 16000)),  # MOD09 preset
    dict(fill_values=[-28672, 255], scale=1e-4, valid_range=[-100, 16000]),  # lists, as a config file gives them
    dict(nodata=255.0),
    dict(nodata=0.0, scale=2.75e-05, offset=-0.2),  # Landsat C2 L2 surface reflectance
    dict(valid_range=(10, 20), scale=0.02, offset=273.15),
    dict(),
])
def test_decoding_large_blocks_through_a_table_gives_the_rules_values(dtype, rules):
    # a block above the table's size is looked up; every value of the type, decoded in pieces below that size,
    # goes through the rules' own passes: the two must be the same bits
    info = np.iinfo(dtype)
    every = np.arange(info.min, info.max + 1).astype(dtype)
    dec = Decoding(**rules)
    by_rules = np.concatenate([dec.decode(every[i:i + 1000].copy()) for i in range(0, every.size, 1000)])
    block = np.tile(every, max(2, (1 << 17) // every.size + 1)).reshape(-1, 64)
    assert block.size > 1 << 16
    got = dec.decode(block)
    assert got.dtype == np.float32
    assert got.reshape(-1).tobytes() == np.tile(by_rules, block.size // every.size).tobytes()
