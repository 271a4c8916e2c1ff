"""Per-unit and per-class areas of the evaluation and the reconciliation are the same to the bit whatever the window
size: agreement.zonal_mapped_area and mapped_area_by_unit (`tile`), comparison.compare_maps_many (`tile`),
compare_grids.binarise_own_grid (its own 1024 tiles against compare_maps' 7) and reconcile.zone_sums (`strip_rows`).
Each pixel's term is summed in fixed point (irrmap.core.fixed_sum.KeySums); a float64 sum window by window gave
last bits that depend on the windows. Truth: math.fsum over the pixels, pixel areas from pyproj.Geod on each row's
outline (its parallels cut into 100 pieces)."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import as_dataarray
from irrmap.evaluation.agreement import mapped_area_by_unit, zonal_mapped_area
from irrmap.evaluation.compare_grids import binarise_own_grid
from irrmap.evaluation.comparison import compare_maps, compare_maps_many
from irrmap.mapping.reconcile.zone_sums import RunRasters, zone_sums
from rasterio.transform import from_origin
from shapely.geometry import box

from irrmap.app.cli import main
from irrmap.core.fixed_sum import KeySums
from irrmap.core.grid import Grid
from irrmap.core.raster_write import write_raster
from irrmap.core.units import AdminUnits
from tests.geod_truth import densified_pixel_area

RES, LEFT, TOP, H, W = 0.005, 30.0, 40.55, 110, 90  # 30.0..30.45 E x 40.0..40.55 N
N_ZONES = 5
TILES = (7, 64, 4096)  # 4096: the whole grid in one window
ROW, COL = np.mgrid[0:H, 0:W]


def _row_area(j: int) -> float:
    """Ellipsoidal area (m2) of a pixel in row j as drawn (tests.geod_truth.densified_pixel_area)."""
    return densified_pixel_area(LEFT, TOP, RES, j)


AREA = np.array([_row_area(j) for j in range(H)])[:, None] * np.ones((1, W))  # (H, W) m2


def _fraction(a: float, b: float) -> np.ndarray:
    return (COL * a + ROW * b) % 1.0


# zone ids 0..6: 0 outside every unit, 6 above N_ZONES (left out)
ZONES = ((COL * 7 + ROW * 3) // 11) % 7
MAP = np.where((COL + 2 * ROW) % 13 == 0, np.nan, _fraction(0.6180339887498949, 0.41421356237309515))
WEIGHT = _fraction(0.7548776662466927, 0.5698402909980532)


@pytest.fixture(scope="module")
def grid():
    g = Grid.from_bounds(LEFT, TOP - H * RES, LEFT + W * RES, TOP, RES, "EPSG:4326")
    assert g.shape == (H, W)
    np.testing.assert_allclose(g.pixel_area(), AREA, rtol=1e-9)
    return g


def _fsum_by_zone(terms: np.ndarray, zones=ZONES, n=N_ZONES) -> np.ndarray:
    return np.array([math.fsum(terms[zones == k].tolist()) for k in range(n + 1)])


def test_key_sums_are_order_free_and_keep_inf_and_nan():
    rng = np.random.default_rng(5)
    v = rng.uniform(0, 1e6, 10_000)
    k = rng.integers(0, 3, v.size)
    a, b = KeySums(3), KeySums(3)
    a.add(k, v)
    for part in np.array_split(rng.permutation(v.size), 37):
        b.add(k[part], v[part])
    assert a.totals().tobytes() == b.totals().tobytes()
    np.testing.assert_allclose(a.totals(), [math.fsum(v[k == i]) for i in range(3)], rtol=1e-12)
    c = KeySums(3)
    c.add([0, 1, 1, 2], [1.0, np.inf, 2.0, np.nan])
    assert c.totals()[0] == 1.0 and c.totals()[1] == np.inf and np.isnan(c.totals()[2])
    with pytest.raises(ValueError):
        c.add([3], [1.0])


def test_zonal_mapped_area_is_the_same_bits_whatever_the_tile(grid):
    m, z, w = as_dataarray(MAP, grid), as_dataarray(ZONES, grid), as_dataarray(WEIGHT, grid)
    runs = {t: zonal_mapped_area(m, z, N_ZONES, weight=w, tile=t, with_missing=True) for t in TILES}
    for t, sums in runs.items():
        for got, want in zip(sums, runs[4096]):
            assert got.tobytes() == want.tobytes(), t
    gap = np.isnan(MAP)
    truth = (_fsum_by_zone(np.where(gap, 0.0, MAP) * AREA * WEIGHT), _fsum_by_zone(gap * AREA * WEIGHT),
             _fsum_by_zone(AREA * WEIGHT))
    for got, want in zip(runs[4096], truth):
        np.testing.assert_allclose(got, want, rtol=1e-9)
    # binary maps (value > threshold) and percent maps too
    pct = as_dataarray(MAP * 100, grid)
    for kw, terms in (({"kind": "binary", "threshold": 0.5}, np.where(MAP > 0.5, AREA, 0.0)),
                      ({"kind": "percent"}, np.where(gap, 0.0, MAP) * AREA)):
        da = pct if kw["kind"] == "percent" else m
        got = {t: zonal_mapped_area(da, z, N_ZONES, tile=t, **kw) for t in TILES}
        assert len({v.tobytes() for v in got.values()}) == 1, kw
        np.testing.assert_allclose(got[7], _fsum_by_zone(terms), rtol=1e-9)


def test_mapped_area_by_unit_is_the_same_bits_whatever_the_tile(grid, tmp_path):
    boxes = {"130101": (30.0, 40.0, 30.2, 40.3), "130102": (30.2, 40.0, 30.45, 40.3), "130103": (30.0, 40.3, 30.45, 40.55)}
    gpd.GeoDataFrame({"code": list(boxes)}, geometry=[box(*b) for b in boxes.values()], crs="EPSG:4326").to_file(tmp_path / "u.gpkg")
    units = AdminUnits.read(tmp_path / "u.gpkg", "code")
    m = as_dataarray(np.nan_to_num(MAP), grid)
    runs = {t: mapped_area_by_unit(m, units, tile=t) for t in TILES}
    for t, s in runs.items():
        assert s.to_numpy().tobytes() == runs[4096].to_numpy().tobytes(), t
    for code, (x0, y0, x1, y1) in boxes.items():
        inside = (COL >= round((x0 - LEFT) / RES)) & (COL < round((x1 - LEFT) / RES)) & \
                 (ROW >= round((TOP - y1) / RES)) & (ROW < round((TOP - y0) / RES))
        assert runs[7][code] == pytest.approx(math.fsum((np.nan_to_num(MAP) * AREA)[inside].tolist()), rel=1e-9)


def test_compare_maps_is_the_same_bits_whatever_the_tile(grid):
    a = as_dataarray(MAP, grid)
    b_class = np.where(ROW % 17 == 3, np.nan, _fraction(0.3819660112501051, 0.2360679774997897))
    b_frac = np.where(COL % 19 == 5, np.nan, _fraction(0.1, 0.7))
    mask = ((COL + ROW) % 5 != 0).astype(np.float64)
    bs = [as_dataarray(b_class, grid), as_dataarray(b_frac, grid)]
    runs = {t: [r.to_dict() for r in compare_maps_many(a, bs, threshold_a=0.4, thresholds_b=[0.6, None], mask=as_dataarray(mask, grid),
                                                       tile=t)] for t in TILES}
    for t, res in runs.items():
        assert res == runs[4096], t  # floats compared with ==: the same bits
    keep = mask > 0
    ok_a = keep & np.isfinite(MAP)
    irr_a = np.isfinite(MAP) & (MAP > 0.4)
    res_class, res_frac = runs[7]
    ok = ok_a & np.isfinite(b_class)
    for i, ca in enumerate((False, True)):
        for j, cb in enumerate((False, True)):
            sel = ok & ((MAP > 0.4) == ca) & ((b_class > 0.6) == cb)
            assert res_class["agreement_matrix_m2"][i][j] == pytest.approx(math.fsum(AREA[sel].tolist()), rel=1e-9)
    assert res_class["missing_area_m2"] == pytest.approx(math.fsum(AREA[keep & ~ok].tolist()), rel=1e-9)
    assert res_class["irrigated_area_a_m2"] == pytest.approx(math.fsum(AREA[irr_a].tolist()), rel=1e-9)
    assert res_class["irrigated_area_b_m2"] == pytest.approx(math.fsum(AREA[np.isfinite(b_class) & (b_class > 0.6)].tolist()), rel=1e-9)
    ok = ok_a & np.isfinite(b_frac)
    f = np.nan_to_num(b_frac)
    for i, ca in enumerate((False, True)):
        sel = ok & ((MAP > 0.4) == ca)
        assert res_frac["agreement_matrix_m2"][i][1] == pytest.approx(math.fsum((AREA * f)[sel].tolist()), rel=1e-9)
        assert res_frac["agreement_matrix_m2"][i][0] == pytest.approx(math.fsum((AREA * (1 - f))[sel].tolist()), rel=1e-9)
    assert res_frac["irrigated_area_b_m2"] == pytest.approx(math.fsum((AREA * f).ravel().tolist()), rel=1e-9)


def test_own_grid_area_is_the_bits_of_the_comparison_grid_sum(grid, tmp_path):
    # binarise_own_grid sums in 1024-pixel tiles (the whole map here), compare_maps in `tile`: one value
    path = tmp_path / "b.tif"
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype="float64", crs="EPSG:4326",
                       transform=from_origin(LEFT, TOP, RES, RES), nodata=-1.0) as dst:
        dst.write(np.nan_to_num(MAP, nan=-1.0), 1)
    own = binarise_own_grid(path, grid, 0.3, tmp_path / "bin.tif")
    for t in TILES:
        assert compare_maps(as_dataarray(MAP, grid), as_dataarray(MAP, grid), threshold_a=0.3, threshold_b=0.3,
                            tile=t).irrigated_area_a_m2 == own, t
    assert own == pytest.approx(math.fsum(AREA[np.isfinite(MAP) & (MAP > 0.3)].tolist()), rel=1e-9)


def _tif(path, arr, dtype):
    with rasterio.open(path, "w", driver="GTiff", height=H, width=W, count=1, dtype=dtype, crs="EPSG:4326",
                       transform=from_origin(LEFT, TOP, RES, RES)) as dst:
        dst.write(np.asarray(arr).astype(dtype), 1)
    return path


def test_zone_sums_are_the_same_bits_whatever_the_strip_height(grid, tmp_path):
    crop = WEIGHT.astype(np.float32).astype(np.float64)
    prob = np.rint(100 * _fraction(0.1, 0.3))  # P x 100, as the mapping stage writes it
    before = (ROW + COL) % 3 == 0
    zones = np.where(ZONES > N_ZONES, 0, ZONES)  # zone_sums reads the ids 0..n_zones its zone table holds
    r = RunRasters(_tif(tmp_path / "z.tif", zones, "int32"), _tif(tmp_path / "p.tif", prob, "uint8"),
                   _tif(tmp_path / "c.tif", crop, "float32"), _tif(tmp_path / "b.tif", before, "uint8"))
    runs = {s: zone_sums(r, N_ZONES, strip_rows=s) for s in TILES}
    cols = ["area_m2", "cropland_m2", "expected_m2", "before_m2"]
    for s, df in runs.items():
        assert df[cols].to_numpy().tobytes() == runs[4096][cols].to_numpy().tobytes(), s
    truth = {"area_m2": AREA, "cropland_m2": crop * AREA, "expected_m2": prob * 0.01 * crop * AREA, "before_m2": before * crop * AREA}
    for c, terms in truth.items():
        np.testing.assert_allclose(runs[7][c].to_numpy(), _fsum_by_zone(terms, zones), rtol=1e-9, err_msg=c)


def test_evaluate_statistics_tables_do_not_depend_on_where_the_tiles_cut_a_unit(tmp_path):
    # `irrmap evaluate` has no tile option: its 2048-pixel tiles cut a unit where the map's extent puts them. The same
    # unit pixels on a wide map (unit 610101 across the tile edge at column 2048) and on that map cut to columns
    # 1000.. (the unit inside one tile) give byte-identical per-unit CSV tables.
    res, x0, y0, h, w = 0.001, 100.0, 38.02, 20, 2300
    full = Grid.from_bounds(x0, y0 - h * res, x0 + w * res, y0, res, "EPSG:4326")
    cut = Grid.from_bounds(x0 + 1000 * res, y0 - h * res, x0 + w * res, y0, res, "EPSG:4326")
    row, col = np.mgrid[0:h, 0:w]
    m = ((col * 0.6180339887498949 + row * 0.41421356237309515) % 1.0).astype("float32")
    write_raster(tmp_path / "full.tif", as_dataarray(m, full), cog=False)
    write_raster(tmp_path / "cut.tif", as_dataarray(m[:, 1000:], cut), cog=False)
    polys = {"610101": (1990, 2110), "610102": (2110, 2290)}
    gpd.GeoDataFrame({"code": list(polys)}, geometry=[box(x0 + c0 * res, y0 - h * res, x0 + c1 * res, y0) for c0, c1 in polys.values()],
                     crs="EPSG:4326").to_file(tmp_path / "u.geojson")
    pd.DataFrame({"code": list(polys), "irr_ha": [1100.0, 1800.0]}).to_csv(tmp_path / "s.csv", index=False)
    area = np.array([densified_pixel_area(x0, y0, res, j) for j in range(h)])[:, None] * np.ones((1, w))
    tables = {}
    for name in ("full", "cut"):
        out = tmp_path / name
        assert main(["-q", "evaluate", "statistics", str(tmp_path / f"{name}.tif"), "--units", str(tmp_path / "u.geojson"), "--unit-field",
                     "code", "--stats", str(tmp_path / "s.csv"), "--stats-field", "code", "--area-field", "irr_ha", "--area-unit", "ha",
                     "--out-unit", "m2", "--out", str(out)]) == 0
        tables[name] = {p.name: p.read_bytes() for p in sorted(out.glob("*.csv"))}
    assert tables["full"] and tables["full"] == tables["cut"]
    county = pd.read_csv(tmp_path / "full" / "statistics_county.csv", dtype={"code": str}).set_index("code")
    for code, (c0, c1) in polys.items():
        want = math.fsum((m.astype(np.float64) * area)[:, c0:c1].ravel().tolist())
        assert county.loc[code, "mapped_m2"] == pytest.approx(want, rel=1e-9)
