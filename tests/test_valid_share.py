"""Valid share on the grid (issues 12.2 and 13): measured exactly, a zero share stops the run with a one-line
error, a low share warns, a stage that turns data into missing values stops the run.

Truths: pyproj.Geod areas, hand counts, GDAL's gdalwarp footprint.
"""

from __future__ import annotations

import logging
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from pyproj import Geod
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.app.context import Stage
from irrmap.app.pipeline import run_pipeline
from irrmap.core.errors import DataError, InputError
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.core.valid_share import band_shares, check_aligned, coverage, shares_within, source_valid_share
from irrmap.core.nodata import decoding_for

from conftest import as_dataarray

GRID_BOUNDS = (100.0, 40.0, 100.2, 40.1)
CONFIG = """
[run]
name = "tiny"
output_dir = "out"

[grid]
crs = "EPSG:4326"
bounds = [100.0, 40.0, 100.2, 40.1]
resolution = 0.00225

[inputs.dem]
path = "dem.tif"

[inputs.cropland]
path = "landcover.tif"
kind = "fraction"
classes = [1]

[units]
path = "units.gpkg"
code_field = "code"
"""


@pytest.fixture
def project(tmp_path):
    fine = Grid.from_bounds(*GRID_BOUNDS, 0.00025, "EPSG:4326")
    lc = (np.indices(fine.shape).sum(axis=0) % 3 == 0).astype("uint8")
    write_raster(tmp_path / "landcover.tif", as_dataarray(lc, fine), dtype="uint8", nodata=255, cog=False)
    _dem(tmp_path / "dem.tif", GRID_BOUNDS)
    gpd.GeoDataFrame({"code": ["620101", "620102"]}, geometry=[box(100.0, 40.0, 100.1, 40.1), box(100.1, 40.0, 100.2, 40.1)],
                     crs="EPSG:4326").to_file(tmp_path / "units.gpkg")
    (tmp_path / "config.toml").write_text(CONFIG)
    return tmp_path


def _dem(path, bounds, fill=None):
    g = Grid.from_bounds(*bounds, 0.001, "EPSG:4326")
    vals = np.linspace(500, 900, g.size, dtype="float32").reshape(g.shape)
    if fill is not None:
        vals[:] = fill
    return write_raster(path, as_dataarray(vals, g), cog=False)


# ---- measurement ----------------------------------------------------------------------------------------
def test_band_shares_weigh_rows_by_true_area(tmp_path):
    grid = Grid.from_bounds(100.0, 0.0, 101.0, 80.0, 1.0, "EPSG:4326")  # 80 rows from the equator to 80 N
    vals = np.ones(grid.shape, "float32")
    vals[:40] = np.nan  # the northern half (40-80 N) missing
    p = write_raster(tmp_path / "half.tif", as_dataarray(vals, grid), cog=False)
    geod = Geod(ellps="WGS84")
    # rows are bounded by parallels: densify the boxes so that their geodesic edges follow them
    area = lambda s, n: abs(geod.geometry_area_perimeter(box(100.0, s, 101.0, n).segmentize(0.01))[0])  # noqa: E731
    assert band_shares(p) == pytest.approx((area(0, 40) / area(0, 80),), rel=1e-7)
    assert band_shares(p)[0] > 0.6  # not the pixel share 0.5


def test_band_shares_per_band_on_a_projected_grid(tmp_path):
    grid = Grid.from_bounds(500_000, 4_000_000, 500_100, 4_000_040, 10, "EPSG:32648")  # 4 x 10
    b1 = np.ones(grid.shape, "uint8")
    b2 = np.where(np.arange(10) < 3, 255, 1).astype("uint8")[None].repeat(4, 0)
    p = write_raster(tmp_path / "two.tif", [as_dataarray(b1, grid), as_dataarray(b2, grid)], dtype="uint8", nodata=255, cog=False)
    assert band_shares(p) == (1.0, 0.7)


