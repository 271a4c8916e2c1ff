"""Fraction reads where a grid pixel is only partly known (hanging off the file's edge, or missing cells inside it):
the pixel is the average of its valid cells when they cover at least half of its area, else missing (NaN), in the
warp path and the exact block count alike.

Independent truth: small hand-built class rasters on a projected grid, where every cell has the same area and a
pixel's known share is a count of cells (10 m cells under 100 m pixels: 100 cells a pixel); for a reprojected read,
shapely's intersection of each grid pixel with the file's densified footprint in the grid's plane.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

import irrmap.core.raster_read as rr
from irrmap.core.grid import Grid
from irrmap.core.raster_read import read_raster

CRS = "EPSG:32633"
X0, Y0 = 500000.0, 4000000.0  # the file's top-left corner
NODATA = 255


def _write(path, codes, transform=None, crs=CRS):
    with rasterio.open(path, "w", driver="GTiff", width=codes.shape[1], height=codes.shape[0], count=1, dtype="uint8",
                       nodata=NODATA, crs=crs, transform=transform or from_origin(X0, Y0, 10, 10)) as dst:
        dst.write(codes, 1)
    return path


def _codes(seed, shape=(40, 100)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 4, size=shape).astype(np.uint8)  # classes 0..3, crop = {1, 2}


def _edge_grid():
    """100 m pixels over a 10 m file 1000 m wide and 400 m high, shifted 75 m west: column 0 covers x = -75..25 m of
    the file (25 % on it), column 10 covers 925..1025 m (75 % on it); rows are whole blocks of the file's rows."""
    return Grid(crs=CRS, transform=from_origin(X0 - 75, Y0, 100, 100), width=11, height=4)


def test_pixel_a_quarter_on_the_file_is_missing(tmp_path):
    codes = _codes(1)
    got = read_raster(_write(tmp_path / "lc.tif", codes), _edge_grid(), kind="fraction", classes=[1, 2]).values
    assert np.isnan(got[:, 0]).all()  # 25 on-file cells of 100: missing, not the share of those 25


def test_pixel_three_quarters_on_the_file_is_the_average_of_its_cells(tmp_path):
    """75 on-file cells of 100 (7.5 columns): their crop share, area-weighted (the old reader took GDAL's average,
    which clamps the footprint past the edge to the last column: that column weighed 3.5 columns)."""
    codes = _codes(2)
    got = read_raster(_write(tmp_path / "lc.tif", codes), _edge_grid(), kind="fraction", classes=[1, 2]).values
    for r in range(4):
        # the pixel spans x = 925..1025 m, file columns 92.5 .. 102.5: on the file half of column 92 and columns 93..99
        cells, half = codes[10 * r : 10 * r + 10, 93:100], codes[10 * r : 10 * r + 10, 92]
        want = (np.isin(cells, [1, 2]).sum() + 0.5 * np.isin(half, [1, 2]).sum()) / (10 * 7.5)
        assert got[r, 10] == pytest.approx(want, rel=1e-6)


def test_edge_pixels_with_whole_cells(tmp_path):
    """Whole 10 m cells under each pixel (grid shifted by 70 m: column 0 holds 3 columns of cells (30 %), the last
    one 7 (70 %)): the count of its cells decides, the value is the share of its on-file cells."""
    codes = _codes(3)
    grid = Grid(crs=CRS, transform=from_origin(X0 - 70, Y0, 100, 100), width=11, height=4)
    got = read_raster(_write(tmp_path / "lc.tif", codes), grid, kind="fraction", classes=[1, 2]).values
    assert np.isnan(got[:, 0]).all()
    for r in range(4):
        want = np.isin(codes[10 * r : 10 * r + 10, 93:100], [1, 2]).mean()
        assert got[r, 10] == pytest.approx(want, rel=1e-6)


def _interior_nodata(seed, missing_cells):
    """A 40 x 100 file under 4 x 10 pixels of 100 m; pixel (1, 3) has `missing_cells` of its 100 cells nodata."""
    codes = _codes(seed)
    block = codes[10:20, 30:40].reshape(-1)
    block[np.random.default_rng(seed).permutation(100)[:missing_cells]] = NODATA
    codes[10:20, 30:40] = block.reshape(10, 10)
    return codes


@pytest.mark.parametrize("path_kind", ["blocks", "warp"])
def test_interior_nodata_40_percent_is_the_average_of_the_valid_60(tmp_path, monkeypatch, path_kind):
    """Control (the old reader gave this too), in the exact block count and in the warp."""
    if path_kind == "warp":
        monkeypatch.setattr(rr, "_nesting", lambda src, grid: None)
    codes = _interior_nodata(4, 40)
    grid = Grid(crs=CRS, transform=from_origin(X0, Y0, 100, 100), width=10, height=4)
    got = read_raster(_write(tmp_path / "lc.tif", codes), grid, kind="fraction", classes=[1, 2]).values
    cells = codes[10:20, 30:40]
    want = np.isin(cells, [1, 2]).sum() / (cells != NODATA).sum()
    assert (cells != NODATA).sum() == 60
    assert got[1, 3] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("path_kind", ["blocks", "warp"])
