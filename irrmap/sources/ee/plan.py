"""What a [sources.ee] fetch will request, before any request is made: per dataset output its tiles and bytes.

Each output of each catalogue dataset (irrmap.sources.ee.catalog.EEDataset.outputs) becomes one aligned raster
OUTPUT_DIR/NAME.tif on the run's Grid, the name and place the file source ([inputs.NAME]) writes, so later stages
read it unchanged. It is requested tile by tile (irrmap.sources.ee.tiles); tiles whose inside the region does not
overlap (sharing an edge or a corner is no overlap: irrmap.sources.ee.tiles.region_mask) are not requested and stay
nodata. A plan above [sources.ee].max_requests is refused before its tiles are made (check_size). `key` identifies everything a tile's bytes depend on (dataset entry, output,
dates, grid, tiling, region): finished tiles are kept under it, and a fetched raster carries it as a tag, so a
changed config never reuses stale tiles or files.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from irrmap.core.errors import ConfigError
from irrmap.core.grid import Grid
from irrmap.sources.ee.tiles import Tile, plan_tiles, region_mask, tile_side

# Earth Engine's default per-project quotas ("Earth Engine quotas", developers.google.com/earth-engine/guides/usage:
# "Max rate of requests (per project) 100 requests/s", "Max concurrent requests 40"): no fetch runs faster than
# EE_RATE requests a second, whatever [sources.ee].workers says. A plan of more than [sources.ee].max_requests
# requests is refused before any tile is made (the limit is the user's; its default, 100,000, is at least 17 min of
# requests at that quota and, at a few seconds a computePixels call on 40 concurrent slots, hours in practice); a
# plan of more than a tenth of it is warned about in the listing.
EE_RATE = 100
EE_CONCURRENT = 40
QUOTA_DOC = "Earth Engine's default per-project quotas (100 requests/s, 40 concurrent requests)"

FORMAT = 1  # layout of the tile folders and keys; bump when it changes
KEY_TAG = "irrmap_ee_key"


@dataclass(frozen=True)
class OutputPlan:
    """One output raster: its dataset (an EEDataset), name, final `path`, the tiles of the layout and the `wanted`
    ones (inside the region), and `key` (module docstring)."""

    dataset: object
    name: str
    path: Path
    tiles: tuple[Tile, ...]
    wanted: tuple[Tile, ...]
    key: str

    @property
    def bytes_per_pixel(self) -> int:
        return np.dtype(self.dataset.dtype).itemsize

    @property
    def request_bytes(self) -> int:
        """Uncompressed bytes of the wanted tiles, counted as Earth Engine counts its request limit."""
        return sum(t.pixels for t in self.wanted) * self.bytes_per_pixel

    @property
    def tile_dir(self) -> Path:
        """Where finished tiles are kept until the raster is assembled."""
        return self.path.parent / ".ee-tiles" / f"{self.name}-{self.key[:16]}"

    def tile_path(self, tile: Tile) -> Path:
        return self.tile_dir / f"{tile.name}.tif"


@dataclass(frozen=True)
class FetchPlan:
    """Every output of a fetch on `grid`, images dated `start` (inclusive) to `end` (exclusive)."""

    grid: Grid
    start: str
    end: str
    folder: Path
    outputs: tuple[OutputPlan, ...]
    region: str  # how the region was given, for messages
    max_requests: int | None = None  # [sources.ee].max_requests, for the listing's warning


def date_range(sec, season_start=None) -> tuple[str, str]:
    """(start, end) of [sources.ee] (end exclusive, as ee filterDate): `year` as the season of that name
    (irrmap.core.season.season_bounds; `season_start` (month, day) or "MM-DD" from [features].season_start, default the
    calendar year YEAR-01-01 .. YEAR+1-01-01; with "09-01", year 2014 is 2013-09-01 .. 2014-09-01), or start/end as
    given. So the images fetched for `year` are the ones the features stage keeps for that year: before, a Sep-Aug
    season fetched the calendar year and the features stage then refused or mixed half of two seasons."""
    if sec.year is not None:
        from irrmap.core.season import CALENDAR, parse_season_start, season_bounds

        start = parse_season_start(season_start) if isinstance(season_start, str) else (season_start or CALENDAR)
        first, end = season_bounds(sec.year, tuple(start))
        return first.isoformat(), end.isoformat()
    return sec.start, sec.end


def resolve_datasets(sec) -> list:
    """The EEDatasets named by [sources.ee].datasets: `catalog` entries of the config first, then the built-in
    catalogue; ConfigError listing the known names for an unknown one."""
    from irrmap.sources.ee.catalog import CATALOG, dataset_from_config

    own = {name: dataset_from_config(name, entry) for name, entry in sec.catalog.items()}
    unknown = [n for n in sec.datasets if n not in own and n not in CATALOG]
    if unknown:
        raise ConfigError(f"unknown dataset(s) {unknown}", "[sources.ee].datasets",
                          f"use catalogue names ({', '.join(sorted(CATALOG))}) or add an entry under [sources.ee.catalog.NAME]")
    return [own.get(n) or CATALOG[n] for n in sec.datasets]


def output_folder(loaded) -> Path:
    """[sources.ee].output_dir resolved, default OUTPUT_DIR/aligned (where [inputs] rasters are written)."""
    sec = loaded.config.sources.ee
    return loaded.resolve(sec.output_dir) if sec.output_dir is not None else loaded.output_dir / "aligned"


def output_paths(loaded, datasets) -> dict[str, Path]:
    """Output name -> fetched raster path; ConfigError when two datasets, or a dataset and an [inputs] raster,
    give the same name."""
    folder, out = output_folder(loaded), {}
    for ds in datasets:
        for name in ds.outputs:
            if name in out or name in loaded.config.inputs:
                other = f"[inputs.{name}]" if name in loaded.config.inputs else "another dataset"
                raise ConfigError(f"output {name!r} of dataset {ds.name!r} is also produced by {other}", "[sources.ee].datasets",
                                  "fetch each raster once: drop one of them")
            out[name] = folder / f"{name}.tif"
    return out


def region_geometry(sec, resolve, grid: Grid):
    """[sources.ee].region as one shapely geometry in the grid's CRS (None: the whole grid). Bounds are degrees
    (EPSG:4326), densified before reprojection; a polygon file is read with its own CRS."""
    import geopandas as gpd
    from shapely.geometry import box

    from irrmap.core.vectors import read_vector

    if sec.region is None:
        return None
    if isinstance(sec.region, tuple):
        shapes = gpd.GeoSeries([box(*sec.region).segmentize(0.05)], crs="EPSG:4326")
    else:
        path = resolve(sec.region)
        frame = read_vector(path, sec.region_layer, what="region polygons", layer_key="[sources.ee].region_layer")
        if frame.crs is None:
            raise ConfigError("the region file has no CRS", f"[sources.ee].region = {path}", "assign one (ogr2ogr -a_srs EPSG:4326)")
        shapes = frame.geometry
    geom = shapes.to_crs(grid.crs).union_all()
    if geom.is_empty or not geom.relate_pattern(box(*grid.bounds), "T********"):  # an edge or corner shared is no overlap
        raise ConfigError(f"the region misses the grid {tuple(round(v, 6) for v in grid.bounds)}", "[sources.ee].region",
                          "give a region inside [grid] (bounds in degrees: [west, south, east, north])")
    return geom


def request_key(ds, name: str, start: str, end: str, grid: Grid, side: int, region) -> str:
    """SHA-256 of everything an output's tiles depend on (module docstring)."""
    entry = dataclasses.asdict(ds)
    for key in ("fill_values", "valid_range"):  # added later: left out at their defaults, so earlier keys stay valid
        if entry.get(key) in ((), None):
            entry.pop(key, None)
    ident = {"format": FORMAT, "dataset": entry, "output": name, "start": start, "end": end,
             "grid": grid.to_dict(), "side": side, "region": None if region is None else region.wkb_hex}
    return hashlib.sha256(json.dumps(ident, sort_keys=True, default=str).encode()).hexdigest()