def test_coverage_matches_gdalwarp_footprint(tmp_path):
    # a UTM raster covering part of a geographic grid; GDAL's footprint: warp an all-ones raster
    src_grid = Grid.from_bounds(410_000, 4_430_000, 420_000, 4_440_000, 100, "EPSG:32648")
    p = write_raster(tmp_path / "utm.tif", as_dataarray(np.ones(src_grid.shape, "float32"), src_grid), cog=False)
    grid = Grid.from_bounds(103.9, 40.0, 104.1, 40.2, 0.002, "EPSG:4326")  # the file: 103.94-104.06 E, 40.02-40.11 N
    out = tmp_path / "foot.tif"
    subprocess.run(["gdalwarp", "-q", "-r", "near", "-t_srs", "EPSG:4326", "-tr", "0.002", "0.002", "-te", *map(str, grid.bounds),
                    "-dstnodata", "0", str(p), str(out)], check=True)
    with rasterio.open(out) as src:
        inside = src.read(1) == 1
    w = grid.row_areas()
    truth = float((inside.sum(axis=1) * w).sum() / (w.sum() * grid.width))
    assert 0.05 < truth < 0.95
    with rasterio.open(p) as src:
        assert coverage(src, grid) == pytest.approx(truth, abs=0.02)


def test_sampled_source_share_of_a_large_window(tmp_path):
    # 3000 x 3000 pixels (above the exact-read limit): a quarter valid in a 100-pixel checkerboard
    g = Grid.from_bounds(0, 0, 3000, 3000, 1, "EPSG:32648")
    r, c = np.indices(g.shape)
    vals = np.where(((r // 100) % 2 == 0) & ((c // 100) % 2 == 0), 1, 255).astype("uint8")
    p = write_raster(tmp_path / "big.tif", as_dataarray(vals, g), dtype="uint8", nodata=255, cog=False)
    with rasterio.open(p) as src:
        share = source_valid_share(src, g, 1, decoding_for(src, 1))
    assert share == pytest.approx(0.25, abs=0.05)


def test_shares_within_on_a_grid_above_the_exact_limit(tmp_path):
    # 4100 x 5000 pixels: measured on 64 block-aligned tiles; the product is missing on columns 0-1499 (30 %),
    # the reference on rows 0-819 (20 %), so the product keeps 70 % of the reference's area
    g = Grid.from_bounds(0, 0, 5000, 4100, 1, "EPSG:32648")
    ref = np.ones(g.shape, "uint8")
    ref[:820] = 255
    prod = np.ones(g.shape, "uint8")
    prod[:, :1500] = 255
    rp = write_raster(tmp_path / "ref.tif", as_dataarray(ref, g), dtype="uint8", nodata=255, cog=False)
    pp = write_raster(tmp_path / "prod.tif", as_dataarray(prod, g), dtype="uint8", nodata=255, cog=False)
    ref_share, within = shares_within([pp], [rp], g)
    assert ref_share == pytest.approx(0.8, abs=0.05)
    assert within[str(pp)][0] == pytest.approx(0.7, abs=0.07)


# ---- the aligned-input guard ----------------------------------------------------------------------------
def test_a_dem_off_the_grid_stops_the_run_with_both_extents(project, capsys):
    _dem(project / "dem.tif", (110.0, 30.0, 110.2, 30.1))
    assert main(["run", str(project / "config.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "dem.tif" in err and "overlap the grid" in err
    assert "(110, 30, 110.2, 30.1) in EPSG:4326" in err and "the grid (100, 39.9988, 100.2, 40.1) in EPSG:4326" in err and "fix:" in err


def test_an_all_nodata_dem_stops_the_run(project, capsys):
    _dem(project / "dem.tif", GRID_BOUNDS, fill=np.nan)
    assert main(["run", str(project / "config.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "dem.tif" in err and "no valid pixel" in err and "[inputs.dem]" in err


def test_a_dem_covering_part_of_the_grid_warns(project, caplog):
    _dem(project / "dem.tif", (100.0, 40.0, 100.06, 40.1))  # the western 30 %
    with caplog.at_level(logging.WARNING):
        assert main(["-q", "run", str(project / "config.toml")]) == 0
    msgs = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "dem.tif" in r.getMessage()
            and "the file covers only" not in r.getMessage()]  # the check's footprint warning (irrmap.core.footprint) aside
    assert len(msgs) == 1 and "valid on only" in msgs[0] and "covers" in msgs[0] and "fix:" in msgs[0]
    share = band_shares(project / "out" / "aligned" / "dem.tif")[0]
    assert share == pytest.approx(0.3, abs=0.02)


def test_data_lost_in_alignment_is_an_error(tmp_path):
    grid = Grid.from_bounds(*GRID_BOUNDS, 0.00225, "EPSG:4326")
    src = _dem(tmp_path / "dem.tif", GRID_BOUNDS)
    lost = np.full(grid.shape, np.nan, "float32")
    lost[:5] = 1.0  # what a reader that invented nodata would leave
    aligned = write_raster(tmp_path / "aligned.tif", as_dataarray(lost, grid), cog=False)
    with pytest.raises(DataError, match="lost in alignment"):
        check_aligned(aligned, src, grid, key="[inputs.dem]")


def test_a_truncated_dem_is_one_line(project, capsys):
    p = project / "dem.tif"
    size = p.stat().st_size
    with open(p, "r+b") as f:
        f.truncate(size // 3)
    assert main(["run", str(project / "config.toml")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and "dem.tif" in err and "truncated" in err


# ---- the stage guard ------------------------------------------------------------------------------------
def _stage(name, write, inputs=()):
    def run(ctx):
        out = ctx.outdir / f"{name}.tif"
        write_raster(out, as_dataarray(write(ctx.grid), ctx.grid), cog=False)
        return [out]

    return Stage(name, run, inputs=lambda ctx: [ctx.path(p) for p in inputs], params=lambda ctx: {},
                 enabled=lambda ctx: True, provides=lambda ctx: {name: ctx.outdir / f"{name}.tif"})


def _plain_config(tmp_path):
    (tmp_path / "config.toml").write_text('[run]\nname = "g"\noutput_dir = "out"\n[grid]\ncrs = "EPSG:4326"\n'
                                          'bounds = [100.0, 40.0, 100.2, 40.1]\nresolution = 0.00225\n')
    _dem(tmp_path / "dem.tif", GRID_BOUNDS)
    return tmp_path / "config.toml"


def test_a_stage_that_turns_data_into_missing_stops_the_run(tmp_path):
    cfg = _plain_config(tmp_path)
    water = _stage("water", lambda g: np.ones(g.shape, "float32"))  # a product on the grid, valid everywhere

    def mostly_missing(g):
        v = np.full(g.shape, np.nan, "float32")
        v[: g.height // 10] = 1.0
        return v

    reads = ["out/water.tif", "dem.tif"]  # the product, and a source file on its own grid
    run_pipeline(cfg, stages=[water, _stage("distance", lambda g: np.ones(g.shape, "float32"), reads)])
    with pytest.raises(DataError) as e:
        run_pipeline(cfg, stages=[water, _stage("distance", mostly_missing, reads)], force=True)
    msg = str(e.value)
    rows = Grid.from_bounds(*GRID_BOUNDS, 0.00225, "EPSG:4326").row_areas()
    kept = rows[: len(rows) // 10].sum() / rows.sum()  # the first tenth of the rows, by true area
    assert f"distance is valid on only {kept:.1%} of the area where the products it reads are valid" in msg
    # the grid's last row (centre 39.99989 N) lies south of the DEM's edge at 40 N: 44 of its 45 rows are covered
    assert len(rows) == 45
    assert "water.tif" in msg and f"dem.tif (covers {rows[:44].sum() / rows.sum():.1%} of the grid)" in msg
    assert "missing water is not land" in msg
    run_pipeline(cfg, stages=[water, _stage("irrigation_probability", mostly_missing, reads)], force=True)  # by design
    with pytest.raises(DataError, match="evi_max has no valid pixel"):
        run_pipeline(cfg, stages=[_stage("evi_max", lambda g: np.full(g.shape, np.nan, "float32"))], force=True)


def test_a_stage_input_that_cannot_be_opened_or_misses_the_grid_stops_before_the_stage(tmp_path):
    cfg = _plain_config(tmp_path)
    ran = []
    stage = lambda inp: Stage("features", lambda ctx: ran.append(1) or [], inputs=lambda ctx: [ctx.path(inp)],  # noqa: E731
                              params=lambda ctx: {}, enabled=lambda ctx: True)
    g = Grid.from_bounds(100.0, 40.0, 100.2, 40.1, 0.00225, "EPSG:4326")
    stack = [as_dataarray(np.full(g.shape, 5000, "int16"), g) for _ in range(3)]
    p = write_raster(tmp_path / "evi.tif", stack, dtype="int16", nodata=-3000, cog=False)
    with open(p, "r+b") as f:
        f.truncate(200)  # the header is cut: GDAL cannot open it
    with pytest.raises(InputError, match="cannot open raster") as e:
        run_pipeline(cfg, stages=[stage("evi.tif")])
    assert e.value.where == str(p)
    _dem(tmp_path / "far.tif", (-60.0, -10.0, -59.8, -9.9))
    with pytest.raises(InputError, match="does not overlap the grid"):
        run_pipeline(cfg, stages=[stage("far.tif")])
    assert ran == []