def test_interior_nodata_60_percent_is_missing(tmp_path, monkeypatch, path_kind):
    if path_kind == "warp":
        monkeypatch.setattr(rr, "_nesting", lambda src, grid: None)
    codes = _interior_nodata(5, 60)
    grid = Grid(crs=CRS, transform=from_origin(X0, Y0, 100, 100), width=10, height=4)
    got = read_raster(_write(tmp_path / "lc.tif", codes), grid, kind="fraction", classes=[1, 2]).values
    assert np.isnan(got[1, 3])
    assert np.isfinite(np.delete(got.reshape(-1), 13)).all()  # the other pixels are whole


def test_block_count_and_warp_agree(tmp_path, monkeypatch):
    """Blocks with every count of valid cells 0..16 (4 x 4 cells, ties at 8 included): the exact count and GDAL's
    average warp give the same float32 values and the same missing pixels; the truth is the hand count."""
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 4, size=(68, 68)).astype(np.uint8)
    n_valid = np.arange(17 * 17) % 17
    for b, n in enumerate(n_valid):
        r, c = divmod(b, 17)
        block = codes[4 * r : 4 * r + 4, 4 * c : 4 * c + 4].reshape(-1)
        block[rng.permutation(16)[n:]] = NODATA
        codes[4 * r : 4 * r + 4, 4 * c : 4 * c + 4] = block.reshape(4, 4)
    path = _write(tmp_path / "lc.tif", codes)
    grid = Grid(crs=CRS, transform=from_origin(X0, Y0, 40, 40), width=17, height=17)
    counted = []
    monkeypatch.setattr(rr, "_fraction_by_blocks", lambda *a, f=rr._fraction_by_blocks: counted.append(1) or f(*a))
    blocks = read_raster(path, grid, kind="fraction", classes=[1, 2], chunks=8).values
    assert counted
    monkeypatch.setattr(rr, "_nesting", lambda src, grid: None)
    warped = read_raster(path, grid, kind="fraction", classes=[1, 2], chunks=8).values
    assert blocks.tobytes() == warped.tobytes()
    cells = codes.reshape(17, 4, 17, 4).swapaxes(1, 2).reshape(17, 17, 16)
    valid = (cells != NODATA).sum(axis=2)
    want = np.where(2 * valid >= 16, np.isin(cells, [1, 2]).sum(axis=2) / np.maximum(valid, 1), np.nan)
    np.testing.assert_allclose(blocks, want, rtol=1e-6, equal_nan=True)


def test_sibling_pass_applies_the_same_rule(tmp_path):
    """shared_fractions counts several inputs' classes in one pass: the same values as each input's own read."""
    from irrmap.app.stages import shared_fractions

    codes = _interior_nodata(7, 70)
    path = _write(tmp_path / "lc.tif", codes)
    grid = Grid(crs=CRS, transform=from_origin(X0, Y0, 100, 100), width=10, height=4)
    plans = tuple(rr._plan_for(path, grid, kind="fraction", classes=c)[0] for c in ([1, 2], [3]))
    together = shared_fractions.fractions(plans, grid, (0, 4), (0, 10))
    for plan, values in zip(plans, together):
        alone = read_raster(path, grid, kind="fraction", classes=list(plan.classes)).values
        assert values.tobytes() == alone.tobytes()
        assert np.isnan(values[1, 3])


def test_total_crop_area_over_the_file_edge_equals_the_cell_count(tmp_path):
    """Each row of cells all crop or all not, the grid over both side edges: the left pixels hold 75 % of their area
    on the file (kept: their share is the pixel's), the right ones 25 % (dropped). Sum of fraction x 100 m x 100 m
    = crop cells x 10 m x 10 m exactly (the kept 25 % beyond the left edge balances the dropped 25 % at the right);
    the old reader counted the right pixels too (+25 % of a pixel's crop per row)."""
    codes = np.zeros((40, 100), np.uint8)
    codes[np.random.default_rng(8).random(40) < 0.5] = 1  # whole rows of crop
    grid = Grid(crs=CRS, transform=from_origin(X0 - 25, Y0, 100, 100), width=11, height=4)
    got = read_raster(_write(tmp_path / "lc.tif", codes), grid, kind="fraction", classes=[1]).values
    truth = (codes == 1).sum() * 10.0 * 10.0
    assert np.nansum(got.astype(np.float64)) * 100.0 * 100.0 == pytest.approx(truth, rel=1e-6)


