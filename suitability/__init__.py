"""Irrigation suitability: slope, distance to water, aridity, per-unit reclassification and weighted overlay.

Stage package: it imports the shared core (`irrmap`) and never the shell (CLI, pipeline).
"""

from irrmap.suitability.aridity import aridity_from_meteorology, aridity_index, priestley_taylor_pet
from irrmap.suitability.distance import distance_to_water, rasterize_water, water_mask
from irrmap.suitability.overlay import ahp_weights, normalise_weights, random_weights, search_weights, weighted_overlay, weighted_overlay_by_zone
from irrmap.suitability.reclass import Breaks, FewCropRule, FlatUnitRule, classify, reclassify, zonal_min, zonal_percentiles
from irrmap.suitability.slope import slope

__all__ = [
    "slope", "distance_to_water", "water_mask", "rasterize_water", "priestley_taylor_pet", "aridity_index",
    "aridity_from_meteorology", "Breaks", "FlatUnitRule", "FewCropRule", "classify", "reclassify", "zonal_min",
    "zonal_percentiles", "weighted_overlay", "weighted_overlay_by_zone", "normalise_weights", "ahp_weights", "search_weights", "random_weights",
]
