"""`irrmap water mask` / `water bodies` on large scenes: memory that does not grow with the scene, and progress on the
long steps. A probe measured 6-11 bytes per pixel of peak memory (Landsat 8 upsampled to 188 Mpx: mask 2.2 GB, bodies
2.8 GB): GDAL's block cache at its default (5 % of RAM) filled with every window read, the known-pixel check of
`water bodies` computed the whole mask, and the label pass handed every tile to one dask.compute; the label pass,
the body table and the mask's area summary logged nothing.

These tests check the mechanisms, not the memory: labels of tiles merged across tile edges equal
scipy.ndimage.label of the whole mask (controls: that was already so), the label pass computes a few tiles per
compute, the known-pixel check stops at the first known window, the commands cap GDAL's block cache, and the long
steps report progress. Truth: scipy.ndimage, numpy by hand, rasterio.
"""

from __future__ import annotations

import logging

import dask
import dask.array as da
import numpy as np
import pytest
import rasterio
import xarray as xr
from rasterio.transform import from_origin
from scipy import ndimage

from irrmap.core.grid import Grid
from irrmap.core.progress import set_progress
from irrmap.mapping.water import labels as labels_mod
from irrmap.mapping.water.bodies import body_table
from irrmap.mapping.water.labels import label_windowed
from irrmap.mapping.water.summary import epoch_summary


def _mask(seed: int = 3, shape=(70, 90)) -> np.ndarray:
    """1 water / 0 land / 255 unknown, with blobs and long bars that cross every 16-pixel tile edge, and bodies
    meeting across a tile corner only (8-connected)."""
    rng = np.random.default_rng(seed)
    v = np.where(rng.random(shape) < 0.35, 1, 0).astype(np.uint8)
    v = np.where(ndimage.binary_opening(v == 1), 1, 0).astype(np.uint8)
    v[20, :] = 1  # a bar across every vertical tile edge
    v[:, 33] = 1  # and across every horizontal one
    v[15, 15] = v[16, 16] = 1  # diagonal neighbours either side of a tile corner (16, 16)
    v[rng.random(shape) < 0.05] = 255
    return v


def _grid(shape) -> Grid:
    return Grid.from_dataarray(_dataarray(np.zeros(shape, np.uint8)))


def _dataarray(v: np.ndarray) -> xr.DataArray:
    h, w = v.shape
    arr = xr.DataArray(v, dims=("y", "x"), coords={"y": 5_400_000 - 30 * (np.arange(h) + 0.5), "x": 600_000 + 30 * (np.arange(w) + 0.5)})
    return arr.rio.write_crs("EPSG:32612").rio.write_transform(from_origin(600_000, 5_400_000, 30, 30))


@pytest.fixture
def progress_lines(monkeypatch, caplog):
    """Progress as log lines at every update (IRRMAP_PROGRESS_SECONDS=0, off a terminal); returns a reader of them."""
    monkeypatch.setenv("IRRMAP_PROGRESS_SECONDS", "0")
    monkeypatch.setattr("irrmap.core.progress._stderr_is_terminal", lambda: False)
    set_progress(None)
    caplog.set_level(logging.INFO, logger="irrmap.progress")
    return lambda: [r.getMessage() for r in caplog.records if r.name == "irrmap.progress"]


@pytest.mark.parametrize("connectivity", [8, 4])
@pytest.mark.parametrize("tile", [16, (16, 23), 7, 4096])
def test_tile_labels_merged_across_edges_equal_scipy(connectivity, tile):
    """Control (right on the old code too): the windowed labels, merged across tile edges and corners, are
    scipy.ndimage.label of the whole mask, ids included, whatever the tile."""
    v = _mask()
    struct = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)
    truth, n = ndimage.label(v == 1, structure=struct)
    got = label_windowed(v, connectivity=connectivity, tile=tile)
    assert got.n == n
    np.testing.assert_array_equal(got.labels.values, truth)


def test_label_pass_computes_a_few_tiles_at_a_time(monkeypatch):
    """The label pass hands dask at most 2 x task slots tiles per compute (one compute of every tile lets the
    scheduler read tiles ahead: memory grows with the scene), and still gives scipy's labels."""
    v = _mask(seed=5, shape=(64, 80))
    sizes = []
    real = dask.compute

    def counting(*args, **kw):
        sizes.append(len(args))
        return real(*args, **kw)

    monkeypatch.setattr(labels_mod.dask, "compute", counting)
    with dask.config.set(num_workers=1, scheduler="threads"):
        got = label_windowed(v, tile=16)  # 4 x 5 = 20 tiles
    truth, n = ndimage.label(v == 1, structure=np.ones((3, 3)))
    np.testing.assert_array_equal(got.labels.values, truth)
    assert got.n == n
    assert sum(sizes) == 20 and max(sizes) <= 2  # old code: one compute of all 20 tiles