def plan_fetch(sec, grid: Grid, paths: dict[str, Path], datasets, region=None, season_start=None) -> FetchPlan:
    """The fetch plan of [sources.ee] section `sec` on `grid`: `paths` from output_paths, `region` from region_geometry,
    `season_start` the [features].season_start that `year` names a season of (date_range)."""
    from irrmap.core.progress import progress_bar
    from irrmap.sources.ee.dates import check_dates

    start, end = date_range(sec, season_start)
    # offline, before any tile is planned: a range after today or outside a collection's images is refused (every
    # problem at once), a partly covered one warned about (irrmap.sources.ee.dates)
    check_dates(datasets, start, end)
    sides = [tile_side(np.dtype(ds.dtype).itemsize, max_bytes=sec.max_request_bytes, max_side=sec.tile_size) for ds in datasets]
    masks = {side: region_mask(grid, side, region) for side in sorted(set(sides))}  # vectorised: fast on any grid
    check_size(sec, grid, [(ds, side, masks[side]) for ds, side in zip(datasets, sides)])
    outputs, layouts = [], {}
    with progress_bar(total=sum(masks[s].size for s in sides), desc="planning tiles", unit="tile") as bar:
        for ds, side in zip(datasets, sides):
            if side not in layouts:
                tiles = tuple(plan_tiles(grid, side))
                layouts[side] = (tiles, tuple(t for t, keep in zip(tiles, masks[side]) if keep))
            tiles, wanted = layouts[side]
            for name in ds.outputs:
                outputs.append(OutputPlan(ds, name, paths[name], tiles, wanted, request_key(ds, name, start, end, grid, side, region)))
            bar.update(len(tiles))
    folder = next(iter(paths.values())).parent if paths else Path(".")
    shown = "whole grid" if sec.region is None else (f"bounds {list(sec.region)} (degrees)" if isinstance(sec.region, tuple) else str(sec.region))
    return FetchPlan(grid, start, end, folder, tuple(outputs), shown, getattr(sec, "max_requests", None))


