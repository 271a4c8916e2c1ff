"""The report's map figure of an irrigation class map: irrigated, cropland not irrigated and no cropland as
distinct classes, admin boundaries, a scale bar, axis labels and the legend outside the map. "No data" is in
the legend only when the map has missing pixels on cropland."""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

from irrmap.core import palettes
from irrmap.evaluation.report import _map_png, _plt, class_shares

# display classes: (state value, label, colour)
STATES = ((1, "irrigated", palettes.hex_colour(palettes.IRRIGATED)), (0, "cropland, not irrigated", palettes.hex_colour(palettes.NOT_IRRIGATED)),
          (2, "no cropland", "#d9d9d9"), (3, "no data", "#ff00ff"))


def class_states(cls: xr.DataArray, cropland: xr.DataArray | None, threshold: float = 0.5) -> xr.DataArray:
    """Display state per pixel: 1 irrigated (value > threshold), 0 cropland not irrigated, 2 no cropland
    (cropland <= 0 or missing, or, without `cropland`, the map's nodata), 3 no data (map missing on cropland).
    `cls`: the class map with nodata as NaN (evaluation.workflow.read_map); `cropland`: fraction 0..1 on its grid."""
    valid = cls.notnull()
    crop = (cropland.fillna(0) > 0) if cropland is not None else valid
    state = xr.where(valid & crop, (cls > threshold).astype("float64"), xr.where(crop, 3.0, 2.0))
    return state.assign_attrs(nodata=None)


def nice_length(span_km: float) -> float:
    """The largest of 1, 2, 5 x 10^k km not above a fifth of `span_km`."""
    target = span_km / 5
    k = 10 ** math.floor(math.log10(target))
    return max(m * k for m in (1, 2, 5) if m * k <= target)


def _km_per_x_unit(crs, lat: float) -> float:
    """Kilometres per CRS x unit at latitude `lat` (degrees on a sphere of 6371 km; metres otherwise)."""
    if crs is not None and crs.is_geographic:
        return math.pi / 180 * 6371.0 * math.cos(math.radians(lat))
    return 1e-3 * (crs.linear_units_factor[1] if crs is not None else 1.0)


def map_figure_png(cls: xr.DataArray, *, title: str, cropland: xr.DataArray | None = None, boundaries=None,
                   threshold: float = 0.5, max_pixels: int = 900) -> bytes:
    """PNG of the class map `cls` (y, x; nodata NaN) with the classes of `class_states` (majority per display
    block), `boundaries` (GeoDataFrames drawn thin to thick, e.g. counties then provinces, reprojected to the
    map's CRS), a scale bar and the legend to the right of the map."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    state = class_states(cls, cropland, threshold)
    shares = np.nan_to_num(class_shares(state, [v for v, _, _ in STATES], max_pixels), nan=0.0)
    shown = np.where(shares.max(axis=0) > 0, shares.argmax(axis=0), np.nan)
    crs = cls.rio.crs
    left, bottom, right, top = cls.rio.bounds()
    h, w = shown.shape
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.6, max(3.0, min(9.0, 5.4 * h / max(w, 1))) + 0.8), dpi=110)
    ax.imshow(shown, cmap=ListedColormap([c for _, _, c in STATES]), vmin=-0.5, vmax=len(STATES) - 0.5, interpolation="nearest",
              extent=(left, right, bottom, top))
    for i, b in enumerate(boundaries or []):
        b.to_crs(crs).boundary.plot(ax=ax, color="#333333", linewidth=0.5 + 0.7 * i)
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)
    geographic = crs is not None and crs.is_geographic
    ax.set_xlabel("longitude (degrees east)" if geographic else "x (m)", fontsize=8)
    ax.set_ylabel("latitude (degrees north)" if geographic else "y (m)", fontsize=8)
    km_per_unit = _km_per_x_unit(crs, (bottom + top) / 2)
    length = nice_length((right - left) * km_per_unit)
    x0, y0 = left + 0.05 * (right - left), bottom + 0.06 * (top - bottom)
    ax.plot([x0, x0 + length / km_per_unit], [y0, y0], color="black", linewidth=3, solid_capstyle="butt")
    ax.text(x0 + length / km_per_unit / 2, y0 + 0.02 * (top - bottom), f"{length:g} km", ha="center", va="bottom", fontsize=8,
            bbox={"facecolor": "white", "alpha": 0.7, "edgecolor": "none", "pad": 1})
    present = [i for i in range(len(STATES)) if (shown == i).any()]
    handles = [Patch(facecolor=STATES[i][2], edgecolor="#777777", label=STATES[i][1]) for i in present]
    if boundaries:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="#333333", linewidth=0.8, label="admin boundaries"))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)
    return _map_png(fig, ax, title)


__all__ = ["STATES", "class_states", "map_figure_png", "nice_length"]
