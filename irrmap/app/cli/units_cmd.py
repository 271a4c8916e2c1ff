"""`irrmap units`: inspect admin units and rasterize them to a zone grid."""

from __future__ import annotations

from irrmap.app.cli.value_types import CHUNK, FINITE, SIZE
import logging

from irrmap.app.cli import add_group
from irrmap.app.cli.units_options import add_unit_options, unit_read_args
from irrmap.core.share_text import percent_text

log = logging.getLogger(__name__)


def _unit_args(p) -> None:
    p.add_argument("units", nargs="+", help="polygon file(s): GeoPackage, GeoJSON, shapefile")
    p.add_argument("--code-field", required=True, help="field with the unit code")
    add_unit_options(p, code="--code-field", layer="--layer", encoding="--encoding")


def _read(args):
    from irrmap.core.units import AdminUnits

    return AdminUnits.read(args.units, args.code_field, hierarchy=args.hierarchy, layer=args.layer, name_field=getattr(args, "name_field", None),
                           encoding=args.encoding, **unit_read_args(args))


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser("info", help="count units per level and their ellipsoidal areas")
    _unit_args(p)
    p.set_defaults(func=_info)
    p = cmds.add_parser("rasterize", help="rasterize units to an int32 zone GeoTIFF (0 = outside) plus a CSV lookup table",
                        description="Zone ids are 1..N in file order; OUT.csv maps them to codes (the raster's tag zone_table_sha256 "
                                    "is the SHA-256 of that CSV, so a reader can tell that the two belong together). The grid comes "
                                    "from --like or from --bounds/--resolution/--crs.")
    _unit_args(p)
    p.add_argument("--name-field", default=None, help="field with the unit name, for the CSV's name column (default: the code)")
    p.add_argument("--out", required=True, help="output zone GeoTIFF")
    p.add_argument("--like", help="raster whose grid to use")
    p.add_argument("--bounds", nargs=4, type=FINITE, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"))
    p.add_argument("--resolution", type=SIZE)
    p.add_argument("--crs", default="EPSG:4326")
    p.add_argument("--chunk", type=CHUNK, default=2048, help="tile edge in pixels (memory ~ workers x chunk^2 x 4 bytes)")
    p.set_defaults(func=_rasterize)


def _info(args) -> int:
    u = _read(args)
    areas = u.geodesic_areas()
    print(f"{len(u)} units from {u.source}")
    for level in u.levels:
        print(f"  {level:10s} {u.level_codes(level).nunique():6d} codes")
    print(f"  total ellipsoidal area {areas.sum() / 1e6:,.1f} km2")
    return 0


def _rasterize(args) -> int:
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid

    if args.like:
        grid = Grid.from_raster(args.like)
    elif args.bounds and args.resolution:
        from irrmap.core.config import bounds_in_crs_units
        from irrmap.core.errors import GridError

        try:
            bounds_in_crs_units(args.bounds, args.crs)
        except ValueError as exc:
            raise GridError(str(exc).split(": give")[0], "--bounds", "give" + str(exc).split(": give", 1)[1]) from None
        grid = Grid.from_bounds(*args.bounds, args.resolution, args.crs)
    else:
        raise InputError("no grid given", "--like / --bounds", "pass --like RASTER, or --bounds and --resolution")
    from irrmap.core.coverage import warn_without_pixels
    from irrmap.core.zonal import zonal_area

    u = _read(args)
    warn_beyond_grid(u, grid)
    write_zones(args.out, u, grid, chunks=args.chunk)
    warn_without_pixels(u, grid, zonal_area(args.out, len(u))[1:], "units rasterize", "a smaller --resolution, or --like a finer raster")
    print(f"{len(u)} units -> {args.out} {grid!r}")
    return 0


def table_path(out):
    """The lookup CSV beside a zone raster: OUT with its suffix replaced by .csv (OUT.csv without a suffix)."""
    from pathlib import Path

    out = Path(out)
    return out.with_suffix(".csv") if out.suffix else out.with_name(out.name + ".csv")


def write_zones(out, units, grid, chunks: int = 2048) -> None:
    """Write the zone raster `out` and its lookup CSV (table_path) as one pair: both are written to temporaries
    first; then the old CSV is removed, the raster moved into place and the CSV last. Whenever both files exist
    they belong together: an interruption leaves the old pair, or a raster without CSV (a reader finds the table
    missing, never a stale one). The raster's tag zone_table_sha256 holds the SHA-256 of the CSV's bytes, so a
    reader can check a pair too."""
    import contextlib
    import hashlib
    import os
    from pathlib import Path

    from irrmap.core.atomic import partial_path, write_failure
    from irrmap.core.raster_write import write_raster
    from irrmap.core.relative_path import relative_to_folder
    from irrmap.core.units import ZONE_NODATA

    out, csv = Path(out), table_path(out)
    text = units.zone_table().to_csv(index=False).encode("utf-8")
    # the polygon files relative to OUT's folder (not the temporary's, the same folder): the same bytes in any folder
    tags = {"units": ";".join(relative_to_folder(s, out.parent) for s in units.source.split(";") if s), "zone_table": csv.name, "zone_table_sha256": hashlib.sha256(text).hexdigest()}
    tif_tmp, csv_tmp = partial_path(out), partial_path(csv)
    target = out  # the file being written, for the error message
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_raster(tif_tmp, units.rasterize(grid, chunks=chunks), nodata=ZONE_NODATA, dtype="int32", descriptions=["zone"], tags=tags)
        target = csv
        write_table(csv_tmp, text)
        with contextlib.suppress(FileNotFoundError):
            csv.unlink()  # from here until the last rename there is no CSV: missing, not stale
        target = out
        os.replace(tif_tmp, out)
        target = csv
        os.replace(csv_tmp, csv)
    except BaseException as exc:
        failure = write_failure(exc, target)
        for tmp in (tif_tmp, csv_tmp):
            with contextlib.suppress(OSError):
                tmp.unlink()
        if failure is not None and failure is not exc:
            raise failure from exc
        raise


def write_table(path, data: bytes) -> None:
    """Write the lookup CSV's bytes (the step between the raster and the CSV)."""
    from pathlib import Path

    Path(path).write_bytes(data)


def warn_beyond_grid(units, grid, limit: int = 10) -> None:
    """Warn when units reach beyond the grid: their zones hold only part of them (areas or statistics of the whole
    unit do not fit the zone). Names the units partly on the grid first, with the share of their area on it
    (irrmap.core.coverage.on_grid_areas), then counts the units wholly off it and names a few; only units not
    wholly inside the grid's bounds are measured."""
    import numpy as np

    from irrmap.core.coverage import FULL_SHARE, on_grid_areas
    from irrmap.core.units import AdminUnits

    b = units.polygons_on(grid).bounds
    left, bottom, right, top = grid.bounds
    inside = ((b["minx"] >= left) & (b["miny"] >= bottom) & (b["maxx"] <= right) & (b["maxy"] <= top)).to_numpy()
    idx = np.flatnonzero(~inside)
    if not idx.size:
        return
    part = AdminUnits(units.table.iloc[idx], units.levels, units.source, units.hierarchy, options=units.options)
    whole, on_grid, _ = on_grid_areas(part, grid)
    share = np.divide(on_grid, whole, out=np.zeros_like(on_grid), where=whole > 0)
    cut = np.flatnonzero((share < FULL_SHARE) & (on_grid > 0))
    off = np.flatnonzero(on_grid <= 0)
    if not cut.size and not off.size:
        return
    codes = part.codes.to_numpy()
    items = [f"{codes[i]} ({percent_text(share[i], sig=3)} of its {whole[i] / 1e6:,.1f} km2 on the grid)" for i in cut[:limit]]
    partly = (f"{cut.size} partly on it: " + "; ".join(items) + (f" and {cut.size - limit} more" if cut.size > limit else "")
              if cut.size else "none partly on it")
    wholly = (f"{off.size} wholly off it (no pixels: " + ", ".join(codes[off[:5]]) + (", ..." if off.size > 5 else "") + ")"
              if off.size else "none wholly off it")
    log.warning("units rasterize: %d of %d units reach beyond the grid, so their zones hold only part of them or nothing: %s; %s "
                "(fix: use a grid that covers them, e.g. wider --bounds or another --like raster, or leave these units out of "
                "area comparisons)", cut.size + off.size, len(units), partly, wholly)