def plan_from_config(loaded, grid: Grid) -> FetchPlan:
    """The fetch plan of a loaded config's [sources.ee] section (ConfigError when it has none)."""
    if loaded.config.sources is None or loaded.config.sources.ee is None:
        raise ConfigError("the config has no [sources.ee] section", str(loaded.path),
                          "add one (README: From an Earth Engine account to a finished map)")
    sec = loaded.config.sources.ee
    datasets = resolve_datasets(sec)
    season_start = (loaded.config.features or {}).get("season_start")  # `year` names the same season as the features'
    return plan_fetch(sec, grid, output_paths(loaded, datasets), datasets, region_geometry(sec, loaded.resolve, grid),
                      season_start=season_start)


def is_done(out: OutputPlan) -> bool:
    """Whether the output raster exists and was fetched with this plan's key."""
    import rasterio

    if not out.path.is_file():
        return False
    try:
        with rasterio.open(out.path) as src:
            return src.tags().get(KEY_TAG) == out.key
    except rasterio.errors.RasterioIOError:
        return False


def _size(n: float) -> str:
    """Bytes in decimal units (as Earth Engine's "48MB"): 999.0 kB, 53.8 MB, 4.2 GB, 22.6 TB."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 999.95 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    return ""  # not reached


def _duration(seconds: float) -> str:
    """'45 s', '17 min', '3 h 45 min', '2 d 4 h'."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def _coarser(grid: Grid, layouts, limit: int) -> str:
    """The finest pixel size, at 2 significant digits, whose plan stays within `limit` requests: the grid's extent
    cut at that size, each dataset's tiles counted as plan_tiles cuts them, times the share of them now wanted."""
    import math

    res = abs(grid.res[0])
    requests = sum(int(mask.sum()) * len(ds.outputs) for ds, side, mask in layouts)
    need = res * math.sqrt(requests / limit)  # requests fall with the square of the pixel size
    step = 10 ** (math.floor(math.log10(need)) - 1)
    cand = math.ceil(need / step - 1e-9) * step
    for _ in range(1000):
        w, h = math.ceil(grid.width * res / cand), math.ceil(grid.height * res / cand)
        n = sum(math.ceil(-(-h // side) * -(-w // side) * mask.mean()) * len(ds.outputs) for ds, side, mask in layouts)
        if n <= limit:
            break
        cand += step
    return f"{cand:.6g}"


def check_size(sec, grid: Grid, layouts) -> None:
    """ConfigError before any tile is made when the plan's requests exceed [sources.ee].max_requests: it names the
    requests, their uncompressed size, the least time Earth Engine's per-project request-rate quota allows, and
    the fixes (the resolution that would fit, a smaller region, fewer datasets, or a higher max_requests).
    `layouts`: (dataset, tile side, wanted-tile mask) per dataset."""
    limit = getattr(sec, "max_requests", None)
    requests = sum(int(mask.sum()) * len(ds.outputs) for ds, side, mask in layouts)
    if limit is None or requests <= limit:
        return
    size = sum(_mask_bytes(grid, side, mask) * np.dtype(ds.dtype).itemsize * len(ds.outputs) for ds, side, mask in layouts)
    names = ", ".join(ds.name for ds, _, _ in layouts)
    raise ConfigError(
        f"the fetch needs {requests:,} requests ({_size(size)} uncompressed) on a {grid.width:,} x {grid.height:,} px grid, above "
        f"max_requests = {limit:,}: at {QUOTA_DOC}, that is at least {_duration(requests / EE_RATE)} of requests alone",
        "[sources.ee]",
        f"use a coarser [grid].resolution (about {_coarser(grid, layouts, limit)} instead of {abs(grid.res[0]):g} fits), "
        f"a smaller [sources.ee].region, fewer [sources.ee].datasets (now {names}), or raise [sources.ee].max_requests")


def _mask_bytes(grid: Grid, side: int, mask) -> int:
    """Pixels of the tiles of plan_tiles(grid, side) selected by `mask` (row-major), without making the tiles."""
    from irrmap.sources.ee.tiles import tile_cuts

    h, w = np.diff(tile_cuts(grid.height, side)), np.diff(tile_cuts(grid.width, side))
    return int((np.outer(h, w).ravel() * mask).sum())


def _kept_names(out: OutputPlan) -> set[str]:
    """Names of the files in the output's tile folder (one directory listing, not one stat per tile)."""
    import os

    try:
        return set(os.listdir(out.tile_dir))
    except OSError:
        return set()


def plan_text(plan: FetchPlan) -> str:
    """The dry-run listing: per output its dataset, tile layout, requests, uncompressed bytes and state; a total."""
    g = plan.grid
    dw = max([7, *(len(o.dataset.name) for o in plan.outputs)])
    ow = max([6, *(len(o.name) for o in plan.outputs)])
    lines = [f"Earth Engine fetch plan: images {plan.start} .. {plan.end} (end excluded), grid {g.width} x {g.height} px "
             f"({g.crs.to_string()}, {g.res[0]:g} x {g.res[1]:g}), region: {plan.region}",
             f"outputs in {plan.folder}",
             f"{'dataset':<{dw}} {'output':<{ow}} {'dtype':<8} {'tiles (layout, largest)':<30} {'requests':>8} {'bytes':>12}  state"]
    total_req = total_bytes = todo_req = todo_bytes = 0
    for out in plan.outputs:
        rows, cols = out.tiles[-1].row + 1, out.tiles[-1].col + 1
        big = max(out.tiles, key=lambda t: t.pixels).window
        names = _kept_names(out)
        kept = sum(f"{t.name}.tif" in names for t in out.wanted)
        done = is_done(out)
        state = "done" if done else (f"{kept} of {len(out.wanted)} tiles kept" if kept else "to fetch")
        layout = f"{len(out.tiles)} ({rows} x {cols}, {int(big.width)} x {int(big.height)} px)"
        lines.append(f"{out.dataset.name:<{dw}} {out.name:<{ow}} {out.dataset.dtype:<8} {layout:<30} {len(out.wanted):>8} "
                     f"{_size(out.request_bytes):>12}  {state}")
        total_req += len(out.wanted)
        total_bytes += out.request_bytes
        if not done:
            left = [t for t in out.wanted if f"{t.name}.tif" not in names]
            todo_req += len(left)
            todo_bytes += sum(t.pixels for t in left) * out.bytes_per_pixel
    lines.append(f"total: {total_req} requests, {_size(total_bytes)} uncompressed; still to fetch: {todo_req} requests, {_size(todo_bytes)}")
    limit = getattr(plan, "max_requests", None)
    if limit and todo_req > limit / 10:
        lines.append(f"warning: {todo_req:,} requests are more than a tenth of max_requests = {limit:,}: at {QUOTA_DOC}, at least "
                     f"{_duration(todo_req / EE_RATE)} of requests (fewer with a coarser [grid].resolution, a smaller region or fewer datasets)")
    return "\n".join(lines)
