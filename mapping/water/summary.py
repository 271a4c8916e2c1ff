"""What one epoch's water layer says, in true areas: how much of the grid was seen clear, how much of that is
water, how much stayed unknown, and its largest bodies with the unknown area along their shores (reported,
not guessed: a body next to a cloud may be larger than mapped)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from irrmap.core.errors import InputError
from irrmap.core.progress import progress_bar
from irrmap.mapping.water.classify import NOT_WATER, WATER
from irrmap.mapping.water import fixed_sum
from irrmap.mapping.water.windows import Layer, pixel_areas


def epoch_summary(mask, bodies: pd.DataFrame | None = None, *, top: int = 5, tile: int = 2048) -> dict:
    """Areas of a water mask (1 water, 0 not water, anything else unknown; a raster path, e.g. water.tif, or a
    georeferenced DataArray such as mask_layers(...)["water"]), summed window by window with the grid's true
    pixel areas (irrmap.core.grid.Grid.pixel_area, ellipsoidal m2), and the `top` largest bodies of a body
    table (irrmap.mapping.water.bodies.body_table) when given.

    Keys: area_km2 (the whole grid), clear_km2 (water or not water), clear_share (of the grid), water_km2,
    water_share_of_clear, unknown_km2, unknown_share; with bodies: n_bodies, bodies_km2 and `largest`, a list of
    {body_id, area_km2, size_class, unknown_km2 (unknown area touching the body), centroid_lon, centroid_lat}.
    Reports progress by window (irrmap.core.progress). Raises InputError for a mask without a grid."""
    lay = Layer(mask, None, "water mask")
    if lay.grid is None:
        raise InputError("the water mask has no grid", "mask", "pass a georeferenced raster or DataArray")
    # unknown summed, not total - clear (no rounding residue); fixed point (irrmap.mapping.water.fixed_sum) and window-independent
    # pixel areas (windows.pixel_areas), so the sums are the same whatever `tile`
    parts = {k: np.zeros(2, np.int64) for k in ("total", "water", "land", "unknown")}
    n_tiles = -(-lay.grid.height // tile) * -(-lay.grid.width // tile)
    with progress_bar(total=n_tiles, desc="water areas", unit="tile") as bar:
        for t in lay.grid.tiles(tile):
            v, a = lay.read(t.window), pixel_areas(lay.grid, t.window)
            w, f = fixed_sum.split(np.broadcast_to(a, v.shape))
            for key, sel in (("total", np.ones(v.shape, bool)), ("water", v == WATER), ("land", v == NOT_WATER),
                             ("unknown", (v != WATER) & (v != NOT_WATER))):
                parts[key] += (int(w[sel].sum()), int(f[sel].sum()))
            bar.update(1)
    area = {k: float(fixed_sum.join(p[0], p[1])) for k, p in parts.items()}
    clear, unknown = area["water"] + area["land"], area["unknown"]
    out = {"area_km2": area["total"] / 1e6, "clear_km2": clear / 1e6, "clear_share": clear / area["total"],
           "water_km2": area["water"] / 1e6, "water_share_of_clear": area["water"] / clear if clear > 0 else None,
           "unknown_km2": unknown / 1e6, "unknown_share": unknown / area["total"]}
    if bodies is not None:
        big = bodies.sort_values(["area_m2", "body_id"], ascending=[False, True]).head(top)
        out.update({"n_bodies": int(len(bodies)), "bodies_km2": float(bodies["area_m2"].sum()) / 1e6,
                    "largest": [{"body_id": int(r.body_id), "area_km2": float(r.area_km2), "size_class": str(r.size_class),
                                 "unknown_km2": float(r.unknown_m2) / 1e6, "centroid_lon": float(r.centroid_lon),
                                 "centroid_lat": float(r.centroid_lat)} for r in big.itertuples()]})
    return out
