"""A three-level admin hierarchy (province > city > county) with Chinese-style adcodes (PPCCXX).

Counties are Voronoi cells of seeded points (two Lloyd relaxations for even sizes), clipped to the region.
Counties are grouped into provinces and, within each province, into cities by seeded k-means on their
centroids; cities and provinces are unions of their counties, so the hierarchy nests exactly. The polygons
are global by nature but tiny (thousands of vertices), so they are built in one go.
"""

from __future__ import annotations


import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry import MultiPoint, box

from irrmap.app.demo.spec import DemoSpec

_SYL = ["an", "bai", "chang", "da", "dong", "feng", "gu", "he", "hong", "hua", "jin", "jing", "kang", "lan", "le", "lin",
        "long", "ming", "ning", "ping", "qing", "quan", "rui", "shan", "shui", "tai", "tian", "wu", "xi", "xin", "yang",
        "yong", "yu", "ze", "zhang", "zhen", "zhou"]


_TRIES = 50  # draws in a row that hit used names before names take one more syllable


def _names(rng, n: int, used: set) -> list[str]:
    """`n` unused seeded names of two syllables (37^2 = 1,369 of them), more once two-syllable draws keep hitting
    used names: a region of thousands of units (64x the default demo) ran out of them and drew forever.
    Smaller demos never get there (their names and bytes are unchanged)."""
    out = []
    syllables, misses = 2, 0
    while len(out) < n:
        nm = "".join(_SYL[rng.integers(len(_SYL))] for _ in range(syllables)).capitalize()
        if nm not in used:
            used.add(nm)
            out.append(nm)
            misses = 0
        else:
            misses += 1
            if misses >= _TRIES:
                syllables, misses = syllables + 1, 0
    return out