def test_label_pass_and_body_table_report_progress(progress_lines):
    v = _mask(seed=7, shape=(64, 80))
    arr = _dataarray(v)
    got = label_windowed(arr, tile=16, min_area_m2=1.0)
    lines = progress_lines()
    assert any(line.startswith("water bodies: label tiles: done, 20 of 20 tile") for line in lines), lines  # old: none
    table = body_table(got.labels.compute(), unknown=arr, tile=32)  # 2 x 3 windows
    lines = progress_lines()
    assert any(line.startswith("water bodies: table: done, 6 of 6 tile") for line in lines), lines  # old: none
    # the table still counts scipy's components' pixels (truth by hand)
    truth, n = ndimage.label(v == 1, structure=np.ones((3, 3)))
    assert len(table) == n
    np.testing.assert_array_equal(table["n_pixels"].to_numpy(), np.bincount(truth.ravel())[1:])


def test_area_summary_reports_progress_and_does_not_depend_on_the_window(progress_lines):
    v = _mask(seed=9, shape=(50, 70))
    arr = _dataarray(v)
    whole = epoch_summary(arr, tile=4096)
    assert any(line.startswith("water areas: done, 1 of 1 tile") for line in progress_lines())  # old: none
    small = epoch_summary(arr, tile=16)  # control: the same sums, to the byte, whatever the window
    assert small == whole
    # truth by hand: UTM pixel areas summed per class
    area = _grid(v.shape).pixel_area()
    assert whole["water_km2"] == pytest.approx(area[v == 1].sum() / 1e6, rel=1e-12)
    assert whole["unknown_km2"] == pytest.approx(area[(v != 0) & (v != 1)].sum() / 1e6, rel=1e-12)


def test_known_pixel_check_stops_at_the_first_known_window():
    """`water bodies` checks that the mask knows a pixel window by window and stops at the first: the old check
    computed the whole mask (a full pass over a large mask before the labelling's own)."""
    from irrmap.app.cli.water_cmd import _refuse_unknown_mask

    v = np.full((64, 64), 255, np.uint8)
    v[3, 4] = 0

    def block(b, block_info=None):
        if block_info[0]["chunk-location"] != (0, 0):
            raise AssertionError("a window after the first known one was computed")
        return b

    lazy = da.from_array(v, chunks=16).map_blocks(block, dtype=np.uint8)
    _refuse_unknown_mask(xr.DataArray(lazy, dims=("y", "x")), "mask.tif")  # old code: AssertionError


def test_known_pixel_check_still_refuses_an_all_unknown_mask():
    """Control: a mask without a known pixel is still refused (every window read)."""
    from irrmap.app.cli.water_cmd import _refuse_unknown_mask
    from irrmap.core.errors import InputError

    lazy = da.full((40, 40), 255, np.uint8, chunks=16)
    with pytest.raises(InputError, match="no known pixel"):
        _refuse_unknown_mask(xr.DataArray(lazy, dims=("y", "x")), "all_unknown.tif")


def test_water_commands_cap_gdal_block_cache(monkeypatch):
    """The water commands run under a capped GDAL block cache ([run].gdal_cache_mb's default, 64 MB; GDAL's own
    default, 5 % of RAM, filled with the windows of a large mask), unless GDAL_CACHEMAX is set in the environment."""
    from irrmap.app.cli import build_parser
    from irrmap.app.cli import water_cmd
    from irrmap.core.config import RunSection

    monkeypatch.delenv("GDAL_CACHEMAX", raising=False)
    seen = {}

    def probe(args):
        seen["cache"] = rasterio.env.getenv().get("GDAL_CACHEMAX") if rasterio.env.hasenv() else None
        return 0

    parser = build_parser(["water"])
    for argv, name in ((["water", "mask", "o.tif", "s"], "_mask"), (["water", "bodies", "o", "m.tif"], "_bodies"),
                       (["water", "change", "o", "a", "b"], "_change")):
        assert parser.parse_args(argv).func.__wrapped__ is getattr(water_cmd, name)  # old: the bare command
    assert water_cmd._bounded(probe)(None) == 0
    assert seen["cache"] == RunSection.model_fields["gdal_cache_mb"].default * 1024 * 1024
    monkeypatch.setenv("GDAL_CACHEMAX", "32")  # the user's own setting is kept
    seen.clear()
    water_cmd._bounded(probe)(None)
    assert seen["cache"] != RunSection.model_fields["gdal_cache_mb"].default * 1024 * 1024


def test_bodies_cli_bytes_do_not_depend_on_the_tile(tmp_path):
    """Control: `water bodies` writes the same bytes with --tile 16 (many windows, merged across edges) as with
    one window, and its ids are scipy's components (min area 0)."""
    v = _mask(seed=11, shape=(48, 64))
    m = tmp_path / "m.tif"
    with rasterio.open(m, "w", driver="GTiff", height=48, width=64, count=1, dtype="uint8", crs="EPSG:32612",
                       transform=from_origin(600_000, 5_400_000, 30, 30), nodata=255) as d:
        d.write(v, 1)
    from irrmap.app.cli import main

    outs = []
    for tile in (16, 4096):
        out = tmp_path / f"b{tile}"
        assert main(["-q", "water", "bodies", str(out), str(m), "--min-area-m2", "0", "--tile", str(tile)]) == 0
        outs.append(out)
    for name in ("body_id.tif", "water.tif", "bodies.parquet", "bodies.gpkg"):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    with rasterio.open(outs[0] / "body_id.tif") as src:
        ids = src.read(1)
    np.testing.assert_array_equal(ids, ndimage.label(v == 1, structure=np.ones((3, 3)))[0])
