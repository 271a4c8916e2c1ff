"""Ground spacing on any CRS (issue 12, item 5): slope and distance to water measured on the ellipsoid on
MODIS sinusoidal, Web Mercator, EASE-Grid 2.0, Albers, LAEA, UTM and geographic grids.

Truth is independent of irrmap: ramps and distances come from pyproj.Geod between pixel centres placed by
pyproj's own transformation, the per-pixel metric from PROJ's scale-factor derivatives (get_factors), the
outline of the sinusoidal Earth from its formula x = R lon cos(lat), and slopes of real DEMs from a weighted
least-squares plane fitted in ground coordinates measured with Geod.
"""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import rasterio
from pyproj import CRS, Geod, Proj, Transformer
from rasterio.windows import Window

from conftest import as_dataarray
from irrmap.core.errors import GridError
from irrmap.core.geodesy import chord_to_arc, mean_radius
from irrmap.core.grid import Grid
from irrmap.core.ground import PLANAR_TOL, ground_metric, reach_pixels
from irrmap.core.raster_read import read_raster
from irrmap.evaluation.points import snap_to_crop
from irrmap.suitability.distance import distance_to_water, water_mask
from irrmap.suitability.slope import slope

MODIS_R = 6371007.181
MODIS_SINU = f"+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R={MODIS_R} +units=m +no_defs"  # SR-ORG:6842
MODIS_PIXEL = 231.656358263889  # MOD13Q1 250 m pixel (tile width 1,111,950.5197 m / 4800)
needs_gdalwarp = pytest.mark.skipif(shutil.which("gdalwarp") is None, reason="gdalwarp (Debian gdal-bin) not installed")

# (CRS, lon, lat, pixel size in CRS units): each kind of projection, at places where map units are not metres
CASES = {
    "modis-sinusoidal-100E-40N": (MODIS_SINU, 100.0, 40.0, MODIS_PIXEL),
    "modis-sinusoidal-170E-65N": (MODIS_SINU, 170.0, 65.0, MODIS_PIXEL),  # rows 70 deg off perpendicular
    "web-mercator-40N": ("EPSG:3857", 100.0, 40.0, 250.0),
    "web-mercator-70N": ("EPSG:3857", 20.0, 70.0, 250.0),
    "ease-grid-2-30N": ("EPSG:6933", 80.0, 30.0, 1000.0),
    "conus-albers-maine": ("EPSG:5070", -68.0, 47.0, 250.0),
    "laea-europe-north": ("EPSG:3035", 30.0, 68.0, 250.0),
    "geographic-60N": ("EPSG:4326", 10.0, 60.0, 0.00225),
    "utm-inside-zone": ("EPSG:32647", 100.0, 40.0, 250.0),
}


