"""Uncapped distance to water on general grids (MODIS sinusoidal, Albers) with dask input: block by block with one
k-d tree of the water pixels, never the whole grid in one block; the same bytes as the numpy whole-grid result and
pyproj.Geod.inv's geodesic to the nearest water pixel centre (brute force over every water pixel)."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import rasterio
from conftest import as_dataarray
from dask.callbacks import Callback
from irrmap.suitability import distance as distance_module
from irrmap.suitability import distance_general
from irrmap.suitability.distance import distance_to_water
from pyproj import CRS, Geod, Transformer

from irrmap.app.cli import main
from irrmap.core.errors import DataError
from irrmap.core.grid import Grid

MODIS_R = 6371007.181
MODIS_SINU = f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={MODIS_R} +units=m +no_defs"  # SR-ORG:6842
MODIS_PIXEL = 231.656358263889  # MOD13Q1 250 m pixel (tile width 1,111,950.5197 m / 4800)
H, W = 200, 300
CASES = {  # (CRS, lon, lat of the grid's centre, pixel size)
    "modis-sinusoidal-100E-40N": (MODIS_SINU, 100.0, 40.0, MODIS_PIXEL),
    "modis-sinusoidal-170E-65N": (MODIS_SINU, 170.0, 65.0, MODIS_PIXEL),  # rows 70 deg off perpendicular
    "conus-albers-maine": ("EPSG:5070", -68.0, 47.0, 250.0),
}


def _grid_at(crs, lon, lat, res) -> Grid:
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    left, top = x - res * W / 2, y + res * H / 2
    return Grid(CRS(crs).to_wkt(), rasterio.Affine(res, 0, left, 0, -res, top), H, W)


def _mask(seed: int = 0) -> np.ndarray:
    """(H, W) float32: 1 water in five blobs (rectangles, a diagonal line, single pixels), 0 land, NaN a missing patch."""
    m = np.zeros((H, W), np.float32)
    m[20:26, 30:41] = 1
    m[150:163, 240:247] = 1
    m[90:92, 120:180] = 1
    m[np.arange(100, 140), np.arange(10, 50)] = 1
    rng = np.random.default_rng(seed)
    m[rng.integers(0, H, 6), rng.integers(0, W, 6)] = 1
    m[60:70, 200:215] = np.nan
    return m


def _geod(grid: Grid) -> Geod:
    """WGS84 for a CRS on a sphere (MODIS sinusoidal projects WGS84 lon/lat with a sphere's formulas), else its own."""
    crs = CRS(grid.crs.to_wkt())
    return Geod(ellps="WGS84") if crs.ellipsoid.inverse_flattening == 0 else crs.get_geod()


def _lonlat(grid: Grid):
    crs = CRS(grid.crs.to_wkt())
    xx, yy = np.meshgrid(grid.x_coords(), grid.y_coords())
    return Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(xx, yy)


class _Shapes(Callback):
    """Records the shape of every array a task returns."""

    def __init__(self):
        super().__init__()
        self.shapes = []

    def _posttask(self, key, result, dsk, state, id):
        if isinstance(result, np.ndarray):
            self.shapes.append(result.shape)


@pytest.mark.parametrize("case", sorted(CASES))
def test_blocks_equal_whole_grid_and_geodesics(case):
    grid = _grid_at(*CASES[case])
    assert grid.metric_kind == "general"
    m = _mask()
    whole = distance_to_water(as_dataarray(m, grid)).values
    lazy = distance_to_water(as_dataarray(m, grid).chunk({"y": 64, "x": W}))
    assert lazy.data.chunks == ((64, 64, 64, 8), (W,))
    blocks = lazy.values
    assert blocks.tobytes() == whole.tobytes()
    assert np.array_equal(np.isnan(blocks), np.isnan(m)) and (blocks[m == 1] == 0).all()
    lon, lat = _lonlat(grid)
    wl, wt = lon[m == 1], lat[m == 1]
    land = np.argwhere(m == 0)
    samples = land[np.random.default_rng(1).choice(len(land), 60, replace=False)]
    geod = _geod(grid)
    truth = np.array([geod.inv(np.full(wl.size, lon[r, c]), np.full(wl.size, lat[r, c]), wl, wt)[2].min() for r, c in samples])
    assert truth.max() > 10_000
    np.testing.assert_allclose(blocks[tuple(samples.T)], truth, rtol=2e-7)


def test_no_task_holds_the_whole_grid():
    """The old code rechunked the mask to its whole shape (one task of H x W pixels) before the k-d tree."""
    grid = _grid_at(*CASES["conus-albers-maine"])
    lazy = distance_to_water(as_dataarray(_mask(), grid).chunk({"y": 64, "x": W}))
    assert lazy.data.chunks == ((64, 64, 64, 8), (W,))
    rec = _Shapes()
    with rec, dask.config.set(scheduler="threads"):
        dask.compute(*lazy.data.to_delayed().ravel())  # the blocks, without compute()'s final concatenation
    assert rec.shapes and max(s[0] for s in rec.shapes if len(s) == 2) <= 64, sorted(set(rec.shapes))
    assert (H, W) not in rec.shapes


def test_off_earth_corners_nan_in_blocks():
    """A sinusoidal grid across the edge of the world at 60 N: the Earth ends at |x| = pi R cos(y / R)."""
    y = np.radians(60.0) * MODIS_R
    edge = np.pi * MODIS_R * np.cos(y / MODIS_R)
    grid = Grid(CRS(MODIS_SINU).to_wkt(), rasterio.Affine(MODIS_PIXEL, 0, edge - 40.3 * MODIS_PIXEL, 0, -MODIS_PIXEL,
                                                          y + 20 * MODIS_PIXEL), 40, 80)
    xx, yy = np.meshgrid(grid.x_coords(), grid.y_coords())
    off = np.abs(xx) > np.pi * MODIS_R * np.cos(yy / MODIS_R)
    assert 0 < off.sum() < off.size
    water = np.zeros(grid.shape, np.float32)
    water[:, 0] = 1
    water[off & (np.arange(80) % 5 == 0)] = 1  # water off the Earth has no distance either
    d = distance_to_water(as_dataarray(water, grid).chunk(16)).values
    assert np.array_equal(np.isnan(d), off)
    assert d.tobytes() == distance_to_water(as_dataarray(water, grid)).values.tobytes()


def test_too_many_water_pixels_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(distance_general, "MAX_TREE_POINTS", 50)
    grid = _grid_at(*CASES["modis-sinusoidal-100E-40N"])
    with pytest.raises(DataError, match="max-distance"):
        distance_to_water(as_dataarray(_mask(), grid).chunk({"y": 64, "x": W}))


def _write(path, values: np.ndarray, grid: Grid) -> None:
    with rasterio.open(path, "w", driver="GTiff", width=W, height=H, count=1, dtype="uint8", crs=grid.crs,
                       transform=grid.transform, tiled=True, blockxsize=64, blockysize=64) as ds:
        ds.write(values, 1)


def test_cli_streams_general_grids(tmp_path, monkeypatch, capsys):
    """`irrmap suitability distance` without --max-distance on a sinusoidal mask: the values of the numpy whole grid,
    computed in the mask's chunks (the CLI used to read the whole mask into one array first); too many water pixels
    is a clear error (exit 2, no traceback)."""
    grid = _grid_at(*CASES["modis-sinusoidal-100E-40N"])
    m = np.nan_to_num(_mask(), nan=0.0)
    _write(tmp_path / "mask.tif", m.astype(np.uint8), grid)
    seen = []
    real = distance_module.distance_to_water

    def spy(water, **kw):
        seen.append(water.chunks)
        return real(water, **kw)

    monkeypatch.setattr(distance_module, "distance_to_water", spy)
    assert main(["-q", "suitability", "distance", str(tmp_path / "mask.tif"), str(tmp_path / "d.tif"), "--no-cog",
                 "--chunk", "64"]) == 0
    assert seen == [((64, 64, 64, 8), (64, 64, 64, 64, 44))]
    with rasterio.open(tmp_path / "d.tif") as ds:
        ours = ds.read(1)
    assert ours.tobytes() == real(as_dataarray(m, grid)).values.tobytes()
    monkeypatch.setattr(distance_general, "MAX_TREE_POINTS", 50)
    assert main(["-q", "suitability", "distance", str(tmp_path / "mask.tif"), str(tmp_path / "e.tif"), "--chunk", "64"]) == 2
    err = capsys.readouterr().err
    assert "water pixels" in err and "--max-distance" in err and "Traceback" not in err
