"""An input whose file covers only part of the grid warns, naming the file, the key or option and the covered share.

Before, only "no overlap at all" and "no valid pixel" were caught: a DEM covering 5 % of the run's grid passed
`irrmap run --check` as "config OK", and `irrmap mapping aggregate --align --cropland` with a cropland on 5 % of the
class map summed 5 % of the area without a word (probeS item 1).

Truth, independent of irrmap: the overlap of the file's bounds, transformed into the grid's CRS with
rasterio.warp.transform_bounds(densify_pts=21), with the grid's bounds, as a share of the grid's geodesic area
(pyproj.Geod on WGS84, the edges densified so that the parallels are followed); the valid pixels of the class map
outside the cropland's footprint counted by numpy; the valid share of the aligned product counted by numpy.
The files covering 100 % of the grid are the controls (no footprint warning): test_*[100] pass on the old code too.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest
import rasterio
from pyproj import Geod
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from irrmap.app.cli import main
from irrmap.app.pipeline import run_pipeline

# the run's grid: 100 x 50 pixels of 0.002 deg
LEFT, BOTTOM, RIGHT, TOP, RES = 104.0, 37.9, 104.2, 38.0, 0.002
GRID_BOUNDS = (LEFT, BOTTOM, RIGHT, TOP)


def _tif(path: Path, left: float, top: float, width: int, height: int, res: float = RES, crs: str = "EPSG:4326",
         dtype: str = "float32", value=None, nodata=None) -> Path:
    data = (np.arange(width * height, dtype="float64").reshape(height, width) % 500 + 1000) if value is None \
        else np.full((height, width), value)
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype=dtype, crs=crs, nodata=nodata,
                       transform=from_origin(left, top, res, res)) as dst:
        dst.write(data.astype(dtype), 1)
    return path


def _geod_box_area(l, b, r, t, n=400) -> float:
    """Geodesic area (m2) of a lon/lat box whose edges are meridians and parallels (parallels densified)."""
    lons = np.linspace(l, r, n)
    xs = np.concatenate([lons, [r], lons[::-1], [l]])
    ys = np.concatenate([np.full(n, b), [t], np.full(n, t), [b]])
    return abs(Geod(ellps="WGS84").polygon_area_perimeter(xs, ys)[0])


def _truth_share(path: Path) -> float:
    """Share of the grid's geodesic area inside the file's bounds (transformed with densify_pts=21)."""
    with rasterio.open(path) as src:
        l, b, r, t = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    box = (max(l, LEFT), max(b, BOTTOM), min(r, RIGHT), min(t, TOP))
    if box[0] >= box[2] or box[1] >= box[3]:
        return 0.0
    return _geod_box_area(*box) / _geod_box_area(*GRID_BOUNDS)


def _file(tmp_path: Path, pct: int) -> Path:
    """A DEM-like raster at the grid's resolution whose columns cover `pct` % of the grid (100: a larger file)."""
    if pct == 100:
        return _tif(tmp_path / "f100.tif", LEFT - 0.02, TOP + 0.02, 120, 70)
    cols = round(100 * pct / 100)
    return _tif(tmp_path / f"f{pct}.tif", RIGHT - cols * RES, TOP, 100, 50)


def _footprint_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "the file covers only" in r.getMessage()]


def _config(tmp_path: Path, dem: Path) -> Path:
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"""[run]
output_dir = "out"
[grid]
crs = "EPSG:4326"
bounds = [{LEFT}, {BOTTOM}, {RIGHT}, {TOP}]
resolution = {RES}
[inputs.dem]
path = '{dem}'
""")
    return cfg


@pytest.mark.parametrize("pct", [5, 60, 100])
def test_run_check_warns_for_a_dem_covering_part_of_the_grid(tmp_path, caplog, capsys, pct):
    dem = _file(tmp_path, pct)
    truth = _truth_share(dem)
    assert truth == pytest.approx(pct / 100, abs=1e-3)  # the fixture is what it says
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--check", str(_config(tmp_path, dem))]) == 0
    found = _footprint_warnings(caplog)
    assert "config OK" in capsys.readouterr().out
    if pct == 100:  # control
        assert found == []
        return
    (msg,) = found
    assert msg.startswith(f"[inputs.dem].path = {dem}: the file covers only {100 * truth:.1f} % of the grid")
    assert f"the other {100 * (1 - truth):.1f} % will be missing" in msg and "fix: " in msg and "[grid].bounds" in msg


