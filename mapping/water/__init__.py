"""Water-body layer: water indices, per-scene water maps, epoch composites (and, from their own modules,
connected water bodies and change between epochs).

Imported as `irrmap.mapping.water`; it uses the shared core and never the shell.
"""

from irrmap.mapping.water.classify import NOT_WATER, UNKNOWN, WATER, classify_scene, otsu_threshold, scene_index
from irrmap.mapping.water.composite import PERMANENT, SEASONAL, epoch_composite
from irrmap.mapping.water.indices import (DSWE, DSWEThresholds, awei_nsh, awei_sh, dswe_classes, dswe_tests, mndwi,
                                          ndvi, ndwi)
from irrmap.mapping.water.labels import label_windowed
from irrmap.mapping.water.bodies import DEA_MIN_AREA_M2, SIZE_CLASSES, bodies_to_files, body_table, size_class, write_body_table
from irrmap.mapping.water.change import (STATUSES, TRANSITIONS, change_to_files, change_totals, large_vs_small, match_bodies,
                                         transition_areas, transitions)

__all__ = ["DSWE", "DSWEThresholds", "NOT_WATER", "PERMANENT", "SEASONAL", "UNKNOWN", "WATER", "awei_nsh", "awei_sh",
           "classify_scene", "dswe_classes", "dswe_tests", "epoch_composite", "mndwi", "ndvi", "ndwi",
           "otsu_threshold", "scene_index",
           "DEA_MIN_AREA_M2", "SIZE_CLASSES", "STATUSES", "TRANSITIONS", "bodies_to_files", "body_table", "change_to_files",
           "change_totals", "label_windowed", "large_vs_small", "match_bodies", "size_class", "transition_areas",
           "transitions", "write_body_table"]