def test_reprojected_grid_keeps_pixels_at_least_half_on_the_file(tmp_path):
    """A geographic 0.001 deg file, every cell crop, under a 1 km UTM grid that overhangs it on every side: a pixel is
    1 (known) exactly where shapely's intersection of the pixel with the file's densified footprint (in the UTM
    plane) is at least half its area (pixels within 0.45..0.55 of the threshold not judged: GDAL's footprints are
    approximate); the total is the footprint's area within the majority rule's rounding."""
    from pyproj import Transformer
    from shapely.geometry import Polygon, box

    codes = np.ones((300, 400), np.uint8)  # 0.3 x 0.4 deg at 36.1 N, 14.8 E (UTM 33N)
    src_t = from_origin(14.8, 36.1, 0.001, 0.001)
    path = _write(tmp_path / "lc.tif", codes, transform=src_t, crs="EPSG:4326")
    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    t = np.linspace(0, 1, 201)
    lon = np.r_[14.8 + 0.4 * t, np.full(201, 15.2), 15.2 - 0.4 * t, np.full(201, 14.8)]
    lat = np.r_[np.full(201, 36.1), 36.1 - 0.3 * t, np.full(201, 35.8), 35.8 + 0.3 * t]
    foot = Polygon(zip(*to_utm.transform(lon, lat)))
    x0, y0 = np.floor(foot.bounds[0] / 1000) * 1000 - 2000, np.ceil(foot.bounds[3] / 1000) * 1000 + 2000
    w, h = int((foot.bounds[2] - x0) // 1000) + 3, int((y0 - foot.bounds[1]) // 1000) + 3
    grid = Grid(crs=CRS, transform=from_origin(x0, y0, 1000, 1000), width=w, height=h)
    got = read_raster(path, grid, kind="fraction", classes=[1], chunks=16).values
    share = np.array([[foot.intersection(box(x0 + 1000 * c, y0 - 1000 * (r + 1), x0 + 1000 * (c + 1), y0 - 1000 * r)).area / 1e6
                       for c in range(w)] for r in range(h)])
    judged = np.abs(share - 0.5) > 0.05
    partial = (share > 0) & (share < 1)
    assert partial.sum() > 50  # the test has edge pixels to judge
    assert np.array_equal(np.isfinite(got)[judged], (share >= 0.5)[judged])
    assert np.nanmax(got) == 1.0 and np.nanmin(got) == 1.0
    # unbiased: off by less than a tenth of the edge pixels' area (the old reader: about half of it, all extra)
    assert abs(np.isfinite(got).sum() * 1e6 - foot.area) < 0.1 * partial.sum() * 1e6


def test_one_warning_per_input_with_the_count(tmp_path, caplog):
    """known_share_warning logs once with the number of pixels set missing (4 rows of the quarter-on column, hand
    count), then nothing is left to report."""
    path = _write(tmp_path / "lc.tif", _codes(9))
    grid = _edge_grid()
    read_raster(path, grid, kind="fraction", classes=[1, 2], chunks=4).values
    with caplog.at_level(logging.WARNING, logger="irrmap.core.raster_read"):
        assert rr.known_share_warning(path, 1, [1, 2], grid, "[inputs.cropland]") == 4
        assert rr.known_share_warning(path, 1, [1, 2], grid, "[inputs.cropland]") == 0
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "[inputs.cropland]: 4 grid pixels set missing" in warnings[0].getMessage()


def test_grid_wholly_inside_the_file_is_unchanged(tmp_path):
    """Control (the old reader gave this too): a reprojected grid wholly inside the file, some cells missing but every
    pixel mostly valid, equals GDAL's own average warp of the membership (NaN for missing cells) of the whole file."""
    from rasterio.warp import Resampling, reproject

    rng = np.random.default_rng(10)
    codes = rng.integers(0, 4, size=(300, 400)).astype(np.uint8)
    codes[rng.random(codes.shape) < 0.2] = NODATA
    src_t = from_origin(14.8, 36.1, 0.001, 0.001)
    path = _write(tmp_path / "lc.tif", codes, transform=src_t, crs="EPSG:4326")
    grid = Grid(crs=CRS, transform=from_origin(485000, 3990000, 500, 500), width=40, height=30)
    got = read_raster(path, grid, kind="fraction", classes=[1, 2]).values
    member = np.isin(codes, [1, 2]).astype(np.float32)
    member[codes == NODATA] = np.nan
    want = np.full(grid.shape, np.nan, np.float32)
    reproject(member, want, src_transform=src_t, src_crs="EPSG:4326", src_nodata=np.nan, dst_transform=grid.transform,
              dst_crs=CRS, dst_nodata=np.nan, resampling=Resampling.average)
    assert np.isfinite(want).all()
    assert got.tobytes() == want.tobytes()