def test_run_records_the_footprint_warning_in_the_manifest_and_the_aligned_share_agrees(tmp_path):
    dem = _file(tmp_path, 60)
    truth = _truth_share(dem)
    manifest = run_pipeline(_config(tmp_path, dem))
    msgs = [w["message"] for w in manifest["warnings"] if "the file covers only" in w["message"]]
    assert len(msgs) == 1 and f"covers only {100 * truth:.1f} % of the grid" in msgs[0]
    assert msgs == [w["message"] for w in json.loads((tmp_path / "out" / "manifest.json").read_text())["warnings"]
                    if "the file covers only" in w["message"]]
    with rasterio.open(tmp_path / "out" / "aligned" / "dem.tif") as src:  # numpy: the share the warning announced is valid
        valid = ~src.read(1, masked=True).mask
    assert valid.mean() == pytest.approx(truth, abs=1 / 100)  # equal up to one column of 100


def test_run_check_warns_for_a_utm_file_with_the_densified_footprint(tmp_path, caplog):
    # a UTM 48N file whose east edge cuts the grid: its footprint in lon/lat is curved, transform_bounds follows it
    x0, y0, x1, y1 = transform_bounds("EPSG:4326", "EPSG:32648", LEFT - 0.05, BOTTOM - 0.05, LEFT + 0.08, TOP + 0.05, densify_pts=21)
    dem = _tif(tmp_path / "utm.tif", x0, y1, int((x1 - x0) // 100), int((y1 - y0) // 100), res=100.0, crs="EPSG:32648")
    truth = _truth_share(dem)
    assert 0.3 < truth < 0.5
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--check", str(_config(tmp_path, dem))]) == 0
    (msg,) = _footprint_warnings(caplog)
    assert f"covers only {100 * truth:.1f} % of the grid" in msg


def _class_map(tmp_path: Path) -> tuple[Path, np.ndarray]:
    classes = (np.arange(100 * 50).reshape(50, 100) % 3 == 0).astype("uint8")
    classes[:, :10] = 255  # nodata: the 10 west columns are not mapped
    with rasterio.open(tmp_path / "class.tif", "w", driver="GTiff", width=100, height=50, count=1, dtype="uint8", crs="EPSG:4326",
                       nodata=255, transform=from_origin(LEFT, TOP, RES, RES)) as dst:
        dst.write(classes, 1)
    return tmp_path / "class.tif", classes


@pytest.mark.parametrize("pct", [5, 60, 100])
def test_aggregate_align_warns_for_a_cropland_covering_part_of_the_class_map(tmp_path, caplog, pct):
    cmap, classes = _class_map(tmp_path)
    if pct == 100:  # a larger cropland at a finer resolution: on another grid, so --align resamples it
        crop = _tif(tmp_path / "crop100.tif", LEFT - 0.01, TOP + 0.01, 220, 120, res=0.001, value=0.5)
    else:
        cols = round(100 * pct / 100)
        crop = _tif(tmp_path / f"crop{pct}.tif", RIGHT - cols * RES, TOP, 200, 100, res=0.001, value=0.5)
    truth = _truth_share(crop)
    with caplog.at_level(logging.WARNING):
        assert main(["mapping", "aggregate", str(cmap), "--align", "--cropland", str(crop), "--factor", "2",
                     "--out", str(tmp_path / f"agg{pct}.tif")]) == 0
    found = _footprint_warnings(caplog)
    if pct == 100:  # control
        assert found == []
        return
    (msg,) = found
    assert msg.startswith(f"--cropland {crop}: the file covers only {100 * truth:.1f} % of the class map grid")
    # numpy: valid class-map pixels whose centre lies west of the cropland's west edge
    with rasterio.open(crop) as src:
        west = src.bounds.left
    xs = LEFT + RES * (np.arange(100) + 0.5)
    valid = classes != 255
    outside = int((valid & (xs < west)[None, :]).sum())
    assert f"({outside} of {int(valid.sum())}) lie outside the file" in msg
    assert "fix: give a cropland file that covers the whole class map" in msg


def test_predict_style_align_names_the_predictor_option(tmp_path, caplog):
    # the --align check every command shares (mapping predict, training thresholds / pool): the option is named
    from irrmap.app.cli.input_options import check_on_grid
    from irrmap.core.grid import Grid

    crop = _tif(tmp_path / "crop.tif", LEFT, TOP, 100, 50, value=0.5)
    pred = _tif(tmp_path / "evi.tif", RIGHT - 0.06, TOP, 60, 50, res=0.001)
    with caplog.at_level(logging.WARNING):
        check_on_grid(pred, Grid.from_raster(crop), "predictor evi", True, option="--predictor evi", reference_path=crop)
    (msg,) = _footprint_warnings(caplog)
    truth = _truth_share(pred)
    assert msg.startswith(f"--predictor evi {pred}: the file covers only {100 * truth:.1f} % of the cropland grid")
    assert f"({int(round(100 * (1 - truth))) * 50} of 5000) lie outside" in msg


@pytest.mark.parametrize(("cols", "warns"), [(97, True), ("snapped", False)])
def test_the_threshold_and_the_snapped_edge(tmp_path, caplog, cols, warns):
    # 97 of 100 columns: 3 % missing, beyond one pixel of the edge -> warns. A file of exactly the bounds asked for, on a
    # grid whose bounds are snapped outward to whole pixels (0.2 / 0.003 = 66.7 columns): the part of one edge pixel it
    # misses is no gap of the file (control, no warning)
    if cols == "snapped":
        dem = _tif(tmp_path / "exact.tif", LEFT, TOP, 200, 100, res=0.001)
        cfg = _config(tmp_path, dem)
        cfg.write_text(cfg.read_text().replace(f"resolution = {RES}", "resolution = 0.003"))
        from irrmap.core.config import load_config

        gl, gb, gr, gt = load_config(cfg).grid().bounds
        assert gr - gl > 0.2 + 1e-9 or gt - gb > 0.1 + 1e-9  # the grid is larger than the file: the edge is snapped
    else:
        dem = _tif(tmp_path / "f97.tif", RIGHT - cols * RES, TOP, 100, 50)
        cfg = _config(tmp_path, dem)
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--check", str(cfg)]) == 0
    found = _footprint_warnings(caplog)
    assert len(found) == int(warns)
    if warns:
        assert f"covers only {100 * _truth_share(dem):.1f} % of the grid" in found[0]


def test_run_check_says_how_much_of_the_units_area_lies_outside(tmp_path, caplog):
    # two units over 104.02-104.2 E; the DEM covers 104.08-104.2 E (60 % of the grid): 104.02-104.08 of them is outside
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame({"code": ["11", "12"]}, geometry=[box(104.02, BOTTOM, 104.1, TOP), box(104.1, BOTTOM, RIGHT, TOP)],
                     crs="EPSG:4326").to_file(tmp_path / "units.geojson", driver="GeoJSON")
    dem = _file(tmp_path, 60)
    cfg = _config(tmp_path, dem)
    cfg.write_text(cfg.read_text() + '[units]\npath = "units.geojson"\ncode_field = "code"\nhierarchy = "none"\n')
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--check", str(cfg)]) == 0
    (msg,) = _footprint_warnings(caplog)
    with rasterio.open(dem) as src:
        west = src.bounds.left
    away = _geod_box_area(104.02, BOTTOM, west, TOP) / _geod_box_area(104.02, BOTTOM, RIGHT, TOP)  # pyproj.Geod
    assert f"; {100 * away:.1f} % of the admin units' area on the grid lies outside the file" in msg


@pytest.mark.parametrize("lat_span", [90.0, 50.0])
def test_a_global_file_covers_a_utm_grid_whole(tmp_path, lat_span):
    """A global lon/lat file (-180..180 x -90..90, like a climate product) on a UTM zone's grid: transform_bounds of the
    whole globe into EPSG:32650 spans only x 500000..9.6e6, half of the grid below; the truth is that every grid
    pixel's centre, transformed to lon/lat by pyproj, lies inside the file (review of e56b2c2: a false 50 % warning).
    The -50..50 file (CHIRPS-like) on the same grid is the control that passed before."""
    from pyproj import Transformer

    from irrmap.core.footprint import falls_short, footprint_share
    from irrmap.core.grid import Grid

    f = _tif(tmp_path / "global.tif", -180.0, lat_span, 360, int(2 * lat_span), res=1.0)
    grid = Grid.from_bounds(300000.0, 3000000.0, 700000.0, 3400000.0, 2000.0, "EPSG:32650")  # ~27-31 N, 115-119 E
    xs, ys = np.meshgrid(grid.x_coords(), grid.y_coords())
    lon, lat = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True).transform(xs, ys)
    truth = float(np.mean((lon >= -180) & (lon <= 180) & (lat >= -lat_span) & (lat <= lat_span)))
    assert truth == 1.0
    with rasterio.open(f) as src:
        assert footprint_share(src, grid) == pytest.approx(truth)
        assert not falls_short(src, grid)


def test_aridity_from_meteorology_of_a_few_days_is_not_checked_as_annual():
    """aridity_from_meteorology sums the steps it is given, over any period: three daily steps are not annual totals,
    so the annual plausibility check of aridity_index must not refuse them (review of fa0c0a6). Truth: sum P / sum PET
    with PET of one step from priestley_taylor_pet, by hand over the three equal steps."""
    import xarray as xr

    import irrmap.suitability as su
    from irrmap.core.errors import InputError

    def r(v):
        a = xr.DataArray(np.full((4, 4), v, np.float32), dims=("y", "x"),
                         coords={"y": 40 - 0.01 * np.arange(4), "x": 100 + 0.01 * np.arange(4)})
        return a.rio.write_crs("EPSG:4326")

    ai = su.aridity_from_meteorology([r(2.0)] * 3, [r(25.0)] * 3, [r(50.0)] * 3, [r(250.0)] * 3, seconds_per_step=86400.0)
    pet = float(su.priestley_taylor_pet(r(25.0), r(50.0), r(250.0), seconds=86400.0).values[0, 0])
    assert float(ai.values[0, 0]) == pytest.approx(6.0 / (3 * pet), rel=1e-5)
    with pytest.raises(InputError):  # asked to check three days as an annual total: PET far too small for a year
        su.aridity_from_meteorology([r(2.0)] * 3, [r(25.0)] * 3, [r(50.0)] * 3, [r(250.0)] * 3, check=True)


def test_valid_outside_counts_across_several_tiles(tmp_path):
    """valid_outside walks the reference map in 2048-pixel tiles; the demo-sized tests use one. A 6 x 5000 reference
    (three tiles across) with nodata in every 7th column, and a file covering its first 3,100 columns: the valid
    pixels whose centre lies east of the file's edge are counted by numpy."""
    from irrmap.core.footprint import valid_outside
    from irrmap.core.grid import Grid

    width, height, res = 5000, 6, 0.001
    ref = np.ones((height, width), np.uint8)
    ref[:, ::7] = 255
    ref_path = tmp_path / "ref.tif"
    with rasterio.open(ref_path, "w", driver="GTiff", width=width, height=height, count=1, dtype="uint8", crs="EPSG:4326",
                       nodata=255, transform=from_origin(LEFT, TOP, res, res)) as dst:
        dst.write(ref, 1)
    part = _tif(tmp_path / "part.tif", LEFT, TOP, 3100, height, res=res)
    grid = Grid.from_raster(ref_path)
    centres = LEFT + res * (np.arange(width) + 0.5)
    truth_valid = ref != 255
    truth_outside = int((truth_valid & (centres > LEFT + 3100 * res)[None, :]).sum())
    with rasterio.open(part) as src:
        assert valid_outside(ref_path, src, grid) == (truth_outside, int(truth_valid.sum()))
