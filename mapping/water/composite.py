"""Epoch composite: every scene and sensor of an epoch (per-scene water maps on one grid) combined into
clear-observation and water counts, the water frequency, a detection mask and an extent mask, and permanent
versus seasonal water.

Definitions and defaults (every one a parameter):
- clear observation: a scene whose map is 0 or 1 at the pixel (255 unknown does not count);
- frequency = water count / clear count (NaN where no scene is clear);
- detection and extent (DEA Waterbodies, Geoscience Australia, github.com/GeoscienceAustralia/dea-waterbodies,
  dea_waterbodies/make_polygons.py: minimum_wet_percentage_detection 0.1, minimum_wet_percentage_extent 0.05,
  both applied as `frequency > threshold`, strictly): a pixel is a *detection* pixel where frequency >
  `detection` and an *extent* pixel where frequency > `extent` (extent <= detection, so every detection pixel
  is an extent pixel). The body step (`irrmap.mapping.water.bodies`) labels the connected components of the
  extent mask (`water`) and keeps the components holding at least one detection pixel: detection decides
  *whether* a body exists, extent decides *its outline* -- DEA's "hybrid threshold", which keeps the outline
  of wet-only-sometimes margins of bodies that are wet often enough to be real;
- permanent and seasonal (JRC Global Surface Water, Pekel et al. 2016, Nature 540:418-422, yearly
  classification: permanent = water in every valid observation of the period, seasonal = water in some and
  not water in others): among extent pixels, permanent where frequency >= `permanent` (default 1.0, the JRC
  definition; lower it to forgive occasional misclassification), seasonal otherwise;
- unknown (255 in every class layer) where the clear count < `min_clear`. DEA Waterbodies requires 128 clear
  observations, but over a 30-year archive of some 1,000 Landsat passes per pixel; an epoch here is a handful of
  scenes (each Flathead epoch is one scene), so the default is 1: a pixel seen clear once has an observed
  state, and any larger value would make every pixel clouded in one of the few scenes unknown. It must not
  exceed the number of scenes (then every pixel would be unknown: ConfigError).

All outputs are elementwise over the scene maps, so dask-backed maps are combined window by window.
"""

from __future__ import annotations

from typing import Sequence

import dask.array as da
import numpy as np
import xarray as xr

from irrmap.core.errors import ConfigError, DataError, GridError
from irrmap.mapping.water.classify import NOT_WATER, UNKNOWN, WATER

#: persistence layer codes
PERMANENT, SEASONAL = 1, 2


def _checked(block: np.ndarray) -> np.ndarray:
    bad = ~np.isin(block, (NOT_WATER, WATER, UNKNOWN))
    if bad.any():
        raise DataError(f"a scene water map holds value {block[bad][0]}, not 1 water / 0 not water / 255 unknown",
                        "epoch_composite", "pass the maps of classify_scene (DSWE classes must be reduced to water first)")
    return block


def _validated(masks: Sequence[xr.DataArray]) -> list[xr.DataArray]:
    if not masks:
        raise ConfigError("no scene water map given", "epoch_composite", "pass at least one map from classify_scene")
    try:
        masks = xr.align(*masks, join="exact")
    except ValueError as exc:
        raise GridError(f"the scene water maps are not on one grid ({exc})", "epoch_composite",
                        "read every scene of the epoch onto one grid (read_scene(..., grid=...))") from exc
    if len({m.shape for m in masks}) > 1:
        raise GridError(f"the scene water maps differ in shape: {sorted({m.shape for m in masks})}", "epoch_composite",
                        "read every scene of the epoch onto one grid (read_scene(..., grid=...))")
    out = []
    for m in masks:
        data = m.data
        data = da.map_blocks(_checked, data, dtype=data.dtype) if isinstance(data, da.Array) else _checked(np.asarray(data))
        out.append(m.copy(data=data))
    return out


#: how the thresholds are named in errors by default (the function's keywords); the CLI passes its option names
PARAMETER_NAMES = {"detection": "detection", "extent": "extent", "permanent": "permanent", "min_clear": "min_clear"}