def _kmeans(pts: np.ndarray, k: int, rng, iters: int = 30) -> np.ndarray:
    """Labels 0..k-1 (every cluster non-empty) by k-means++ and Lloyd iterations."""
    n = len(pts)
    if k >= n:
        return np.arange(n)
    centres = [pts[rng.integers(n)]]
    for _ in range(1, k):
        d = np.min(((pts[:, None, :] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(pts[rng.choice(n, p=d / d.sum())] if d.sum() > 0 else pts[rng.integers(n)])
    c = np.array(centres)
    lab = np.zeros(n, dtype=int)
    for _ in range(iters):
        lab = np.argmin(((pts[:, None, :] - c[None]) ** 2).sum(-1), axis=1)
        for j in range(k):
            if not np.any(lab == j):  # re-seed an empty cluster at the point farthest from its centre
                far = np.argmax(((pts - c[lab]) ** 2).sum(-1))
                lab[far] = j
            c[j] = pts[lab == j].mean(axis=0)
    return lab


# GB/T 2260 province codes run 11 (Beijing) .. 82 (Macao); irrmap.core.units.CN_PROVINCE refuses any other prefix
FIRST_PROVINCE, LAST_PROVINCE = 11, 82
WESTERN_FIRST = 61  # small demos take the north-western prefixes (61 Shaanxi, 62 Gansu, 64 Ningxia, ...)


def province_prefix_start(n_prov: int) -> int:
    """The first province prefix of `n_prov` consecutive provinces: 61 while 61 .. 61 + n_prov - 1 stays within
    GB/T 2260's 11 .. 82, else 11 (up to 72 provinces). Before, 61 was used up to 38 provinces, so regions of
    23 to 38 provinces (demos of about 3.7 to 6.2 Mpx, 2048 x 2048 among them) got prefixes 83 .. 98, and their
    own `irrmap run` refused the unit file.

    Raises ValueError for more than 72 provinces."""
    if n_prov > LAST_PROVINCE - FIRST_PROVINCE + 1:
        raise ValueError(f"{n_prov} provinces do not fit GB/T 2260's prefixes {FIRST_PROVINCE}..{LAST_PROVINCE}")
    return WESTERN_FIRST if WESTERN_FIRST + n_prov - 1 <= LAST_PROVINCE else FIRST_PROVINCE


def admin_units(spec: DemoSpec) -> dict[str, gpd.GeoDataFrame]:
    """GeoDataFrames 'counties', 'cities', 'provinces' (EPSG:4326) with code, name, level and parent codes."""
    rng = np.random.default_rng([spec.seed, 7001])
    left, bottom, right, top = spec.grid.bounds
    region = box(left, bottom, right, top)
    n = spec.n_counties
    kx = np.cos(np.radians((top + bottom) / 2))
    pts = np.column_stack([rng.uniform(left, right, n), rng.uniform(bottom, top, n)])
    for _ in range(3):
        cells = _voronoi(pts, region)
        pts = np.array([[c.centroid.x, c.centroid.y] for c in cells])
    cells = _voronoi(pts, region)
    cent = np.array([[c.centroid.x * kx, c.centroid.y] for c in cells])
    n_prov = int(np.clip(n // 16, 3, 60))
    prov = _kmeans(cent, n_prov, rng)
    order = np.argsort([-(cent[prov == p, 1].mean()) * 1000 + cent[prov == p, 0].mean() for p in range(n_prov)], kind="stable")
    prov_rank = np.empty(n_prov, dtype=int)
    prov_rank[order] = np.arange(n_prov)
    used: set = set()
    pnames = _names(rng, n_prov, used)
    rows = []
    first = province_prefix_start(n_prov)
    for p in range(n_prov):
        members = np.flatnonzero(prov == order[p])
        n_city = max(1, int(round(len(members) / 4)))
        if n < 40:
            n_city = max(1, int(round(len(members) / 3)))
        city = _kmeans(cent[members], min(n_city, len(members)), rng)
        corder = np.argsort([-(cent[members[city == c], 1].mean()) * 1000 + cent[members[city == c], 0].mean() for c in range(city.max() + 1)], kind="stable")
        cnames = _names(rng, len(corder), used)
        for ci, c in enumerate(corder):
            cm = members[city == c]
            cm = cm[np.argsort(-cent[cm, 1] * 1000 + cent[cm, 0], kind="stable")]
            knames = _names(rng, len(cm), used)
            if ci + 1 > 99 or len(cm) > 99:
                raise ValueError("too many units for 2-digit adcode parts")
            for xi, m in enumerate(cm):
                rows.append({
                    "code": f"{first + p:02d}{ci + 1:02d}{xi + 1:02d}", "name": f"{knames[xi]} County", "level": "county",
                    "city_code": f"{first + p:02d}{ci + 1:02d}00", "city_name": f"{cnames[ci]} City",
                    "province_code": f"{first + p:02d}0000", "province_name": f"{pnames[p]} Province", "geometry": cells[m],
                })
    counties = gpd.GeoDataFrame(rows, crs="EPSG:4326").sort_values("code", kind="stable").reset_index(drop=True)
    cities = _dissolve(counties, "city_code", "city_name", "city", ["province_code", "province_name"])
    provinces = _dissolve(counties, "province_code", "province_name", "province", [])
    return {"counties": counties, "cities": cities, "provinces": provinces}


def _voronoi(pts: np.ndarray, region) -> list:
    vor = shapely.voronoi_polygons(MultiPoint([tuple(p) for p in pts]), extend_to=region)
    polys = list(vor.geoms)
    # voronoi_polygons returns cells in arbitrary order: match each to its point
    pnts = shapely.points(pts)
    out = [None] * len(pts)
    for poly in polys:
        hit = np.flatnonzero(shapely.contains(poly, pnts) | shapely.touches(poly, pnts))
        if len(hit):
            out[hit[0]] = shapely.set_precision(poly.intersection(region), 1e-9)
    return out


def _dissolve(counties, code_field, name_field, level, keep) -> gpd.GeoDataFrame:
    rows = []
    for code, g in counties.groupby(code_field, sort=True):
        geom = shapely.set_precision(shapely.union_all(g.geometry.values), 1e-9)
        rec = {"code": code, "name": g[name_field].iloc[0], "level": level, "n_counties": len(g)}
        rec.update({k: g[k].iloc[0] for k in keep})
        rec["geometry"] = geom
        rows.append(rec)
    return gpd.GeoDataFrame(rows, crs="EPSG:4326")


def write_admin(path, layers: dict[str, gpd.GeoDataFrame]) -> None:
    """All three levels as layers of one GeoPackage (written to a temporary name, then renamed)."""
    from irrmap.core.atomic import atomic_path, fixed_gpkg_timestamp

    with atomic_path(path) as tmp, fixed_gpkg_timestamp():
        for name in ("counties", "cities", "provinces"):
            layers[name].to_file(tmp, layer=name, driver="GPKG")
