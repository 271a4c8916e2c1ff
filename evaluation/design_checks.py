"""Checks of a sampling design against the map the points evaluate, when the strata are the map's classes.

A stratified sample by map class (Olofsson et al. 2014, Remote Sens. Environ. 148:42-57) has one stratum per
map class, and the size N_h of stratum h is the pixel count of that class in the map (the sampling frame), or of
the part of it the points were drawn from. Two input mistakes then contradict the map and scale every
design-based estimate: stratum sizes given to the wrong strata (swapped), and inclusion probabilities given in
percent (x 100), whose Horvitz-Thompson size estimate sum(1/pi) is then 1/100 of the class's pixels.

The strata are taken to be the map classes when every used point of a stratum lies on one map class, distinct
strata lie on distinct classes and each stratum holds at least MIN_POINTS points (`map_class_strata`); strata of
another kind (climate zones, provinces) are not checked.
"""

from __future__ import annotations

import logging
import math

import pandas as pd
from irrmap.evaluation.design import SampleDesign, stratum_text

from irrmap.core.errors import DataError

log = logging.getLogger(__name__)

#: a given stratum size may exceed its class's pixels in the map by this share (a frame's edge pixels, rounding)
SIZE_TOLERANCE = 0.05
#: sum(1/pi) of a stratum off its class's pixels by more than this factor is warned about (a Poisson sample's
#: size estimate varies, with SE about sqrt(N_h / pi) for n_h points; a factor 2 is far beyond that for n_h >= 10)
HT_WARN_FACTOR = 2.0
#: a frame pixel area within 1 % of the map's mean true pixel area is the map's own pixel (a projected 30 m pixel's
#: nominal 0.09 ha differs from its ellipsoidal area by the projection's area scale, within 0.1 % inside a UTM zone)
SAME_PIXEL_TOLERANCE = 0.01
#: strata with fewer used points are not taken to be map classes (a few points can lie on one class by chance)
MIN_POINTS = 2


def map_class_strata(samples: pd.DataFrame, design: SampleDesign) -> dict[str, int] | None:
    """{stratum (text): map class} when the strata are the map classes (module docstring), else None.
    `samples`: the used points, columns map (0/1) and the stratum field."""
    strata = stratum_text(samples[design.stratum_field])
    classes = samples["map"].groupby(strata).agg(lambda v: frozenset(pd.to_numeric(v, errors="coerce").dropna().astype(int)))
    if len(classes) < 2 or any(len(c) != 1 for c in classes) or (strata.value_counts() < MIN_POINTS).any():
        return None
    found = {k: next(iter(c)) for k, c in classes.items()}
    return found if len(set(found.values())) == len(found) else None


def check_strata_on_map(samples: pd.DataFrame, design: SampleDesign, class_pixels: dict, *, source: str = "points",
                        map_name: str = "map", map_pixel_ha: float | None = None) -> None:
    """Compare each stratum's size with its map class's pixel count `class_pixels` ({class: pixels of the map},
    e.g. {0: 7000, 1: 3000}) when the strata are the map classes (`map_class_strata`; otherwise nothing is checked).

    Given stratum sizes (pixels of the sampling frame; in ha with design.unit_area_ha, against the map's mean
    pixel area `map_pixel_ha`): a size above its class's pixels by more than SIZE_TOLERANCE is impossible for a
    frame that is the map or a part of it, and raises DataError naming both counts (and "swapped" when the sizes
    fit the classes the other way round) -- when the frame's pixels are the map's (no unit_area_ha, or equal to
    `map_pixel_ha`); a frame of other pixels, and a size below its class's pixels (a frame of part of the map, e.g.
    its cropland), are logged as warnings. Inclusion probabilities: sum(1/pi) off the class's pixels by more than
    HT_WARN_FACTOR is logged as a warning, naming the percent reading when it is about 1/100 of them."""
    strata = map_class_strata(samples, design)
    if strata is None:
        return
    where = f"{source}: " + ("stratum sizes" if design.stratum_sizes else f"field {design.inclusion_field!r}")
    frame_ha = design.unit_area_ha
    same_frame = not frame_ha or not map_pixel_ha or math.isclose(frame_ha, map_pixel_ha, rel_tol=SAME_PIXEL_TOLERANCE)
    scale = 1.0 if same_frame else frame_ha / map_pixel_ha  # frame pixels -> map pixels
    if design.stratum_sizes:
        given = {str(k).strip(): float(v) * scale for k, v in design.stratum_sizes.items()}
        _check_sizes(given, strata, class_pixels, same_frame, where, map_name)
        return
    pi = pd.to_numeric(samples[design.inclusion_field], errors="coerce")
    estimated = (1.0 / pi).groupby(stratum_text(samples[design.stratum_field])).sum() * scale
    for h, c in strata.items():
        n_map = class_pixels.get(c, 0)
        est = float(estimated.get(h, math.nan))
        if not n_map or not est > 0 or 1 / HT_WARN_FACTOR <= est / n_map <= HT_WARN_FACTOR:
            continue
        percent = 1 / (100 * HT_WARN_FACTOR) <= est / n_map <= HT_WARN_FACTOR / 100
        log.warning("%s: stratum %r (all its points on map class %s) has sum(1/pi) = %s, an estimate of its size, but class %s "
                    "holds %s pixels of the map %s (%.3g times); %s", where, h, c, f"{est:,.4g}", c, f"{n_map:,}", map_name, est / n_map,
                    "the inclusion probabilities look like percent (x 100): divide the field by 100" if percent else
                    "check the inclusion probabilities (each point's probability of being drawn, n_h / N_h for a stratified sample)")


def _check_sizes(given: dict, strata: dict, class_pixels: dict, same_frame: bool, where: str, map_name: str) -> None:
    """The given-size part of check_strata_on_map (sizes already in map pixels)."""
    over, under = [], []
    for h, c in strata.items():
        n_map, size = class_pixels.get(c, 0), given.get(h)
        if size is None or not n_map:
            continue
        if size > n_map * (1 + SIZE_TOLERANCE):
            over.append((h, c, size, n_map))
        elif size < n_map * (1 - SIZE_TOLERANCE):
            under.append((h, c, size, n_map))
    if not over and not under:
        return
    pairs = ", ".join(f"stratum {h!r} (all its points on map class {c}) size {s:,.0f} but class {c} holds {n:,} pixels"
                      for h, c, s, n in over + under)
    swapped = len(strata) == 2 and all(
        math.isclose(given.get(h, math.nan), class_pixels.get(other, math.nan), rel_tol=SIZE_TOLERANCE)
        for h, other in zip(strata, reversed(list(strata.values()))))
    fix = ("the sizes look swapped: give each stratum the pixel count of its own map class" if swapped else
           "give each stratum's size as the pixel count of its map class in the frame the points were drawn from")
    if over and same_frame:
        raise DataError(f"stratum sizes contradict the map {map_name}: {pairs} (a stratum of map-class pixels cannot hold more "
                        "pixels than the class)", where, fix)
    log.warning("%s: stratum sizes differ from the map %s: %s; fine when the frame is part of the map (e.g. its cropland), "
                "else %s", where, map_name, pairs, fix)
