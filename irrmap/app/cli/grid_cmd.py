"""`irrmap grid`: describe a raster's grid and its true pixel areas."""

from __future__ import annotations

import json

from irrmap.app.cli import add_group


def register(sub, name: str, help_: str) -> None:
    cmds = add_group(sub, name, help_)
    p = cmds.add_parser("info", help="CRS, transform, shape, pixel areas (m2) and total area of a raster's grid")
    p.add_argument("raster")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_info)


def _info(args) -> int:
    from irrmap.core.grid import Grid

    g = Grid.from_raster(args.raster)
    lo, hi = float("inf"), 0.0
    for t in g.tiles(1024):
        a = g.pixel_area(t.window)
        lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    info = g.to_dict() | {
        "bounds": list(g.bounds),
        "geographic": g.is_geographic,
        "equal_area": g.equal_area,
        "pixel_area_m2_min": lo,
        "pixel_area_m2_max": hi,
        "total_area_m2": g.total_area(),
    }
    if args.json:
        print(json.dumps(info))
    else:
        for k, v in info.items():
            print(f"{k:20s} {v}")
    return 0
