"""`irrmap units`: inspect admin units and rasterize them to a zone grid."""

from __future__ import annotations

from irrmap.app.cli import add_group


def _unit_args(p) -> None:
    p.add_argument("units", nargs="+", help="polygon file(s): GeoPackage, GeoJSON, shapefile")
    p.add_argument("--code-field", required=True, help="field with the unit code")
    p.add_argument("--layer", default=None, help="layer of the polygons in a multi-layer file (GeoPackage)")
    p.add_argument("--encoding", default=None, help="text encoding of a shapefile's DBF, e.g. gbk for Chinese boundaries without "
                                                     "a .cpg file (default: the .cpg's, else UTF-8 or an error naming it)")
    p.add_argument("--hierarchy", default="cn-adcode", choices=["cn-adcode", "us-fips", "none"], help="how parent codes derive from codes")
    p.add_argument("--drop-invalid-codes", action="store_true", help="drop polygons whose code does not fit the hierarchy (default: error)")


def _read(args):
    from irrmap.core.units import AdminUnits

    return AdminUnits.read(args.units, args.code_field, hierarchy=args.hierarchy, layer=args.layer,
                           invalid_codes="drop" if args.drop_invalid_codes else "error", encoding=args.encoding)


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser("info", help="count units per level and their ellipsoidal areas")
    _unit_args(p)
    p.set_defaults(func=_info)
    p = cmds.add_parser("rasterize", help="rasterize units to an int32 zone GeoTIFF (0 = outside) plus a CSV lookup table",
                        description="Zone ids are 1..N in file order; OUT.csv maps them to codes. The grid comes from --like or from --bounds/--resolution/--crs.")
    _unit_args(p)
    p.add_argument("--out", required=True, help="output zone GeoTIFF")
    p.add_argument("--like", help="raster whose grid to use")
    p.add_argument("--bounds", nargs=4, type=float, metavar=("LEFT", "BOTTOM", "RIGHT", "TOP"))
    p.add_argument("--resolution", type=float)
    p.add_argument("--crs", default="EPSG:4326")
    p.add_argument("--chunk", type=int, default=2048, help="tile edge in pixels (memory ~ workers x chunk^2 x 4 bytes)")
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
    import pandas as pd

    from irrmap.core.atomic import atomic_path
    from irrmap.core.errors import InputError
    from irrmap.core.grid import Grid
    from irrmap.core.raster_write import write_raster
    from irrmap.core.units import ZONE_NODATA

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
    u = _read(args)
    zones = u.rasterize(grid, chunks=args.chunk)
    write_raster(args.out, zones, nodata=ZONE_NODATA, dtype="int32", descriptions=["zone"], tags={"units": u.source})
    with atomic_path(str(args.out).rsplit(".", 1)[0] + ".csv") as tmp:
        pd.DataFrame(u.zone_table()).to_csv(tmp, index=False)
    print(f"{len(u)} units -> {args.out} {grid!r}")
    return 0