def _grid_at(crs, lon, lat, res, n=41) -> Grid:
    """An n x n grid whose centre pixel is centred on (lon, lat)."""
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    left, top = x - res * (n // 2 + 0.5), y + res * (n // 2 + 0.5)
    return Grid(CRS(crs).to_wkt(), rasterio.Affine(res, 0, left, 0, -res, top), n, n)


def _centres(grid: Grid):
    """Pixel-centre longitude and latitude by pyproj (2-D)."""
    crs = CRS(grid.crs.to_wkt())
    xx, yy = np.meshgrid(grid.x_coords(), grid.y_coords())
    if crs.is_geographic:
        return xx, yy
    return Transformer.from_crs(crs, crs.geodetic_crs, always_xy=True).transform(xx, yy)


def _geod(grid: Grid) -> Geod:
    """Geod on the ellipsoid the grid's lon/lat are geodetic on: the CRS's own, but WGS84 when that is a sphere
    (MODIS sinusoidal projects WGS84 lon/lat with a sphere's formulas, MODIS Land grid documentation)."""
    crs = CRS(grid.crs.to_wkt())
    return Geod(ellps="WGS84") if crs.ellipsoid.inverse_flattening == 0 else crs.get_geod()


def _from(grid: Grid, r: int, c: int):
    """Azimuth (deg) and geodesic distance (m) from pixel (r, c) to every pixel centre."""
    lon, lat = _centres(grid)
    az, _, d = _geod(grid).inv(np.full(lon.shape, lon[r, c]), np.full(lon.shape, lat[r, c]), lon, lat)
    return az, d


def _tolerance(grid: Grid, exact: float) -> float:
    """Planar grids keep map units as metres, within the documented scale bound; others are exact."""
    return PLANAR_TOL if grid.metric_kind == "planar" else exact


# ---- the issue's examples ----------------------------------------------------------------------------
def test_issue_example_modis_sinusoidal_at_100e_40n():
    grid = _grid_at(MODIS_SINU, 100.0, 40.0, MODIS_PIXEL)
    c = grid.height // 2
    az, d = _from(grid, c, c)
    east = 0.01 * d * np.sin(np.radians(az))  # a 1 % ramp rising eastward on the ground
    pct = slope(as_dataarray(east, grid), percent=True).values
    assert pct[c, c] == pytest.approx(1.0, abs=1e-5)  # was 1.503 %
    water = np.zeros(grid.shape, np.float32)
    water[c, c] = 1
    dist = distance_to_water(as_dataarray(water, grid)).values
    assert d[c - 20, c] == pytest.approx(6971, abs=1)  # Geod (WGS84): 20 pixels north are 6,971 m away
    assert dist[c - 20, c] == pytest.approx(d[c - 20, c], rel=1e-6)  # was 4,633 m


def test_issue_example_web_mercator_is_not_map_metres():
    grid = _grid_at("EPSG:3857", 100.0, 40.0, 250.0)
    c = grid.height // 2
    az, d = _from(grid, c, c)
    pct = slope(as_dataarray(0.01 * d * np.cos(np.radians(az)), grid), percent=True).values
    water = np.zeros(grid.shape, np.float32)
    water[c, c] = 1
    dist = distance_to_water(as_dataarray(water, grid)).values
    assert d[c, c + 20] / (20 * 250.0) == pytest.approx(1 / 1.305, rel=0.01)  # the map overstates it 1.31x
    assert dist[c, c + 20] == pytest.approx(d[c, c + 20], rel=1e-6)
    assert pct[c, c] == pytest.approx(1.0, abs=1e-5)


# ---- every kind of projection --------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("azimuth", [90.0, 0.0, 135.0, 30.0])
def test_a_plane_on_the_ground_has_its_grade(case, azimuth):
    """z = grade x (geodesic distance from the centre along `azimuth`): a plane on the ground."""
    grid = _grid_at(*CASES[case])
    c = grid.height // 2
    az, d = _from(grid, c, c)
    along = d * np.cos(np.radians(az - azimuth))
    tol = _tolerance(grid, 2e-5)
    for grade in (0.01, 0.3):
        pct = slope(as_dataarray(grade * along, grid), percent=True).values
        assert np.abs(pct[1:-1, 1:-1] / (100 * grade) - 1).max() <= tol  # near the centre, where it is a plane
    deg = slope(as_dataarray(0.3 * along, grid)).values
    assert deg[c, c] == pytest.approx(np.degrees(np.arctan(0.3)), rel=tol)


@pytest.mark.parametrize("case", CASES)
def test_distance_from_one_water_pixel_is_the_geodesic(case):
    grid = _grid_at(*CASES[case])
    c = grid.height // 2
    _, d = _from(grid, c, c)
    water = np.zeros(grid.shape, np.float32)
    water[c, c] = 1
    got = distance_to_water(as_dataarray(water, grid)).values.astype(np.float64)
    assert got[c, c] == 0
    off = d > 0
    assert np.abs(got[off] / d[off] - 1).max() <= _tolerance(grid, 1e-6)


@pytest.mark.parametrize("crs, lon, lat, bound", [(MODIS_SINU, 120.0, 45.0, 1e-6), ("EPSG:5070", -75.0, 45.0, 3e-7),
                                                  ("EPSG:3857", 20.0, 60.0, 1e-4)])
def test_distances_of_a_hundred_km(crs, lon, lat, bound):
    """5 km pixels, 41 x 41: up to 140 km. General grids: chord to arc (< 2e-7 at 100 km, < 2 % of
    c^2 / (24 R^2) = 1.05e-6 at the 226 km of MODIS sinusoidal's farthest pixel, now measured on WGS84, not on
    the exact sphere); cylindrical: the re-measured transform (< 0.01 % at 100 km, the documented bounds)."""
    grid = _grid_at(crs, lon, lat, 5000.0)
    water = np.zeros(grid.shape, np.float32)
    water[0, 0] = 1
    _, d = _from(grid, 0, 0)
    got = distance_to_water(as_dataarray(water, grid)).values.astype(np.float64)
    assert d.max() > 140_000
    assert np.abs(got[d > 0] / d[d > 0] - 1).max() <= bound


def test_nearest_water_on_a_sheared_grid_is_the_geodesic_minimum():
    grid = _grid_at(MODIS_SINU, 120.0, 45.0, MODIS_PIXEL, n=61)
    rng = np.random.default_rng(4)
    water = np.zeros(grid.shape, np.float32)
    water[rng.integers(0, 61, 15), rng.integers(0, 61, 15)] = 1
    water[5:9, 40:50] = np.nan
    got = distance_to_water(as_dataarray(water, grid)).values.astype(np.float64)
    lon, lat = _centres(grid)
    wr, wc = np.nonzero(water == 1)
    geod = _geod(grid)
    truth = np.full(grid.shape, np.inf)
    for r, c in zip(wr, wc):
        _, _, d = geod.inv(np.full(lon.shape, lon[r, c]), np.full(lon.shape, lat[r, c]), lon, lat)
        truth = np.minimum(truth, d)
    valid = ~np.isnan(water)
    assert np.array_equal(np.isnan(got), ~valid)
    np.testing.assert_allclose(got[valid], truth[valid], rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("crs, lon, lat, exact", [(MODIS_SINU, 110.0, 50.0, True), ("EPSG:3857", 15.0, 70.0, False)])
def test_capped_blocks_equal_the_whole_grid(crs, lon, lat, exact):
    grid = _grid_at(crs, lon, lat, 250.0, n=90)
    rng = np.random.default_rng(8)
    water = as_dataarray((rng.random(grid.shape) > 0.998).astype(np.float32), grid)
    whole = distance_to_water(water).values
    for cap in (0.2 * np.nanmax(whole), 0.7 * np.nanmax(whole)):  # halos of a few to many blocks
        got = distance_to_water(water.chunk(16), max_distance=float(cap)).values
        want = np.minimum(whole, cap)
        if exact:
            np.testing.assert_array_equal(got, want)
        else:
            np.testing.assert_allclose(got, want, rtol=1e-6)
        assert (got == np.float32(cap)).any() and (got < np.float32(cap)).any()
    np.testing.assert_array_equal(slope(as_dataarray(whole, grid).chunk(16)).values, slope(as_dataarray(whole, grid)).values)


@pytest.mark.parametrize("crs, lon, lat, res, n, cap", [
    ("EPSG:4326", 0.0, 89.0, 0.25, (8, 1440), 30_000.0),  # up to the pole: the shortest way is over it
    (MODIS_SINU, 165.0, 70.0, 1000.0, (60, 60), 12_000.0),
    ("EPSG:3857", 10.0, 75.0, 1000.0, (60, 60), 8_000.0),
    ("EPSG:32633", 15.0, 45.0, 1000.0, (60, 60), 20_000.0),
])
def test_halo_reaches_every_pixel_within_the_cap(crs, lon, lat, res, n, cap):
    """Every pixel closer than the cap (Geod between pixel centres) lies within the halo of rows/columns."""
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    left = -180.0 if crs == "EPSG:4326" else x - res * n[1] / 2
    top = 90.0 if crs == "EPSG:4326" else y + res * n[0] / 2
    grid = Grid(CRS(crs).to_wkt(), rasterio.Affine(res, 0, left, 0, -res, top), *n)
    rows, cols = reach_pixels(grid, cap)
    rr, cc = np.mgrid[0 : n[0], 0 : n[1]]
    for r, c in ((0, 0), (n[0] - 1, n[1] // 2), (n[0] // 2, n[1] - 1)):
        _, d = _from(grid, r, c)
        near = d <= cap
        assert near.sum() > 1
        assert np.abs(rr[near] - r).max() <= rows and np.abs(cc[near] - c).max() <= cols


def test_pixels_off_the_earth_are_nan():
    """A sinusoidal grid across the edge of the world at 60 N: the Earth ends at |x| = pi R cos(y / R)."""
    y = np.radians(60.0) * MODIS_R
    edge = np.pi * MODIS_R * np.cos(y / MODIS_R)
    grid = Grid(CRS(MODIS_SINU).to_wkt(), rasterio.Affine(MODIS_PIXEL, 0, edge - 40.3 * MODIS_PIXEL, 0, -MODIS_PIXEL, y + 20 * MODIS_PIXEL), 40, 80)
    xx, yy = np.meshgrid(grid.x_coords(), grid.y_coords())
    off = np.abs(xx) > np.pi * MODIS_R * np.cos(yy / MODIS_R)
    assert 0 < off.sum() < off.size
    dem = as_dataarray(np.add.outer(np.arange(40.0), np.arange(80.0)), grid)
    s = slope(dem.chunk(16)).values
    assert np.array_equal(np.isnan(s), off)
    water = np.zeros(grid.shape, np.float32)
    water[:, 0] = 1
    d = distance_to_water(as_dataarray(water, grid)).values
    assert np.array_equal(np.isnan(d), off)


# ---- the metric itself ------------------------------------------------------------------------------------
@pytest.mark.parametrize("crs, lon, lat", [(MODIS_SINU, 100.0, 40.0), (MODIS_SINU, -150.0, -55.0), ("EPSG:5070", -120.0, 48.0)])
def test_metric_equals_proj_scale_factors(crs, lon, lat):
    """(E, F, G) from the ground vectors of the column and row steps, against PROJ's partial derivatives
    (per radian, in units of the CRS's semi-major axis) and the radii of curvature of the ellipsoid the lon/lat
    are geodetic on (`_geod`: WGS84 for MODIS's sphere)."""
    grid = _grid_at(crs, lon, lat, 250.0, n=100)
    win = Window(7, 5, 60, 70)  # not aligned with the metric's nodes
    E, F, G = ground_metric(grid, win)
    c = CRS(crs)
    a_proj = c.ellipsoid.semi_major_metre
    ref = _geod(grid)
    e2 = ref.es
    sub = grid.window_grid(win)
    plon, plat = _centres(sub)
    f = Proj(c).get_factors(plon, plat)
    phi = np.radians(plat)
    w = 1 - e2 * np.sin(phi) ** 2
    # ground metres per radian of lon and lat over the CRS's semi-major axis (PROJ's derivatives' unit)
    n_cos, m = ref.a * np.cos(phi) / np.sqrt(w) / a_proj, ref.a * (1 - e2) / w**1.5 / a_proj
    # map metres per ground metre east and north, then its inverse applied to the pixel's steps (250, -250)
    A = np.stack([[f.dx_dlam / n_cos, f.dx_dphi / m], [f.dy_dlam / n_cos, f.dy_dphi / m]])
    B = np.linalg.inv(np.moveaxis(A, (0, 1), (-2, -1)))
    u, v = B[..., :, 0] * 250.0, B[..., :, 1] * -250.0
    np.testing.assert_allclose(E, (u * u).sum(-1), rtol=1e-6)
    np.testing.assert_allclose(G, (v * v).sum(-1), rtol=1e-6)
    np.testing.assert_allclose(F, (u * v).sum(-1), rtol=1e-6, atol=1e-6 * 250.0**2)


def test_spacing_model_of_common_grids():
    kinds = {name: _grid_at(*CASES[name]).metric_kind for name in CASES}
    assert kinds["utm-inside-zone"] == "planar"
    assert {kinds[k] for k in ("web-mercator-40N", "web-mercator-70N", "ease-grid-2-30N", "geographic-60N")} == {"graticule"}
    assert {kinds[k] for k in ("modis-sinusoidal-100E-40N", "conus-albers-maine", "laea-europe-north")} == {"general"}
    far = _grid_at("EPSG:32647", 107.0, 10.0, 250.0)  # 8 degrees east of the zone's meridian: scale 1.0093
    assert far.metric_kind == "general"
    with pytest.raises(GridError, match="not a constant distance apart"):
        _grid_at(*CASES["modis-sinusoidal-100E-40N"]).ground_spacing()


def test_chord_to_arc_against_geod():
    geod = Geod(ellps="WGS84")
    rng = np.random.default_rng(1)
    lon1, lat1, az = rng.uniform(-180, 180, 500), rng.uniform(-80, 80, 500), rng.uniform(0, 360, 500)
    to_xyz = Transformer.from_crs("EPSG:4326", "EPSG:4978", always_xy=True)
    for dist, bound in ((100e3, 2e-7), (1000e3, 2e-5)):
        lon2, lat2, _ = geod.fwd(lon1, lat1, az, np.full(500, dist))
        p = np.array(to_xyz.transform(lon1, lat1, np.zeros(500)))
        q = np.array(to_xyz.transform(lon2, lat2, np.zeros(500)))
        arc = chord_to_arc(np.linalg.norm(p - q, axis=0), mean_radius("EPSG:4326"))
        assert np.abs(arc / dist - 1).max() < bound


def test_snap_to_crop_ranks_by_ground_distance_on_sinusoidal():
    """At 100 E, 40 N one row south is 1.12 pixels west on the ground: the crop pixel one row south and one
    column east is nearer than the one straight south."""
    grid = _grid_at(MODIS_SINU, 100.0, 40.0, MODIS_PIXEL, n=11)
    crop = np.zeros(grid.shape, np.float32)
    for dr, dc in ((1, 0), (1, 1), (0, 2), (-1, 1)):
        crop[5 + dr, 5 + dc] = 1
    _, d = _from(grid, 5, 5)
    want = np.unravel_index(np.argmin(np.where(crop > 0, d, np.inf)), grid.shape)
    assert want == (6, 6)
    r, c, moved, found = snap_to_crop(np.array([5]), np.array([5]), as_dataarray(crop, grid), grid, radius=2)
    assert (r[0], c[0]) == want and moved[0] and found[0]


# ---- real data ---------------------------------------------------------------------------------------------
def _plane_fit_slope(grid: Grid, z: np.ndarray, pixels) -> np.ndarray:
    """Percent slope of the weighted least-squares plane (Horn's weights: 1 corners, 2 sides) through each
    pixel's 3 x 3 window, in ground east/north metres from Geod."""
    lon, lat = _centres(grid)
    geod = _geod(grid)
    weights = np.array([1, 2, 1, 2, 4, 2, 1, 2, 1], float)
    out = []
    for r, c in pixels:
        lo, la = lon[r - 1 : r + 2, c - 1 : c + 2].ravel(), lat[r - 1 : r + 2, c - 1 : c + 2].ravel()
        az, _, d = geod.inv(np.full(9, lo[4]), np.full(9, la[4]), lo, la)
        design = np.column_stack([np.ones(9), d * np.sin(np.radians(az)), d * np.cos(np.radians(az))])
        sw = np.sqrt(weights)
        coef = np.linalg.lstsq(design * sw[:, None], z[r - 1 : r + 2, c - 1 : c + 2].ravel() * sw, rcond=None)[0]
        out.append(100 * np.hypot(coef[1], coef[2]))
    return np.array(out)


@needs_gdalwarp
@pytest.mark.parametrize("target", [MODIS_SINU, "EPSG:3857"])
def test_real_dem_slope_matches_a_ground_plane_fit(shared_data, tmp_path, target):
    """SRTM over Zion (113 W, 37 N) warped to MODIS sinusoidal (rows 50 deg off perpendicular there) and Web
    Mercator: every sampled pixel's slope equals the plane fitted on the ground."""
    out = tmp_path / "dem.tif"
    subprocess.run(["gdalwarp", "-q", "-t_srs", target, "-tr", "92.6625", "92.6625", "-r", "bilinear",
                    str(shared_data / "dem" / "srtm_zion_90m.tif"), str(out)], check=True)
    grid = Grid.from_raster(out)
    dem = read_raster(out, grid)
    ours = slope(dem.chunk(128), percent=True).values
    z = dem.values.astype(np.float64)
    ok = np.isfinite(z[:-2, :-2] + z[1:-1, :-2] + z[2:, :-2] + z[:-2, 1:-1] + z[1:-1, 1:-1] + z[2:, 1:-1] + z[:-2, 2:] + z[1:-1, 2:] + z[2:, 2:])
    inside = np.argwhere(ok) + 1
    pixels = inside[np.random.default_rng(0).choice(len(inside), 300, replace=False)]
    truth = _plane_fit_slope(grid, z, pixels)
    got = ours[tuple(pixels.T)]
    assert np.median(truth) > 10  # steep terrain: the old map-metre slopes were off by 20 % and more
    np.testing.assert_allclose(got, truth, rtol=2e-4, atol=1e-3)


@needs_gdalwarp
def test_real_water_mask_in_sinusoidal_against_geodesics(shared_data, tmp_path):
    out = tmp_path / "occ.tif"
    subprocess.run(["gdalwarp", "-q", "-t_srs", MODIS_SINU, "-tr", "27.8", "27.8", "-r", "near",
                    str(shared_data / "water" / "occurrence_60W_10Nv1_4_2021.tif"), str(out)], check=True)
    grid = Grid.from_raster(out)
    water = water_mask(read_raster(out, grid), threshold=50).compute()
    d = distance_to_water(water).values
    w = water.values
    lon, lat = _centres(grid)
    land = np.argwhere(w == 0)
    samples = land[np.random.default_rng(0).choice(len(land), 40, replace=False)]
    wl, wt = lon[w > 0], lat[w > 0]
    geod = _geod(grid)
    truth = np.array([geod.inv(np.full(wl.size, lon[r, c]), np.full(wl.size, lat[r, c]), wl, wt)[2].min() for r, c in samples])
    assert truth.max() > 1000
    np.testing.assert_allclose(d[tuple(samples.T)], truth, rtol=1e-6)
    assert np.array_equal(np.isnan(d), np.isnan(w))