def check_thresholds(*, detection: float, extent: float, permanent: float, min_clear: int, n_scenes: int | None,
                     names: dict | None = None) -> None:
    """ConfigError, located at the parameter's name in `names` (default PARAMETER_NAMES; e.g. the CLI's
    --detection), for thresholds outside 0 <= extent <= detection < 1 (NaN included), permanent outside (0, 1],
    or min_clear outside 1..n_scenes (only its lower bound when n_scenes is None)."""
    n = PARAMETER_NAMES | dict(names or {})
    if not 0 <= extent <= detection < 1:
        bad = [k for k, v in (("detection", detection), ("extent", extent)) if not 0 <= v < 1] or ["extent", "detection"]
        raise ConfigError(f"{n['detection']} {detection} and {n['extent']} {extent} must satisfy 0 <= extent <= detection < 1",
                          " / ".join(n[k] for k in bad), "the extent threshold outlines bodies found at the (higher) detection threshold")
    if not 0 < permanent <= 1:
        raise ConfigError(f"{n['permanent']} {permanent} is not a frequency in (0, 1]", n["permanent"],
                          "use 1.0 (water in every clear observation, JRC) or a slightly lower share")
    if min_clear < 1 or (n_scenes is not None and min_clear > n_scenes):
        top = "" if n_scenes is None else f" and the number of scenes ({n_scenes})"
        fix = (f"raise {n['min_clear']} to 1 or more (clear observations a pixel needs)" if min_clear < 1 else
               f"lower {n['min_clear']} to at most {n_scenes} or add scenes to the epoch")
        raise ConfigError(f"{n['min_clear']} {min_clear} must be between 1{top}", n["min_clear"], fix)


def epoch_composite(masks: Sequence[xr.DataArray], *, detection: float = 0.10, extent: float = 0.05,
                    permanent: float = 1.0, min_clear: int = 1, names: dict | None = None) -> xr.Dataset:
    """Combine the per-scene water maps of one epoch (uint8 DataArrays on one grid, 1 water / 0 not water /
    255 unknown, e.g. from `classify_scene`; any sensors) into a Dataset on that grid:

    - `clear_count` (uint16): scenes with a clear observation; `water_count` (uint16): scenes calling water;
    - `frequency` (float32): water_count / clear_count, NaN where clear_count is 0;
    - `water` (uint8): the extent mask, 1 where frequency > `extent`, 0 elsewhere, 255 where clear_count <
      `min_clear` -- the layer the body step labels and `irrmap water mask` writes;
    - `detection` (uint8): 1 where frequency > `detection`, same 0 / 255 rules -- the body step keeps the
      components of `water` that hold at least one detection pixel;
    - `persistence` (uint8): PERMANENT (1) where water and frequency >= `permanent`, SEASONAL (2) where water
      otherwise, 0 not water, 255 unknown.

    Defaults and their sources are in the module docstring (DEA Waterbodies detection 0.10 and extent 0.05;
    JRC permanent = water in all clear observations; min_clear 1 for an epoch of a few scenes). attrs record
    the parameters and the scene count.

    Raises ConfigError (`check_thresholds`, located at the names in `names`) for thresholds outside 0 <= extent
    <= detection < 1, permanent outside (0, 1], or min_clear outside 1..len(masks); GridError when the maps are not on one grid; DataError (at compute time
    for dask input) when a map holds another value than 0, 1 and 255.
    """
    check_thresholds(detection=detection, extent=extent, permanent=permanent, min_clear=min_clear, n_scenes=None, names=names)
    masks = _validated(masks)
    check_thresholds(detection=detection, extent=extent, permanent=permanent, min_clear=min_clear, n_scenes=len(masks), names=names)

    clear = sum((m != UNKNOWN).astype(np.uint16) for m in masks).astype(np.uint16)
    wet = sum((m == WATER).astype(np.uint16) for m in masks).astype(np.uint16)
    frequency = wet.astype(np.float64) / clear.where(clear > 0)   # float64: exact ratios compare exactly
    unknown = clear < min_clear

    def coded(mask: xr.DataArray, value) -> xr.DataArray:
        """value where mask, 0 elsewhere, UNKNOWN where unknown (DataArray.where keeps the georeferencing)."""
        return (mask.astype(np.uint8) * value).where(~unknown, np.uint8(UNKNOWN)).astype(np.uint8)

    extent_mask = frequency > extent
    level = xr.full_like(clear, SEASONAL, dtype=np.uint8).where(frequency < permanent, np.uint8(PERMANENT))
    out = xr.Dataset({
        "clear_count": clear,
        "water_count": wet,
        "frequency": frequency.astype(np.float32),
        "water": coded(extent_mask, np.uint8(WATER)),
        "detection": coded(frequency > detection, np.uint8(WATER)),
        "persistence": coded(extent_mask, level),
    })
    out.attrs = {"n_scenes": len(masks), "detection": detection, "extent": extent, "permanent": permanent,
                 "min_clear": min_clear,
                 "rule": "water/detection: frequency > threshold (DEA Waterbodies); permanent: frequency >= permanent"}
    return out
